"""Content-addressed files: every file a workspace manifest points to is named after its sha256.

``objects/<sha256>.<suffix>`` for a file; ``objects/<tree hash>.<suffix>/`` for a folder (a head, a tuned
encoder, an index), where the tree hash covers every file's relative path and sha256. An object is
written under a temporary name and renamed into place once complete, so it never changes after it
exists; a manifest that names it carries its hash (a :class:`Ref`), checked when it is read, so a flipped
byte is refused, never trusted.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from likewise.atomic import atomic_write, move, remove
from likewise.errors import InputError

OBJECTS_DIR = "objects"
TMP_PREFIX = ".tmp-"
Ref = dict[str, Any]  # {"path": "objects/<sha>.<suffix>", "sha256": ..., "bytes": n[, "files": {rel: sha}]}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path (POSIX separators), sorted."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in files}


def _tree_id(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for rel, sha in sorted(files.items()):
        h.update(f"{rel}\0{sha}\n".encode())
    return h.hexdigest()


class CorruptObjectError(InputError):
    """A file the manifest points to is missing or does not have the content the manifest recorded."""


class MissingObjectError(CorruptObjectError):
    """A file the manifest points to is not there (deleted by a later writer when this reader's manifest is
    more than one generation old, or by hand)."""


class ObjectStore:
    """The ``objects/`` folder of one workspace."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / OBJECTS_DIR
        self._verified: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) already checked this process

    def path(self, ref: Ref) -> Path:
        return self.root / ref["path"]

    def put(self, write: Callable[[str], None], suffix: str) -> Ref:
        """Write a file with ``write(tmp_path)``; it lands at its content's name. Returns its :class:`Ref`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f"{TMP_PREFIX}{uuid.uuid4().hex}.{suffix}"
        atomic_write(staging, write)
        sha = file_sha256(staging)
        target = self.folder / f"{sha}.{suffix}"
        if target.exists():
            remove(staging)
        else:
            move(staging, target)
        ref = {"path": f"{OBJECTS_DIR}/{target.name}", "sha256": sha, "bytes": target.stat().st_size}
        self._remember(target)
        return ref

    def put_dir(self, write: Callable[[Path], None], suffix: str) -> Ref:
        """Write a folder with ``write(tmp_folder)``; it lands at its tree hash. Returns its :class:`Ref`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f"{TMP_PREFIX}{uuid.uuid4().hex}.{suffix}"
        try:
            write(staging)
        except BaseException:
            remove(staging)
            raise
        files = tree_hashes(staging)
        sha = _tree_id(files)
        target = self.folder / f"{sha}.{suffix}"
        if target.exists():
            remove(staging)
        else:
            move(staging, target)
        return {"path": f"{OBJECTS_DIR}/{target.name}", "sha256": sha, "files": files,
                "bytes": sum((target / rel).stat().st_size for rel in files)}

    def verify(self, ref: Ref, what: str) -> Path:
        """The object's path, after checking it has the recorded content (once per process per file)."""
        path = self.path(ref)
        fix = f"run the command that wrote the {what} again"
        if "files" in ref:
            if not path.is_dir():
                raise MissingObjectError(f"the {what} folder {path} is missing; {fix}")
            for rel, sha in ref["files"].items():
                self._check_file(path / rel, sha, what, fix)
            present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
            extra = present - set(ref["files"])
            if extra:
                raise CorruptObjectError(f"the {what} folder {path} holds files the manifest does not list "
                                         f"({', '.join(sorted(extra)[:3])}); {fix}")
            self._remember(path)
            return path
        self._check_file(path, ref["sha256"], what, fix)
        return path

    def _check_file(self, path: Path, sha: str, what: str, fix: str) -> None:
        if self._seen(path):
            return
        try:
            actual = file_sha256(path)
        except FileNotFoundError as exc:
            raise MissingObjectError(f"the {what} file {path} is missing; {fix}") from exc
        except OSError as exc:
            raise CorruptObjectError(f"the {what} file {path} is unreadable ({exc.strerror or exc}); {fix}") from exc
        if actual != sha:
            raise CorruptObjectError(f"the {what} file {path} is damaged: sha256 {actual[:12]}..., the manifest "
                                     f"expects {sha[:12]}...; {fix}")
        self._remember(path)

    def _stamp(self, path: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def _seen(self, path: Path) -> bool:
        stamp = self._stamp(path)
        return stamp is not None and self._verified.get(str(path)) == stamp

    def _remember(self, path: Path) -> None:
        stamp = self._stamp(path)
        if stamp is not None:
            self._verified[str(path)] = stamp

    def collect(self, keep: set[str]) -> list[str]:
        """Delete every object not named in ``keep`` (paths as in refs) and every leftover temporary one.
        Only the writer-lock holder calls this, so no other process is writing objects meanwhile."""
        removed = []
        if not self.folder.is_dir():
            return removed
        for entry in sorted(self.folder.iterdir()):
            rel = f"{OBJECTS_DIR}/{entry.name}"
            if rel in keep:
                continue
            remove(entry)
            removed.append(rel)
        return removed
