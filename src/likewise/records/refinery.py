"""Kern refinery record exports: finding the labeling tasks and choosing each record's label.

An export is a JSON list of records. Refinery writes it two ways, and each classification task adds up to
three columns::

    SDK / legacy export (``client.get_record_export``)
    <attribute>__<task>__MANUAL                          "positive", or "positive, negative" (several annotators)
    <attribute>__<task>__WEAK_SUPERVISION                "negative"
    <attribute>__<task>__WEAK_SUPERVISION__confidence    "0.6220" (a string rounded to 4 places, or a number)

    UI export (the web app's "download records")
    <attribute>__<task>__MANUAL                          "positive" (one label: the record's valid manual label)
    <attribute>__<task>__WEAK_SUPERVISION                "negative"
    <attribute>__<task>__WEAK_SUPERVISION_CONFIDENCE     0.62196254 (an unrounded number)

``<attribute>`` is the text attribute the task labels; it is empty (``__Topic__MANUAL``) for a task on the
whole record. The confidence suffix is matched case-insensitively (``__confidence``, ``_CONFIDENCE``). Other
columns the UI can add (``__INFORMATION_SOURCE__<name>``, ``__MODEL_CALLBACK``, ``__created_by``) are not read.
Extraction (token-level) tasks use the same columns but hold lists of tags (``OUTSIDE``, ``B-x``, ``I-x``) or
null: they have no label per record, so they are recognised, never offered or picked, and listed as skipped.

Rules: a manual label wins over a weak one; a manual field holding several *different* labels is a conflict
(the record is kept, unlabeled, and counted); a weak label is kept only when its confidence is above the
threshold (otherwise the record is kept unlabeled and counted as dropped by confidence). A weak label needs a
confidence: a task with weak labels but no confidence column, or a weak label whose confidence cell is empty,
is an :class:`InputError` naming the column or record, never a silent drop. Only the SDK export joins several
manual labels with ", " (so there a label that itself contains ", " reads as several labels); an export whose
confidence columns use the UI spelling is read with one manual label per cell.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from likewise.errors import InputError
from likewise.records.cells import confidence_value, is_missing, label_value
from likewise.records.labels import LabelResult, RecordLabel

_COLUMN = re.compile(r"^(?P<prefix>.+)__(?P<kind>MANUAL|WEAK_SUPERVISION)(?P<confidence>_{1,2}(?i:confidence))?$")
#: how the SDK export joins several annotators' manual labels in one cell
MANUAL_SEPARATOR = ", "
CLASSIFICATION, EXTRACTION = "classification", "extraction"


@dataclass(frozen=True)
class RefineryTask:
    """One labeling task of an export and its columns (None where the export lacks one).

    ``kind``: ``"classification"`` (one label per record) or ``"extraction"`` (token-level tags; skipped).
    ``joined_manual``: True when a manual cell may hold several labels joined by ", " (the SDK export).
    """

    attribute: str
    task: str
    manual_column: str | None
    weak_column: str | None
    confidence_column: str | None
    kind: str = CLASSIFICATION
    joined_manual: bool = True

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


def _has_values(frame: pd.DataFrame, column: str) -> bool:
    return any(not is_missing(v) for v in frame[column].tolist())


def _is_ui_spelling(column: str) -> bool:
    """``..._CONFIDENCE`` (one underscore): the UI export's spelling of a weak-supervision confidence column."""
    return not column.lower().endswith("__confidence")


def find_all_tasks(frame: pd.DataFrame) -> list[RefineryTask]:
    """Every labeling task found in ``frame``'s column names, classification and extraction, in column order."""
    columns = [str(c) for c in frame.columns]
    found: dict[tuple[str, str], dict[str, list[str]]] = {}
    for column in columns:
        match = _COLUMN.match(column)
        if not match:
            continue
        attribute, task = _split_prefix(match["prefix"], set(columns))
        role = "confidence" if match["confidence"] else match["kind"].lower()
        found.setdefault((attribute, task), {}).setdefault(role, []).append(column)
    candidates = []
    for (attribute, task), roles in found.items():
        if "manual" not in roles and "weak_supervision" not in roles:
            continue
        confidences = roles.get("confidence", [])
        # both spellings at once (a merged file?): read the one that holds values
        confidence = next((c for c in confidences if _has_values(frame, c)), confidences[0] if confidences else None)
        manual, weak = roles.get("manual", [None])[0], roles.get("weak_supervision", [None])[0]
        lists = any(_holds_lists(frame, c) for c in (manual, weak, confidence))
        candidates.append(
            RefineryTask(attribute, task, manual, weak, confidence, EXTRACTION if lists else CLASSIFICATION)
        )
    ui_export = any(
        _is_ui_spelling(t.confidence_column) for t in candidates if t.kind == CLASSIFICATION and t.confidence_column
    )
    # a task's own confidence column tells which export it came from; a task without one follows the file
    return [
        replace(t, joined_manual=not (_is_ui_spelling(t.confidence_column) if t.confidence_column else ui_export))
        for t in candidates
    ]


def find_tasks(frame: pd.DataFrame) -> list[RefineryTask]:
    """The classification tasks found in ``frame``'s column names, in column order (extraction tasks left out)."""
    return [t for t in find_all_tasks(frame) if t.kind == CLASSIFICATION]


def is_refinery(frame: pd.DataFrame) -> bool:
    """True when ``frame`` has at least one refinery classification task's label columns."""
    return bool(find_tasks(frame))


def task_names(tasks: list[RefineryTask]) -> list[str]:
    """How messages and summaries name each task: its task name, or ``<attribute>__<task>`` where names repeat."""
    names = [t.task for t in tasks]
    return [t.task if names.count(t.task) == 1 else t.key for t in tasks]


def select_task(tasks: list[RefineryTask], wanted: str | None, name: str) -> RefineryTask:
    """The classification task called ``wanted`` (its task name or ``<attribute>__<task>``); the only one when None.

    ``tasks`` may include extraction tasks (from :func:`find_all_tasks`): they are never picked, and naming
    one is an error that says why.
    """
    classification = [t for t in tasks if t.kind == CLASSIFICATION]
    extraction = [t for t in tasks if t.kind == EXTRACTION]
    if not classification:
        if extraction:
            raise InputError(
                f"{name} has only extraction (token-level) tasks ({', '.join(task_names(extraction))}); "
                "likewise needs a classification task with one label per record: add one in refinery and re-export"
            )
        raise InputError(
            f"{name} has no refinery classification task columns (<attribute>__<task>__MANUAL or "
            "__WEAK_SUPERVISION); read it as plain JSON with --format json"
        )
    shown = task_names(classification)
    if wanted is None:
        if len(classification) == 1:
            return classification[0]
        raise InputError(
            f"{name} has {len(classification)} labeling tasks: {', '.join(shown)}; choose one with --task"
        )
    matches = [t for t in classification if wanted in (t.task, t.key)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        keys = ", ".join(t.key for t in matches)
        raise InputError(f"task '{wanted}' exists for several attributes ({keys}); give one of those names")
    if any(wanted in (t.task, t.key) for t in extraction):
        raise InputError(
            f"task '{wanted}' in {name} is an extraction task (token-level tags such as B-x, I-x, OUTSIDE), "
            f"not one label per record; choose a classification task: {', '.join(shown)}"
        )
    close = difflib.get_close_matches(wanted, shown, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise InputError(f"{name} has no labeling task '{wanted}'; {hint}tasks: {', '.join(shown)}")


def _cell_label(value: Any, column: str, where: str) -> str | None:
    try:
        return label_value(value)
    except TypeError as exc:
        raise InputError(
            f"refinery column '{column}': {where} holds a {exc}, not a label; "
            "likewise reads classification tasks (one label per record)"
        ) from None


def _manual_labels(value: Any, task: RefineryTask, where: str) -> set[str]:
    text = _cell_label(value, task.manual_column or "", where)
    if text is None:
        return set()
    if not task.joined_manual:
        return {text}
    return {label for label in (label_value(p) for p in text.split(MANUAL_SEPARATOR)) if label is not None}


def _no_confidence_column(frame: pd.DataFrame, task: RefineryTask) -> InputError:
    weak = task.weak_column
    near = [str(c) for c in frame.columns if str(c).startswith(task.key) and "confid" in str(c).lower()]
    hint = f" (found {', '.join(near)}, which is not read as one)" if near else ""
    return InputError(
        f"refinery task '{task.task}' has weak labels in '{weak}' but no confidence column{hint}; "
        f"expected '{weak}__confidence' (SDK export) or '{weak}_CONFIDENCE' (UI export): "
        "re-export the task with its weak supervision confidence"
    )


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
        labels = _manual_labels(manual[i], task, where[i])
        if len(labels) > 1:
            records.append(RecordLabel.conflict())
            continue
        if labels:
            records.append(RecordLabel.manual(labels.pop()))
            continue
        weak_label = _cell_label(weak[i], task.weak_column or "", where[i])
        if weak_label is None:
            records.append(RecordLabel.missing())
            continue
        if task.confidence_column is None:
            raise _no_confidence_column(frame, task)
        confidence = confidence_value(conf[i], where[i], task.confidence_column)
        if math.isnan(confidence):
            raise InputError(
                f"confidence column '{task.confidence_column}': {where[i]} has the weak label {weak_label!r} "
                "but no confidence; a weak label needs one to be checked against --min-confidence"
            )
        if confidence > threshold:
            records.append(RecordLabel.weak(weak_label, confidence))
        else:
            records.append(RecordLabel.dropped())
    return LabelResult(records)
