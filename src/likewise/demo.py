"""The demo: the reference experiment on bundled real data, end to end, in a few minutes on a CPU.

BBC News (2,225 articles, 5 topics) is embedded with the bundled all-MiniLM-L6-v2 into a workspace, then
raw vectors, the reference recipe, scikit-learn's LDA and likewise's default are each trained on small label
budgets and scored on the held-out 40% (top_100 and friends), over several seeds.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from likewise.progress import Progress, no_progress


@dataclass
class DemoResult:
    workspace: str
    embed: dict
    evaluation: object  # likewise.evaluation.EvaluationResult


def run_demo(
    workspace: str,
    *,
    dataset: str = "bbc_news",
    budgets: Sequence[int | str] = (25, 100, 250),
    seeds: Sequence[int] = (0, 1, 2),
    k: int = 100,
    model: str = "default",
    progress: Progress = no_progress,
) -> DemoResult:
    from likewise.datasets import load_dataset
    from likewise.ops.embed import embed_into_workspace
    from likewise.encoders import get_encoder
    from likewise.workspace import Workspace
    from likewise.ops.evaluate import evaluate_workspace

    data = load_dataset(dataset)
    ws = Workspace.open(workspace, create=True)
    embedded = embed_into_workspace(ws, data, get_encoder(model), source={"dataset": dataset, "path": f"bundled:{dataset}"},
                                    progress=progress)
    evaluation = evaluate_workspace(ws, methods=("raw", "reference", "lda", "likewise"), budgets=budgets, seeds=seeds,
                                    k=k, progress=progress)
    return DemoResult(str(ws.path), embedded.to_dict(), evaluation)
