"""The run log ("learning in public"): every tune, evaluate and classify run appends a row — when, who,
what ran with which configuration, on how many labels, with which held-out metrics, in how many seconds —
to the workspace's label store, so the report can show labels and quality over time."""
from __future__ import annotations

from typing import Any

from likewise.workspace import Workspace
from likewise.workspace.labelstore import Run


def log_run(ws: Workspace, command: str, *, config: dict[str, Any], labels: dict[str, Any],
            metrics: dict[str, Any], seconds: float | None, author: str | None = None) -> int:
    """Append one row; ``labels`` is the class counts the run used (their total is stored as ``labeled``)."""
    counts = {"labeled": int(sum(v for v in labels.values() if isinstance(v, (int, float)))), "classes": labels,
              "events": ws.store.last_seq()}
    return ws.store.log_run(command, config=config, labels=counts, metrics=metrics, seconds=seconds, author=author)


def list_runs(ws: Workspace, *, command: str | None = None, limit: int | None = None) -> list[Run]:
    return ws.store.runs(command=command, limit=limit)


def label_timeline(ws: Workspace) -> list[dict[str, Any]]:
    """Labeled records at the end of each hour that had label events (the last 48 such hours), by the label
    rule applied to the events up to then: ``[{"time", "labeled", "events"}]``, oldest first."""
    from likewise.workspace.labelstore import current_labels

    events = ws.store.events()
    if not events:
        return []
    ids = set(ws.record_ids())
    points = []
    hours = sorted({e.time[:13] for e in events})
    stops = [max(i for i, e in enumerate(events) if e.time[:13] == h) for h in hours]
    for hour, stop in zip(hours[-48:], stops[-48:]):
        state = current_labels(events[: stop + 1], ws.threshold)
        points.append({"time": events[stop].time, "labeled": sum(1 for r in state.labels if r in ids),
                       "events": events[stop].seq})
    return points
