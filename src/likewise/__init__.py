"""likewise: fine-tune text embeddings from class labels so that similar means same class."""
from __future__ import annotations

__version__ = "0.1.0"
