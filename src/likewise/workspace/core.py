"""The workspace: a folder that behaves like a small database.

Layout::

    likewise-workspace/
      manifest.json     schema version and what the workspace holds: every file it points to by path + sha256
      objects/          content-addressed files and folders (records, vectors, heads, indexes, results)
      labels.sqlite     the label store: label events, the run log, labeling sessions (see .labelstore)
      .lock             the writer lock (see .lock)
      maps/, report/    pages and pictures for people, written on request (never read back)

A command that writes takes the writer lock (:meth:`Workspace.writing`), re-reads the manifest, writes
new objects, then replaces ``manifest.json`` in one rename, and only then deletes objects that neither
this manifest nor the previous one names. So at every instant, ``kill -9`` included, a reader sees the
whole old state or the whole new one. Readers take no lock.

Nothing outside this package reads the manifest: callers use the typed accessors (:meth:`records`,
:meth:`labels`, :meth:`vectors`, :meth:`head`, :meth:`artifact`, ...).
"""
from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from likewise import __version__
from likewise.atomic import atomic_write_text, is_temporary_of
from likewise.cache import EmbeddingCache, default_cache_dir
from likewise.errors import InputError
from likewise.records.dataset import Dataset, LoadSummary
from likewise.workspace.labelstore import STORE_FILE, LabelInput, LabelState, LabelStore
from likewise.workspace.lock import WorkspaceBusyError, WriterLock
from likewise.workspace.objects import CorruptObjectError, MissingObjectError, ObjectStore, Ref

SCHEMA_VERSION = 2
WORKSPACE_ENV = "LIKEWISE_WORKSPACE"
DEFAULT_WORKSPACE = "likewise-workspace"
MANIFEST = "manifest.json"
DEFAULT_THRESHOLD = 0.7
VectorKind = Literal["raw", "tuned"]
VECTOR_KINDS: tuple[VectorKind, ...] = ("raw", "tuned")


def default_workspace_path() -> Path:
    return Path(os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


__all__ = ["Workspace", "WorkspaceBusyError", "StaleVectorsError", "Vectors", "VectorKind"]


class StaleVectorsError(InputError):
    """Vectors were made from other raw vectors than the workspace now holds."""


@dataclass
class Vectors:
    """Vectors aligned with the workspace's records (``ids``), with the encoder identity that made them."""

    ids: list[str]
    vectors: np.ndarray
    encoder: str
    kind: VectorKind


def _refs(value: Any) -> Iterator[str]:
    """Every object path a manifest (or part of one) names."""
    if isinstance(value, dict):
        path = value.get("path")
        if isinstance(path, str) and path.startswith("objects/") and "sha256" in value:
            yield path
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v)


_OURS = {".lock", STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm", "objects", ".gitignore", MANIFEST}


def _ours(name: str) -> bool:
    """Whether a file named ``name`` in a folder without a manifest is one a likewise command writes while it
    creates a workspace there (another process may be creating it at this moment): its lock, label store,
    objects, manifest, or an atomic write's temporary file (see :func:`~likewise.atomic.atomic_write`)."""
    return name in _OURS or any(is_temporary_of(name, mine) for mine in _OURS)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path`` (None when there is none), its format and version checked."""
    file = path / MANIFEST
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read {file} ({exc.strerror or exc})") from exc
    try:
        manifest = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{file} is corrupt ({exc}); move the folder away and run `likewise embed` again "
                         "(its labels.sqlite keeps every label: copy it into the new folder)") from exc
    if not isinstance(manifest, dict):
        raise InputError(f"{file} is corrupt (not a JSON object); move the folder away and run `likewise embed` again")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        older = isinstance(version, int) and version < SCHEMA_VERSION
        hint = ("it was made by an older likewise: run `likewise embed` again into a new --workspace folder "
                "(the embedding cache makes that quick)") if older else "use a new --workspace folder"
        raise InputError(f"{path} has workspace schema version {version}, this likewise {__version__} reads "
                         f"version {SCHEMA_VERSION}; {hint}")
    return manifest


class Workspace:
    """A likewise workspace folder. ``Workspace.open(path)`` reads it; nothing is written until asked.

    ``wait`` is how long a writing command waits for another writer (default ``$LIKEWISE_WAIT`` or 5 s);
    ``cache`` the embedding cache folder (default the shared user cache, see :func:`default_cache_dir`).
    """

    def __init__(self, path: Path, manifest: dict[str, Any], *, wait: float | None = None,
                 cache: str | Path | None = None) -> None:
        self.path = Path(path)
        self._manifest = manifest
        self.wait = wait
        self.lock = WriterLock(self.path)
        self.objects = ObjectStore(self.path)
        self._cache_dir = Path(cache) if cache else None
        self._cache: EmbeddingCache | None = None
        self._store: LabelStore | None = None
        self._records: tuple[str, list[str], list[str]] | None = None
        self._id_set: tuple[str, frozenset[str]] | None = None

    @classmethod
    def open(cls, path: str | Path | None = None, *, create: bool = False, wait: float | None = None,
             cache: str | Path | None = None) -> Workspace:
        path = Path(path) if path is not None else default_workspace_path()
        manifest = _read_manifest(path)
        if manifest is not None:
            return cls(path, manifest, wait=wait, cache=cache)
        if path.exists() and not path.is_dir():
            raise InputError(f"{path} is a file, not a workspace folder; choose another --workspace")
        foreign = [p.name for p in path.iterdir() if not _ours(p.name)] if path.is_dir() else []
        if foreign and not create:
            raise InputError(f"{path} exists but is not a likewise workspace (no {MANIFEST})")
        if not create:
            raise InputError(f"no workspace at {path}; create one with `likewise embed DATA --workspace {path}` "
                             f"(or set {WORKSPACE_ENV})")
        if foreign:
            raise InputError(f"{path} exists, is not empty and is not a likewise workspace; choose another folder")
        return cls(path, {"schema_version": SCHEMA_VERSION, "created": now_iso(), "likewise_version": __version__,
                          "generation": 0}, wait=wait, cache=cache)

    # -- writing ---------------------------------------------------------------------------------------------
    @contextmanager
    def writing(self, command: str, *, wait: float | None = None) -> Iterator[Workspace]:
        """Hold the writer lock for ``command`` (waiting up to ``wait`` s, default the workspace's); what the
        block changes becomes visible at once when it ends without an error (the manifest is replaced
        last), or not at all. Raises :class:`WorkspaceBusyError` naming the holder when the wait runs out."""
        outer = not self.lock.held
        self.lock.acquire(command, self.wait if wait is None else wait)
        try:
            if outer:
                fresh = _read_manifest(self.path)
                if fresh is not None:
                    self._manifest = fresh
                before = copy.deepcopy(self._manifest)
            yield self
            if outer and self._manifest != before:
                self._commit(before)
        except BaseException:
            if outer:
                self._manifest = before
            raise
        finally:
            self.lock.release()

    def _commit(self, before: dict[str, Any]) -> None:
        manifest = self._manifest
        manifest["generation"] = int(before.get("generation", 0)) + 1
        manifest["updated"] = now_iso()
        manifest["likewise_version"] = __version__
        manifest["retained"] = sorted(set(_refs({k: v for k, v in before.items() if k != "retained"})))
        atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        self.objects.collect(set(_refs(manifest)) | set(manifest["retained"]))

    def _require_lock(self) -> None:
        if not self.lock.held:
            raise RuntimeError("workspace writes happen inside `with ws.writing(command):`")

    @property
    def exists(self) -> bool:
        return (self.path / MANIFEST).exists()

    @property
    def generation(self) -> int:
        return int(self._manifest.get("generation", 0))

    def reload(self) -> None:
        """Read the manifest again (a long-running reader, such as the web app, sees other writers' work)."""
        fresh = _read_manifest(self.path)
        if fresh is not None and fresh.get("generation") != self._manifest.get("generation"):
            self._manifest = fresh
            self._records = None

    # -- the cache and the label store ----------------------------------------------------------------------
    @property
    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            self._cache = EmbeddingCache(self._cache_dir or default_cache_dir())
        return self._cache

    @property
    def store(self) -> LabelStore:
        if self._store is None:
            self._store = LabelStore.open(self.path / STORE_FILE)
        return self._store

    @property
    def threshold(self) -> float:
        """Weak and predicted labels count only with a confidence above this."""
        return float(self._manifest.get("labels", {}).get("threshold", DEFAULT_THRESHOLD))

    def set_threshold(self, threshold: float) -> None:
        self._require_lock()
        self._manifest.setdefault("labels", {})["threshold"] = float(threshold)

    def labels(self) -> LabelState:
        """Every record's current label (the label store's one rule at the workspace's threshold)."""
        self.apply_label_import()
        return self.store.state(threshold=self.threshold)

    def stage_label_import(self, items: list[LabelInput], *, author: str) -> None:
        """Make label events part of this write: they are stored as an object the manifest names and go into
        the label store once the manifest is switched in (by :meth:`apply_label_import`, which every reader
        of labels calls first). So the records and the labels a file brings appear together or not at all,
        ``kill -9`` included."""
        self._require_lock()
        self._manifest.setdefault("labels", {}).pop("import", None)
        if not items:
            return
        rows = [[i.record_id, i.label, i.source, i.confidence] for i in items]
        ref = self.put_json({"author": author, "rows": rows}, "labels.json")
        self._manifest["labels"]["import"] = {"ref": ref, "id": ref["sha256"][:16] + uuid.uuid4().hex[:8],
                                              "count": len(rows)}

    def apply_label_import(self) -> int:
        """Write the label events the current manifest's last import staged, once (idempotency keys and a
        marker in the store make a second call, or a second process, a no-op). Returns the events written."""
        entry = self._manifest.get("labels", {}).get("import")
        if not entry:
            return 0
        marker = f"import:{entry['id']}"
        if self.store.get_meta(marker):
            return 0
        path = self.objects.verify(entry["ref"], "staged labels")
        body = json.loads(path.read_text(encoding="utf-8"))
        items = [LabelInput(rid, label, source, confidence, f"{entry['id']}:{n}")
                 for n, (rid, label, source, confidence) in enumerate(body["rows"])]
        result = self.store.add(items, author=body["author"])
        self.store.set_meta(marker, now_iso())
        return result.written

    # -- records ---------------------------------------------------------------------------------------------
    def records_info(self) -> dict[str, Any] | None:
        entry = self._manifest.get("records")
        return copy.deepcopy(entry) if entry else None

    def put_records(self, dataset: Dataset, *, source: dict[str, Any]) -> None:
        """Store the records snapshot (ids and texts; labels go to the label store)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._require_lock()
        # an explicit schema: the same records always make the same bytes (so the same object)
        table = pa.table({"id": pa.array(list(dataset.ids), pa.string()), "text": pa.array(list(dataset.texts), pa.string())})
        ref = self.objects.put(lambda tmp: pq.write_table(table, tmp), "parquet")
        self._manifest["records"] = {"ref": ref, "count": len(dataset), "source": source,
                                     "summary": dataset.summary.to_dict(), "written": now_iso()}

    def _fresh(self, read: Callable[[], Any]) -> Any:
        """``read()``; when a file it needs is gone because other writers moved on (this manifest is more than
        one generation old), read the current manifest once and try again."""
        try:
            return read()
        except MissingObjectError:
            fresh = _read_manifest(self.path)
            if fresh is None or fresh.get("generation") == self._manifest.get("generation"):
                raise
            self._manifest, self._records = fresh, None
            return read()

    def _ids_texts(self) -> tuple[list[str], list[str]]:
        return self._fresh(self._read_ids_texts)

    def _read_ids_texts(self) -> tuple[list[str], list[str]]:
        entry = self._manifest.get("records")
        if not entry:
            raise InputError(f"workspace {self.path} holds no records yet; run `likewise embed DATA` first")
        ref = entry["ref"]
        if self._records is not None and self._records[0] == ref["sha256"]:
            return self._records[1], self._records[2]
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.objects.verify(ref, "records")
        try:
            table = pq.read_table(path)
            ids = [str(v) for v in table.column("id").to_pylist()]
            texts = [str(v) for v in table.column("text").to_pylist()]
        except (OSError, KeyError, pa.ArrowException) as exc:
            raise CorruptObjectError(f"the records file {path} is unreadable ({exc}); run `likewise embed` again") from exc
        self._records = (ref["sha256"], ids, texts)
        return ids, texts

    def record_ids(self) -> list[str]:
        return list(self._ids_texts()[0])

    def unknown_ids(self, ids: Iterable[str]) -> list[str]:
        """The ids of ``ids`` that are not records of the workspace (empty when all are)."""
        known = self._ids_texts()[0]
        sha = self._manifest["records"]["ref"]["sha256"]
        if self._id_set is None or self._id_set[0] != sha:
            self._id_set = (sha, frozenset(known))
        return [i for i in ids if i not in self._id_set[1]]

    def records(self, labels: LabelState | None = None) -> Dataset:
        """The records with their current labels (from the label store)."""
        ids, texts = self._ids_texts()
        state = labels if labels is not None else self.labels()
        current = [state.labels.get(rid) for rid in ids]
        entry = self._manifest["records"]
        summary = LoadSummary(**{k: v for k, v in entry.get("summary", {}).items() if k in LoadSummary.__dataclass_fields__})
        return Dataset(
            ids=list(ids), texts=list(texts),
            labels=[c.label if c else None for c in current],
            confidences=np.array([c.confidence if c and c.confidence is not None else np.nan for c in current], dtype=float),
            label_sources=[c.source if c else "" for c in current],
            summary=summary,
        )

    # -- vectors ---------------------------------------------------------------------------------------------
    def vectors_info(self, kind: VectorKind) -> dict[str, Any] | None:
        entry = self._manifest.get("vectors", {}).get(kind)
        return copy.deepcopy(entry) if entry else None

    def has_vectors(self, kind: VectorKind) -> bool:
        return kind in self._manifest.get("vectors", {})

    def stale_reason(self, kind: VectorKind) -> str | None:
        """Why ``kind`` vectors can no longer be used (made from other raw vectors), or None."""
        entry = self._manifest.get("vectors", {}).get(kind)
        if not entry or kind == "raw":
            return None
        raw = self._manifest.get("vectors", {}).get("raw", {})
        if entry.get("raw_content") != raw.get("content"):
            return "the records or the encoder changed since they were tuned"
        return None

    def labels_changed(self, kind: VectorKind = "tuned") -> bool:
        """True when labels changed since ``kind`` vectors (or the head) were trained on them."""
        entry = self._manifest.get("vectors", {}).get(kind) or {}
        fingerprint = entry.get("labels_fingerprint")
        return bool(fingerprint) and fingerprint != self.labels().fingerprint(self.record_ids())

    def put_vectors(self, kind: VectorKind, vectors: np.ndarray, *, encoder: str, **extra: Any) -> None:
        """Store ``kind`` vectors, one row per record in record order."""
        from safetensors.numpy import save_file

        self._require_lock()
        if kind not in VECTOR_KINDS:
            raise ValueError(f"unknown vector kind {kind!r}")
        ids = self.record_ids()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32) + np.float32(0)  # -0.0 -> 0.0: one content, one hash
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"{kind} vectors have shape {vectors.shape}, the workspace holds {len(ids)} records")
        # no metadata in the file (safetensors orders it differently per process): same vectors, same bytes
        ref = self.objects.put(lambda tmp: save_file({"vectors": vectors}, tmp), "safetensors")
        ids_ref = self.objects.put(lambda tmp: Path(tmp).write_text(json.dumps(ids), encoding="utf-8"), "json")
        self._manifest.setdefault("vectors", {})[kind] = {
            "ref": ref, "ids_ref": ids_ref, "count": len(ids), "dim": int(vectors.shape[1]), "encoder": encoder,
            "written": now_iso(),
            # what these vectors are (ids + values): vectors derived from them record it, to detect staleness
            "content": f"{ref['sha256'][:16]}{ids_ref['sha256'][:4]}",
            **extra,
        }

    def vectors(self, kind: VectorKind = "raw") -> Vectors:
        """The ``kind`` vectors, aligned with :meth:`records`; stale or damaged ones raise a clear error."""
        return self._fresh(lambda: self._read_vectors(kind))

    def _read_vectors(self, kind: VectorKind) -> Vectors:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        entry = self._manifest.get("vectors", {}).get(kind)
        if not entry:
            hint = "run `likewise embed DATA` first" if kind == "raw" else "run `likewise tune` first"
            raise InputError(f"workspace {self.path} has no {kind} vectors; {hint}")
        reason = self.stale_reason(kind)
        if reason:
            raise StaleVectorsError(f"the {kind} vectors are stale ({reason}); run `likewise tune` again")
        path = self.objects.verify(entry["ref"], f"{kind} vectors")
        ids_path = self.objects.verify(entry["ids_ref"], f"{kind} vector ids")
        try:
            vectors = load_file(path)["vectors"]
            ids = json.loads(ids_path.read_text(encoding="utf-8"))
        except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as exc:
            raise CorruptObjectError(f"{kind} vectors in {self.path} are unreadable ({exc}); run `likewise embed` again") from exc
        if ids != self.record_ids() or vectors.shape[0] != len(ids):
            raise InputError(f"the {kind} vectors in {self.path} do not match its records; run "
                             f"`likewise {'embed' if kind == 'raw' else 'tune'}` again")
        return Vectors(ids=ids, vectors=vectors, encoder=str(entry["encoder"]), kind=kind)

    def resolve_kind(self, kind: str = "auto") -> VectorKind:
        """"auto" is tuned when current tuned vectors exist, else raw; an explicit kind must exist and be current."""
        if kind == "auto":
            return "tuned" if self.has_vectors("tuned") and not self.stale_reason("tuned") else "raw"
        if kind not in VECTOR_KINDS:
            raise InputError(f"unknown vector kind {kind!r}; use raw, tuned or auto")
        if not self.has_vectors(kind):  # type: ignore[arg-type]
            raise InputError(f"workspace {self.path} has no {kind} vectors; run "
                             f"`likewise {'embed DATA' if kind == 'raw' else 'tune'}` first")
        reason = self.stale_reason(kind)  # type: ignore[arg-type]
        if reason:
            raise StaleVectorsError(f"the {kind} vectors are stale ({reason}); run `likewise tune` again")
        return kind  # type: ignore[return-value]

    # -- encoder ---------------------------------------------------------------------------------------------
    def encoder_info(self) -> dict[str, Any] | None:
        entry = self._manifest.get("encoder")
        return copy.deepcopy(entry) if entry else None

    def set_encoder(self, info: dict[str, Any]) -> None:
        self._require_lock()
        self._manifest["encoder"] = dict(info)

    # -- artifacts: heads, tuned encoders, indexes, results ---------------------------------------------------
    def artifact(self, name: str) -> dict[str, Any] | None:
        entry = self._manifest.get("artifacts", {}).get(name)
        return copy.deepcopy(entry) if entry else None

    def record_artifact(self, name: str, entry: dict[str, Any]) -> None:
        self._require_lock()
        self._manifest.setdefault("artifacts", {})[name] = {**entry, "written": now_iso()}

    def drop_artifact(self, name: str) -> None:
        self._require_lock()
        self._manifest.get("artifacts", {}).pop(name, None)

    def put_folder(self, write: Callable[[Path], None], suffix: str) -> Ref:
        """Write a folder object (``write(tmp_folder)``); record its ref in an artifact to keep it."""
        self._require_lock()
        return self.objects.put_dir(write, suffix)

    def put_json(self, data: Any, suffix: str = "json") -> Ref:
        self._require_lock()
        text = json.dumps(data, indent=2, default=str, sort_keys=True)
        return self.objects.put(lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), suffix)

    def artifact_path(self, name: str, what: str | None = None) -> Path | None:
        """The checked path of the object that artifact ``name`` points to (None when there is none)."""
        def read() -> Path | None:
            entry = self._manifest.get("artifacts", {}).get(name)
            if not entry or "ref" not in entry:
                return None
            return self.objects.verify(entry["ref"], what or name.replace("_", " "))

        return self._fresh(read)

    def artifact_json(self, name: str) -> Any:
        path = self.artifact_path(name)
        if path is None:
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CorruptObjectError(f"{path} is unreadable ({exc}); run the command that wrote it again") from exc

    def head(self):
        """The saved :class:`~likewise.tuning.Tuner` (``likewise tune``), checked against the raw vectors."""
        from likewise.tuning import Tuner

        path = self.artifact_path("head", "head")
        if path is None:
            raise InputError(f"workspace {self.path} has no saved head; run `likewise tune` first")
        raw = self._manifest.get("vectors", {}).get("raw", {})
        return Tuner.load(path, expected_dim=raw.get("dim"), expected_encoder=raw.get("encoder"))

    def out_path(self, *parts: str) -> Path:
        """A place in the workspace for pages and pictures made for people (``maps/``, ``report/``)."""
        return self.path.joinpath(*parts)

    # -- summary ---------------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What the workspace holds, as plain data (records, labels, vectors and their state, artifacts)."""
        records = self.records_info()
        labels: dict[str, Any] = {}
        if records:
            state = self.labels()
            ids = self.record_ids()
            current = [state.labels[r] for r in ids if r in state.labels]
            classes: dict[str, int] = {}
            sources: dict[str, int] = {}
            for c in current:
                classes[c.label] = classes.get(c.label, 0) + 1
                sources[c.source] = sources.get(c.source, 0) + 1
            labels = {"labeled": len(current), "classes": dict(sorted(classes.items())), "sources": sources,
                      "conflicts": sum(bool(c.conflict) for c in current), "threshold": self.threshold,
                      "events": state.last_seq}
            records = {k: v for k, v in records.items() if k != "ref"}
        vectors = {}
        for kind, entry in self._manifest.get("vectors", {}).items():
            state_word = "current"
            if self.stale_reason(kind):
                state_word = "stale: " + str(self.stale_reason(kind))
            elif kind != "raw" and records and self.labels_changed(kind):
                state_word = "labels changed since tuning"
            vectors[kind] = {k: v for k, v in entry.items() if k not in ("ref", "ids_ref")} | {"state": state_word}
        return {
            "workspace": str(self.path),
            "schema_version": self._manifest.get("schema_version"),
            "generation": self.generation,
            "created": self._manifest.get("created"),
            "updated": self._manifest.get("updated"),
            "likewise_version": self._manifest.get("likewise_version"),
            "records": records,
            "labels": labels,
            "vectors": vectors,
            "cache": str(self.cache.folder),
            "artifacts": {k: {kk: vv for kk, vv in v.items() if kk != "ref"}
                          for k, v in self._manifest.get("artifacts", {}).items()},
        }

    def check(self) -> list[str]:
        """Verify every file the manifest names (sha256); returns the problems found (empty when sound)."""
        problems = []
        for path in sorted(set(_refs({k: v for k, v in self._manifest.items() if k != "retained"}))):
            ref = _find_ref(self._manifest, path)
            try:
                self.objects.verify(ref, path)
            except CorruptObjectError as exc:
                problems.append(str(exc))
        return problems


def _find_ref(value: Any, path: str) -> Ref | None:
    if isinstance(value, dict):
        if value.get("path") == path and "sha256" in value:
            return value
        for v in value.values():
            found = _find_ref(v, path)
            if found is not None:
                return found
    elif isinstance(value, list):
        for v in value:
            found = _find_ref(v, path)
            if found is not None:
                return found
    return None
