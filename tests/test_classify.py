from __future__ import annotations

import json
import math

import numpy as np
import pytest

from likewise.classify import (
    WeakLabels,
    classify_records,
    confidence_table,
    export_weak_labels,
    score_classifier,
)
from likewise.errors import InputError
from likewise.evaluation import holdout_split
from likewise.ops.classify import classify_workspace
from likewise.records import Dataset, load_records

FAST_TUNER = {"epochs": 3, "k": 5, "patience": 2}


def _blobs(per_class: int = 30, classes: int = 3, dim: int = 16, spread: float = 0.6, seed: int = 0):
    """Labeled Gaussian blobs around random unit centres, L2-normalised; class names c0, c1, ..."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    X = np.concatenate([c + spread * rng.normal(size=(per_class, dim)) for c in centres]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.repeat([f"c{i}" for i in range(classes)], per_class).astype(object)
    return X, y


def _with_unlabeled(X, y, every: int = 4):
    """The same records with every ``every``-th one unlabeled; returns (X, labels, the hidden labels)."""
    hidden = np.arange(len(y)) % every == every - 1
    labels = [None if h else lab for lab, h in zip(y, hidden)]
    return X, labels, y[hidden]


# -- scores against scikit-learn and a naive loop ---------------------------------------------------------------
def test_score_classifier_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    X, y = _blobs(per_class=25, spread=2.0)  # overlapping: some mistakes, so the numbers mean something
    train, test = holdout_split(y, seed=2)
    score = score_classifier(X[train], y[train], X[test], y[test], vectors="raw", C=3.0)
    model = LogisticRegression(C=3.0, max_iter=2000).fit(X[train], y[train])
    predicted = model.predict(X[test])
    assert 0.5 < score.accuracy < 1.0
    assert score.accuracy == pytest.approx(accuracy_score(y[test], predicted))
    assert score.macro_f1 == pytest.approx(f1_score(y[test], predicted, average="macro"))
    p, r, f, s = precision_recall_fscore_support(y[test], predicted, labels=["c0", "c1", "c2"], zero_division=0)
    for i, c in enumerate(["c0", "c1", "c2"]):
        assert score.per_class[c] == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]})
    assert (score.train_records, score.test_records) == (len(train), len(test))
    # the threshold table against a naive loop over the test records
    confidence = model.predict_proba(X[test]).max(axis=1)
    for row in score.thresholds:
        kept = [i for i in range(len(test)) if confidence[i] > row["threshold"]]
        assert row["records"] == len(kept)
        assert row["kept"] == pytest.approx(len(kept) / len(test), abs=1e-4)
        if kept:
            assert row["precision"] == pytest.approx(np.mean([predicted[i] == y[test][i] for i in kept]), abs=1e-4)
        else:
            assert row["precision"] is None


def test_confidence_table_edges():
    rows = confidence_table(np.array([0.7, 0.71, 0.2]), np.array([True, False, True]), [0.0, 0.7, 0.9])
    assert [r["records"] for r in rows] == [3, 1, 0]  # strictly above, as load_records keeps weak labels
    assert rows[1]["precision"] == 0.0 and rows[2]["precision"] is None
    with pytest.raises(InputError, match="between 0 and 1"):
        confidence_table(np.array([0.5]), np.array([True]), [1.5])


# -- classify and predict ----------------------------------------------------------------------------------------------
def test_classify_records_scores_raw_and_tuned_and_predicts_only_unlabeled():
    X, y = _blobs(per_class=40, spread=0.8)
    X_all, labels, truth = _with_unlabeled(X, y)
    tuned = X_all.copy()  # stands in for the workspace's tuned vectors (used for predictions only)
    result = classify_records(X_all, labels, tuned=tuned, tuner_options=FAST_TUNER, seed=0)
    assert [s.vectors for s in result.scores] == ["raw", "tuned"]
    assert result.predicted.tolist() == [i for i, lab in enumerate(labels) if lab is None]
    assert set(result.predicted_labels) <= {"c0", "c1", "c2"}
    assert np.all((result.confidences >= 1 / 3) & (result.confidences <= 1))
    assert result.predicted_with in ("raw", "tuned")
    best = max(result.scores, key=lambda s: (s.accuracy, s.vectors == "tuned"))
    assert result.predicted_with == best.vectors
    # the unlabeled records were drawn from the same blobs: the predictions should mostly be right
    assert np.mean(result.predicted_labels == truth) > 0.8


def test_classify_records_refuses_bad_input():
    X, y = _blobs()
    with pytest.raises(InputError, match="predict_with"):
        classify_records(X, list(y), predict_with="best")
    with pytest.raises(InputError, match="needs tuned vectors"):
        classify_records(X, list(y), predict_with="tuned")
    with pytest.raises(InputError, match="one class"):
        classify_records(X, ["a"] * len(y))


# -- weak labels round-trip through load_records --------------------------------------------------------------------
def _weak() -> WeakLabels:
    labels = ["sport", "tech", "sport", "tech", "sport", "tech"]
    return WeakLabels(
        ids=["a1", "a2", "a3", "u1", "u2", "u3"],
        texts=["goal, match and team", 'chips "quoted", commas', "multi\nline text", "new phone", "the league", "x"],
        labels=labels,
        confidences=np.array([math.nan, math.nan, 0.91, 0.622, 0.7, 0.93]),
        sources=["manual", "manual", "weak", "predicted", "predicted", "predicted"],
    )


@pytest.mark.parametrize("name, fmt, read", [
    ("weak.csv", None, {"label_column": "label", "confidence_column": "confidence"}),
    ("weak.jsonl", None, {"label_column": "label", "confidence_column": "confidence"}),
    ("weak.json", "refinery", {}),
])
def test_weak_labels_round_trip_through_load_records(tmp_path, name, fmt, read):
    weak = _weak()
    info = export_weak_labels(weak, tmp_path / name, fmt=fmt, task="topic")
    assert info["records"] == 6 and info["predicted"] == 3
    data = load_records(tmp_path / name, confidence_threshold=0.7, **read)
    assert data.ids == weak.ids and data.texts == weak.texts
    by_id = dict(zip(data.ids, zip(data.labels, data.label_sources, data.confidences)))
    assert by_id["a1"][:2] == ("sport", "manual") and by_id["a2"][:2] == ("tech", "manual")
    assert by_id["a3"][:2] == ("sport", "weak") and by_id["a3"][2] == pytest.approx(0.91)
    assert by_id["u1"][0] is None and by_id["u2"][0] is None  # 0.622 and 0.7 are not above 0.7
    assert by_id["u3"][:2] == ("tech", "weak") and by_id["u3"][2] == pytest.approx(0.93)
    assert data.summary.dropped_by_confidence == 2


def test_refinery_export_has_refinery_columns_and_string_confidences(tmp_path):
    export_weak_labels(_weak(), tmp_path / "w.json", attribute="headline", task="topic")
    records = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))
    row = next(r for r in records if r["id"] == "u1")
    assert row["headline__topic__WEAK_SUPERVISION"] == "tech"
    assert row["headline__topic__WEAK_SUPERVISION__confidence"] == "0.6220"
    assert row["headline__topic__MANUAL"] is None
    manual = next(r for r in records if r["id"] == "a1")
    assert manual["headline__topic__MANUAL"] == "sport" and manual["headline__topic__WEAK_SUPERVISION"] is None


def test_export_filters_and_refuses_bad_options(tmp_path):
    info = export_weak_labels(_weak(), tmp_path / "w.csv", min_confidence=0.7, include_labeled=False)
    data = load_records(tmp_path / "w.csv", label_column="label", confidence_column="confidence", confidence_threshold=0.0)
    assert info["records"] == 1 and data.ids == ["u3"]
    with pytest.raises(InputError, match="format"):
        export_weak_labels(_weak(), tmp_path / "w.parquet")
    with pytest.raises(InputError, match="free of '__'"):
        export_weak_labels(_weak(), tmp_path / "w.json", task="a__b")


# -- on a workspace ----------------------------------------------------------------------------------------------------
TOPICS = {
    "sport": "match goal team coach league season player score stadium",
    "tech": "software chip phone network data computer code server app",
    "food": "recipe cook bread sauce oven flavour dinner kitchen spice",
}
SHARED = "the a today people new said week report city".split()


def topic_dataset(per_class: int = 30, unlabeled: int = 15, seed: int = 0) -> tuple[Dataset, list[str]]:
    """Short synthetic texts: topic words plus shared words; the last ``unlabeled`` records have no label."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    names = list(TOPICS)
    for i in range(per_class * len(names) + unlabeled):
        topic = names[i % len(names)]
        words = list(rng.choice(TOPICS[topic].split(), 5)) + list(rng.choice(SHARED, 4))
        rng.shuffle(words)
        texts.append(" ".join(words) + f" {i}")
        labels.append(topic)
    truth = list(labels)
    for i in range(len(labels) - unlabeled, len(labels)):
        labels[i] = None
    return Dataset.from_lists(texts, labels, ids=[f"r{i}" for i in range(len(texts))]), truth


@pytest.fixture
def tuned_workspace(tmp_path, hashing_encoder):
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", create=True)
    data, _ = topic_dataset()
    embed_into_workspace(ws, data, hashing_encoder, source={"path": "topics.csv"})
    tune_workspace(ws, tuner_options={**FAST_TUNER, "seed": 0})
    return Workspace.open(tmp_path / "ws")


def test_classify_workspace_saves_scores_and_exports_weak_labels(tuned_workspace, tmp_path):
    result = classify_workspace(tuned_workspace, export=tmp_path / "weak.json", export_format="refinery")
    assert [s.vectors for s in result.classification.scores] == ["raw", "tuned"]
    assert len(result.classification.predicted) == 15 and result.export["predicted"] == 15
    saved = tuned_workspace.artifact_json("classifier")
    assert saved["unlabeled_records"] == 15 and saved["config"]["split"]["tuned_on_records"] > 0
    assert [r.command for r in tuned_workspace.store.runs()] == ["tune", "classify"]
    back = load_records(tmp_path / "weak.json", confidence_threshold=0.0)
    assert back.summary.manual == 90 and back.summary.weak == 15


def test_classify_workspace_without_tuning_scores_raw_only(tmp_path, hashing_encoder):
    from likewise.ops.embed import embed_into_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", create=True)
    data, _ = topic_dataset(unlabeled=0)
    embed_into_workspace(ws, data, hashing_encoder, source={"path": "topics.csv"})
    result = classify_workspace(ws)
    assert [s.vectors for s in result.classification.scores] == ["raw"]
    assert result.classification.predicted_with == "raw" and len(result.classification.predicted) == 0


# -- the tuned encoder's vectors as features ---------------------------------------------------------------------
def test_encoder_features_are_a_third_row_scored_on_their_own_held_out_vectors():
    """On BBC News (hashing vectors as raw, 64-d hashing vectors standing in for a tuned encoder's): the
    ``encoder`` row is the logistic regression on the held-out vectors it was given, scored on the same split
    as raw and tuned; predict_with="encoder" predicts with the every-record vectors; auto takes the best."""
    from likewise.classify import DEFAULT_C, EncoderFeatures
    from likewise.datasets import load_dataset
    from likewise.encoders import HashingEncoder, get_encoder
    from likewise.evaluation import fit_classifier, make_heldout

    data = load_dataset("bbc_news")
    data = data.subset(np.arange(0, len(data), 8))
    labels = [None if i % 5 == 0 else lab for i, lab in enumerate(data.labels)]
    raw = get_encoder("hashing").embed(data.texts)
    other = HashingEncoder(dim=64).embed(data.texts)
    heldout = make_heldout(raw, labels, seed=1, tune=True, tuner_options=FAST_TUNER)
    features = EncoderFeatures(other[heldout.train_records], other[heldout.test_records], other, {"by": "test"})
    result = classify_records(raw, labels, tuned=heldout.tuned, encoder=features, heldout=heldout,
                              predict_with="encoder")
    assert [s.vectors for s in result.scores] == ["raw", "tuned", "encoder"]
    expected = score_classifier(other[heldout.train_records], heldout.y[heldout.train], other[heldout.test_records],
                                heldout.y[heldout.test], vectors="encoder")
    assert result.score("encoder") == expected
    assert result.score("raw").test_records == expected.test_records == len(heldout.test)
    assert result.predicted_with == "encoder" and result.config["encoder"] == {"by": "test"}
    model = fit_classifier(other[heldout.positions], heldout.y, C=DEFAULT_C)
    unlabeled = np.flatnonzero([lab is None for lab in labels])
    np.testing.assert_array_equal(result.predicted, unlabeled)
    np.testing.assert_array_equal(result.predicted_labels, model.predict(other[unlabeled]))

    auto = classify_records(raw, labels, tuned=heldout.tuned, encoder=features, heldout=heldout)
    best = max(auto.scores, key=lambda s: s.accuracy).accuracy
    assert auto.score(auto.predicted_with).accuracy == best and auto.config["predict_choice"] == "auto"

    with pytest.raises(InputError, match="needs a tuned encoder"):
        classify_records(raw, labels, heldout=heldout, predict_with="encoder")
    short = EncoderFeatures(other[heldout.train_records][:-1], other[heldout.test_records], other, {})
    with pytest.raises(InputError, match="build them on this split"):
        classify_records(raw, labels, encoder=short, heldout=heldout)
    with pytest.raises(InputError, match="tuned-encoder vectors for"):
        classify_records(raw, labels, encoder=EncoderFeatures(features.heldout_train, features.heldout_test,
                                                              other[:-1], {}), heldout=heldout)


def test_classify_workspace_encoder_choice_needs_a_tuned_encoder(tmp_path, hashing_encoder):
    from likewise.datasets import load_dataset
    from likewise.ops.embed import embed_into_workspace
    from likewise.workspace import Workspace

    data = load_dataset("bbc_news")
    data = data.subset(np.arange(0, len(data), 20))
    ws = Workspace.open(tmp_path / "ws", create=True)
    embed_into_workspace(ws, data, hashing_encoder, source={"path": "bbc"})
    with pytest.raises(InputError, match="--encoder yes needs a tuned encoder"):
        classify_workspace(ws, encoder="yes")
    with pytest.raises(InputError, match="unknown --encoder choice"):
        classify_workspace(ws, encoder="maybe")
    result = classify_workspace(ws, encoder="auto")  # no tuned encoder: raw only, no encoder row
    assert [s.vectors for s in result.classification.scores] == ["raw"]
