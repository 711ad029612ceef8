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


def unknown_name(what: str, name: object, choices, *, fix: str = "") -> InputError:
    """The one error for a name that is not one of ``choices``: says what was asked, suggests the closest
    choice ("did you mean ...?") and lists them all (the first 20)."""
    import difflib

    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return InputError(f"unknown {what} {str(name)!r}; {hint}choose from {shown or 'none yet'}{fix}")
