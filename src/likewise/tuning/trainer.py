"""The training loop on cached embeddings: seeded, class-balanced batches, early stopping on validation data.

:func:`train_head` trains one head on labeled vectors and decides, on labeled records it did not train on,
whether the head beats the untouched vectors (the identity). How the number of epochs is chosen depends on
how many labels there are:

* ``"holdout"`` (at least ``HOLDOUT_MIN_RECORDS`` labeled records and ``HOLDOUT_MIN_PER_CLASS`` in every
  class): a stratified validation split (``val_fraction``) is carved from the labeled records and the head
  trains on the rest. After every epoch the validation top_k is measured with
  :func:`likewise.metrics.evaluate` on the validation records alone (queries and candidates, each excluded
  from its own neighbours: the held-out protocol in miniature) with ``k = min(k, median validation class
  size - 1)``; training stops after ``patience`` epochs without a gain and the best epoch's weights are
  restored.
* ``"cv"`` (fewer labels, e.g. 25 records in 5 classes, where a validation split holds a record or two per
  class, so that top_k among validation records would be noise): stratified k-fold cross-validation with
  ``min(5, smallest class)`` folds, repeated with fresh shuffles until there are ``CV_MIN_SPLITS`` splits
  or ``CV_MIN_QUERIES`` validation queries in all.
  In each split the held-out records are queries searched among the split's training records, with ``k =
  min(k, median training class size)``: how well a new record lands among the labeled records of its class.
  A split stops after ``patience`` epochs without a gain of ``CV_MIN_DELTA``. That score keeps creeping up
  after held-out quality has peaked (training records collapse onto their classes), so the number of epochs
  is the fewest whose mean score is within one standard error of the best (:func:`one_standard_error_epoch`);
  a final head then takes that many optimiser steps on *all* labeled records. The validation numbers
  reported are the splits' means. Measured against a fixed schedule and other scorings in
  bench/RESULTS.md ("Choosing epochs with few labels").

The head is kept only if it beats the identity on validation by more than ``min_gain``; otherwise the
result says so (``kept_identity`` and ``message``) and holds an identity head, unless ``force=True``.
Randomness comes from ``seed`` only: head initialisation under a forked torch RNG (the global one is left
untouched) and a numpy generator for batches and splits.
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from likewise.errors import InputError
from likewise.neighbors import single_threaded
from likewise.progress import Progress, no_progress
from likewise.tuning.heads import Head, IdentityHead, make_head
from likewise.tuning.losses import make_loss
from likewise.tuning.sampler import ClassBalancedSampler

HOLDOUT_MIN_RECORDS = 500
HOLDOUT_MIN_PER_CLASS = 10
"""With fewer labeled records (or fewer in some class), epochs are chosen by cross-validation."""
CV_FOLDS = 5
CV_MIN_SPLITS = 10
CV_MIN_QUERIES = 300
"""Cross-validation repeats k-fold with fresh shuffles until it has ``CV_MIN_SPLITS`` splits or has held out
``CV_MIN_QUERIES`` validation queries in all, whichever comes first (small sets get more repeats)."""
CV_MIN_DELTA = 0.002
"""A cross-validation split stops after ``patience`` epochs without a gain larger than this."""
DEVICE_ENV = "LIKEWISE_DEVICE"


@dataclass
class TrainConfig:
    """Everything that defines a training run (the Tuner's parameters, minus the data)."""

    head: str = "linear"
    head_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "supcon"
    loss_params: dict[str, Any] = field(default_factory=dict)
    k: int = 100
    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    m_per_class: int | None = None
    patience: int = 10
    val_fraction: float = 0.2
    validation: str = "auto"
    min_gain: float = 0.0
    seed: int = 0
    device: str | None = None
    force: bool = False


@dataclass
class TrainResult:
    """A trained head (or the identity) and how training went."""

    head: Head
    #: one dict per epoch: ``epoch``, ``loss`` (mean training loss), ``val_top_k``
    history: list[dict[str, float]]
    best_epoch: int
    #: validation top_k of the identity and of the trained head, the k used, validation records and strategy
    validation: dict[str, Any]
    kept_identity: bool
    message: str
    seconds: float


def resolve_train_device(device: str | None) -> torch.device:
    """``device``, else ``$LIKEWISE_DEVICE``, else the CPU: heads on cached vectors are fast on a CPU, so
    CUDA is used only when asked for (and refused with a clear message when it is not there)."""
    name = device or os.environ.get(DEVICE_ENV) or "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} was asked for but CUDA is not available here; use device='cpu'")
    if name not in {"cpu", "mps"} and not name.startswith("cuda"):
        raise InputError(f"unknown device {name!r}; use cpu, cuda or cuda:N")
    return torch.device(name)


def validation_k(k: int, y_val: np.ndarray) -> int:
    """The k of the holdout top_k: ``min(k, median validation class size - 1)``, at least 1 — as many
    neighbours as a typical class can fill among the validation records (a k beyond every class would only
    measure class sizes)."""
    return max(1, min(int(k), int(np.median(np.unique(y_val, return_counts=True)[1])) - 1))


def score_among(Z: np.ndarray, y: np.ndarray, k: int) -> float:
    """top_k of vectors ``Z`` among themselves, each record excluded from its own neighbours."""
    from likewise.metrics import evaluate

    return float(evaluate(Z, y, k, metrics=["top_k"])["top_k"])


def score_against(Z_query: np.ndarray, y_query: np.ndarray, Z_pool: np.ndarray, y_pool: np.ndarray, k: int) -> float:
    """top_k of held-out queries whose neighbours are searched among the training records ``Z_pool``."""
    from likewise.metrics import top_k_share
    from likewise.neighbors import topk

    idx, _ = topk(Z_query, k, Z_pool)
    return top_k_share(y_pool[idx], y_query)


def one_standard_error_epoch(curves: np.ndarray) -> int:
    """The fewest epochs whose mean score is within one standard error of the best mean (Breiman's rule).

    ``curves`` is (splits, epochs). Cross-validated curves are noisy and, scored against training records,
    keep creeping up long after held-out quality has peaked; the rule takes the earliest epoch that is
    statistically as good as the best.
    """
    mean = curves.mean(axis=0)
    best = int(np.argmax(mean))
    return int(np.flatnonzero(mean >= mean[best] - standard_error(curves[:, best]))[0]) + 1


def standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of ``values`` (sample standard deviation / sqrt(n)); 0 for one value."""
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def choose_strategy(y: np.ndarray, validation: str) -> str:
    """"holdout" with at least ``HOLDOUT_MIN_RECORDS`` labeled records and ``HOLDOUT_MIN_PER_CLASS`` in every
    class, else "cv" (or as asked)."""
    if validation not in {"auto", "holdout", "cv"}:
        raise InputError(f"unknown validation {validation!r}; choose from auto, holdout, cv")
    if validation != "auto":
        return validation
    enough = len(y) >= HOLDOUT_MIN_RECORDS and np.bincount(y).min() >= HOLDOUT_MIN_PER_CLASS
    return "holdout" if enough else "cv"


def stratified_folds(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) positions of stratified k-fold with ``k = min(CV_FOLDS, smallest class)``,
    repeated with fresh shuffles (see ``CV_MIN_SPLITS``)."""
    from sklearn.model_selection import StratifiedKFold

    n_folds = int(min(CV_FOLDS, np.bincount(y).min()))
    repeats = max(1, min(math.ceil(CV_MIN_SPLITS / n_folds), math.ceil(CV_MIN_QUERIES / len(y))))
    splits = []
    for repeat in range(repeats):
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed + repeat)
        splits += [(np.sort(a), np.sort(b)) for a, b in splitter.split(np.zeros(len(y)), y)]
    return splits


def holdout_positions(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) positions; each class keeps at least 2 records on each side."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n_val = min(len(members) - 2, max(2, round(fraction * len(members))))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


class _Run:
    """One head trained on one set of records, epoch by epoch."""

    def __init__(self, X: np.ndarray, y: np.ndarray, config: TrainConfig, device: torch.device, seed: int) -> None:
        cuda = []
        if device.type == "cuda":
            cuda = [device.index if device.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=cuda):  # seed the init without touching the caller's RNG state
            torch.manual_seed(seed)
            self.head = make_head(config.head, X.shape[1], **config.head_options).to(device)
        self.X = torch.as_tensor(X, dtype=torch.float32, device=device)
        self.y = torch.as_tensor(y, dtype=torch.int64, device=device)
        self.head.init_from_data(self.X, self.y)
        self.loss_fn = make_loss(config.loss, **config.loss_params).to(device)
        params = [p for p in list(self.head.parameters()) + list(self.loss_fn.parameters()) if p.requires_grad]
        self.optimizer = (
            torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay) if params else None
        )
        self.sampler = ClassBalancedSampler(y, batch_size=config.batch_size, m=config.m_per_class, seed=seed)

    def epoch(self) -> float:
        """One pass of class-balanced batches; returns the mean batch loss."""
        if self.optimizer is None:
            return 0.0
        self.head.train()
        losses = []
        for batch in self.sampler:
            index = torch.as_tensor(batch, device=self.X.device)
            loss = self.loss_fn(self.head(self.X[index]), self.y[index])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            losses.append(float(loss.detach()))
        return float(np.mean(losses))


def _fit_holdout(
    X: np.ndarray, y: np.ndarray, config: TrainConfig, device: torch.device, progress: Progress
) -> tuple[Head, list[dict[str, float]], int, dict[str, Any]]:
    train, val = holdout_positions(y, config.val_fraction, config.seed)
    k_val = validation_k(config.k, y[val])
    identity = score_among(X[val], y[val], k_val)
    run = _Run(X[train], y[train], config, device, config.seed)
    history: list[dict[str, float]] = []
    best, best_epoch, best_state, waited = -math.inf, 0, copy.deepcopy(run.head.state_dict()), 0
    for epoch in range(1, config.epochs + 1):
        loss = run.epoch()
        val_score = score_among(run.head.transform(X[val]), y[val], k_val)
        history.append({"epoch": epoch, "loss": loss, "val_top_k": val_score})
        progress(epoch, config.epochs, f"training the head (epoch {epoch}: {100 * val_score:.1f}% same class "
                                           "among validation neighbours)")
        if val_score > best:
            best, best_epoch, best_state, waited = val_score, epoch, copy.deepcopy(run.head.state_dict()), 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    run.head.load_state_dict(best_state)
    validation = {"strategy": "holdout", "k": k_val, "records": len(val), "train_records": len(train),
                  "identity_top_k": identity, "trained_top_k": best}
    return run.head, history, best_epoch, validation


def _fit_cv(
    X: np.ndarray, y: np.ndarray, config: TrainConfig, device: torch.device, progress: Progress
) -> tuple[Head, list[dict[str, float]], int, dict[str, Any]]:
    folds = stratified_folds(y, config.seed)
    n_folds, n_splits = int(min(CV_FOLDS, np.bincount(y).min())), len(folds)
    curves = np.full((n_splits, config.epochs), np.nan)
    identity, k_used, fold_batches = [], [], []
    for f, (train, val) in enumerate(folds):
        k_val = max(1, min(int(config.k), int(np.median(np.bincount(y[train])))))
        k_used.append(k_val)
        identity.append(score_against(X[val], y[val], X[train], y[train], k_val))
        run = _Run(X[train], y[train], config, device, config.seed + 1 + f)
        fold_batches.append(len(run.sampler))
        best, waited = -math.inf, 0
        for epoch in range(config.epochs):
            run.epoch()
            value = score_against(run.head.transform(X[val]), y[val], run.head.transform(X[train]), y[train], k_val)
            curves[f, epoch] = value
            progress(f * config.epochs + epoch + 1, (n_splits + 1) * config.epochs,
                     f"choosing epochs by cross-validation, split {f + 1} of {n_splits}: top_{k_val} {value:.3f}")
            best, waited = (value, 0) if value > best + CV_MIN_DELTA else (best, waited + 1)
            if waited >= config.patience:
                curves[f, epoch + 1 :] = value  # a fold that stopped keeps its last value
                break
    mean_curve = curves.mean(axis=0)
    best_epoch = one_standard_error_epoch(curves)
    final = _Run(X, y, config, device, config.seed)
    # the same number of optimiser steps as the folds' best epoch (an epoch of all records may be longer)
    epochs = max(1, round(best_epoch * float(np.mean(fold_batches)) / len(final.sampler)))
    history = []
    for epoch in range(1, epochs + 1):
        loss = final.epoch()
        history.append({"epoch": epoch, "loss": loss, "val_top_k": float(mean_curve[min(epoch, best_epoch) - 1])})
        progress(n_splits * config.epochs + epoch, n_splits * config.epochs + epochs, "training the head on all labels")
    repeats = f", repeated {n_splits // n_folds} times" if n_splits > n_folds else ""
    validation = {"strategy": f"{n_folds}-fold cross-validation{repeats}", "k": int(min(k_used)),
                  "records": len(y), "train_records": len(y), "identity_top_k": float(np.mean(identity)),
                  "trained_top_k": float(mean_curve[best_epoch - 1])}
    return final.head, history, epochs, validation


def train_head(X: np.ndarray, y: np.ndarray, config: TrainConfig, *, progress: Progress = no_progress) -> TrainResult:
    """Train ``config.head`` with ``config.loss`` on float32 vectors ``X`` and int class codes ``y`` (0..C-1).

    Inputs are assumed validated (see :class:`likewise.tuning.Tuner`): at least 2 classes, at least 2
    records per class, finite vectors. Deterministic for a seed on a given device.
    """
    start = time.perf_counter()
    device = resolve_train_device(config.device)
    if config.epochs < 1:
        raise InputError(f"epochs must be at least 1, got {config.epochs}")
    strategy = choose_strategy(y, config.validation)
    if strategy == "holdout" and np.bincount(y).min() < 4:
        raise InputError(
            f"validation='holdout' needs at least 4 labeled records per class (2 to train, 2 to validate); "
            f"the smallest class has {np.bincount(y).min()}: use validation='cv' or 'auto'"
        )
    fit = _fit_holdout if strategy == "holdout" else _fit_cv
    with single_threaded():  # small matrices: one thread is fastest (see neighbors.single_threaded)
        head, history, best_epoch, validation = fit(X, y, config, device, progress)
    head = head.cpu().eval()
    gain = validation["trained_top_k"] - validation["identity_top_k"]
    k_val = validation["k"]
    if gain > config.min_gain:
        kept, message = False, ""
    else:
        scores = (f"the trained head does not beat the untouched vectors on validation (top_{k_val} "
                  f"{100 * validation['trained_top_k']:.1f}% vs {100 * validation['identity_top_k']:.1f}%)")
        if config.force:
            kept, message = False, f"{scores}; kept anyway (force)"
        else:
            kept = True
            message = (f"{scores}, so the identity is kept; label more records, or pass --force (force=True) to keep "
                       "the trained head")
            head = IdentityHead(X.shape[1])
    return TrainResult(head, history, best_epoch, validation, kept, message, time.perf_counter() - start)
