"""``load_records``: one file (or standard input) in any supported format -> a validated :class:`Dataset`."""
from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from likewise.errors import InputError
from likewise.records.cells import scalar_text, text_value
from likewise.records.dataset import Dataset, LoadSummary
from likewise.records.formats import FORMATS, check_format_name, detect_format, sniff_format
from likewise.records.labels import LabelResult, column_labels, unlabeled
from likewise.records.refinery import (
    EXTRACTION,
    RefineryTask,
    find_all_tasks,
    refinery_labels,
    select_task,
    task_names,
)
from likewise.records.source import read_source

#: default limit on one text's length in characters; the encoder truncates further to its token window
MAX_TEXT_CHARS = 100_000
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "label"
DEFAULT_ID_COLUMN = "id"
#: id columns of refinery exports, tried in order when there is no "id" column: the record number refinery
#: adds on upload, then the record's UUID (always in the UI export)
REFINERY_ID_COLUMNS = ("running_id", "record_id")
#: generated ids are this prefix + the record's 0-based position in the file
GENERATED_ID_PREFIX = "row-"


def load_records(
    path: str | Path,
    *,
    text_columns: Sequence[str] | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    confidence_column: str | None = None,
    confidence_threshold: float = 0.7,
    format: str | None = None,
    refinery_task: str | None = None,
    max_text_chars: int = MAX_TEXT_CHARS,
) -> Dataset:
    """Read records from ``path`` (``"-"``: standard input) into a :class:`Dataset`.

    ``format``: one of :data:`FORMATS`; by default from the extension (for stdin: sniffed from the content).
    A ``.json`` file whose columns look like a refinery export is read as one (unless a label or confidence
    column is given). ``text_columns``: joined with a line break (default: ``text``, else the refinery task's
    attribute). ``label_column``: default ``label`` when present, else every record is unlabeled.
    ``id_column``: default ``id`` when present (for refinery: ``running_id``, then ``record_id``), else ids
    ``row-<position>``.
    ``confidence_column``: makes labels with a confidence weak; kept only when confidence > threshold.
    ``refinery_task``: the task to read labels from, required when the export has several.
    Texts are stripped; records with an empty text are dropped, texts over ``max_text_chars`` are cut; both
    are counted in the summary. Raises :class:`InputError` for anything unusable, naming the fix.
    """
    if not 0.0 <= confidence_threshold <= 1.0:
        raise InputError(
            f"confidence threshold (--min-confidence) must be between 0 and 1, got {confidence_threshold}"
        )
    if max_text_chars < 1:
        raise InputError(f"max_text_chars must be at least 1, got {max_text_chars}")
    if format is not None:
        check_format_name(format)
    raw = read_source(path)
    if not raw.data or raw.data.isspace():
        raise InputError(f"{raw.name} is empty ({len(raw.data)} bytes); it needs a header row and records")
    if format is None:
        format = sniff_format(raw.data) if raw.name == "<stdin>" else detect_format(path)
    frame = FORMATS[format].parse(raw.data, raw.name)
    frame.columns = [str(c) for c in frame.columns]

    task: RefineryTask | None = None
    skipped: list[str] = []
    if format == "refinery" or (format == "json" and label_column is None and confidence_column is None):
        tasks = find_all_tasks(frame)
        if format == "refinery" or tasks:
            if label_column is not None or confidence_column is not None:
                raise InputError(
                    "a refinery export takes its labels from the task columns: leave out --label-column and "
                    "--confidence-column and choose a task with --task, or read the file with --format json"
                )
            task = select_task(tasks, refinery_task, raw.name)
            skipped = [n for t, n in zip(tasks, task_names(tasks)) if t.kind == EXTRACTION]
            format = "refinery"
    return dataset_from_frame(
        frame,
        name=raw.name,
        format=format,
        text_columns=text_columns,
        label_column=label_column,
        id_column=id_column,
        confidence_column=confidence_column,
        confidence_threshold=confidence_threshold,
        refinery=task,
        skipped_tasks=skipped,
        max_text_chars=max_text_chars,
    )


def find_column(columns: list[str], wanted: str, role: str, name: str) -> str:
    """``wanted`` if it is a column; otherwise an :class:`InputError` suggesting the closest name."""
    if wanted in columns:
        return wanted
    lowered = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(wanted.lower(), list(lowered), n=1, cutoff=0.6)
    hint = f"did you mean '{lowered[close[0]]}'? " if close else ""
    raise InputError(f"{name} has no {role} column '{wanted}'; {hint}available columns: {', '.join(columns)}")


def _text_columns(columns: list[str], given: Sequence[str] | None, task: RefineryTask | None, name: str) -> list[str]:
    if given is not None:
        given = [given] if isinstance(given, str) else list(given)
        if not given:
            raise InputError("text_columns is empty; name at least one column holding the texts")
        return [find_column(columns, c, "text", name) for c in given]
    if DEFAULT_TEXT_COLUMN in columns:
        return [DEFAULT_TEXT_COLUMN]
    if task is not None and task.attribute in columns:
        return [task.attribute]
    close = difflib.get_close_matches(DEFAULT_TEXT_COLUMN, [c.lower() for c in columns], n=1)
    hint = f" (is it '{next(c for c in columns if c.lower() == close[0])}'?)" if close else ""
    raise InputError(
        f"{name} has no 'text' column{hint}; choose the text column(s) with --text-column; "
        f"available columns: {', '.join(columns)}"
    )


def _ids(frame: pd.DataFrame, id_column: str | None, name: str) -> list[str]:
    values = frame[id_column].tolist() if id_column else []
    ids = []
    for i, value in enumerate(values):
        try:
            text = scalar_text(value)
        except TypeError:
            raise InputError(f"id column '{id_column}': record {i + 1} holds a {type(value).__name__}") from None
        if not text:
            raise InputError(
                f"id column '{id_column}': record {i + 1} has no id; fill in every id or leave out "
                "the id column to generate ids"
            )
        ids.append(text)
    repeated = [(i, n) for i, n in Counter(ids).most_common() if n > 1]
    if repeated:
        shown = ", ".join(f"'{i}' ({n} times)" for i, n in repeated[:5])
        more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        raise InputError(
            f"{name}: {len(repeated)} ids appear more than once in column '{id_column}': {shown}{more}; "
            "ids must be unique: fix them or choose another id column"
        )
    return ids


def _texts(frame: pd.DataFrame, columns: list[str], ids: list[str]) -> list[str]:
    parts_by_column = [frame[c].tolist() for c in columns]
    texts = []
    for i in range(len(frame)):
        parts = []
        for column, values in zip(columns, parts_by_column):
            try:
                part = text_value(values[i])
            except TypeError as exc:
                raise InputError(
                    f"text column '{column}': record {i + 1} (id '{ids[i]}') holds a {exc}, not a text"
                ) from None
            if part:
                parts.append(part)
        texts.append("\n".join(parts))
    return texts


def dataset_from_frame(
    frame: pd.DataFrame,
    *,
    name: str,
    format: str = "",
    text_columns: Sequence[str] | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    confidence_column: str | None = None,
    confidence_threshold: float = 0.7,
    refinery: RefineryTask | None = None,
    skipped_tasks: Sequence[str] = (),
    max_text_chars: int = MAX_TEXT_CHARS,
) -> Dataset:
    """Validate a parsed table and build the :class:`Dataset` and its :class:`LoadSummary`.

    The part of :func:`load_records` after parsing; also used for the bundled datasets. ``name`` is how
    messages refer to the input; ``skipped_tasks`` names the refinery tasks left unread (for the summary).
    """
    columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        what = f"column names ({', '.join(columns)}) but" if columns else "an empty list and"
        raise InputError(f"{name} has {what} no records; add records below the header")
    texts_from = _text_columns(columns, text_columns, refinery, name)
    if id_column is not None:
        id_column = find_column(columns, id_column, "id", name)
    elif DEFAULT_ID_COLUMN in columns:
        id_column = DEFAULT_ID_COLUMN
    elif refinery is not None:
        id_column = next((c for c in REFINERY_ID_COLUMNS if c in columns), None)
    ids = _ids(frame, id_column, name) if id_column else [f"{GENERATED_ID_PREFIX}{i}" for i in range(len(frame))]
    where = [f"record {i + 1} (id '{record_id}')" for i, record_id in enumerate(ids)]

    if refinery is not None:
        result: LabelResult = refinery_labels(frame, refinery, confidence_threshold, where)
    else:
        if label_column is not None:
            label_column = find_column(columns, label_column, "label", name)
        elif DEFAULT_LABEL_COLUMN in columns:
            label_column = DEFAULT_LABEL_COLUMN
        if confidence_column is not None:
            confidence_column = find_column(columns, confidence_column, "confidence", name)
            if label_column is None:
                raise InputError("a confidence column needs a label column: give --label-column")
        if label_column is None:
            result = unlabeled(len(frame))
        else:
            result = column_labels(
                frame[label_column].tolist(),
                frame[confidence_column].tolist() if confidence_column else None,
                confidence_threshold,
                where,
                label_column,
                confidence_column,
            )

    texts = _texts(frame, texts_from, ids)
    keep = np.array([bool(t) for t in texts], dtype=bool)
    if not keep.any():
        raise InputError(
            f"all {len(texts)} records in {name} have an empty text in column(s) {', '.join(texts_from)}; "
            f"choose the column(s) holding the texts with --text-column (columns: {', '.join(columns)})"
        )
    kept = [i for i in range(len(texts)) if keep[i]]
    texts = [texts[i] for i in kept]
    truncated = sum(len(t) > max_text_chars for t in texts)
    if truncated:
        texts = [t[:max_text_chars] for t in texts]
    result = result.subset(keep)
    labels = result.labels
    per_class = Counter(label for label in labels if label is not None)
    weak_used = refinery is not None or confidence_column is not None
    summary = LoadSummary(
        source=name,
        records=len(texts),
        labeled=sum(per_class.values()),
        per_class=dict(sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0]))),
        empty_texts=int((~keep).sum()),
        truncated_texts=truncated,
        generated_ids=id_column is None,
        format=format,
        text_columns=texts_from,
        label_column=(refinery.key if refinery else label_column),
        id_column=id_column,
        refinery_task=refinery.task if refinery else None,
        skipped_tasks=list(skipped_tasks),
        confidence_threshold=confidence_threshold if weak_used else None,
        max_text_chars=max_text_chars,
        **result.counts(),
    )
    return Dataset(
        ids=[ids[i] for i in kept],
        texts=texts,
        labels=labels,
        confidences=result.confidences,
        label_sources=result.sources,
        summary=summary,
    )
