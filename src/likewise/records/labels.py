"""Each record's label, where it came from, and why a record has none; the label-column reader.

Every record ends in exactly one state: ``labeled`` (manual or weak), ``missing`` (no label given),
``dropped`` (a weak label at or below the confidence threshold) or ``conflict`` (disagreeing manual labels).
So ``labeled + missing_labels + dropped_by_confidence + conflicts == records`` in every summary.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.records.cells import confidence_value, label_value

LABELED, MISSING, DROPPED, CONFLICT = "labeled", "missing", "dropped", "conflict"


@dataclass(frozen=True)
class RecordLabel:
    """One record's outcome: its label (or None), confidence (NaN unless weak), source and state."""

    label: str | None
    confidence: float
    source: str
    state: str

    @classmethod
    def manual(cls, label: str) -> RecordLabel:
        return cls(label, math.nan, "manual", LABELED)

    @classmethod
    def weak(cls, label: str, confidence: float) -> RecordLabel:
        return cls(label, confidence, "weak", LABELED)

    @classmethod
    def missing(cls) -> RecordLabel:
        return _MISSING

    @classmethod
    def dropped(cls) -> RecordLabel:
        return _DROPPED

    @classmethod
    def conflict(cls) -> RecordLabel:
        return _CONFLICT


# unlabeled outcomes carry no data, so one shared (frozen) instance of each serves every record
_MISSING = RecordLabel(None, math.nan, "", MISSING)
_DROPPED = RecordLabel(None, math.nan, "", DROPPED)
_CONFLICT = RecordLabel(None, math.nan, "", CONFLICT)


@dataclass
class LabelResult:
    """The outcome for every record, in record order."""

    records: list[RecordLabel]

    def subset(self, keep: np.ndarray) -> LabelResult:
        return LabelResult([r for r, k in zip(self.records, keep) if k])

    @property
    def labels(self) -> list[str | None]:
        return [r.label for r in self.records]

    @property
    def confidences(self) -> np.ndarray:
        return np.array([r.confidence for r in self.records], dtype=np.float64)

    @property
    def sources(self) -> list[str]:
        return [r.source for r in self.records]

    def counts(self) -> dict[str, int]:
        """Summary counts: manual, weak, dropped_by_confidence, conflicts, missing_labels."""
        states = Counter(r.state for r in self.records)
        sources = Counter(r.source for r in self.records)
        return {
            "manual": sources["manual"],
            "weak": sources["weak"],
            "dropped_by_confidence": states[DROPPED],
            "conflicts": states[CONFLICT],
            "missing_labels": states[MISSING],
        }


def unlabeled(n: int) -> LabelResult:
    """No label column: every record is unlabeled."""
    return LabelResult([RecordLabel.missing()] * n)


def column_labels(
    values: list[Any],
    confidences: list[Any] | None,
    threshold: float,
    where: list[str],
    label_column: str,
    confidence_column: str | None,
) -> LabelResult:
    """Labels from a label column, optionally with a confidence column.

    Without a confidence column every label is manual. With one, a label whose confidence is empty is manual
    (a person's label carries no confidence); a label with a confidence is weak and kept only when the
    confidence is above ``threshold``.
    """
    records = []
    for i, value in enumerate(values):
        try:
            label = label_value(value)
        except TypeError as exc:
            raise InputError(
                f"label column '{label_column}': {where[i]} holds a {exc} (several labels?); "
                "likewise needs one label per record"
            ) from None
        if label is None:
            records.append(RecordLabel.missing())
            continue
        if confidences is None or confidence_column is None:
            records.append(RecordLabel.manual(label))
            continue
        confidence = confidence_value(confidences[i], where[i], confidence_column)
        if math.isnan(confidence):
            records.append(RecordLabel.manual(label))
        elif confidence > threshold:
            records.append(RecordLabel.weak(label, confidence))
        else:
            records.append(RecordLabel.dropped())
    return LabelResult(records)
