"""Retrieval metrics: against naive Python loops, against pytorch-metric-learning, and their edge cases."""
from __future__ import annotations

import doctest
from collections import Counter

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

from likewise import metrics, neighbors
from likewise.errors import InputError
from likewise.metrics import (
    METRICS,
    evaluate,
    knn_accuracy,
    map_at_r,
    precision_at_1,
    r_precision,
    top_k_share,
)


def naive_metrics(x: np.ndarray, labels: list, k: int, knn_k: int) -> dict[str, float]:
    """One query at a time, straight from the definitions in likewise.metrics."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = x.astype(np.float64) @ x.astype(np.float64).T
    n = len(labels)
    top, p1, knn, rps, aps = [], [], [], [], []
    for i in range(n):
        order = sorted((j for j in range(n) if j != i), key=lambda j: (-s[i, j], j))
        found = [labels[j] for j in order]
        mine = labels[i]
        top.append(sum(f == mine for f in found[:k]) / len(found[:k]))
        p1.append(float(found[0] == mine))
        votes = Counter(found[:knn_k])
        best = max(votes.values())
        knn.append(float(next(f for f in found[:knn_k] if votes[f] == best) == mine))
        r = sum(label == mine for label in labels) - 1
        if r:
            rel = [f == mine for f in found[:r]]
            rps.append(sum(rel) / r)
            aps.append(sum(sum(rel[: j + 1]) / (j + 1) for j in range(r) if rel[j]) / r)
    return {
        "top_k": float(np.mean(top)),
        "precision_at_1": float(np.mean(p1)),
        "r_precision": float(np.mean(rps)) if rps else float("nan"),
        "map_at_r": float(np.mean(aps)) if aps else float("nan"),
        "knn_accuracy": float(np.mean(knn)),
    }


def clustered(rng, sizes, dim=12, spread=1.2):
    centers = rng.standard_normal((len(sizes), dim))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    x = centers[labels] + spread * rng.standard_normal((len(labels), dim))
    perm = rng.permutation(len(labels))
    return x[perm].astype(np.float32), labels[perm]


def exact_knn(query, k, reference, ref_includes_query):
    """Brute force for AccuracyCalculator, excluding a query by index like likewise does."""
    s = query.double() @ reference.double().T
    if ref_includes_query:
        s.fill_diagonal_(-float("inf"))
    scores, idx = torch.topk(s, k, dim=1)
    return scores, idx


def pml(x, labels):
    calc = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
        k="max_bin_count",
        knn_func=exact_knn,
        device=torch.device("cpu"),
    )
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return calc.get_accuracy(x, np.asarray(labels))


def test_docstring_examples():
    assert doctest.testmod(metrics).failed == 0
    assert doctest.testmod(neighbors).failed == 0


def test_hand_made_case_against_naive_loop():
    # unit vectors at these angles (degrees); classes a (3 records), b (2) and c (1)
    angles = np.radians([0, 12, 100, 20, 95, 200])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    labels = ["a", "a", "a", "b", "b", "c"]
    got = evaluate(x, labels, k=2, knn_k=3)
    assert got == pytest.approx(naive_metrics(x, labels, k=2, knn_k=3), abs=1e-12)
    # by hand, nearest first: q0 -> 1a 3b | q1 -> 3b 0a | q2 -> 4b 3b | q3 -> 1a 0a | q4 -> 2a 3b | q5 -> 2a 4b
    assert got["top_k"] == pytest.approx((1 / 2 + 1 / 2 + 0 + 0 + 1 / 2 + 0) / 6)
    assert got["precision_at_1"] == pytest.approx(1 / 6)
    # R = 2, 2, 2, 1, 1 (q5 has no classmate: skipped)
    assert got["r_precision"] == pytest.approx((1 / 2 + 1 / 2 + 0 + 0 + 0) / 5)
    assert got["map_at_r"] == pytest.approx((1 / 2 + (1 / 2) / 2 + 0 + 0 + 0) / 5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_clusters_against_naive_loop(seed):
    rng = np.random.default_rng(seed)
    x, labels = clustered(rng, [30, 12, 5, 2, 1, 1], spread=1.5)
    named = [f"class-{c}" for c in labels]
    got = evaluate(x, named, k=7, knn_k=5)
    want = naive_metrics(x, named, k=7, knn_k=5)
    assert got == pytest.approx(want, abs=1e-12)


def test_against_pytorch_metric_learning():
    rng = np.random.default_rng(10)
    x, labels = clustered(rng, [80, 45, 30, 30, 12, 3, 2])
    ours = evaluate(x, labels, k=10)
    theirs = pml(x, labels)
    assert ours["precision_at_1"] == pytest.approx(theirs["precision_at_1"], abs=1e-12)
    assert ours["r_precision"] == pytest.approx(theirs["r_precision"], abs=1e-12)
    assert ours["map_at_r"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-12)
    assert 0.2 < ours["map_at_r"] < ours["r_precision"] < ours["precision_at_1"] < 1  # a non-trivial case


def test_against_pytorch_metric_learning_with_single_member_classes():
    """Both skip queries whose class has no other member for R-precision and MAP@R."""
    rng = np.random.default_rng(11)
    x, labels = clustered(rng, [40, 25, 1, 1, 1, 6], spread=2.0)
    ours = evaluate(x, labels, k=5, metrics=["r_precision", "map_at_r"])
    theirs = pml(x, labels)
    assert ours["r_precision"] == pytest.approx(theirs["r_precision"], abs=1e-12)
    assert ours["map_at_r"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-12)


def test_functions_on_neighbour_labels_against_naive_loop():
    rng = np.random.default_rng(12)
    ql = rng.integers(0, 4, 200)
    nl = rng.integers(0, 4, (200, 90))
    sizes = np.bincount(ql, minlength=4) + 9  # a larger collection than the queries
    r = sizes[ql] - 1
    assert top_k_share(nl, ql) == pytest.approx(np.mean([np.mean(nl[i] == ql[i]) for i in range(200)]))
    assert precision_at_1(nl, ql) == pytest.approx(np.mean(nl[:, 0] == ql))
    assert r_precision(nl, ql, sizes) == pytest.approx(
        np.mean([np.mean(nl[i, : r[i]] == ql[i]) for i in range(200)])
    )
    aps = []
    for i in range(200):
        rel = nl[i, : r[i]] == ql[i]
        aps.append(sum(rel[: j + 1].sum() / (j + 1) for j in range(r[i]) if rel[j]) / r[i])
    assert map_at_r(nl, ql, sizes) == pytest.approx(np.mean(aps))
    for k in (1, 2, 5, 90, 100):
        naive = []
        for i in range(200):
            votes = Counter(nl[i, :k].tolist())
            best = max(votes.values())
            naive.append(next(v for v in nl[i, :k] if votes[v] == best) == ql[i])
        assert knn_accuracy(nl, ql, k) == pytest.approx(np.mean(naive))


def test_knn_tie_goes_to_the_nearest_class():
    nl = np.array([[2, 1, 1, 2, 3], [3, 3, 1, 1, 1]])
    assert knn_accuracy(nl, np.array([2, 3]), 4) == 1.0  # 2 vs 1 tied 2:2, 2 came first; 3 vs 1 tied 2:2
    assert knn_accuracy(nl, np.array([2, 1]), 5) == 1.0  # all five: 1 wins 3:2 in row 1


def test_r_based_metrics_need_enough_columns():
    ql = np.array([0, 0, 0, 1])
    nl = np.zeros((4, 1), int)
    with pytest.raises(InputError, match="needs 2 columns but neighbor_labels has 1"):
        r_precision(nl, ql)
    with pytest.raises(InputError, match="integer codes"):
        map_at_r(nl, ql, class_sizes=np.array([3]))
    assert np.isnan(r_precision(np.zeros((2, 1), int), np.array([0, 1])))  # only single-member classes


def test_single_class_scores_one_and_singletons_are_nan():
    x = np.random.default_rng(13).standard_normal((20, 5))
    assert evaluate(x, ["same"] * 20, k=5) == dict.fromkeys(METRICS, 1.0)
    alone = evaluate(x, list(range(20)), k=5)
    assert np.isnan(alone["r_precision"]) and np.isnan(alone["map_at_r"])
    assert alone["top_k"] == alone["precision_at_1"] == alone["knn_accuracy"] == 0.0


def test_k_beyond_the_collection_divides_by_what_was_returned():
    x = np.eye(4) + 0.1
    got = evaluate(x, [0, 0, 1, 1], k=100, metrics=["top_k"])
    assert got == {"top_k": pytest.approx(1 / 3)}  # 3 neighbours each, one classmate


def test_hashable_labels_of_any_kind():
    rng = np.random.default_rng(14)
    x, labels = clustered(rng, [10, 10, 5])
    as_ints = evaluate(x, labels, k=4)
    mapping = {0: ("t", 1), 1: None.__class__.__name__, 2: 3.5}
    assert evaluate(x, [mapping[c] for c in labels], k=4) == as_ints
    assert evaluate(x, labels.astype(str), k=4) == as_ints
    assert evaluate(x, labels.astype(float), k=4) == as_ints


def test_blockwise_path_equals_single_shot(monkeypatch):
    rng = np.random.default_rng(15)
    x, labels = clustered(rng, [60, 40, 20, 3, 1])
    single = evaluate(x, labels, k=8)
    monkeypatch.setattr(metrics, "_SINGLE_SHOT", 0)
    monkeypatch.setattr(metrics, "_CHUNK", 64)  # many small steps inside each block too
    assert evaluate(x, labels, k=8) == pytest.approx(single, abs=1e-12)


def test_evaluate_subset_of_metrics_and_progress():
    rng = np.random.default_rng(16)
    x, labels = clustered(rng, [10, 10])
    calls = []
    got = evaluate(x, labels, k=3, metrics=["map_at_r", "top_k"], progress=lambda *a: calls.append(a))
    assert list(got) == ["map_at_r", "top_k"] and calls and calls[-1][0] == calls[-1][1]


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((np.ones((1, 3)), [0], 1), {}, "at least 2 records"),
        ((np.ones((3, 3)), [0, 1], 1), {}, "2 labels for 3 embeddings"),
        ((np.array([[1.0, np.nan], [1, 0]]), [0, 1], 1), {}, "NaN or infinite"),
        ((np.eye(3), [0, 1, 1], 0), {}, "k must be an integer >= 1"),
        ((np.eye(3), [0, 1, 1], 2), {"knn_k": 0}, "knn_k must be an integer >= 1"),
        ((np.eye(3), [0, 1, 1], 2), {"metrics": ["top_k", "recall"]}, "'recall'; choose from top_k, "),
        ((np.eye(3), [0, None, 1], 2), {}, "1 of 3 labels are None"),
        ((np.eye(3), np.array([0, np.nan, 1]), 2), {}, "1 of 3 labels are NaN"),
        ((np.eye(3), [0, [1], 1], 2), {}, "hashable"),
    ],
)
def test_evaluate_bad_input(args, kwargs, message):
    with pytest.raises(InputError, match=message):
        evaluate(*args, **kwargs)


def test_metric_functions_bad_input():
    with pytest.raises(InputError, match="shape"):
        top_k_share(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(InputError, match="at least one neighbour"):
        precision_at_1(np.zeros((3, 0)), np.zeros(3))
    with pytest.raises(InputError, match="k >= 1"):
        knn_accuracy(np.zeros((3, 2)), np.zeros(3), 0)
