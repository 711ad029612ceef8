"""All-pairs top-k on worker threads with the compiled survivor scan: same results as a naive numpy loop,
whatever the number of workers, the strip size or the key buffers, and the caller's BLAS settings back after.

Tiny strips (``_STRIP_BYTES``), key buffers (``_SCRATCH_KEYS``) and key chunks (``_CHUNK_KEYS``) force what
a 100,000-row run does: many strips per pair, the scan stopping and resuming when its key buffers fill, and
a tile's keys spread over many chunks that go back to the pool and on to other tiles.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from likewise import all_pairs, neighbors
from likewise.neighbors import normalize, topk


def naive_topk(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One row at a time in float64, self excluded, ordered by (score descending, index ascending)."""
    n = len(x)
    kk = min(k, n - 1)
    idx, scores = np.empty((n, kk), np.int64), np.empty((n, kk))
    for i in range(n):
        s = x.astype(np.float64) @ x[i].astype(np.float64)
        s[i] = -np.inf
        order = np.lexsort((np.arange(n), -s))[:kk]
        idx[i], scores[i] = order, s[order]
    return idx, scores


def assert_same_as_naive(x, k, idx, scores, exact=False):
    """Tie-aware (float32 products round differently from float64) unless ``exact``; no self, no repeats."""
    ref_idx, ref_scores = naive_topk(x, k)
    assert idx.shape == ref_idx.shape and idx.dtype == np.int64 and scores.dtype == np.float32
    if exact:  # small integers: every product is exact, so ties are exact and broken by lower index
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(scores, ref_scores.astype(np.float32))
        return
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    true = np.einsum("ij,ikj->ik", x.astype(np.float64), x.astype(np.float64)[idx])
    np.testing.assert_allclose(scores, true, atol=1e-5)
    assert not (idx == np.arange(len(x))[:, None]).any()
    assert all(len(set(row)) == len(row) for row in idx.tolist())


def clustered(rng, n, d, clusters=12, spread=0.35):
    """Unit vectors around a few centres, like sentence embeddings of a few topics, with exact duplicates."""
    centres = rng.standard_normal((clusters, d))
    x = normalize(centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, d)))
    x[7] = x[3]
    x[n // 2] = x[3]
    return x


@pytest.fixture
def workers(monkeypatch):
    """Set the worker count (BLAS's thread count as all pairs sees it) and shrink strips and key buffers."""

    def use(count: int, strip_bytes: int = 16 * 4 * 200, scratch_keys: int = 1, chunk_keys: int = 100) -> None:
        monkeypatch.setattr(all_pairs, "_blas_threads", lambda: count)
        monkeypatch.setattr(all_pairs, "_STRIP_BYTES", strip_bytes)
        monkeypatch.setattr(all_pairs, "_SCRATCH_KEYS", scratch_keys)
        monkeypatch.setattr(all_pairs, "_CHUNK_KEYS", chunk_keys)

    return use


@pytest.mark.parametrize("count", [1, 2, 3])
def test_clustered_vectors_match_the_naive_loop_on_any_number_of_workers(workers, count):
    rng = np.random.default_rng(21)
    x = clustered(rng, 1400, 16)
    assert all_pairs._symmetric_pays(1400, 25, 200, True)
    workers(count)
    idx, scores = topk(x, 25, block_rows=200)
    assert_same_as_naive(x, 25, idx, scores)
    assert set(idx[3, :2]) == {7, 700} and scores[3, 0] == pytest.approx(1.0, abs=1e-6)


def test_results_do_not_depend_on_workers_or_key_buffers(workers):
    """Same strips, so the same products, whatever runs them: indices and scores bit for bit."""
    rng = np.random.default_rng(22)
    x = clustered(rng, 2000, 24, clusters=30)
    results = []
    for count, scratch, chunk in [(1, 1 << 19, 1 << 18), (2, 1, 100), (3, 1, 7), (2, 1 << 19, 1 << 18)]:
        workers(count, scratch_keys=scratch, chunk_keys=chunk)
        results.append(topk(x, 40, block_rows=250))
    for idx, scores in results[1:]:
        np.testing.assert_array_equal(idx, results[0][0])
        np.testing.assert_array_equal(scores, results[0][1])
    assert_same_as_naive(x, 40, *results[0])


@pytest.mark.parametrize("count", [1, 2])
def test_exact_ties_floods_and_zero_rows(workers, count):
    """Only 3**4 distinct rows, a third of them zero: ties everywhere, rows flooded with them go to the
    exact fallback, and ties are broken by the lower index exactly as the naive loop does."""
    rng = np.random.default_rng(23)
    x = rng.integers(-1, 2, size=(1500, 4)).astype(np.float32)
    x[:500] = 0
    workers(count)
    idx, scores = topk(x, 30, block_rows=200)
    assert_same_as_naive(x, 30, idx, scores, exact=True)


def test_estimate_misses_are_recomputed_on_workers(workers, monkeypatch):
    """A negative safety margin makes most thresholds too high: the exact fallback must fix those rows."""
    monkeypatch.setattr(all_pairs, "_Z", -4.0)
    rng = np.random.default_rng(24)
    x = clustered(rng, 1600, 12)
    workers(2)
    idx, scores = topk(x, 30, block_rows=200)
    assert_same_as_naive(x, 30, idx, scores)


def test_k_near_the_largest_the_tiles_allow_and_beyond(workers):
    """k about as large as the tiled path takes (its rank reaches a quarter of a tile), then k near n
    (the dense path): both match the loop."""
    rng = np.random.default_rng(25)
    x = clustered(rng, 1200, 10)
    assert all_pairs._symmetric_pays(1200, 180, 200, True)
    assert not all_pairs._symmetric_pays(1200, 1190, 200, True)
    workers(2)
    for k in (180, 1190, 5000):
        idx, scores = topk(x, k, block_rows=200)
        assert_same_as_naive(x, k, idx, scores)


def test_without_self_exclusion(workers):
    rng = np.random.default_rng(26)
    x = clustered(rng, 1200, 8)
    workers(2)
    idx, scores = topk(x, 6, exclude_self=False, block_rows=200)
    s = x.astype(np.float64) @ x.astype(np.float64).T
    np.testing.assert_allclose(scores, -np.sort(-s, axis=1)[:, :6], atol=1e-5)
    assert (scores[:, 0] >= 1 - 1e-6).all()  # itself (or its duplicate) first


def test_progress_from_the_main_thread_and_blas_settings_restored(workers):
    rng = np.random.default_rng(27)
    x = clustered(rng, 1200, 8)
    workers(2)
    before = [info["num_threads"] for info in threadpool_info()]
    calls = []
    topk(x, 5, block_rows=200, progress=lambda d, t, _: calls.append((d, t, threading.current_thread())))
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls) and calls[-1][0] == calls[-1][1] == 21
    assert {thread for _, _, thread in calls} == {threading.main_thread()}
    assert [info["num_threads"] for info in threadpool_info()] == before


def test_an_error_in_a_worker_reaches_the_caller(workers, monkeypatch):
    rng = np.random.default_rng(28)
    x = clustered(rng, 1200, 8)
    workers(2)
    before = [info["num_threads"] for info in threadpool_info()]

    def scan(*args):
        raise MemoryError("no room for keys")

    monkeypatch.setattr(all_pairs._kernels(), "scan", scan)
    with pytest.raises(MemoryError, match="no room for keys"):
        topk(x, 5, block_rows=200)
    assert [info["num_threads"] for info in threadpool_info()] == before


def test_compiled_scan_matches_its_python_source_and_the_numpy_keys():
    """The kernel on one strip: the same keys as :func:`_pack` of the scores at or above each role's
    threshold, -0.0 as 0.0, a flooded row dropped, a full key buffer stopping it before a row."""
    rng = np.random.default_rng(29)
    p = rng.standard_normal((40, 37)).astype(np.float32)
    p[0, :5] = -0.0
    p[3] = 0.5  # row 3: every score ties at its threshold, a flood
    thr_i = np.quantile(p, 0.8, axis=1).astype(np.float32)
    thr_i[0], thr_i[3] = 0.0, 0.5
    thr_j = np.quantile(p, 0.9, axis=0).astype(np.float32)
    cand_i, cand_j = rng.permutation(1000)[:40], rng.permutation(1000)[:37]
    col_bits = neighbors._bits(1000)
    m_i, m_j = p >= thr_i[:, None], p >= thr_j[None, :]
    m_i[3] = False
    r, c = np.nonzero(m_i)
    want_i = np.sort(neighbors._pack(r + 5, p[r, c], cand_j[c], col_bits))
    r, c = np.nonzero(m_j)
    want_j = np.sort(neighbors._pack(c, p[r, c], cand_i[r], col_bits))
    for scan in (all_pairs._scan_strip, all_pairs._kernels().scan):
        got_i, got_j, start = [], [], 0
        keys_i, keys_j = np.empty(37 + 10, np.uint64), np.empty(37 + 10, np.uint64)
        flooded, counts = np.zeros(40, np.uint8), np.zeros(37, np.int32)
        scratch = (np.zeros(40, np.uint8), np.empty(40, np.int64), np.empty(40, np.int64))
        calls = 0
        while start < 40:
            done, n_i, n_j = scan(p[start:], thr_i[start:], thr_j.copy(), cand_i[start:], cand_j, start + 5,
                                  col_bits, (30, 1000), counts, scratch, keys_i, keys_j, flooded[start:])
            got_i.append(keys_i[:n_i].copy())
            got_j.append(keys_j[:n_j].copy())
            start += done
            calls += 1
        assert calls >= 10  # the buffers hold one row's keys and 10 more: a few rows per call
        np.testing.assert_array_equal(np.sort(np.concatenate(got_i)), want_i)
        np.testing.assert_array_equal(np.sort(np.concatenate(got_j)), want_j)
        assert np.flatnonzero(flooded).tolist() == [3]


def test_results_are_ordinary_writable_arrays():
    """All-pairs results live in fresh mappings (no huge pages): still plain, writable, picklable arrays."""
    import pickle

    rng = np.random.default_rng(30)
    x = clustered(rng, 4000, 8)
    assert all_pairs._symmetric_pays(4000, 150, 1000, True)
    idx, scores = topk(x, 150, block_rows=1000)  # 4000 x 150 int64: 4.8 MB, in a mapping of its own
    assert idx.flags.c_contiguous and idx.flags.writeable and scores.flags.writeable
    assert_same_as_naive(x, 150, idx, scores)
    back = pickle.loads(pickle.dumps(idx))
    np.testing.assert_array_equal(back, idx)
    idx[0, 0] = -1
    assert idx[0, 0] == -1


def test_compiled_decoding_matches_the_numpy_loop():
    """_select decodes the sorted keys into indices and scores the same way with the compiled kernel as
    with numpy, short rows left out of both."""
    rng = np.random.default_rng(31)
    scores = rng.standard_normal(3000).astype(np.float32)
    scores[:7] = [0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 0.0]
    rows = np.sort(rng.integers(0, 50, 3000))
    rows[rows == 13] = 14  # row 13: no keys at all, so short
    keys = neighbors._pack(rows, scores, rng.integers(0, 1000, 3000), 10)
    got = []
    for decode in (None, all_pairs._kernels().decode):
        idx, out = np.full((50, 40), -7, np.int64), np.full((50, 40), np.nan, np.float32)
        short = neighbors._select(keys.copy(), 40, 10, idx, out, decode)
        got.append((short, idx[~short], out[~short]))
    assert got[0][0][13] and (got[0][0] == got[1][0]).all() and (~got[0][0]).sum() > 10
    np.testing.assert_array_equal(got[0][1], got[1][1])
    np.testing.assert_array_equal(got[0][2], got[1][2])
