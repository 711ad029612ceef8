"""Human-readable lines describing a :class:`LoadSummary` (the CLI prints them; the library does not)."""
from __future__ import annotations

from likewise.records.dataset import LoadSummary

#: classes listed by name in the summary; the rest are counted
SHOWN_CLASSES = 10


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {words or word + 's'}"


def summary_lines(summary: LoadSummary) -> list[str]:
    """What a load found, one fact per line; lines for zero counts are left out."""
    s = summary
    how = [s.format] if s.format else []
    if s.text_columns:
        how.append("text: " + " + ".join(s.text_columns))
    if s.refinery_task:
        how.append(f"task: {s.refinery_task}")
    elif s.label_column:
        how.append(f"label: {s.label_column}")
    if s.id_column:
        how.append(f"id: {s.id_column}")
    source = f" from {s.source}" if s.source else ""
    lines = [f"Loaded {_plural(s.records, 'record')}{source}" + (f" ({'; '.join(how)})" if how else "")]
    if s.generated_ids:
        lines.append("Ids: generated from row position (row-0, row-1, ...); give an id column to keep your own")

    no_labels = s.label_column is None and not s.refinery_task and s.labeled == 0
    if no_labels:
        lines.append(f"Labels: no label column; all {_plural(s.records, 'record')} unlabeled")
    else:
        share = 100.0 * s.labeled / s.records if s.records else 0.0
        ranked = sorted(s.per_class.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{label} {count:,}" for label, count in ranked[:SHOWN_CLASSES])
        more = f", and {len(ranked) - SHOWN_CLASSES} more" if len(ranked) > SHOWN_CLASSES else ""
        classes = f" in {_plural(len(ranked), 'class', 'classes')}: {shown}{more}" if ranked else ""
        lines.append(f"Labeled: {s.labeled:,} of {s.records:,} ({share:.1f}%){classes}")
    if s.weak or s.confidence_threshold is not None:
        threshold = f" (confidence > {s.confidence_threshold:g})" if s.confidence_threshold is not None else ""
        lines.append(f"Label sources: {s.manual:,} manual, {s.weak:,} weak{threshold}")
    if s.dropped_by_confidence:
        limit = f" <= {s.confidence_threshold:g}" if s.confidence_threshold is not None else " too low"
        lines.append(
            f"Weak labels dropped: {_plural(s.dropped_by_confidence, 'record')} at confidence{limit} "
            "(kept, unlabeled)"
        )
    if s.conflicts:
        lines.append(f"Conflicting manual labels: {_plural(s.conflicts, 'record')} (kept, unlabeled)")
    if s.missing_labels and not no_labels:
        lines.append(f"Missing labels: {_plural(s.missing_labels, 'record')} without a label (kept, unlabeled)")
    if s.skipped_tasks:
        lines.append(
            f"Skipped {'task' if len(s.skipped_tasks) == 1 else 'tasks'}: {', '.join(s.skipped_tasks)} "
            "(extraction: token-level tags, not one label per record)"
        )
    if s.empty_texts:
        lines.append(f"Dropped: {_plural(s.empty_texts, 'record')} with an empty text")
    if s.truncated_texts:
        limit = f"{s.max_text_chars:,} characters" if s.max_text_chars else "the limit"
        lines.append(
            f"Truncated: {_plural(s.truncated_texts, 'text')} longer than {limit} cut; "
            "the encoder truncates further to its token window"
        )
    return lines
