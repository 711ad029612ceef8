"""``likewise label``: label records, from the command line or a file; undo."""
from __future__ import annotations

import click

from likewise.cli.options import author_option, workspace_option
from likewise.cli.output import json_option, note, print_json, stdout, table, wants_json


@click.command("label")
@click.argument("record_id", required=False)
@click.argument("label", required=False)
@click.option("-f", "--file", "path", default=None,
              help="Apply labels from a file: CSV / TSV / JSON lines / Parquet with id and label columns, or a refinery export ('-' reads stdin).")
@click.option("--id-column", default=None, help="Id column of --file (default 'id', or refinery's running_id).")
@click.option("--label-column", default=None, help="Label column of --file (default 'label').")
@click.option("--confidence-column", default=None, help="Confidence column of --file: its labels become weak labels.")
@click.option("--task", default=None, help="Refinery labeling task to read from an export given with --file.")
@click.option("--source", type=click.Choice(["manual", "imported", "weak", "predicted"]), default=None,
              help="Source of the labels (default: manual on the command line, imported from a file, weak with a confidence).")
@click.option("--remove", is_flag=True, help="Remove RECORD_ID's label instead of setting one.")
@click.option("--undo", "undo", type=int, default=None, is_flag=False, flag_value=1,
              help="Undo your last N label events (default 1).")
@author_option
@workspace_option
@json_option
def label_command(record_id, label, path, id_column, label_column, confidence_column, task, source, remove, undo,
                  author, workspace, as_json) -> None:
    """Label records: one on the command line, many from a file, or undo your last ones.

    Every label is an event in the workspace's label store (labels.sqlite); nothing is ever overwritten,
    so `likewise labels history ID` shows who labeled what and when. A file whose ids are not all in the
    workspace is refused as a whole: nothing is half applied.

    \b
    Example:
      likewise label bbc-tech-042 tech
      likewise label bbc-tech-042 --remove
      likewise label --file session-labeled.csv --author anna
      likewise label --file refinery-export.json --task Topic
      likewise label --undo 3
    """
    from likewise.errors import InputError
    from likewise.ops.labels import import_label_file, label_records, undo_labels
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    given = sum(x is not None and x is not False for x in (record_id, path, undo))
    if given != 1:
        raise InputError("give one of: RECORD_ID LABEL, RECORD_ID --remove, --file FILE, or --undo [N]")
    if undo is not None:
        undone = undo_labels(ws, undo, author=author)
        if wants_json(as_json):
            print_json({"undone": undone})
            return
        if not undone:
            note("Nothing to undo: no label events of yours that still count.")
        for e in undone:
            what = f"{e.get('record_id')} {e.get('label') or 'removal'}" if e["kind"] in ("label", "remove") else \
                f"{e['kind']} {e.get('label')} -> {e.get('new_label') or ''}"
            note(f"Undid event {e['seq']}: {what}")
        return
    if path is not None:
        result = import_label_file(ws, path, author=author, source=source, id_column=id_column,
                                   label_column=label_column, confidence_column=confidence_column, task=task)
        if wants_json(as_json):
            print_json(result.to_dict())
            return
        stdout.print(table(None, ["file", "labels", "new events", "unchanged", "source"],
                           [(result.path, result.rows, result.written, result.unchanged, result.source)]))
        return
    if remove == (label is not None):
        raise InputError("give a LABEL after RECORD_ID, or --remove to take its label back")
    result = label_records(ws, {record_id: None if remove else label}, author=author, source=source or "manual")
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    note(f"{record_id}: {'label removed' if remove else label} (event {result.seqs[-1] if result.seqs else '-'})")


def register(group: click.Group) -> None:
    group.add_command(label_command)
