"""The int8 first pass of one query: never rules out a true neighbour, so the results are float32 search's.

Checked against a float64 brute force (tie-aware) and against ``topk`` without the first pass: on clustered
unit vectors, on small-integer vectors where every product is exact in float32 (so ties are exact ties and
the two paths must agree bit for bit), on rows built to make int8 rounding hurt (one large component, tiny
others, zero rows), and through ``ExactIndex``, which builds the copy on its second query and drops it on
every change.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_neighbors import assert_matches_brute_force, brute_force, integer_vectors, unit_vectors

from likewise.errors import InputError
from likewise.first_pass import MIN_ROWS, Int8Copy
from likewise.index import ExactIndex, Payload
from likewise.neighbors import normalize, topk


def clustered(rng, n, d, clusters=50, spread=0.6):
    centres = rng.standard_normal((clusters, d))
    return normalize(centres[rng.integers(clusters, size=n)] + spread * rng.standard_normal((n, d)))


@pytest.mark.parametrize("k", [1, 10, 1000])
def test_first_pass_gives_the_float32_result_on_clustered_vectors(k):
    rng = np.random.default_rng(0)
    c = clustered(rng, 30_000, 96)
    copy = Int8Copy(c)
    assert copy.codes.dtype == np.int8 and copy.nbytes < c.nbytes / 3
    for q in clustered(rng, 5, 96):
        idx, scores = topk(q[None], k, c, first_pass=copy)
        assert_matches_brute_force(q[None], k, idx, scores, candidates=c, atol=1e-6)
        ref_idx, ref_scores = topk(q[None], k, c)
        assert set(idx[0].tolist()) == set(ref_idx[0].tolist())
        np.testing.assert_allclose(scores, ref_scores, atol=1e-6)  # the candidates' product, rounded its own way
        rows = copy.candidates(q, k)
        assert k <= len(rows) < max(3 * k, 2000)  # it rules out nearly everything else


def test_first_pass_among_some_rows_ranks_only_those():
    """``rows`` (a filter, or a record kept from finding itself) with the first pass: the float32 top k of
    exactly those rows, for one query and, without the first pass, for several."""
    rng = np.random.default_rng(4)
    c = clustered(rng, 25_000, 48)
    copy = Int8Copy(c)
    rows = np.flatnonzero(rng.random(len(c)) < 0.3)
    q = clustered(rng, 3, 48)
    for k in (1, 50, 900):
        ref_idx, ref_scores = topk(q[:1], k, c[rows])
        idx, scores = topk(q[:1], k, c, rows=rows, first_pass=copy)
        np.testing.assert_array_equal(idx, rows[ref_idx])
        np.testing.assert_allclose(scores, ref_scores, atol=1e-6)
        many_idx, _ = topk(q, k, c, rows=rows)
        np.testing.assert_array_equal(many_idx, rows[topk(q, k, c[rows])[0]])
    assert topk(q[:1], 5000, c, rows=rows[:7], first_pass=copy)[0].shape == (1, 7)


def test_every_true_neighbour_survives_where_int8_rounding_hurts():
    """Rows with one large component and tiny others (their int8 codes lose the small ones), exact
    duplicates, near-duplicates and zero rows: the candidates hold every row of the float64 top k."""
    rng = np.random.default_rng(1)
    n, d = 4000, 64
    c = rng.standard_normal((n, d)) * 1e-3
    c[np.arange(n), rng.integers(d, size=n)] = rng.choice([-1.0, 1.0], size=n)
    c[::97] = 0.0
    c[1::50] = c[2::50]  # duplicates
    c[3::50] = c[2::50] + 1e-7 * rng.standard_normal((len(c[3::50]), d))  # near-duplicates
    c = normalize(c)
    copy = Int8Copy(c)
    for q in normalize(np.vstack([c[2] + 1e-3 * rng.standard_normal(d), rng.standard_normal((4, d))])):
        for k in (1, 5, 80, 700):
            s = c.astype(np.float64) @ q.astype(np.float64)
            kth = np.sort(s)[::-1][k - 1]
            must = set(np.flatnonzero(s >= kth - 1e-6).tolist()) - set(np.flatnonzero(s < kth).tolist())
            assert must <= set(copy.candidates(q, k).tolist())
            idx, scores = topk(q[None], k, c, first_pass=copy)
            assert_matches_brute_force(q[None], k, idx, scores, candidates=c, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), d=st.integers(1, 12), k=st.integers(1, 320), seed=st.integers(0, 2**31 - 1))
def test_exact_ties_come_out_as_without_the_first_pass(n, d, k, seed):
    """Small-integer vectors: every product is exact in float32, so both paths must agree bit for bit,
    ties ordered by the lower index (the brute force's order)."""
    rng = np.random.default_rng(seed)
    c = integer_vectors(rng, n, d, high=2)
    q = integer_vectors(rng, 1, d, high=2)
    idx, scores = topk(q, k, c, first_pass=Int8Copy(c))
    ref_idx, ref_scores = topk(q, k, c)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores)
    np.testing.assert_array_equal(idx, brute_force(q, k, c)[0])


def test_bad_candidates_and_a_stale_copy_are_input_errors():
    rng = np.random.default_rng(2)
    c = unit_vectors(rng, 50, 8)
    bad = c.copy()
    bad[7, 3] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        Int8Copy(bad)
    with pytest.raises(InputError, match="float32"):
        Int8Copy(c.astype(np.float64))
    with pytest.raises(InputError, match="built for 50 x 8 candidates, not 49 x 8"):
        topk(c[:1], 5, c[:49], first_pass=Int8Copy(c))


def test_exact_index_builds_the_copy_on_its_second_query_and_drops_it_on_every_change():
    rng = np.random.default_rng(3)
    n, d = MIN_ROWS + 500, 16
    vectors = clustered(rng, n, d, clusters=30)
    ids = [f"r{i:06d}" for i in range(n)]
    index = ExactIndex(d, encoder_id="enc")
    index.upsert(ids, vectors, [Payload(None, None)] * n)
    q = vectors[123] + 0.01 * rng.standard_normal(d).astype(np.float32)

    def search(k=50):
        return [(h.id, h.score) for h in index.search(q[None], k)[0]]

    first = search()
    assert index._first_pass is None  # a lone query (`likewise search`) does not pay for the copy
    second = search()
    assert index._first_pass is not None
    assert [i for i, _ in first] == [i for i, _ in second]
    np.testing.assert_allclose([s for _, s in first], [s for _, s in second], atol=1e-6)
    # move a far record onto the query: the stale copy would rule it out, a rebuilt one must not
    far = ids[int(np.argmin(vectors @ normalize(q[None])[0]))]
    index.upsert([far], normalize(q[None]), [Payload("moved", None)])
    assert index._first_pass is None
    search()
    hits = index.search(q[None], 50)[0]
    assert index._first_pass is not None and hits[0].id == far and hits[0].label == "moved"
    index.delete([far])
    assert index._first_pass is None
    assert far not in [h.id for h in index.search(q[None], 50)[0]]
    # a session's query (the record itself excluded) and a label filter use the copy too, with exact results
    by_id = index.search_by_id(ids[7], 30)
    assert ids[7] not in [h.id for h in by_id] and index._first_pass is not None
    reference = np.argsort(-(vectors.astype(np.float64) @ vectors[7].astype(np.float64)), kind="stable")
    assert [h.id for h in by_id][:5] == [ids[r] for r in reference if r != 7 and ids[r] != far][:5]
    # small indexes keep the float32 path
    small = ExactIndex(d, encoder_id="enc")
    small.upsert(ids[:100], vectors[:100], [Payload(None, None)] * 100)
    for _ in range(3):
        small.search(q[None], 5)
    assert small._first_pass is None


def test_the_labeling_app_ranks_through_the_copy_with_the_same_sessions():
    """``likewise serve`` ranks sessions and searches with ``ops.loop.rank`` over its in-memory vectors
    (``serve.space.Vectors``): from their second query on through the int8 copy, with the same rows."""
    from likewise.ops.loop import rank
    from likewise.serve.space import Vectors

    rng = np.random.default_rng(5)
    v = clustered(rng, MIN_ROWS + 1000, 32)
    vectors = Vectors(v, "raw", "content", 1)
    allowed = rng.random(len(v)) < 0.5
    q = v[11]
    assert vectors.first_pass() is None
    copy = vectors.first_pass()
    assert isinstance(copy, Int8Copy) and vectors.first_pass() is copy
    for mask in (None, allowed):
        plain_rows, plain_scores = rank(v, q, 1000, mask)
        rows, scores = rank(v, q, 1000, mask, first_pass=copy)
        assert set(rows.tolist()) == set(plain_rows.tolist())  # the order too, up to 1-ulp near-ties:
        np.testing.assert_array_equal(rows[:100], plain_rows[:100])
        np.testing.assert_allclose(scores, plain_scores, atol=1e-6)
    assert rank(v, q, 10, np.zeros(len(v), bool), first_pass=copy)[0].shape == (0,)
    assert Vectors(v[:100], "raw", "c", 2).first_pass() is None  # small sets: the float32 pass
