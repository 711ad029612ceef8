"""``likewise evaluate``: raw vs tuned on held-out records, over label budgets and seeds."""
from __future__ import annotations

import click

from likewise.cli.options import parse_budgets, parse_ints, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, stdout, table, wants_json


METRIC_COLUMNS = [("top_k", "top_k"), ("map_at_r", "MAP@R"), ("precision_at_1", "P@1"), ("logreg_accuracy", "logreg acc")]


def _fmt(cell: dict | None, seeds: int) -> str:
    """A metric in percent: the mean, and ± half the min-max range over seeds when several seeds ran."""
    if not cell:
        return ""
    half = 50 * (cell["max"] - cell["min"])
    return f"{100 * cell['mean']:.1f}±{half:.1f}" if seeds > 1 else f"{100 * cell['mean']:.1f}"


def render_summary(summary: list[dict], k: int, title: str) -> None:
    rows = []
    for entry in summary:
        seeds = int(entry.get("seeds", 1))
        rows.append([entry["method"], entry["budget"], entry["train_records"]]
                    + [_fmt(entry.get(key), seeds) for key, _ in METRIC_COLUMNS] + [f"{entry['seconds']:.1f}"])
    columns = ["method", "budget", "labels"] + [f"top_{k}" if key == "top_k" else name for key, name in METRIC_COLUMNS] + ["fit s"]
    stdout.print(table(title, columns, rows))
    several = any(int(e.get("seeds", 1)) > 1 for e in summary)
    stdout.print("Percent on held-out records: " + ("mean over seeds ± half the min-max range (--json has every seed)."
                                                   if several else "one seed (pass --seeds 0,1,2 for a range)."),
                 highlight=False)



@click.command("evaluate")
@click.option("--methods", default="raw,reference,lda,lda_shrinkage,likewise", show_default=True,
              help="Comma-separated: raw, reference, lda, lda_shrinkage, centroids, head, likewise (= tune --method auto).")
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
    with progress_bar(quiet, "reading the workspace") as progress:
        result = evaluate_workspace(ws, methods=[m.strip() for m in methods.split(",")], budgets=parse_budgets(budgets),
                                    seeds=parse_ints(seeds), k=k, test_size=test_size, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    render_summary(result.summary(), k, f"Held-out evaluation ({result.config['labeled_records']:,} labeled records)")
    for budget, pool in result.config.get("skipped_budgets", {}).items():
        note(f"Warning: skipped the budget {budget}: the training pool holds only {pool:,} labeled records "
             "(the 'all' budget trains on all of them).")


def register(group: click.Group) -> None:
    group.add_command(evaluate_command)
