"""Exact nearest neighbours by cosine similarity: blocked top-k for one query, many queries or all pairs.

Every function here assumes L2-normalised float vectors (see :func:`normalize`), so the cosine similarity
of two rows is their dot product. Results are exact and deterministic: each row of neighbours is sorted by
score, highest first, and equal scores are ordered by the lower candidate index.

How it stays fast and bounded (the all-pairs case is the hot path of likewise):

* Scores are computed one block at a time with one BLAS matrix product per block; a block of scores is
  about ``SCORE_BUDGET_BYTES`` (256 MB), so memory never grows with N x N.
* Selection never sorts whole rows. For each row a threshold is found that at least ``k`` scores reach;
  only scores at or above it ("survivors", about ``k`` per row) are kept, packed into one sortable 64-bit
  key each (row | score | candidate index), and sorted once. Ties at the threshold survive, so the result
  is exact, and the packed key gives the tie-break by lower index for free.
* All pairs use symmetry: the records are visited in a fixed random order in square tiles, only tiles
  ``I <= J`` are multiplied, and each product serves the rows of ``I`` and, transposed, the rows of ``J``.
  A row's threshold is estimated from its own (random) tile and checked afterwards; the rare row whose
  estimate kept fewer than ``k`` survivors is recomputed exactly on its own.
* All pairs keep both cores busy: worker threads (as many as BLAS has threads, each holding BLAS to one)
  own whole tiles, multiply a strip of 32 MB of scores at a time and pick its survivors in one pass while
  the strip is still in cache, with a small kernel compiled by numba that runs without the GIL; so one core
  selects while the other multiplies, and no block of N x tile scores is ever held.
"""
from __future__ import annotations

import functools
import math
import mmap
import operator
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager

import numpy as np

from likewise.errors import InputError
from likewise.progress import Progress, no_progress

SCORE_BUDGET_BYTES = 256 * 2**20
"""Target size of one block of float32 scores."""

_DESCRIPTION = "nearest neighbours"
_SEED = 0  # the visiting order of the all-pairs tiles; fixed so runs are reproducible
_Z = 3.0  # safety margin (in standard deviations) of the estimated all-pairs thresholds
_SIGN = np.uint32(0x80000000)
_LOW31 = np.uint32(0x7FFFFFFF)
# All pairs multiply N^2 / 2 + N * side / 2 pairs (diagonal tiles twice): smaller tiles multiply less but
# keep more survivors per row (the threshold comes from a smaller sample) and gather more vectors. At
# 100,000 x 384 and k = 1,000, 4,096 costs about 1 s of CPU less than 8,192 (the 256 MB of scores of old).
_TILE_SIDE = 4096
_STRIP_BYTES = 32 * 2**20  # all pairs: scores a worker multiplies, then scans while they are still in cache
_CHUNK_KEYS = 1 << 18  # all pairs: the pending keys of a tile are held in chunks of 2 MB (see _KeyPool)
_SCRATCH_KEYS = 1 << 19  # all pairs: survivors a worker collects before adding them to their tiles' keys


def normalize(x: np.ndarray) -> np.ndarray:
    """Return a float32 copy of ``x`` with every row scaled to unit L2 norm.

    Rows that are all zero stay zero (their cosine with anything is 0). Raises ``InputError`` if ``x`` is
    not a 2-D numeric array with at least one column, or holds NaN or infinite values.

    >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """
    y = _as_matrix(x, "vectors")
    if y.shape[1] == 0:
        raise InputError(f"vectors have 0 dimensions (shape {y.shape}); pass at least one column per record")
    if not np.issubdtype(y.dtype, np.floating):
        y = y.astype(np.float64)
    _check_finite(y, "vectors")
    # Scale by the largest magnitude first so the norm can neither overflow nor underflow in float32.
    peak = np.max(np.abs(y), axis=1, keepdims=True) if y.shape[0] else np.ones((0, 1))
    peak[peak == 0] = 1
    out = (y / peak).astype(np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))[:, None]
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def topk(
    queries: np.ndarray,
    k: int,
    candidates: np.ndarray | None = None,
    *,
    exclude_self: bool = True,
    block_rows: int | None = None,
    progress: Progress = no_progress,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar candidates of every query, by dot product (cosine for normalised rows).

    Returns ``(indices, scores)``: int64 candidate row numbers and float32 scores, both of shape
    ``(n_queries, k')`` with ``k' = min(k, n_candidates - 1 if self is excluded else n_candidates)``. Each
    row is sorted by score, highest first; equal scores are ordered by the lower candidate index.

    ``candidates=None`` means all pairs: the queries are also the candidates and, with ``exclude_self``,
    record ``i`` is never its own neighbour (excluded by index, so an exact duplicate of ``i`` still appears,
    with score 1). ``exclude_self`` only applies to all pairs. Inputs must already be L2-normalised
    (:func:`normalize`); they are not renormalised here. ``block_rows`` sets the query rows per block (for
    all pairs: the side of a square tile); by default a block of scores is about 256 MB (all pairs: tiles
    of about 4,096 records). ``progress`` is called after every block (all pairs: every tile product).

    One query (shape ``(1, d)``) is a single matrix-vector product plus a partial selection
    (:func:`_one_query`), at plain numpy's cost: bound by reading the candidates once (154 MB of float32 for
    100,000 x 384). Candidates are converted only if they are not float32 and C-contiguous, and
    checked for NaN/inf through their scores, so keep them as float32 to avoid a copy per call.

    >>> x = normalize(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]))
    >>> idx, scores = topk(x, 1)
    >>> idx.ravel().tolist(), [round(float(s), 2) for s in scores.ravel()]
    ([1, 0, 1], [0.8, 0.8, 0.6])
    """
    q = _as_vectors(queries, "queries")
    # Candidates given apart are checked through their scores, block by block: a NaN or inf in a vector
    # makes its scores non-finite, and scanning 100,000 x 384 floats per query would cost more than the query.
    c = q if candidates is None else _as_vectors(candidates, "candidates", check=False)
    if c.shape[1] != q.shape[1]:
        raise InputError(
            f"queries have {q.shape[1]} dimensions but candidates have {c.shape[1]}; "
            "embed both with the same encoder"
        )
    k = _positive_int(k, "k")
    rows = None if block_rows is None else _positive_int(block_rows, "block_rows")
    all_pairs = candidates is None
    self_excluded = all_pairs and exclude_self
    kk = min(k, c.shape[0] - int(self_excluded))
    if kk <= 0 or q.shape[0] == 0:
        progress(1, 1, _DESCRIPTION)
        return np.zeros((q.shape[0], max(kk, 0)), np.int64), np.zeros((q.shape[0], max(kk, 0)), np.float32)
    if all_pairs:
        tile = rows or _square_tile(q.shape[0])
        if _symmetric_pays(q.shape[0], kk, tile, self_excluded):
            return _topk_all_pairs(q, kk, tile, self_excluded, progress)
    if not all_pairs and q.shape[0] == 1:
        return _one_query(q[0], c, kk, progress)
    self_index = np.arange(q.shape[0]) if self_excluded else None
    idx = np.empty((q.shape[0], kk), np.int64)
    scores = np.empty((q.shape[0], kk), np.float32)
    blocks = _dense_blocks(q, c, kk, self_index, rows, progress, check_scores=not all_pairs)
    for start, block_idx, block_scores in blocks:
        idx[start : start + len(block_idx)] = block_idx
        scores[start : start + len(block_idx)] = block_scores
    return idx, scores


def iter_topk(
    vectors: np.ndarray,
    k: int,
    *,
    exclude_self: bool = True,
    block_rows: int | None = None,
    progress: Progress = no_progress,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """All-pairs top-k, one block of query rows at a time, for when the whole result would not fit in memory.

    Yields ``(start, indices, scores)`` for query rows ``start : start + len(indices)``, with the same
    meaning, order and tie-break as :func:`topk` (``topk(vectors, k)`` is the concatenation of the blocks).
    Memory stays bounded by one block of scores plus one block of results, whatever ``k``.
    """
    x = _as_vectors(vectors, "vectors")
    k = _positive_int(k, "k")
    rows = None if block_rows is None else _positive_int(block_rows, "block_rows")
    kk = min(k, x.shape[0] - int(exclude_self))
    if kk <= 0 or x.shape[0] == 0:
        if x.shape[0]:
            yield 0, np.zeros((x.shape[0], 0), np.int64), np.zeros((x.shape[0], 0), np.float32)
        return
    if rows is None:  # keep a block of results within the budget too
        rows = max(1, min(SCORE_BUDGET_BYTES // (4 * x.shape[0]), SCORE_BUDGET_BYTES // (12 * kk)))
    self_index = np.arange(x.shape[0]) if exclude_self else None
    yield from _dense_blocks(x, x, kk, self_index, rows, progress)


# --- threads -----------------------------------------------------------------------------------------


@contextmanager
def single_threaded() -> Iterator[None]:
    """Hold BLAS/OpenMP (threadpoolctl) and, if it is loaded, torch to one CPU thread; restore the caller's
    settings on exit. The one place likewise limits threads.

    For the many small matrix products of training a head, a logistic regression's lbfgs, PCA and 2-D map
    scores, extra threads cost more in synchronisation than they save, and on a busy machine they spin
    against other processes. Measured on a loaded 2-core machine, 2 threads vs 1: a head's training step
    2.7x and its validation top-k 35x slower; a logistic regression on 6,000 x 384 vectors 4.6-12.8 s vs
    0.2 s; PCA and scores of a 10,000-point map 0.3-1.3 s vs 0.2 s; the 2-D head 7x. All pairs in this
    module split BLAS's threads among worker threads of their own instead (:class:`_AllPairs`). torch is
    never imported here: if the caller has not loaded it, nothing of it runs.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


# --- input checks -------------------------------------------------------------------------------------


def check_vectors(x: np.ndarray, what: str = "vectors") -> np.ndarray:
    """``x`` as a C-contiguous float32 (records x dimensions) array, or an ``InputError`` naming what is wrong:
    not numeric, not 2-D, no columns, NaN or infinite values (with the count of bad rows and the first)."""
    y = _as_matrix(x, what)
    if y.shape[1] == 0:
        raise InputError(f"{what} must be a 2-D array (records x dimensions), got shape {y.shape}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    _check_finite(y, what)
    return y


def _as_matrix(x: np.ndarray, what: str) -> np.ndarray:
    try:
        y = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} could not be read as a numeric array: {exc}") from exc
    if y.ndim != 2:
        raise InputError(
            f"{what} must be a 2-D array (records x dimensions), got shape {y.shape}; "
            "wrap a single vector as x.reshape(1, -1)"
        )
    real = np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_
    if not real or np.issubdtype(y.dtype, np.complexfloating):
        raise InputError(f"{what} must hold real numbers, got dtype {y.dtype}")
    return y


def _check_finite(y: np.ndarray, what: str) -> None:
    finite = np.isfinite(y).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(
            f"{what} contain NaN or infinite values in {len(bad)} of {len(y)} rows (first: row {bad[0]}); "
            "drop or re-embed those records"
        )


def _as_vectors(x: np.ndarray, what: str, check: bool = True) -> np.ndarray:
    y = _as_matrix(x, what)
    if y.shape[1] == 0:
        raise InputError(f"{what} have 0 dimensions (shape {y.shape}); pass at least one column per record")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if check:
        _check_finite(y, what)
    return y


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{what} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise InputError(f"{what} must be at least 1, got {number}")
    return number


# --- packed keys: one uint64 per candidate, sorting ascending = row, then score descending, then index ------


def _score_keys(scores: np.ndarray) -> np.ndarray:
    """uint32 keys that sort in descending score order (-0.0 and 0.0 get the same key)."""
    bits = (scores + np.float32(0)).view(np.uint32)  # a new array: changed in place below
    np.bitwise_xor(bits, _LOW31, out=bits, where=bits < _SIGN)
    return bits


def _pack(rows: np.ndarray, scores: np.ndarray, cols: np.ndarray, col_bits: int) -> np.ndarray:
    """One uint64 per candidate: row (high bits), score key (32 bits), candidate index (low ``col_bits``)."""
    keys = _score_keys(scores).astype(np.uint64)
    keys <<= np.uint64(col_bits)
    keys |= cols.astype(np.uint64, copy=False)
    keys |= rows.astype(np.uint64, copy=False) << np.uint64(32 + col_bits)
    return keys


def _select(
    keys: np.ndarray,
    kk: int,
    col_bits: int,
    out_idx: np.ndarray,
    out_scores: np.ndarray,
    decode: Callable[..., None] | None = None,
) -> np.ndarray:
    """Sort packed keys in place and write the first kk of every row into the outputs.

    Returns a boolean mask of the rows that had fewer than kk keys (their output rows hold garbage).
    ``decode``: the compiled :func:`_decode_rows` (all pairs), which does what the numpy loop below does in
    one pass.
    """
    n_rows = len(out_idx)
    keys.sort()
    starts = np.searchsorted(keys, np.arange(n_rows + 1, dtype=np.uint64) << np.uint64(32 + col_bits))
    short = np.diff(starts) < kk
    if len(keys) == 0:
        return short
    if decode is not None:
        decode(keys, starts, col_bits, out_idx, out_scores.view(np.uint32))
        return short
    chunk = max(1, (1 << 20) // kk)  # rows per step, so the temporaries stay small
    for lo in range(0, n_rows, chunk):
        hi = min(lo + chunk, n_rows)
        where = starts[lo:hi, None] + np.arange(kk)  # shape: (rows, kk)
        np.minimum(where, len(keys) - 1, out=where)  # short rows only
        chosen = keys[where]
        np.bitwise_and(chosen, np.uint64((1 << col_bits) - 1), out=out_idx[lo:hi].view(np.uint64))
        np.right_shift(chosen, np.uint64(col_bits), out=chosen)
        desc = chosen.astype(np.uint32)
        np.bitwise_xor(desc, _LOW31, out=desc, where=desc < _SIGN)  # undo _score_keys
        out_scores[lo:hi] = desc.view(np.float32)
    return short


def _bits(n: int) -> int:
    return max(1, int(n - 1).bit_length())


# --- queries x candidates, one block of query rows at a time ------------------------------------------


def _one_query(q: np.ndarray, c: np.ndarray, kk: int, progress: Progress) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-kk of one query: one matrix-vector product, one partition for the kk-th score, then only the
    scores at or above it (ties included) are ordered by (score desc, index asc); no packing, no row mask.
    Costs what plain numpy's ``argpartition`` + ``argsort`` costs, with the tie-break of :func:`topk`."""
    with np.errstate(over="ignore", invalid="ignore"):  # reported below as an InputError
        s = c @ q  # shape: (n_candidates,)
    if not np.isfinite(s).all():
        _check_finite(c, "candidates")
        raise InputError("scores overflowed float32; L2-normalise the vectors first (neighbors.normalize)")
    n = len(s)
    threshold = np.partition(s, n - kk)[n - kk]
    chosen = np.flatnonzero(s >= threshold)
    order = np.lexsort((chosen, -s[chosen]))[:kk]
    idx = chosen[order].astype(np.int64)
    scores = s[idx] + np.float32(0)  # -0.0 as 0.0, like the packed keys
    progress(1, 1, _DESCRIPTION)
    return idx[None], scores[None]


def _dense_blocks(
    q: np.ndarray,
    c: np.ndarray,
    kk: int,
    self_index: np.ndarray | None,
    block_rows: int | None,
    progress: Progress,
    check_scores: bool = False,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    n_q, n_c = q.shape[0], c.shape[0]
    col_bits = _bits(n_c)
    if col_bits > 31:
        raise InputError(f"{n_c} candidates is more than exact top-k supports (2**31); split the collection")
    rows = block_rows or max(1, SCORE_BUDGET_BYTES // (4 * n_c))
    rows = min(rows, n_q, 1 << (32 - col_bits))
    scores = _fresh((rows, n_c), np.float32)  # up to 256 MB: no huge pages (see _fresh)
    scratch = np.empty((min(rows, 32), n_c), np.float32)
    mask = _fresh((rows, n_c), bool)
    total = math.ceil(n_q / rows)
    for block, start in enumerate(range(0, n_q, rows)):
        stop = min(start + rows, n_q)
        s = scores[: stop - start]
        with np.errstate(over="ignore", invalid="ignore"):  # reported below as an InputError
            np.matmul(q[start:stop], c.T, out=s)
        if check_scores and not np.isfinite(s).all():
            _check_finite(c, "candidates")
            raise InputError("scores overflowed float32; L2-normalise the vectors first (neighbors.normalize)")
        if self_index is not None:
            s[np.arange(stop - start), self_index[start:stop]] = -np.inf
        idx_out, score_out = _dense_select(s, kk, col_bits, scratch, mask[: stop - start])
        yield start, idx_out, score_out
        progress(block + 1, total, _DESCRIPTION)


def _dense_select(
    s: np.ndarray, kk: int, col_bits: int, scratch: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-kk of every row of a block of scores ``s``."""
    n_rows, n_c = s.shape
    thresholds = np.empty(n_rows, np.float32)  # the kk-th largest score of each row
    for lo in range(0, n_rows, len(scratch)):
        part = scratch[: min(len(scratch), n_rows - lo)]
        part[:] = s[lo : lo + len(part)]
        part.partition(n_c - kk, axis=1)
        thresholds[lo : lo + len(part)] = part[:, n_c - kk]
    np.greater_equal(s, thresholds[:, None], out=mask)
    idx_out = np.empty((n_rows, kk), np.int64)
    score_out = np.empty((n_rows, kk), np.float32)
    # Ties at the threshold are all survivors; when a row has very many (zero vectors, mass duplicates) it
    # is served on its own so the block's survivors stay bounded.
    survivors = np.count_nonzero(mask)
    if survivors <= max(4 * n_rows * kk, 1 << 20):
        tied = np.zeros(0, np.intp)
    else:
        counts = np.count_nonzero(mask, axis=1)
        tied = np.flatnonzero(counts > 4 * kk)
        mask[tied] = False
    flat = np.flatnonzero(mask)
    r, col = np.divmod(flat, n_c)
    _select(_pack(r, s.ravel()[flat], col, col_bits), kk, col_bits, idx_out, score_out)
    for r in tied:
        row = s[r]
        above = np.flatnonzero(row > thresholds[r])
        ties = np.flatnonzero(row == thresholds[r])[: kk - len(above)]
        chosen = np.concatenate([above, ties])
        order = np.lexsort((chosen, -row[chosen]))
        idx_out[r] = chosen[order]
        score_out[r] = row[chosen[order]] + np.float32(0)  # -0.0 as 0.0, like the packed keys
    return idx_out, score_out


# --- all pairs, using symmetry ------------------------------------------------------------------------


def _square_tile(n: int) -> int:
    return math.ceil(n / math.ceil(n / _TILE_SIDE))  # balanced tiles


def _sample_rank(kk: int, n: int, tile: int, self_excluded: bool) -> int:
    """Rank, within a random tile of ``tile`` candidates, whose score at least kk of all n reach (whp)."""
    others = n - int(self_excluded)
    mean = kk * (tile - int(self_excluded)) / others
    return max(1, math.ceil(mean + _Z * math.sqrt(mean)) + 1)


def _symmetric_pays(n: int, kk: int, tile: int, self_excluded: bool) -> bool:
    if n <= tile or _bits(n) + _bits(tile) > 32:
        return False
    smallest = n // math.ceil(n / tile)
    return _sample_rank(kk, n, smallest, self_excluded) <= (smallest - 1) // 4


def _topk_all_pairs(
    x: np.ndarray, kk: int, tile: int, self_excluded: bool, progress: Progress
) -> tuple[np.ndarray, np.ndarray]:
    return _AllPairs(x, kk, tile, self_excluded, progress).run()


def _blas_threads() -> int:
    """The threads BLAS would use now: its default (the CPU count) or a caller's ``threadpool_limits``."""
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(1, max(counts, default=os.cpu_count() or 1))


class _AllPairs:
    """All-pairs top-kk through symmetric tiles, visited in a fixed random order (see the module docstring).

    Positions ``bounds[i] : bounds[i + 1]`` of the visiting order form tile ``i``; ``members[i]`` are their
    original rows. Per-row state (thresholds, rows to redo, results) is kept by visiting position.

    The work is a list of tasks: diagonal tile ``i`` (its rows' thresholds), pair ``i < j`` and, once tile
    ``i`` has met every tile, ``finish(i)``. Worker threads run them, each with its own buffers and BLAS
    held to one thread (on 2 cores: two workers), so one core selects while the other multiplies. A task
    multiplies a strip of rows at a time and scans each strip once, while it is still in cache, with a
    compiled kernel (:func:`_scan_strip`) instead of numpy's passes over a whole tile. Only the main thread
    changes shared per-row state (rows to redo, thresholds of flooded rows) and reports progress. A row's
    survivors are the same whatever order the tasks run in, and each product is cut into the same strips
    whatever the number of workers, so with one BLAS thread each the result is the same bit for bit.
    """

    def __init__(self, x: np.ndarray, kk: int, tile: int, self_excluded: bool, progress: Progress) -> None:
        n, dim = x.shape
        self.x, self.kk, self.self_excluded, self.progress = x, kk, self_excluded, progress
        self.n_tiles = math.ceil(n / tile)
        self.bounds = [round(i * n / self.n_tiles) for i in range(self.n_tiles + 1)]
        self.order = np.random.default_rng(_SEED).permutation(n)  # original row of each visited position
        self.members = [self.order[self.bounds[i] : self.bounds[i + 1]] for i in range(self.n_tiles)]
        self.col_bits = _bits(n)
        self.side = max(len(m) for m in self.members)
        self.strip_rows = min(self.side, max(16, _STRIP_BYTES // (4 * self.side) // 16 * 16))
        # Workers' buffers together stay within what one thread's tiles needed: a block of scores, two tiles
        # of vectors (the vectors in visiting order, below, replace those).
        threads = _blas_threads()
        held = SCORE_BUDGET_BYTES + 2 * 4 * self.side * dim
        self.n_workers = max(1, min(threads, held // _Buffers.size(self.side, self.strip_rows)))
        self.blas_per_worker = max(1, threads // self.n_workers)
        # The vectors in visiting order, so a tile is a slice; each diagonal task copies its own tile in, and
        # the front is handed back to the kernel as tiles finish (_schedule), as the results grow.
        self.xp = _fresh((n, dim), np.float32)
        self.thresholds = np.empty(n, np.float32)
        self.redo = np.zeros(n, bool)  # recompute exactly at the end
        per_row = _sample_rank(kk, n, self.side, self_excluded) * n / self.side  # expected survivors of a row
        # About one finished tile's chunks stay spare: what the pairs before the next finish will add.
        self.pool = _KeyPool(spare=math.ceil(per_row * self.side / _CHUNK_KEYS))
        self.pending = [_KeyBuffer(self.pool) for _ in self.members]
        self.lock = threading.Lock()  # two pairs may add keys to the same tile at once
        self.sorted = np.empty(0, np.uint64)  # a tile's keys, sorted by _finish; reused from tile to tile
        self.sort_lock = threading.Lock()
        # Written in visiting order, so memory fills front to back; put in place at the end.
        self.idx = _fresh((n, kk), np.int64)
        self.scores = _fresh((n, kk), np.float32)
        self.done, self.total = 0, self.n_tiles * (self.n_tiles + 1) // 2

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        from threadpoolctl import threadpool_limits

        _kernels()  # compiled, or loaded from numba's cache, before the threads start
        buffers = [_Buffers(self.side, self.strip_rows) for _ in range(self.n_workers)]
        with (
            threadpool_limits(limits=self.blas_per_worker, user_api="blas"),
            ThreadPoolExecutor(self.n_workers, thread_name_prefix="likewise-topk") as pool,
        ):
            self._schedule(pool, buffers)
        del buffers, self.pool, self.pending, self.sorted, self.xp
        _unpermute_rows(self.order, self.idx, self.scores)
        self._recompute(np.sort(self.order[self.redo]))
        self.progress(self.total, self.total, _DESCRIPTION)
        return self.idx, self.scores

    def _schedule(self, pool: ThreadPoolExecutor, buffers: list[_Buffers]) -> None:
        """Run the tasks, each as soon as its inputs are ready and a worker's buffers are free, first in the
        list first: diagonal tiles, then tile 0's pairs, finish(0), tile 1's pairs, ... (memory fills front
        to back, as the pending keys of a finished tile go to the next tiles)."""
        n = self.n_tiles
        tasks: list[tuple[int, int | None]] = [(i, i) for i in range(n)]
        for i in range(n):
            tasks += [(i, j) for j in range(i + 1, n)] + [(i, None)]  # (i, None): finish tile i
        thresholds_ready = [False] * n
        unmet = [n] * n  # products of tile i (its diagonal and n - 1 pairs) not yet done
        unneeded = 0  # tiles 0 .. unneeded - 1 have met every tile: their vectors can go

        def ready(task: tuple[int, int | None]) -> bool:
            i, j = task
            if j is None:
                return unmet[i] == 0
            return i == j or (thresholds_ready[i] and thresholds_ready[j])

        running: dict[Future, tuple[tuple[int, int | None], _Buffers]] = {}
        while tasks or running:
            while buffers:
                task = next((t for t in tasks if ready(t)), None)
                if task is None:
                    break
                tasks.remove(task)
                buf = buffers.pop()
                running[pool.submit(self._task, task, buf)] = (task, buf)
            if not running:
                raise RuntimeError(f"all-pairs top-k: {len(tasks)} tasks left and none ready")  # a bug here
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                (i, j), buf = running.pop(future)
                buffers.append(buf)
                result = future.result()
                if j is None:
                    self.redo[self.bounds[i] : self.bounds[i + 1]] |= result
                    continue
                self.redo[result] = True  # rows flooded with ties: the exact fallback serves them
                self.thresholds[result] = np.inf
                unmet[i] -= 1
                if i == j:
                    thresholds_ready[i] = True
                else:
                    unmet[j] -= 1
                while unneeded < n and unmet[unneeded] == 0:
                    unneeded += 1
                    _release_front(self.xp, self.bounds[unneeded] * self.xp.shape[1] * 4)
                self._tick()

    def _task(self, task: tuple[int, int | None], buf: _Buffers) -> np.ndarray:
        i, j = task
        return self._finish(i) if j is None else self._pair(i, j, buf)

    def _tick(self) -> None:
        self.done += 1
        self.progress(self.done, self.total, _DESCRIPTION)

    def _thresholds(self, i: int) -> np.ndarray:
        return self.thresholds[self.bounds[i] : self.bounds[i + 1]]

    def _pair(self, i: int, j: int, buf: _Buffers) -> np.ndarray:
        """Tiles i <= j, a strip of tile i's rows at a time; returns the visiting positions of rows flooded
        with ties. Off the diagonal one product serves the rows of i and, transposed, the rows of j; on it,
        each row's threshold is estimated first, from its own tile (a random sample of the others)."""
        rows_i, rows_j = self.members[i], self.members[j]
        t_i, t_j = len(rows_i), len(rows_j)
        diagonal = i == j
        left, right = self.xp[self.bounds[i] : self.bounds[i + 1]], self.xp[self.bounds[j] : self.bounds[j + 1]]
        if diagonal:  # the first task of tile i: its vectors in place
            np.take(self.x, rows_i, axis=0, out=left)
        thr_i, thr_j = self._thresholds(i), buf.thr_j[:t_j]
        thr_j[:] = np.inf if diagonal else self._thresholds(j)  # a copy: the kernel raises floods to inf
        counts_j, flooded_i = buf.counts[:t_j], buf.flooded[:t_i]
        counts_j[:] = 0
        flooded_i[:] = 0
        # A role's survivors are about rank / tile of its scores; a row or column with 8 times that is a flood.
        short_side = min(t_i, t_j)
        expected = t_i * t_j * _sample_rank(self.kk, len(self.x), short_side, self.self_excluded) / short_side
        caps = int(8 * expected / t_i) + 64, int(8 * expected / t_j) + 64
        scratch = tuple(a[: -(-t_j // 8) * 8] for a in buf.scan)
        scan = _kernels().scan
        for lo in range(0, t_i, self.strip_rows):
            hi = min(lo + self.strip_rows, t_i)
            p = buf.strip[: (hi - lo) * t_j].reshape(hi - lo, t_j)
            np.matmul(left[lo:hi], right.T, out=p)
            if diagonal:
                if self.self_excluded:
                    p[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
                self._estimate(p, thr_i[lo:hi], buf)
            start = lo
            while start < hi:  # more than once only when the survivors outgrow the worker's key buffers
                done, n_i, n_j = scan(
                    p[start - lo :], thr_i[start:hi], thr_j, rows_i[start:hi], rows_j, start, self.col_bits,
                    caps, counts_j, scratch, buf.keys_i, buf.keys_j, flooded_i[start:hi],
                )
                with self.lock:
                    self.pending[i].add(buf.keys_i[:n_i])
                    self.pending[j].add(buf.keys_j[:n_j])
                start += done
        flooded = self.bounds[i] + np.flatnonzero(flooded_i)
        if diagonal:
            return flooded
        return np.concatenate([flooded, self.bounds[j] + np.flatnonzero(counts_j > caps[1])])

    def _estimate(self, p: np.ndarray, thr: np.ndarray, buf: _Buffers) -> None:
        """Each row's threshold: its ``rank``-th largest score within its own tile (``p``: a strip of it)."""
        t = p.shape[1]
        rank = min(_sample_rank(self.kk, len(self.x), t, self.self_excluded), t - int(self.self_excluded))
        step = len(buf.part) // t
        for lo in range(0, len(p), step):
            part = buf.part[: min(step, len(p) - lo) * t].reshape(-1, t)
            part[:] = p[lo : lo + len(part)]
            part.partition(t - rank, axis=1)
            thr[lo : lo + len(part)] = part[:, t - rank]

    def _finish(self, i: int) -> np.ndarray:
        """Tile i has met every tile: select its rows' top-kk; returns the rows left short (redone later)."""
        lo, hi = self.bounds[i], self.bounds[i + 1]
        with self.sort_lock:
            if len(self.sorted) < len(self.pending[i]):
                self.sorted = _fresh((len(self.pending[i]) * 9 // 8,), np.uint64)
            keys = self.pending[i].drain(self.sorted)
            return _select(keys, self.kk, self.col_bits, self.idx[lo:hi], self.scores[lo:hi], _kernels().decode)

    def _recompute(self, rows: np.ndarray) -> None:
        """Exact top-kk of a few original rows, on their own (rare estimate misses, floods of ties)."""
        if not len(rows):
            return
        block = max(1, min(64, SCORE_BUDGET_BYTES // (4 * len(self.x))))
        self_index = rows if self.self_excluded else None
        for start, idx, scores in _dense_blocks(self.x[rows], self.x, self.kk, self_index, block, no_progress):
            self.idx[rows[start : start + len(idx)]] = idx
            self.scores[rows[start : start + len(idx)]] = scores


class _Buffers:
    """One worker's buffers, reused from task to task (their sizes are :meth:`size`)."""

    def __init__(self, side: int, strip_rows: int) -> None:
        self.strip = _fresh((strip_rows * side,), np.float32)  # scores of a strip of tile i x tile j
        self.part = np.empty(64 * side, np.float32)  # rows being partitioned for their thresholds
        self.thr_j, self.counts = np.empty(side, np.float32), np.empty(side, np.int32)
        self.flooded = np.empty(side, np.uint8)
        padded = -(-side // 8) * 8
        self.scan = (np.zeros(padded, np.uint8), np.empty(padded, np.int64), np.empty(padded, np.int64))
        capacity = max(_SCRATCH_KEYS, side)  # at least one row's worth
        self.keys_i, self.keys_j = _fresh((capacity,), np.uint64), _fresh((capacity,), np.uint64)

    @staticmethod
    def size(side: int, strip_rows: int) -> int:
        return 4 * (strip_rows + 64 + 3) * side + 17 * side + 16 * max(_SCRATCH_KEYS, side)


def _scan_strip(
    p: np.ndarray,
    thr_i: np.ndarray,
    thr_j: np.ndarray,
    cand_i: np.ndarray,
    cand_j: np.ndarray,
    row0: int,
    col_bits: int,
    caps: tuple[int, int],
    counts_j: np.ndarray,
    scratch: tuple[np.ndarray, np.ndarray, np.ndarray],
    keys_i: np.ndarray,
    keys_j: np.ndarray,
    flooded_i: np.ndarray,
) -> tuple[int, int, int]:
    """Packed keys of the survivors of a strip of scores ``p`` (rows of tile i x columns of tile j), one pass
    per row; compiled by :class:`_Kernels`.

    ``p[r, c]`` survives for row ``r`` if it is >= ``thr_i[r]`` (key: local row ``row0 + r``, candidate
    ``cand_j[c]``) and for column ``c`` if it is >= ``thr_j[c]`` (key: local row ``c``, candidate
    ``cand_i[r]``); the keys are those of :func:`_pack`. A row with more than ``caps[0]`` survivors is a
    flood of ties: its keys are dropped and ``flooded_i[r]`` set. A column stops collecting (``thr_j[c] =
    inf``) once its count in ``counts_j`` passes ``caps[1]``. Stops before a row whose keys might not fit in
    ``keys_i`` / ``keys_j``; returns (rows done, keys in keys_i, keys in keys_j). ``scratch``: uint8 flags
    for ``n_columns`` rounded up to a multiple of 8, and two int64 arrays as long as the flags.

    Survivors are ~1-3 % of the scores, at random places: a branch per score or per 8 would mispredict
    often, so each row goes flags (vectorised), words of 8 flags holding a survivor, then survivors' columns,
    each step branch-free.
    """
    n_rows, n_cols = p.shape
    flags, word_hits, col_hits = scratch
    bits = p.view(np.uint32)
    for c in range(n_cols, len(flags)):
        flags[c] = 0
    words = flags.view(np.uint64)
    shift, low = np.uint64(32 + col_bits), np.uint64(col_bits)
    n_i = 0
    n_j = 0
    for r in range(n_rows):
        if n_i + n_cols > len(keys_i) or n_j + n_cols > len(keys_j):
            return r, n_i, n_j
        row, t_i = p[r], thr_i[r]
        for c in range(n_cols):  # does the score survive for either role?
            t = thr_j[c]
            flags[c] = row[c] >= (t_i if t_i < t else t)
        n_words = 0
        for w in range(len(words)):
            word_hits[n_words] = w
            n_words += words[w] != 0
        n_hits = 0
        for h in range(n_words):
            for c in range(8 * word_hits[h], 8 * word_hits[h] + 8):
                col_hits[n_hits] = c
                n_hits += flags[c]
        first = n_i
        row_key, cand = np.uint64(row0 + r) << shift, np.uint64(cand_i[r])
        for h in range(n_hits):
            c = col_hits[h]
            b = np.int64(bits[r, c])
            if b == 0x80000000:  # -0.0 as 0.0
                b = 0
            if b < 0x80000000:  # not negative: flipped, so keys sort by descending score (_score_keys)
                b ^= 0x7FFFFFFF
            key = np.uint64(b) << low
            keys_i[n_i] = row_key | key | np.uint64(cand_j[c])  # kept only if it survives for row r
            n_i += row[c] >= t_i
            keys_j[n_j] = (np.uint64(c) << shift) | key | cand
            hit = row[c] >= thr_j[c]
            n_j += hit
            counts_j[c] += hit
            if counts_j[c] > caps[1]:
                thr_j[c] = np.inf
        if n_i - first > caps[0]:
            n_i = first
            flooded_i[r] = 1
    return n_rows, n_i, n_j


def _decode_rows(
    keys: np.ndarray, starts: np.ndarray, col_bits: int, out_idx: np.ndarray, out_bits: np.ndarray
) -> None:
    """The first ``kk`` sorted keys of each row ``r`` (``keys[starts[r] : starts[r + 1]]``, ``kk`` the width
    of the outputs) as candidate indices and scores (``out_bits``: the float32 scores viewed as uint32); a
    row with fewer than ``kk`` keys is left alone. Compiled by :func:`_kernels`, for :func:`_select`."""
    n_rows, kk = out_idx.shape
    shift = np.uint64(col_bits)
    low = (np.uint64(1) << shift) - np.uint64(1)
    for r in range(n_rows):
        first = starts[r]
        if starts[r + 1] - first < kk:
            continue
        for q in range(kk):
            key = keys[first + q]
            out_idx[r, q] = np.int64(key & low)
            b = np.int64((key >> shift) & np.uint64(0xFFFFFFFF))
            if b < 0x80000000:  # undo _score_keys
                b ^= 0x7FFFFFFF
            out_bits[r, q] = b


class _Kernels:
    """:func:`_scan_strip` and :func:`_decode_rows` compiled by numba, without the GIL (two workers run them
    at once). Compiled on a process's first all-pairs call (~1 s) and cached on disk by numba, so later
    processes only load them (~0.3 s, most of it importing numba); :func:`_kernels` does it once, on tiny
    inputs, in the calling thread."""

    def __init__(self) -> None:
        import numba

        jit = numba.njit(nogil=True, cache=True, boundscheck=False)
        self.scan, self.decode = jit(_scan_strip), jit(_decode_rows)
        p = np.zeros((1, 8), np.float32)
        row = np.zeros(1, np.int64)
        scratch = (np.zeros(8, np.uint8), np.zeros(8, np.int64), np.zeros(8, np.int64))
        self.scan(p, p[0, :1], p[0], row, np.zeros(8, np.int64), 0, 4, (1, 1), np.zeros(8, np.int32), scratch,
                  np.zeros(8, np.uint64), np.zeros(8, np.uint64), np.zeros(1, np.uint8))
        self.decode(np.zeros(1, np.uint64), np.array([0, 1]), 4, row[:, None], np.zeros((1, 1), np.uint32))


@functools.cache
def _kernels() -> _Kernels:
    return _Kernels()


class _KeyPool:
    """Chunks of ``_CHUNK_KEYS`` packed keys shared by the tiles' pending keys, reused from tile to tile.

    Memory freed and allocated again is faulted in again (at best ~0.4 s per GB here; numpy's huge pages
    cost seconds, see :func:`_fresh`), and a tile's keys are freed only when it finishes: 1.2 GB of keys
    pass through at 100,000 x 1,000, about a quarter of them held at once. So the chunks of a finished tile
    hold the next tiles' keys; free chunks beyond ``spare`` are released, so memory still shrinks as the
    last tiles finish. Chunks of 2 MB are below numpy's 4 MB threshold for huge pages.
    """

    def __init__(self, spare: int) -> None:
        self._free: list[np.ndarray] = []
        self._spare = spare
        self._lock = threading.Lock()

    def take(self) -> np.ndarray:
        with self._lock:
            if self._free:
                return self._free.pop()
        return np.empty(_CHUNK_KEYS, np.uint64)

    def give(self, chunks: list[np.ndarray]) -> None:
        with self._lock:
            self._free.extend(chunks)
            del self._free[self._spare :]


class _KeyBuffer:
    """Packed keys collected for one tile, in chunks from a :class:`_KeyPool`."""

    def __init__(self, pool: _KeyPool) -> None:
        self._pool = pool
        self._chunks: list[np.ndarray] = []
        self._last = _CHUNK_KEYS  # keys in the last chunk

    def __len__(self) -> int:
        return len(self._chunks) * _CHUNK_KEYS - (_CHUNK_KEYS - self._last) if self._chunks else 0

    def add(self, keys: np.ndarray) -> None:
        done = 0
        while done < len(keys):
            if self._last == _CHUNK_KEYS:
                self._chunks.append(self._pool.take())
                self._last = 0
            step = min(len(keys) - done, _CHUNK_KEYS - self._last)
            self._chunks[-1][self._last : self._last + step] = keys[done : done + step]
            self._last += step
            done += step

    def drain(self, out: np.ndarray) -> np.ndarray:
        """Copy the keys into the front of ``out`` (at least ``len(self)`` long), give the chunks back."""
        n = len(self)
        for c, chunk in enumerate(self._chunks):
            lo = c * _CHUNK_KEYS
            out[lo : min(lo + _CHUNK_KEYS, n)] = chunk[: min(_CHUNK_KEYS, n - lo)]
        self._pool.give(self._chunks)
        self._chunks, self._last = [], _CHUNK_KEYS
        return out[:n]


def _fresh(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """An uninitialised C-contiguous array, on Linux in an anonymous mapping of its own (``np.empty`` below
    4 MB and elsewhere), so without the transparent huge pages numpy asks for (``MADV_HUGEPAGE``).

    Where the kernel must compact memory to find each 2 MB page (THP defrag "madvise", fragmented memory, as
    on this project's VMs) a first touch stalls: 1 GB written afresh cost 2.4-6.4 s of kernel time through
    ``np.empty`` and 0.4 s here. All pairs writes its results (1.1 GB at 100,000 x 1,000) once, front to
    back, which gains nothing from huge pages. The mapping is freed with the array.
    """
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes < 4 << 20 or not sys.platform.startswith("linux"):
        return np.empty(shape, dtype)
    mapping = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(mapping, dtype).reshape(shape)


def _release_front(a: np.ndarray, nbytes: int) -> None:
    """Hand the whole pages among the first ``nbytes`` of a :func:`_fresh` array back to the kernel (reading
    them again gives zeros); nothing for an array from ``np.empty``."""
    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    if isinstance(base, mmap.mmap) and nbytes >= mmap.PAGESIZE:
        base.madvise(mmap.MADV_DONTNEED, 0, nbytes // mmap.PAGESIZE * mmap.PAGESIZE)


def _unpermute_rows(order: np.ndarray, *arrays: np.ndarray) -> None:
    """In place, move row ``p`` of every array to row ``order[p]`` (follows the cycles of the permutation)."""
    source = np.empty_like(order)
    source[order] = np.arange(len(order))  # the visited position whose result belongs in each row
    placed = source == np.arange(len(order))
    held = [np.empty(a.shape[1:], a.dtype) for a in arrays]
    for first in range(len(order)):
        if placed[first]:
            continue
        for a, h in zip(arrays, held):
            h[...] = a[first]
        row = first
        while True:
            placed[row] = True
            nxt = source[row]
            if nxt == first:
                for a, h in zip(arrays, held):
                    a[row] = h
                break
            for a in arrays:
                a[row] = a[nxt]
            row = nxt
