"""The progress page's data: labels over time, validation quality over the label count (from the run log),
and the sessions with their purity."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from likewise.serve.state import ServeState

MAX_POINTS = 500


def progress_data(state: ServeState) -> dict[str, Any]:
    from likewise.ops.runs import label_timeline, list_runs

    state.sync(every=1.0)
    with state.lock:
        events = state.ws.store.events()
        runs = list_runs(state.ws)
        hourly = label_timeline(state.ws)
    return {"labels": _labels_over_time(events), "labeled_by_hour": hourly, "quality": _quality(runs),
            "sessions": state.sessions.list(), "classes": state.classes(),
            "records": state.space.size, "labeled": int((state.view.codes >= 0).sum()), "report": state.report}


def _labels_over_time(events: list) -> list[dict[str, Any]]:
    """Cumulative manual labels given (undone ones not counted), per minute with label events, by author."""
    undone = {e.target for e in events if e.kind == "undo"}
    points: dict[str, dict[str, Any]] = {}
    total = 0
    by_author: dict[str, int] = {}
    for e in events:
        if e.kind != "label" or e.source != "manual" or e.seq in undone:
            continue
        total += 1
        by_author[e.author] = by_author.get(e.author, 0) + 1
        points[e.time[:16]] = {"time": e.time, "labels": total, "by_author": dict(by_author)}
    series = list(points.values())
    if len(series) > MAX_POINTS:
        step = len(series) / MAX_POINTS
        series = [series[int(i * step)] for i in range(MAX_POINTS - 1)] + [series[-1]]
    return series


def _quality(runs: list) -> list[dict[str, Any]]:
    """Validation top_k of every tune run (and the evaluate runs' held-out numbers) against its label count."""
    out = []
    for run in runs:
        m = run.metrics or {}
        labeled = (run.labels or {}).get("labeled")
        if run.command == "tune":
            after = m.get("after", m.get("trained_top_k"))
            before = m.get("before", m.get("identity_top_k"))
            if after is None:
                continue
            out.append({"id": run.id, "time": run.time, "command": "tune", "by": (run.config or {}).get("by", "cli"),
                        "labeled": labeled, "k": m.get("k"), "before": before, "after": after,
                        "raw": m.get("identity", m.get("identity_top_k")), "switched": m.get("switched", True),
                        "strategy": m.get("strategy")})
        elif run.command == "evaluate":
            out.append({"id": run.id, "time": run.time, "command": "evaluate", "labeled": labeled,
                        "summary": m.get("summary")})
    return out
