"""``likewise session``: similarity labeling sessions (start, export, compare raw vs tuned)."""
from __future__ import annotations

import click

from likewise.cli.options import kind_option, workspace_option
from likewise.cli.output import json_option, note, one_line, print_json, share, stdout, table, wants_json


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
    render_session(session, ws.records())
    if exported:
        note(f"Exported to {exported['path']}")


SHOWN = 10


def render_session(session, data, console=None) -> None:
    """The query record, then the session's first records in order (the rest: `session export`)."""
    console = console or stdout
    row = {rid: i for i, rid in enumerate(data.ids)}
    q = row[session.query["id"]]
    console.print(f"Query: {data.ids[q]} ({data.labels[q] or 'unlabeled'}) “{one_line(data.texts[q])}”",
                  highlight=False, overflow="ellipsis", no_wrap=True)
    if not session.ids:
        console.print(f"Session {session.id} is empty.", highlight=False)
        return
    rows = [(pos, f"{score:.3f}", data.labels[row[rid]] or "·", rid, one_line(data.texts[row[rid]]))
            for pos, (rid, score) in enumerate(zip(session.ids[:SHOWN], session.scores[:SHOWN]), start=1)]
    rest = f", first {SHOWN} shown" if len(session.ids) > SHOWN else ""
    console.print(table(f"Session {session.id}: {len(session.ids):,} records by {session.kind} vectors{rest}",
                        ["#", "score", "label", "id", "text"], rows))


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
@click.option("--size", type=int, default=1000, show_default=True, help="Records in each session.")
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
    render_compare(result)


def render_compare(result, console=None) -> None:
    console = console or stdout
    rows = [(kind, r["records"], r["labeled"], r["unlabeled"], r["same_class"], share(r["same_class_share"]))
            for kind, r in result.results.items()]
    console.print(table(f"Session from {result.query['id']} (class {result.query_label}), {result.size:,} records: "
                        "same class among the labeled ones",
                        ["vectors", "records", "labeled", "unlabeled", "same class", "same-class share"], rows))


def register(group: click.Group) -> None:
    group.add_command(session_group)
