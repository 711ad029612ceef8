"""``likewise demo``: the reference experiment end to end on bundled real data."""
from __future__ import annotations

import click

from likewise.cli.options import parse_budgets, parse_ints, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, wants_json
from likewise.cli.evaluate import render_summary


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
        result = run_demo(workspace, dataset=dataset, budgets=parse_budgets(budgets), seeds=parse_ints(seeds), k=k, progress=progress)
    if wants_json(as_json):
        print_json({"workspace": result.workspace, "embed": result.embed, "evaluation": result.evaluation.to_dict()})
        return
    render_summary(result.evaluation.summary(), k, f"{dataset}: raw vs reference recipe vs LDA vs likewise")
    note(f"Workspace: {result.workspace} (try `likewise info -w {result.workspace}`)", quiet=quiet)


def register(group: click.Group) -> None:
    group.add_command(demo_command)
