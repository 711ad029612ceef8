"""Search indexes behind one interface (:class:`Index`): exact in process, HNSW (approximate), Milvus.

``BACKENDS`` maps a backend name to its class; :func:`get_backend` turns a wrong name into an error that
lists the valid ones. The HNSW and Milvus classes import their libraries only when used.
"""
from __future__ import annotations

from likewise.errors import InputError
from likewise.index.ann import HNSWIndex, RecallReport
from likewise.index.base import VECTOR_KINDS, Filter, Hit, Hits, Index, IndexMeta, Payload
from likewise.index.exact import ExactIndex
from likewise.index.milvus import MilvusIndex, collection_name

#: backend name -> class
BACKENDS: dict[str, type[Index]] = {
    "exact": ExactIndex,
    "hnsw": HNSWIndex,
    "milvus": MilvusIndex,
}


def get_backend(name: str) -> type[Index]:
    """The index class registered as ``name``."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise InputError(f"unknown index backend {name!r}; choose one of {', '.join(BACKENDS)}") from None


__all__ = [
    "BACKENDS",
    "VECTOR_KINDS",
    "ExactIndex",
    "Filter",
    "HNSWIndex",
    "Hit",
    "Hits",
    "Index",
    "IndexMeta",
    "MilvusIndex",
    "Payload",
    "RecallReport",
    "collection_name",
    "get_backend",
]
