"""Class-balanced batches: positives and negatives in every batch, tiny and imbalanced label sets, seeded."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likewise.errors import InputError
from likewise.tuning.sampler import ClassBalancedSampler


def _epoch(sampler: ClassBalancedSampler) -> list[np.ndarray]:
    return [b for b in sampler]


def test_tiny_budget_gives_one_batch_of_everything() -> None:
    labels = np.repeat(np.arange(5), 5)  # 25 records, 5 classes
    batches = _epoch(ClassBalancedSampler(labels, batch_size=128, seed=0))
    assert len(batches) == 1
    assert sorted(batches[0].tolist()) == list(range(25))


def test_m_records_of_each_chosen_class() -> None:
    labels = np.repeat(np.arange(20), 30)
    sampler = ClassBalancedSampler(labels, batch_size=32, m=4, seed=0)
    assert len(sampler) == 600 // 32 + 1
    for batch in sampler:
        counts = Counter(labels[batch].tolist())
        assert len(batch) == 32 and len(counts) == 8 and set(counts.values()) == {4}
        assert len(set(batch.tolist())) == len(batch)


def test_default_m_spreads_the_batch_over_the_classes() -> None:
    labels = np.repeat(np.arange(5), 200)
    for batch in ClassBalancedSampler(labels, batch_size=128, seed=0):
        assert set(Counter(labels[batch].tolist()).values()) == {25}


def test_imbalanced_classes_all_appear_and_every_record_is_visited() -> None:
    labels = np.array([0] * 300 + [1] * 40 + [2] * 3 + [3] * 2)
    sampler = ClassBalancedSampler(labels, batch_size=16, m=4, seed=3)
    seen: Counter[int] = Counter()
    for _ in range(5):
        for batch in sampler:
            assert len(set(batch.tolist())) == len(batch)
            counts = Counter(labels[batch].tolist())
            assert len(counts) >= 2 and max(counts.values()) <= 4
            seen.update(batch.tolist())
    assert set(seen) == set(range(len(labels)))  # nothing starves, even the 2-record class
    # small classes contribute all their records, never duplicated within a batch
    assert all(seen[i] >= 1 for i in np.flatnonzero(labels == 3))


def test_seeded() -> None:
    labels = np.repeat(np.arange(7), 13)
    a = [b.tolist() for b in ClassBalancedSampler(labels, batch_size=20, m=2, seed=5)]
    b = [b.tolist() for b in ClassBalancedSampler(labels, batch_size=20, m=2, seed=5)]
    c = [b.tolist() for b in ClassBalancedSampler(labels, batch_size=20, m=2, seed=6)]
    assert a == b and a != c


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=2, max_size=12),
    batch_size=st.integers(min_value=4, max_value=64),
    m=st.one_of(st.none(), st.integers(min_value=2, max_value=8)),
    seed=st.integers(min_value=0, max_value=10),
)
def test_batches_have_no_repeats_and_hold_pairs(sizes, batch_size, m, seed) -> None:
    labels = np.repeat(np.arange(len(sizes)), sizes)
    sampler = ClassBalancedSampler(labels, batch_size=batch_size, m=m, seed=seed)
    for batch in sampler:
        assert len(batch) == len(set(batch.tolist())) > 0
        assert batch.min() >= 0 and batch.max() < len(labels)
        counts = Counter(labels[batch].tolist())
        assert len(counts) >= 2  # negatives for every anchor
        for c, n in counts.items():
            assert n == min(sampler.m, sizes[c])


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="at least 2"):
        ClassBalancedSampler(np.array([0, 1]), m=1)
    with pytest.raises(InputError, match="non-empty"):
        ClassBalancedSampler(np.array([]))
