"""Vectors the user brings (from an embedding API, another tool): .npy by row order, or Parquet/JSONL by id."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from likewise.encoders.base import Encoder, check_and_normalize
from likewise.errors import InputError
from likewise.progress import Progress, no_progress


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class UserVectors(Encoder):
    """Precomputed vectors, so every later step works without model weights.

    - ``.npy``: a (n_records, dim) array aligned with the records by position.
    - ``.parquet`` / ``.jsonl``: one row per record with an id column and a vector column (a list of floats),
      aligned with the records by id.

    Texts cannot be embedded with user vectors (there is no model): :meth:`embed_batch` refuses.
    """

    def __init__(self, path: str | Path, *, column: str = "vector", id_column: str = "id") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"vector file not found: {self.path}")
        self.column, self.id_column = column, id_column
        suffix = self.path.suffix.lower()
        if suffix == ".npy":
            try:
                self._vectors = np.load(self.path, allow_pickle=False, mmap_mode="r")
            except ValueError as exc:
                raise InputError(f"{self.path} is not a plain numeric .npy array ({exc}); save it with np.save") from exc
            self._ids: list[str] | None = None
        elif suffix in {".parquet", ".pq", ".jsonl", ".ndjson"}:
            self._ids, self._vectors = self._read_table(suffix)
        else:
            raise InputError(f"unsupported vector file {self.path.name}; use .npy, .parquet or .jsonl")
        if self._vectors.ndim != 2 or self._vectors.shape[1] == 0:
            raise InputError(f"{self.path}: vectors must be a 2-D (records x dim) array, got {self._vectors.shape}")
        if not np.issubdtype(self._vectors.dtype, np.number):
            raise InputError(f"{self.path}: vectors must be numbers, got dtype {self._vectors.dtype}")
        self.dim = int(self._vectors.shape[1])
        self.identity = f"vectors:{self.path.name}:{_file_hash(self.path)}:{column if self._ids else ''}"

    def _read_table(self, suffix: str) -> tuple[list[str], np.ndarray]:
        import pandas as pd

        try:
            if suffix in {".parquet", ".pq"}:
                frame = pd.read_parquet(self.path)
            else:
                frame = pd.read_json(self.path, lines=True, dtype=False)
        except Exception as exc:  # the parsers raise many types; report the one-line reason
            raise InputError(f"could not read {self.path}: {str(exc).splitlines()[0]}") from exc
        for col in (self.id_column, self.column):
            if col not in frame.columns:
                raise InputError(
                    f"{self.path} has no column {col!r} (columns: {', '.join(map(str, frame.columns))}); "
                    "pass --vector-column / --vector-id-column"
                )
        lengths = frame[self.column].map(lambda v: len(v) if v is not None and hasattr(v, "__len__") else -1)
        if (lengths != lengths.iloc[0]).any() or lengths.iloc[0] <= 0:
            bad = frame.loc[lengths != lengths.iloc[0], self.id_column].astype(str).head(5).tolist()
            raise InputError(
                f"{self.path}: vectors in column {self.column!r} have different lengths "
                f"(first {int(lengths.iloc[0])}; differing ids {bad})"
            )
        vectors = np.asarray(np.stack(frame[self.column].to_numpy()), dtype=np.float32)
        ids = frame[self.id_column].astype(str).tolist()
        if len(set(ids)) != len(ids):
            raise InputError(f"{self.path}: duplicate ids in column {self.id_column!r}")
        return ids, vectors

    @property
    def cacheable(self) -> bool:
        return False

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        raise InputError(
            "user-supplied vectors cannot embed new texts (there is no model); search by record id or vector instead"
        )

    def embed_records(
        self, ids: Sequence[str], texts: Sequence[str], *, progress: Progress = no_progress
    ) -> np.ndarray:
        n = len(ids)
        if self._ids is None:
            if self._vectors.shape[0] != n:
                raise InputError(
                    f"{self.path} has {self._vectors.shape[0]} vectors but there are {n} records; "
                    "a .npy must have one row per record, in the same order"
                )
            vectors = np.asarray(self._vectors, dtype=np.float32)
        else:
            position = {rid: i for i, rid in enumerate(self._ids)}
            missing = [rid for rid in ids if rid not in position]
            if missing:
                raise InputError(
                    f"{len(missing)} of {n} records have no vector in {self.path} (ids {missing[:5]}); "
                    "vectors are matched by id"
                )
            vectors = self._vectors[[position[rid] for rid in ids]]
        progress(n, n, "loading vectors")
        return check_and_normalize(vectors, source=str(self.path))
