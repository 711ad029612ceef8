"""Reading files and refinery exports into a :class:`Dataset`, with validation and clear errors.

``load_records(path, ...)`` reads CSV, TSV, JSON lines, JSON, Parquet and Kern refinery exports (see
:data:`FORMATS`); ``summary_lines(dataset.summary)`` describes what a load found.
"""
from __future__ import annotations

from likewise.records.dataset import Dataset, LoadSummary
from likewise.records.formats import FORMATS, Format, detect_format, sniff_format
from likewise.records.loader import MAX_TEXT_CHARS, dataset_from_frame, load_records
from likewise.records.summary import summary_lines

__all__ = [
    "FORMATS",
    "MAX_TEXT_CHARS",
    "Dataset",
    "Format",
    "LoadSummary",
    "dataset_from_frame",
    "detect_format",
    "load_records",
    "sniff_format",
    "summary_lines",
]
