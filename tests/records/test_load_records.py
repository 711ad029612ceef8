"""load_records on realistic files in every format, checked against a plain-loop reading of the same rows."""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from record_fixtures import TICKETS, WRITABLE
from likewise.records import FORMATS, detect_format, load_records, summary_lines


def naive(rows: list[dict], text_keys: tuple[str, ...] = ("text",)) -> list[tuple[str, str, str | None]]:
    """(id, text, label) for each row with a non-empty text, read with plain Python."""
    out = []
    for row in rows:
        parts = [str(row[k]).strip() for k in text_keys if row.get(k) is not None and str(row[k]).strip()]
        if parts:
            label = row.get("label")
            out.append((str(row["id"]), "\n".join(parts), label if label not in (None, "") else None))
    return out


@pytest.mark.parametrize("fmt", WRITABLE)
def test_every_format_reads_the_same_records(write, fmt: str) -> None:
    data = load_records(write(TICKETS, fmt))
    assert list(zip(data.ids, data.texts, data.labels)) == naive(TICKETS)
    s = data.summary
    assert (s.records, s.labeled, s.missing_labels, s.empty_texts) == (9, 7, 2, 1)
    assert s.per_class == {"billing": 3, "bug": 2, "feature": 2}
    assert s.format == fmt and s.label_column == "label" and s.id_column == "id" and not s.generated_ids
    assert data.label_sources == ["manual" if lab else "" for lab in data.labels]
    assert np.isnan(data.confidences).all()


def test_csv_cross_checked_with_the_csv_module(write) -> None:
    path = write(TICKETS, "csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    data = load_records(path)
    assert list(zip(data.ids, data.texts, data.labels)) == naive(rows)
    assert data.texts[5] == "Uploading a 20 MB photo crashes the Android app.\nSteps: open, tap +, choose photo."
    assert data.texts[4] == 'Please add "CSV export" for invoices, credit notes, and receipts.'
    assert data.texts[6] == "Straße and café names show as garbled characters 😕"


def test_text_columns_are_joined_with_a_line_break(write) -> None:
    data = load_records(write(TICKETS, "jsonl"), text_columns=["title", "text"])
    assert list(zip(data.ids, data.texts, data.labels)) == naive(TICKETS, ("title", "text"))
    assert data.texts[0] == "Refund not received\nI returned the blender three weeks ago and still have no refund."
    assert data.summary.text_columns == ["title", "text"]
    assert "text: title + text" in summary_lines(data.summary)[0]


def test_a_single_text_column_may_be_given_as_a_string(write) -> None:
    data = load_records(write(TICKETS, "csv"), text_columns="title")  # type: ignore[arg-type]
    assert data.texts[0] == "Refund not received"


def test_compressed_csv_reads_like_the_plain_file(write, tmp_path: Path) -> None:
    plain = write(TICKETS, "csv")
    packed = tmp_path / "records.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert detect_format(packed) == "csv"
    a, b = load_records(plain), load_records(packed)
    assert (a.ids, a.texts, a.labels) == (b.ids, b.texts, b.labels)


def test_numeric_labels_and_ids_become_plain_strings(write) -> None:
    rows = [{"id": i, "text": f"review {i}", "label": lab} for i, lab in enumerate([1, 0, None, 1, 2])]
    for fmt in ("json", "jsonl", "parquet", "csv"):
        data = load_records(write(rows, fmt, name=f"n.{fmt}"))
        # pandas makes an int column with a gap float (1.0) and writes it to CSV as "1.0"
        assert data.labels == ["1", "0", None, "1", "2"], fmt
        assert data.ids == ["0", "1", "2", "3", "4"], fmt


def test_csv_ids_keep_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "zeros.csv"
    path.write_text("id,text,label\n007,Bond film review,spy\n0042,Answer,meta\n", encoding="utf-8")
    assert load_records(path).ids == ["007", "0042"]


def test_ids_generated_from_row_position_when_absent(write) -> None:
    rows = [{k: v for k, v in r.items() if k != "id"} for r in TICKETS]
    data = load_records(write(rows, "csv"))
    assert data.ids == [f"row-{i}" for i in range(10) if i != 8]  # row 8 has an empty text
    assert data.summary.generated_ids and data.summary.id_column is None
    assert any(line.startswith("Ids: generated from row position") for line in summary_lines(data.summary))


def test_id_and_label_columns_by_name(write) -> None:
    rows = [{"ticket": r["id"], "body": r["text"], "queue": r["label"]} for r in TICKETS]
    data = load_records(write(rows, "parquet"), text_columns=["body"], label_column="queue", id_column="ticket")
    assert list(zip(data.ids, data.texts, data.labels)) == naive(
        [{"id": r["ticket"], "text": r["body"], "label": r["queue"]} for r in rows]
    )


def test_without_a_label_column_every_record_is_unlabeled(write) -> None:
    rows = [{"id": r["id"], "text": r["text"]} for r in TICKETS]
    data = load_records(write(rows, "tsv"))
    assert data.labels == [None] * 9 and data.label_sources == [""] * 9
    s = data.summary
    assert (s.labeled, s.missing_labels, s.label_column) == (0, 9, None)
    assert "Labels: no label column; all 9 records unlabeled" in summary_lines(s)


def test_confidence_column_keeps_weak_labels_above_the_threshold(write) -> None:
    confidences = [0.95, None, 0.71, 0.7, "0.42", 0.99, 0.8, "", 0.9, 0.3]
    rows = [dict(r, score=c) for r, c in zip(TICKETS, confidences)]
    for fmt in ("csv", "json"):
        data = load_records(write(rows, fmt, name=f"weak.{fmt}"), confidence_column="score")
        expected = []
        for r, c in zip(rows, confidences):  # plain loop: empty confidence = manual label
            if not r["text"].strip():
                continue
            if r["label"] in (None, ""):
                expected.append((None, "", math.nan))
            elif c in (None, ""):
                expected.append((r["label"], "manual", math.nan))
            elif float(c) > 0.7:
                expected.append((r["label"], "weak", float(c)))
            else:
                expected.append((None, "", math.nan))
        assert data.labels == [e[0] for e in expected], fmt
        assert data.label_sources == [e[1] for e in expected], fmt
        np.testing.assert_allclose(data.confidences, [e[2] for e in expected])
        s = data.summary
        assert (s.manual, s.weak, s.dropped_by_confidence, s.missing_labels) == (2, 3, 2, 2)
        assert s.labeled + s.missing_labels + s.dropped_by_confidence + s.conflicts == s.records
        assert s.confidence_threshold == 0.7


def test_threshold_is_strict_and_configurable(write) -> None:
    rows = [{"id": str(i), "text": f"t{i}", "label": "a", "p": p} for i, p in enumerate([0.5, 0.6, 0.61])]
    path = write(rows, "csv")
    assert load_records(path, confidence_column="p", confidence_threshold=0.6).labels == [None, None, "a"]
    assert load_records(path, confidence_column="p", confidence_threshold=0.0).labels == ["a", "a", "a"]


def test_huge_text_is_truncated_and_counted_not_rejected(tmp_path: Path) -> None:
    huge = "lorem ipsum " * (50_000_000 // 12)  # one ~50 MB text
    path = tmp_path / "huge.csv"
    path.write_text(f"id,text,label\nbig,{huge},a\nsmall,short review,b\n", encoding="utf-8")
    data = load_records(path, max_text_chars=100_000)
    assert [len(t) for t in data.texts] == [100_000, len("short review")]
    assert data.texts[0] == huge.strip()[:100_000]
    assert data.summary.truncated_texts == 1
    line = [x for x in summary_lines(data.summary) if x.startswith("Truncated")][0]
    assert "100,000 characters" in line and "token window" in line


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


@pytest.mark.parametrize("fmt", WRITABLE)
def test_stdin_is_sniffed_from_content(write, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(write(TICKETS, fmt).read_bytes()))
    data = load_records("-")
    assert data.summary.format == fmt and data.summary.source == "<stdin>"
    assert list(zip(data.ids, data.texts, data.labels)) == naive(TICKETS)


def test_stdin_with_an_explicit_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b"text\tlabel\nfine, really fine\tok\n"))
    data = load_records("-", format="tsv")
    assert data.texts == ["fine, really fine"] and data.labels == ["ok"]


def test_stdin_refinery_export_is_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    export = Path(__file__).parents[1] / "data" / "refinery_export.json"
    monkeypatch.setattr(sys, "stdin", _Stdin(export.read_bytes()))
    assert load_records("-", refinery_task="sentiment").summary.labeled == 7


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("A.CSV", "csv"), ("a.tsv", "tsv"), ("a.tab", "tsv"), ("a.jsonl", "jsonl"),
     ("a.ndjson", "jsonl"), ("a.json", "json"), ("a.parquet", "parquet"), ("a.pq", "parquet"),
     ("dir.v2/a.jsonl.bz2", "jsonl"), ("a.tsv.xz", "tsv")],
)
def test_detect_format_by_extension(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt


def test_formats_registry_names() -> None:
    assert list(FORMATS) == ["csv", "tsv", "jsonl", "json", "parquet", "refinery"]
    assert all(fmt.name == key for key, fmt in FORMATS.items())


def test_utf8_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfid,text,label\n1,Caf\xc3\xa9 review,good\n")
    data = load_records(path)
    assert data.ids == ["1"] and data.texts == ["Café review"]


def test_labels_are_stripped_and_nan_strings_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps([
        {"text": "a", "label": " sports "}, {"text": "b", "label": "nan"}, {"text": "c", "label": "None"},
        {"text": "d", "label": float("nan")}, {"text": "e", "label": None}, {"text": "f", "label": True},
    ]), encoding="utf-8")
    assert load_records(path).labels == ["sports", None, None, None, None, "True"]  # "None": likewise.labels


def test_json_lines_split_only_at_newlines(tmp_path: Path) -> None:
    text = "first part\u2028second part\x85third\x0cfourth"
    path = tmp_path / "seps.jsonl"
    path.write_text(json.dumps({"id": "1", "text": text}, ensure_ascii=False) + "\r\n", encoding="utf-8")
    assert load_records(path).texts == [text]
