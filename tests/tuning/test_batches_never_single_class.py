"""Class-grouped batches must never hold a single class (no negatives) or a class with one record (no
positive): the failure mode of label-grouped samplers that chunk a stream of records into batches."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from likewise.tuning.sampler import ClassBalancedSampler, EpochBatchSampler


def _check_batch(batch, labels) -> None:
    classes, counts = np.unique(labels[np.asarray(batch)], return_counts=True)
    assert len(classes) >= 2, f"a single-class batch: {classes}"
    assert counts.min() >= 2, f"a class with one record in the batch: {dict(zip(classes, counts))}"
    assert len(set(batch)) == len(batch), "a record twice in one batch"


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=2, max_value=60), min_size=2, max_size=30),
    batch_size=st.integers(min_value=4, max_value=64),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_every_batch_has_two_classes_with_two_records_each(sizes, batch_size, seed) -> None:
    labels = np.repeat(np.arange(len(sizes)), sizes)
    labels = np.random.default_rng(seed).permutation(labels)
    sampler = EpochBatchSampler(labels, batch_size=batch_size, seed=seed)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        for batch in batches:
            _check_batch(batch, labels)


def test_very_imbalanced_labels_still_mix_classes() -> None:
    """One class of 1,000 records and two of 2: a stream chunked into batches would give single-class
    batches of the big class; every batch here has the small classes too, each with 2 records."""
    labels = np.array([0] * 1000 + [1] * 2 + [2] * 2)
    for batch in EpochBatchSampler(labels, batch_size=32, seed=0):
        _check_batch(batch, labels)
    # and the batch sampler draws from the class-balanced sampler
    assert all(len(np.unique(labels[b])) >= 2 for b in ClassBalancedSampler(labels, batch_size=8, seed=1))


def test_epochs_differ_and_repeat_for_a_seed() -> None:
    labels = np.repeat(np.arange(5), 20)
    a, b = EpochBatchSampler(labels, batch_size=16, seed=3), EpochBatchSampler(labels, batch_size=16, seed=3)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first  # a fresh draw each epoch
    assert list(b) == first  # the same seed and epoch give the same batches
