"""Errors the library raises on bad input; the CLI turns them into one line and exit code 2."""
from __future__ import annotations


class LikewiseError(Exception):
    """Base class of every error likewise raises on purpose.

    The message names the problem and, where there is one, the fix; the CLI prints it as is.
    """


class InputError(LikewiseError, ValueError):
    """The user's data, options or files are not usable as given."""


class NotFittedError(LikewiseError, RuntimeError):
    """A model was used before ``fit`` (or before anything was saved in the workspace)."""


class MissingExtraError(LikewiseError, ImportError):
    """An optional backend was asked for but its extra is not installed."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the '{module}' package: install it with "
            f"pip install 'likewise[{extra}]'"
        )
