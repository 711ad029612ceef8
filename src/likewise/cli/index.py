"""``likewise index``: build or update the search index of the workspace's vectors."""
from __future__ import annotations

import click

from likewise.cli.options import kind_option, milvus_options_for, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, stdout, table, wants_json


@click.command("index")
@kind_option
@click.option("--backend", type=click.Choice(["exact", "hnsw", "milvus"]), default="exact", show_default=True,
              help="exact (in process); hnsw also builds an approximate graph and reports its recall; milvus writes a collection.")
@milvus_options_for
@workspace_option
@json_option
@quiet_option
def index_command(kind, backend, milvus_uri, milvus_token, workspace, as_json, quiet) -> None:
    """Build or update the search index of the workspace's vectors (adds, updates and deletes by record id).

    \b
    Example:
      likewise index
      likewise index --kind raw
      likewise index --backend hnsw                      # and report HNSW recall vs exact
      likewise index --backend milvus --milvus-uri http://127.0.0.1:19530
    """
    from likewise.ops.search import build_index
    from likewise.workspace import Workspace

    with progress_bar(quiet, "reading the workspace") as progress:
        result = build_index(Workspace.open(workspace), kind=kind, backend=backend, milvus_uri=milvus_uri,
                             milvus_token=milvus_token, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    stdout.print(table(f"{result.kind} index ({result.backend})", ["records", "added", "updated", "removed", "unchanged", "seconds"],
                       [(result.count, result.added, result.updated, result.removed, result.unchanged, round(result.seconds, 2))]))
    if result.recall:
        note(f"HNSW recall@{result.recall['k']} vs exact on {result.recall['sample']} queries: {result.recall['recall']:.4f}")


def register(group: click.Group) -> None:
    group.add_command(index_command)
