"""Invariants of exact search under hypothesis: no self-match, sorted bounded scores, order-free results."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from likewise.index import ExactIndex, Filter, Payload

DIM = 6


@st.composite
def collections(draw):
    """Small collections with duplicates and near-duplicates on purpose (ties are where bugs live)."""
    n = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vectors = rng.integers(-2, 3, size=(n, DIM)).astype(np.float32)  # small integers: many exact ties
    vectors[~vectors.any(axis=1), 0] = 1.0  # no zero rows
    ids = draw(st.lists(st.text("abcxyz0123", min_size=1, max_size=6), min_size=n, max_size=n, unique=True))
    labels = [draw(st.sampled_from(["p", "q", None])) for _ in range(n)]
    return ids, vectors, labels


def build(ids, vectors, labels, order=None):
    order = range(len(ids)) if order is None else order
    index = ExactIndex(DIM, encoder_id="enc")
    index.upsert([ids[i] for i in order], vectors[list(order)], [Payload(labels[i], None) for i in order])
    return index


@settings(max_examples=60, deadline=None)
@given(collections(), st.integers(1, 50), st.sampled_from([None, Filter(label_eq="p"), Filter(unlabeled_only=True)]))
def test_search_by_id_never_returns_the_record_itself(data, k, flt):
    ids, vectors, labels = data
    index = build(ids, vectors, labels)
    for rid in ids[:10]:
        hits = index.search_by_id(rid, k, flt)
        assert rid not in {h.id for h in hits}
        assert len(hits) == min(k, sum(1 for i, lab in zip(ids, labels) if i != rid and (
            flt is None or (lab == "p" if flt.label_eq else lab is None))))


@settings(max_examples=60, deadline=None)
@given(collections(), st.integers(1, 50))
def test_scores_are_sorted_within_bounds_and_ties_ordered_by_id(data, k):
    ids, vectors, labels = data
    index = build(ids, vectors, labels)
    for hits in index.search(vectors[:5] + 0.5, k):
        scores = [h.score for h in hits]
        assert all(-1.0 - 1e-6 <= s <= 1.0 + 1e-6 for s in scores)
        assert scores == sorted(scores, reverse=True)
        for a, b in zip(hits, hits[1:]):
            if a.score == b.score:
                assert a.id < b.id


@settings(max_examples=60, deadline=None)
@given(collections(), st.integers(1, 50), st.randoms(use_true_random=False))
def test_insertion_order_does_not_change_results(data, k, random):
    ids, vectors, labels = data
    order = list(range(len(ids)))
    random.shuffle(order)
    straight, shuffled = build(ids, vectors, labels), build(ids, vectors, labels, order)
    queries = vectors[: min(8, len(ids))] + 0.25
    assert straight.search(queries, k) == shuffled.search(queries, k)
    not_q = Filter(label_ne="q")
    assert straight.search_by_id(ids[0], k, not_q) == shuffled.search_by_id(ids[0], k, not_q)
