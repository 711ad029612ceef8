"""``likewise info``: what a workspace holds, and whether its files are sound."""
from __future__ import annotations

import click

from likewise.cli.options import workspace_option
from likewise.cli.output import json_option, note, print_json, stdout, table, wants_json


@click.command("info")
@click.option("--check", is_flag=True, help="Also verify the sha256 of every file the workspace points to.")
@workspace_option
@json_option
def info_command(check: bool, workspace: str, as_json: bool) -> None:
    """Show what the workspace holds: records, labels, vectors (current or stale), cache and artifacts.

    \b
    Example:
      likewise info --workspace ./likewise-workspace
      likewise info --check
      likewise info --json | jq .labels.labeled
    """
    from likewise.errors import InputError
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    data = ws.info()
    problems = ws.check() if check else []
    if check:
        data["check"] = problems
    if wants_json(as_json):
        print_json(data)
    else:
        _show(data)
    if problems:
        raise InputError(f"{len(problems)} damaged file(s): {problems[0]}")


def _show(data: dict) -> None:
    records = data.get("records") or {}
    stdout.print(f"[bold]Workspace[/bold] {data['workspace']}  (schema {data['schema_version']}, "
                 f"likewise {data['likewise_version']}, updated {data['updated']})", highlight=False)
    if records:
        src = records.get("source", {})
        labels = data.get("labels") or {}
        stdout.print(f"Records: {records['count']:,} from {src.get('path', '?')}, {labels.get('labeled', 0):,} labeled "
                     f"({', '.join(f'{n:,} {s}' for s, n in labels.get('sources', {}).items()) or 'none'}); "
                     f"{labels.get('events', 0):,} label events", highlight=False)
        classes = labels.get("classes", {})
        if classes:
            stdout.print(table("Classes", ["class", "labeled records"], sorted(classes.items())))
        if labels.get("conflicts"):
            note(f"{labels['conflicts']:,} record(s) have differing manual labels from several authors.")
    vectors = data.get("vectors", {})
    if vectors:
        rows = [(k, v["count"], v["dim"], v["encoder"], v["state"]) for k, v in vectors.items()]
        stdout.print(table("Vectors", ["kind", "records", "dim", "encoder", "state"], rows))
        tuned = vectors.get("tuned", {})
        if tuned.get("state", "current") != "current":
            note("The tuned vectors are behind: run `likewise tune` to train on the current records and labels.")
    stdout.print(f"Cache: {data['cache']}", highlight=False)
    for name, entry in data.get("artifacts", {}).items():
        stdout.print(f"Artifact {name}: written {entry.get('written')}", highlight=False)
    if "check" in data and not data["check"]:
        stdout.print("Check: every file matches its sha256.", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(info_command)
