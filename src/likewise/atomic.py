"""Write a file completely or not at all: a temporary file in the same folder, then one rename.

Every file likewise writes (workspace, cache shards, indexes, exports, exported ONNX graphs) goes through
here, so an interrupted or failed write never leaves a half-written file, and files get the user's usual
permissions (``tempfile.mkstemp`` alone would leave them 0600). A write that the OS refuses (a missing
folder, no permission, a full disk) raises :class:`~likewise.errors.InputError` naming the path.

Crash tests: with ``$LIKEWISE_CRASH_AFTER=N`` set, the process kills itself (SIGKILL, as ``kill -9``
would) right after its N-th file operation (a rename into place, a folder move or a delete), so tests can
stop a command between any two of its file operations.
"""
from __future__ import annotations

import itertools
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from likewise.errors import InputError

CRASH_ENV = "LIKEWISE_CRASH_AFTER"
_operations = itertools.count(1)  # file operations of this process, for the crash-test hook only


def file_operation_done() -> None:
    """Count one file operation; die here when the crash-test hook asks for it."""
    limit = os.environ.get(CRASH_ENV)
    if limit and next(_operations) >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _refused(path: Path, exc: OSError) -> InputError:
    return InputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable path")


TMP_SUFFIX = ".tmp"


def is_temporary_of(name: str, target: str) -> bool:
    """Whether a file named ``name`` is a temporary file :func:`atomic_write` makes for ``target`` (same
    folder): ``.<target>.<random>.tmp``, there only until its rename."""
    return name.startswith(f".{target}.") and name.endswith(TMP_SUFFIX)


def atomic_write(path: str | Path, write: Callable[[str], None], *, create_folder: bool = True) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` (same folder, same filesystem).

    ``create_folder=False`` refuses a path whose folder does not exist (for files the user names)."""
    path = Path(path)
    if not create_folder and not path.parent.is_dir():
        raise InputError(f"cannot write {path}: the folder {path.parent} does not exist; create it first")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        os.close(fd)
    except OSError as exc:
        raise _refused(path, exc) from exc
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise _refused(path, exc) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    file_operation_done()


def atomic_write_text(path: str | Path, text: str, *, create_folder: bool = True) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), create_folder=create_folder)


def atomic_write_bytes(path: str | Path, data: bytes, *, create_folder: bool = True) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), create_folder=create_folder)


def move(src: str | Path, dst: str | Path) -> None:
    """Rename a file or folder into place (one operation: readers see the old name or the new one)."""
    os.replace(src, dst)
    file_operation_done()


def remove(path: str | Path) -> None:
    """Delete a file or a folder tree (missing is fine)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    file_operation_done()
