"""When and by which command each section's data was computed, and what makes it partial or out of date.

Every section of the report states its source (:class:`Source`): the command that computed the numbers
(``likewise evaluate --budgets 25,100,all --seeds 0,1,2 -k 100``, or this report itself), when (the artifact's
``written`` time, the run log's row) and on how many labels. Data from a partial run (``compare-models``
with one model, ``evaluate`` with one seed or with a budget that was dropped) or from an older state of the
labels is flagged in the section, never shown as the full result.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Source:
    """Where a section's numbers come from. ``flags`` say why they are partial or out of date (empty: neither)."""

    command: str
    time: str | None
    run: int | None = None
    labeled: int | None = None
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        """``Computed by `likewise evaluate ...` at 2026-12-01 10:15 UTC (run 2, on 500 labeled records).``"""
        when = f" at {short_time(self.time)}" if self.time else ""
        extra = [f"run {self.run}" if self.run is not None else "",
                 f"on {self.labeled:,} labeled records" if self.labeled is not None else ""]
        extra = [e for e in extra if e]
        return f"Computed by `{self.command}`{when}" + (f" ({', '.join(extra)})." if extra else ".")


def short_time(iso: str | None) -> str:
    """``2026-12-01T10:15:19.204+00:00`` -> ``2026-12-01 10:15 UTC`` (times in the workspace are UTC)."""
    if not iso:
        return "?"
    return iso[:16].replace("T", " ") + " UTC"


def _latest_run(runs, command: str):
    matching = [r for r in runs if r.command == command]
    return matching[-1] if matching else None


def data_source(ws, labeled_now: int) -> Source:
    info = ws.records_info() or {}
    source = info.get("source", {})
    what = source.get("dataset") or source.get("path") or "DATA"
    column = f" -l {source['label_column']}" if source.get("label_column") else ""
    return Source(f"likewise embed {what}{column}", info.get("written"), labeled=labeled_now)


def models_source(comparison: dict[str, Any] | None) -> Source | None:
    if not comparison:
        return None
    results = comparison.get("results", [])
    models = " ".join(f"-m {r['model']}" for r in results)
    source = Source(f"likewise compare-models {models}".strip(), comparison.get("written"))
    if len(results) < 2:
        source.flags.append(f"Partial: only {len(results)} model was compared, so there is no ranking; run "
                            "`likewise compare-models -m default -m hashing` (or your candidates) for one.")
    return source


def evaluation_source(evaluation: dict[str, Any] | None, entry: dict[str, Any] | None, runs, *,
                      labels_seq_now: int, labeled_now: int) -> Source | None:
    """The source of the evaluation section, flagged when one seed ran, a requested budget has no result
    (larger than the training pool), raw or tuned is missing, or the labels changed since."""
    if not evaluation:
        return None
    config = evaluation.get("config", {})
    summary = evaluation.get("summary", [])
    seeds = list(config.get("seeds") or [])
    budgets = [str(b) for b in config.get("budgets") or []]
    parts = ["likewise evaluate"]
    if budgets:
        parts.append("--budgets " + ",".join(budgets))
    if seeds:
        parts.append("--seeds " + ",".join(str(s) for s in seeds))
    if config.get("k") is not None:
        parts.append(f"-k {config['k']}")
    run = _latest_run(runs, "evaluate")
    source = Source(" ".join(parts), (entry or {}).get("written") or (run.time if run else None),
                    run=run.id if run else None, labeled=config.get("labeled_records"))
    if len(seeds) == 1:
        source.flags.append(f"Partial: one seed ({seeds[0]}), so there is no spread between seeds; run "
                            "`likewise evaluate --seeds 0,1,2` before reading small differences.")
    shown = {str(e.get("budget")) for e in summary}
    dropped = [b for b in budgets if b not in shown]
    if dropped:
        source.flags.append(f"Partial: budget {', '.join(dropped)} has no result (larger than the training pool "
                            "of labeled records, or it failed); the curve stops before it.")
    methods = {e.get("method") for e in summary}
    missing = [m for m in ("raw", "likewise") if m not in methods]
    if missing:
        source.flags.append(f"Partial: no {' or '.join(missing)} rows, so raw vs tuned cannot be compared here; "
                            "run `likewise evaluate` with its default methods.")
    seq = config.get("labels_seq", (entry or {}).get("labels_seq"))
    if seq is not None and seq != labels_seq_now:
        then = config.get("labeled_records")
        then_text = f"{then:,} labeled records" if isinstance(then, int) else "older labels"
        source.flags.append(f"Out of date: computed on {then_text}; the labels changed since (now {labeled_now:,} "
                            "labeled). Run `likewise evaluate` again.")
    return source


def tuning_source(ws, runs) -> Source | None:
    head = ws.artifact("head") or ws.artifact("tuned_encoder")
    if not head:
        return None
    run = _latest_run(runs, "tune")
    by_encoder = (ws.vectors_info("tuned") or {}).get("by") == "encoder"
    source = Source("likewise tune --train-encoder" if by_encoder else "likewise tune", head.get("written"),
                    run=run.id if run else None, labeled=sum((head.get("classes") or {}).values()) or None)
    if ws.labels_changed("tuned"):
        source.flags.append("Out of date: the labels changed since `likewise tune`; the workspace's tuned vectors "
                            "(search, sessions) do not know the new labels yet. Run `likewise tune` again.")
    return source


def maps_source(entry: dict[str, Any] | None, reused: bool, report_time: str) -> Source:
    if reused and entry:
        return Source("likewise map", entry.get("written"))
    return Source("likewise report", report_time)
