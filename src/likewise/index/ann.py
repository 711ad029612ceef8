"""Approximate cosine search with an HNSW graph (``hnswlib``, extra ``ann``), chosen explicitly, never implied.

:class:`HNSWIndex` keeps the records in an :class:`~likewise.index.exact.ExactIndex` (vectors, payloads,
persistence) and a graph over the same vectors for fast queries. :meth:`HNSWIndex.measure_recall` compares
it with exact search on a sample, so the speed/recall trade-off is a number, not a guess.

Tuning: ``M`` (graph degree) and ``ef_construction`` fix the graph; the search keeps
``max(ef, ef_per_k * k)`` candidates, trading speed for recall. The defaults (M=32, ef_construction=200,
ef_per_k=2) reached recall@1000 of 0.97-0.98 on 100k x 384 clustered vectors (bench/RESULTS.md, "Search backends");
HNSW pays off at small k (0.2 ms vs 12-20 ms per query at k=10), while at k=1000 batched exact search is
as fast.

Filters: the graph search skips records that fail the filter. A filter that keeps at most ``exact_below``
records is answered exactly over those records instead (a scan of a few thousand vectors is faster than a
filtered graph walk, and exact), and so is a query for which the filtered graph walk finds fewer than k
matches. Deleted records are masked in the graph; re-adding an id reuses its graph node.

On disk (:meth:`HNSWIndex.save`), the graph sits beside the exact index's files in the same folder:
``hnsw.json`` (parameters, graph label -> record id, the graph file's sha256 and the sha256 of the exact
vectors it was built on) and ``hnsw-<random>.bin`` (hnswlib's own format, not a pickle). :meth:`load`
refuses a damaged graph, or one built on other vectors than the folder's exact index now holds.
"""
from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from likewise.errors import InputError, MissingExtraError
from likewise.index.base import Filter, Hit, Index, Payload, check_k, rank_hits
from likewise.index.exact import MANIFEST as EXACT_MANIFEST
from likewise.index.exact import ExactIndex
from likewise.atomic import atomic_write, atomic_write_text
from likewise.workspace.objects import file_sha256

GRAPH_MANIFEST = "hnsw.json"
GRAPH_FORMAT = "likewise.hnsw-graph"
GRAPH_VERSION = 1
from likewise.progress import Progress, no_progress


def _hnswlib():
    try:
        import hnswlib
    except ImportError as exc:
        raise MissingExtraError("HNSW approximate search", "ann", "hnswlib") from exc
    return hnswlib


@dataclass(frozen=True)
class RecallReport:
    """Recall@k of the approximate index against exact search on ``sample`` stored records as queries.

    ``ef`` is the search breadth used (:meth:`HNSWIndex.search_ef`). ``recall`` is the mean fraction of
    the exact top-k found (tie-aware: a hit scoring at least the exact
    k-th score counts), in [0, 1], higher is better.
    """

    k: int
    sample: int
    recall: float
    ef: int
    M: int


class HNSWIndex(Index):
    """Approximate nearest neighbours with hnswlib, same interface as :class:`ExactIndex`."""

    def __init__(
        self,
        dimension: int,
        *,
        encoder_id: str,
        vector_kind: str = "raw",
        M: int = 32,
        ef_construction: int = 200,
        ef: int = 64,
        ef_per_k: float = 2.0,
        seed: int = 0,
        num_threads: int = -1,
        exact_below: int = 5000,
    ) -> None:
        super().__init__(dimension, encoder_id=encoder_id, vector_kind=vector_kind)
        hnswlib = _hnswlib()
        if M < 2 or ef_construction < 1 or ef < 1 or ef_per_k < 0:
            raise InputError(f"HNSW needs M >= 2, ef_construction >= 1, ef >= 1 and ef_per_k >= 0; got M={M}, "
                             f"ef_construction={ef_construction}, ef={ef}, ef_per_k={ef_per_k}")
        self.M, self.ef_construction, self.ef, self.ef_per_k = M, ef_construction, ef, ef_per_k
        self.num_threads, self.exact_below = num_threads, exact_below
        self.store = ExactIndex(dimension, encoder_id=encoder_id, vector_kind=vector_kind)
        self._graph = hnswlib.Index(space="ip", dim=self.dimension)
        self._graph.init_index(max_elements=1024, M=M, ef_construction=ef_construction, random_seed=seed)
        self._label_of: dict[str, int] = {}  # record id -> graph label, kept after delete for reuse
        self._id_of: list[str] = []  # graph label -> record id

    @classmethod
    def from_exact(
        cls, exact: ExactIndex, *, batch_size: int = 10_000, progress: Progress = no_progress, **params: int
    ) -> HNSWIndex:
        """Build a graph over every record of an exact index (for example one read by ``ExactIndex.load``).

        The exact index becomes this index's store, not copied (so memory holds its vectors once, beside
        the graph's); change it through the returned index from then on, not on its own."""
        index = cls(exact.dimension, encoder_id=exact.encoder_id, vector_kind=exact.vector_kind, **params)
        index.store = exact
        ids, vectors, _ = exact.records()
        for start in range(0, len(ids), batch_size):
            stop = start + batch_size
            index._add_to_graph(ids[start:stop], vectors[start:stop])
            progress(min(stop, len(ids)), len(ids), "building HNSW graph")
        return index

    def count(self) -> int:
        return self.store.count()

    def _upsert(self, ids: list[str], vectors: np.ndarray, payloads: list[Payload]) -> None:
        self.store._upsert(ids, vectors, payloads)
        self._add_to_graph(ids, vectors)

    def _add_to_graph(self, ids: list[str], vectors: np.ndarray) -> None:
        for i in ids:
            if i not in self._label_of:
                self._label_of[i] = len(self._id_of)
                self._id_of.append(i)
        capacity = self._graph.get_max_elements()
        if len(self._id_of) > capacity:
            self._graph.resize_index(max(len(self._id_of), 2 * capacity))
        labels = np.fromiter((self._label_of[i] for i in ids), dtype=np.int64, count=len(ids))
        self._graph.add_items(vectors, labels, num_threads=self.num_threads)

    def _delete(self, ids: list[str]) -> int:
        present = [i for i in ids if i in self.store]
        for i in present:
            self._graph.mark_deleted(self._label_of[i])
        return self.store._delete(present)

    def _search(
        self, vectors: np.ndarray, k: int, filter: Filter | None, exclude_ids: frozenset[str]
    ) -> list[list[Hit]]:
        rows = self.store.select_rows(filter, exclude_ids)
        available = self.count() if rows is None else len(rows)
        k = min(k, available)
        if k == 0 or len(vectors) == 0:
            return [[] for _ in range(len(vectors))]
        allowed_filter = None
        if rows is not None:
            if len(rows) <= self.exact_below:
                return self.store._search(vectors, k, filter, exclude_ids)
            allowed_filter = {self._label_of[self.store.id_at(r)] for r in rows}.__contains__
        self._graph.set_ef(self.search_ef(k))
        try:
            # a Python filter holds the GIL per call, so hnswlib advises one thread with it
            labels, distances = self._graph.knn_query(
                vectors, k=k, num_threads=1 if allowed_filter else self.num_threads, filter=allowed_filter
            )
        except RuntimeError:  # the filtered graph walk found fewer than k matches: answer exactly
            return self.store._search(vectors, k, filter, exclude_ids)
        out = []
        for row_labels, row_distances in zip(labels.tolist(), distances.tolist()):
            hits = []
            for label, distance in zip(row_labels, row_distances):
                record = self._id_of[label]
                payload = self.store.payload(record)
                hits.append(Hit(record, 1.0 - distance, payload.label, payload.text))
            out.append(rank_hits(hits, k))
        return out

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        return self.store._vectors(ids)

    def search_ef(self, k: int) -> int:
        """Candidates the graph search keeps for a query of k neighbours (never fewer than k)."""
        return max(self.ef, k, math.ceil(self.ef_per_k * k))

    def measure_recall(self, k: int, *, sample: int = 200, seed: int = 0) -> RecallReport:
        """Recall@k against exact search, using ``sample`` stored records (drawn with ``seed``) as queries."""
        k = check_k(k)
        self._refuse_if_empty()
        ids, vectors, _ = self.store.records()
        rng = np.random.default_rng(seed)
        picked = np.sort(rng.choice(len(ids), size=min(sample, len(ids)), replace=False))
        queries = np.asarray(vectors[picked])
        exact = self.store.search(queries, k)
        approx = self.search(queries, k)
        found = []
        for truth, got in zip(exact, approx):
            kth = truth[-1].score
            found.append(sum(h.score >= kth - 1e-6 for h in got) / len(truth))
        return RecallReport(k=k, sample=len(picked), recall=float(np.mean(found)), ef=self.search_ef(k), M=self.M)

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write the exact index and the graph to ``folder`` atomically (the manifest ``hnsw.json`` last)."""
        folder = Path(folder)
        self.store.save(folder)
        name = f"hnsw-{uuid.uuid4().hex[:12]}.bin"
        atomic_write(folder / name, self._graph.save_index)
        manifest = {
            "format": GRAPH_FORMAT,
            "version": GRAPH_VERSION,
            "params": {"M": self.M, "ef_construction": self.ef_construction, "ef": self.ef,
                       "ef_per_k": self.ef_per_k, "exact_below": self.exact_below},
            "graph_file": name,
            "graph_sha256": file_sha256(folder / name),
            "vectors_sha256": _read_json(folder / EXACT_MANIFEST)["vectors_sha256"],
            "labels": self._id_of,
        }
        atomic_write_text(folder / GRAPH_MANIFEST, json.dumps(manifest, ensure_ascii=False))
        for stale in folder.glob("hnsw-*.bin"):
            if stale.name != name:
                stale.unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: str | Path, *, num_threads: int = -1) -> HNSWIndex:
        """Read an index saved by :meth:`save`; a damaged or stale graph raises :class:`InputError`."""
        folder = Path(folder)
        hnswlib = _hnswlib()
        store = ExactIndex.load(folder)

        def unusable(reason: str) -> InputError:
            return InputError(f"HNSW graph in {folder} is unusable ({reason}); rebuild with `likewise index "
                              f"--backend hnsw`")

        path = folder / GRAPH_MANIFEST
        if not path.is_file():
            raise unusable(f"no {GRAPH_MANIFEST}")
        try:
            manifest = _read_json(path)
            params, labels = manifest["params"], manifest["labels"]
            graph_path = folder / str(manifest["graph_file"])
            if manifest.get("format") != GRAPH_FORMAT or manifest.get("version") != GRAPH_VERSION:
                raise ValueError("not a likewise HNSW graph manifest of this version")
            if not isinstance(labels, list):
                raise ValueError("labels is not a list")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise unusable(f"{GRAPH_MANIFEST}: {exc}") from exc
        if manifest.get("vectors_sha256") != _read_json(folder / EXACT_MANIFEST).get("vectors_sha256"):
            raise unusable("it was built on other vectors than the exact index now holds")
        try:
            actual = file_sha256(graph_path)
        except OSError as exc:
            raise unusable(f"cannot read {graph_path.name}: {exc.strerror or exc}") from exc
        if actual != manifest.get("graph_sha256"):
            raise unusable(f"{graph_path.name} has sha256 {actual[:12]}..., the manifest expects "
                           f"{str(manifest.get('graph_sha256'))[:12]}...")
        try:
            index = cls(store.dimension, encoder_id=store.encoder_id, vector_kind=store.vector_kind,
                        num_threads=num_threads, **params)
        except (TypeError, InputError) as exc:
            raise unusable(f"bad parameters {params}: {exc}") from exc
        graph = hnswlib.Index(space="ip", dim=store.dimension)
        try:
            graph.load_index(str(graph_path), max_elements=max(len(labels), 1024))
        except RuntimeError as exc:
            raise unusable(f"hnswlib cannot read {graph_path.name}: {exc}") from exc
        index.store, index._graph = store, graph
        index._id_of = [str(i) for i in labels]
        index._label_of = {i: label for label, i in enumerate(index._id_of)}
        return index


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
