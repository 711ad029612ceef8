"""Held-out evaluation: splits by seed, label budgets, methods compared on records training never saw.

Protocol (the same everywhere: ``likewise evaluate``, ``likewise demo``, ``bench/quality.py``, the report):

1. The labeled records are split, stratified by class, into a training pool and a held-out test set
   (``test_size``, default 40%) by ``seed``.
2. A label budget ``b`` draws ``b`` records from the training pool, stratified, at least 2 per class (the
   minimum for similarity learning); ``"all"`` takes the whole pool.
3. Each method is fitted on the budget only and applied to the test records (likewise's default also sees the
   vectors, not the labels, of the unlabeled records: the training pool outside the budget and records with
   no label at all, never the test records; :mod:`likewise.tuning.self_training`); retrieval metrics
   (:func:`likewise.metrics.evaluate`) are computed among the test records (every test record is a query and
   a candidate, itself excluded), plus the accuracy of a logistic regression trained on the budget's
   vectors and scored on the test records. Training records are never scored.

:func:`make_heldout` is the same split for one seed and budget, with the tuned vectors of a head trained on
the training records only (:class:`HeldOut`): what the classifier, the 2D maps and the report score on.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from likewise.errors import InputError, unknown_name
from likewise.labels import MIN_PER_CLASS, check_labels, labeled_arrays
from likewise.progress import Progress, no_progress

DEFAULT_BUDGETS: tuple[int | str, ...] = (25, 50, 100, 250, "all")
LOGREG_MAX_ITER = 2000


# -- splits and budgets ---------------------------------------------------------------------------------------
def holdout_split(y: np.ndarray, *, test_size: float = 0.4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train_pool, test) positions into ``y``; each class keeps at least 2 records on each side."""
    from sklearn.model_selection import train_test_split

    check_labels(y)
    classes, counts = np.unique(y, return_counts=True)
    small = classes[counts < 2 * MIN_PER_CLASS]
    if len(small):
        raise InputError(
            f"{len(small)} class(es) have fewer than {2 * MIN_PER_CLASS} labeled records ({', '.join(map(str, small[:10]))}); "
            "a held-out evaluation needs 2 to train on and 2 to score per class"
        )
    if not 0 < test_size < 1:
        raise InputError(f"test size must be between 0 and 1, got {test_size}")
    positions = np.arange(len(y))
    train, test = train_test_split(positions, test_size=test_size, random_state=seed, stratify=y)
    return np.sort(train), np.sort(test)


def sample_budget(y: np.ndarray, pool: np.ndarray, budget: int | str, *, seed: int = 0) -> np.ndarray:
    """``budget`` positions from ``pool`` (positions into ``y``), stratified, at least 2 per class.

    Classes get ``max(2, round(budget * share))`` records, trimmed from the largest classes to hit the
    budget exactly; ``"all"`` returns the pool.
    """
    if budget == "all":
        return np.sort(pool)
    budget = int(budget)
    classes, counts = np.unique(y[pool], return_counts=True)
    if budget < MIN_PER_CLASS * len(classes):
        raise InputError(
            f"a budget of {budget} labeled records is too small for {len(classes)} classes; "
            f"use at least {MIN_PER_CLASS * len(classes)} ({MIN_PER_CLASS} per class)"
        )
    if budget >= len(pool):
        return np.sort(pool)
    rng = np.random.default_rng(seed)
    share = counts / counts.sum()
    take = np.maximum(MIN_PER_CLASS, np.round(budget * share).astype(int))
    take = np.minimum(take, counts)
    while take.sum() > budget:
        i = int(np.argmax(np.where(take > MIN_PER_CLASS, take, -1)))
        take[i] -= 1
    while take.sum() < budget:
        room = counts - take
        i = int(np.argmax(np.where(room > 0, share * budget - take, -np.inf)))
        take[i] += 1
    chosen = [rng.choice(pool[y[pool] == c], size=t, replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def unlabeled_positions(positions: np.ndarray, pool: np.ndarray, train: np.ndarray, n_records: int) -> np.ndarray:
    """Record positions a method may see without their labels (self-training): the training pool outside the
    budget and the records with no label at all; never a held-out test record.

    ``positions``: record positions of the labeled records; ``pool`` and ``train`` index into them (as
    :func:`holdout_split` and :func:`sample_budget` return); ``n_records``: all records.
    """
    no_label = np.setdiff1d(np.arange(n_records), positions)
    return np.sort(np.concatenate([positions[np.setdiff1d(pool, train)], no_label]))


# -- the held-out protocol ------------------------------------------------------------------------------------
@dataclass
class HeldOut:
    """The evaluation's split of the labeled records, and tuned vectors from a head that never saw the test ones.

    ``positions``: record positions of the labeled records; ``y``: their labels. ``train`` and ``test`` index
    into ``positions``/``y``. ``tuned``: vectors for *every* record from a head trained on ``y[train]`` only
    (None when no tuning was asked for).
    """

    positions: np.ndarray
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    seed: int
    test_size: float
    budget: int | str
    tuned: np.ndarray | None = None
    tuner_config: dict[str, Any] = field(default_factory=dict)
    tune_seconds: float = 0.0
    tuned_on: int = 0  # labeled records the held-out head was trained on (== len(train))

    @property
    def train_records(self) -> np.ndarray:
        """Record positions of the training records."""
        return self.positions[self.train]

    @property
    def test_records(self) -> np.ndarray:
        """Record positions of the held-out records."""
        return self.positions[self.test]

    def describe(self) -> dict[str, Any]:
        return {"seed": self.seed, "test_size": self.test_size, "budget": str(self.budget),
                "train_records": int(len(self.train)), "test_records": int(len(self.test)),
                "tuned_by": "a head trained on the training records only" if self.tuned is not None else None,
                "tuner_config": self.tuner_config, "tune_seconds": round(self.tune_seconds, 3),
                "tuned_on_records": self.tuned_on}


def make_heldout(
    raw: np.ndarray,
    labels: Sequence[Hashable | None],
    *,
    seed: int = 0,
    test_size: float = 0.4,
    budget: int | str = "all",
    tune: bool = True,
    tuner_options: dict[str, Any] | None = None,
    within: np.ndarray | None = None,
    progress: Progress = no_progress,
) -> HeldOut:
    """Split the labeled records as ``likewise evaluate`` does and, with ``tune``, train a head on the
    training records only (``Tuner(**tuner_options, seed=seed)``) and apply it to every record.

    ``within`` (sorted record positions, e.g. a map's sample of a large dataset): the result describes those
    records only, in that order (its positions index ``within``, its tuned vectors are theirs); each keeps
    the side of the split it has in the full evaluation.
    """
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 2 or raw.shape[0] != len(labels):
        raise InputError(f"{raw.shape[0] if raw.ndim else 0} vectors for {len(labels)} records; they must match")
    positions, y = labeled_arrays(labels)
    pool, test = holdout_split(y, test_size=test_size, seed=seed)
    train = sample_budget(y, pool, budget, seed=seed)
    if within is not None:
        within = np.asarray(within, dtype=np.int64)
        index_of = np.full(len(labels), -1, dtype=np.int64)
        index_of[within] = np.arange(len(within))
        keep = index_of[positions] >= 0
        renumber = np.cumsum(keep) - 1
        train, test = renumber[train[keep[train]]], renumber[test[keep[test]]]
        positions, y, raw = index_of[positions[keep]], y[keep], raw[within]
        if len(np.unique(y[train])) < 2 or len(test) < 2:
            raise InputError(f"the {len(within):,} records kept hold {len(train)} training and {len(test)} held-out "
                             "labeled records; keep more records (a larger --max-points)")
    heldout = HeldOut(positions, y, train, test, seed, test_size, budget)
    if tune:
        from likewise.tuning import Tuner

        options = {**(tuner_options or {}), "seed": seed}
        start = time.perf_counter()
        tuner = Tuner(**options).fit(raw[positions[train]], y[train], progress=progress)
        heldout.tuned = np.asarray(tuner.transform(raw), dtype=np.float32)
        heldout.tune_seconds = time.perf_counter() - start
        heldout.tuned_on = int(len(train))
        heldout.tuner_config = _plain(tuner.get_params())
    return heldout


# -- methods ----------------------------------------------------------------------------------------------------
class FitApply(Protocol):
    """``(X_train, y_train, X_apply, seed, k, *, X_unlabeled=None)`` -> vectors for ``X_apply``.
    ``X_unlabeled``: vectors of records whose labels the method may not see (only methods that self-train
    use them)."""

    def __call__(self, X_train: np.ndarray, y_train: np.ndarray, X_apply: np.ndarray, seed: int, k: int, *,
                 X_unlabeled: np.ndarray | None = None) -> np.ndarray: ...


def _raw(X_train: np.ndarray, y_train: np.ndarray, X_apply: np.ndarray, seed: int, k: int, *,
         X_unlabeled: np.ndarray | None = None) -> np.ndarray:
    return X_apply


def _tuner(*, unlabeled: bool = False, **overrides: Any) -> FitApply:
    """A Tuner with ``overrides``; with ``unlabeled``, fitted on the unlabeled rows too (missing labels), else
    on the budget alone with self-training off."""

    def fit_apply(X_train: np.ndarray, y_train: np.ndarray, X_apply: np.ndarray, seed: int, k: int, *,
                  X_unlabeled: np.ndarray | None = None) -> np.ndarray:
        from likewise.tuning import Tuner

        kwargs = {"seed": seed, "k": k, **overrides}
        if not unlabeled or X_unlabeled is None or len(X_unlabeled) == 0:
            return Tuner(**{"self_training": 0, **kwargs}).fit(X_train, y_train).transform(X_apply)
        X = np.concatenate([X_train, X_unlabeled])
        y = [*y_train, *([None] * len(X_unlabeled))]
        return Tuner(**kwargs).fit(X, y).transform(X_apply)

    return fit_apply


def _reference(X_train: np.ndarray, y_train: np.ndarray, X_apply: np.ndarray, seed: int, k: int, *,
               X_unlabeled: np.ndarray | None = None) -> np.ndarray:
    from likewise.tuning import REFERENCE_RECIPE

    return _tuner(**{**REFERENCE_RECIPE, "force": True})(X_train, y_train, X_apply, seed, k, X_unlabeled=X_unlabeled)


def _lda(shrinkage: bool) -> FitApply:
    def fit_apply(X_train: np.ndarray, y_train: np.ndarray, X_apply: np.ndarray, seed: int, k: int, *,
                  X_unlabeled: np.ndarray | None = None) -> np.ndarray:
        from likewise.tuning import lda_baseline

        return lda_baseline(X_train, y_train, X_apply, shrinkage=shrinkage)

    return fit_apply


METHODS: dict[str, tuple[str, FitApply]] = {
    "raw": ("the pretrained vectors, untouched", _raw),
    "reference": ("the reference recipe: skip head, batch-hard triplet (cosine, margin 0.5), Adam 1e-3", _reference),
    "lda": ("scikit-learn LinearDiscriminantAnalysis projection", _lda(False)),
    "lda_shrinkage": ("LinearDiscriminantAnalysis with Ledoit-Wolf shrinkage (solver eigen)", _lda(True)),
    "centroids": ("the class-centroid map W = I + 3 U U^T, no training", _tuner(method="centroids")),
    "head": ("likewise's trained head alone, on the budget only: Tuner(method='head', self_training=0)",
             _tuner(method="head")),
    "auto_labeled": ("Tuner(method='auto') on the budget only, no self-training", _tuner(method="auto")),
    "likewise": ("likewise's default, `likewise tune`: Tuner(method='auto'), self-training on the unlabeled records",
                 _tuner(method="auto", unlabeled=True)),
}


def get_method(name: str) -> FitApply:
    if name not in METHODS:
        raise unknown_name("method", name, METHODS)
    return METHODS[name][1]


# -- running -----------------------------------------------------------------------------------------------------
@dataclass
class EvalRow:
    """One (method, budget, seed) cell: metrics on the held-out test records."""

    method: str
    budget: int | str
    seed: int
    train_records: int
    test_records: int
    k: int
    metrics: dict[str, float]
    seconds: float


@dataclass
class EvaluationResult:
    rows: list[EvalRow] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        """Mean, min, max and standard deviation of every metric per (method, budget), over seeds."""
        cells: dict[tuple[str, str], list[EvalRow]] = {}
        for row in self.rows:
            cells.setdefault((row.method, str(row.budget)), []).append(row)
        out = []
        for (method, budget), rows in cells.items():
            entry: dict[str, Any] = {"method": method, "budget": budget, "seeds": len(rows),
                                     "train_records": int(np.mean([r.train_records for r in rows])),
                                     "seconds": float(np.mean([r.seconds for r in rows]))}
            for metric in rows[0].metrics:
                values = np.array([r.metrics[metric] for r in rows], dtype=float)
                entry[metric] = {"mean": float(values.mean()), "min": float(values.min()),
                                 "max": float(values.max()), "std": float(values.std())}
            out.append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "summary": self.summary(), "rows": [asdict(r) for r in self.rows]}


def fit_classifier(X: np.ndarray, y: np.ndarray, *, C: float = 1.0):
    """The one logistic regression likewise fits to compare vectors: scikit-learn's
    ``LogisticRegression(C=C, max_iter=LOGREG_MAX_ITER)`` on ``X``, ``y``, BLAS held to one thread.

    ``C=1`` (scikit-learn's default) is the evaluation's accuracy probe (``logreg_accuracy``);
    :mod:`likewise.classify` passes its own ``C`` (10 by default, for calibrated confidences).
    """
    from sklearn.linear_model import LogisticRegression

    from likewise.neighbors import single_threaded

    if C <= 0:
        raise InputError(f"the classifier's C (inverse regularisation) must be positive, got {C}")
    # lbfgs runs many small BLAS calls: one thread is much faster than two spinning on a shared machine
    with single_threaded():
        return LogisticRegression(C=C, max_iter=LOGREG_MAX_ITER).fit(X, y)


def logistic_accuracy(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray) -> float:
    """Accuracy on the test records of :func:`fit_classifier` (``C=1``) fitted on the training records."""
    model = fit_classifier(X_train, y_train)
    return float((model.predict(X_test) == y_test).mean())


def evaluate_methods(
    X: np.ndarray,
    labels: Sequence[Hashable | None],
    *,
    methods: Sequence[str] = ("raw", "reference", "lda", "lda_shrinkage", "likewise"),
    budgets: Sequence[int | str] = DEFAULT_BUDGETS,
    seeds: Sequence[int] = (0, 1, 2),
    k: int = 100,
    test_size: float = 0.4,
    metric_names: Sequence[str] | None = None,
    with_classifier: bool = True,
    progress: Progress = no_progress,
) -> EvaluationResult:
    """Every method x budget x seed, fitted on the budget, scored on the held-out test records.

    ``X`` holds one vector per record; ``k`` is capped at the number of test records minus one. Methods that
    self-train see, unlabeled, the training pool outside the budget and the records with no label (never
    the test records). Budgets larger than the training pool are skipped (``"all"`` covers them) and
    named in ``config["skipped_budgets"]`` (budget -> the pool size) so callers can say so.
    """
    from likewise.metrics import evaluate as retrieval_metrics

    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != len(labels):
        raise InputError(f"{X.shape[0] if X.ndim else 0} vectors for {len(labels)} labels; they must match")
    for name in methods:
        get_method(name)
    positions, y = labeled_arrays(labels)
    check_labels(y)
    result = EvaluationResult(config={"methods": list(methods), "budgets": [str(b) for b in budgets],
                                      "seeds": list(seeds), "k": k, "test_size": test_size,
                                      "labeled_records": int(len(y))})
    total = len(seeds) * len(budgets) * len(methods)
    done = 0
    for seed in seeds:
        pool, test = holdout_split(y, test_size=test_size, seed=seed)
        X_test, y_test = X[positions[test]], y[test]
        k_eff = min(k, len(test) - 1)
        for budget in budgets:
            if budget != "all" and int(budget) >= len(pool):
                skipped = result.config.setdefault("skipped_budgets", {})
                skipped[str(budget)] = min(skipped.get(str(budget), len(pool)), int(len(pool)))
                done += len(methods)
                continue
            train = sample_budget(y, pool, budget, seed=seed)
            X_train, y_train = X[positions[train]], y[train]
            X_unlabeled = X[unlabeled_positions(positions, pool, train, len(labels))]
            for name in methods:
                start = time.perf_counter()
                fit_apply = get_method(name)
                Z = fit_apply(X_train, y_train, np.concatenate([X_train, X_test]), seed, k_eff, X_unlabeled=X_unlabeled)
                seconds = time.perf_counter() - start
                Z_train, Z_test = Z[: len(train)], Z[len(train):]
                metrics = retrieval_metrics(Z_test, y_test, k_eff, metrics=metric_names)
                if with_classifier:
                    metrics["logreg_accuracy"] = logistic_accuracy(Z_train, y_train, Z_test, y_test)
                result.rows.append(EvalRow(name, budget, seed, len(train), len(test), k_eff, metrics, seconds))
                done += 1
                progress(done, total, f"evaluating {name}, budget {budget}, seed {seed}")
    return result


def _plain(value: Any) -> Any:
    """JSON-friendly copy (numpy scalars to Python)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
