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


PRECISIONS = ("auto", "fp32", "bf16")


def training_precision(device: str, precision: str = "auto") -> str:
    """The number format encoder fine-tuning computes in on ``device``: ``"bf16"`` (mixed precision: bfloat16
    matrix products, float32 master weights and optimizer state) or ``"fp32"``.

    ``"auto"`` is bf16 where the hardware multiplies bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX; else fp32. On this project's 2-core AMD CPU (AVX512-BF16) a MiniLM training step
    runs ~1.8x faster in bf16 (bench/RESULTS.md, "Encoder fine-tuning, faster"), where torch's float32
    products reach only ~100 GFLOP/s. Asking for bf16 where it is not native raises a clear error."""
    import torch

    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return "fp32"
    if device.startswith("cuda"):
        native = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    elif device == "cpu":
        cpu = torch.cpu
        native = bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                      or getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    else:
        native = False
    if precision == "bf16" and not native:
        raise InputError(f"bf16 training was asked for but {device} has no native bfloat16 arithmetic; "
                         "use --precision fp32 (or auto)")
    return "bf16" if native else "fp32"
