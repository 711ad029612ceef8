"""Which torch device to run on: CPU by default, CUDA when present, always overridable."""
from __future__ import annotations

import os

from likewise.errors import InputError

DEVICE_ENV = "LIKEWISE_DEVICE"


def resolve_device(device: str | None = None) -> str:
    """``device`` if given, else ``$LIKEWISE_DEVICE``, else "cuda" when available, else "cpu"."""
    import torch

    device = device or os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} was asked for but CUDA is not available here; use --device cpu")
    if device not in {"cpu", "mps"} and not device.startswith("cuda"):
        raise InputError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    return device
