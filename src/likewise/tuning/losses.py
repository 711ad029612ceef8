"""Similarity losses computed from a batch of embeddings and their integer class labels.

Every loss is called as ``loss(embeddings, labels)`` with ``embeddings`` a ``(B, d)`` float tensor and
``labels`` a ``(B,)`` int64 tensor, and returns a scalar tensor. Losses take embeddings, not texts, so the
cached-embedding heads and full encoder fine-tuning share this code.

Conventions shared by every loss (one scale everywhere):

* Embeddings are L2-normalised inside the loss; the distance is the cosine distance ``D = 1 - cos``, in
  ``[0, 2]``, and similarity-based losses (``supcon``) use ``cos = 1 - D``. Margins are in those units.
* For an anchor ``a`` the positives are the *other* records of its class (a record is never its own
  positive) and the negatives are the records of other classes.
* An anchor counts only when the batch holds at least one positive **and** one negative for it; other
  anchors are skipped (they carry no similarity signal). When nothing in the batch is usable the loss is
  an exact 0 that still has a graph (``backward`` works, gradients are 0), never NaN.
* Everything is vectorised over the batch; tests check each loss against a naive Python loop over explicit
  triplets or pairs.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from likewise.errors import InputError, unknown_name


def pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(positive, negative, valid_anchor)`` boolean masks; shapes ``(B, B)``, ``(B, B)``, ``(B,)``."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    valid = positive.any(dim=1) & negative.any(dim=1)
    return positive, negative, valid


def cosine_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` between every pair of rows, shape ``(B, B)``, clamped to ``[0, 2]``."""
    e = F.normalize(embeddings, dim=-1)
    return (1.0 - e @ e.T).clamp(0.0, 2.0)


def _zero(embeddings: torch.Tensor) -> torch.Tensor:
    """A 0 that is still connected to the graph (so ``backward`` works and gives zero gradients)."""
    return embeddings.sum() * 0.0


def _check_batch(embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    if embeddings.ndim != 2 or labels.ndim != 1 or embeddings.shape[0] != labels.shape[0]:
        raise InputError(
            f"a loss needs embeddings (B, d) and labels (B,); got {tuple(embeddings.shape)} and {tuple(labels.shape)}"
        )


class SimilarityLoss(nn.Module):
    """Base of the losses: validates the batch, then :meth:`compute` does the work."""

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_batch(embeddings, labels)
        return self.compute(embeddings, labels)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class BatchHardTriplet(SimilarityLoss):
    """Hermans et al. (2017): per anchor, its farthest positive and its closest negative.

    ``loss = mean over valid anchors a of relu(max_p D(a,p) - min_n D(a,n) + margin)``.
    """

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__()
        self.margin = float(margin)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        d = cosine_distances(embeddings)
        positive, negative, valid = pair_masks(labels)
        if not valid.any():
            return _zero(embeddings)
        hardest_positive = d.masked_fill(~positive, float("-inf")).amax(dim=1)  # shape: (B,)
        hardest_negative = d.masked_fill(~negative, float("inf")).amin(dim=1)
        losses = F.relu(hardest_positive - hardest_negative + self.margin)
        return losses[valid].mean()


class BatchSemiHardTriplet(SimilarityLoss):
    """Schroff et al. (2015), as TensorFlow Addons' ``triplet_semihard_loss`` defines it.

    For every (anchor a, positive p) pair, the negative is chosen *for that anchor*: the closest negative of
    ``a`` that is farther from ``a`` than ``p`` is (``D(a,n) > D(a,p)``); when ``a`` has none, its farthest
    negative. ``loss = mean over those pairs of relu(D(a,p) - D(a,n) + margin)`` (zeros included).
    """

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__()
        self.margin = float(margin)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        d = cosine_distances(embeddings)
        positive, negative, valid = pair_masks(labels)
        pairs = positive & valid[:, None]  # shape: (B, B) anchor x positive
        if not pairs.any():
            return _zero(embeddings)
        d_an = d[:, None, :]  # shape: (B, 1, B) anchor x . x negative
        d_ap = d[:, :, None]  # shape: (B, B, 1) anchor x positive x .
        semi_hard = negative[:, None, :] & (d_an > d_ap)  # shape: (B, B, B)
        closest_semi_hard = d_an.expand_as(semi_hard).masked_fill(~semi_hard, float("inf")).amin(dim=2)
        farthest = d.masked_fill(~negative, float("-inf")).amax(dim=1)  # shape: (B,)
        chosen = torch.where(semi_hard.any(dim=2), closest_semi_hard, farthest[:, None])
        losses = F.relu(d - chosen + self.margin)
        return losses[pairs].mean()


class BatchAllTriplet(SimilarityLoss):
    """Every valid triplet (a, p, n) of the batch: ``relu(D(a,p) - D(a,n) + margin)``.

    Averaged over the triplets whose loss is positive (Hermans et al.'s "batch all"; pytorch-metric-learning's
    ``AvgNonZeroReducer``), so easy triplets do not dilute the signal as training progresses.
    """

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__()
        self.margin = float(margin)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        d = cosine_distances(embeddings)
        positive, negative, _ = pair_masks(labels)  # an anchor without a positive or negative has no triplet
        triplets = positive[:, :, None] & negative[:, None, :]  # shape: (B, B, B) anchor x positive x negative
        losses = F.relu(d[:, :, None] - d[:, None, :] + self.margin)[triplets]
        active = losses > 0
        if not active.any():
            return _zero(embeddings)
        return losses[active].mean()


class SupCon(SimilarityLoss):
    """Supervised contrastive loss (Khosla et al. 2020, the "L_out" form) on cosine similarity.

    For a valid anchor ``i``: ``-1/|P(i)| sum_p log(exp(cos(i,p)/t) / sum_{j != i} exp(cos(i,j)/t))``;
    averaged over valid anchors. ``t`` is the temperature.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise InputError(f"the supcon temperature must be positive, got {temperature}")
        self.temperature = float(temperature)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        e = F.normalize(embeddings, dim=-1)
        positive, _, valid = pair_masks(labels)
        if not valid.any():
            return _zero(embeddings)
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        logits = (e @ e.T / self.temperature).masked_fill(eye, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        per_anchor = -(log_prob.masked_fill(~positive, 0.0).sum(dim=1)) / positive.sum(dim=1).clamp(min=1)
        return per_anchor[valid].mean()


class OnlineContrastive(SimilarityLoss):
    """Contrastive loss (Hadsell et al. 2006) on the hard pairs of each anchor.

    For a valid anchor ``a``: its positives farther than its closest negative, with loss
    ``relu(D - pos_margin)^2``, and its negatives closer than its farthest positive, with loss
    ``relu(neg_margin - D)^2``; averaged over all selected (anchor, other) pairs. As in sentence-transformers'
    ``OnlineContrastiveLoss`` but mined per anchor rather than against the whole batch.
    """

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 0.5) -> None:
        super().__init__()
        self.pos_margin = float(pos_margin)
        self.neg_margin = float(neg_margin)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        d = cosine_distances(embeddings)
        positive, negative, valid = pair_masks(labels)
        if not valid.any():
            return _zero(embeddings)
        closest_negative = d.masked_fill(~negative, float("inf")).amin(dim=1, keepdim=True)
        farthest_positive = d.masked_fill(~positive, float("-inf")).amax(dim=1, keepdim=True)
        hard_pos = positive & (d > closest_negative) & valid[:, None]
        hard_neg = negative & (d < farthest_positive) & valid[:, None]
        selected = hard_pos | hard_neg
        if not selected.any():
            return _zero(embeddings)
        losses = torch.where(
            hard_pos, F.relu(d - self.pos_margin) ** 2, F.relu(self.neg_margin - d) ** 2
        )
        return losses[selected].mean()


LOSSES: dict[str, type[SimilarityLoss]] = {
    "batch_hard_triplet": BatchHardTriplet,
    "batch_semi_hard_triplet": BatchSemiHardTriplet,
    "batch_all_triplet": BatchAllTriplet,
    "supcon": SupCon,
    "online_contrastive": OnlineContrastive,
}
"""Loss name -> class; each takes its hyper-parameters as keyword arguments."""


def make_loss(name: str, **params: Any) -> SimilarityLoss:
    """A loss by registry name with its hyper-parameters; a wrong name or option lists the valid ones."""
    if name not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    try:
        return LOSSES[name](**params)
    except TypeError as exc:
        raise InputError(f"bad options for the {name!r} loss: {exc}") from exc
