"""Every kind of bad input raises one InputError whose single line names the problem and the fix."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from record_fixtures import TICKETS

from likewise.errors import InputError
from likewise.records import load_records


def error_of(*args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_records(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_missing_file_names_the_path_and_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    message = error_of("reviews/train.csv")
    assert "no such file: 'reviews/train.csv'" in message
    assert os.getcwd() in message and "check the path" in message


def test_folder_instead_of_file(tmp_path: Path) -> None:
    assert "is a folder, not a file" in error_of(tmp_path)


def test_unknown_extension_lists_supported_and_suggests_format(tmp_path: Path) -> None:
    path = tmp_path / "reviews.xlsx"
    path.write_bytes(b"PK\x03\x04")
    message = error_of(path)
    assert "extension '.xlsx'" in message
    assert ".csv, .tsv, .tab, .jsonl, .ndjson, .json, .parquet, .pq" in message and "--format" in message


def test_unknown_format_name_lists_the_formats(write) -> None:
    message = error_of(write(TICKETS, "csv"), format="jsn")
    assert "unknown format 'jsn'; did you mean 'json'?" in message
    assert "csv, tsv, jsonl, json, parquet, refinery" in message


def test_misspelled_text_column_suggests_the_closest(write) -> None:
    message = error_of(write(TICKETS, "csv"), text_columns=["titel"])
    assert "no text column 'titel'; did you mean 'title'?" in message
    assert "available columns: id, title, text, label" in message


def test_misspelled_label_column_suggests_the_closest(write) -> None:
    assert "no label column 'lable'; did you mean 'label'?" in error_of(write(TICKETS, "json"), label_column="lable")


def test_missing_id_column(write) -> None:
    assert "no id column 'ids'; did you mean 'id'?" in error_of(write(TICKETS, "parquet"), id_column="ids")


def test_missing_confidence_column(write) -> None:
    assert "no confidence column 'score'" in error_of(write(TICKETS, "jsonl"), confidence_column="score")


def test_no_text_column_by_default(write) -> None:
    rows = [{"id": r["id"], "Body": r["text"]} for r in TICKETS]
    message = error_of(write(rows, "csv"))
    assert "no 'text' column" in message and "--text-column" in message and "available columns: id, Body" in message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert "empty.csv is empty (0 bytes)" in error_of(path)


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("id,text,label\n", encoding="utf-8")
    assert "has column names (id, text, label) but no records" in error_of(path)


def test_empty_json_list(tmp_path: Path) -> None:
    path = tmp_path / "none.json"
    path.write_text("[]", encoding="utf-8")
    assert "no records" in error_of(path)


def test_all_texts_empty(write) -> None:
    rows = [dict(r, text="   ") for r in TICKETS]
    message = error_of(write(rows, "csv"))
    assert "all 10 records" in message and "empty text in column(s) text" in message and "--text-column" in message


def test_confidence_that_is_not_a_number_names_record_and_value(write) -> None:
    rows = [dict(r, score="0.9") for r in TICKETS]
    rows[3]["score"] = "high"
    message = error_of(write(rows, "csv"), confidence_column="score")
    assert "not a number: record 4 (id 't-004') has 'high'" in message


def test_confidence_outside_zero_to_one(write) -> None:
    rows = [dict(r, score=62.2) for r in TICKETS]
    message = error_of(write(rows, "json"), confidence_column="score")
    assert "outside 0..1 (a percentage? divide by 100)" in message


def test_confidence_threshold_out_of_range(write) -> None:
    assert "between 0 and 1, got 70" in error_of(write(TICKETS, "csv"), confidence_threshold=70)


def test_confidence_without_label_column(write) -> None:
    rows = [{"id": r["id"], "text": r["text"], "score": 0.9} for r in TICKETS]
    assert "needs a label column" in error_of(write(rows, "csv"), confidence_column="score")


def test_duplicate_ids_listed_with_counts(write) -> None:
    rows = [dict(r, id=["a", "b", "a", "c", "a", "b", "d", "e", "f", "g"][i]) for i, r in enumerate(TICKETS)]
    message = error_of(write(rows, "csv"))
    assert "2 ids appear more than once in column 'id': 'a' (3 times), 'b' (2 times)" in message


def test_duplicate_ids_shows_at_most_five(write) -> None:
    rows = [dict(r, id=str(i % 3)) for i, r in enumerate(TICKETS * 3)]
    rows += [dict(TICKETS[0], id=f"x{i % 4}") for i in range(8)]
    message = error_of(write(rows, "jsonl"))
    assert "7 ids appear more than once" in message and message.count("times)") == 5 and "and 2 more" in message


def test_missing_id_value(write) -> None:
    rows = [dict(r) for r in TICKETS]
    rows[2]["id"] = None
    assert "record 3 has no id" in error_of(write(rows, "json"))


def test_undecodable_bytes_give_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    data = "id,text,label\n1,fine,ok\n2,Prix: 15 € ou 12 £,cost\n".encode("cp1252")
    path.write_bytes(data)
    message = error_of(path)
    offset = data.index(b"\x80")
    assert f"byte 0x80 at byte offset {offset} (line 3, column 12)" in message
    assert "re-save the file as UTF-8" in message


def test_utf16_file(tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes("id,text\n1,hello\n".encode("utf-16"))
    assert "UTF-16 encoded; re-save it as UTF-8" in error_of(path)


def test_corrupt_parquet(write) -> None:
    path = write(TICKETS, "parquet")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    assert "is not a valid Parquet file:" in error_of(path)


def test_corrupt_json_gives_the_parser_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"text": "a", "label": "x"},\n {"text": "b" "label": "y"}]', encoding="utf-8")
    assert "is not valid JSON: Expecting ',' delimiter: line 2 column 15" in error_of(path)


def test_json_that_is_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "object.json"
    path.write_text(json.dumps({"data": [{"text": "a"}]}), encoding="utf-8")
    assert "expected a JSON list of objects (one per record), found an object with keys data" in error_of(path)


def test_json_list_of_non_objects(tmp_path: Path) -> None:
    path = tmp_path / "strings.json"
    path.write_text(json.dumps(["a", "b"]), encoding="utf-8")
    assert "item 0 is a JSON str, expected an object" in error_of(path)


def test_corrupt_json_lines_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"\n{"text": "c"}\n', encoding="utf-8")
    assert "not valid JSON lines: line 3:" in error_of(path)


def test_csv_row_with_too_many_fields(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("id,text\n1,fine\n2,one, two\n", encoding="utf-8")
    message = error_of(path)
    assert "is not valid CSV: Expected 2 fields in line 3, saw 3" in message and "quote fields" in message


def test_csv_with_repeated_column_names(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("id,text,text\n1,a,b\n", encoding="utf-8")
    assert "column name(s) 'text' appear more than once" in error_of(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "records.csv.gz"
    path.write_bytes(gzip.compress(b"id,text\n1,a\n")[:12])
    assert "is not a valid gzip file" in error_of(path)


def test_several_labels_in_one_json_cell(tmp_path: Path) -> None:
    path = tmp_path / "multi.json"
    path.write_text(json.dumps([{"id": "1", "text": "a", "label": ["x", "y"]}]), encoding="utf-8")
    assert "record 1 (id '1') holds a list (several labels?)" in error_of(path)


def test_object_in_a_text_cell(tmp_path: Path) -> None:
    path = tmp_path / "nested.jsonl"
    path.write_text(json.dumps({"id": "1", "text": {"en": "hi"}}) + "\n", encoding="utf-8")
    assert "text column 'text': record 1 (id '1') holds a dict, not a text" in error_of(path)


def test_binary_stdin_without_format(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = __import__("io").BytesIO(b"\x00\x01\x02binary")

    monkeypatch.setattr("sys.stdin", Stdin)
    assert "cannot tell the format of binary input; give --format" in error_of("-")


def test_non_positive_text_limit(write) -> None:
    assert "max_text_chars must be at least 1" in error_of(write(TICKETS, "csv"), max_text_chars=0)


def test_parquet_with_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"id": pd.Series([], dtype=str), "text": pd.Series([], dtype=str)}).to_parquet(path)
    assert "has column names (id, text) but no records" in error_of(path)
