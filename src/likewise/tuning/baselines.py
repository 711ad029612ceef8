"""Baselines a trained head is compared with (the untouched vectors need no code: they are the input)."""
from __future__ import annotations

import numpy as np

from likewise.errors import InputError


def lda_baseline(
    X_train: np.ndarray, y_train: np.ndarray, X_apply: np.ndarray, *, shrinkage: bool = False
) -> np.ndarray:
    """scikit-learn's ``LinearDiscriminantAnalysis`` fitted on the labeled vectors, applied to ``X_apply``.

    Returns the LDA projection of ``X_apply`` (``n_classes - 1`` dimensions at most), float32, L2-normalised.
    The default is scikit-learn's default (``solver="svd"``, no shrinkage), the baseline of the reference
    measurements; ``shrinkage=True`` uses ``solver="eigen", shrinkage="auto"`` (Ledoit-Wolf), which is much
    stronger with few labels in many dimensions.
    """
    from likewise.tuning.closed_form import lda_head

    X_train = np.asarray(X_train, dtype=np.float64)
    X_apply = np.asarray(X_apply, dtype=np.float64)
    if X_train.ndim != 2 or X_apply.ndim != 2 or X_train.shape[1] != X_apply.shape[1]:
        raise InputError(
            f"LDA needs 2-D training and apply vectors of the same dimension, got {X_train.shape} and {X_apply.shape}"
        )
    y_train = np.asarray([str(v) for v in y_train])
    if len(y_train) != len(X_train):
        raise InputError(f"{len(X_train)} training vectors for {len(y_train)} labels; they must match")
    if len(np.unique(y_train)) < 2:
        raise InputError("LDA needs at least 2 classes among the training labels")
    # one definition: the closed-form head (constant dimensions get weight 0), applied and normalised
    return lda_head(X_train, y_train, shrinkage=shrinkage).transform(X_apply.astype(np.float32))
