"""Closed-form maps: heads computed from the labeled vectors in one step, no training loop.

Each returns a :class:`~likewise.tuning.heads.LinearHead` (``y = W x + b``, then L2-normalised), so a closed
form is saved, loaded and applied exactly like a trained head:

* :func:`lda_head` — scikit-learn's ``LinearDiscriminantAnalysis`` projection to ``n_classes - 1`` dims:
  ``solver="svd"`` (its default; ``W = scalings_.T``, ``b = -xbar_ W``) or, with ``shrinkage=True``,
  ``solver="eigen", shrinkage="auto"`` (Ledoit-Wolf; ``W = scalings_[:, :C-1].T``, ``b = 0``), which is
  far stronger with few labels in many dimensions. Same vectors as :func:`likewise.tuning.lda_baseline`.
* :func:`centroid_head` — ``W = I + scale * U U^T``, ``U`` an orthonormal basis of the class centroids'
  span (minus their mean): the class-separating directions amplified, the rest kept (the linear head's
  ``init="centroids"`` start, without training).
"""
from __future__ import annotations

import numpy as np
import torch

from likewise.errors import InputError
from likewise.tuning.heads import LinearHead

CENTROID_SCALE = 3.0
"""The amplification of the centroid map (the linear head's default ``init_scale``)."""


def _check(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or len(y) != len(X):
        raise InputError(f"a closed-form map needs 2-D vectors and one label per row, got {X.shape} and {len(y)} labels")
    if len(np.unique(y)) < 2:
        raise InputError("a closed-form map needs at least 2 classes among the labels")
    return X, y


def _linear(weight: np.ndarray, bias: np.ndarray, in_dim: int) -> LinearHead:
    head = LinearHead(in_dim, weight.shape[0])
    with torch.no_grad():
        head.linear.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        head.linear.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return head.eval()


def lda_head(X: np.ndarray, y: np.ndarray, *, shrinkage: bool = False) -> LinearHead:
    """The LDA projection fitted on (X, y) as a linear head (see the module docstring).

    Dimensions that are constant over the training vectors (hashing vectors have many) carry no class
    information and make the within-class covariance singular, which the eigen solver refuses: they get
    weight 0 and LDA is fitted on the others.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    X, y = _check(X, y)
    labels = np.asarray([str(v) for v in y])
    keep = np.flatnonzero(X.std(axis=0) > 1e-9)
    if len(keep) == 0:
        raise InputError("LDA needs vectors that vary: every dimension is constant over the labeled records")
    Xk = X[:, keep]
    if shrinkage:
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(Xk, labels)
        dims = min(len(lda.classes_) - 1, Xk.shape[1])
        weight_k = lda.scalings_[:, :dims].T
        bias = np.zeros(dims)
    else:
        lda = LinearDiscriminantAnalysis().fit(Xk, labels)
        if lda.scalings_.shape[1] == 0:
            # the svd solver found no direction (scikit-learn >= 1.9, when the within-class spread of a few
            # near-identical records vanishes under its tolerance): LDA with an isotropic within-class
            # covariance, the directions of the class means, is defined wherever the means differ
            return _class_mean_directions(X, labels)
        dims = lda.scalings_.shape[1] if len(lda.classes_) > 2 else 1
        weight_k = lda.scalings_[:, :dims].T
        bias = -lda.xbar_ @ weight_k.T
    weight = np.zeros((weight_k.shape[0], X.shape[1]))
    weight[:, keep] = weight_k
    return _linear(weight, bias, X.shape[1])


def _class_mean_directions(X: np.ndarray, labels: np.ndarray) -> LinearHead:
    """The ``n_classes - 1`` directions the class means span (LDA when the within-class covariance is taken as
    the identity), centred like the svd LDA; for the degenerate case of :func:`lda_head`."""
    classes = np.unique(labels)
    means = np.stack([X[labels == c].mean(axis=0) for c in classes])
    _, s, vt = np.linalg.svd(means - means.mean(axis=0), full_matrices=False)
    dims = max(1, min(len(classes) - 1, int(np.sum(s > 1e-12 * max(s[0], 1e-300)))))
    weight = vt[:dims]
    return _linear(weight, -X.mean(axis=0) @ weight.T, X.shape[1])


def centroid_head(X: np.ndarray, y: np.ndarray, *, scale: float = CENTROID_SCALE) -> LinearHead:
    """``W = I + scale * U U^T`` from the class centroids of (X, y) (see the module docstring)."""
    X, y = _check(X, y)
    _, codes = np.unique(y, return_inverse=True)
    head = LinearHead(X.shape[1], init="centroids", init_scale=scale)
    head.init_from_data(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(codes, dtype=torch.int64))
    return head.eval()
