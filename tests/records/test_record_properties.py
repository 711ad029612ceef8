"""Invariants on arbitrary records: every format reads back what was written, counts always add up."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from record_fixtures import WRITABLE, write_rows

from likewise.records import load_records
from likewise.records.cells import label_value

# any Unicode except surrogates (not encodable) and NUL (no CSV tool keeps it)
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXTS = st.text(CHARS, max_size=40)
LABELS = st.one_of(st.none(), st.sampled_from(["", "sports", " tech ", "1", "2.0", "a, b", "nan", "Ünïcode"]))
CONFIDENCES = st.one_of(st.none(), st.floats(0.0, 1.0))


@st.composite
def records(draw: st.DrawFn) -> list[dict]:
    n = draw(st.integers(1, 12))
    return [
        {"id": f"r{i}", "text": draw(TEXTS), "label": draw(LABELS), "p": draw(CONFIDENCES)} for i in range(n)
    ]


def expected(rows: list[dict], threshold: float) -> list[tuple[str, str, str | None]]:
    out = []
    for row in rows:
        if not row["text"].strip():
            continue
        label = label_value(row["label"])
        if label is not None and row["p"] is not None and not row["p"] > threshold:
            label = None
        out.append((row["id"], row["text"].strip(), label))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=records(), fmt=st.sampled_from(WRITABLE), threshold=st.floats(0.0, 1.0))
def test_every_format_reads_back_what_was_written(rows: list[dict], fmt: str, threshold: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_rows(Path(folder) / f"r.{fmt}", rows, fmt, line_end="\r\n")
        want = expected(rows, threshold)
        if not want:
            return  # all texts empty: an error, tested elsewhere
        data = load_records(path, confidence_column="p", confidence_threshold=threshold)
    assert list(zip(data.ids, data.texts, data.labels)) == want
    s = data.summary
    assert s.records == len(data) == len(want)
    assert s.labeled + s.missing_labels + s.dropped_by_confidence + s.conflicts == s.records
    assert s.manual + s.weak == s.labeled == sum(s.per_class.values())
    assert s.empty_texts == len(rows) - len(want)
