"""``likewise runs``: the run log of the workspace (every tune, evaluate and classify)."""
from __future__ import annotations

import click

from likewise.cli.options import workspace_option
from likewise.cli.output import json_option, print_json, stdout, table, wants_json


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
    from likewise.ops.runs import list_runs, run_summary
    from likewise.workspace import Workspace

    runs = list_runs(Workspace.open(workspace), command=only, limit=last)
    if wants_json(as_json):
        print_json([r.to_dict() for r in runs])
        return
    rows = [(r.id, r.time[:19].replace("T", " "), r.author, r.command, r.labels.get("labeled", ""),
             run_summary(r), "" if r.seconds is None else f"{r.seconds:.1f}") for r in runs]
    stdout.print(table(f"{len(runs)} run(s)", ["run", "time (UTC)", "author", "command", "labels", "result", "seconds"], rows))


def register(group: click.Group) -> None:
    group.add_command(runs_command)
