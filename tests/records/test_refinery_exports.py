"""Both of refinery's record exports, read the same way.

``refinery_sdk_export.json``: the SDK / legacy export (``...__WEAK_SUPERVISION__confidence``, a string rounded
to 4 places; several manual labels joined by ", "). ``refinery_ui_export.json``: the web app's export
(``...__WEAK_SUPERVISION_CONFIDENCE``, an unrounded number; a ``record_id``; information-source columns).
Each has 36 records, a task on an attribute (``headline__sentiment``), a task on the whole record
(``__Topic``) and an extraction task (``headline__entities``: lists of OUTSIDE / B-x / I-x tags, or null).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from likewise.errors import InputError
from likewise.records import Dataset, load_records, summary_lines
from likewise.records.refinery import EXTRACTION, find_all_tasks, find_tasks

DATA = Path(__file__).parents[1] / "data"
EXPORTS = {"sdk": DATA / "refinery_sdk_export.json", "ui": DATA / "refinery_ui_export.json"}
CONFIDENCE_SUFFIX = {"sdk": "__WEAK_SUPERVISION__confidence", "ui": "__WEAK_SUPERVISION_CONFIDENCE"}
TASKS = {"sentiment": "headline__sentiment", "Topic": "__Topic"}


def rows_of(fmt: str) -> list[dict]:
    return json.loads(EXPORTS[fmt].read_text(encoding="utf-8"))


def frame_of(fmt: str) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows_of(fmt))


def naive(fmt: str, task: str, threshold: float) -> list[tuple[str | None, str]]:
    """A plain-loop reading of the fixture: (label, state) per record, in file order."""
    prefix = TASKS[task]
    out = []
    for row in rows_of(fmt):
        manual = row[f"{prefix}__MANUAL"]
        weak = row[f"{prefix}__WEAK_SUPERVISION"]
        confidence = row[prefix + CONFIDENCE_SUFFIX[fmt]]
        labels = set(manual.split(", ")) if fmt == "sdk" and manual else ({manual} if manual else set())
        if len(labels) > 1:
            out.append((None, "conflict"))
        elif labels:
            out.append((labels.pop(), "manual"))
        elif weak is None:
            out.append((None, "missing"))
        elif float(confidence) > threshold:
            out.append((weak, "weak"))
        else:
            out.append((None, "dropped"))
    return out


def load(fmt: str, task: str | None = None, **options: float) -> Dataset:
    return load_records(EXPORTS[fmt], refinery_task=task, text_columns=["headline"], **options)


@pytest.mark.parametrize("fmt", list(EXPORTS))
@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.7, 0.85, 1.0])
def test_labels_match_a_naive_reading(fmt: str, task: str, threshold: float) -> None:
    data = load(fmt, task, confidence_threshold=threshold)
    expected = naive(fmt, task, threshold)
    assert data.labels == [label for label, _ in expected]
    assert data.label_sources == [s if s in ("manual", "weak") else "" for _, s in expected]
    s = data.summary
    assert (s.manual, s.weak) == (sum(st == "manual" for _, st in expected), sum(st == "weak" for _, st in expected))
    assert s.dropped_by_confidence == sum(st == "dropped" for _, st in expected)
    assert s.conflicts == sum(st == "conflict" for _, st in expected)
    assert s.labeled + s.missing_labels + s.dropped_by_confidence + s.conflicts == s.records == 36


@pytest.mark.parametrize(
    "fmt, counts",
    [
        # (labeled, manual, weak, dropped_by_confidence, conflicts, missing_labels) for sentiment at 0.7
        ("sdk", (19, 10, 9, 11, 2, 4)),
        ("ui", (22, 12, 10, 10, 0, 4)),
    ],
)
def test_threshold_point_seven_counts(fmt: str, counts: tuple[int, ...]) -> None:
    s = load(fmt, "sentiment").summary
    assert (s.labeled, s.manual, s.weak, s.dropped_by_confidence, s.conflicts, s.missing_labels) == counts
    assert s.confidence_threshold == 0.7 and s.format == "refinery" and s.refinery_task == "sentiment"


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_weak_labels_and_confidences_are_read_in_both_formats(fmt: str) -> None:
    data = load(fmt, "sentiment")
    by_id = {i: tuple(row) for i, *row in zip(data.ids, data.labels, data.label_sources, data.confidences)}
    # kept: confidence strictly above 0.7, read as a number from "0.7205" or 0.72049878...
    assert by_id["2"][:2] == ("Negative", "weak") and by_id["2"][2] == pytest.approx(0.7205, abs=1e-4)
    assert by_id["6"][:2] == ("Positive", "weak") and by_id["6"][2] == pytest.approx(0.9432, abs=1e-4)
    # dropped: below, and exactly at, the threshold
    assert by_id["3"][:2] == (None, "") and math.isnan(by_id["3"][2])  # 0.6311
    assert by_id["5"][:2] == (None, "")  # exactly 0.7 is not above 0.7
    # manual wins over a confident, disagreeing weak label, and carries no confidence
    assert by_id["1"][:2] == ("Positive", "manual") and math.isnan(by_id["1"][2])  # weak: Negative at 0.88
    assert by_id["16"][:2] == ("Negative", "manual")  # manual only, no weak label
    assert by_id["4"][:2] == (None, "")  # nothing at all


def test_ui_confidence_is_unrounded_and_strictly_above_the_threshold() -> None:
    ui, sdk = load("ui", "sentiment"), load("sdk", "sentiment")
    ui_14 = ui.ids.index("14")
    assert ui.labels[ui_14] == "Neutral" and ui.confidences[ui_14] == 0.7000000001  # not rounded to 0.7
    assert sdk.labels[sdk.ids.index("14")] is None  # the SDK export wrote "0.7000"


def test_ui_export_never_reports_its_weak_labels_dropped_unread() -> None:
    """The bug this guards: the UI's ``_CONFIDENCE`` column went unread, so every weak label was 'dropped'."""
    for threshold in (0.0, 0.5, 0.7):
        s = load("ui", "sentiment", confidence_threshold=threshold).summary
        rows = rows_of("ui")
        above = sum(
            1 for r in rows
            if r["headline__sentiment__MANUAL"] is None and r["headline__sentiment__WEAK_SUPERVISION"] is not None
            and r["headline__sentiment__WEAK_SUPERVISION_CONFIDENCE"] > threshold
        )
        assert s.weak == above > 0
    task = next(t for t in find_tasks(frame_of("ui")) if t.task == "sentiment")
    assert task.confidence_column == "headline__sentiment__WEAK_SUPERVISION_CONFIDENCE"


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_sdk_conflicts_and_agreeing_duplicates(fmt: str) -> None:
    data = load(fmt, "sentiment")
    labels = dict(zip(data.ids, data.labels))
    if fmt == "sdk":
        assert labels["10"] is None and labels["19"] is None  # "Positive, Negative": a conflict, kept unlabeled
        assert labels["28"] == "Negative"  # "Negative, Negative" agrees
    else:
        assert labels["10"] == "Positive" and labels["28"] == "Negative"  # the UI writes one manual label


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_task_chooses_among_tasks(fmt: str) -> None:
    with pytest.raises(InputError, match="2 labeling tasks: sentiment, Topic; choose one with --task") as info:
        load_records(EXPORTS[fmt])
    assert "entities" not in str(info.value)  # extraction tasks are never offered
    sentiment, topic = load(fmt, "sentiment"), load(fmt, "Topic")
    assert set(sentiment.classes) == {"Positive", "Negative", "Neutral"}
    assert set(topic.classes) == {"Earnings", "Economy", "Markets", "Commodities"}
    assert load(fmt, "headline__sentiment").labels == sentiment.labels  # named with its attribute
    assert load(fmt, "__Topic").labels == topic.labels  # the whole-record task: empty attribute
    assert topic.summary.label_column == "__Topic" and sentiment.summary.label_column == "headline__sentiment"


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_whole_record_task_needs_a_text_column(fmt: str) -> None:
    with pytest.raises(InputError, match="no 'text' column.*--text-column"):
        load_records(EXPORTS[fmt], refinery_task="Topic")  # no attribute to take the texts from
    data = load_records(EXPORTS[fmt], refinery_task="Topic", text_columns=["headline", "date"])
    assert data.texts[0].startswith("Apple beats") and data.texts[0].endswith("01:00PM")


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_extraction_task_is_skipped_never_picked_and_named(fmt: str) -> None:
    tasks = find_all_tasks(frame_of(fmt))
    assert [(t.task, t.kind) for t in tasks if t.kind == EXTRACTION] == [("entities", "extraction")]
    with pytest.raises(InputError, match="'entities' .* is an extraction task .*choose a classification task: "
                                         "sentiment, Topic"):
        load(fmt, "entities")
    data = load(fmt, "sentiment")
    assert data.summary.skipped_tasks == ["entities"]
    lines = summary_lines(data.summary)
    assert "Skipped task: entities (extraction: token-level tags, not one label per record)" in lines
    assert not any(label and label.startswith(("B-", "I-", "OUTSIDE")) for label in data.labels)


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_the_only_classification_task_is_picked_beside_an_extraction_task(tmp_path: Path, fmt: str) -> None:
    rows = [{k: v for k, v in row.items() if not k.startswith("__Topic")} for row in rows_of(fmt)]
    path = tmp_path / "one-task.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    data = load_records(path)  # no --task: sentiment is the only classification task
    assert data.summary.refinery_task == "sentiment" and data.summary.skipped_tasks == ["entities"]
    assert data.texts[0].startswith("Apple beats")  # texts from the task's attribute
    assert data.labels == load(fmt, "sentiment").labels
    lines = summary_lines(data.summary)
    assert lines[0].startswith(f"Loaded 36 records from {path} (refinery; text: headline; task: sentiment")


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_an_export_with_only_an_extraction_task_says_so(tmp_path: Path, fmt: str) -> None:
    rows = [{k: v for k, v in row.items() if "__entities__" in k or "__" not in k} for row in rows_of(fmt)]
    path = tmp_path / "entities.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"only extraction \(token-level\) tasks \(entities\)"):
        load_records(path)


def test_ui_export_ids_fall_back_to_record_id(tmp_path: Path) -> None:
    data = load("ui", "sentiment")
    assert data.summary.id_column == "running_id" and data.ids[:3] == ["0", "1", "2"]  # JSON integers
    rows = [{k: v for k, v in row.items() if k != "running_id"} for row in rows_of("ui")]
    path = tmp_path / "no-running-id.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    data = load_records(path, refinery_task="sentiment")
    assert data.summary.id_column == "record_id" and data.ids == [r["record_id"] for r in rows]


def test_ui_manual_label_with_a_comma_is_one_label_but_a_conflict_in_the_sdk(tmp_path: Path) -> None:
    for fmt, expected in (("ui", "Mergers, Acquisitions"), ("sdk", None)):
        rows = rows_of(fmt)
        rows[0]["headline__sentiment__MANUAL"] = "Mergers, Acquisitions"
        path = tmp_path / f"{fmt}.json"
        path.write_text(json.dumps(rows), encoding="utf-8")
        assert load_records(path, refinery_task="sentiment").labels[0] == expected, fmt


def test_confidence_suffix_is_matched_case_insensitively(tmp_path: Path) -> None:
    old, new = "headline__sentiment__WEAK_SUPERVISION__confidence", "headline__sentiment__WEAK_SUPERVISION__CONFIDENCE"
    rows = [{(new if k == old else k): v for k, v in row.items()} for row in rows_of("sdk")]
    path = tmp_path / "upper.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    data = load_records(path, refinery_task="sentiment")
    assert data.summary.weak == 9 and data.labels == load("sdk", "sentiment").labels


def test_weak_labels_without_a_confidence_column_are_an_error_not_dropped(tmp_path: Path) -> None:
    column = "headline__sentiment__WEAK_SUPERVISION_CONFIDENCE"
    rows = [{k: v for k, v in row.items() if k != column} for row in rows_of("ui")]
    rows[0]["headline__sentiment__weak_supervision_score"] = 0.9
    path = tmp_path / "no-confidence.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_records(path, refinery_task="sentiment")
    message = str(info.value)
    assert "has weak labels in 'headline__sentiment__WEAK_SUPERVISION' but no confidence column" in message
    assert "headline__sentiment__WEAK_SUPERVISION_CONFIDENCE' (UI export)" in message and "\n" not in message


def test_a_weak_label_with_an_empty_confidence_names_the_record(tmp_path: Path) -> None:
    rows = rows_of("ui")
    rows[2]["headline__sentiment__WEAK_SUPERVISION_CONFIDENCE"] = None
    path = tmp_path / "empty-confidence.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"record 3 \(id '2'\) has the weak label 'Negative' but no confidence"):
        load_records(path, refinery_task="sentiment")


def test_information_source_columns_are_not_read_as_tasks() -> None:
    tasks = find_all_tasks(frame_of("ui"))
    assert [t.key for t in tasks] == ["headline__sentiment", "__Topic", "headline__entities"]
    sentiment = tasks[0]
    assert (sentiment.manual_column, sentiment.weak_column) == (
        "headline__sentiment__MANUAL", "headline__sentiment__WEAK_SUPERVISION"
    )
    assert not sentiment.joined_manual and find_all_tasks(frame_of("sdk"))[0].joined_manual
