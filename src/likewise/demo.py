"""The demo: the tour of likewise on bundled real data, end to end, in a few minutes on a CPU.

BBC News (2,225 articles, 5 topics) is embedded with the bundled all-MiniLM-L6-v2 into a workspace; raw
vectors, the reference recipe, scikit-learn's LDA and likewise's default are each trained on small label
budgets and scored on the held-out 40% (top_100 and friends), over several seeds; a head is tuned on the
labels; and the report is written, with its before/after similarity session. :class:`DemoResult` holds what
the CLI narrates: what data, what was tuned, raw vs tuned on held-out records, one session, the report.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from likewise.progress import Progress, no_progress

DEMO_BUDGETS: tuple[int, ...] = (25, 100)
"""The label budgets the demo evaluates. 250 is left to ``likewise evaluate``: on an AMD EPYC host with a
204 GFLOP/s matmul peak (2026-12-02) it cost 3 x 63 s of the demo's 5 min 45 s (likewise's default compares
its candidates by nested cross-validation there, and the reference recipe picks its epochs by repeated
5-fold), while 25 and 100 labels together cost ~25 s and tell the story: few labels, most of the gain."""


@dataclass
class DemoResult:
    workspace: str
    embed: dict
    evaluation: object  # likewise.evaluation.EvaluationResult
    dataset: str = ""
    records: int = 0
    encoder: str = ""
    tuned: dict[str, Any] = field(default_factory=dict)  # what `likewise tune` trained
    report: dict[str, Any] = field(default_factory=dict)  # likewise.report.ReportResult.to_dict()
    session: dict[str, Any] = field(default_factory=dict)  # the report's before/after example

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "dataset": self.dataset, "records": self.records,
                "encoder": self.encoder, "embed": self.embed,
                "evaluation": self.evaluation.to_dict(), "tuned": self.tuned,  # type: ignore[attr-defined]
                "report": self.report, "session": self.session}


def run_demo(
    workspace: str,
    *,
    dataset: str = "bbc_news",
    budgets: Sequence[int | str] = DEMO_BUDGETS,
    seeds: Sequence[int] = (0, 1, 2),
    k: int = 100,
    model: str = "default",
    report: bool = True,
    progress: Progress = no_progress,
) -> DemoResult:
    """Embed ``dataset``, evaluate the methods over ``budgets`` and ``seeds``, tune, and write the report."""
    from likewise.datasets import load_dataset
    from likewise.encoders import get_encoder
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.evaluate import evaluate_workspace
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    progress(0, None, f"loading {dataset}")
    data = load_dataset(dataset)
    ws = Workspace.open(workspace, create=True)
    progress(0, None, "loading model")
    embedded = embed_into_workspace(ws, data, get_encoder(model), source={"dataset": dataset, "path": f"bundled:{dataset}"},
                                    progress=progress)
    evaluation = evaluate_workspace(ws, methods=("raw", "reference", "lda", "likewise"), budgets=budgets, seeds=seeds,
                                    k=k, progress=progress)
    tuned = tune_workspace(ws, progress=progress)
    tuned_info = {"train_records": tuned.train_records, "classes": tuned.classes, "kind": tuned.kind,
                  "message": tuned.message, "seconds": round(tuned.seconds, 2)}
    out = DemoResult(str(ws.path), embedded.to_dict(), evaluation, dataset=dataset, tuned=tuned_info,
                     records=len(data), encoder=(ws.vectors_info("raw") or {}).get("encoder", ""))
    if report:
        from likewise.report import ReportOptions, build_report

        result = build_report(Workspace.open(workspace), options=ReportOptions(k=10), progress=progress)
        out.report = result.to_dict()
        out.session = dict(result.headline.get("session_example") or {})
    return out
