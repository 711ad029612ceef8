"""``likewise evaluate``, ``likewise compare-models`` and ``likewise demo``: held-out numbers."""
from __future__ import annotations

import click

from likewise.cli.options import cache_option, device_option, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, stdout, table, wants_json

METRIC_COLUMNS = [("top_k", "top_k"), ("map_at_r", "MAP@R"), ("precision_at_1", "P@1"), ("logreg_accuracy", "logreg acc")]


def _budgets(value: str) -> list[int | str]:
    out: list[int | str] = []
    for part in value.split(","):
        part = part.strip()
        if part == "all":
            out.append("all")
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise click.BadParameter(f"{part!r} is not a positive number or 'all'")
    return out


def _ints(value: str) -> list[int]:
    try:
        return [int(p) for p in value.split(",") if p.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} must be comma-separated integers") from exc


def _fmt(cell: dict | None) -> str:
    if not cell:
        return ""
    half = 50 * (cell["max"] - cell["min"])
    return f"{100 * cell['mean']:.1f}±{half:.1f}" if half > 0 else f"{100 * cell['mean']:.1f}"


def render_summary(summary: list[dict], k: int, title: str) -> None:
    rows = []
    for entry in summary:
        rows.append([entry["method"], entry["budget"], entry["train_records"]]
                    + [_fmt(entry.get(key)) for key, _ in METRIC_COLUMNS] + [f"{entry['seconds']:.1f}"])
    columns = ["method", "budget", "labels"] + [f"top_{k}" if key == "top_k" else name for key, name in METRIC_COLUMNS] + ["fit s"]
    stdout.print(table(title, columns, rows))
    stdout.print("Percent on held-out records: mean over seeds ± half the min-max range (--json has every seed).",
                 highlight=False)


@click.command("evaluate")
@click.option("--methods", default="raw,reference,lda,likewise", show_default=True,
              help="Comma-separated: raw, reference, lda, likewise.")
@click.option("--budgets", default="25,50,100,250,all", show_default=True, help="Label budgets, comma-separated, or 'all'.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Seeds (each draws its own split and budget).")
@click.option("-k", "--k", "k", type=int, default=100, show_default=True, help="Neighbours per query for top_k.")
@click.option("--test-size", type=float, default=0.4, show_default=True, help="Share of labeled records held out.")
@workspace_option
@json_option
@quiet_option
def evaluate_command(methods: str, budgets: str, seeds: str, k: int, test_size: float, workspace: str,
                     as_json: bool, quiet: bool) -> None:
    """Compare raw vs tuned vectors on held-out labeled records, across label budgets and seeds.

    Each method is trained on the budget only and scored on records training never saw: top_k (share of the
    k nearest with the query's class), MAP@R, P@1 and a logistic regression's accuracy.

    \b
    Example:
      likewise evaluate --budgets 25,100,all --seeds 0,1,2 -k 100
      likewise evaluate --methods raw,likewise --json > evaluation.json
    """
    from likewise.ops.evaluate import evaluate_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    with progress_bar(quiet) as progress:
        result = evaluate_workspace(ws, methods=[m.strip() for m in methods.split(",")], budgets=_budgets(budgets),
                                    seeds=_ints(seeds), k=k, test_size=test_size, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    render_summary(result.summary(), k, f"Held-out evaluation ({result.config['labeled_records']:,} labeled records)")


@click.command("compare-models")
@click.option("-m", "--model", "models", multiple=True, help="A model name or local sentence-transformers folder (repeat).")
@click.option("--vectors", "vector_files", multiple=True, type=click.Path(dir_okay=False), help="A vector file to compare (repeat).")
@click.option("-k", "--k", "k", type=int, default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True)
@device_option
@cache_option
@workspace_option
@json_option
@quiet_option
def compare_models_command(models: tuple[str, ...], vector_files: tuple[str, ...], k: int, seed: int, runtime: str,
                           device: str | None, workspace: str, as_json: bool, quiet: bool) -> None:
    """Rank candidate encoders on your labels before tuning, so you start from the best existing model.

    Each candidate embeds the held-out labeled records (through the cache) and is scored by top_k and MAP@R,
    with its encoding speed. Without --model, compares the bundled default with the hashing baseline.

    \b
    Example:
      likewise compare-models -m default -m ./models/my-sbert -m hashing
      likewise compare-models -m default --vectors openai_vectors.parquet --json
    """
    from likewise.ops.evaluate import compare_models
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    with progress_bar(quiet) as progress:
        scores = compare_models(ws, list(models) or (["default", "hashing"] if not vector_files else []),
                                vector_files=list(vector_files), k=k, seed=seed, runtime=runtime, device=device,
                                progress=progress)
    if wants_json(as_json):
        print_json([s.to_dict() for s in scores])
        return
    rows = [(i + 1, s.model, s.dim, f"{100 * s.metrics['top_k']:.1f}", f"{100 * s.metrics['map_at_r']:.1f}",
             f"{100 * s.metrics['precision_at_1']:.1f}", "cached" if s.texts_per_s is None else f"{s.texts_per_s:,.0f}")
            for i, s in enumerate(scores)]
    stdout.print(table(f"Models on {scores[0].test_records:,} held-out labeled records", ["rank", "model", "dim", f"top_{k}",
                                                                                          "MAP@R", "P@1", "texts/s"], rows))


@click.command("demo")
@click.option("--dataset", type=click.Choice(["bbc_news", "rotten_tomatoes"]), default="bbc_news", show_default=True)
@click.option("--budgets", default="25,100,250", show_default=True)
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("-k", "--k", "k", type=int, default=None, help="Default: 100 for bbc_news, 1000 for rotten_tomatoes.")
@workspace_option
@json_option
@quiet_option
def demo_command(dataset: str, budgets: str, seeds: str, k: int | None, workspace: str, as_json: bool, quiet: bool) -> None:
    """Run the reference experiment end to end on bundled real data: raw vs reference recipe vs likewise.

    Embeds BBC News with the bundled all-MiniLM-L6-v2, then trains each method on small label budgets and
    scores it on the held-out 40%. A few minutes on a laptop CPU; the workspace is left for you to explore.

    \b
    Example:
      likewise demo
      likewise demo --dataset rotten_tomatoes --budgets 100 --seeds 0 -w rt-workspace
    """
    from likewise.demo import run_demo

    k = k or (100 if dataset == "bbc_news" else 1000)
    note(f"likewise demo: {dataset}, budgets {budgets}, seeds {seeds}, top_{k} on the held-out 40%", quiet=quiet)
    with progress_bar(quiet) as progress:
        result = run_demo(workspace, dataset=dataset, budgets=_budgets(budgets), seeds=_ints(seeds), k=k, progress=progress)
    if wants_json(as_json):
        print_json({"workspace": result.workspace, "embed": result.embed, "evaluation": result.evaluation.to_dict()})
        return
    render_summary(result.evaluation.summary(), k, f"{dataset}: raw vs reference recipe vs LDA vs likewise")
    note(f"Workspace: {result.workspace} (try `likewise info -w {result.workspace}`)", quiet=quiet)


def register(group: click.Group) -> None:
    for command in (evaluate_command, compare_models_command, demo_command):
        group.add_command(command)
