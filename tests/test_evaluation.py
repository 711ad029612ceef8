from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likewise.errors import InputError
from likewise.evaluation import (
    check_labels,
    fit_classifier,
    holdout_split,
    labeled_arrays,
    logistic_accuracy,
    make_heldout,
    sample_budget,
)


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


FAST_TUNER = {"epochs": 3, "k": 5, "patience": 2}


def _blobs(per_class: int = 30, classes: int = 3, dim: int = 16, spread: float = 0.6, seed: int = 0):
    """Labeled Gaussian blobs around random unit centres, L2-normalised; class names c0, c1, ..."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    X = np.concatenate([c + spread * rng.normal(size=(per_class, dim)) for c in centres]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, np.repeat([f"c{i}" for i in range(classes)], per_class).astype(object)


# -- the held-out protocol -------------------------------------------------------------------------------------------
def test_heldout_uses_the_evaluation_split_and_a_head_that_never_saw_test_records():
    from likewise.tuning import Tuner

    X, y = _blobs(per_class=25)
    X_all = X
    labels = [None if i % 4 == 3 else lab for i, lab in enumerate(y)]  # every 4th record unlabeled
    heldout = make_heldout(X_all, labels, seed=3, budget=15, tuner_options=FAST_TUNER)
    positions, y_l = labeled_arrays(labels)
    pool, test = holdout_split(y_l, seed=3)
    assert heldout.test.tolist() == test.tolist()
    assert heldout.train.tolist() == sample_budget(y_l, pool, 15, seed=3).tolist()
    assert not set(heldout.train_records) & set(heldout.test_records)
    assert heldout.tuned_on == 15
    # the tuned vectors are exactly those of a head fitted on the training records alone (same seed)
    alone = Tuner(**FAST_TUNER, seed=3).fit(X_all[heldout.train_records], y_l[heldout.train]).transform(X_all)
    np.testing.assert_allclose(heldout.tuned, alone, atol=1e-6)


def test_unlabeled_positions_are_the_pool_outside_the_budget_and_unlabeled_records_never_test():
    from likewise.evaluation import unlabeled_positions

    _, y = _blobs(per_class=25)
    labels = [None if i % 5 == 4 else lab for i, lab in enumerate(y)]
    positions, y_l = labeled_arrays(labels)
    pool, test = holdout_split(y_l, seed=2)
    train = sample_budget(y_l, pool, 12, seed=2)
    seen = unlabeled_positions(positions, pool, train, len(labels))
    assert not set(seen) & set(positions[test]) and not set(seen) & set(positions[train])
    assert set(seen) == set(range(len(labels))) - set(positions[test]) - set(positions[train])
    assert {i for i in seen if labels[i] is None} == set(range(4, len(labels), 5))


def test_heldout_within_a_sample_keeps_each_records_side_of_the_split():
    X, y = _blobs(per_class=40)
    full = make_heldout(X, list(y), seed=0, tune=False)
    within = np.arange(0, len(y), 2)
    part = make_heldout(X, list(y), seed=0, tune=False, within=within)
    assert set(within[part.test_records]) == set(full.test_records) & set(within)
    assert set(within[part.train_records]) == set(full.train_records) & set(within)
    assert part.y.tolist() == y[within].tolist()


# -- the one logistic regression and the one thread limit ------------------------------------------------------------
def test_fit_classifier_is_scikit_learns_logistic_regression_on_one_thread(monkeypatch):
    import torch
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info

    from likewise import neighbors

    X, y = _blobs(per_class=25, spread=2.0)
    train, test = holdout_split(y, seed=1)
    expected = LogisticRegression(C=3.0, max_iter=2000).fit(X[train], y[train])
    seen = []
    real = neighbors.single_threaded

    def spy():
        seen.append("entered")
        return real()

    monkeypatch.setattr(neighbors, "single_threaded", spy)
    model = fit_classifier(X[train], y[train], C=3.0)
    assert seen == ["entered"]
    np.testing.assert_allclose(model.coef_, expected.coef_, rtol=1e-5, atol=1e-6)
    default = LogisticRegression(max_iter=2000).fit(X[train], y[train])  # the evaluation's probe: C=1
    assert logistic_accuracy(X[train], y[train], X[test], y[test]) == pytest.approx(
        (default.predict(X[test]) == y[test]).mean())
    with pytest.raises(InputError, match="C .* must be positive, got 0"):
        fit_classifier(X, y, C=0)
    # inside: one thread everywhere; after: the caller's settings back
    torch_before, blas_before = torch.get_num_threads(), [i["num_threads"] for i in threadpool_info()]
    with real():
        assert torch.get_num_threads() == 1
        assert all(i["num_threads"] == 1 for i in threadpool_info())
    assert torch.get_num_threads() == torch_before
    assert [i["num_threads"] for i in threadpool_info()] == blas_before
