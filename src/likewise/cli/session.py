"""``likewise session``: similarity labeling sessions (start, export, compare raw vs tuned)."""
from __future__ import annotations

import click

from likewise.cli.options import kind_option, workspace_option
from likewise.cli.output import json_option, note, print_json, stdout, table, wants_json


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
    group.add_command(session_group)
