"""The trainer and the Tuner API on synthetic clustered vectors where a head must measurably help.

The data: class centres in a low-dimensional subspace, buried under larger isotropic noise in the other
dimensions, then L2-normalised, so cosine neighbours of the raw vectors are mostly noise while a linear map
that down-weights the noise dimensions recovers the classes.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from likewise.errors import InputError, NotFittedError
from likewise.metrics import evaluate
from likewise.tuning import HEADS, LOSSES, REFERENCE_RECIPE, TrainConfig, Tuner, lda_baseline, train_head
from likewise.tuning import tuner as tuner_module
from likewise.tuning.trainer import holdout_positions, score_among

DIM = 64


def blobs(n_per_class: int, n_classes: int = 4, dim: int = DIM, seed: int = 0, signal: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(size=(n_classes, 4)) * signal  # fixed across calls
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = rng.normal(size=(len(y), dim)) * 0.9
    X[:, :4] += centres[y]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


NAMES = np.array(["sports", "tech", "art", "food"], dtype=object)


@pytest.fixture(scope="module")
def data():
    X_train, y_train = blobs(30, seed=0)
    X_test, y_test = blobs(60, seed=1)
    return X_train, NAMES[y_train], X_test, NAMES[y_test]


@pytest.fixture(scope="module")
def fitted(data):
    X_train, y_train, _, _ = data
    return Tuner(k=20, epochs=60).fit(X_train, y_train)


def top_k(Z, y, k=20) -> float:
    return evaluate(Z, y, k, metrics=["top_k"])["top_k"]


def test_default_tuner_improves_held_out_top_k(data, fitted) -> None:
    _, _, X_test, y_test = data
    raw, tuned = top_k(X_test, y_test), top_k(fitted.transform(X_test), y_test)
    assert raw < 0.6 and tuned > raw + 0.15
    assert not fitted.kept_identity_ and fitted.message_ == ""
    assert fitted.validation_["trained_top_k"] > fitted.validation_["identity_top_k"]


def test_fitted_attributes(fitted) -> None:
    assert list(fitted.classes_) == ["art", "food", "sports", "tech"]
    assert fitted.n_features_in_ == DIM
    assert fitted.history_ and all({"epoch", "loss", "val_top_k"} <= set(h) for h in fitted.history_)
    assert [h["epoch"] for h in fitted.history_] == list(range(1, len(fitted.history_) + 1))
    assert all(math.isfinite(h["loss"]) for h in fitted.history_)
    Z = fitted.transform(np.ones((2, DIM)))
    assert Z.dtype == np.float32 and np.allclose(np.linalg.norm(Z, axis=1), 1, atol=1e-6)


def test_seeded_and_deterministic(data) -> None:
    X_train, y_train, X_test, _ = data
    a = Tuner(k=20, epochs=15, seed=3).fit(X_train, y_train).transform(X_test)
    b = Tuner(k=20, epochs=15, seed=3).fit(X_train, y_train).transform(X_test)
    c = Tuner(k=20, epochs=15, seed=4).fit(X_train, y_train).transform(X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_holdout_restores_the_best_epoch() -> None:
    X, y = blobs(60, seed=2)
    config = TrainConfig(k=20, epochs=25, patience=5, validation="holdout", seed=1, lr=3e-3)
    result = train_head(X, y, config)
    best = max(h["val_top_k"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_top_k"] == best
    assert result.validation["strategy"] == "holdout" and result.validation["trained_top_k"] == best
    _, val = holdout_positions(y, config.val_fraction, config.seed)
    # the returned head is the best epoch's, not the last one's
    assert score_among(result.head.transform(X[val]), y[val], result.validation["k"]) == pytest.approx(best)
    assert result.validation["identity_top_k"] == pytest.approx(score_among(X[val], y[val], result.validation["k"]))


def test_holdout_stops_early() -> None:
    X, y = blobs(60, seed=2)
    result = train_head(X, y, TrainConfig(k=20, epochs=200, patience=3, validation="holdout", lr=1e-2))
    assert len(result.history) < 200
    assert len(result.history) - result.best_epoch == 3


def test_keeps_the_identity_when_training_cannot_beat_it() -> None:
    # classes already perfectly separated: nothing to gain on validation, so the identity stays
    X, y = blobs(20, signal=30.0)
    tuner = Tuner(k=10, epochs=5).fit(X, y)
    assert tuner.validation_["identity_top_k"] == 1.0
    assert tuner.kept_identity_ and "does not beat the untouched vectors" in tuner.message_
    assert tuner.head_.name == "identity"
    np.testing.assert_allclose(tuner.transform(X), X, atol=1e-6)
    forced = Tuner(k=10, epochs=5, force=True).fit(X, y)
    assert not forced.kept_identity_ and forced.head_.name == "linear" and "force" in forced.message_


def test_tiny_budget_uses_cross_validation() -> None:
    X, y = blobs(5, n_classes=5, seed=4)  # 25 labeled records, 5 classes
    tuner = Tuner(epochs=30).fit(X, np.array(list("abcde"))[y])
    assert "cross-validation" in tuner.validation_["strategy"]
    assert tuner.validation_["k"] >= 1 and tuner.best_epoch_ >= 1
    X2, y2 = blobs(2, n_classes=3, seed=5)  # the minimum: 2 per class
    assert Tuner(epochs=5, force=True).fit(X2, y2).transform(X2).shape == (6, DIM)


def test_progress_is_reported_every_epoch(data) -> None:
    X_train, y_train, _, _ = data
    calls = []
    Tuner(k=20, epochs=8, patience=8).fit(X_train, y_train, progress=lambda d, t, s: calls.append((d, t, s)))
    done = [d for d, _, _ in calls]
    assert len(calls) >= 8 and done == sorted(done) and all(isinstance(s, str) and s for _, _, s in calls)


@pytest.fixture(scope="module")
def separable():
    """Classes a linear map separates (signal 1.5 in 4 of 64 dimensions), raw held-out top_20 about 0.77."""
    X_train, y_train = blobs(60, seed=0, signal=1.5)
    X_test, y_test = blobs(60, seed=1, signal=1.5)
    return X_train, y_train, X_test, y_test


def _snapshot_initial_heads(monkeypatch) -> list[dict]:
    """Record each head's weights as training starts (after its data-dependent init)."""
    from likewise.tuning import trainer as trainer_module

    snapshots: list[dict] = []
    real_make_head = trainer_module.make_head

    def make_head(*args, **kwargs):
        head = real_make_head(*args, **kwargs)
        init = head.init_from_data

        def init_then_snapshot(x, labels):
            init(x, labels)
            snapshots.append({name: t.detach().clone() for name, t in head.state_dict().items()})

        head.init_from_data = init_then_snapshot
        return head

    monkeypatch.setattr(trainer_module, "make_head", make_head)
    return snapshots


@pytest.mark.parametrize("head", [h for h in HEADS if h != "identity"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_head_and_loss_learns(separable, monkeypatch, head, loss) -> None:
    """Training lowers the loss, moves the weights, and beats the raw vectors on held-out records."""
    X_train, y_train, X_test, y_test = separable
    initial = _snapshot_initial_heads(monkeypatch)
    options = {"gate_init": -1.0} if head == "skip" else {}  # the default gate (-4) opens too slowly for 25 epochs
    config = TrainConfig(head=head, head_options=options, loss=loss, k=20, epochs=25, patience=25, lr=2e-2,
                         validation="holdout", force=True)
    result = train_head(X_train, y_train, config)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 25 and losses[-1] < 0.9 * losses[0], losses
    assert len(initial) == 1
    trained = result.head.state_dict()
    moved = max(float((trained[name] - before).abs().max()) for name, before in initial[0].items())
    assert moved > 1e-2
    raw, tuned = top_k(X_test, y_test), top_k(result.head.transform(X_test), y_test)
    assert tuned > raw + 0.02, (raw, tuned)


def test_identity_head_has_nothing_to_learn(separable) -> None:
    X_train, y_train, X_test, _ = separable
    result = train_head(X_train, y_train, TrainConfig(head="identity", k=20, epochs=2, force=True))
    assert not list(result.head.parameters()) and all(h["loss"] == 0.0 for h in result.history)
    np.testing.assert_allclose(result.head.transform(X_test), X_test, atol=1e-6)


def test_reference_recipe_runs(data) -> None:
    X_train, y_train, X_test, y_test = data
    assert REFERENCE_RECIPE["head"] == "skip" and REFERENCE_RECIPE["loss_params"] == {"margin": 0.5}
    tuner = Tuner(**{**REFERENCE_RECIPE, "epochs": 5, "force": True}).fit(X_train, y_train)
    assert tuner.head_.name == "skip"
    assert top_k(tuner.transform(X_test), y_test) >= top_k(X_test, y_test) - 0.02


def test_unlabeled_rows_are_ignored_and_any_hashable_labels_work(data) -> None:
    X_train, y_train, _, _ = data
    y = [(str(v), 1) for v in y_train]  # tuples are hashable labels
    X = np.vstack([X_train, X_train[:5]])
    y = y + [None, float("nan"), np.nan, "", None]
    tuner = Tuner(k=20, epochs=3, force=True).fit(X, y)
    assert len(tuner.classes_) == 4 and tuner.validation_["records"] == len(X_train)


def test_input_errors(data) -> None:
    X_train, y_train, _, _ = data
    with pytest.raises(InputError, match="all 4 labeled records are in one class"):
        Tuner().fit(X_train[:4], ["a"] * 4)
    y = ["x", "x", "sports", "tech", "art"]
    with pytest.raises(InputError, match=r"3 classes have only 1 labeled record \(art, sports, tech\); "
                                         r"similarity learning needs at least 2 per class"):
        Tuner().fit(X_train[:5], y)
    with pytest.raises(InputError, match="1 class has only 1 labeled record"):
        Tuner().fit(X_train[:5], ["a", "a", "b", "b", "c"])
    with pytest.raises(InputError, match="X has 10 rows but y has 9 labels"):
        Tuner().fit(X_train[:10], y_train[:9])
    bad = X_train[:10].copy()
    bad[3, 0], bad[7, 1] = np.nan, np.inf
    with pytest.raises(InputError, match="NaN or infinite values in 2 of 10 rows"):
        Tuner().fit(bad, y_train[:10])
    with pytest.raises(InputError, match="no labeled records"):
        Tuner().fit(X_train[:3], [None, None, None])
    with pytest.raises(InputError, match="unknown loss 'triplet'; choose from batch_hard_triplet"):
        Tuner(loss="triplet").fit(X_train, y_train)
    with pytest.raises(InputError, match="unknown head"):
        Tuner(head="big").fit(X_train, y_train)
    with pytest.raises(InputError, match="epochs must be an integer"):
        Tuner(epochs=0).fit(X_train, y_train)


def test_transform_checks(fitted) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        Tuner().transform(np.zeros((2, DIM)))
    with pytest.raises(InputError, match="fitted on 64-dimensional vectors but got 12"):
        fitted.transform(np.zeros((2, 12)))
    with pytest.raises(InputError, match="NaN"):
        fitted.transform(np.full((2, DIM), np.nan))


def test_device_is_never_picked_silently(data) -> None:
    import torch

    X_train, y_train, _, _ = data
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            Tuner(device="cuda", epochs=1).fit(X_train, y_train)
    with pytest.raises(InputError, match="unknown device"):
        Tuner(device="tpu", epochs=1).fit(X_train, y_train)
    assert Tuner(epochs=1, force=True).fit(X_train, y_train).head_.device.type == "cpu"


def test_save_and_load_round_trip(fitted, data, tmp_path) -> None:
    _, _, X_test, _ = data
    folder = fitted.save(tmp_path / "head", encoder="synthetic@1")
    loaded = Tuner.load(folder, expected_dim=DIM, expected_encoder="synthetic@1")
    np.testing.assert_array_equal(loaded.transform(X_test), fitted.transform(X_test))
    assert list(loaded.classes_) == list(fitted.classes_) and loaded.history_ == fitted.history_
    assert loaded.get_params() == fitted.get_params() and loaded.kept_identity_ == fitted.kept_identity_
    assert json.loads((folder / "tuner.json").read_text())["encoder"] == "synthetic@1"
    with pytest.raises(InputError, match="takes 64-dimensional vectors but these have 384"):
        Tuner.load(folder, expected_dim=384)
    with pytest.raises(InputError, match="tuner.json is missing"):
        Tuner.load(tmp_path / "nothing")
    with pytest.raises(NotFittedError):
        Tuner().save(tmp_path / "unfitted")


def test_interrupted_save_leaves_the_previous_head_intact(fitted, data, tmp_path, monkeypatch) -> None:
    _, _, X_test, _ = data
    folder = fitted.save(tmp_path / "head")
    before = Tuner.load(folder).transform(X_test)

    real_save_head = tuner_module.save_head

    def crash(head, folder, **kwargs):
        real_save_head(head, folder, **kwargs)  # the new weights are written...
        raise KeyboardInterrupt  # ...and the process is interrupted before the rest

    other = Tuner(k=20, epochs=3, seed=9, force=True).fit(*data[:2])
    monkeypatch.setattr(tuner_module, "save_head", crash)
    with pytest.raises(KeyboardInterrupt):
        other.save(folder)
    np.testing.assert_array_equal(Tuner.load(folder).transform(X_test), before)
    assert [p.name for p in tmp_path.iterdir()] == ["head"]  # no temporary folders left behind


def test_get_and_set_params() -> None:
    tuner = Tuner(lr=0.01)
    assert tuner.get_params()["lr"] == 0.01 and repr(tuner) == "Tuner(lr=0.01)"
    assert tuner.set_params(epochs=5).epochs == 5
    with pytest.raises(ValueError, match="Invalid parameter 'learning_rate'"):
        tuner.set_params(learning_rate=1)


def test_parameters_are_stored_unchanged() -> None:
    options = {"init": "random"}
    tuner = Tuner(head_options=options, epochs=7)
    assert tuner.head_options is options and tuner.epochs == 7  # sklearn's contract: no copies, no checks
    assert Tuner(epochs=-3).epochs == -3  # invalid values are refused by fit, not by the constructor


def test_not_fitted_is_both_likewise_and_scikit_learn_error() -> None:
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    with pytest.raises(NotFittedError) as info:
        Tuner().transform(np.zeros((2, DIM)))
    assert isinstance(info.value, SklearnNotFittedError)


def test_clone_gives_an_unfitted_copy_with_the_same_params(fitted, data) -> None:
    from sklearn.base import clone

    _, _, X_test, _ = data
    copy = clone(fitted)
    assert copy is not fitted and copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "head_") and not hasattr(copy, "history_")
    with pytest.raises(NotFittedError, match="not fitted"):
        copy.transform(X_test)
    assert fitted.transform(X_test).shape == (len(X_test), DIM)  # the original stays fitted


def test_works_as_a_pipeline_step(data) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X_train, y_train, X_test, y_test = data
    calls = []
    pipeline = Pipeline([("tune", Tuner(k=20, epochs=30)), ("clf", LogisticRegression())])
    pipeline.fit(X_train, y_train, tune__progress=lambda d, t, s: calls.append(d))
    predicted = pipeline.predict(X_test)
    assert calls and not pipeline.named_steps["tune"].kept_identity_
    assert set(predicted) <= set(NAMES) and (predicted == y_test).mean() > 0.6  # chance is 0.25
    # the classifier saw the tuned vectors: the same as fitting the two steps by hand
    tuner = pipeline.named_steps["tune"]
    by_hand = LogisticRegression().fit(tuner.transform(X_train), y_train).predict(tuner.transform(X_test))
    np.testing.assert_array_equal(predicted, by_hand)


def test_lda_baseline_matches_scikit_learn(data) -> None:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    X_train, y_train, X_test, y_test = data
    Z = lda_baseline(X_train, y_train, X_test)
    expected = LinearDiscriminantAnalysis().fit(X_train, y_train).transform(X_test)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert Z.shape == (len(X_test), 3) and Z.dtype == np.float32
    np.testing.assert_allclose(Z, expected, atol=1e-5)
    assert top_k(lda_baseline(X_train, y_train, X_test, shrinkage=True), y_test) > top_k(X_test, y_test)


def test_lda_baseline_where_the_svd_solver_finds_no_direction() -> None:
    """Four hashing vectors, two per class, each record one token apart from its class-mate: scikit-learn's
    svd LDA (1.9) returns no discriminant direction, and its shrinkage solver cannot factor the covariance;
    the baseline then projects onto the direction of the class means, which still separates the classes."""
    import warnings

    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from likewise.encoders import get_encoder

    texts = [("goal match team league" if i % 2 else "chip software phone code") + f" {i}" for i in range(6)]
    X = get_encoder("hashing").embed(texts).astype(np.float64)
    y = np.array(["tech", "sport"] * 3)
    keep = np.flatnonzero(X[:4].std(axis=0) > 1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        degenerate = LinearDiscriminantAnalysis().fit(X[:4][:, keep], y[:4]).scalings_.shape[1] == 0
        Z = lda_baseline(X[:4], y[:4], X)
    assert Z.shape == (6, 1) and np.isfinite(Z).all()
    if degenerate:  # the fallback ran (older scikit-learn finds a direction itself)
        assert (np.sign(Z[:, 0]) == np.where(y == y[0], np.sign(Z[0, 0]), -np.sign(Z[0, 0]))).all()


def test_one_standard_error_rule_prefers_fewer_epochs() -> None:
    from likewise.tuning.trainer import one_standard_error_epoch

    # the best mean is at epoch 4 (0.62); its standard error over the 3 splits is 0.02 / sqrt(3) ~ 0.0115, so
    # epoch 3 (mean 0.61) is within one standard error and wins; epoch 2 (0.55) is not
    curves = np.array([[0.50, 0.55, 0.61, 0.60], [0.50, 0.55, 0.61, 0.62], [0.50, 0.55, 0.61, 0.64]])
    assert one_standard_error_epoch(curves) == 3
    assert one_standard_error_epoch(curves[:1]) == 3  # one split: no error bar, plain argmax
    assert one_standard_error_epoch(np.array([[0.3, 0.3, 0.3]])) == 1


def test_score_against_matches_a_naive_loop() -> None:
    from likewise.tuning.trainer import score_against

    X, y = blobs(8, seed=7)
    q, yq, pool, yp = X[:10], y[:10], X[10:], y[10:]
    k = 5
    expected = []
    for i in range(len(q)):
        sims = [(-float(q[i] @ pool[j]), j) for j in range(len(pool))]
        nearest = [j for _, j in sorted(sims)[:k]]
        expected.append(np.mean([yp[j] == yq[i] for j in nearest]))
    assert score_against(q, yq, pool, yp, k) == pytest.approx(np.mean(expected))


def test_training_leaves_the_global_random_state_alone(data) -> None:
    import torch

    X_train, y_train, _, _ = data
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    Tuner(k=20, epochs=2, head="skip").fit(X_train, y_train)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_training_leaves_the_thread_settings_alone(data) -> None:
    import torch
    from threadpoolctl import threadpool_info

    X_train, y_train, _, _ = data
    torch_before = torch.get_num_threads()
    blas_before = [i["num_threads"] for i in threadpool_info()]
    Tuner(k=20, epochs=2).fit(X_train, y_train)
    assert torch.get_num_threads() == torch_before
    assert [i["num_threads"] for i in threadpool_info()] == blas_before


def test_standard_error_matches_scipy() -> None:
    from scipy.stats import sem

    from likewise.tuning.trainer import standard_error

    values = np.random.default_rng(3).normal(size=7)
    assert standard_error(values) == pytest.approx(float(sem(values)))
    assert standard_error(np.array([0.4])) == 0.0

