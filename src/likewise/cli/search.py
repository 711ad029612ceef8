"""``likewise search``: the k records most similar to a record, a text or a vector."""
from __future__ import annotations

import click

from likewise.cli.options import kind_option, workspace_option
from likewise.cli.output import json_option, note, one_line, print_jsonl, stdout, table, wants_json


def _filter(unlabeled_only: bool, label: str | None, not_label: str | None, ids: str | None):
    from likewise.index import Filter

    if not (unlabeled_only or label or not_label or ids):
        return None
    return Filter(unlabeled_only=unlabeled_only, label_eq=label, label_ne=not_label,
                  ids_in=frozenset(i.strip() for i in ids.split(",")) if ids else None)


@click.command("search")
@click.option("--id", "record_id", default=None, help="Query by a record's id (the record itself is excluded).")
@click.option("--text", default=None, help="Query by free text (encoded, through the tuned head for tuned vectors).")
@click.option("--vector-file", type=click.Path(dir_okay=False, exists=True), default=None, help="Query by a vector (.npy, one row).")
@click.option("-k", "--k", "k", type=int, default=10, show_default=True, help="How many records to return.")
@click.option("--unlabeled-only", is_flag=True, help="Only unlabeled records.")
@click.option("--label", default=None, help="Only records with this label.")
@click.option("--not-label", default=None, help="Only records without this label.")
@click.option("--ids", default=None, help="Only these record ids (comma-separated).")
@kind_option
@click.option("--backend", type=click.Choice(["exact", "hnsw", "milvus"]), default="exact", show_default=True,
              help="Exact search, the HNSW graph (`likewise index --backend hnsw`) or Milvus.")
@click.option("--milvus-uri", envvar="LIKEWISE_MILVUS_URI", default=None, help="Milvus URI (see `likewise index`).")
@workspace_option
@json_option
def search_command(record_id, text, vector_file, k, unlabeled_only, label, not_label, ids, kind, backend, milvus_uri,
                   workspace, as_json) -> None:
    """Find the k records most similar to a record, a text or a vector (cosine), best first.

    JSON lines (one hit per line) when piped or with --json; a table in a terminal.

    \b
    Example:
      likewise search --id bbc-tech-042 -k 20
      likewise search --text "interest rates rise" --unlabeled-only
      likewise search --vector-file query.npy --label sport --json
    """
    from likewise.encoders.user_vectors import load_npy
    from likewise.ops.search import search
    from likewise.workspace import Workspace

    vector = load_npy(vector_file, query=True) if vector_file else None
    result = search(Workspace.open(workspace), record_id=record_id, text=text, vector=vector, k=k,
                    filter=_filter(unlabeled_only, label, not_label, ids), kind=kind, backend=backend, milvus_uri=milvus_uri)
    if result.warning:
        note(result.warning)
    if wants_json(as_json):
        print_jsonl([{"rank": i + 1, "id": h.id, "score": round(h.score, 6), "label": h.label, "text": h.text}
                     for i, h in enumerate(result.hits)])
        return
    render_search(result, query_text(workspace, record_id, text, vector_file))


def query_text(workspace: str, record_id: str | None, text: str | None, vector_file: str | None) -> str:
    """The query as a person reads it: the record (id, label, text), the free text or the vector file."""
    if text is not None:
        return f"Query: “{one_line(text)}”"
    if vector_file is not None:
        return f"Query: the vector in {vector_file}"
    from likewise.workspace import Workspace

    data = Workspace.open(workspace).records()
    i = data.ids.index(str(record_id))
    return f"Query: {record_id} ({data.labels[i] or 'unlabeled'}) “{one_line(data.texts[i])}”"


def render_search(result, query: str, console=None) -> None:
    """The query on top, then the hits: rank, score, label, id, text (cut with "…" to the terminal)."""
    console = console or stdout
    console.print(query, highlight=False, overflow="ellipsis", no_wrap=True)
    rows = [(i + 1, f"{h.score:.3f}", h.label or "·", h.id, one_line(h.text)) for i, h in enumerate(result.hits)]
    console.print(table(f"{len(result.hits)} most similar records, by {result.kind} vectors (cosine)",
                        ["#", "score", "label", "id", "text"], rows))


def register(group: click.Group) -> None:
    group.add_command(search_command)
