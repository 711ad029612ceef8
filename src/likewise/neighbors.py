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
* All pairs (``candidates=None``) use symmetry and keep every core busy: that job, its worker threads and
  its compiled kernels are in :mod:`likewise.all_pairs`.
"""
from __future__ import annotations

import math
import mmap
import operator
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from likewise.errors import InputError
from likewise.first_pass import Int8Copy, exact_scores
from likewise.progress import Progress, no_progress

SCORE_BUDGET_BYTES = 256 * 2**20
"""Target size of one block of float32 scores."""

_DESCRIPTION = "nearest neighbours"
_SIGN = np.uint32(0x80000000)
_LOW31 = np.uint32(0x7FFFFFFF)


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
    rows: np.ndarray | None = None,
    first_pass: Int8Copy | None = None,
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
    ``rows`` (ascending candidate row numbers) ranks only those candidates (a filter); the returned indices
    are still candidate rows. ``first_pass``, an :class:`~likewise.first_pass.Int8Copy` of exactly these
    candidates (all of them, whatever ``rows`` says), makes one query read the int8 copy instead and score
    exactly only the rows it cannot rule out: the same neighbours for a quarter of the memory traffic, about
    2x faster than the float32 product alone at 100,000 x 384 (a caller that changes the candidates must
    build a new copy; :class:`~likewise.index.ExactIndex` does).

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
    block = None if block_rows is None else _positive_int(block_rows, "block_rows")
    all_pairs = candidates is None
    if rows is not None:
        if all_pairs:
            raise InputError("rows restricts the candidates of a search; pass candidates too")
        rows = np.asarray(rows, dtype=np.int64)
    self_excluded = all_pairs and exclude_self
    kk = min(k, (c.shape[0] if rows is None else len(rows)) - int(self_excluded))
    if kk <= 0 or q.shape[0] == 0:
        progress(1, 1, _DESCRIPTION)
        return np.zeros((q.shape[0], max(kk, 0)), np.int64), np.zeros((q.shape[0], max(kk, 0)), np.float32)
    if all_pairs:
        from likewise.all_pairs import _square_tile, _symmetric_pays, _topk_all_pairs

        tile = block or _square_tile(q.shape[0])
        if _symmetric_pays(q.shape[0], kk, tile, self_excluded):
            return _topk_all_pairs(q, kk, tile, self_excluded, progress)
    if not all_pairs and q.shape[0] == 1:
        if first_pass is not None and first_pass.shape != c.shape:
            raise InputError(f"the int8 first pass was built for {first_pass.shape[0]:,} x {first_pass.shape[1]} "
                             f"candidates, not {c.shape[0]:,} x {c.shape[1]}; build it again for these")
        return _one_query(q[0], c, kk, progress, first_pass, rows)
    if rows is not None:  # several queries among some candidates: those candidates, gathered once
        idx, scores = topk(q, kk, c[rows], block_rows=block_rows, progress=progress)
        return rows[idx], scores
    self_index = np.arange(q.shape[0]) if self_excluded else None
    idx = np.empty((q.shape[0], kk), np.int64)
    scores = np.empty((q.shape[0], kk), np.float32)
    blocks = _dense_blocks(q, c, kk, self_index, block, progress, check_scores=not all_pairs)
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
    0.2 s; PCA and scores of a 10,000-point map 0.3-1.3 s vs 0.2 s; the 2-D head 7x. All pairs split
    BLAS's threads among worker threads of their own instead (:mod:`likewise.all_pairs`). torch is never
    imported here: if the caller has not loaded it, nothing of it runs.
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
    ``decode``: the compiled :func:`likewise.all_pairs._decode_rows` (all pairs), which does what the numpy
    loop below does in one pass.
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


def _one_query(q: np.ndarray, c: np.ndarray, kk: int, progress: Progress, first_pass: Int8Copy | None = None,
               among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-kk of one query: one matrix-vector product, one partition for the kk-th score, then only the
    scores at or above it (ties included) are ordered by (score desc, index asc); no packing, no row mask.
    Costs what plain numpy's ``argpartition`` + ``argsort`` costs, with the tie-break of :func:`topk`. With
    ``first_pass``, the product covers only the rows its int8 pass could not rule out (same result); ``among``:
    only these rows are ranked."""
    rows = first_pass.candidates(q, kk, among) if first_pass is not None else among
    with np.errstate(over="ignore", invalid="ignore"):  # reported below as an InputError
        if rows is None:
            s = c @ q  # shape: (n_candidates,)
        elif first_pass is not None:  # the few rows the first pass left, read in place
            s = exact_scores(c, rows, q)
        else:  # a filter's rows: gathered for BLAS when few, else all scored and the filter's taken
            s = c[rows] @ q if 4 * len(rows) < len(c) else (c @ q)[rows]
    if not np.isfinite(s).all():
        _check_finite(c, "candidates")
        raise InputError("scores overflowed float32; L2-normalise the vectors first (neighbors.normalize)")
    n = len(s)
    threshold = np.partition(s, n - kk)[n - kk]
    chosen = np.flatnonzero(s >= threshold)
    found = chosen if rows is None else rows[chosen]
    order = np.lexsort((found, -s[chosen]))[:kk]
    idx = found[order].astype(np.int64)
    scores = s[chosen[order]] + np.float32(0)  # -0.0 as 0.0, like the packed keys
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


# --- memory ------------------------------------------------------------------------------------------


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
