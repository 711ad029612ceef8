"""The in-memory record set every later step works on."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class LoadSummary:
    """What a load found, printed after every load.

    ``dropped_by_confidence``: weak labels at or below the confidence threshold (the record is kept, unlabeled).
    ``conflicts``: records whose manual labels disagree (kept, unlabeled).
    ``empty_texts``: records whose text was empty or missing (dropped).
    ``truncated_texts``: texts longer than the reader's limit, cut (see ``records.MAX_TEXT_CHARS``).
    ``missing_labels``: records without a label (no label given, or no label column at all), kept. What counts
    as "no label" is :func:`likewise.labels.is_missing_label` (None, NaN, "", "None", "null", "N/A", ...).
    ``skipped_tasks``: refinery tasks that were not read because they cannot give one label per record
    (extraction tasks, which hold token-level tags), by name.
    Every kept record is in exactly one of: labeled, missing_labels, dropped_by_confidence, conflicts.
    """

    source: str = ""
    records: int = 0
    labeled: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    manual: int = 0
    weak: int = 0
    dropped_by_confidence: int = 0
    conflicts: int = 0
    empty_texts: int = 0
    missing_labels: int = 0
    truncated_texts: int = 0
    generated_ids: bool = False
    # how the records were read (filled by ``records.load_records``; defaults for datasets built in code)
    format: str = ""
    text_columns: list[str] = field(default_factory=list)
    label_column: str | None = None
    id_column: str | None = None
    refinery_task: str | None = None
    skipped_tasks: list[str] = field(default_factory=list)
    confidence_threshold: float | None = None
    max_text_chars: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Dataset:
    """Records with ids, texts and (optional) class labels.

    ``labels[i]`` is None for an unlabeled record; unlabeled records are kept, since they are searched and
    transformed later. ``confidences[i]`` is the weak-supervision confidence of a weak label, NaN otherwise.
    ``label_sources[i]`` is "manual", "weak" or "" (unlabeled).
    """

    ids: list[str]
    texts: list[str]
    labels: list[str | None]
    confidences: np.ndarray
    label_sources: list[str]
    summary: LoadSummary = field(default_factory=LoadSummary)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not (len(self.texts) == len(self.labels) == len(self.label_sources) == len(self.confidences) == n):
            raise ValueError("Dataset columns must all have the same length")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def labeled_mask(self) -> np.ndarray:
        """Boolean array, True where the record has a label."""
        return np.array([label is not None for label in self.labels], dtype=bool)

    @property
    def classes(self) -> list[str]:
        """Sorted distinct labels."""
        return sorted({label for label in self.labels if label is not None})

    def class_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(label for label in self.labels if label is not None).items()))

    def subset(self, index: np.ndarray | list[int]) -> Dataset:
        """The records at ``index`` (positions or a boolean mask), in that order."""
        idx = np.arange(len(self))[np.asarray(index)] if np.asarray(index).dtype == bool else np.asarray(index)
        return Dataset(
            ids=[self.ids[i] for i in idx],
            texts=[self.texts[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            confidences=np.asarray(self.confidences)[idx],
            label_sources=[self.label_sources[i] for i in idx],
            summary=self.summary,
        )

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": self.ids,
                "text": self.texts,
                "label": self.labels,
                "confidence": self.confidences,
                "label_source": self.label_sources,
            }
        )

    @classmethod
    def from_lists(
        cls,
        texts: list[str],
        labels: list[str | None] | None = None,
        ids: list[str] | None = None,
    ) -> Dataset:
        """Build a dataset in code (tests, notebooks); labels are manual."""
        n = len(texts)
        labels = list(labels) if labels is not None else [None] * n
        ids = list(ids) if ids is not None else [str(i) for i in range(n)]
        return cls(
            ids=[str(i) for i in ids],
            texts=list(texts),
            labels=[None if lab is None else str(lab) for lab in labels],
            confidences=np.full(n, np.nan),
            label_sources=["manual" if lab is not None else "" for lab in labels],
        )
