"""Every loss against a naive Python loop over explicit triplets/pairs, plus the traps (self pairs, empty
batches, per-anchor mining) and pytorch-metric-learning where it defines the same quantity."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from likewise.errors import InputError
from likewise.tuning.losses import LOSSES, make_loss


def _batch(seed: int = 0, n: int = 12, d: int = 6, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    labels[-1] = classes  # a singleton class: an anchor with no positive, never counted as anchor
    return torch.randn(n, d, generator=g, dtype=torch.float64), labels


def _dist(e: torch.Tensor) -> list[list[float]]:
    e = e / e.norm(dim=1, keepdim=True)
    n = len(e)
    return [[min(2.0, max(0.0, 1.0 - float(e[i] @ e[j]))) for j in range(n)] for i in range(n)]


def _roles(labels: torch.Tensor, a: int) -> tuple[list[int], list[int]]:
    lab = labels.tolist()
    pos = [j for j in range(len(lab)) if j != a and lab[j] == lab[a]]
    neg = [j for j in range(len(lab)) if lab[j] != lab[a]]
    return pos, neg


def naive_batch_hard(e, labels, margin):
    d, losses = _dist(e), []
    for a in range(len(labels)):
        pos, neg = _roles(labels, a)
        if pos and neg:
            losses.append(max(0.0, max(d[a][p] for p in pos) - min(d[a][n] for n in neg) + margin))
    return sum(losses) / len(losses) if losses else 0.0


def naive_semi_hard(e, labels, margin):
    d, losses = _dist(e), []
    for a in range(len(labels)):
        pos, neg = _roles(labels, a)
        if not (pos and neg):
            continue
        for p in pos:
            farther = [d[a][n] for n in neg if d[a][n] > d[a][p]]
            dn = min(farther) if farther else max(d[a][n] for n in neg)
            losses.append(max(0.0, d[a][p] - dn + margin))
    return sum(losses) / len(losses) if losses else 0.0


def naive_batch_all(e, labels, margin):
    d, losses = _dist(e), []
    for a in range(len(labels)):
        pos, neg = _roles(labels, a)
        for p in pos:
            for n in neg:
                value = d[a][p] - d[a][n] + margin
                if value > 0:
                    losses.append(value)
    return sum(losses) / len(losses) if losses else 0.0


def naive_supcon(e, labels, temperature):
    e = e / e.norm(dim=1, keepdim=True)
    n, losses = len(labels), []
    for a in range(n):
        pos, neg = _roles(labels, a)
        if not (pos and neg):
            continue
        denominator = sum(math.exp(float(e[a] @ e[j]) / temperature) for j in range(n) if j != a)
        terms = [-math.log(math.exp(float(e[a] @ e[p]) / temperature) / denominator) for p in pos]
        losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses) if losses else 0.0


def naive_online_contrastive(e, labels, pos_margin, neg_margin):
    d, losses = _dist(e), []
    for a in range(len(labels)):
        pos, neg = _roles(labels, a)
        if not (pos and neg):
            continue
        closest_negative = min(d[a][n] for n in neg)
        farthest_positive = max(d[a][p] for p in pos)
        losses += [max(0.0, d[a][p] - pos_margin) ** 2 for p in pos if d[a][p] > closest_negative]
        losses += [max(0.0, neg_margin - d[a][n]) ** 2 for n in neg if d[a][n] < farthest_positive]
    return sum(losses) / len(losses) if losses else 0.0


CASES = [
    ("batch_hard_triplet", {"margin": 0.5}, lambda e, y: naive_batch_hard(e, y, 0.5)),
    ("batch_hard_triplet", {"margin": 0.1}, lambda e, y: naive_batch_hard(e, y, 0.1)),
    ("batch_semi_hard_triplet", {"margin": 0.5}, lambda e, y: naive_semi_hard(e, y, 0.5)),
    ("batch_semi_hard_triplet", {"margin": 0.05}, lambda e, y: naive_semi_hard(e, y, 0.05)),
    ("batch_all_triplet", {"margin": 0.5}, lambda e, y: naive_batch_all(e, y, 0.5)),
    ("batch_all_triplet", {"margin": 0.2}, lambda e, y: naive_batch_all(e, y, 0.2)),
    ("supcon", {"temperature": 0.1}, lambda e, y: naive_supcon(e, y, 0.1)),
    ("supcon", {"temperature": 0.5}, lambda e, y: naive_supcon(e, y, 0.5)),
    ("online_contrastive", {"pos_margin": 0.0, "neg_margin": 0.5},
     lambda e, y: naive_online_contrastive(e, y, 0.0, 0.5)),
    ("online_contrastive", {"pos_margin": 0.1, "neg_margin": 0.9},
     lambda e, y: naive_online_contrastive(e, y, 0.1, 0.9)),
]


def test_every_registered_loss_is_checked_against_a_naive_loop() -> None:
    assert {name for name, _, _ in CASES} == set(LOSSES)


@pytest.mark.parametrize("name,params,naive", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_matches_naive_loop(name, params, naive, seed) -> None:
    e, labels = _batch(seed)
    value = make_loss(name, **params)(e, labels)
    expected = naive(e, labels)
    assert expected > 0  # the case exercises the loss
    assert float(value) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_ignores_the_scale_of_the_embeddings(name) -> None:
    e, labels = _batch(3)
    loss = make_loss(name)
    assert float(loss(e, labels)) == pytest.approx(float(loss(7.5 * e, labels)), rel=1e-9)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3], [5]], ids=["one class", "all distinct", "one record"])
def test_loss_is_a_differentiable_zero_when_nothing_is_valid(name, labels) -> None:
    e = torch.randn(len(labels), 5, dtype=torch.float64, requires_grad=True)
    value = make_loss(name)(e, torch.tensor(labels))
    assert float(value.detach()) == 0.0 and not torch.isnan(value)
    value.backward()
    assert e.grad is not None and torch.all(e.grad == 0)


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradients_are_finite_with_duplicate_embeddings(name) -> None:
    # identical rows give distance 0 exactly; no NaN may come out of the clamp or the normalisation
    e = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    value = make_loss(name)(e, torch.tensor([0, 0, 1, 1]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(e.grad).all()


def test_a_record_is_never_its_own_positive() -> None:
    # two records of class 0 that are far apart: if the anchor counted itself (distance 0) as the hardest
    # positive... it never is the hardest, but with batch-hard the *only* positive must be the other record.
    e = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1])
    # anchors 0 and 1: positive distance 2, negative distance 1 -> relu(2 - 1 + 0.5) = 1.5; anchor 2 skipped
    assert float(make_loss("batch_hard_triplet", margin=0.5)(e, labels)) == pytest.approx(1.5)
    # supcon with a single positive: the self-similarity (1/t) must not be in the denominator
    t = 0.5
    expected = -math.log(math.exp(-1 / t) / (math.exp(-1 / t) + math.exp(0.0)))
    assert float(make_loss("supcon", temperature=t)(e, labels)) == pytest.approx(expected)


def test_semi_hard_mining_is_per_anchor() -> None:
    # Anchor 0's positive is close (0.1), anchor 2's positive is far. A batch-wide threshold would choose
    # the same negatives for both; per-anchor mining picks, for each, the closest negative beyond its own
    # positive distance.
    angles = [0.0, 0.45, 1.5, 2.6, 0.9, 3.6]
    e = torch.tensor([[math.cos(a), math.sin(a)] for a in angles], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    value = make_loss("batch_semi_hard_triplet", margin=0.3)(e, labels)
    assert float(value) == pytest.approx(naive_semi_hard(e, labels, 0.3), rel=1e-12)
    assert float(value) > 0


def test_batch_hard_skips_anchors_without_a_negative_or_positive() -> None:
    e, labels = _batch(4)
    loss = make_loss("batch_hard_triplet")
    full = float(loss(e, labels))
    # removing the singleton (no positive) changes nothing: it never was an anchor (it is still a negative
    # of the others, so drop it and check the loss on the rest equals the naive loop there)
    assert full == pytest.approx(naive_batch_hard(e, labels, 0.5))
    assert float(loss(e[:-1], labels[:-1])) == pytest.approx(naive_batch_hard(e[:-1], labels[:-1], 0.5))


def test_batch_all_matches_pytorch_metric_learning() -> None:
    pml = pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.losses import TripletMarginLoss

    for seed in range(3):
        e, labels = _batch(seed, n=16)
        reference = TripletMarginLoss(margin=0.5, distance=CosineSimilarity())(e, labels)
        assert float(make_loss("batch_all_triplet", margin=0.5)(e, labels)) == pytest.approx(float(reference), rel=1e-9)
    assert pml is not None


def test_supcon_matches_pytorch_metric_learning() -> None:
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.losses import SupConLoss

    for seed in range(3):
        e, labels = _batch(seed, n=16)
        labels[-1] = 0  # pml counts anchors without negatives; give every anchor one
        reference = SupConLoss(temperature=0.2)(e, labels)
        assert float(make_loss("supcon", temperature=0.2)(e, labels)) == pytest.approx(float(reference), rel=1e-6)


def test_losses_train_a_separation() -> None:
    # a few gradient steps on free embeddings must lower each loss
    for name in LOSSES:
        g = torch.Generator().manual_seed(0)
        e = torch.randn(20, 8, generator=g, requires_grad=True)
        labels = torch.arange(20) % 4
        loss = make_loss(name)
        optimizer = torch.optim.SGD([e], lr=0.5)
        first = float(loss(e, labels).detach())
        for _ in range(50):
            optimizer.zero_grad()
            value = loss(e, labels)
            value.backward()
            optimizer.step()
        assert float(loss(e, labels).detach()) < first, name


def test_wrong_name_or_option_lists_the_valid_ones() -> None:
    with pytest.raises(InputError, match="batch_hard_triplet, batch_semi_hard_triplet"):
        make_loss("triplet")
    with pytest.raises(InputError, match="supcon"):
        make_loss("supcon", margin=0.5)
    with pytest.raises(InputError, match="temperature must be positive"):
        make_loss("supcon", temperature=0)


def test_loss_rejects_mismatched_shapes() -> None:
    with pytest.raises(InputError, match=r"\(B, d\)"):
        make_loss("supcon")(torch.randn(4, 3), torch.tensor([0, 1, 0]))
    assert np.isfinite(float(make_loss("supcon")(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))))
