"""Heads: small trainable maps applied to cached embeddings, each saved as safetensors + a JSON config.

Every head maps ``(n, in_dim)`` vectors to L2-normalised ``(n, out_dim)`` vectors and starts at, or near,
the identity, so an untrained head returns the pretrained vectors (renormalised). Heads:

* ``identity`` — no parameters: the pretrained vectors, normalised. The "do nothing" baseline a trained
  head must beat.
* ``linear`` — ``y = W x + b`` with ``W`` initialised to the identity and ``b`` to 0 (or, with
  ``init="centroids"``, to the identity plus an amplification of the class-centroid directions).
* ``skip`` — ``y = x + sigmoid(g) * (W x + b)``, a per-dimension gate ``g`` initialised to -4 (so the
  learned branch starts at weight ~0.018), ``W`` and ``b`` with PyTorch's default init. The reference recipe.
* ``mlp`` — ``y = x + W2 relu(W1 x + b1) + b2`` with ``W2`` and ``b2`` zero-initialised: exactly the
  identity at the start, able to learn a non-linear correction.

A saved head is a folder holding ``head.safetensors`` (tensors, never pickled) and ``head.json`` (format,
head name, dims, constructor options, the encoder identity the caller passed). :func:`load_head` rebuilds
the head from the config only and refuses a file whose dims or encoder do not match.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from likewise.errors import InputError, unknown_name

HEAD_WEIGHTS = "head.safetensors"
HEAD_CONFIG = "head.json"
HEAD_FORMAT = "likewise-head"
HEAD_FORMAT_VERSION = 1


class Head(nn.Module):
    """Base of every head: ``forward`` on tensors, ``transform`` on numpy arrays, both L2-normalised.

    Subclasses implement :meth:`project` (the un-normalised map) and :meth:`options` (their constructor
    keyword arguments, so the JSON config can rebuild them).
    """

    name: ClassVar[str]

    def __init__(self, in_dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        if int(in_dim) < 1:
            raise InputError(f"a head needs at least 1 input dimension, got {in_dim}")
        self.in_dim = int(in_dim)
        self.out_dim = int(out_dim if out_dim is not None else in_dim)
        if self.out_dim < 1:
            raise InputError(f"a head needs at least 1 output dimension, got {out_dim}")

    def project(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """Constructor options besides the dims (JSON-serialisable)."""
        return {}

    def init_from_data(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        """Data-dependent initialisation from the training vectors and labels; most heads need none."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(x), dim=-1)

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def transform(self, x: np.ndarray, *, batch_size: int = 8192) -> np.ndarray:
        """Apply the head to numpy vectors: float32, L2-normalised, shape ``(n, out_dim)``."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            got = x.shape[1] if x.ndim == 2 else f"shape {x.shape}"
            raise InputError(
                f"this head takes {self.in_dim}-dimensional vectors but got {got}; "
                "embed the records with the encoder the head was trained on"
            )
        out = np.empty((x.shape[0], self.out_dim), np.float32)
        was_training = self.training
        self.eval()
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                chunk = torch.as_tensor(np.ascontiguousarray(x[start : start + batch_size], np.float32))
                out[start : start + len(chunk)] = self(chunk.to(self.device)).cpu().numpy()
        self.train(was_training)
        return out

    def config(self, *, encoder: str | None = None) -> dict[str, Any]:
        return {
            "format": HEAD_FORMAT,
            "version": HEAD_FORMAT_VERSION,
            "head": self.name,
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "options": self.options(),
            "encoder": encoder,
        }


class IdentityHead(Head):
    """The pretrained vectors, normalised; no parameters."""

    name = "identity"

    def __init__(self, in_dim: int, out_dim: int | None = None) -> None:
        super().__init__(in_dim, out_dim)
        if self.out_dim != self.in_dim:
            raise InputError(f"the identity head keeps the dims: out_dim must be {self.in_dim}, got {out_dim}")

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x


class LinearHead(Head):
    """``y = W x + b``, ``b`` initialised to 0 and ``W`` to the identity (the first ``out_dim`` rows of it).

    ``init="centroids"`` instead starts from ``W = I + init_scale * U U^T``, ``U`` an orthonormal basis of the
    span of the training class centroids (minus their mean): the directions that separate the classes are
    amplified before training starts ("nearest-centroid" geometry, an LDA-like start without the
    within-class covariance that few labels cannot estimate). The trainer calls :meth:`init_from_data`.
    """

    name = "linear"
    INITS = ("identity", "centroids")

    def __init__(
        self, in_dim: int, out_dim: int | None = None, *, init: str = "identity", init_scale: float = 3.0
    ) -> None:
        super().__init__(in_dim, out_dim)
        if init not in self.INITS:
            raise InputError(f"unknown linear head init {init!r}; choose from {', '.join(self.INITS)}")
        self.init = init
        self.init_scale = float(init_scale)
        self.linear = nn.Linear(self.in_dim, self.out_dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(self.out_dim, self.in_dim))
            self.linear.bias.zero_()

    def options(self) -> dict[str, Any]:
        return {"init": self.init, "init_scale": self.init_scale}

    def init_from_data(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        if self.init != "centroids":
            return
        centroids = torch.stack([x[labels == c].mean(dim=0) for c in torch.unique(labels)]).double()
        centred = centroids - centroids.mean(dim=0)  # shape: (C, in_dim), rank <= C - 1
        u, s, _ = torch.linalg.svd(centred.T, full_matrices=False)
        basis = u[:, s > s.max() * 1e-6]  # shape: (in_dim, rank)
        weight = torch.eye(self.in_dim, dtype=torch.float64) + self.init_scale * basis @ basis.T
        with torch.no_grad():
            self.linear.weight.copy_(weight[: self.out_dim].to(self.linear.weight))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class SkipHead(Head):
    """``y = x + sigmoid(g) * (W x + b)``: the reference recipe's head, near the identity at the start."""

    name = "skip"

    def __init__(self, in_dim: int, out_dim: int | None = None, *, gate_init: float = -4.0) -> None:
        super().__init__(in_dim, out_dim)
        if self.out_dim != self.in_dim:
            raise InputError(f"the skip head keeps the dims: out_dim must be {self.in_dim}, got {out_dim}")
        self.gate_init = float(gate_init)
        self.linear = nn.Linear(self.in_dim, self.in_dim)
        self.gate = nn.Parameter(torch.full((self.in_dim,), self.gate_init))

    def options(self) -> dict[str, Any]:
        return {"gate_init": self.gate_init}

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sigmoid(self.gate) * self.linear(x)


class MLPHead(Head):
    """``y = x + W2 relu(W1 x + b1) + b2``, the second layer zero-initialised (exactly the identity at start)."""

    name = "mlp"

    def __init__(self, in_dim: int, out_dim: int | None = None, *, hidden: int | None = None) -> None:
        super().__init__(in_dim, out_dim)
        if self.out_dim != self.in_dim:
            raise InputError(f"the mlp head keeps the dims: out_dim must be {self.in_dim}, got {out_dim}")
        self.hidden = int(hidden or self.in_dim)
        self.hidden_layer = nn.Linear(self.in_dim, self.hidden)
        self.output_layer = nn.Linear(self.hidden, self.in_dim)
        with torch.no_grad():
            self.output_layer.weight.zero_()
            self.output_layer.bias.zero_()

    def options(self) -> dict[str, Any]:
        return {"hidden": self.hidden}

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.output_layer(torch.relu(self.hidden_layer(x)))


HEADS: dict[str, type[Head]] = {
    "skip": SkipHead,
    "linear": LinearHead,
    "mlp": MLPHead,
    "identity": IdentityHead,
}
"""Head name -> class; every class takes ``(in_dim, out_dim=None, **options)``."""


def make_head(name: str, in_dim: int, out_dim: int | None = None, **options: Any) -> Head:
    """A new head by registry name; a wrong name lists the valid ones."""
    if name not in HEADS:
        raise unknown_name("head", name, HEADS)
    try:
        return HEADS[name](in_dim, out_dim, **options)
    except TypeError as exc:
        raise InputError(f"bad options for the {name!r} head: {exc}") from exc


def save_head(head: Head, folder: str | Path, *, encoder: str | None = None) -> None:
    """Write ``head.safetensors`` and ``head.json`` into ``folder`` (created if needed).

    Callers that need the pair to be replaced atomically write into a fresh folder and rename it (as
    :meth:`likewise.tuning.Tuner.save` does).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
    save_file(tensors, str(folder / HEAD_WEIGHTS), metadata={"format": HEAD_FORMAT})
    text = json.dumps(head.config(encoder=encoder), indent=2, sort_keys=True)
    (folder / HEAD_CONFIG).write_text(text + "\n", encoding="utf-8")


def read_head_config(folder: str | Path) -> dict[str, Any]:
    """The JSON config of a saved head, checked for format and version."""
    path = Path(folder) / HEAD_CONFIG
    if not path.is_file():
        raise InputError(f"no saved head at {folder}: {HEAD_CONFIG} is missing; train and save a head first")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); save the head again") from exc
    if not isinstance(config, dict) or config.get("format") != HEAD_FORMAT:
        raise InputError(f"{path} is not a likewise head config (format {HEAD_FORMAT!r} expected)")
    if config.get("version") != HEAD_FORMAT_VERSION:
        raise InputError(
            f"{path} has head format version {config.get('version')}; this likewise reads version "
            f"{HEAD_FORMAT_VERSION}: retrain the head"
        )
    return config


def load_head(
    folder: str | Path, *, expected_dim: int | None = None, expected_encoder: str | None = None
) -> Head:
    """Rebuild a saved head from its JSON config and safetensors weights (never unpickles anything).

    ``expected_dim`` (the dims of the vectors it will get) and ``expected_encoder`` are checked against the
    config; a mismatch raises ``InputError`` naming both values.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = read_head_config(folder)
    in_dim, out_dim = config.get("in_dim"), config.get("out_dim")
    if expected_dim is not None and in_dim != expected_dim:
        raise InputError(
            f"the head at {folder} takes {in_dim}-dimensional vectors but these have {expected_dim}; "
            "embed with the encoder the head was trained on, or train a new head"
        )
    saved_encoder = config.get("encoder")
    if expected_encoder is not None and saved_encoder is not None and saved_encoder != expected_encoder:
        raise InputError(
            f"the head at {folder} was trained on vectors from {saved_encoder!r}, not {expected_encoder!r}; "
            "use that encoder or train a new head"
        )
    options = config.get("options") or {}
    head = make_head(str(config.get("head")), int(in_dim), int(out_dim), **options)
    path = Path(folder) / HEAD_WEIGHTS
    try:
        tensors = load_file(str(path)) if path.is_file() else None
    except SafetensorError as exc:
        raise InputError(f"{path} could not be read ({exc}); save the head again") from exc
    if tensors is None:
        raise InputError(f"no saved head weights at {path}; save the head again")
    expected = head.state_dict()
    if set(tensors) != set(expected) or any(tensors[k].shape != expected[k].shape for k in expected):
        raise InputError(
            f"{path} does not match a {config.get('head')!r} head of dims {in_dim} -> {out_dim}; save it again"
        )
    head.load_state_dict(tensors)
    return head
