"""The workspace folder: a JSON manifest with a schema version, the records snapshot, vectors and the cache.

Layout::

    likewise-workspace/
      manifest.json          schema version, records source and options, vectors, artifacts
      records.parquet        the records snapshot (id, text, label, confidence, label_source)
      vectors/raw.safetensors  ids order = records order; metadata: encoder identity
      cache/                 embedding cache (see likewise.cache)

Every file is written to a temporary file and renamed; the manifest is written last, so a failed or
interrupted command leaves the workspace as it was.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from likewise import __version__
from likewise.atomic import atomic_write, atomic_write_text
from likewise.cache import EmbeddingCache
from likewise.errors import InputError
from likewise.records.dataset import Dataset, LoadSummary

SCHEMA_VERSION = 1
WORKSPACE_ENV = "LIKEWISE_WORKSPACE"
DEFAULT_WORKSPACE = "likewise-workspace"
MANIFEST = "manifest.json"


def default_workspace_path() -> Path:
    return Path(os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Vectors:
    """Vectors aligned with ``ids``, with the encoder identity that made them."""

    ids: list[str]
    vectors: np.ndarray
    encoder: str
    kind: str


class Workspace:
    """A likewise workspace folder. ``Workspace.open(path)`` reads it; nothing is written until asked."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: str | Path | None = None, *, create: bool = False) -> Workspace:
        path = Path(path) if path is not None else default_workspace_path()
        manifest_path = path / MANIFEST
        if manifest_path.exists():
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"{manifest_path} is corrupt ({exc}); move the folder away and run `likewise embed` again") from exc
            version = manifest.get("schema_version")
            if version != SCHEMA_VERSION:
                raise InputError(
                    f"{path} has workspace schema version {version}, this likewise {__version__} reads version "
                    f"{SCHEMA_VERSION}; use a new --workspace folder"
                )
            return cls(path, manifest)
        if path.exists() and any(path.iterdir()) and not create:
            raise InputError(f"{path} exists but is not a likewise workspace (no {MANIFEST})")
        if not create:
            raise InputError(
                f"no workspace at {path}; create one with `likewise embed DATA --workspace {path}` "
                f"(or set {WORKSPACE_ENV})"
            )
        if path.exists() and any(p.name != ".gitignore" for p in path.iterdir()):
            raise InputError(f"{path} exists, is not empty and is not a likewise workspace; choose another folder")
        return cls(path, {"schema_version": SCHEMA_VERSION, "created": now_iso(), "likewise_version": __version__})

    # -- manifest -------------------------------------------------------------------------------------------
    def save_manifest(self) -> None:
        self.manifest["updated"] = now_iso()
        self.manifest["likewise_version"] = __version__
        atomic_write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=2, sort_keys=True))

    @property
    def exists(self) -> bool:
        return (self.path / MANIFEST).exists()

    @property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.path / "cache")

    # -- records --------------------------------------------------------------------------------------------
    def write_records(self, dataset: Dataset, *, source: dict[str, Any]) -> None:
        """Write the records snapshot (the manifest entry is updated in memory; call :meth:`save_manifest`)."""
        frame = dataset.to_frame()
        atomic_write(self.path / "records.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
        self.manifest["records"] = {
            "file": "records.parquet",
            "count": len(dataset),
            "labeled": int(dataset.labeled_mask.sum()),
            "classes": dataset.class_counts(),
            "source": source,
            "summary": dataset.summary.to_dict(),
            "written": now_iso(),
        }

    def load_records(self) -> Dataset:
        entry = self.manifest.get("records")
        if not entry:
            raise InputError(f"workspace {self.path} holds no records yet; run `likewise embed DATA` first")
        import pandas as pd

        frame = pd.read_parquet(self.path / entry["file"])
        labels = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in frame["label"]]
        summary = LoadSummary(**{k: v for k, v in entry.get("summary", {}).items() if k in LoadSummary.__dataclass_fields__})
        return Dataset(
            ids=frame["id"].astype(str).tolist(),
            texts=frame["text"].astype(str).tolist(),
            labels=labels,
            confidences=frame["confidence"].to_numpy(dtype=float),
            label_sources=frame["label_source"].astype(str).tolist(),
            summary=summary,
        )

    # -- vectors --------------------------------------------------------------------------------------------
    def write_vectors(self, kind: str, ids: list[str], vectors: np.ndarray, *, encoder: str, extra: dict | None = None) -> None:
        """Store vectors of ``kind`` ("raw", "tuned"); ids are kept in the manifest entry's JSON sidecar."""
        from safetensors.numpy import save_file

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[0] != len(ids):
            raise ValueError("vectors and ids differ in length")
        name = f"vectors/{kind}.safetensors"
        atomic_write(self.path / name, lambda tmp: save_file({"vectors": vectors}, tmp, metadata={"encoder": encoder, "kind": kind}))
        ids_name = f"vectors/{kind}.ids.json"
        atomic_write_text(self.path / ids_name, json.dumps(ids))
        self.manifest.setdefault("vectors", {})[kind] = {
            "file": name,
            "ids_file": ids_name,
            "count": len(ids),
            "dim": int(vectors.shape[1]),
            "encoder": encoder,
            "written": now_iso(),
            "version": uuid.uuid4().hex,  # changes on every write: indexes built from these vectors record it
            # what these vectors are (ids + values): vectors derived from them record it to detect staleness
            "content": hashlib.sha256(json.dumps(ids).encode() + vectors.tobytes()).hexdigest()[:20],
            **(extra or {}),
        }

    def load_vectors(self, kind: str = "raw") -> Vectors:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        entry = self.manifest.get("vectors", {}).get(kind)
        if not entry:
            hint = "run `likewise embed DATA` first" if kind == "raw" else "run `likewise tune` first"
            raise InputError(f"workspace {self.path} has no {kind} vectors; {hint}")
        try:
            vectors = load_file(self.path / entry["file"])["vectors"]
            ids = json.loads((self.path / entry["ids_file"]).read_text(encoding="utf-8"))
        except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as exc:
            raise InputError(f"{kind} vectors in {self.path} are unreadable ({exc}); run `likewise embed` again") from exc
        if len(ids) != vectors.shape[0]:
            raise InputError(f"{kind} vectors in {self.path} do not match their ids; run `likewise embed` again")
        return Vectors(ids=ids, vectors=vectors, encoder=entry["encoder"], kind=kind)

    # -- artifacts ------------------------------------------------------------------------------------------
    def artifact_dir(self, name: str) -> Path:
        return self.path / name

    def record_artifact(self, name: str, entry: dict[str, Any]) -> None:
        self.manifest.setdefault("artifacts", {})[name] = {**entry, "written": now_iso()}

    def info(self) -> dict[str, Any]:
        """What the workspace holds, as plain data (records, classes, vectors, cache size, artifacts)."""
        cache_dir = self.path / "cache"
        cache_files = list(cache_dir.rglob("shard-*.safetensors")) if cache_dir.exists() else []
        return {
            "workspace": str(self.path),
            "schema_version": self.manifest.get("schema_version"),
            "created": self.manifest.get("created"),
            "updated": self.manifest.get("updated"),
            "likewise_version": self.manifest.get("likewise_version"),
            "records": self.manifest.get("records"),
            "vectors": self.manifest.get("vectors", {}),
            "cache": {
                "encoders": len({p.parent for p in cache_files}),
                "shards": len(cache_files),
                "bytes": sum(p.stat().st_size for p in cache_files),
            },
            "artifacts": self.manifest.get("artifacts", {}),
        }
