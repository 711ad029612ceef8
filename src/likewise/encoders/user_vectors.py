"""Vectors the user brings (from an embedding API, another tool): .npy by row order, or Parquet/JSONL by id."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from likewise.encoders.base import Encoder, check_and_normalize
from likewise.errors import InputError
from likewise.progress import Progress, no_progress


_NPY_MAGIC = b"\x93NUMPY"
#: the dtype kinds a vector file may hold: bool, signed and unsigned integers, floats
_NUMBER_KINDS = "biuf"


def _npy_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a .npy array, judged from its first bytes; None when it starts like one."""
    with path.open("rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if not head:
        return "the file is empty"
    if head == _NPY_MAGIC:
        return None
    if head.startswith(b"PK"):
        return "it is a .npz archive, not a .npy file"
    if head.startswith(b"\x80"):
        return "it is a Python pickle, which likewise never loads"
    return "it does not start with the .npy header (is it a .npy file at all?)"


def load_npy(path: str | Path, *, query: bool = False) -> np.ndarray:
    """The array in a .npy file, memory-mapped and never unpickled; an :class:`InputError` naming the file and
    the fix for anything else (random bytes, a pickle, an .npz, an object array, text, a 1-D or 3-D array).

    Vectors: a 2-D (records x dimensions) array of numbers (bool, integer or float). ``query=True``: one query
    vector, saved as a (dimensions,) or (1, dimensions) array, returned as (1, dimensions).
    """
    path = Path(path)
    fix = (
        "save one vector with numpy.save(path, vector)"
        if query
        else "save a (records x dimensions) array of numbers with numpy.save(path, vectors)"
    )
    what = "query vector file" if query else "vector file"
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    array: object = None
    try:
        problem = _npy_problem(path)
        if problem is None:
            array = np.load(path, allow_pickle=False, mmap_mode="r")  # never unpickle: a pickle can run code
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, EOFError) as exc:
        message = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        if "object" in message.lower() or "pickle" in message.lower():
            problem = "it holds Python objects (dtype object), which likewise never unpickles"
        else:
            problem = f"it is damaged or cut short ({message})"
    if problem is not None or not isinstance(array, np.ndarray):
        raise InputError(f"{what} {path} is not a plain .npy array of numbers: {problem or 'not an array'}; {fix}")
    if array.dtype.kind not in _NUMBER_KINDS:
        raise InputError(f"{what} {path} holds {array.dtype} values, not real numbers (bool, integer, float); {fix}")
    if query and (array.ndim == 1 or (array.ndim == 2 and array.shape[0] == 1)):
        array = array.reshape(1, -1)
    elif query:
        raise InputError(f"{what} {path} holds an array of shape {array.shape}, not one vector; {fix}")
    elif array.ndim != 2:
        single = "; for a single vector save vector.reshape(1, -1)" if array.ndim == 1 else ""
        raise InputError(
            f"{what} {path} holds a {array.ndim}-D array of shape {array.shape}, not (records x dimensions){single}; "
            f"{fix}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{what} {path} holds an empty array of shape {array.shape}; {fix}")
    return array


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
            self._vectors = load_npy(self.path)
            self._ids: list[str] | None = None
        elif suffix in {".parquet", ".pq", ".jsonl", ".ndjson"}:
            self._ids, self._vectors = self._read_table(suffix)
        else:
            raise InputError(f"unsupported vector file {self.path.name}; use .npy, .parquet or .jsonl")
        if self._vectors.ndim != 2 or self._vectors.shape[1] == 0:
            raise InputError(f"{self.path}: vectors must be a 2-D (records x dim) array, got {self._vectors.shape}")
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
        if len(frame) == 0:
            raise InputError(f"{self.path} has no rows; it needs one row (id and vector) per record")
        lengths = frame[self.column].map(lambda v: len(v) if isinstance(v, (list, tuple, np.ndarray)) else -1)
        if (lengths != lengths.iloc[0]).any() or lengths.iloc[0] <= 0:
            bad = frame.loc[lengths != lengths.iloc[0], self.id_column].astype(str).head(5).tolist()
            first = "not a list" if lengths.iloc[0] < 0 else str(int(lengths.iloc[0]))
            raise InputError(
                f"{self.path}: vectors in column {self.column!r} have different lengths or are not lists "
                f"(first: {first}; differing ids {bad}); write each vector as a list of floats of one length"
            )
        try:
            vectors = np.asarray(np.stack(frame[self.column].to_numpy()), dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{self.path}: vectors in column {self.column!r} are not all numbers ({str(exc).splitlines()[0]}); "
                "write each vector as a list of floats"
            ) from None
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
