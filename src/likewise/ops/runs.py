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


def label_timeline(ws: Workspace, *, points: int = 60) -> list[dict[str, Any]]:
    """Labeled records after evenly spaced label events (at most ``points``, the last event included), by
    the label rule applied to the events up to each: ``[{"time", "labeled", "events"}]``, oldest first."""
    from likewise.workspace.labelstore import current_labels

    events = ws.store.events()
    if not events:
        return []
    ids = set(ws.record_ids())
    stops = sorted({round(i * (len(events) - 1) / max(points - 1, 1)) for i in range(points)})
    out = []
    for stop in stops:
        state = current_labels(events[: stop + 1], ws.threshold)
        out.append({"time": events[stop].time, "labeled": sum(1 for r in state.labels if r in ids),
                    "events": events[stop].seq})
    return out


def run_quality(run: Run) -> dict[str, float]:
    """The held-out (or cross-validated) numbers of one run, as shares: a tune's validation top_k of the
    trained head and of the untouched vectors; an evaluate's raw and likewise top_k at its largest budget;
    a classify's raw and tuned accuracy."""
    m = run.metrics
    if run.command == "tune":
        return {k: float(m[v]) for k, v in (("tuned", "trained_top_k"), ("raw", "identity_top_k")) if v in m}
    if run.command == "evaluate":
        out = {}
        for method, name in (("likewise", "tuned"), ("raw", "raw")):
            cells = [c for c in m.get("summary", []) if c.get("method") == method and "top_k" in c]
            if cells:
                out[name] = float(max(cells, key=lambda c: c.get("train_records", 0))["top_k"]["mean"])
        return out
    if run.command == "classify":
        return {name: float(m[name]["accuracy"]) for name in ("raw", "tuned") if "accuracy" in m.get(name, {})}
    return {}


def run_summary(run: Run) -> str:
    """One line of what a run found, in percent, for tables."""
    what = {"tune": "validation top_k", "evaluate": "held-out top_k", "classify": "accuracy"}.get(run.command, "")
    quality = run_quality(run)
    if not quality:
        return ""
    return f"{what}: " + ", ".join(f"{name} {100 * v:.1f}%" for name, v in quality.items())
