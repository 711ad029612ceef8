"""Kern refinery record exports: finding the labeling tasks and choosing each record's label.

An export is a JSON list of records. Each classification task adds up to three columns::

    <attribute>__<task>__MANUAL                          "positive", or "positive, negative" (several annotators)
    <attribute>__<task>__WEAK_SUPERVISION                "negative"
    <attribute>__<task>__WEAK_SUPERVISION__confidence    "0.6220" (a string or a number)

``<attribute>`` is the text attribute the task labels; it is empty (``__Topic__MANUAL``) for a task on the
whole record. Extraction tasks hold token-level lists in the same columns; they are recognised and skipped.

Rules: a manual label wins over a weak one; a manual field holding several *different* labels is a conflict
(the record is kept, unlabeled, and counted); a weak label is kept only when its confidence is above the
threshold (otherwise the record is kept unlabeled and counted). A weak label without a confidence cannot pass
the threshold, so it is counted as dropped. A label that itself contains ", " reads as several labels.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from likewise.errors import InputError
from likewise.records.cells import confidence_value, is_missing, label_value
from likewise.records.labels import LabelResult, RecordLabel

_COLUMN = re.compile(r"^(?P<prefix>.+)__(?P<kind>MANUAL|WEAK_SUPERVISION)(?P<confidence>__confidence)?$")
MANUAL_SEPARATOR = ", "


@dataclass(frozen=True)
class RefineryTask:
    """One classification task of an export and its columns (None where the export lacks one)."""

    attribute: str
    task: str
    manual_column: str | None
    weak_column: str | None
    confidence_column: str | None

    @property
    def key(self) -> str:
        """``<attribute>__<task>``: unique even when two attributes carry a task of the same name."""
        return f"{self.attribute}__{self.task}"


def _split_prefix(prefix: str, columns: set[str]) -> tuple[str, str]:
    """Split ``<attribute>__<task>``; where "__" occurs more than once, prefer an attribute that is a column."""
    cuts = [m.start() for m in re.finditer("(?=__)", prefix)]
    splits = [(prefix[:c], prefix[c + 2 :]) for c in cuts if prefix[c + 2 :]]
    for attribute, task in splits:
        if attribute in columns or attribute == "":
            return attribute, task
    return splits[-1] if splits else ("", prefix)


def _holds_lists(frame: pd.DataFrame, column: str | None) -> bool:
    if column is None:
        return False
    return any(isinstance(v, (list, tuple, np.ndarray)) for v in frame[column].tolist())


def find_tasks(frame: pd.DataFrame) -> list[RefineryTask]:
    """The classification tasks found in ``frame``'s column names, in column order (extraction tasks skipped)."""
    columns = [str(c) for c in frame.columns]
    found: dict[tuple[str, str], dict[str, str]] = {}
    for column in columns:
        match = _COLUMN.match(column)
        if not match:
            continue
        attribute, task = _split_prefix(match["prefix"], set(columns))
        role = "confidence" if match["confidence"] else match["kind"].lower()
        found.setdefault((attribute, task), {})[role] = column
    tasks = []
    for (attribute, task), roles in found.items():
        if "manual" not in roles and "weak_supervision" not in roles:
            continue
        candidate = RefineryTask(
            attribute, task, roles.get("manual"), roles.get("weak_supervision"), roles.get("confidence")
        )
        if not (_holds_lists(frame, candidate.manual_column) or _holds_lists(frame, candidate.weak_column)):
            tasks.append(candidate)
    return tasks


def is_refinery(frame: pd.DataFrame) -> bool:
    """True when ``frame`` has at least one refinery classification task's label columns."""
    return bool(find_tasks(frame))


def select_task(tasks: list[RefineryTask], wanted: str | None, name: str) -> RefineryTask:
    """The task called ``wanted`` (its task name or ``<attribute>__<task>``); the only one when None."""
    if not tasks:
        raise InputError(
            f"{name} has no refinery classification task columns (<attribute>__<task>__MANUAL or "
            "__WEAK_SUPERVISION); read it as plain JSON with --format json"
        )
    names = [t.task for t in tasks]
    shown = [t.task if names.count(t.task) == 1 else t.key for t in tasks]
    if wanted is None:
        if len(tasks) == 1:
            return tasks[0]
        raise InputError(
            f"{name} has {len(tasks)} labeling tasks: {', '.join(shown)}; choose one with --task"
        )
    matches = [t for t in tasks if wanted in (t.task, t.key)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        keys = ", ".join(t.key for t in matches)
        raise InputError(f"task '{wanted}' exists for several attributes ({keys}); give one of those names")
    close = difflib.get_close_matches(wanted, shown, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise InputError(f"{name} has no labeling task '{wanted}'; {hint}tasks: {', '.join(shown)}")


def _manual_labels(value: Any) -> set[str]:
    if is_missing(value):
        return set()
    return {label for label in (label_value(p) for p in str(value).split(MANUAL_SEPARATOR)) if label is not None}


def refinery_labels(
    frame: pd.DataFrame, task: RefineryTask, threshold: float, where: list[str]
) -> LabelResult:
    """Each record's label for ``task`` under the rules in this module's docstring.

    ``where[i]`` names record i in error messages.
    """
    n = len(frame)
    manual = frame[task.manual_column].tolist() if task.manual_column else [None] * n
    weak = frame[task.weak_column].tolist() if task.weak_column else [None] * n
    conf = frame[task.confidence_column].tolist() if task.confidence_column else [None] * n
    records = []
    for i in range(n):
        labels = _manual_labels(manual[i])
        if len(labels) > 1:
            records.append(RecordLabel.conflict())
            continue
        if labels:
            records.append(RecordLabel.manual(labels.pop()))
            continue
        weak_label = label_value(weak[i])
        if weak_label is None:
            records.append(RecordLabel.missing())
            continue
        confidence = confidence_value(conf[i], where[i], task.confidence_column or "(none)")
        if not math.isnan(confidence) and confidence > threshold:
            records.append(RecordLabel.weak(weak_label, confidence))
        else:
            records.append(RecordLabel.dropped())
    return LabelResult(records)
