"""``likewise runs``: the run log of the workspace (every tune, evaluate and classify)."""
from __future__ import annotations

import click

from likewise.cli.options import workspace_option
from likewise.cli.output import json_option, print_json, stdout, table, wants_json


def _headline(command: str, metrics: dict) -> str:
    """One number per run for the table: validation top_k of a tune, likewise's best held-out top_k of an
    evaluate, the tuned (else raw) accuracy of a classify."""
    if command == "tune":
        scores = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        return ", ".join(f"{k} {100 * v:.1f}%" for k, v in list(scores.items())[:2])
    if command == "evaluate":
        cells = [c for c in metrics.get("summary", []) if c.get("method") == "likewise" and "top_k" in c]
        return ", ".join(f"{c['budget']}: {100 * c['top_k']['mean']:.1f}%" for c in cells[:4])
    if command == "classify":
        best = metrics.get("tuned") or metrics.get("raw") or {}
        return f"accuracy {100 * best['accuracy']:.1f}%" if "accuracy" in best else ""
    return ""


@click.command("runs")
@click.option("--command", "only", type=click.Choice(["tune", "evaluate", "classify"]), default=None,
              help="Only runs of this command.")
@click.option("-n", "--last", type=int, default=None, help="Only the last N runs.")
@workspace_option
@json_option
def runs_command(only, last, workspace, as_json) -> None:
    """List the runs of this workspace: when, who, what, on how many labels, how well, how long.

    \b
    Example:
      likewise runs
      likewise runs --command evaluate --json
    """
    from likewise.ops.runs import list_runs
    from likewise.workspace import Workspace

    runs = list_runs(Workspace.open(workspace), command=only, limit=last)
    if wants_json(as_json):
        print_json([r.to_dict() for r in runs])
        return
    rows = [(r.id, r.time[:19].replace("T", " "), r.author, r.command, r.labels.get("labeled", ""),
             _headline(r.command, r.metrics), "" if r.seconds is None else f"{r.seconds:.1f}") for r in runs]
    stdout.print(table(f"{len(runs)} run(s)", ["run", "time (UTC)", "author", "command", "labels", "result", "seconds"], rows))


def register(group: click.Group) -> None:
    group.add_command(runs_command)
