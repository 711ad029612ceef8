"""Reading files and refinery exports into a :class:`Dataset`, with validation and clear errors."""
from __future__ import annotations

from likewise.records.dataset import Dataset, LoadSummary

__all__ = ["Dataset", "LoadSummary"]
