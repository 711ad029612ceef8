"""Self-training on the unlabeled records: pseudo-labels, the precision estimate that gates it, and the Tuner
using unlabeled rows (missing labels) on real BBC News texts."""
from __future__ import annotations

import numpy as np
import pytest

from likewise.datasets import load_dataset
from likewise.encoders import HashingEncoder
from likewise.evaluation import holdout_split, sample_budget
from likewise.labels import labeled_arrays
from likewise.metrics import evaluate
from likewise.tuning import Tuner
from likewise.tuning.self_training import (
    PSEUDO_LABEL_SHARE,
    SELF_TRAINING_MIN_PRECISION,
    estimated_precision,
    pseudo_labels,
    self_train,
)


def _normalise(Z: np.ndarray) -> np.ndarray:
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


def test_pseudo_labels_match_a_naive_loop() -> None:
    rng = np.random.default_rng(0)
    Z_l, y = rng.normal(size=(12, 5)), np.repeat(np.arange(3), 4)
    Z_u = rng.normal(size=(40, 5))
    kept, codes = pseudo_labels(Z_l, y, Z_u, share=0.5)
    centres = [_normalise(_normalise(Z_l[y == c]).mean(axis=0, keepdims=True))[0] for c in range(3)]
    expected_kept, expected_codes = [], []
    assigned, margins = [], []
    for z in _normalise(Z_u):
        sims = sorted(((float(z @ centre), c) for c, centre in enumerate(centres)), reverse=True)
        assigned.append(sims[0][1])
        margins.append(sims[0][0] - sims[1][0])
    for c in range(3):
        members = [i for i in range(len(Z_u)) if assigned[i] == c]
        members.sort(key=lambda i: -margins[i])
        expected_kept += members[: round(0.5 * len(members))]
    expected_kept.sort()
    expected_codes = [assigned[i] for i in expected_kept]
    assert kept.tolist() == expected_kept and codes.tolist() == expected_codes


@pytest.fixture(scope="module")
def bbc():
    """BBC News (real texts) as hashed bag-of-words vectors: the 60/40 split of seed 0."""
    data = load_dataset("bbc_news")
    X = HashingEncoder(dim=1024).embed_batch(data.texts)
    positions, y = labeled_arrays(data.labels)
    pool, test = holdout_split(y, seed=0)
    return X[positions], y, pool, test


def _top_100(Z: np.ndarray, y: np.ndarray) -> float:
    return float(evaluate(Z, y, 100, metrics=["top_k"])["top_k"])


def test_estimated_precision_tracks_how_separable_the_labels_are(bbc) -> None:
    X, y, pool, _ = bbc
    train = sample_budget(y, pool, 250, seed=0)
    codes = np.unique(y[train], return_inverse=True)[1]
    real = estimated_precision(X[train], codes, seed=0)
    shuffled = estimated_precision(X[train], np.random.default_rng(0).permutation(codes), seed=0)
    assert real >= SELF_TRAINING_MIN_PRECISION
    assert shuffled < 0.4  # 5 classes: about 1 in 5 by chance


@pytest.mark.slow
def test_self_training_lifts_held_out_top_k_on_bbc_news(bbc) -> None:
    X, y, pool, test = bbc
    train = sample_budget(y, pool, 250, seed=0)
    unlabeled = np.setdiff1d(pool, train)
    short = {"seed": 0, "epochs": 15, "patience": 3}  # measured: 70.2 -> 79.3 top_100 on these vectors
    labels_only = Tuner(**short, self_training=0).fit(X[train], y[train])
    semi = Tuner(**short).fit(np.concatenate([X[train], X[unlabeled]]), [*y[train], *([None] * len(unlabeled))])
    report = semi.self_training_
    assert report["unlabeled"] == len(unlabeled) and report["skipped"] == ""
    assert [r["pseudo_labeled"] for r in report["history"]] == [pytest.approx(PSEUDO_LABEL_SHARE * len(unlabeled), abs=5)] * 2
    assert semi.validation_ == labels_only.validation_  # validation is the labeled-only fit's
    before, after = _top_100(labels_only.transform(X[test]), y[test]), _top_100(semi.transform(X[test]), y[test])
    assert after > before + 0.03, (before, after)


def test_self_training_is_skipped_when_pseudo_labels_would_be_wrong(bbc) -> None:
    X, y, pool, _ = bbc
    train = sample_budget(y, pool, 100, seed=0)
    unlabeled = np.setdiff1d(pool, train)
    shuffled = np.random.default_rng(1).permutation(y[train])
    labels_only = Tuner(seed=0, method="centroids", self_training=0).fit(X[train], shuffled)
    semi = Tuner(seed=0, method="centroids").fit(np.concatenate([X[train], X[unlabeled]]),
                                         [*shuffled, *([None] * len(unlabeled))])
    assert semi.self_training_["history"] == [] and "were not used" in semi.self_training_["skipped"]
    assert semi.self_training_["estimated_precision"] < SELF_TRAINING_MIN_PRECISION
    np.testing.assert_array_equal(semi.transform(X[:50]), labels_only.transform(X[:50]))


def test_self_training_is_saved_with_the_tuner(bbc, tmp_path) -> None:
    X, y, pool, _ = bbc
    train = sample_budget(y, pool, 100, seed=0)
    unlabeled = np.setdiff1d(pool, train)[:200]
    tuner = Tuner(seed=0, epochs=5, method="centroids").fit(
        np.concatenate([X[train], X[unlabeled]]), [*y[train], *([None] * len(unlabeled))])
    loaded = Tuner.load(tuner.save(tmp_path / "head"))
    assert loaded.self_training_ == tuner.self_training_ and loaded.self_training_["unlabeled"] == 200
    assert loaded.get_params()["self_training"] == tuner.self_training
    np.testing.assert_allclose(loaded.transform(X[:20]), tuner.transform(X[:20]), atol=1e-6)


def test_self_training_pseudo_labels_a_sample_of_at_most_max_unlabeled(bbc) -> None:
    from likewise.tuning.closed_form import centroid_head

    X, y, pool, _ = bbc
    train = sample_budget(y, pool, 250, seed=0)
    unlabeled = np.setdiff1d(pool, train)
    codes = np.unique(y[train], return_inverse=True)[1]
    seen = []

    def fit(X_rows, y_rows):
        seen.append(len(X_rows))
        return centroid_head(X_rows, y_rows)

    _, report = self_train(fit, centroid_head(X[train], codes), X[train], codes, X[unlabeled], rounds=1,
                           max_unlabeled=300)
    assert report.unlabeled == 300 and report.history[0]["pseudo_labeled"] == pytest.approx(150, abs=5)
    assert seen == [len(train) + report.history[0]["pseudo_labeled"]]


def test_tuner_copies_only_the_sample_of_unlabeled_rows_it_self_trains_on(bbc, monkeypatch) -> None:
    """A workspace of a million records gives Tuner.fit ~a million unlabeled rows: it draws self-training's sample
    of at most SELF_TRAINING_MAX_UNLABELED before copying rows (the same sample self_train would draw)."""
    import likewise.tuning.tuner as tuner_module

    X, y, pool, _ = bbc
    train = sample_budget(y, pool, 100, seed=0)
    unlabeled = np.setdiff1d(pool, train)
    assert len(unlabeled) > 300
    monkeypatch.setattr(tuner_module, "SELF_TRAINING_MAX_UNLABELED", 300)
    tuner = Tuner(seed=0, method="centroids").fit(np.concatenate([X[train], X[unlabeled]]),
                                                  [*y[train], *([None] * len(unlabeled))])
    assert tuner.self_training_["unlabeled"] == 300
