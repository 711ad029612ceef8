from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likewise.errors import InputError
from likewise.evaluation import check_labels, holdout_split, labeled_arrays, sample_budget


def _labels(counts: dict[str, int]) -> np.ndarray:
    return np.array([c for c, n in counts.items() for _ in range(n)], dtype=object)


def test_labeled_arrays_skip_none_nan_empty():
    pos, y = labeled_arrays(["a", None, float("nan"), "", "b", 3])
    assert pos.tolist() == [0, 4, 5] and y.tolist() == ["a", "b", "3"]


@pytest.mark.parametrize(
    "labels, message",
    [
        ([], "no labeled records"),
        (["a"] * 5, "one class"),
        (["a", "a", "b", "c", "d", "d"], r"2 classes have only 1 labeled record \(b, c\)"),
    ],
)
def test_check_labels_names_the_problem(labels, message):
    with pytest.raises(InputError, match=message):
        check_labels(np.array(labels, dtype=object))


def test_holdout_split_is_stratified_disjoint_and_seeded():
    y = _labels({"a": 100, "b": 50, "c": 10})
    train, test = holdout_split(y, seed=3)
    assert len(set(train) & set(test)) == 0 and len(train) + len(test) == len(y)
    assert abs(len(test) - 64) <= 1
    for c, n in {"a": 100, "b": 50, "c": 10}.items():
        assert abs((y[test] == c).sum() - 0.4 * n) <= 1
    again = holdout_split(y, seed=3)
    assert (again[0] == train).all()
    assert not (holdout_split(y, seed=4)[1] == test).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=4, max_value=60), min_size=2, max_size=7), st.integers(0, 10_000), st.data())
def test_budget_exact_size_at_least_two_per_class_inside_pool(sizes, seed, data):
    y = _labels({f"c{i}": n for i, n in enumerate(sizes)})
    pool, test = holdout_split(y, seed=seed % 7)
    budget = data.draw(st.integers(min_value=2 * len(sizes), max_value=len(pool)))
    chosen = sample_budget(y, pool, budget, seed=seed)
    assert len(chosen) == min(budget, len(pool))
    assert set(chosen) <= set(pool)
    assert len(set(chosen)) == len(chosen)
    _, counts = np.unique(y[chosen], return_counts=True)
    assert len(counts) == len(sizes) and counts.min() >= 2


def test_budget_smaller_than_classes_refused():
    y = _labels({"a": 10, "b": 10, "c": 10})
    pool, _ = holdout_split(y)
    with pytest.raises(InputError, match="budget of 5 .* too small for 3 classes; use at least 6"):
        sample_budget(y, pool, 5)
    assert len(sample_budget(y, pool, "all")) == len(pool)
