"""An int8 copy of the candidates for one query's first pass, with an exact float32 re-rank: same results.

One exact query over N float32 candidates reads all of them (154 MB for 100,000 x 384): it is bound by
memory bandwidth. :class:`Int8Copy` keeps each candidate row as int8 codes times a per-row scale (a quarter
of the bytes) and a per-row bound on what that rounding can change in any score. A query then

1. computes every approximate score ``a_i`` from the codes (a numba kernel, without the GIL, split over the
   cores), each with its bound ``b_i = slack_i * ||q||``, so the float32 score ``s_i`` lies in
   ``[a_i - b_i, a_i + b_i]``;
2. takes ``t``, the ``k``-th largest lower end ``a_i - b_i``. At least ``k`` rows score ``t`` or more, so the
   ``k``-th best score is at least ``t``, and every row of the exact top ``k`` (ties included) has
   ``a_i + b_i >= t``: those rows are the candidates;
3. scores the candidates exactly (:func:`exact_scores`) and selects among them as
   :func:`likewise.neighbors.topk` does (score descending, ties by lower row).

So the result is that of the float32 search (tested against it), for a quarter of the memory traffic plus
the few thousand candidate rows. ``slack_i`` is the norm of row ``i``'s rounding error (Cauchy-Schwarz:
``|(x - x^) . q| <= ||x - x^|| ||q||``) plus the worst float32 rounding of both dot products over ``d`` terms.

The copy costs one pass over the matrix to build (~N x d bytes more memory) and is exact only for the
matrix it was built from: whoever owns the matrix rebuilds it after a change (:class:`likewise.index.exact
.ExactIndex` does, lazily).
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from likewise.errors import InputError

MIN_ROWS = 20_000
"""Below this many candidates the float32 pass is cheap (it fits the caches) and the copy does not pay; also
the fewest rows per thread of the int8 pass."""
EXACT_ROWS_PER_WORKER = 512
"""The fewest candidate rows per thread of the exact re-rank."""


class Int8Copy:
    """int8 codes, per-row scales and per-row error bounds of an (n, d) float32 matrix (see the module)."""

    def __init__(self, matrix: np.ndarray) -> None:
        x = np.asarray(matrix)
        if x.ndim != 2 or x.dtype != np.float32:
            raise InputError(f"an int8 copy needs a 2-D float32 matrix, got {x.dtype} with shape {x.shape}")
        n, d = x.shape
        self.shape = (n, d)
        self.codes = np.empty((n, d), np.int8)
        self.scale = np.empty(n, np.float32)
        self.slack = np.empty(n, np.float32)
        if n and not _kernels().build(x, self.codes, self.scale, self.slack, 4.0 * (d + 2) * 2.0**-24):
            raise InputError("candidates hold NaN or infinite values; L2-normalise finite vectors first")

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.scale.nbytes + self.slack.nbytes

    def candidates(self, q: np.ndarray, kk: int, among: np.ndarray | None = None) -> np.ndarray:
        """Rows (ascending) that may be in the exact top ``kk`` of ``q`` (all of them are among these); with
        ``among`` (ascending rows, at least ``kk``), the top ``kk`` of those rows only (a filter, or a record
        that must not find itself)."""
        n = self.shape[0]
        approx = np.empty(n, np.float32)
        q32 = np.ascontiguousarray(q, dtype=np.float32)
        kernel = _kernels().scores
        parts = _parts(n)
        if len(parts) == 1:
            kernel(self.codes, self.scale, q32, approx, 0, n)
        else:
            list(_pool().map(lambda part: kernel(self.codes, self.scale, q32, approx, *part), parts))
        bound = self.slack * np.float32(np.linalg.norm(q.astype(np.float64)) * (1 + 1e-6))
        if among is not None:
            approx, bound = approx[among], bound[among]
        lower = approx - bound
        threshold = np.partition(lower, len(lower) - kk)[len(lower) - kk]
        found = np.flatnonzero(approx + bound >= threshold)
        return found if among is None else among[found]


class OnSecondQuery:
    """The :class:`Int8Copy` of ``matrix``, built on the second :meth:`get` (the second single query) when the
    matrix has :data:`MIN_ROWS` rows or more; None before, and always for smaller ones. Building is one pass over
    the matrix, which a lone query (``likewise search``) would not win back. The owner drops this object when
    the matrix changes. Two threads may both build it: the same copy, the last one kept."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix
        self.queries = 0
        self.copy: Int8Copy | None = None

    def get(self) -> Int8Copy | None:
        if self.copy is None and len(self.matrix) >= MIN_ROWS:
            self.queries += 1
            if self.queries >= 2:
                self.copy = Int8Copy(self.matrix)
        return self.copy


def exact_scores(matrix: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """float32 scores ``matrix[rows] @ q`` without gathering the rows: each product of two float32 numbers
    is exact in float64 and summed there, then rounded once to float32 (at least as exact as BLAS's float32
    sum, and the same for every row wherever it sits)."""
    out = np.empty(len(rows), np.float32)
    rows, q32 = np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(q, dtype=np.float32)
    kernel = _kernels().exact
    parts = _parts(len(rows), EXACT_ROWS_PER_WORKER)  # scattered rows: latency-bound, so both cores fetch
    if len(parts) == 1:
        kernel(matrix, rows, q32, out)
    else:
        list(_pool().map(lambda part: kernel(matrix, rows[part[0]:part[1]], q32, out[part[0]:part[1]]), parts))
    return out


def _approx_scores(codes, scale, q, out, lo, hi):  # compiled by numba (see _kernels)
    d = codes.shape[1]
    for i in range(lo, hi):
        acc = np.float32(0.0)
        for j in range(d):
            acc += np.float32(codes[i, j]) * q[j]
        out[i] = acc * scale[i]


def _exact_scores(x, rows, q, out):  # compiled by numba (see _kernels)
    d = x.shape[1]
    for r in range(len(rows)):
        acc = 0.0
        row = rows[r]
        for j in range(d):
            acc += np.float64(x[row, j]) * np.float64(q[j])
        out[r] = np.float32(acc)


def _build(x, codes, scale, slack, rounding):  # compiled by numba (see _kernels)
    """Row by row: scale = max |x_ij| / 127, codes = round(x / scale), slack = ||x - x^|| plus ``rounding``
    times the larger of ||x|| and ||x^|| (float64 sums, rounded up to float32 by a relative 1e-6). False
    if a value is not finite."""
    n, d = x.shape
    for i in range(n):
        peak = 0.0
        for j in range(d):
            v = abs(np.float64(x[i, j]))
            if not v <= 1e30:  # NaN or inf (or a vector far from unit length)
                return False
            peak = max(peak, v)
        s = np.float32(peak / 127.0) if peak > 0 else np.float32(1.0)
        s64 = np.float64(s)
        err = 0.0
        size_x = 0.0
        size_a = 0.0
        for j in range(d):
            v = np.float64(x[i, j])
            c = min(127.0, max(-127.0, np.rint(v / s64)))
            codes[i, j] = np.int8(c)
            a = c * s64
            err += (v - a) * (v - a)
            size_x += v * v
            size_a += a * a
        scale[i] = s
        slack[i] = np.float32((np.sqrt(err) + rounding * np.sqrt(max(size_x, size_a))) * (1 + 1e-6) + 1e-12)
    return True


def _parts(n: int, per_worker: int = MIN_ROWS) -> list[tuple[int, int]]:
    workers = max(1, min(_cpus(), n // per_worker))
    return [(w * n // workers, (w + 1) * n // workers) for w in range(workers)]


class _Kernels:
    """:func:`_approx_scores` (fastmath: its sum may be reordered and vectorised, which the bound allows for),
    :func:`_exact_scores` (float64 sums, reordered only within float64's far smaller rounding) and
    :func:`_build`, compiled by numba without the GIL and cached on disk; loaded once per process."""

    def __init__(self) -> None:
        import numba

        self.scores = numba.njit(nogil=True, cache=True, fastmath=True, boundscheck=False)(_approx_scores)
        self.build = numba.njit(nogil=True, cache=True, boundscheck=False)(_build)
        self.exact = numba.njit(nogil=True, cache=True, fastmath=True, boundscheck=False)(_exact_scores)
        x = np.zeros((1, 4), np.float32)
        self.exact(x, np.zeros(1, np.int64), x[0], np.zeros(1, np.float32))
        self.scores(np.zeros((1, 4), np.int8), np.ones(1, np.float32), x[0], np.zeros(1, np.float32), 0, 1)
        self.build(x, np.zeros((1, 4), np.int8), np.ones(1, np.float32), np.ones(1, np.float32), 1e-6)


@functools.cache
def _kernels() -> _Kernels:
    return _Kernels()


@functools.cache
def _cpus() -> int:
    return os.cpu_count() or 1


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(_cpus(), thread_name_prefix="likewise-first-pass")
