"""Labels in and out of a workspace: one label, a file of labels, undo, class renames, merges and deletes,
counts, history and export. Every change is an event in the label store (:mod:`likewise.workspace.labelstore`);
every reader gets the current labels through its one rule."""
from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from likewise.atomic import atomic_write
from likewise.errors import InputError
from likewise.records.dataset import Dataset
from likewise.workspace import LabelInput, Workspace
from likewise.workspace.labelstore import SOURCES, WriteResult

LABEL_FILE_FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "refinery")
EXPORT_FORMATS = ("csv", "jsonl", "refinery")


def dataset_label_changes(ws: Workspace, dataset: Dataset) -> list[LabelInput]:
    """The label events a loaded file asks for: a person's label as ``imported``, a weak label as ``weak``
    with its confidence, a removal where the file no longer has a label it had. Only what changes the
    label store: re-importing the same file asks for nothing."""
    items = []
    for rid, label, source, confidence in zip(dataset.ids, dataset.labels, dataset.label_sources, dataset.confidences):
        conf = None if confidence is None or math.isnan(float(confidence)) else float(confidence)
        if label is None:
            items += [LabelInput(rid, None, "imported"), LabelInput(rid, None, "weak")]
        elif source == "weak":
            items += [LabelInput(rid, label, "weak", conf), LabelInput(rid, None, "imported")]
        else:
            items += [LabelInput(rid, label, "imported"), LabelInput(rid, None, "weak")]
    return ws.store.changes(items)


def _known_ids(ws: Workspace, ids: list[str]) -> None:
    unknown = ws.unknown_ids(dict.fromkeys(ids))
    if unknown:
        shown = ", ".join(repr(i) for i in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise InputError(f"{len(unknown)} record id(s) are not in the workspace: {shown}; nothing was labeled "
                         "(check the id column, or embed those records first)")


def label_records(ws: Workspace, labels: dict[str, str | None], *, author: str | None = None,
                  session: str | None = None, source: str = "manual", keys: dict[str, str] | None = None) -> WriteResult:
    """Label records (``None`` removes a label); unknown ids refuse the whole call."""
    _known_ids(ws, list(labels))
    items = [LabelInput(str(rid), None if lab is None else str(lab).strip(), source, None, (keys or {}).get(rid))
             for rid, lab in labels.items()]
    return ws.store.add(items, author=author, session=session)


@dataclass
class LabelFile:
    """Labels read from a file: (id, label, confidence) rows, with how they were read."""

    path: str
    format: str
    rows: list[tuple[str, str | None, float | None]]
    source: str
    details: dict[str, Any] = field(default_factory=dict)


def read_label_file(path: str | Path, *, id_column: str | None = None, label_column: str | None = None,
                    confidence_column: str | None = None, fmt: str | None = None, task: str | None = None,
                    threshold: float = 0.7) -> LabelFile:
    """Read a file of labels: CSV / TSV / JSON lines / JSON / Parquet with an id and a label column
    (default ``id`` and ``label``; a confidence column makes them weak), or a refinery export (its
    ``__<task>__MANUAL`` and weak-supervision columns; ``task`` picks the task)."""
    from likewise.records.formats import FORMATS, check_format_name, detect_format, sniff_format
    from likewise.records.labels import column_labels
    from likewise.records.loader import REFINERY_ID_COLUMNS, find_column, load_records
    from likewise.records.refinery import find_all_tasks
    from likewise.records.source import read_source

    if fmt is not None:
        check_format_name(fmt)
    raw = read_source(path)
    if not raw.data or raw.data.isspace():
        raise InputError(f"{raw.name} is empty; it needs an id and a label column")
    fmt = fmt or (sniff_format(raw.data) if raw.name == "<stdin>" else detect_format(path))
    frame = FORMATS[fmt].parse(raw.data, raw.name)
    frame.columns = [str(c) for c in frame.columns]
    columns = list(frame.columns)
    if fmt == "refinery" or (fmt == "json" and label_column is None and find_all_tasks(frame)):
        data = load_records(path, format="refinery", refinery_task=task, id_column=id_column,
                            confidence_threshold=threshold)
        rows = [(rid, lab, None if math.isnan(c) else float(c))
                for rid, lab, c in zip(data.ids, data.labels, data.confidences) if lab is not None]
        return LabelFile(str(path), "refinery", rows, "imported", {"task": data.summary.refinery_task})
    if id_column is None:
        id_column = "id" if "id" in columns else next((c for c in REFINERY_ID_COLUMNS if c in columns), "id")
    id_column = find_column(columns, id_column, "id", raw.name)
    label_column = find_column(columns, label_column or "label", "label", raw.name)
    if confidence_column is not None:
        confidence_column = find_column(columns, confidence_column, "confidence", raw.name)
    ids = ["" if v is None else str(v).strip() for v in frame[id_column].tolist()]
    missing = [i + 1 for i, rid in enumerate(ids) if not rid or rid.lower() == "nan"]
    if missing:
        raise InputError(f"{raw.name}: {len(missing)} row(s) have no id in column '{id_column}' (first: row "
                         f"{missing[0]}); every row needs a record id")
    where = [f"row {i + 1} (id '{rid}')" for i, rid in enumerate(ids)]
    result = column_labels(frame[label_column].tolist(),
                           frame[confidence_column].tolist() if confidence_column else None,
                           threshold, where, label_column, confidence_column)
    rows = []
    for rid, rec in zip(ids, result.records):
        if rec.label is None:
            continue
        rows.append((rid, rec.label, None if math.isnan(rec.confidence) else float(rec.confidence)))
    repeated = [rid for rid, n in Counter(r[0] for r in rows).items() if n > 1]
    if repeated:
        raise InputError(f"{raw.name}: {len(repeated)} id(s) are labeled more than once (e.g. {repeated[0]!r}); "
                         "give each record one label")
    return LabelFile(str(path), fmt, rows, "weak" if confidence_column else "imported",
                     {"id_column": id_column, "label_column": label_column, "skipped_unlabeled": len(ids) - len(rows)})


@dataclass
class ImportResult:
    path: str
    format: str
    rows: int
    written: int
    unchanged: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_label_file(ws: Workspace, path: str | Path, *, author: str | None = None, source: str | None = None,
                      **options: Any) -> ImportResult:
    """Apply a file of labels: every id must be a record of the workspace, or nothing is applied."""
    parsed = read_label_file(path, threshold=ws.threshold, **options)
    source = source or parsed.source
    if source not in SOURCES:
        raise InputError(f"unknown label source {source!r}; use one of {', '.join(SOURCES)}")
    _known_ids(ws, [r[0] for r in parsed.rows])
    items = [LabelInput(rid, lab, "weak" if conf is not None and source != "manual" else source,
                        conf if source != "manual" else None) for rid, lab, conf in parsed.rows]
    changed = ws.store.changes(items)
    result = ws.store.add(changed, author=author)
    return ImportResult(parsed.path, parsed.format, len(parsed.rows), result.written, len(items) - len(changed), source)


def undo_labels(ws: Workspace, n: int = 1, *, author: str | None = None) -> list[dict[str, Any]]:
    return [e.to_dict() for e in ws.store.undo(n, author=author)]


def rename_class(ws: Workspace, old: str, new: str, *, author: str | None = None) -> dict[str, Any]:
    """Rename class ``old`` to ``new``; a merge when ``new`` already exists."""
    before = Counter(c.label for c in ws.labels().labels.values())
    merged = new in before
    seq = ws.store.rename_class(old, new, author=author)
    return {"event": seq, "from": old, "to": new, "records": before.get(old, 0), "merged": merged}


def delete_class(ws: Workspace, name: str, *, author: str | None = None) -> dict[str, Any]:
    before = Counter(c.label for c in ws.labels().labels.values())
    seq = ws.store.delete_class(name, author=author)
    return {"event": seq, "class": name, "records": before.get(name, 0)}


@dataclass
class LabelCounts:
    """Classes with their record counts, by source; conflicts and totals."""

    records: int
    labeled: int
    classes: dict[str, dict[str, int]]
    sources: dict[str, int]
    conflicts: int
    below_threshold: int
    threshold: float
    events: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def label_counts(ws: Workspace) -> LabelCounts:
    state = ws.labels()
    ids = ws.record_ids()
    classes: dict[str, Counter] = {}
    sources: Counter = Counter()
    conflicts = 0
    for rid in ids:
        current = state.labels.get(rid)
        if current is None:
            continue
        classes.setdefault(current.label, Counter())[current.source] += 1
        sources[current.source] += 1
        conflicts += bool(current.conflict)
    table = {name: {"records": sum(c.values()), **dict(c)} for name, c in sorted(classes.items())}
    return LabelCounts(len(ids), sum(sources.values()), table, dict(sources), conflicts, state.below_threshold,
                       state.threshold, state.last_seq)


def label_history(ws: Workspace, record_id: str) -> list[dict[str, Any]]:
    from likewise.ops.search import check_record_id

    check_record_id(ws, record_id)
    return ws.store.history(record_id)


def export_labels(ws: Workspace, out: str | Path, *, fmt: str | None = None, task: str = "label",
                  attribute: str = "text", include_unlabeled: bool = False) -> dict[str, Any]:
    """Write the current labels: CSV or JSON lines (id, text, label, source, confidence, author), or a
    refinery-style JSON export with ``<attribute>__<task>__MANUAL`` columns that refinery and
    ``likewise embed`` read back."""
    out = Path(out)
    fmt = fmt or {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "refinery"}.get(out.suffix.lower())
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export labels as .csv, .jsonl or .json (refinery columns); got {out.name!r} "
                         f"(or pass --format {'/'.join(EXPORT_FORMATS)})")
    data = ws.records()
    state = ws.labels()
    rows = []
    for rid, text in zip(data.ids, data.texts):
        current = state.labels.get(rid)
        if current is None and not include_unlabeled:
            continue
        rows.append({"id": rid, "text": text, "label": current.label if current else None,
                     "source": current.source if current else None,
                     "confidence": current.confidence if current else None,
                     "author": current.author if current else None})

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            if fmt == "csv":
                writer = csv.DictWriter(f, fieldnames=["id", "text", "label", "source", "confidence", "author"])
                writer.writeheader()
                writer.writerows(rows)
            elif fmt == "jsonl":
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                column = f"{attribute}__{task}__MANUAL" if attribute else f"__{task}__MANUAL"
                records = [{"id": r["id"], attribute or "text": r["text"],
                            column: r["label"] if r["source"] in ("manual", "imported") else None,
                            **({f"{attribute}__{task}__WEAK_SUPERVISION": r["label"],
                                f"{attribute}__{task}__WEAK_SUPERVISION__confidence": f"{r['confidence']:.4f}"}
                               if r["source"] in ("weak", "predicted") else {})} for r in rows]
                f.write(json.dumps(records, ensure_ascii=False, indent=1))

    atomic_write(out, write, create_folder=False)
    return {"path": str(out), "format": fmt, "records": len(rows)}

