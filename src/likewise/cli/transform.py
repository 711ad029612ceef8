"""``likewise transform``: export vectors with record ids and labels."""
from __future__ import annotations

import click

from likewise.cli.options import workspace_option
from likewise.cli.output import json_option, note, print_json


@click.command("transform")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output: .parquet, .npy (+ .ids.json) or .jsonl.")
@click.option("--kind", type=click.Choice(["tuned", "raw"]), default="tuned", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["parquet", "npy", "jsonl"]), default=None, help="Default: from the extension.")
@workspace_option
@json_option
def transform_command(out: str, kind: str, fmt: str | None, workspace: str, as_json: bool) -> None:
    """Export every record's tuned (or raw) vectors with ids and labels.

    `likewise tune` already applied the mapping to all records, labeled or not; this writes them out for
    other tools (Parquet with id, label, vector; .npy with a .ids.json beside it; or JSON lines).

    \b
    Example:
      likewise transform -o tuned.parquet
      likewise transform -o tuned.npy
      likewise transform --kind raw -o raw.jsonl
    """
    from likewise.ops.tune import export_vectors
    from likewise.workspace import Workspace

    info = export_vectors(Workspace.open(workspace), out, kind=kind, fmt=fmt)
    if as_json:
        print_json(info)
    else:
        note(f"Wrote {info['records']:,} {kind} vectors ({info['dim']}-d) to {info['path']}")


def register(group: click.Group) -> None:
    group.add_command(transform_command)
