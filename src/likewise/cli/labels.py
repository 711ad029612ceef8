"""``likewise labels``: classes with counts and sources; export, history, rename, merge, delete classes."""
from __future__ import annotations

import click

from likewise.cli.options import author_option, workspace_option
from likewise.cli.output import json_option, note, print_json, stdout, table, wants_json


@click.group("labels", invoke_without_command=True)
@workspace_option
@json_option
@click.pass_context
def labels_group(ctx, workspace, as_json) -> None:
    """Show the workspace's classes with their record counts and where the labels came from.

    The current label of a record: the latest manual label wins; otherwise the latest imported one (a
    label from a file); otherwise a weak or predicted label whose confidence is above the threshold.

    \b
    Example:
      likewise labels
      likewise labels export labels.csv
      likewise labels history bbc-tech-042
      likewise labels rename tech technology
      likewise labels merge business economy
      likewise labels delete misc
    """
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace
    if ctx.invoked_subcommand is not None:
        return
    from likewise.ops.labels import label_counts
    from likewise.workspace import Workspace

    counts = label_counts(Workspace.open(workspace))
    if wants_json(as_json):
        print_json(counts.to_dict())
        return
    sources = ["manual", "imported", "weak", "predicted"]
    rows = [(name, c["records"], *(c.get(s, 0) for s in sources)) for name, c in counts.classes.items()]
    stdout.print(table(f"{counts.labeled:,} of {counts.records:,} records labeled", ["class", "records", *sources], rows))
    if counts.conflicts:
        note(f"{counts.conflicts:,} record(s) have differing manual labels from several authors (the latest counts).")
    if counts.below_threshold:
        note(f"{counts.below_threshold:,} weak/predicted label(s) at or below the confidence threshold "
             f"{counts.threshold:g} do not count.")


def _ws(ctx, workspace):
    from likewise.workspace import Workspace

    return Workspace.open(workspace or ctx.obj["workspace"])


@labels_group.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "refinery"]), default=None,
              help="Default: from the extension (.csv, .jsonl, .json = refinery columns).")
@click.option("--task", default="label", show_default=True, help="Task name of the refinery columns.")
@click.option("--attribute", default="text", show_default=True, help="Attribute of the refinery columns ('' for whole-record).")
@click.option("--all", "include_unlabeled", is_flag=True, help="Include unlabeled records.")
@click.option("-w", "--workspace", default=None, hidden=True)
@click.pass_context
def labels_export(ctx, out, fmt, task, attribute, include_unlabeled, workspace) -> None:
    """Write the current labels as CSV, JSON lines or refinery columns (`<attribute>__<task>__MANUAL`).

    \b
    Example:
      likewise labels export labels.csv
      likewise labels export labels.json --task Topic --attribute ""
    """
    from likewise.ops.labels import export_labels

    info = export_labels(_ws(ctx, workspace), out, fmt=fmt, task=task, attribute=attribute,
                         include_unlabeled=include_unlabeled)
    note(f"Wrote {info['records']:,} records to {info['path']} ({info['format']}).")


@labels_group.command("history")
@click.argument("record_id")
@click.option("-w", "--workspace", default=None, hidden=True)
@json_option
@click.pass_context
def labels_history(ctx, record_id, workspace, as_json) -> None:
    """Every label event of one record, oldest first (undone ones marked).

    \b
    Example:
      likewise labels history bbc-tech-042
    """
    from likewise.ops.labels import label_history

    events = label_history(_ws(ctx, workspace), record_id)
    if wants_json(as_json):
        print_json(events)
        return
    rows = [(e["seq"], e["time"][:19].replace("T", " "), e["author"], e["kind"], e.get("source", ""),
             e.get("label", "") + (f" -> {e['new_label']}" if e.get("new_label") else ""),
             "" if e.get("confidence") is None else f"{e['confidence']:.2f}", "undone" if e["undone"] else "")
            for e in events]
    stdout.print(table(f"Label history of {record_id}", ["event", "time (UTC)", "author", "kind", "source", "label",
                                                          "confidence", ""], rows))


@labels_group.command("rename")
@click.argument("old")
@click.argument("new")
@author_option
@click.option("-w", "--workspace", default=None, hidden=True)
@click.pass_context
def labels_rename(ctx, old, new, author, workspace) -> None:
    """Rename class OLD to NEW on every record (a merge when NEW exists).

    \b
    Example:
      likewise labels rename tech technology
    """
    from likewise.ops.labels import rename_class

    info = rename_class(_ws(ctx, workspace), old, new, author=author)
    note(f"{'Merged' if info['merged'] else 'Renamed'} {old!r} into {new!r}: {info['records']:,} record(s) "
         f"(event {info['event']}; undo with `likewise label --undo`).")


@labels_group.command("merge")
@click.argument("source")
@click.argument("target")
@author_option
@click.option("-w", "--workspace", default=None, hidden=True)
@click.pass_context
def labels_merge(ctx, source, target, author, workspace) -> None:
    """Merge class SOURCE into class TARGET.

    \b
    Example:
      likewise labels merge business economy
    """
    from likewise.errors import unknown_name
    from likewise.ops.labels import rename_class

    ws = _ws(ctx, workspace)
    known = sorted({c.label for c in ws.labels().labels.values()})
    if target not in known:
        raise unknown_name("class", target, known, fix=f"; to give {source!r} a new name use `likewise labels rename`")
    info = rename_class(ws, source, target, author=author)
    note(f"Merged {source!r} into {target!r}: {info['records']:,} record(s) (event {info['event']}).")


@labels_group.command("delete")
@click.argument("name")
@author_option
@click.option("-w", "--workspace", default=None, hidden=True)
@click.pass_context
def labels_delete(ctx, name, author, workspace) -> None:
    """Remove class NAME from every record labeled with it (they become unlabeled; undoable).

    \b
    Example:
      likewise labels delete misc
    """
    from likewise.ops.labels import delete_class

    info = delete_class(_ws(ctx, workspace), name, author=author)
    note(f"Deleted class {name!r} from {info['records']:,} record(s) (event {info['event']}; undo with "
         "`likewise label --undo`).")


def register(group: click.Group) -> None:
    group.add_command(labels_group)
