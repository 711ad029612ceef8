"""Index test data: clustered unit vectors (like sentence embeddings), ids, payloads and a naive reference."""
from __future__ import annotations

import numpy as np

from likewise.index import Payload


def clustered(n: int, dim: int, *, clusters: int = 20, spread: float = 0.35, seed: int = 0) -> np.ndarray:
    """n unit vectors around ``clusters`` random centres (float32, no two rows equal)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(clusters, size=n)] + spread * rng.normal(size=(n, dim)) / np.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def record_ids(n: int) -> list[str]:
    return [f"rec-{i:05d}" for i in range(n)]


def payloads(n: int, labels: tuple[str | None, ...] = ("sport", "tech", "art", None)) -> list[Payload]:
    return [Payload(labels[i % len(labels)], f"text {i}") for i in range(n)]


def naive_search(ids, vectors, labels, query, k, keep=None):
    """Reference: a Python loop over every record, sorted by (score desc, id asc)."""
    scored = []
    for j, (rid, vec) in enumerate(zip(ids, vectors)):
        if keep is not None and not keep(rid, labels[j]):
            continue
        scored.append((-float(np.dot(vec.astype(np.float64), query.astype(np.float64))), rid))
    scored.sort()
    return [(rid, -neg) for neg, rid in scored[:k]]
