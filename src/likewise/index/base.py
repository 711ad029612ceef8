"""The search index extension point: a backend implements five small methods; validation lives here.

A backend stores records (id, unit vector, label, text) and answers cosine top-k queries. It implements
``_upsert``, ``_delete``, ``_search``, ``_vectors`` and ``count``; :class:`Index` checks every input once
(dimension, NaN/inf, zero vectors, k, encoder identity), normalises vectors, and derives ``search_by_id``.

Results are :class:`Hits` (a ``list[Hit]`` per query, best first, ties broken by lower id) that also say
how many were asked for, so "k larger than the collection" returns every match and flags it instead of
failing.
"""
from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from likewise.encoders.base import check_and_normalize
from likewise.errors import InputError

#: which vectors an index holds: the encoder's own ("raw") or the fine-tuned ones ("tuned")
VECTOR_KINDS = ("raw", "tuned")


@dataclass(frozen=True)
class Hit:
    """One search result: record id, cosine similarity in [-1, 1], and the record's payload."""

    id: str
    score: float
    label: str | None
    text: str | None


@dataclass(frozen=True)
class Payload:
    """What an index keeps beside a record's vector; ``label=None`` means unlabeled."""

    label: str | None = None
    text: str | None = None


class Hits(list[Hit]):
    """One query's hits, best first; ``requested`` is the k asked for.

    Fewer hits than requested is not an error (k larger than the collection, or a narrow filter):
    ``short`` is then True and ``warning`` says so in words the CLI can print.
    """

    def __init__(self, hits: Iterable[Hit], requested: int) -> None:
        super().__init__(hits)
        self.requested = requested

    @property
    def short(self) -> bool:
        return len(self) < self.requested

    @property
    def warning(self) -> str | None:
        if not self.short:
            return None
        return f"asked for k={self.requested} but only {len(self)} records match; returned all {len(self)}"


@dataclass(frozen=True)
class Filter:
    """Which records a search may return; every condition given must hold.

    ``unlabeled_only``: records without a label. ``label_eq`` / ``label_ne``: label equal / not equal to a
    value (``label_ne`` keeps unlabeled records). ``ids_in``: only these record ids.
    """

    unlabeled_only: bool = False
    label_eq: str | None = None
    label_ne: str | None = None
    ids_in: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.ids_in is not None and not isinstance(self.ids_in, frozenset):
            if isinstance(self.ids_in, str):
                raise InputError("Filter(ids_in=...) takes a collection of ids, not one string")
            object.__setattr__(self, "ids_in", frozenset(self.ids_in))
        if self.unlabeled_only and self.label_eq is not None:
            raise InputError(
                f"Filter asks for unlabeled records and for label == {self.label_eq!r} at once; nothing can match"
            )

    def mask(self, ids: Sequence[str], labels: Sequence[str | None]) -> np.ndarray:
        """Boolean mask (n,) of the records (given as parallel ids and labels) that pass the filter."""
        keep = np.ones(len(ids), dtype=bool)
        if self.unlabeled_only:
            keep &= np.fromiter((lab is None for lab in labels), bool, len(labels))
        if self.label_eq is not None:
            keep &= np.fromiter((lab == self.label_eq for lab in labels), bool, len(labels))
        if self.label_ne is not None:
            keep &= np.fromiter((lab != self.label_ne for lab in labels), bool, len(labels))
        if self.ids_in is not None:
            wanted = self.ids_in
            keep &= np.fromiter((i in wanted for i in ids), bool, len(ids))
        return keep


def rank_hits(hits: Iterable[Hit], k: int) -> list[Hit]:
    """The k best hits by score (descending), ties broken by lower id."""
    return sorted(hits, key=lambda h: (-h.score, h.id))[:k]


@dataclass(frozen=True)
class IndexMeta:
    """What an index's vectors are: their ``dimension``, the ``encoder_id`` of the encoder (or tuned head)
    that made them, and their ``vector_kind`` (one of :data:`VECTOR_KINDS`). Checked on every write and query.
    """

    dimension: int
    encoder_id: str
    vector_kind: str = "raw"

    def __post_init__(self) -> None:
        if self.vector_kind not in VECTOR_KINDS:
            raise InputError(f"unknown vector kind {self.vector_kind!r}; choose one of {', '.join(VECTOR_KINDS)}")
        if isinstance(self.dimension, bool) or int(self.dimension) != self.dimension or self.dimension < 1:
            raise InputError(f"index dimension must be a whole number of at least 1, got {self.dimension!r}")
        object.__setattr__(self, "dimension", int(self.dimension))
        if not self.encoder_id:
            raise InputError("an index needs the encoder id of its vectors (got an empty string)")

    def check_vectors(self, vectors: np.ndarray, what: str) -> np.ndarray:
        """(n, dimension) float32 unit rows; a single (dimension,) vector becomes one row."""
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != self.dimension:
            got = array.shape[-1] if array.ndim >= 1 else 0
            raise InputError(
                f"{what} have dimension {got} (shape {tuple(np.shape(vectors))}) but this index holds "
                f"{self.dimension}-d vectors from encoder {self.encoder_id!r}; use the same encoder for "
                f"queries and index, or rebuild the index"
            )
        if array.shape[0] == 0:
            return array
        return np.ascontiguousarray(check_and_normalize(array, source=what))

    def check_records(
        self, ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[Payload] | None
    ) -> tuple[list[str], np.ndarray, list[Payload]]:
        """Validated ids, unit vectors and payloads for an upsert (an empty label means unlabeled)."""
        ids = [str(i) for i in ids]
        vectors = self.check_vectors(vectors, "upserted vectors")
        if vectors.shape[0] != len(ids):
            raise InputError(f"upsert got {len(ids)} ids but {vectors.shape[0]} vectors; pass one vector per id")
        payloads = [Payload()] * len(ids) if payloads is None else list(payloads)
        if len(payloads) != len(ids):
            raise InputError(f"upsert got {len(ids)} ids but {len(payloads)} payloads; pass one payload per id")
        payloads = [Payload(None, p.text) if p.label == "" else p for p in payloads]
        if any(not i for i in ids):
            raise InputError("record ids must be non-empty strings")
        if len(set(ids)) != len(ids):
            counts: dict[str, int] = {}
            for i in ids:
                counts[i] = counts.get(i, 0) + 1
            dupes = sorted(i for i, n in counts.items() if n > 1)
            raise InputError(f"upsert got {len(dupes)} duplicate ids ({', '.join(dupes[:5])}); ids must be unique")
        return ids, vectors, payloads


class Index(ABC):
    """A store of records searchable by cosine similarity; ``meta`` says what its vectors are.

    Vectors are L2-normalised on the way in, so a score is a cosine similarity in [-1, 1].
    """

    def __init__(self, dimension: int, *, encoder_id: str, vector_kind: str = "raw") -> None:
        self.meta = IndexMeta(dimension, encoder_id, vector_kind)

    @property
    def dimension(self) -> int:
        return self.meta.dimension

    @property
    def encoder_id(self) -> str:
        return self.meta.encoder_id

    @property
    def vector_kind(self) -> str:
        return self.meta.vector_kind

    # -- what a backend implements ------------------------------------------------------------------------
    @abstractmethod
    def count(self) -> int:
        """Number of records stored."""

    @abstractmethod
    def _upsert(self, ids: list[str], vectors: np.ndarray, payloads: list[Payload]) -> None:
        """Insert or replace records; ids are unique strings, vectors float32 unit rows (n, dimension)."""

    @abstractmethod
    def _delete(self, ids: list[str]) -> int:
        """Remove the records with these ids (unknown ids are ignored); returns how many were removed."""

    @abstractmethod
    def _search(
        self, vectors: np.ndarray, k: int, filter: Filter | None, exclude_ids: frozenset[str]
    ) -> list[list[Hit]]:
        """Up to k hits per query row, best first, ties by lower id; vectors are float32 unit rows."""

    @abstractmethod
    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of those ids that exist."""

    # -- the public interface, validated once here --------------------------------------------------------
    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[Payload] | None = None
    ) -> None:
        """Insert new records and replace existing ones (same id) with their new vector and payload."""
        ids, vectors, payloads = self.meta.check_records(ids, vectors, payloads)
        if ids:
            self._upsert(ids, vectors, payloads)

    def delete(self, ids: Iterable[str]) -> int:
        """Remove records by id; unknown ids are ignored. Returns how many records were removed."""
        ids = list(dict.fromkeys(str(i) for i in ids))
        return self._delete(ids) if ids else 0

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        *,
        filter: Filter | None = None,
        exclude_ids: Collection[str] | None = None,
        encoder_id: str | None = None,
    ) -> list[Hits]:
        """The k nearest records (cosine) of each query vector, best first, ties broken by lower id.

        ``vectors`` is (n, dimension) or (dimension,); pass ``encoder_id`` to check the queries come from
        the index's encoder. Filtered searches rank only the records that pass the filter.
        """
        if encoder_id is not None and encoder_id != self.encoder_id:
            raise InputError(
                f"query vectors come from encoder {encoder_id!r} but this {self.vector_kind} index holds vectors "
                f"from {self.encoder_id!r}; embed the queries with the index's encoder or rebuild the index"
            )
        queries = self.meta.check_vectors(vectors, "query vectors")
        k = check_k(k)
        if isinstance(exclude_ids, str):
            raise InputError("exclude_ids takes a collection of ids, not one string; wrap it in a list")
        excluded = frozenset(str(i) for i in exclude_ids) if exclude_ids else frozenset()
        rows = self._search(queries, k, filter, excluded)
        if len(rows) and not any(rows):
            self._refuse_if_empty()  # counted only here: count() is a round trip on a server
        return [Hits(row, k) for row in rows]

    def search_by_id(self, id: str, k: int, filter: Filter | None = None) -> Hits:
        """The k nearest records of a stored record; the record itself is never among them."""
        found = self._vectors([id])
        if id not in found:
            self._refuse_if_empty()
            raise InputError(
                f"no record with id {id!r} in this index ({self.count()} records); check the id, or search "
                f"by free text with `likewise search --text \"...\"`"
            )
        return self.search(found[id], k, filter=filter, exclude_ids=[id])[0]

    def _refuse_if_empty(self) -> None:
        if self.count() == 0:
            raise InputError("the index is empty: add records first (run `likewise index`)")


def check_k(k: object) -> int:
    """k as an int, or InputError unless it is a positive whole number."""
    try:
        number = operator.index(k) if not isinstance(k, bool) else 0  # type: ignore[arg-type]
    except TypeError:
        number = 0
    if number < 1:
        raise InputError(f"k must be a positive whole number, got {k!r}")
    return number
