"""``method="auto"``: choose, by cross-validation inside the labeled records, the map that fits the data.

Candidates (:data:`CANDIDATES`, cheapest first): the untouched vectors (``identity``), the class-centroid map
(``centroids``), LDA without and with shrinkage (``lda``, ``lda_shrinkage``; :mod:`.closed_form`), likewise's
trained default head (``head``) and the reference recipe (``reference``). Encoder fine-tuning is a further
candidate that :mod:`likewise.ops.tune` adds when the data asks for it (it needs the texts, not vectors).

How the choice is made (:func:`select_method`), using the labeled records only — never a held-out test set:

1. Repeated stratified 2-fold splits of the labeled records (``SELECTION_REPEATS`` shuffles at most, fewer
   for large label sets: until about ``SELECTION_MIN_QUERIES`` validation queries). Both halves are used as
   validation in turn.
2. Each candidate is fitted on one half and applied to the other; the score is top_k *among the validation
   records* (each a query and a candidate, itself excluded) with ``k = min(k, median validation class size
   - 1)``: the held-out protocol of ``likewise evaluate`` in miniature, so a map that only collapses its own
   training records (LDA with few labels) is not rewarded.
3. The candidate with the best mean score wins if it beats ``identity`` by more than ``min_gain`` and by
   more than one standard error of its paired per-split gain (so labels the vectors carry no signal for
   do not pick a map by chance); otherwise the identity is kept and the result says so. Ties go to the
   earlier (cheaper) candidate.
4. The winner is fitted again on all labeled records.

Every candidate's mean, min and max validation score and fit seconds are kept (:class:`Selection`), saved in
``tuner.json`` and the model card. A ``time_budget`` (seconds) skips the candidates not yet tried when it is
spent, and says which.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.progress import Progress, no_progress
from likewise.tuning.heads import Head, IdentityHead
from likewise.tuning.trainer import TrainConfig, score_among, standard_error, train_head, validation_k

SELECTION_MIN_QUERIES = 600
SELECTION_REPEATS = 3
"""Repeated 2-fold: up to ``SELECTION_REPEATS`` shuffles, stopping once about ``SELECTION_MIN_QUERIES``
validation queries have been scored (one shuffle of 600+ labeled records is enough)."""
SELECTION_LARGE = 1000
"""From this many labeled records on, one shuffle of stratified 5-fold (fit on 80%) replaces the 2-fold: on
half the labels a closed form such as LDA, which needs many records per dimension, looks worse than it is on
all of them (FOLDOC with 2,729 labels, bench/RESULTS.md), and 20% of 1,000+ records is a large enough
validation set."""
SELECTION_MIN_PER_CLASS = 4
"""Each half of a split needs 2 records per class to fit on and 2 to score: 4 per class in all."""

REFERENCE_OVERRIDES: dict[str, Any] = {
    "head": "skip", "head_options": {"gate_init": -4.0}, "loss": "batch_hard_triplet",
    "loss_params": {"margin": 0.5}, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "epochs": 100,
    "patience": 10, "force": True,
}
"""The reference recipe as :class:`TrainConfig` fields (``likewise.tuning.REFERENCE_RECIPE``, kept as trained)."""


@dataclass
class Fitted:
    """A candidate fitted on some records: its head and, for trained heads, how training went."""

    head: Head
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    validation: dict[str, Any] = field(default_factory=dict)
    kept_identity: bool = False
    message: str = ""


FitCandidate = Callable[[np.ndarray, np.ndarray, TrainConfig, Progress], Fitted]
"""(X, int class codes, the Tuner's training config, progress) -> a fitted candidate."""


def _identity(X: np.ndarray, y: np.ndarray, config: TrainConfig, progress: Progress) -> Fitted:
    return Fitted(IdentityHead(X.shape[1]))


def _centroids(X: np.ndarray, y: np.ndarray, config: TrainConfig, progress: Progress) -> Fitted:
    from likewise.tuning.closed_form import centroid_head

    return Fitted(centroid_head(X, y))


def _lda(shrinkage: bool) -> FitCandidate:
    def fit(X: np.ndarray, y: np.ndarray, config: TrainConfig, progress: Progress) -> Fitted:
        from likewise.tuning.closed_form import lda_head

        return Fitted(lda_head(X, y, shrinkage=shrinkage))

    return fit


def _trained(overrides: dict[str, Any]) -> FitCandidate:
    def fit(X: np.ndarray, y: np.ndarray, config: TrainConfig, progress: Progress) -> Fitted:
        result = train_head(X, y, replace(config, **overrides), progress=progress)
        return Fitted(result.head, result.history, result.best_epoch, result.validation, result.kept_identity,
                      result.message)

    return fit


CANDIDATES: dict[str, tuple[str, FitCandidate]] = {
    "identity": ("the pretrained vectors, untouched", _identity),
    "centroids": ("class-centroid map: W = I + 3 U U^T over the centroids' span", _centroids),
    "lda": ("LDA projection (scikit-learn's default solver)", _lda(False)),
    "lda_shrinkage": ("LDA with Ledoit-Wolf shrinkage (solver eigen, shrinkage auto)", _lda(True)),
    "head": ("likewise's trained head (linear, centroid start, supervised contrastive)", _trained({})),
    "reference": ("the reference recipe: skip head, batch-hard triplet, Adam 1e-3", _trained(REFERENCE_OVERRIDES)),
}
"""Candidate name -> (description, fit). ``Tuner(method=name)`` fits one of them directly."""
METHODS: tuple[str, ...] = ("auto", *CANDIDATES)


@dataclass
class Selection:
    """How ``auto`` chose: every candidate's validation top_k over the splits, and the winner."""

    chosen: str
    #: name -> {"mean", "min", "max", "seconds" (total fit time over the splits)}, or {"skipped": why}
    scores: dict[str, dict[str, Any]]
    k: int
    splits: int
    strategy: str
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def selection_splits(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validation) positions: repeated stratified 2-fold, both halves validating in turn (5-fold from
    ``SELECTION_LARGE`` labeled records on, when every class has 10)."""
    from sklearn.model_selection import StratifiedKFold

    if len(y) >= SELECTION_LARGE and np.bincount(y).min() >= 10:
        splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        return [(np.sort(a), np.sort(b)) for a, b in splitter.split(np.zeros(len(y)), y)]
    repeats = max(1, min(SELECTION_REPEATS, math.ceil(SELECTION_MIN_QUERIES / len(y))))
    splits = []
    for repeat in range(repeats):
        splitter = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed + repeat)
        splits += [(np.sort(a), np.sort(b)) for a, b in splitter.split(np.zeros(len(y)), y)]
    return splits


SELECTION_MIN_MEAN_PER_CLASS = 40
"""Below this many labeled records per class on average, ``auto`` trains the default head instead of
comparing: with fewer, the cross-validated scores are too noisy to choose by, and the head was the best or
tied single method at every such budget of the development seeds (bench/RESULTS.md, "Quality on data nobody
tuned for": drug reviews at 100 labels, 33 per class, auto's choice 50.5 vs the head's 52.7; BBC News at 25,
FOLDOC at 100 and 250, drug reviews at 25: the head best or tied)."""


def can_select(y: np.ndarray) -> bool:
    """Whether there are enough labels per class to compare candidates at all (``SELECTION_MIN_PER_CLASS``)."""
    return int(np.bincount(y).min()) >= SELECTION_MIN_PER_CLASS


def worth_selecting(y: np.ndarray) -> bool:
    """Whether a comparison can be trusted: enough records in every class (:func:`can_select`) and
    ``SELECTION_MIN_MEAN_PER_CLASS`` per class on average."""
    counts = np.bincount(y)
    counts = counts[counts > 0]
    return can_select(y) and float(counts.mean()) >= SELECTION_MIN_MEAN_PER_CLASS


def select_method(
    X: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    *,
    candidates: tuple[str, ...] = tuple(CANDIDATES),
    time_budget: float | None = None,
    progress: Progress = no_progress,
) -> Selection:
    """Score each candidate by cross-validation on (X, int codes y) and pick one (see the module docstring)."""
    unknown = [c for c in candidates if c not in CANDIDATES]
    if unknown:
        raise InputError(f"unknown candidate(s) {', '.join(unknown)}; choose from {', '.join(CANDIDATES)}")
    if "identity" not in candidates:
        candidates = ("identity", *candidates)
    if not can_select(y):
        smallest = int(np.bincount(y).min())
        raise InputError(
            f"choosing a method needs at least {SELECTION_MIN_PER_CLASS} labeled records per class (the smallest "
            f"has {smallest}); label more, or pick a method (--method head)"
        )
    start = time.perf_counter()
    splits = selection_splits(y, config.seed)
    k = min(validation_k(config.k, y[val]) for _, val in splits)
    scores: dict[str, dict[str, Any]] = {}
    per_split: dict[str, np.ndarray] = {}
    for c_index, name in enumerate(candidates):
        if time_budget is not None and time.perf_counter() - start > time_budget and name != "identity":
            scores[name] = {"skipped": f"the time budget of {time_budget:g} s was spent"}
            continue
        fit = CANDIDATES[name][1]
        values, seconds = [], 0.0
        for s_index, (train, val) in enumerate(splits):
            t0 = time.perf_counter()
            try:
                fitted = fit(X[train], y[train], replace(config, force=True), no_progress)
            except np.linalg.LinAlgError as exc:  # a closed form on degenerate vectors: not a candidate here
                values = []
                scores[name] = {"skipped": f"could not be fitted: {exc}"}
                break
            seconds += time.perf_counter() - t0
            values.append(score_among(fitted.head.transform(X[val]), y[val], k))
            progress(c_index * len(splits) + s_index + 1, len(candidates) * len(splits),
                     f"choosing a method: {name}, split {s_index + 1} of {len(splits)}")
        if not values:
            continue
        per_split[name] = np.asarray(values)
        scores[name] = {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values)),
                        "seconds": round(seconds, 3)}
    scored = [n for n in candidates if "mean" in scores[n]]
    best = max(scored, key=lambda n: (scores[n]["mean"], -scored.index(n)))
    identity = scores["identity"]["mean"]
    message = ""
    if best != "identity":
        gain = per_split[best] - per_split["identity"]
        if gain.mean() <= max(config.min_gain, standard_error(gain)):
            best = "identity"
    if best == "identity":
        message = (f"no method beats the untouched vectors on cross-validation (top_{k} {identity:.3f}), so the "
                   "identity is kept; label more records")
    folds = 5 if len(splits) == 5 and len(y) >= SELECTION_LARGE else 2
    strategy = f"stratified {folds}-fold ({len(splits)} fits per candidate), top_{k} among validation records"
    return Selection(best, scores, int(k), len(splits), strategy, message)
