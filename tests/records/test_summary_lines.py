"""summary_lines renders a LoadSummary as readable lines, leaving out what is zero."""
from __future__ import annotations

from likewise.records import LoadSummary, summary_lines


def test_full_summary_worked_example() -> None:
    summary = LoadSummary(
        source="export.json", records=11, labeled=7, per_class={"Positive": 3, "Negative": 2, "Neutral": 2},
        manual=4, weak=3, dropped_by_confidence=2, conflicts=1, empty_texts=1, missing_labels=1,
        truncated_texts=1, format="refinery", text_columns=["headline"], label_column="headline__sentiment",
        id_column="running_id", refinery_task="sentiment", confidence_threshold=0.7, max_text_chars=100_000,
    )
    assert summary_lines(summary) == [
        "Loaded 11 records from export.json (refinery; text: headline; task: sentiment; id: running_id)",
        "Labeled: 7 of 11 (63.6%) in 3 classes: Positive 3, Negative 2, Neutral 2",
        "Label sources: 4 manual, 3 weak (confidence > 0.7)",
        "Weak labels dropped: 2 records at confidence <= 0.7 (kept, unlabeled)",
        "Conflicting manual labels: 1 record (kept, unlabeled)",
        "Missing labels: 1 record without a label (kept, unlabeled)",
        "Dropped: 1 record with an empty text",
        "Truncated: 1 text longer than 100,000 characters cut; the encoder truncates further to its token window",
    ]


def test_zero_counts_are_left_out_and_many_classes_are_cut() -> None:
    per_class = {f"class{i:02d}": 100 - i for i in range(13)}
    summary = LoadSummary(
        source="big.csv", records=2_000, labeled=sum(per_class.values()), per_class=per_class, manual=1_222,
        format="csv", text_columns=["text"], label_column="label", generated_ids=True,
    )
    lines = summary_lines(summary)
    assert lines[0] == "Loaded 2,000 records from big.csv (csv; text: text; label: label)"
    assert lines[1].startswith("Ids: generated from row position")
    assert lines[2].startswith("Labeled: 1,222 of 2,000 (61.1%) in 13 classes: class00 100, class01 99")
    assert lines[2].endswith("class09 91, and 3 more")
    assert len(lines) == 3


def test_unlabeled_dataset() -> None:
    summary = LoadSummary(source="-", records=1, missing_labels=1, format="jsonl", text_columns=["text"])
    assert summary_lines(summary)[1] == "Labels: no label column; all 1 record unlabeled"


def test_summary_built_in_code_has_no_source() -> None:
    assert summary_lines(LoadSummary(records=3, labeled=3, per_class={"a": 3})) == [
        "Loaded 3 records",
        "Labeled: 3 of 3 (100.0%) in 1 class: a 3",
    ]
