from __future__ import annotations

import pytest

from likewise.encoders.device import resolve_device


def test_cuda_is_never_forced(monkeypatch):
    """Even where CUDA is present, $LIKEWISE_DEVICE and an explicit device win."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("LIKEWISE_DEVICE", raising=False)
    assert resolve_device() == "cuda"
    monkeypatch.setenv("LIKEWISE_DEVICE", "cpu")
    assert resolve_device() == "cpu"
    assert resolve_device("cuda:0") == "cuda:0"
