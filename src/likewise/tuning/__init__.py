"""Tuning: learn, from class labels, a mapping of embeddings under which similar means same class.

``Tuner`` is the entry point (sklearn-style ``fit``/``transform``/``save``/``load``); the parts it is built
from live one per module: heads (:mod:`.heads`), losses (:mod:`.losses`), class-balanced batches
(:mod:`.sampler`), the training loop with early stopping (:mod:`.trainer`), baselines (:mod:`.baselines`).
Full encoder fine-tuning is in :mod:`.encoder_finetune` (imported on demand: it needs more dependencies).
"""
from __future__ import annotations

from likewise.tuning.baselines import lda_baseline
from likewise.tuning.heads import HEADS, Head, load_head, make_head, save_head
from likewise.tuning.losses import LOSSES, SimilarityLoss, make_loss
from likewise.tuning.sampler import ClassBalancedSampler
from likewise.tuning.trainer import TrainConfig, TrainResult, train_head
from likewise.tuning.tuner import REFERENCE_RECIPE, Tuner

__all__ = [
    "HEADS",
    "LOSSES",
    "REFERENCE_RECIPE",
    "ClassBalancedSampler",
    "Head",
    "SimilarityLoss",
    "TrainConfig",
    "TrainResult",
    "Tuner",
    "lda_baseline",
    "load_head",
    "make_head",
    "make_loss",
    "save_head",
    "train_head",
]
