"""``likewise classify`` on a workspace: a logistic regression on raw vs tuned vectors, scored on held-out
records, predictions for the unlabeled ones as weak labels."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from likewise.classify import Classification, WeakLabels, classify_records, export_weak_labels
from likewise.evaluation import HeldOut
from likewise.progress import Progress, no_progress
from likewise.workspace import Workspace


@dataclass
class ClassifyResult:
    """What ``likewise classify`` reports: held-out scores, predictions and where they were written."""

    workspace: str
    classification: Classification
    weak: WeakLabels
    export: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        c = self.classification
        above = {str(t): self.weak.predicted_count(t) for t in (0.5, 0.7, 0.9)}
        return {"workspace": self.workspace, "scores": [s.to_dict() for s in c.scores],
                "predicted_with": c.predicted_with, "unlabeled_records": int(len(c.predicted)),
                "predicted_above": above, "config": c.config, "seconds": round(c.seconds, 3),
                "export": self.export}


def held_out_precision(classification: Classification, threshold: float) -> float | None:
    """The held-out precision of the classifier that made the predictions (``predicted_with`` vectors) among
    held-out records with confidence above ``threshold``: what a weak label above that threshold is worth.
    None when no held-out record was that confident or the threshold is not one of the table's."""
    score = classification.score(classification.predicted_with)
    if score is None:
        return None
    row = next((r for r in score.thresholds if abs(r["threshold"] - threshold) < 1e-9), None)
    return None if row is None else row["precision"]


def workspace_tuner_options(ws: Workspace) -> dict[str, Any]:
    """The configuration of the workspace's saved head (what ``likewise tune`` used), for a held-out head."""
    head = ws.artifact("head") or {}
    return dict(head.get("config") or {})


def current_tuned(ws: Workspace):
    """The tuned vectors' array when current tuned vectors exist, else None (stale ones raise)."""
    return ws.vectors("tuned").vectors if ws.has_vectors("tuned") else None


def classify_workspace(
    ws: Workspace,
    *,
    export: str | Path | None = None,
    export_format: str | None = None,
    attribute: str = "text",
    task: str = "likewise",
    min_confidence: float | None = None,
    include_labeled: bool = True,
    heldout: HeldOut | None = None,
    progress: Progress = no_progress,
    **options: Any,
) -> ClassifyResult:
    """:func:`classify_records` on a workspace's current labels (raw vectors, and tuned ones when
    ``likewise tune`` ran); the scores are stored (artifact ``classifier``) and logged in the run log, and
    the weak labels exported when asked."""
    from likewise.ops.runs import log_run

    start = time.perf_counter()
    data = ws.records()
    raw = ws.vectors("raw")
    result = classify_records(raw.vectors, data.labels, tuned=current_tuned(ws), heldout=heldout,
                              tuner_options=workspace_tuner_options(ws), progress=progress, **options)
    weak = WeakLabels.from_classification(data.ids, data.texts, data.labels, data.label_sources,
                                          data.confidences, result)
    exported = None
    if export is not None:
        exported = export_weak_labels(weak, export, fmt=export_format, attribute=attribute, task=task,
                                      min_confidence=min_confidence, include_labeled=include_labeled)
    out = ClassifyResult(str(ws.path), result, weak, exported)
    with ws.writing("classify"):
        ws.record_artifact("classifier", {"ref": ws.put_json(out.to_dict())})
        log_run(ws, "classify", config=result.config, labels=data.class_counts(),
                metrics={s.vectors: s.to_dict() for s in result.scores}, seconds=time.perf_counter() - start)
    return out
