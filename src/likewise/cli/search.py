"""``likewise index``, ``likewise search`` and ``likewise session``: similarity search and labeling sessions."""
from __future__ import annotations

import click

from likewise.cli.options import workspace_option
from likewise.cli.output import (
    json_option, note, print_json, print_jsonl, progress_bar, quiet_option, stdout, table, wants_json,
)

kind_option = click.option("--kind", type=click.Choice(["auto", "raw", "tuned"]), default="auto", show_default=True,
                           help="Which vectors: tuned when current tuned vectors exist (auto), or raw.")
milvus_options = [
    click.option("--milvus-uri", envvar="LIKEWISE_MILVUS_URI", default=None,
                 help="Milvus: a Lite file (./x.db), http://host:19530 for a server or cluster (or $LIKEWISE_MILVUS_URI)."),
    click.option("--milvus-token", envvar="LIKEWISE_MILVUS_TOKEN", default=None, help="Milvus token (or $LIKEWISE_MILVUS_TOKEN)."),
]


def _milvus(f):
    for option in reversed(milvus_options):
        f = option(f)
    return f


@click.command("index")
@kind_option
@click.option("--backend", type=click.Choice(["exact", "hnsw", "milvus"]), default="exact", show_default=True,
              help="exact (in process); hnsw also builds an approximate graph and reports its recall; milvus writes a collection.")
@_milvus
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

    with progress_bar(quiet) as progress:
        result = build_index(Workspace.open(workspace), kind=kind, backend=backend, milvus_uri=milvus_uri,
                             milvus_token=milvus_token, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    stdout.print(table(f"{result.kind} index ({result.backend})", ["records", "added", "updated", "removed", "unchanged", "seconds"],
                       [(result.count, result.added, result.updated, result.removed, result.unchanged, round(result.seconds, 2))]))
    if result.recall:
        note(f"HNSW recall@{result.recall['k']} vs exact on {result.recall['sample']} queries: {result.recall['recall']:.4f}")


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
@click.option("-k", "--k", "k", type=int, default=10, show_default=True)
@click.option("--unlabeled-only", is_flag=True, help="Only unlabeled records.")
@click.option("--label", default=None, help="Only records with this label.")
@click.option("--not-label", default=None, help="Only records without this label.")
@click.option("--ids", default=None, help="Only these record ids (comma-separated).")
@kind_option
@click.option("--backend", type=click.Choice(["exact", "hnsw", "milvus"]), default="exact", show_default=True)
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
    rows = [(i + 1, h.id, f"{h.score:.4f}", h.label or "", (h.text or "")[:90].replace("\n", " "))
            for i, h in enumerate(result.hits)]
    stdout.print(table(f"{len(result.hits)} nearest ({result.kind} vectors)", ["#", "id", "score", "label", "text"], rows))


@click.group("session", invoke_without_command=True)
@click.option("--from", "record_id", default=None, help="The record the session starts from.")
@click.option("--size", type=int, default=1000, show_default=True, help="Records in the session.")
@click.option("--unlabeled-only", is_flag=True, help="Only records that still need a label.")
@kind_option
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None, help="Also export it (.csv or .jsonl).")
@workspace_option
@json_option
@click.pass_context
def session_group(ctx, record_id, size, unlabeled_only, kind, out, workspace, as_json) -> None:
    """Start a similarity labeling session: the records most similar to one record, in order, stored in the
    workspace and exportable for any labeling tool.

    \b
    Example:
      likewise session --from bbc-tech-042 --size 1000 --unlabeled-only -o session.csv
      likewise session export -o session.jsonl
      likewise session compare --from bbc-tech-042 --size 1000
    """
    if ctx.invoked_subcommand is not None:
        return
    if not record_id:
        raise click.UsageError("give --from RECORD_ID (or a subcommand: compare, export)")
    from likewise.ops.search import create_session, export_session, save_session, session_export_format
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    if out:
        session_export_format(out)  # a wrong extension is refused before anything is stored
    session = create_session(ws, record_id, size=size, unlabeled_only=unlabeled_only, kind=kind, store=False)
    exported = export_session(ws, session, out) if out else None
    save_session(ws, session)
    if session.warning:
        note(session.warning)
    if wants_json(as_json):
        print_json({**session.to_dict(), "exported": exported})
        return
    note(f"Session {session.id}: {len(session.ids):,} records from {record_id} ({session.kind} vectors), "
         f"scores {session.scores[0]:.3f} .. {session.scores[-1]:.3f}" if session.ids else f"Session {session.id} is empty")
    if exported:
        note(f"Exported to {exported['path']}")


@session_group.command("export")
@click.option("--id", "session_id", default="latest", show_default=True, help="Session id (default: the latest).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help=".csv or .jsonl")
@workspace_option
def session_export(session_id, out, workspace) -> None:
    """Export a stored session as CSV or JSON lines (position, id, text, score, current label).

    \b
    Example:
      likewise session export -o session.csv
    """
    from likewise.ops.search import export_session, load_session
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    info = export_session(ws, load_session(ws, session_id), out)
    note(f"Wrote {info['records']:,} records of session {info['session']} to {info['path']}")


@session_group.command("compare")
@click.option("--from", "record_id", required=True, help="A labeled record to start from.")
@click.option("--size", type=int, default=1000, show_default=True)
@workspace_option
@json_option
def session_compare(record_id, size, workspace, as_json) -> None:
    """Same query, raw vs tuned vectors: the share of same-class records among the labeled ones.

    \b
    Example:
      likewise session compare --from bbc-tech-042 --size 1000
    """
    from likewise.ops.search import compare_session
    from likewise.workspace import Workspace

    result = compare_session(Workspace.open(workspace), record_id, size=size)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    rows = [(kind, r["records"], r["labeled"], r["same_class"],
             "" if r["same_class_share"] is None else f"{100 * r['same_class_share']:.1f}%") for kind, r in result.results.items()]
    stdout.print(table(f"Session from {record_id} (class {result.query_label}), size {size}",
                       ["vectors", "records", "labeled", "same class", "same-class share"], rows))


def register(group: click.Group) -> None:
    for command in (index_command, search_command, session_group):
        group.add_command(command)
