"""Kern refinery exports: task discovery, manual-over-weak, conflicts, the confidence threshold."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from likewise.errors import InputError
from likewise.records import load_records, summary_lines

EXPORT = Path(__file__).parents[1] / "data" / "refinery_export.json"


def naive_refinery(rows: list[dict], attribute: str, task: str, threshold: float) -> dict[str, tuple]:
    """Plain-loop reading of an export: id -> (label, source), for records with a non-empty headline."""
    out = {}
    for row in rows:
        if not row["headline"].strip():
            continue
        manual = row[f"{attribute}__{task}__MANUAL"]
        weak = row[f"{attribute}__{task}__WEAK_SUPERVISION"]
        confidence = row[f"{attribute}__{task}__WEAK_SUPERVISION__confidence"]
        manual_set = set(manual.split(", ")) - {""} if manual else set()
        if len(manual_set) > 1:
            out[row["running_id"]] = (None, "conflict")
        elif manual_set:
            out[row["running_id"]] = (manual_set.pop(), "manual")
        elif weak and confidence is not None and float(confidence) > threshold:
            out[row["running_id"]] = (weak, "weak")
        elif weak:
            out[row["running_id"]] = (None, "dropped")
        else:
            out[row["running_id"]] = (None, "missing")
    return out


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXPORT, tmp_path / "export.json"))


@pytest.fixture
def rows() -> list[dict]:
    return json.loads(EXPORT.read_text(encoding="utf-8"))


def test_several_tasks_need_a_choice_and_the_error_lists_them(export: Path) -> None:
    with pytest.raises(InputError, match="2 labeling tasks: sentiment, Topic; choose one with --task"):
        load_records(export)


def test_sentiment_task_matches_a_naive_reading(export: Path, rows: list[dict]) -> None:
    data = load_records(export, refinery_task="sentiment")
    expected = naive_refinery(rows, "headline", "sentiment", 0.7)
    assert data.ids == list(expected)  # ids from running_id, record order kept
    assert data.labels == [label for label, _ in expected.values()]
    assert data.label_sources == [s if s in ("manual", "weak") else "" for _, s in expected.values()]
    # texts default to the task's attribute
    assert data.texts[0] == "T. Rowe Price (TROW) Dips More Than Broader Markets"
    s = data.summary
    assert s.format == "refinery" and s.refinery_task == "sentiment" and s.id_column == "running_id"
    assert (s.records, s.labeled, s.manual, s.weak) == (11, 7, 4, 3)
    assert (s.dropped_by_confidence, s.conflicts, s.missing_labels, s.empty_texts) == (2, 1, 1, 1)
    assert s.per_class == {"Negative": 2, "Positive": 3, "Neutral": 2}


def test_manual_label_wins_and_weak_confidences_are_kept(export: Path) -> None:
    data = load_records(export, refinery_task="sentiment")
    by_id = {i: (lab, src, conf) for i, lab, src, conf in zip(data.ids, data.labels, data.label_sources, data.confidences)}
    assert by_id["1"][:2] == ("Positive", "manual") and math.isnan(by_id["1"][2])  # weak said Negative
    assert by_id["3"][:2] == ("Neutral", "manual")  # "Neutral, Neutral" agrees
    assert by_id["2"][:2] == (None, "")  # "Positive, Negative" is a conflict even with a confident weak label
    assert by_id["4"][:2] == ("Positive", "weak") and by_id["4"][2] == pytest.approx(0.845)
    assert by_id["6"][:2] == (None, "")  # confidence exactly 0.7 is not above the threshold
    assert by_id["9"][:2] == ("Positive", "weak")  # an empty manual field falls through to the weak label
    assert "10" not in by_id  # empty headline dropped


def test_threshold_changes_what_is_kept(export: Path, rows: list[dict]) -> None:
    for threshold in (0.0, 0.6, 0.85, 0.99, 1.0):
        data = load_records(export, refinery_task="sentiment", confidence_threshold=threshold)
        expected = naive_refinery(rows, "headline", "sentiment", threshold)
        assert data.labels == [label for label, _ in expected.values()], threshold
        s = data.summary
        assert s.labeled + s.missing_labels + s.dropped_by_confidence + s.conflicts == s.records


def test_whole_record_task_with_empty_attribute(export: Path, rows: list[dict]) -> None:
    with pytest.raises(InputError, match="no 'text' column.*headline"):
        load_records(export, refinery_task="Topic")  # the task has no attribute to take texts from
    data = load_records(export, refinery_task="Topic", text_columns=["headline"])
    expected = naive_refinery(rows, "", "Topic", 0.7)
    assert data.labels == [label for label, _ in expected.values()]
    assert (data.summary.manual, data.summary.weak, data.summary.conflicts) == (4, 5, 1)
    assert data.summary.label_column == "__Topic"
    joined = load_records(export, refinery_task="Topic", text_columns=["headline", "date"])
    assert joined.texts[1] == "Apple beats quarterly revenue estimates on strong iPhone sales\nJul-28-22 04:31PM"
    assert "10" in joined.ids  # its headline is empty but its date is not


def test_task_can_be_named_with_its_attribute(export: Path) -> None:
    assert load_records(export, refinery_task="headline__sentiment").labels == load_records(
        export, refinery_task="sentiment"
    ).labels


def test_unknown_task_suggests_the_closest(export: Path) -> None:
    with pytest.raises(InputError, match="no labeling task 'sentimnet'; did you mean 'sentiment'\\?"):
        load_records(export, refinery_task="sentimnet")


def test_extraction_tasks_are_not_offered(export: Path) -> None:
    with pytest.raises(InputError) as info:
        load_records(export)
    assert "entities" not in str(info.value)


def test_single_task_export_needs_no_choice_and_confidence_may_be_a_number(tmp_path: Path, rows: list[dict]) -> None:
    for row in rows:
        for key in [k for k in row if k.startswith("__Topic")]:
            del row[key]
        c = row["headline__sentiment__WEAK_SUPERVISION__confidence"]
        row["headline__sentiment__WEAK_SUPERVISION__confidence"] = None if c is None else float(c)
    path = tmp_path / "one-task.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    data = load_records(path)
    assert data.summary.refinery_task == "sentiment"
    assert data.summary.labeled == 7
    assert any("4 manual, 3 weak (confidence > 0.7)" in line for line in summary_lines(data.summary))
    assert any("2 records at confidence <= 0.7" in line for line in summary_lines(data.summary))
    assert any("Conflicting manual labels: 1 record" in line for line in summary_lines(data.summary))


def test_label_column_reads_the_export_as_plain_json(export: Path) -> None:
    data = load_records(export, text_columns=["headline"], label_column="headline__sentiment__MANUAL")
    assert data.summary.format == "json"
    assert data.labels[1] == "Positive" and data.labels[2] == "Positive, Negative"


def test_explicit_refinery_format_on_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    path.write_text(json.dumps([{"text": "a", "label": "x"}]), encoding="utf-8")
    with pytest.raises(InputError, match="no refinery classification task columns.*--format json"):
        load_records(path, format="refinery")


def test_explicit_refinery_format_rejects_a_label_column(export: Path) -> None:
    with pytest.raises(InputError, match="leave out --label-column"):
        load_records(export, format="refinery", label_column="headline__sentiment__MANUAL")


def test_weak_confidence_that_is_not_a_number_names_the_record(tmp_path: Path, rows: list[dict]) -> None:
    rows[4]["headline__sentiment__WEAK_SUPERVISION__confidence"] = "high"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(InputError, match="record 5 \\(id '4'\\) has 'high'"):
        load_records(path, refinery_task="sentiment")
