"""``Tuner``: the sklearn-style entry point — ``fit(X, y)`` a head on labeled vectors, ``transform(X)`` any vectors.

>>> tuner = Tuner(k=100).fit(X_labeled, labels)          # doctest: +SKIP
>>> tuned = tuner.transform(X_all)                        # doctest: +SKIP
>>> tuner.save("head"); Tuner.load("head").transform(X)   # doctest: +SKIP

Labels may be any hashable values; ``None``, NaN (and pandas' missing values) or ``""`` mark unlabeled records
(scikit-learn's semi-supervised convention): ``fit`` never trains on their labels, but with ``self_training``
rounds (the default) it pseudo-labels the ones the fitted map places confidently and fits again
(:mod:`likewise.tuning.self_training`). A saved tuner is a folder with the head (``head.safetensors`` + ``head.json``) and
``tuner.json`` (parameters, classes, history, validation); nothing is pickled.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from likewise.errors import InputError, NotFittedError, unknown_name
from likewise.labels import check_labels, is_missing_label
from likewise.progress import Progress, no_progress
from likewise.tuning.heads import HEADS, Head, load_head, save_head
from likewise.tuning.losses import LOSSES
from likewise.tuning.self_training import SELF_TRAINING_MAX_UNLABELED, SELF_TRAINING_ROUNDS, unlabeled_sample
from likewise.tuning.trainer import TrainConfig, train_head

TUNER_CONFIG = "tuner.json"
TUNER_FORMAT = "likewise-tuner"
TUNER_FORMAT_VERSION = 1

DEFAULT_HEAD_OPTIONS: dict[str, dict[str, Any]] = {"linear": {"init": "centroids", "init_scale": 3.0}}
"""Options a head gets when the Tuner is given ``head_options=None`` (measured in bench/RESULTS.md, "How it was
chosen": starting the linear head from the class-centroid amplification makes results flatter across
epochs, so a noisy choice of epochs costs less). Pass ``head_options={}`` for the head's own defaults."""

DEFAULT_LOSS_PARAMS: dict[str, dict[str, Any]] = {"supcon": {"temperature": 0.3}}
"""Hyper-parameters a loss gets when the Tuner is given ``loss_params=None`` (supcon's temperature: 0.3
beat 0.1 and 0.2 on held-out BBC News and Rotten Tomatoes, bench/RESULTS.md). Pass ``loss_params={}`` for
the loss's own defaults."""

REFERENCE_RECIPE: dict[str, Any] = {
    "head": "skip",
    "head_options": {"gate_init": -4.0},
    "loss": "batch_hard_triplet",
    "loss_params": {"margin": 0.5},
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 128,
    "epochs": 100,
    "patience": 10,
}
"""The reference recipe as Tuner keyword arguments: skip head (gate -4), batch-hard triplet on cosine
distance with margin 0.5, Adam at 1e-3 (AdamW with no weight decay is Adam), batch 128, class labels as
groups, early stopping. The baseline likewise's default must beat (bench/RESULTS.md, "Tuning quality")."""


class TunerNotFittedError(NotFittedError, SklearnNotFittedError):
    """A Tuner used before ``fit``: both likewise's error (the CLI's one-line message) and scikit-learn's
    (what ``check_is_fitted`` callers and sklearn tooling expect)."""


class Tuner(TransformerMixin, BaseEstimator):
    """Learns a head under which records of the same class are each other's nearest neighbours.

    A scikit-learn transformer: ``get_params``/``set_params``, ``sklearn.base.clone`` and
    ``sklearn.pipeline.Pipeline`` work (``Pipeline([("tune", Tuner()), ("clf", LogisticRegression())])``;
    pass a progress callback as ``fit(..., tune__progress=callback)``). Parameters are stored as given and
    checked in :meth:`fit`:

    * ``head`` — a name in ``HEADS``; ``head_options`` its constructor options (None: the ones in
      ``DEFAULT_HEAD_OPTIONS``, else the head's own defaults).
    * ``loss`` — a name in ``LOSSES``; ``loss_params`` its hyper-parameters (margin, temperature...; None:
      the ones in ``DEFAULT_LOSS_PARAMS``, else the loss's own defaults).
    * ``k`` — the k of the top_k that validation measures (capped by the validation set, see the trainer).
    * ``epochs`` (maximum), ``lr``, ``weight_decay`` (AdamW), ``batch_size``, ``m_per_class`` (records per
      class per batch; default: the batch spread evenly over the classes), ``patience`` (epochs without
      validation gain before stopping), ``val_fraction``, ``validation`` ("auto", "holdout" or "cv").
    * ``min_gain`` — how much the head must beat the identity by on validation top_k to be kept.
    * ``force`` — keep the trained head even when it does not beat the identity.
    * ``seed`` — seeds torch and numpy; the same seed and device give the same head.
    * ``device`` — "cpu" (default, or ``$LIKEWISE_DEVICE``), "cuda", "cuda:N"; never chosen silently.

    * ``method`` — "head" (default: train ``head`` with ``loss``), a closed form ("lda", "lda_shrinkage",
      "centroids"), "reference", "identity", or "auto": choose among all of them by cross-validation inside
      the labeled records (:mod:`likewise.tuning.auto`; what ``likewise tune`` does by default). The library
      default stays "head" because the labeling loop retrains in the background every few labels and compares
      on the head's own validation protocol; "auto" costs about 6-12 head fits.
    * ``time_budget`` — seconds ``auto`` may spend comparing candidates (None: no limit).
    * ``self_training`` — rounds of self-training when ``fit`` is given unlabeled rows (missing labels): the
      fitted method is fitted again on the labeled rows plus the unlabeled ones it places most confidently
      (:mod:`likewise.tuning.self_training`), when the pseudo-labels are expected to be right (cross-validated
      on the labels); 0 ignores unlabeled rows. Not run when the identity is kept.

    Fitted attributes: ``head_``, ``classes_``, ``n_features_in_``, ``history_`` (per epoch: loss,
    validation top_k), ``best_epoch_``, ``validation_`` (identity vs trained top_k, the k, the strategy),
    ``kept_identity_`` and ``message_`` (why the identity was kept, or empty), ``fit_seconds_``,
    ``method_`` (the method fitted: the one ``auto`` chose), ``selection_`` (``auto``'s validation score
    of every candidate, else None) and ``self_training_`` (unlabeled rows and pseudo-labels per round, else
    None). ``validation_`` is always the fit on the labeled rows alone (pseudo-labels are never scored).
    """

    def __init__(
        self,
        head: str = "linear",
        loss: str = "supcon",
        k: int = 100,
        epochs: int = 100,
        lr: float = 1e-3,
        batch_size: int = 128,
        seed: int = 0,
        device: str | None = None,
        *,
        loss_params: dict[str, Any] | None = None,
        head_options: dict[str, Any] | None = None,
        weight_decay: float = 0.0,
        m_per_class: int | None = None,
        patience: int = 10,
        val_fraction: float = 0.2,
        validation: str = "auto",
        min_gain: float = 0.0,
        force: bool = False,
        method: str = "head",
        time_budget: float | None = None,
        self_training: int = SELF_TRAINING_ROUNDS,
    ) -> None:
        self.head = head
        self.loss = loss
        self.k = k
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.loss_params = loss_params
        self.head_options = head_options
        self.weight_decay = weight_decay
        self.m_per_class = m_per_class
        self.patience = patience
        self.val_fraction = val_fraction
        self.validation = validation
        self.min_gain = min_gain
        self.force = force
        self.method = method
        self.time_budget = time_budget
        self.self_training = self_training

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True  # fit needs the labels
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"requires_y": True}

    # -- fitting ------------------------------------------------------------------------------------------
    def _config(self) -> TrainConfig:
        if self.head not in HEADS:
            raise unknown_name("head", self.head, HEADS)
        if self.loss not in LOSSES:
            raise unknown_name("loss", self.loss, LOSSES)
        for name, low in (("k", 1), ("epochs", 1), ("batch_size", 2), ("patience", 1), ("self_training", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise InputError(f"{name} must be an integer of at least {low}, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise InputError(f"lr must be a positive number, got {self.lr!r}")
        from likewise.tuning.auto import METHODS

        if self.method not in METHODS:
            raise unknown_name("method", self.method, METHODS)
        if self.time_budget is not None and not (isinstance(self.time_budget, (int, float)) and self.time_budget > 0):
            raise InputError(f"time_budget must be a positive number of seconds, got {self.time_budget!r}")
        if not 0 < self.val_fraction < 1:
            raise InputError(f"val_fraction must be between 0 and 1, got {self.val_fraction!r}")
        head_options = DEFAULT_HEAD_OPTIONS.get(self.head, {}) if self.head_options is None else self.head_options
        loss_params = DEFAULT_LOSS_PARAMS.get(self.loss, {}) if self.loss_params is None else self.loss_params
        return TrainConfig(
            head=self.head, head_options=dict(head_options), loss=self.loss,
            loss_params=dict(loss_params), k=int(self.k), epochs=int(self.epochs), lr=float(self.lr),
            weight_decay=float(self.weight_decay), batch_size=int(self.batch_size), m_per_class=self.m_per_class,
            patience=int(self.patience), val_fraction=float(self.val_fraction), validation=self.validation,
            min_gain=float(self.min_gain), seed=int(self.seed), device=self.device, force=bool(self.force),
        )

    def fit(
        self, X: np.ndarray, y: Sequence[Hashable | None] | None = None, *, progress: Progress = no_progress
    ) -> Tuner:
        """Train the head on the labeled rows of ``X`` (rows whose label is None/NaN/"" are ignored).

        ``progress(done, total, what)`` is called as training goes (a fit parameter, not a constructor one).
        """
        if y is None:
            raise InputError("Tuner.fit needs labels: fit(X, y) with one label (or None) per row of X")
        config = self._config()
        X = _check_vectors(X, "X")
        labels = list(y)
        if len(labels) != X.shape[0]:
            raise InputError(f"X has {X.shape[0]} rows but y has {len(labels)} labels; pass one label per row")
        rows = np.asarray([i for i, label in enumerate(labels) if not is_missing_label(label)], dtype=np.int64)
        check_labels([labels[i] for i in rows], unlabeled=X.shape[0] - len(rows))
        classes, codes = _encode([labels[i] for i in rows])
        self.selection_: dict[str, Any] | None = None
        self.self_training_: dict[str, Any] | None = None
        if self.method == "head":
            result = train_head(X[rows], codes, config, progress=progress)
            self.method_ = "head"
            self.head_: Head = result.head
            self.history_, self.best_epoch_, self.validation_ = result.history, result.best_epoch, result.validation
            self.kept_identity_, self.message_, self.fit_seconds_ = result.kept_identity, result.message, result.seconds
        else:
            self._fit_method(X[rows], codes, config, progress)
        unlabeled = np.setdiff1d(np.arange(X.shape[0]), rows)
        if self.self_training and len(unlabeled) and not self.kept_identity_:
            # self-training's sample, drawn before any row is copied (a 1M-record workspace is mostly unlabeled)
            unlabeled = unlabeled[unlabeled_sample(len(unlabeled), config.seed, SELF_TRAINING_MAX_UNLABELED)]
            self._self_train(X[rows], codes, X[unlabeled], config, progress)
        self.classes_ = classes
        self.n_features_in_ = int(X.shape[1])
        return self

    def _fit_method(self, X: np.ndarray, codes: np.ndarray, config: TrainConfig, progress: Progress) -> None:
        """A closed form, the reference recipe, or ``auto``'s choice, fitted on all labeled records."""
        import time

        from likewise.neighbors import single_threaded
        from likewise.tuning.auto import CANDIDATES, SELECTION_MIN_MEAN_PER_CLASS, select_method, worth_selecting

        start = time.perf_counter()
        chosen, message, validation = self.method, "", {}
        if self.method == "auto":
            if worth_selecting(codes):
                with single_threaded():
                    selection = select_method(X, codes, config, time_budget=self.time_budget, progress=progress)
                self.selection_ = selection.to_dict()
                chosen, message = selection.chosen, selection.message
                scores = selection.scores
                validation = {"strategy": selection.strategy, "k": selection.k, "records": int(len(codes)),
                              "identity_top_k": scores["identity"]["mean"], "trained_top_k": scores[chosen]["mean"],
                              "chosen": chosen}
                if self.force and chosen == "identity":
                    ranked = [n for n in scores if n != "identity" and "mean" in scores[n]]
                    chosen = max(ranked, key=lambda n: scores[n]["mean"])
                    message += f"; kept {chosen} anyway (force)"
            else:
                counts = np.bincount(codes)
                chosen = "head"
                message = (f"{counts[counts > 0].mean():.0f} labeled records per class on average (smallest "
                           f"{int(counts[counts > 0].min())}): too few to choose a method by cross-validation "
                           f"(from {SELECTION_MIN_MEAN_PER_CLASS} per class on), so the default head was trained")
        with single_threaded():
            fitted = CANDIDATES[chosen][1](X, codes, config, progress)
        self.method_ = chosen
        self.head_ = fitted.head
        self.history_, self.best_epoch_ = fitted.history, fitted.best_epoch
        self.validation_ = validation or fitted.validation
        self.kept_identity_ = chosen == "identity" or fitted.kept_identity
        self.message_ = "; ".join(m for m in (message, fitted.message) if m)
        self.fit_seconds_ = time.perf_counter() - start

    def _self_train(self, X: np.ndarray, codes: np.ndarray, X_unlabeled: np.ndarray, config: TrainConfig,
                    progress: Progress) -> None:
        """Fit :attr:`method_` again on the labeled rows plus pseudo-labeled unlabeled ones (see
        :mod:`likewise.tuning.self_training`); ``validation_`` stays the labeled-only fit's."""
        import time

        from likewise.neighbors import single_threaded
        from likewise.tuning.auto import CANDIDATES
        from likewise.tuning.self_training import self_train

        start = time.perf_counter()
        fit = CANDIDATES[self.method_][1]
        last: dict[str, Any] = {}

        def refit(X_rows: np.ndarray, y_rows: np.ndarray) -> Head:
            fitted = fit(X_rows, y_rows, config, no_progress)
            last.update(history=fitted.history, best_epoch=fitted.best_epoch)
            return fitted.head

        with single_threaded():
            head, report = self_train(refit, self.head_, X, codes, X_unlabeled, rounds=int(self.self_training),
                                      seed=config.seed, progress=progress)
        self.head_ = head
        if last:
            self.history_, self.best_epoch_ = last["history"], last["best_epoch"]
        self.self_training_ = report.to_dict()
        self.fit_seconds_ += time.perf_counter() - start

    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, "head_")
        except SklearnNotFittedError as exc:
            raise TunerNotFittedError(
                "this Tuner is not fitted yet; call fit(X, y) or Tuner.load(folder) first"
            ) from exc

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The tuned vectors of ``X``: float32, L2-normalised, one row per row of ``X``."""
        self._check_fitted()
        X = _check_vectors(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise InputError(
                f"this Tuner was fitted on {self.n_features_in_}-dimensional vectors but got {X.shape[1]}; "
                "embed the records with the encoder the head was trained on"
            )
        return self.head_.transform(X)

    def fit_transform(
        self, X: np.ndarray, y: Sequence[Hashable | None] | None = None, *, progress: Progress = no_progress
    ) -> np.ndarray:
        """``fit(X, y)`` then ``transform(X)`` (what a Pipeline calls on a step that is not the last)."""
        return self.fit(X, y, progress=progress).transform(X)

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, folder: str | Path, *, encoder: str | None = None) -> Path:
        """Write the fitted tuner to ``folder`` atomically: a complete copy is written to a temporary folder
        beside it and renamed into place, so an interrupted save leaves the previous head intact."""
        self._check_fitted()
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:12]}"
        old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:12]}"
        try:
            save_head(self.head_, tmp, encoder=encoder)
            state = {
                "format": TUNER_FORMAT,
                "version": TUNER_FORMAT_VERSION,
                "params": _json_params(self.get_params(deep=False)),
                "classes": [_json_label(c) for c in self.classes_],
                "n_features_in": self.n_features_in_,
                "history": self.history_,
                "best_epoch": self.best_epoch_,
                "validation": self.validation_,
                "kept_identity": self.kept_identity_,
                "message": self.message_,
                "fit_seconds": self.fit_seconds_,
                "method": self.method_,
                "selection": self.selection_,
                "self_training": self.self_training_,
                "encoder": encoder,
            }
            (tmp / TUNER_CONFIG).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
            if folder.exists():
                os.replace(folder, old)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, expected_dim: int | None = None, expected_encoder: str | None = None) -> Tuner:
        """A fitted tuner from a folder written by :meth:`save`; dims and encoder are checked when given."""
        folder = Path(folder)
        path = folder / TUNER_CONFIG
        if not path.is_file():
            raise InputError(f"no saved tuner at {folder}: {TUNER_CONFIG} is missing; fit and save a Tuner first")
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not valid JSON ({exc}); save the tuner again") from exc
        if state.get("format") != TUNER_FORMAT or state.get("version") != TUNER_FORMAT_VERSION:
            raise InputError(
                f"{path} is not a likewise tuner of format version {TUNER_FORMAT_VERSION}; fit and save it again"
            )
        head = load_head(folder, expected_dim=expected_dim, expected_encoder=expected_encoder)
        tuner = cls(**state["params"])
        tuner.head_ = head
        tuner.classes_ = np.asarray(state["classes"], dtype=object)
        tuner.n_features_in_ = int(state["n_features_in"])
        tuner.history_ = state["history"]
        tuner.best_epoch_ = state["best_epoch"]
        tuner.validation_ = state["validation"]
        tuner.kept_identity_ = bool(state["kept_identity"])
        tuner.message_ = state["message"]
        tuner.fit_seconds_ = state["fit_seconds"]
        tuner.method_ = state.get("method", "head")
        tuner.selection_ = state.get("selection")
        tuner.self_training_ = state.get("self_training")
        return tuner


# -- input checks ---------------------------------------------------------------------------------------------
def _encode(labels: list[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """(classes, int codes): classes sorted when they are mutually comparable, else in order of appearance."""
    try:
        unique = sorted(set(labels))
    except TypeError:
        unique = list(dict.fromkeys(labels))
    index = {c: i for i, c in enumerate(unique)}
    classes = np.empty(len(unique), dtype=object)
    classes[:] = unique
    return classes, np.asarray([index[c] for c in labels], dtype=np.int64)


def _check_vectors(X: np.ndarray, what: str) -> np.ndarray:
    from likewise.neighbors import check_vectors

    return check_vectors(X, what)


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """The constructor parameters as ``tuner.json`` stores them (the dicts copied, so later edits of the
    caller's dict cannot change what was saved)."""
    return {name: dict(value) if isinstance(value, dict) else value for name, value in params.items()}


def _json_label(label: object) -> object:
    if isinstance(label, (np.integer, np.floating, np.bool_)):
        return label.item()
    if isinstance(label, (str, int, float, bool)):
        return label
    return str(label)
