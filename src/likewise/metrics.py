"""Retrieval metrics: does a record's cosine neighbourhood hold its own class?

Every metric is a pure numpy function of neighbour labels: ``neighbor_labels`` is an ``(n, k)`` array whose
row ``i`` holds the labels (any comparable codes, usually ints) of query ``i``'s nearest neighbours, nearest
first, the query itself excluded; ``query_labels`` is the ``(n,)`` array of the queries' own labels. All
metrics are "higher is better" and lie in [0, 1]. :func:`evaluate` computes them from embeddings.

Conventions shared by all metrics:

* The query is never its own neighbour; an exact duplicate of it is an ordinary neighbour.
* "R" of a query is the number of *other* records of its class in the searched collection
  (class size - 1). R-precision and MAP@R skip queries with R = 0 (a class of one record has nothing to
  retrieve) and are NaN when no query is left; the other metrics count every query.
* When a collection has a single class every neighbour is relevant and every metric is 1.0.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence

import numpy as np

from likewise.errors import InputError
from likewise.neighbors import iter_topk, normalize, topk
from likewise.progress import Progress, no_progress

_CHUNK = 1 << 22  # label comparisons per step, to bound temporaries
_SINGLE_SHOT = 1 << 27  # all-pairs neighbour entries computed in one go; above this, block by block


def top_k_share(neighbor_labels: np.ndarray, query_labels: np.ndarray) -> float:
    """Mean over queries of the share of their neighbours that have the query's class ("top_k").

    ``share_i = |{j < k : neighbor_labels[i, j] == query_labels[i]}| / k`` with ``k`` the number of
    neighbour columns (when the collection has fewer than ``k`` other records, pass the ones returned: the
    share is over those). Higher is better; range [0, 1].

    >>> top_k_share(np.array([[0, 0, 1], [1, 0, 0]]), np.array([0, 1]))
    0.5
    """
    nl, ql = _check(neighbor_labels, query_labels)
    return float(np.mean(_hits(nl, ql)))


def precision_at_1(neighbor_labels: np.ndarray, query_labels: np.ndarray) -> float:
    """Share of queries whose nearest neighbour has their class. Higher is better; range [0, 1].

    Every query counts, including one whose class has no other record (it scores 0); pytorch-metric-learning
    instead drops such queries, so the two agree when every class has at least two records.

    >>> precision_at_1(np.array([[0, 1], [0, 1], [2, 2]]), np.array([0, 1, 2]))
    0.6666666666666666
    """
    nl, ql = _check(neighbor_labels, query_labels)
    return float(np.mean(nl[:, 0] == ql))


def r_precision(
    neighbor_labels: np.ndarray, query_labels: np.ndarray, class_sizes: np.ndarray | None = None
) -> float:
    """Mean over queries of the share of their R nearest neighbours that have their class.

    ``R_i`` is the number of other records of query ``i``'s class; ``class_sizes[c]`` is the number of
    records of integer class ``c`` in the searched collection (default: counted from ``query_labels``,
    right when every record is a query, as in :func:`evaluate`). A perfect embedding puts all ``R_i``
    classmates first. Queries with ``R_i = 0`` are skipped (NaN when none is left). Needs at least
    ``max R_i`` neighbour columns. Higher is better; range [0, 1].

    Query 0 has R = 2 and 1 of its 2 nearest is a classmate; query 1 has R = 1 and its nearest is one:

    >>> r_precision(np.array([[0, 1, 0], [1, 0, 0]]), np.array([0, 1]), class_sizes=np.array([3, 2]))
    0.75
    """
    nl, ql = _check(neighbor_labels, query_labels)
    r = _relevant_counts(ql, class_sizes, nl.shape[1], "r_precision")
    sums = _r_sums(nl, ql, r)
    return sums[0] / sums[2] if sums[2] else float("nan")


def map_at_r(
    neighbor_labels: np.ndarray, query_labels: np.ndarray, class_sizes: np.ndarray | None = None
) -> float:
    """Mean average precision at R (MAP@R; Musgrave, Belongie & Lim 2020, "A Metric Learning Reality Check").

    For query ``i`` with ``R_i`` other records of its class: ``AP@R_i = (1 / R_i) * sum_{j <= R_i} P(j) *
    rel(j)``, where ``rel(j)`` is 1 if the j-th nearest neighbour has the query's class and ``P(j)`` is the
    share of classmates among the first ``j``. It rewards classmates ranked first, not just present; it equals
    pytorch-metric-learning's ``mean_average_precision_at_r``. ``class_sizes`` and skipped queries are as in
    :func:`r_precision`. Higher is better; range [0, 1].

    Query 0 (R = 2) finds classmates at ranks 1 and 3 of 3: only rank 1 counts within R, AP = (1/1) / 2;
    query 1 (R = 1) finds its classmate first, AP = 1:

    >>> map_at_r(np.array([[0, 1, 0], [1, 0, 0]]), np.array([0, 1]), class_sizes=np.array([3, 2]))
    0.75
    """
    nl, ql = _check(neighbor_labels, query_labels)
    r = _relevant_counts(ql, class_sizes, nl.shape[1], "map_at_r")
    sums = _r_sums(nl, ql, r)
    return sums[1] / sums[2] if sums[2] else float("nan")


def knn_accuracy(neighbor_labels: np.ndarray, query_labels: np.ndarray, k: int) -> float:
    """Share of queries whose class wins a majority vote among their ``k`` nearest neighbours.

    Each of the first ``k`` neighbours (all columns if fewer) votes for its class; the class with the most
    votes wins and a tie goes to the tied class whose first vote came nearest. Higher is better; range [0, 1].

    Query 0's votes are 1, 0, 0: class 0 wins 2 to 1. Query 1's votes are 0, 1, 2: a three-way tie, won by
    class 0, the nearest:

    >>> knn_accuracy(np.array([[1, 0, 0], [0, 1, 2]]), np.array([0, 1]), k=3)
    0.5
    """
    nl, ql = _check(neighbor_labels, query_labels)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"knn_accuracy needs k >= 1 neighbours to vote, got {k!r}")
    return float(np.mean(_knn_votes(nl[:, :k]) == ql))


METRICS: dict[str, Callable[..., float]] = {
    "top_k": top_k_share,
    "precision_at_1": precision_at_1,
    "r_precision": r_precision,
    "map_at_r": map_at_r,
    "knn_accuracy": knn_accuracy,
}
"""Metric name -> function; :func:`evaluate` accepts these names."""

_R_BASED = ("r_precision", "map_at_r")


def evaluate(
    embeddings: np.ndarray,
    labels: Sequence[Hashable] | np.ndarray,
    k: int,
    *,
    metrics: Sequence[str] | None = None,
    knn_k: int = 10,
    progress: Progress = no_progress,
) -> dict[str, float]:
    """Retrieval quality of ``embeddings`` for the classes in ``labels``, as ``{metric name: value}``.

    Every record is a query and every other record a candidate (the query itself excluded), so pass the
    held-out records only. Vectors are L2-normalised here and compared by cosine. Neighbours are computed
    once, exactly (:func:`likewise.neighbors.topk`), with as many columns as the metrics need (``k`` for
    "top_k", ``knn_k`` for "knn_accuracy", largest class size - 1 for the R-based ones); when that would
    not fit in memory they are computed and scored one block of queries at a time. ``metrics`` picks names
    from :data:`METRICS` (default: all). Values are floats in [0, 1]; R-precision and MAP@R skip queries whose
    class has no other record and are NaN if every class has a single record. A single class scores 1.0.

    Raises ``InputError`` for fewer than 2 records, a label count that differs from the record count,
    missing (None/NaN) labels, NaN or infinite vectors, ``k`` or ``knn_k`` below 1, or an unknown metric.
    """
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        named = ", ".join(map(repr, unknown)) or "(none given)"
        raise InputError(f"unknown metric(s) {named}; choose from {', '.join(METRICS)}")
    x = normalize(embeddings)
    n = len(x)
    if n < 2:
        raise InputError(f"evaluation needs at least 2 records (each is searched among the others), got {n}")
    codes, sizes = _encode_labels(labels, n)
    k = _at_least_one(k, "k")
    knn_k = _at_least_one(knn_k, "knn_k")
    r = sizes[codes] - 1
    largest_r = max(1, int(r.max()))
    wanted = {"top_k": k, "precision_at_1": 1, "knn_accuracy": knn_k}
    wanted.update(dict.fromkeys(_R_BASED, largest_r))
    cols = min(max(wanted[name] for name in names), n - 1)

    totals = dict.fromkeys(names, 0.0)
    counted_r = 0
    for start, idx in _neighbour_blocks(x, cols, progress):
        for lo in range(0, len(idx), max(1, _CHUNK // cols)):
            nl = codes[idx[lo : lo + max(1, _CHUNK // cols)]]
            rows = slice(start + lo, start + lo + len(nl))
            ql = codes[rows]
            if "top_k" in totals:
                totals["top_k"] += float(_hits(nl[:, :k], ql).sum())
            if "precision_at_1" in totals:
                totals["precision_at_1"] += float(np.sum(nl[:, 0] == ql))
            if "knn_accuracy" in totals:
                totals["knn_accuracy"] += float(np.sum(_knn_votes(nl[:, :knn_k]) == ql))
            if any(name in totals for name in _R_BASED):
                rp, ap, m = _r_sums(nl, ql, r[rows])
                if "r_precision" in totals:
                    totals["r_precision"] += rp
                if "map_at_r" in totals:
                    totals["map_at_r"] += ap
                counted_r += m
    result = {}
    for name in names:
        if name in _R_BASED:
            result[name] = totals[name] / counted_r if counted_r else float("nan")
        else:
            result[name] = totals[name] / n
    return result


# --- shared pieces ------------------------------------------------------------------------------------


def _check(neighbor_labels: np.ndarray, query_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nl, ql = np.asarray(neighbor_labels), np.asarray(query_labels)
    if nl.ndim != 2 or ql.ndim != 1 or len(nl) != len(ql):
        raise InputError(
            f"expected neighbor_labels of shape (n, k) and query_labels of shape (n,), "
            f"got {nl.shape} and {ql.shape}"
        )
    if nl.shape[0] == 0 or nl.shape[1] == 0:
        raise InputError(f"need at least one query with at least one neighbour, got neighbor_labels {nl.shape}")
    return nl, ql


def _hits(nl: np.ndarray, ql: np.ndarray) -> np.ndarray:
    """Per query: share of the neighbour columns with the query's label."""
    return np.count_nonzero(nl == ql[:, None], axis=1) / nl.shape[1]


def _relevant_counts(ql: np.ndarray, class_sizes: np.ndarray | None, columns: int, name: str) -> np.ndarray:
    if class_sizes is None:
        _, inverse, counts = np.unique(ql, return_inverse=True, return_counts=True)
        r = counts[inverse.ravel()] - 1
    else:
        sizes = np.asarray(class_sizes)
        if not np.issubdtype(ql.dtype, np.integer) or ql.min() < 0 or ql.max() >= len(sizes):
            raise InputError(
                f"with class_sizes, query_labels must be integer codes 0..{len(sizes) - 1} indexing it"
            )
        r = sizes[ql] - 1
        if (r < 0).any():
            raise InputError("class_sizes counts fewer records than there are queries of that class")
    if r.max() > columns:
        raise InputError(
            f"{name} needs the R nearest neighbours of every query (R = class size - 1): the largest class "
            f"needs {int(r.max())} columns but neighbor_labels has {columns}; compute more neighbours"
        )
    return r


def _r_sums(nl: np.ndarray, ql: np.ndarray, r: np.ndarray) -> tuple[float, float, int]:
    """(sum of R-precision, sum of AP@R, number of queries with R >= 1) over the rows given."""
    keep = r >= 1
    nl, ql, r = nl[keep], ql[keep], r[keep]
    width = int(r.max()) if len(r) else 0
    rp_sum = ap_sum = 0.0
    step = max(1, _CHUNK // max(width, 1))
    for lo in range(0, len(r), step):
        rr = r[lo : lo + step]
        rel = (nl[lo : lo + step, :width] == ql[lo : lo + step, None]) & (np.arange(width) < rr[:, None])
        found = np.cumsum(rel, axis=1)  # classmates among the first j + 1
        rp_sum += float(np.sum(found[:, -1] / rr))
        precision = found / np.arange(1, width + 1)
        ap_sum += float(np.sum(np.sum(precision * rel, axis=1) / rr))
    return rp_sum, ap_sum, int(len(r))


def _knn_votes(nl: np.ndarray) -> np.ndarray:
    """Majority label of each row; ties go to the tied label that occurs first (nearest)."""
    k = nl.shape[1]
    winners = np.empty(len(nl), nl.dtype)
    step = max(1, _CHUNK // (k * k))
    for lo in range(0, len(nl), step):
        block = nl[lo : lo + step]
        votes = np.count_nonzero(block[:, :, None] == block[:, None, :], axis=2)  # shape: (rows, k)
        first_best = np.argmax(votes == votes.max(axis=1, keepdims=True), axis=1)
        winners[lo : lo + step] = block[np.arange(len(block)), first_best]
    return winners


def _encode_labels(labels: Sequence[Hashable] | np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..C-1 for any hashable labels, and the size of each class."""
    if len(labels) != n:
        raise InputError(f"got {len(labels)} labels for {n} embeddings; pass one label per embedding")
    array = labels if isinstance(labels, np.ndarray) else None
    if array is not None and array.dtype.kind == "f" and np.isnan(array).any():
        raise InputError(f"{int(np.isnan(array).sum())} of {n} labels are NaN; evaluate labeled records only")
    if array is not None and array.ndim == 1 and array.dtype.kind in "iubfUS":
        _, codes, sizes = np.unique(array, return_inverse=True, return_counts=True)
        return codes.ravel(), sizes
    seen: dict[Hashable, int] = {}
    try:
        codes = np.fromiter((seen.setdefault(label, len(seen)) for label in labels), np.int64, count=n)
    except TypeError as exc:
        raise InputError(f"labels must be hashable values (str, int, ...): {exc}") from exc
    if None in seen:
        missing = int(np.sum(codes == seen[None]))
        raise InputError(f"{missing} of {n} labels are None; evaluate labeled records only")
    return codes, np.bincount(codes)


def _at_least_one(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _neighbour_blocks(x: np.ndarray, cols: int, progress: Progress) -> Iterator[tuple[int, np.ndarray]]:
    if len(x) * cols <= _SINGLE_SHOT:
        yield 0, topk(x, cols, progress=progress)[0]
        return
    for start, idx, _ in iter_topk(x, cols, progress=progress):
        yield start, idx
