"""Exact top-k: checked against a brute-force full matrix + stable sort, on both code paths.

``topk`` has two paths: blocks of query rows against all candidates (dense), and all pairs through
symmetric tiles with estimated thresholds. Small ``block_rows`` forces the tiled path on small data;
``_symmetric_pays`` is asserted so a test cannot silently stop covering it.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from likewise import all_pairs
from likewise.errors import InputError
from likewise.neighbors import iter_topk, normalize, topk


def brute_force(queries, k, candidates=None, exclude_self=True):
    """Full float64 score matrix, rows sorted by (score descending, index ascending)."""
    c = queries if candidates is None else candidates
    s = queries.astype(np.float64) @ c.astype(np.float64).T
    self_excluded = candidates is None and exclude_self
    if self_excluded:
        np.fill_diagonal(s, -np.inf)
    kk = min(k, len(c) - int(self_excluded))
    cols = np.broadcast_to(np.arange(len(c)), s.shape)
    order = np.lexsort((cols, -s), axis=1)[:, :kk]
    return order, np.take_along_axis(s, order, axis=1)


def assert_matches_brute_force(queries, k, idx, scores, candidates=None, exclude_self=True, atol=1e-5):
    """Tie-aware: same score profile, every returned score is the true score of the returned index,
    nothing left out that beats what was returned, and no index twice."""
    ref_idx, ref_scores = brute_force(queries, k, candidates, exclude_self)
    assert idx.shape == ref_idx.shape and scores.shape == ref_idx.shape
    assert idx.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_allclose(scores, ref_scores, atol=atol)
    c = queries if candidates is None else candidates
    true = np.einsum("ij,ikj->ik", queries.astype(np.float64), c.astype(np.float64)[idx])
    np.testing.assert_allclose(scores, true, atol=atol)
    assert all(len(set(row)) == len(row) for row in idx.tolist())
    if candidates is None and exclude_self:
        assert not (idx == np.arange(len(queries))[:, None]).any()


def integer_vectors(rng, n, d, high=3):
    """Small-integer vectors: every dot product is exact in float32, so ties are exact ties."""
    return rng.integers(-high, high + 1, size=(n, d)).astype(np.float32)


def unit_vectors(rng, n, d):
    return normalize(rng.standard_normal((n, d)))


def test_tiled_path_is_exercised():
    assert all_pairs._symmetric_pays(3000, 20, 500, True)
    assert all_pairs._symmetric_pays(1200, 5, 200, False)
    assert not all_pairs._symmetric_pays(400, 5, 500, True)  # one tile: dense


@pytest.mark.parametrize(
    "n, d, k, block_rows",
    [(40, 5, 7, None), (300, 16, 300, 64), (3000, 24, 20, 500), (1200, 8, 5, 200), (2500, 12, 1, 400)],
)
def test_all_pairs_matches_brute_force(n, d, k, block_rows):
    rng = np.random.default_rng(n + k)
    x = unit_vectors(rng, n, d)
    x[5] = x[17]  # duplicates: each must still find the other, with score 1
    x[100 % n] = x[17]
    idx, scores = topk(x, k, block_rows=block_rows)
    assert_matches_brute_force(x, k, idx, scores)
    assert idx[17, 0] in (5, 100 % n) and scores[17, 0] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("block_rows", [None, 7, 150])
def test_exact_ties_are_broken_by_lower_index(block_rows):
    rng = np.random.default_rng(3)
    x = integer_vectors(rng, 900, 4, high=1)  # only 3**4 distinct rows: ties everywhere
    idx, scores = topk(x, 25, block_rows=block_rows)
    ref_idx, ref_scores = brute_force(x, 25)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores.astype(np.float32))


def test_exact_ties_with_candidates():
    rng = np.random.default_rng(4)
    q, c = integer_vectors(rng, 60, 3), integer_vectors(rng, 500, 3, high=1)
    for block_rows in (None, 1, 13):
        idx, scores = topk(q, 40, c, block_rows=block_rows)
        ref_idx, ref_scores = brute_force(q, 40, c)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(scores, ref_scores.astype(np.float32))


def test_flood_of_ties_zero_rows_and_mass_duplicates():
    """Zero vectors score 0 with everything and half the rows are one vector: the tie guard must hold."""
    rng = np.random.default_rng(5)
    x = integer_vectors(rng, 1600, 6)
    x[:500] = 0
    x[500:1100] = x[1599]
    assert all_pairs._symmetric_pays(1600, 30, 200, True)
    for block_rows in (200, None):
        idx, scores = topk(x, 30, block_rows=block_rows)
        ref_idx, ref_scores = brute_force(x, 30)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(scores, ref_scores.astype(np.float32))


def test_rows_whose_threshold_estimate_falls_short_are_recomputed(monkeypatch):
    """A negative safety margin makes most estimated thresholds too high: the exact fallback must fix them."""
    monkeypatch.setattr(all_pairs, "_Z", -4.0)
    rng = np.random.default_rng(6)
    x = unit_vectors(rng, 2000, 16)
    idx, scores = topk(x, 40, block_rows=250)
    assert_matches_brute_force(x, 40, idx, scores)


def test_candidates_differ_from_queries():
    rng = np.random.default_rng(7)
    q, c = unit_vectors(rng, 70, 10), unit_vectors(rng, 400, 10)
    idx, scores = topk(q, 15, c)
    assert_matches_brute_force(q, 15, idx, scores, candidates=c)
    # exclude_self has no meaning without all pairs: candidate 0 may be returned for query 0
    idx_same, _ = topk(c[:5], 1, c)
    assert idx_same.ravel().tolist() == [0, 1, 2, 3, 4]


def test_k_larger_than_the_collection():
    rng = np.random.default_rng(8)
    x = unit_vectors(rng, 9, 4)
    idx, scores = topk(x, 50)
    assert idx.shape == (9, 8)
    assert_matches_brute_force(x, 50, idx, scores)
    idx, _ = topk(x, 50, exclude_self=False)
    assert idx.shape == (9, 9) and (idx[:, 0] == np.arange(9)).all()  # distinct unit rows: self is best
    idx, _ = topk(x[:3], 50, x)
    assert idx.shape == (3, 9)


def test_degenerate_sizes():
    x = unit_vectors(np.random.default_rng(9), 1, 4)
    idx, scores = topk(x, 3)
    assert idx.shape == (1, 0) and scores.shape == (1, 0)
    idx, scores = topk(np.zeros((0, 4), np.float32), 3, x)
    assert idx.shape == (0, 1)


def test_single_query():
    rng = np.random.default_rng(10)
    c = unit_vectors(rng, 5000, 32)
    q = unit_vectors(rng, 1, 32)
    idx, scores = topk(q, 100, c)
    assert_matches_brute_force(q, 100, idx, scores, candidates=c)


@pytest.mark.parametrize("k", [1, 7, 60, 200])
def test_single_query_ties_match_the_block_path(k):
    """The one-query path and the block path give identical indices and scores, ties by lower index."""
    rng = np.random.default_rng(11)
    c = integer_vectors(rng, 200, 4, high=1)  # many exact ties
    q = integer_vectors(rng, 3, 4, high=1)
    both_idx, both_scores = topk(q, k, c)
    for i in range(len(q)):
        idx, scores = topk(q[i : i + 1], k, c)
        np.testing.assert_array_equal(idx[0], both_idx[i])
        np.testing.assert_array_equal(scores[0], both_scores[i])
        ref_idx, _ = brute_force(q[i : i + 1], k, c)
        np.testing.assert_array_equal(idx, ref_idx)


def test_iter_topk_concatenates_to_topk():
    rng = np.random.default_rng(11)
    x = unit_vectors(rng, 333, 8)
    blocks = list(iter_topk(x, 12, block_rows=50))
    assert [start for start, _, _ in blocks] == list(range(0, 333, 50))
    idx = np.concatenate([b for _, b, _ in blocks])
    scores = np.concatenate([s for _, _, s in blocks])
    assert_matches_brute_force(x, 12, idx, scores)
    ref_idx, ref_scores = topk(x, 12)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-6)


def test_progress_reaches_its_total():
    rng = np.random.default_rng(12)
    x = unit_vectors(rng, 1200, 8)
    for block_rows in (200, 100_000):
        calls = []
        topk(x, 5, block_rows=block_rows, progress=lambda d, t, desc: calls.append((d, t, desc)))
        assert calls and calls[-1][0] == calls[-1][1]
        assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)
        assert all(desc == "nearest neighbours" for _, _, desc in calls)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: topk(x, 0), "k must be at least 1"),
        (lambda x: topk(x, True), "k must be a positive integer"),
        (lambda x: topk(x, 2.5), "k must be a positive integer"),
        (lambda x: topk(x[0], 2), "2-D array"),
        (lambda x: topk(x, 2, x[:, :3]), "4 dimensions but candidates have 3"),
        (lambda x: topk(x, 2, block_rows=0), "block_rows must be at least 1"),
        (lambda x: topk(np.where(np.eye(10, 4) > 0, np.nan, x), 2), "NaN or infinite values in 4 of 10 rows"),
        (lambda x: topk(x.astype(complex), 2), "real numbers"),
    ],
)
def test_bad_input_raises_input_error(call, message):
    x = unit_vectors(np.random.default_rng(13), 10, 4)
    with pytest.raises(InputError, match=message):
        call(x)


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-30, 0.0], [-2e30, 2e30]])
    y = normalize(x)
    assert y.dtype == np.float32 and x[0, 0] == 3.0  # a copy
    np.testing.assert_allclose(y, [[0.6, 0.8], [0, 0], [1, 0], [-(0.5**0.5), 0.5**0.5]], rtol=1e-6)
    random = normalize(np.random.default_rng(0).normal(size=(50, 7)))
    np.testing.assert_allclose(np.linalg.norm(random, axis=1), 1, rtol=1e-6)
    assert normalize(np.array([[1, 2], [2, 4]])).tolist()[0] == normalize(np.array([[2.0, 4.0]])).tolist()[0]
    for bad, message in [
        (np.array([[1.0, np.inf]]), "NaN or infinite"),
        (np.zeros((3, 0)), "0 dimensions"),
        (np.zeros(3), "2-D array"),
        (np.array([["a", "b"]]), "real numbers"),
    ]:
        with pytest.raises(InputError, match=message):
            normalize(bad)


# --- properties -----------------------------------------------------------------------------------------

vectors = hnp.arrays(
    np.float32,
    st.tuples(st.integers(2, 60), st.integers(1, 6)),
    elements=st.floats(-4, 4, width=32, allow_subnormal=False),
)


@settings(max_examples=60, deadline=None)
@given(x=vectors, k=st.integers(1, 70), block_rows=st.sampled_from([None, 3, 16]))
def test_properties_self_sorted_in_range(x, k, block_rows):
    x = normalize(x)
    idx, scores = topk(x, k, block_rows=block_rows)
    assert idx.shape == (len(x), min(k, len(x) - 1))
    assert not (idx == np.arange(len(x))[:, None]).any()
    assert ((idx >= 0) & (idx < len(x))).all()
    assert (np.diff(scores, axis=1) <= 0).all()
    assert (np.abs(scores) <= 1 + 1e-5).all()
    assert_matches_brute_force(x, k, idx, scores)


@settings(max_examples=40, deadline=None)
@given(x=vectors, k=st.integers(1, 10), seed=st.integers(0, 2**32 - 1))
def test_property_permuting_rows_permutes_results(x, k, seed):
    """Row i of the permuted input gets row perm[i]'s neighbours, renamed; only exact-tie order may differ."""
    x = normalize(x)
    perm = np.random.default_rng(seed).permutation(len(x))
    idx, scores = topk(x, k)
    idx_p, scores_p = topk(x[perm], k)
    np.testing.assert_allclose(scores_p, scores[perm], atol=1e-6)
    kth = scores[perm][:, -1:]
    clear = scores[perm] > kth + 1e-5  # neighbours strictly better than the k-th: no tie can reorder them
    for row in range(len(x)):
        assert set(perm[idx_p[row]][clear[row]]) == set(idx[perm[row]][clear[row]])


@pytest.mark.slow
def test_tiled_path_at_scale_matches_dense_path():
    rng = np.random.default_rng(14)
    centers = rng.standard_normal((40, 48))
    x = normalize(centers[rng.integers(0, 40, 20_000)] + 0.5 * rng.standard_normal((20_000, 48)))
    assert all_pairs._symmetric_pays(20_000, 200, all_pairs._square_tile(20_000) // 4, True)
    idx, scores = topk(x, 200, block_rows=all_pairs._square_tile(20_000) // 4)
    dense_idx = np.concatenate([b for _, b, _ in iter_topk(x, 200)])
    dense_scores = np.concatenate([s for _, _, s in iter_topk(x, 200)])
    np.testing.assert_allclose(scores, dense_scores, atol=1e-6)
    assert (idx == dense_idx).mean() > 0.999
    sample = rng.choice(20_000, 300, replace=False)
    s = x[sample].astype(np.float64) @ x.astype(np.float64).T
    s[np.arange(300), sample] = -np.inf
    np.testing.assert_allclose(scores[sample], -np.sort(-s, axis=1)[:, :200], atol=1e-5)


def test_non_finite_candidates_are_caught_through_their_scores():
    rng = np.random.default_rng(15)
    q, c = unit_vectors(rng, 3, 4), unit_vectors(rng, 50, 4)
    c[7, 2] = np.inf
    c[30, 0] = np.nan
    with pytest.raises(InputError, match="candidates contain NaN or infinite values in 2 of 50 rows"):
        topk(q, 5, c)
    with pytest.raises(InputError, match="overflowed"):
        topk(q * 1e30, 5, c[:5] * 1e30)
