"""Exact cosine search in process: float32 unit vectors in one matrix, ranked by :func:`likewise.neighbors.topk`.

Rows are kept sorted by record id, so the neighbours module's "ties by lower row" is "ties by lower id".
A filter selects candidate rows before ranking, so filtered results are exact too (not a post-filter of
an unfiltered top-k). From the second single query on (filtered or not), an int8 copy of the matrix
(:mod:`likewise.first_pass`) rules out all but a few thousand rows before the float32 scores: the same
results for a quarter of the memory read; any change to the records drops it and the next queries rebuild it.

On disk (:meth:`ExactIndex.save`), a folder holds::

    index.json                      manifest: format, dimension, encoder id, vector kind, ids, labels,
                                    texts, the vectors file's name and its sha256
    vectors-<random>.safetensors    (n, dimension) float32, rows in manifest id order

The vectors file is written and read in blocks of rows (never held as bytes beside the matrix). Both are
written to a temporary file and renamed; the vectors file gets a fresh name and the manifest is
written last, so an interrupted save leaves the previous index readable. :meth:`ExactIndex.load` checks
the checksum and shapes and raises :class:`~likewise.errors.InputError` on any damage.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np
from likewise.errors import InputError
from likewise.index.base import Filter, Hit, Index, Payload
from likewise.first_pass import Int8Copy, OnSecondQuery
from likewise.neighbors import topk
from likewise.atomic import atomic_write, atomic_write_text
from likewise.tensorfile import header_bytes, read_header, tensor_range

MANIFEST = "index.json"
FORMAT = "likewise.exact-index"
FORMAT_VERSION = 1
MOVE_BLOCK = 65_536  # rows moved at a time when new records are merged in


class ExactIndex(Index):
    """Brute-force cosine search over every stored vector (or every vector passing a filter)."""

    def __init__(self, dimension: int, *, encoder_id: str, vector_kind: str = "raw") -> None:
        super().__init__(dimension, encoder_id=encoder_id, vector_kind=vector_kind)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._matrix = np.empty((0, self.dimension), dtype=np.float32)
        self._labels: list[str | None] = []
        self._texts: list[str | None] = []
        self._lazy_copy: OnSecondQuery | None = None  # the int8 first pass of the matrix as it is now

    def count(self) -> int:
        return len(self._ids)

    def __contains__(self, id: object) -> bool:
        return id in self._rows

    def records(self) -> tuple[list[str], np.ndarray, list[Payload]]:
        """All records in id order: ids, unit vectors (n, dimension) (read-only view), payloads."""
        view = self._matrix.view()
        view.flags.writeable = False
        return list(self._ids), view, [Payload(lab, txt) for lab, txt in zip(self._labels, self._texts)]

    def payload(self, id: str) -> Payload:
        """The stored payload of a record (KeyError if the id is not stored)."""
        row = self._rows[id]
        return Payload(self._labels[row], self._texts[row])

    # -- backend methods ----------------------------------------------------------------------------------
    def _upsert(self, ids: list[str], vectors: np.ndarray, payloads: list[Payload]) -> None:
        self._changed()
        rows = self._rows
        old = [j for j, i in enumerate(ids) if i in rows]
        if old:
            at = [rows[ids[j]] for j in old]
            self._matrix[at] = vectors[old]
            for j, r in zip(old, at):
                self._labels[r], self._texts[r] = payloads[j].label, payloads[j].text
        new = sorted((j for j, i in enumerate(ids) if i not in rows), key=ids.__getitem__)
        if not new:
            return
        self._insert([ids[j] for j in new], vectors[new], [payloads[j] for j in new])

    def _insert(self, ids: list[str], vectors: np.ndarray, payloads: list[Payload]) -> None:
        """Merge new records (ids sorted, none stored yet) into the id-ordered rows, in place: the matrix
        grows (by remapping where no view of it is held elsewhere, else into a new buffer) and the old rows
        move back to make room, block by block from the last, so memory holds one matrix, not two."""
        n_old, n_new = len(self._ids), len(ids)
        # new record j goes before old row at[j]; old row r moves back by the new records before it
        at = np.fromiter((bisect_left(self._ids, i) for i in ids), dtype=np.int64, count=n_new)
        new_rows = at + np.arange(n_new)
        first = int(at[0]) if n_new else n_old  # old rows before this one stay where they are
        old_rows = np.arange(first, n_old) + np.searchsorted(at, np.arange(first, n_old), side="right")
        self._grow(n_old + n_new)
        matrix = self._matrix
        for hi in range(n_old, first, -MOVE_BLOCK):
            lo = max(hi - MOVE_BLOCK, first)
            # every destination is at or after its source and before the destinations of later rows, which
            # have moved already: the copy of the block is all that needs to be kept aside
            matrix[old_rows[lo - first : hi - first]] = matrix[lo:hi].copy()
        matrix[new_rows] = vectors
        # position in (old records + new records) of each final row
        order = np.empty(n_old + n_new, dtype=np.int64)
        is_old = np.ones(n_old + n_new, dtype=bool)
        is_old[new_rows] = False
        order[is_old] = np.arange(n_old)
        order[new_rows] = n_old + np.arange(n_new)
        positions = order.tolist()
        for name, added in (("_ids", ids), ("_labels", [p.label for p in payloads]), ("_texts", [p.text for p in payloads])):
            combined = getattr(self, name) + added
            setattr(self, name, [combined[o] for o in positions])
        self._rows = {}
        self._rows = {i: r for r, i in enumerate(self._ids)}

    def _grow(self, rows: int) -> None:
        """Make the matrix ``rows`` long (new rows uninitialised or zero); existing rows keep their place."""
        if rows == len(self._matrix):
            return
        try:
            # realloc: a large buffer grows by remapping its pages, no second copy in memory
            self._matrix.resize((rows, self.dimension), refcheck=True)
        except ValueError:  # a view of it is held elsewhere (``records()``) or the buffer is not ours: copy
            matrix = np.empty((rows, self.dimension), np.float32)
            matrix[: len(self._matrix)] = self._matrix
            self._matrix = matrix

    def _delete(self, ids: list[str]) -> int:
        self._changed()
        gone = {self._rows[i] for i in ids if i in self._rows}
        if gone:
            keep = [r for r in range(len(self._ids)) if r not in gone]
            self._set([self._ids[r] for r in keep], self._matrix[keep],
                      [self._labels[r] for r in keep], [self._texts[r] for r in keep])
        return len(gone)

    def _search(
        self, vectors: np.ndarray, k: int, filter: Filter | None, exclude_ids: frozenset[str]
    ) -> list[list[Hit]]:
        rows = self.select_rows(filter, exclude_ids)
        # selected rows stay in id order, so ties still go to the lower id
        allowed = len(self._matrix) if rows is None else len(rows)
        if allowed == 0 or len(vectors) == 0:
            return [[] for _ in range(len(vectors))]
        first_pass = self._int8_copy() if len(vectors) == 1 else None
        idx, scores = topk(vectors, min(k, allowed), self._matrix, rows=rows, exclude_self=False, first_pass=first_pass)
        return [
            [Hit(self._ids[r], float(s), self._labels[r], self._texts[r]) for r, s in zip(row_idx, row_scores)]
            for row_idx, row_scores in zip(idx.tolist(), scores.tolist())
        ]

    def select_rows(self, filter: Filter | None, exclude_ids: frozenset[str] = frozenset()) -> np.ndarray | None:
        """Rows (ascending, i.e. in id order) that pass the filter and are not excluded; None means all."""
        if filter is None and not exclude_ids:
            return None
        mask = filter.mask(self._ids, self._labels) if filter else np.ones(len(self._ids), dtype=bool)
        mask[[self._rows[i] for i in exclude_ids if i in self._rows]] = False
        return np.flatnonzero(mask)

    def id_at(self, row: int) -> str:
        return self._ids[row]

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        return {i: self._matrix[self._rows[i]].copy() for i in ids if i in self._rows}

    def _changed(self) -> None:
        self._lazy_copy = None

    @property
    def _first_pass(self) -> Int8Copy | None:
        return None if self._lazy_copy is None else self._lazy_copy.copy

    def _int8_copy(self) -> Int8Copy | None:
        """The int8 first pass for single queries, filtered or not (same results, a quarter of the memory read:
        :mod:`likewise.first_pass`), from the second such query since the matrix last changed."""
        if self._lazy_copy is None:
            self._lazy_copy = OnSecondQuery(self._matrix)
        return self._lazy_copy.get()

    def _set(self, ids: list[str], matrix: np.ndarray, labels: list[str | None], texts: list[str | None]) -> None:
        self._changed()
        self._ids, self._labels, self._texts = ids, labels, texts
        self._matrix = np.require(matrix, dtype=np.float32, requirements=["C", "W"])
        self._rows = {i: r for r, i in enumerate(ids)}

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write the index to ``folder`` atomically (see the module docstring for the layout)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"vectors-{uuid.uuid4().hex[:12]}.safetensors"
        digest = hashlib.sha256()

        def write(tmp: str) -> None:  # streamed in blocks and hashed on the way: no copy of the matrix as bytes
            with open(tmp, "wb") as out:
                for part in self._vector_file_parts():
                    digest.update(part)
                    out.write(part)

        atomic_write(folder / name, write)
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "dimension": self.dimension,
            "encoder_id": self.encoder_id,
            "vector_kind": self.vector_kind,
            "count": self.count(),
            "vectors_file": name,
            "vectors_sha256": digest.hexdigest(),
            "ids": self._ids,
            "labels": self._labels,
            "texts": self._texts,
        }
        atomic_write_text(folder / MANIFEST, json.dumps(manifest, ensure_ascii=False))
        for stale in folder.glob("vectors-*.safetensors"):
            if stale.name != name:
                stale.unlink(missing_ok=True)

    def _vector_file_parts(self):
        """The vectors file's bytes: a safetensors header, then the matrix in blocks of rows."""
        yield header_bytes([("vectors", "F32", self._matrix.shape)])
        for lo in range(0, len(self._matrix), MOVE_BLOCK):
            yield np.ascontiguousarray(self._matrix[lo : lo + MOVE_BLOCK], dtype="<f4").reshape(-1).view(np.uint8)

    @classmethod
    def load(cls, folder: str | Path) -> ExactIndex:
        """Read an index saved by :meth:`save`; damage of any kind raises a clear :class:`InputError`."""
        folder = Path(folder)
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise InputError(f"no index at {folder} (missing {MANIFEST}); build one with `likewise index`")

        def corrupt(reason: str) -> InputError:
            return InputError(f"index file is corrupt in {folder} ({reason}); rebuild with `likewise index`")

        try:
            manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise corrupt(f"{MANIFEST} is not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise corrupt(f"{MANIFEST} is not a likewise exact index manifest")
        if manifest.get("version") != FORMAT_VERSION:
            raise InputError(
                f"index in {folder} has format version {manifest.get('version')}, this likewise reads "
                f"{FORMAT_VERSION}; rebuild with `likewise index`"
            )
        try:
            dimension, count = int(manifest["dimension"]), int(manifest["count"])
            ids, labels, texts = manifest["ids"], manifest["labels"], manifest["texts"]
            vectors_path = folder / str(manifest["vectors_file"])
            expected = str(manifest["vectors_sha256"])
            index = cls(dimension, encoder_id=str(manifest["encoder_id"]), vector_kind=str(manifest["vector_kind"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt(f"{MANIFEST} lacks or mangles a field: {exc}") from exc
        if not (isinstance(ids, list) and isinstance(labels, list) and isinstance(texts, list)):
            raise corrupt(f"{MANIFEST} ids/labels/texts are not lists")
        if not (len(ids) == len(labels) == len(texts) == count):
            raise corrupt(
                f"{MANIFEST} lists {len(ids)} ids, {len(labels)} labels, {len(texts)} texts for {count} records"
            )
        if any(a >= b for a, b in zip(ids, ids[1:])):
            raise corrupt(f"{MANIFEST} ids are not sorted and unique")
        try:
            matrix = _read_vectors(vectors_path, expected, count, dimension)
        except OSError as exc:
            raise corrupt(f"cannot read {vectors_path.name}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise corrupt(f"{vectors_path.name}: {exc}") from exc
        index._set([str(i) for i in ids], matrix, labels, texts)
        return index


def _read_vectors(path: Path, expected_sha256: str, count: int, dimension: int) -> np.ndarray:
    """The (count, dimension) float32 matrix of a vectors file, read straight into its array (no copy as
    bytes), with the sha256 of the whole file checked against the manifest's; ValueError names the damage."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            header, start = read_header(f, size)
            shape, begin, end = tensor_range(header, "vectors", "F32", 2)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a readable safetensors file: {exc}") from exc
        f.seek(0)
        digest.update(f.read(start + begin))
        if shape != (count, dimension) or start + end != size:
            matrix = None
            digest.update(f.read())
        else:
            matrix = np.empty(shape, dtype="<f4")
            view = matrix.reshape(-1).view(np.uint8)
            done = 0
            while done < len(view):
                got = f.readinto(view[done : done + (1 << 24)])
                if not got:
                    break
                done += got
            digest.update(view[:done])
            digest.update(f.read())
    actual = digest.hexdigest()
    if actual != expected_sha256:
        raise ValueError(f"has sha256 {actual[:12]}..., the manifest expects {expected_sha256[:12]}...")
    if matrix is None:
        raise ValueError(f"vectors have shape {shape} float32, expected ({count}, {dimension}) float32")
    return matrix.astype(np.float32, copy=False)
