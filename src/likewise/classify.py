"""A classifier on raw vs tuned vectors, scored on held-out records, and weak labels for the unlabeled ones.

Protocol (the split is the one ``likewise evaluate`` uses, :func:`likewise.evaluation.holdout_split` by seed):

1. The labeled records are split, stratified, into a training pool and held-out test records; a label
   ``budget`` (default ``"all"``) draws the training records from the pool (:func:`sample_budget`).
2. A scikit-learn logistic regression (``C=10`` by default: on L2-normalised vectors ``C=1``, the evaluation's
   accuracy probe, regularises so strongly that its probabilities are under-confident; at 100 BBC News
   labels only 5% of held-out predictions pass a 0.7 confidence filter with ``C=1``, 71% with ``C=10``, at
   the same accuracy) is fitted on the training records' vectors and scored on the test
   records: accuracy, macro-F1, per-class precision/recall/F1, and a confidence table (for a threshold
   ``t``: the share of test records whose top probability is above ``t`` and the accuracy among them).
3. **No leak through the head.** The workspace's tuned vectors come from a head trained on *every* label,
   test records included, so scoring them on the test records would flatter them. For the held-out score
   the tuned vectors are recomputed by a head trained on the training records only (``Tuner`` with the
   workspace head's configuration; see :func:`likewise.evaluation.make_heldout`).
4. **The tuned encoder's vectors as features** (SetFit's recipe: the fine-tuned body's embeddings under a
   logistic regression; a head on frozen vectors rarely helps one). Where the workspace holds a tuned
   encoder, a third row, ``encoder``, scores them — again without a leak: for the held-out score the caller
   fine-tunes an encoder on the training records only, with the tuned encoder's schedule
   (:class:`EncoderFeatures`, built by :func:`likewise.ops.classify.encoder_features`).
5. Weak labels: a classifier fitted on *all* labeled records predicts a label and a confidence (its top
   probability) for every unlabeled record. It uses the vectors that scored best on held-out records
   (``predict_with="auto"``; ties go to tuned, then to the encoder's), or those asked for.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from likewise.errors import InputError, unknown_name
from likewise.evaluation import LOGREG_MAX_ITER, HeldOut, fit_classifier, make_heldout
from likewise.progress import Progress, no_progress

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
WEAK_FORMATS = ("csv", "jsonl", "refinery")
"""Weak-label export formats: CSV or JSON lines (id, text, label, confidence, label_source) or a refinery
JSON export (``<attribute>__<task>__MANUAL`` / ``__WEAK_SUPERVISION`` / ``__WEAK_SUPERVISION__confidence``)."""
PREDICT_WITH = ("auto", "raw", "tuned", "encoder")
#: ``predict_with="auto"`` breaks accuracy ties in this order (later wins)
_TIE_ORDER = {"raw": 0, "tuned": 1, "encoder": 2}
DEFAULT_C = 10.0


# -- scores ---------------------------------------------------------------------------------------------------
@dataclass
class ClassifierScore:
    """A logistic regression on one kind of vectors, trained on the training records, scored on held-out ones.

    ``per_class``: class -> precision, recall, f1, support. ``thresholds``: one row per confidence threshold
    ``t``: ``kept`` (share of test records with confidence > t), ``records`` (their number) and ``precision``
    (accuracy among them; None when none is kept).
    """

    vectors: str
    train_records: int
    test_records: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    thresholds: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def confidence_table(confidence: np.ndarray, correct: np.ndarray,
                     thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> list[dict[str, Any]]:
    """For each threshold ``t``: the share and number of predictions with confidence > ``t`` (the rule
    ``load_records`` applies to weak labels) and their precision (share correct; None when none is kept).

    >>> confidence_table(np.array([0.9, 0.6, 0.8]), np.array([True, False, True]), [0.0, 0.7])
    [{'threshold': 0.0, 'kept': 1.0, 'records': 3, 'precision': 0.6667}, {'threshold': 0.7, 'kept': 0.6667, 'records': 2, 'precision': 1.0}]
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    rows = []
    for t in thresholds:
        if not 0.0 <= t <= 1.0:
            raise InputError(f"confidence thresholds must be between 0 and 1, got {t}")
        kept = confidence > t
        n = int(kept.sum())
        rows.append({"threshold": float(t), "kept": round(n / len(confidence), 4) if len(confidence) else 0.0,
                     "records": n, "precision": round(float(correct[kept].mean()), 4) if n else None})
    return rows


def score_classifier(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
                     vectors: str = "raw", C: float = DEFAULT_C,
                     thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> ClassifierScore:
    """Fit on the training records, score on the test records (accuracy, macro-F1, per class, confidence)."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    model = fit_classifier(X_train, y_train, C=C)
    proba = model.predict_proba(X_test)
    predicted = model.classes_[proba.argmax(axis=1)]
    correct = predicted == y_test
    classes = np.unique(np.concatenate([np.asarray(y_train), np.asarray(y_test)]))
    precision, recall, f1, support = precision_recall_fscore_support(y_test, predicted, labels=classes, zero_division=0)
    per_class = {str(c): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                 for c, p, r, f, s in zip(classes, precision, recall, f1, support)}
    return ClassifierScore(
        vectors=vectors, train_records=int(len(y_train)), test_records=int(len(y_test)),
        accuracy=float(correct.mean()),
        macro_f1=float(f1_score(y_test, predicted, labels=classes, average="macro", zero_division=0)),
        per_class=per_class, thresholds=confidence_table(proba.max(axis=1), correct, thresholds),
    )


# -- classify and predict -------------------------------------------------------------------------------------
@dataclass
class EncoderFeatures:
    """A tuned encoder's vectors as a classifier's features.

    ``heldout_train`` / ``heldout_test``: vectors of the split's training and held-out records (in the order
    of ``HeldOut.train_records`` / ``test_records``) by an encoder fine-tuned on the training records only,
    for an honest held-out score; ``every_record``: vectors of every record by the tuned encoder trained on
    all labels, for the predictions. ``config``: how the held-out encoder was made.
    """

    heldout_train: np.ndarray
    heldout_test: np.ndarray
    every_record: np.ndarray
    config: dict[str, Any]


@dataclass
class Classification:
    """Held-out scores per kind of vectors, and the predictions for the unlabeled records.

    ``predicted``: record positions of the unlabeled records; ``predicted_labels`` / ``confidences``: the
    classifier's label and top probability for each, made with ``predicted_with`` vectors.
    """

    scores: list[ClassifierScore]
    predicted_with: str
    predicted: np.ndarray
    predicted_labels: np.ndarray
    confidences: np.ndarray
    config: dict[str, Any]
    seconds: float

    def score(self, vectors: str) -> ClassifierScore | None:
        return next((s for s in self.scores if s.vectors == vectors), None)


def classify_records(
    raw: np.ndarray,
    labels: Sequence[Hashable | None],
    *,
    tuned: np.ndarray | None = None,
    encoder: EncoderFeatures | None = None,
    heldout: HeldOut | None = None,
    tuner_options: dict[str, Any] | None = None,
    seed: int = 0,
    test_size: float = 0.4,
    budget: int | str = "all",
    C: float = DEFAULT_C,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    predict_with: str = "auto",
    progress: Progress = no_progress,
) -> Classification:
    """Score a logistic regression on raw (and tuned) vectors on held-out records; predict the unlabeled ones.

    ``tuned``: the tuned vectors of every record as the workspace holds them (used for the predictions
    only); when given, the held-out "tuned" score uses ``heldout.tuned`` (a head trained on the training
    records, built here with ``tuner_options`` unless ``heldout`` is passed). ``encoder``: a tuned encoder's
    vectors (an ``encoder`` row; its held-out vectors must come from ``heldout``'s training records only).
    See the module docstring.
    """
    start = time.perf_counter()
    raw = np.asarray(raw, dtype=np.float32)
    if predict_with not in PREDICT_WITH:
        raise unknown_name("predict_with", predict_with, PREDICT_WITH)
    if tuned is not None and np.shape(tuned)[0] != raw.shape[0]:
        raise InputError(f"{np.shape(tuned)[0]} tuned vectors for {raw.shape[0]} records; run `likewise tune` again")
    if predict_with == "tuned" and tuned is None:
        raise InputError("predict_with='tuned' needs tuned vectors; run `likewise tune` first")
    if predict_with == "encoder" and encoder is None:
        raise InputError("predict_with='encoder' needs a tuned encoder; run `likewise tune --train-encoder` first")
    if encoder is not None and np.shape(encoder.every_record)[0] != raw.shape[0]:
        raise InputError(f"{np.shape(encoder.every_record)[0]} tuned-encoder vectors for {raw.shape[0]} records; "
                         "run `likewise tune --train-encoder` again")
    if heldout is None:
        heldout = make_heldout(raw, labels, seed=seed, test_size=test_size, budget=budget,
                               tune=tuned is not None, tuner_options=tuner_options, progress=progress)
    y, train, test = heldout.y, heldout.train_records, heldout.test_records
    kinds: list[tuple[str, np.ndarray, np.ndarray]] = [("raw", raw[train], raw[test])]
    if tuned is not None:
        if heldout.tuned is None:
            raise InputError("the held-out split carries no tuned vectors; build it with make_heldout(tune=True)")
        kinds.append(("tuned", heldout.tuned[train], heldout.tuned[test]))
    if encoder is not None:
        if (len(encoder.heldout_train), len(encoder.heldout_test)) != (len(train), len(test)):
            raise InputError(f"{len(encoder.heldout_train)} + {len(encoder.heldout_test)} held-out tuned-encoder "
                             f"vectors for a split of {len(train)} + {len(test)} records; build them on this split")
        kinds.append(("encoder", encoder.heldout_train, encoder.heldout_test))
    scores = []
    for i, (name, X_train, X_test) in enumerate(kinds):
        progress(i, len(kinds) + 1, "scoring the classifier on held-out records")
        scores.append(score_classifier(X_train, y[heldout.train], X_test, y[heldout.test], vectors=name, C=C,
                                       thresholds=thresholds))
    choice = predict_with
    if predict_with == "auto":
        best = max(scores, key=lambda s: (s.accuracy, _TIE_ORDER[s.vectors]))
        predict_with = best.vectors
    features = {"raw": lambda: raw, "tuned": lambda: np.asarray(tuned, dtype=np.float32),
                "encoder": lambda: np.asarray(encoder.every_record, dtype=np.float32)}[predict_with]()
    unlabeled = np.setdiff1d(np.arange(raw.shape[0]), heldout.positions)
    if len(unlabeled):
        model = fit_classifier(features[heldout.positions], y, C=C)
        proba = model.predict_proba(features[unlabeled])
        predicted_labels = model.classes_[proba.argmax(axis=1)].astype(object)
        confidences = proba.max(axis=1)
    else:
        predicted_labels, confidences = np.array([], dtype=object), np.array([], dtype=float)
    progress(len(kinds) + 1, len(kinds) + 1, "scoring the classifier on held-out records")
    config = {"classifier": f"sklearn LogisticRegression(C={C}, max_iter={LOGREG_MAX_ITER})", "C": C,
              "thresholds": list(thresholds), "predict_with": predict_with, "predict_choice": choice,
              "split": heldout.describe(),
              "predictions_fitted_on": f"all {len(y)} labeled records"}
    if encoder is not None:
        config["encoder"] = encoder.config
    return Classification(scores, predict_with, unlabeled, predicted_labels, confidences, config,
                          time.perf_counter() - start)


# -- weak labels ------------------------------------------------------------------------------------------------
@dataclass
class WeakLabels:
    """Every record with its label: manual and weak labels as loaded, predictions for the unlabeled ones.

    ``sources[i]``: "manual", "weak" (a weak label that came with the data), "predicted", or "" (still
    unlabeled: not exported); ``confidences[i]``: NaN for manual labels.
    """

    ids: list[str]
    texts: list[str]
    labels: list[str]
    confidences: np.ndarray
    sources: list[str]

    @classmethod
    def from_classification(cls, ids: Sequence[str], texts: Sequence[str], labels: Sequence[str | None],
                            sources: Sequence[str], confidences: np.ndarray, result: Classification) -> WeakLabels:
        out_labels = [None if lab is None else str(lab) for lab in labels]
        out_conf = np.array(confidences, dtype=float, copy=True)
        # a label without a recorded source was given by a person (Dataset.from_lists leaves none)
        out_sources = [("weak" if s == "weak" else "manual") if lab is not None else ""
                       for s, lab in zip(sources, out_labels)]
        for pos, label, confidence in zip(result.predicted, result.predicted_labels, result.confidences):
            out_labels[pos], out_conf[pos], out_sources[pos] = str(label), float(confidence), "predicted"
        for i, source in enumerate(out_sources):
            if source == "manual":
                out_conf[i] = math.nan
        return cls(list(map(str, ids)), list(texts), out_labels, out_conf, out_sources)

    def __len__(self) -> int:
        return len(self.ids)

    def predicted_count(self, above: float = 0.0) -> int:
        """Predicted labels with confidence above ``above``."""
        return int(sum(s == "predicted" and c > above for s, c in zip(self.sources, self.confidences)))


def confidence_text(value: float) -> str:
    """A confidence as refinery writes it: four decimals, as a string ("0.6220"); "" when there is none."""
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def export_weak_labels(weak: WeakLabels, path: str | Path, *, fmt: str | None = None, attribute: str = "text",
                       task: str = "likewise", min_confidence: float | None = None,
                       include_labeled: bool = True) -> dict[str, Any]:
    """Write records with their labels so a team can filter predictions by confidence and load them back.

    ``csv``/``jsonl``: columns ``id, text, label, confidence, label_source`` (confidence empty for manual
    labels), read back with ``load_records(path, label_column="label", confidence_column="confidence",
    confidence_threshold=0.7)``. ``refinery``: a JSON list with ``id``, ``<attribute>`` and the columns
    ``<attribute>__<task>__MANUAL``, ``__WEAK_SUPERVISION`` and ``__WEAK_SUPERVISION__confidence`` (a string
    like "0.6220"), read back with ``load_records(path)``. ``min_confidence`` drops predictions at or below
    it; ``include_labeled=False`` writes the predictions only. The file is written atomically.
    """
    from likewise.atomic import atomic_write, atomic_write_text

    path = Path(path)
    fmt = fmt or {"csv": "csv", "jsonl": "jsonl", "json": "refinery"}.get(path.suffix.lstrip(".").lower())
    if fmt not in WEAK_FORMATS:
        raise InputError(f"unknown weak-label format for {path.name}; use --format {' / '.join(WEAK_FORMATS)} "
                         "or the extension .csv, .jsonl or .json (refinery)")
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise InputError(f"min_confidence must be between 0 and 1, got {min_confidence}")
    if not attribute or "__" in attribute or not task or "__" in task:
        raise InputError(f"attribute {attribute!r} and task {task!r} must be non-empty and free of '__'")
    rows = []
    for i in range(len(weak)):
        source, label, confidence = weak.sources[i], weak.labels[i], float(weak.confidences[i])
        if label is None or (source != "predicted" and not include_labeled):
            continue
        if source == "predicted" and min_confidence is not None and not confidence > min_confidence:
            continue
        rows.append((i, source, label, confidence))
    if fmt == "refinery":
        prefix = f"{attribute}__{task}"
        records = [{"id": weak.ids[i], attribute: weak.texts[i],
                    f"{prefix}__MANUAL": label if source == "manual" else None,
                    f"{prefix}__WEAK_SUPERVISION": None if source == "manual" else label,
                    f"{prefix}__WEAK_SUPERVISION__confidence": None if source == "manual" else confidence_text(confidence)}
                   for i, source, label, confidence in rows]
        atomic_write_text(path, json.dumps(records, ensure_ascii=False, indent=1))
    else:
        import pandas as pd

        frame = pd.DataFrame({
            "id": [weak.ids[i] for i, *_ in rows],
            "text": [weak.texts[i] for i, *_ in rows],
            "label": [label for _, _, label, _ in rows],
            "confidence": [confidence_text(c) for *_, c in rows],
            "label_source": [source for _, source, _, _ in rows],
        })
        if fmt == "csv":
            atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8"))
        else:
            atomic_write(path, lambda tmp: frame.to_json(tmp, orient="records", lines=True, force_ascii=False))
    predicted = sum(source == "predicted" for _, source, _, _ in rows)
    return {"path": str(path), "format": fmt, "records": len(rows), "predicted": int(predicted),
            "labeled": len(rows) - int(predicted), "attribute": attribute, "task": task,
            "min_confidence": min_confidence}
