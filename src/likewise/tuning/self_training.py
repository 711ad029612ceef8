"""Self-training: the unlabeled records' vectors as extra, pseudo-labeled training records.

A workspace holds the vectors of every record, labeled or not. With few labels (5 per class), a map fitted on
the labels already places most unlabeled records near the right class centre; fitting the map again on the
labels *plus* the unlabeled records it places most confidently gives it many more records per class to learn
the class geometry from. Following scikit-learn's semi-supervised convention, unlabeled records are rows of
``X`` whose label is missing (:func:`likewise.labels.is_missing_label`); ``Tuner.fit`` passes them here.

One round (:func:`pseudo_labels`):

1. Map the labeled and unlabeled vectors with the current head; each class's centre is the normalised mean of
   its labeled records' mapped vectors.
2. Each unlabeled record gets the class of its nearest centre (cosine) and a confidence: the margin of that
   similarity over the second nearest centre's.
3. Per class, the ``PSEUDO_LABEL_SHARE`` of the records assigned to it with the widest margins are kept
   (per class, so a dominant class cannot crowd out the others).

The map is then fitted again, by the same method, on the labeled records plus the kept ones; that repeats
``SELF_TRAINING_ROUNDS`` times, each round pseudo-labeling from the previous round's map. The held-out test
records of an evaluation are never among the unlabeled ones (:mod:`likewise.evaluation`).

Wrong pseudo-labels teach the map the wrong classes: on Rotten Tomatoes (sentiment, 62-72% of the kept
pseudo-labels right) self-training fell 1.5 points below the untouched vectors on one development seed. So it
runs only when the pseudo-labels are expected to be right (:func:`estimated_precision` less one standard
error, :func:`precision_lower_bound`, at least ``SELF_TRAINING_MIN_PRECISION``): the same rule applied inside the labeled records, by cross-validation
(class-centroid map fitted on the training folds, pseudo-labels for the held-out fold, the share right among
the kept ones). No training is needed for that estimate.

Measured in bench/RESULTS.md ("Quality on data nobody tuned for", "Self-training on the unlabeled records"):
on BBC News with 25 labels, 97-98% of the kept pseudo-labels are right and held-out top_100 rises from 82.5 to
about 91 (development seeds); on drug reviews by rating only 55-65% are right and the result stays about
where the head alone is.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likewise.progress import Progress, no_progress
from likewise.tuning.heads import Head

PSEUDO_LABEL_SHARE = 0.5
"""Share of the unlabeled records assigned to a class that are kept, widest margins first (0.5 beat 0.8 on
the development seeds at 25 labels: fewer, surer pseudo-labels)."""
SELF_TRAINING_ROUNDS = 2
"""Rounds of pseudo-labeling and refitting the ``Tuner`` runs by default when it is given unlabeled rows."""
SELF_TRAINING_MAX_UNLABELED = 20_000
"""At most this many unlabeled records (a seeded random sample) are pseudo-labeled, so a workspace of a million
records refits on tens of thousands, not hundreds of thousands (the bundled sets' pools are all below it)."""
SELF_TRAINING_MIN_PRECISION = 0.8
"""Self-training runs only when :func:`estimated_precision` less one standard error
(:func:`precision_lower_bound`) is at least this. Chosen so that it runs only where its pseudo-labels are
mostly right: on the development seeds 0-2 the estimate was 0.90-1.00 on BBC News (25-250 labels;
self-training +6 to +9 points at 25 labels), 0.80-0.92 on drug conditions from 100 labels, 0.52-0.78 on
Rotten Tomatoes, 0.65-0.72 on FOLDOC at 250 labels and 0.34-0.59 on drug reviews. A bar of 0.65 let Rotten Tomatoes at 25
labels through on one of the fresh seeds 3-5 (on the point estimate) and, less one standard error, still on one
of the fresh seeds 6-8; self-training then fell 2.7 and 2.4 points below the untouched vectors (bench/RESULTS.md); at 0.8 it is off
on Rotten Tomatoes but for some 250-label seeds, off on FOLDOC and drug reviews, on for BBC News and most
drug-conditions seeds (the gains it gives up: about +0.5-2 points on Rotten Tomatoes and FOLDOC at 100-250)."""


def _normalise(Z: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.maximum(norms, 1e-12)


def pseudo_labels(
    Z_labeled: np.ndarray, y: np.ndarray, Z_unlabeled: np.ndarray, *, share: float = PSEUDO_LABEL_SHARE
) -> tuple[np.ndarray, np.ndarray]:
    """(positions into ``Z_unlabeled``, their class codes): nearest labeled class centre, and per class the
    ``share`` of its assigned records with the widest margin over the second nearest centre.

    ``Z_*`` are mapped vectors, ``y`` int class codes 0..C-1 of the labeled rows (every class present).

    >>> Z_l = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> Z_u = np.array([[1.0, 0.05], [0.6, 0.5], [0.05, 1.0], [0.45, 0.55]])
    >>> pseudo_labels(Z_l, np.array([0, 0, 1, 1]), Z_u)
    (array([0, 2]), array([0, 1]))
    """
    classes = int(y.max()) + 1
    centres = _normalise(np.stack([_normalise(Z_labeled[y == c]).mean(axis=0) for c in range(classes)]))
    sims = _normalise(Z_unlabeled) @ centres.T  # shape: (unlabeled, classes)
    assigned = sims.argmax(axis=1)
    top2 = np.sort(sims, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    keep = []
    for c in range(classes):
        members = np.flatnonzero(assigned == c)
        n = int(round(share * len(members)))
        keep.append(members[np.argsort(-margin[members], kind="stable")[:n]])
    positions = np.sort(np.concatenate(keep)).astype(np.int64)
    return positions, assigned[positions].astype(np.int64)


def pseudo_label_trials(X: np.ndarray, y: np.ndarray, seed: int, *, share: float = PSEUDO_LABEL_SHARE
                        ) -> tuple[int, int]:
    """(right, kept): :func:`pseudo_labels` tried on the labeled records (``X``, int codes ``y``): for each split of
    :func:`likewise.tuning.trainer.stratified_folds`, the class-centroid map is fitted on the training folds and
    the held-out fold is pseudo-labeled as if it were unlabeled; the kept pseudo-labels and how many are right."""
    from likewise.tuning.closed_form import centroid_head
    from likewise.tuning.trainer import stratified_folds

    right = kept_total = 0
    for train, val in stratified_folds(y, seed):
        codes_train = np.unique(y[train], return_inverse=True)[1]
        classes = np.unique(y[train])
        head = centroid_head(X[train], codes_train)
        kept, codes = pseudo_labels(head.transform(X[train]), codes_train, head.transform(X[val]), share=share)
        right += int((classes[codes] == y[val][kept]).sum())
        kept_total += len(kept)
    return right, kept_total


def estimated_precision(X: np.ndarray, y: np.ndarray, seed: int, *, share: float = PSEUDO_LABEL_SHARE) -> float:
    """The share of right labels among the pseudo-labels :func:`pseudo_labels` would keep, estimated on the
    labeled records (:func:`pseudo_label_trials`); 0 when none would be kept."""
    right, kept = pseudo_label_trials(X, y, seed, share=share)
    return right / kept if kept else 0.0


def precision_lower_bound(right: int, kept: int) -> float:
    """The estimated precision less one binomial standard error, ``p - sqrt(p (1 - p) / kept)``: what the gate
    compares with ``SELF_TRAINING_MIN_PRECISION``, so an estimate from a few dozen labeled records has to clear
    the bar by its own uncertainty (60 records at 67% right: 0.67 - 0.06 = 0.61). 0 when nothing was kept.

    >>> round(precision_lower_bound(40, 60), 3)
    0.606
    >>> precision_lower_bound(25, 25)
    1.0
    """
    if kept <= 0:
        return 0.0
    p = right / kept
    return float(p - np.sqrt(p * (1 - p) / kept))


@dataclass
class SelfTraining:
    """What self-training did: unlabeled records seen, the estimated precision of the pseudo-labels, and the
    records pseudo-labeled per round (none when the estimate was too low: ``skipped`` says why)."""

    unlabeled: int
    rounds: int
    share: float
    estimated_precision: float
    #: the estimate less one standard error (:func:`precision_lower_bound`), what the gate compares
    precision_lower_bound: float = 0.0
    #: per round: {"round", "pseudo_labeled", "per_class": [count per class code]}
    history: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"unlabeled": self.unlabeled, "rounds": self.rounds, "share": self.share,
                "estimated_precision": round(self.estimated_precision, 4),
                "precision_lower_bound": round(self.precision_lower_bound, 4), "history": self.history,
                "skipped": self.skipped}


def unlabeled_sample(n: int, seed: int, max_unlabeled: int = SELF_TRAINING_MAX_UNLABELED) -> np.ndarray:
    """Sorted positions of the seeded random sample of ``max_unlabeled`` of ``n`` unlabeled records that
    self-training uses (all of them when ``n`` is not larger)."""
    if n <= max_unlabeled:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_unlabeled, replace=False))


def self_train(
    fit: Callable[[np.ndarray, np.ndarray], Head],
    head: Head,
    X: np.ndarray,
    y: np.ndarray,
    X_unlabeled: np.ndarray,
    *,
    rounds: int = SELF_TRAINING_ROUNDS,
    share: float = PSEUDO_LABEL_SHARE,
    min_precision: float = SELF_TRAINING_MIN_PRECISION,
    max_unlabeled: int = SELF_TRAINING_MAX_UNLABELED,
    seed: int = 0,
    progress: Progress = no_progress,
) -> tuple[Head, SelfTraining]:
    """Starting from ``head`` (fitted on the labeled ``X``, ``y``), ``rounds`` times: pseudo-label
    ``X_unlabeled`` with the current head and refit with ``fit(X_rows, codes) -> Head`` on the labeled rows
    plus the kept ones (of at most ``max_unlabeled`` unlabeled records, sampled by ``seed``). Returns the last
    head and what was done; ``head`` itself when :func:`estimated_precision` is below ``min_precision``."""
    if len(X_unlabeled) > max_unlabeled:
        X_unlabeled = X_unlabeled[unlabeled_sample(len(X_unlabeled), seed, max_unlabeled)]
    right, kept_total = pseudo_label_trials(X, y, seed, share=share)
    precision = right / kept_total if kept_total else 0.0
    bound = precision_lower_bound(right, kept_total)
    report = SelfTraining(int(len(X_unlabeled)), int(rounds), float(share), precision, bound)
    if bound < min_precision:
        report.skipped = (f"pseudo-labels expected {100 * precision:.0f}% right (cross-validated on {kept_total} "
                          f"labeled records; {100 * bound:.0f}% less one standard error), below "
                          f"{100 * min_precision:.0f}%: the unlabeled records were not used")
        return head, report
    for r in range(rounds):
        kept, codes = pseudo_labels(head.transform(X), y, head.transform(X_unlabeled), share=share)
        counts = np.bincount(codes, minlength=int(y.max()) + 1)
        report.history.append({"round": r + 1, "pseudo_labeled": int(len(kept)),
                               "per_class": [int(n) for n in counts]})
        if len(kept) == 0:
            break
        progress(r + 1, rounds, f"self-training: round {r + 1} of {rounds}, {len(kept):,} of {len(X_unlabeled):,} "
                                "unlabeled records pseudo-labeled")
        head = fit(np.concatenate([X, X_unlabeled[kept]]), np.concatenate([y, codes]))
    return head, report
