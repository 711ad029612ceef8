"""One definition of a missing label (``likewise.labels.is_missing_label``), the same in every reader."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from likewise.labels import MISSING_LABEL_STRINGS, is_missing_label
from likewise.records import load_records, summary_lines
from likewise.records.cells import confidence_value, label_value

#: written into label cells, each must read as "no label"
MISSING_WRITTEN = ["None", "none", "NONE", "null", "NULL", "Null", "N/A", "n/a", "#N/A", "<NA>", "nan", "NaN", "NAN",
                   "", " ", "\t", "  null  ", " N/A "]
#: look like "no label" to some tools, but are real classes here
REAL_CLASSES = ["NA", "na", "0", "-", "?", "unknown", "None of these", "nan-free", "nullable", "False"]


@pytest.mark.parametrize("value", [*MISSING_WRITTEN, None, math.nan, np.float32("nan"), pd.NA, pd.NaT])
def test_missing_values(value: object) -> None:
    assert is_missing_label(value)


@pytest.mark.parametrize("value", [*REAL_CLASSES, 0, 1, 0.0, False, True, "sport"])
def test_real_labels_are_not_missing(value: object) -> None:
    assert not is_missing_label(value)


def test_the_documented_list() -> None:
    assert MISSING_LABEL_STRINGS == {"", "nan", "none", "null", "n/a", "#n/a", "<na>"}
    assert all(s == s.strip().lower() for s in MISSING_LABEL_STRINGS)


@pytest.mark.parametrize("value", [*MISSING_WRITTEN, *REAL_CLASSES, None, math.nan, 1.0, "1.0", 3])
def test_the_cell_reader_agrees(value: object) -> None:
    assert (label_value(value) is None) == is_missing_label(value)


def _rows() -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = [
        {"id": f"m{i}", "text": f"text without a label {i}", "label": value} for i, value in enumerate(MISSING_WRITTEN)
    ]
    rows += [{"id": f"c{i}", "text": f"a text of class {i}", "label": value} for i, value in enumerate(REAL_CLASSES)]
    rows += [{"id": "s1", "text": "a real label", "label": "sport"}, {"id": "s2", "text": "padded", "label": " sport "}]
    return rows


def _check(path: Path, extra_missing: int = 0) -> None:
    data = load_records(path)
    by_id = dict(zip(data.ids, data.labels))
    assert all(by_id[f"m{i}"] is None for i in range(len(MISSING_WRITTEN)))
    assert [by_id[f"c{i}"] for i in range(len(REAL_CLASSES))] == REAL_CLASSES
    assert by_id["s1"] == by_id["s2"] == "sport"
    s = data.summary
    assert s.missing_labels == len(MISSING_WRITTEN) + extra_missing
    assert s.labeled == len(REAL_CLASSES) + 2 and s.per_class["sport"] == 2
    assert not set(s.per_class) & {"None", "null", "N/A", "nan", "NaN", ""}
    assert f"Missing labels: {s.missing_labels} records without a label (kept, unlabeled)" in summary_lines(s)


def test_csv_missing_label_strings_are_unlabeled_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame(_rows()).to_csv(path, index=False)
    _check(path)


def test_tsv_missing_label_strings_are_unlabeled_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    pd.DataFrame(_rows()).to_csv(path, index=False, sep="\t")
    _check(path)


def test_jsonl_missing_label_strings_and_null_are_unlabeled_and_counted(tmp_path: Path) -> None:
    rows = [*_rows(), {"id": "j1", "text": "null", "label": None}, {"id": "j2", "text": "NaN", "label": math.nan}]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")  # NaN written as a bare NaN
    _check(path, extra_missing=2)


def test_json_and_parquet_agree_with_csv(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(json.dumps(_rows()), encoding="utf-8")
    pd.DataFrame(_rows()).to_parquet(tmp_path / "labels.parquet", index=False)
    pd.DataFrame(_rows()).to_csv(tmp_path / "labels.csv", index=False)
    read = [load_records(tmp_path / f"labels.{ext}").labels for ext in ("json", "parquet", "csv")]
    assert read[0] == read[1] == read[2]


def test_a_missing_confidence_written_as_text_makes_a_manual_label(tmp_path: Path) -> None:
    path = tmp_path / "weak.csv"
    pd.DataFrame({
        "text": ["a", "b", "c", "d"],
        "label": ["sport", "tech", "sport", "null"],
        "confidence": ["null", "N/A", "0.9", "0.95"],
    }).to_csv(path, index=False)
    data = load_records(path, confidence_column="confidence")
    assert data.labels == ["sport", "tech", "sport", None]
    assert data.label_sources == ["manual", "manual", "weak", ""]
    assert data.summary.missing_labels == 1
    assert math.isnan(confidence_value(" None ", "record 1", "confidence"))


def test_refinery_manual_none_falls_through_to_the_weak_label(tmp_path: Path) -> None:
    rows = [
        {"running_id": "0", "headline": "a", "headline__t__MANUAL": "None", "headline__t__WEAK_SUPERVISION": "up",
         "headline__t__WEAK_SUPERVISION__confidence": "0.9000"},
        {"running_id": "1", "headline": "b", "headline__t__MANUAL": "down, N/A", "headline__t__WEAK_SUPERVISION": None,
         "headline__t__WEAK_SUPERVISION__confidence": None},
        {"running_id": "2", "headline": "c", "headline__t__MANUAL": "null", "headline__t__WEAK_SUPERVISION": "null",
         "headline__t__WEAK_SUPERVISION__confidence": "null"},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    data = load_records(path)
    assert data.labels == ["up", "down", None] and data.label_sources == ["weak", "manual", ""]
    assert data.summary.missing_labels == 1 and data.summary.conflicts == 0
