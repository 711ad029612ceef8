"""likewise: fine-tune text embeddings from class labels so that similar means same class.

The main entry points, imported lazily (so ``import likewise`` stays fast and torch loads only when used)::

    from likewise import Tuner, load_records, get_encoder, evaluate
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Tuner": ("likewise.tuning", "Tuner"),
    "load_records": ("likewise.records", "load_records"),
    "Dataset": ("likewise.records", "Dataset"),
    "get_encoder": ("likewise.encoders", "get_encoder"),
    "evaluate": ("likewise.metrics", "evaluate"),
    "Workspace": ("likewise.workspace", "Workspace"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'likewise' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
