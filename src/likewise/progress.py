"""Progress reporting: the library calls a callback, the CLI renders it (the library never prints)."""
from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called as ``progress(done, total, description)``; ``total`` may be None when unknown."""

    def __call__(self, done: int, total: int | None, description: str) -> None: ...


def no_progress(done: int, total: int | None, description: str) -> None:
    """The default callback: report nothing."""
