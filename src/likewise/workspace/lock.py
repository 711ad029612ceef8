"""One writer at a time: an OS file lock on ``<workspace>/.lock``, naming its holder.

The lock is ``flock`` on an open file, so the OS releases it when the holder exits, however it exits
(``kill -9`` included): there is never a stale lock to delete by hand. The holder writes its pid, command
line and start time into the file, so a second writer that gives up can say who holds the workspace.
Readers take no lock: they read a manifest that is replaced atomically and files that never change.
The label store is not behind this lock: SQLite transactions let many processes write labels at once.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from likewise.errors import InputError

LOCK_FILE = ".lock"
WAIT_ENV = "LIKEWISE_WAIT"
DEFAULT_WAIT_S = 5.0


class WorkspaceBusyError(InputError):
    """Another command holds the writer lock and did not let go within the wait."""


def default_wait() -> float:
    """``$LIKEWISE_WAIT`` seconds, else :data:`DEFAULT_WAIT_S`."""
    try:
        return float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S))
    except ValueError:
        raise InputError(f"${WAIT_ENV} must be a number of seconds, got {os.environ[WAIT_ENV]!r}") from None


class WriterLock:
    """Re-entrant within one object: nested ``with lock.hold(...)`` blocks share one OS lock."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_FILE
        self._fd: int | None = None
        self._depth = 0
        self.command = ""

    @property
    def held(self) -> bool:
        return self._depth > 0

    def holder(self) -> dict:
        """What the current holder wrote about itself (empty when nobody holds it or it wrote nothing yet)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self, command: str, wait: float | None = None) -> None:
        if self._depth:
            self._depth += 1
            return
        wait = default_wait() if wait is None else float(wait)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise WorkspaceBusyError(self._busy_message(command, wait)) from None
                time.sleep(0.05)
        info = {"pid": os.getpid(), "command": command, "argv": " ".join(sys.argv),
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd, self._depth, self.command = fd, 1, command

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _busy_message(self, command: str, wait: float) -> str:
        who = self.holder()
        if who:
            by = f"`likewise {who.get('command', '?')}` (pid {who.get('pid', '?')}, since {who.get('since', '?')}: {who.get('argv', '')})"
        else:
            by = "another likewise command"
        return (f"the workspace {self.path.parent} is being written by {by}; `{command}` waited {wait:g} s. "
                "Run it again when that one ends, or wait longer with --wait SECONDS")
