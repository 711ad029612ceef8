"""All-pairs exact top-k for :func:`likewise.neighbors.topk` (``candidates=None``): symmetric tiles, the
worker threads that multiply and select them, and the numba kernels that pick each strip's survivors.

Scores, thresholds, packed keys and the exact fallback are those of :mod:`likewise.neighbors`; what is
here is how all pairs save half the products and keep every core busy:

* All pairs use symmetry: the records are visited in a fixed random order in square tiles, only tiles
  ``I <= J`` are multiplied, and each product serves the rows of ``I`` and, transposed, the rows of ``J``.
  A row's threshold is estimated from its own (random) tile and checked afterwards; the rare row whose
  estimate kept fewer than ``k`` survivors is recomputed exactly on its own.
* All pairs keep both cores busy: worker threads (as many as BLAS has threads, each holding BLAS to one)
  own whole tiles, multiply a strip of 32 MB of scores at a time and pick its survivors in one pass while
  the strip is still in cache, with a small kernel compiled by numba that runs without the GIL; so one core
  selects while the other multiplies, and no block of N x tile scores is ever held.

Also here: the chunks that hold a tile's pending keys (:class:`_KeyPool`), the workers' buffers, and
handing memory back to the kernel as tiles finish (:func:`_release_front`).
"""
from __future__ import annotations

import functools
import math
import mmap
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import numpy as np

from likewise.neighbors import SCORE_BUDGET_BYTES, _DESCRIPTION, _bits, _dense_blocks, _fresh, _select
from likewise.progress import Progress, no_progress

_SEED = 0  # the visiting order of the all-pairs tiles; fixed so runs are reproducible
_Z = 3.0  # safety margin (in standard deviations) of the estimated all-pairs thresholds
# All pairs multiply N^2 / 2 + N * side / 2 pairs (diagonal tiles twice): smaller tiles multiply less but
# keep more survivors per row (the threshold comes from a smaller sample) and gather more vectors. At
# 100,000 x 384 and k = 1,000, 4,096 costs about 1 s of CPU less than 8,192 (the 256 MB of scores of old).
_TILE_SIDE = 4096
_STRIP_BYTES = 32 * 2**20  # all pairs: scores a worker multiplies, then scans while they are still in cache
_CHUNK_KEYS = 1 << 18  # all pairs: the pending keys of a tile are held in chunks of 2 MB (see _KeyPool)
_SCRATCH_KEYS = 1 << 19  # all pairs: survivors a worker collects before adding them to their tiles' keys


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
