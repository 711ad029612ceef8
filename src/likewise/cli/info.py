"""``likewise info``: what a workspace holds."""
from __future__ import annotations

import click

from likewise.cli.options import workspace_option
from likewise.cli.output import json_option, print_json, stdout, table, wants_json
from likewise.workspace import Workspace


@click.command("info")
@workspace_option
@json_option
def info_command(workspace: str, as_json: bool) -> None:
    """Show what the workspace holds: records, classes, vectors, cache and artifacts.

    \b
    Example:
      likewise info --workspace ./likewise-workspace
      likewise info --json | jq .records.count
    """
    data = Workspace.open(workspace).info()
    if wants_json(as_json):
        print_json(data)
        return
    records = data.get("records") or {}
    stdout.print(f"[bold]Workspace[/bold] {data['workspace']}  (schema {data['schema_version']}, "
                 f"likewise {data['likewise_version']}, updated {data['updated']})", highlight=False)
    if records:
        src = records.get("source", {})
        stdout.print(f"Records: {records['count']:,} from {src.get('path', '?')}, {records['labeled']:,} labeled", highlight=False)
        classes = records.get("classes", {})
        if classes:
            stdout.print(table("Classes", ["class", "labeled records"], sorted(classes.items())))
    vectors = data.get("vectors", {})
    if vectors:
        rows = [(k, v["count"], v["dim"], v["encoder"], "stale" if v.get("stale") else "current") for k, v in vectors.items()]
        stdout.print(table("Vectors", ["kind", "records", "dim", "encoder", "state"], rows))
    cache = data["cache"]
    stdout.print(f"Cache: {cache['shards']} shards, {cache['bytes'] / 1e6:.1f} MB, {cache['encoders']} encoder(s)", highlight=False)
    for name, entry in data.get("artifacts", {}).items():
        stdout.print(f"Artifact {name}: written {entry.get('written')}", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(info_command)
