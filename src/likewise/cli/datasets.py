"""``likewise datasets``: the bundled real labeled datasets (read from installed packages)."""
from __future__ import annotations

import click

from likewise.cli.output import json_option, note, print_json, stdout, table, wants_json


@click.group("datasets", invoke_without_command=True)
@json_option
@click.pass_context
def datasets_group(ctx: click.Context, as_json: bool) -> None:
    """List the bundled real labeled datasets, with their source and license.

    \b
    Example:
      likewise datasets
      likewise datasets export bbc_news bbc.csv
    """
    if ctx.invoked_subcommand is not None:
        return
    from likewise.datasets import DATASETS

    rows = [{k: v for k, v in vars(info).items() if not callable(v)} for info in DATASETS.values()]
    if wants_json(as_json):
        print_json(rows)
        return
    stdout.print(table("Bundled datasets", ["name", "records", "classes", "source", "license"],
                       [(r["name"], r["size"], ", ".join(r["classes"]), r["source"], r["license"]) for r in rows]))


@datasets_group.command("export")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def export_command(name: str, file: str, as_json: bool) -> None:
    """Write bundled dataset NAME to FILE as CSV (columns id, text, label).

    \b
    Example:
      likewise datasets export rotten_tomatoes rt.csv
    """
    from likewise.datasets import export_dataset

    path = export_dataset(name, file)
    if as_json:
        print_json({"dataset": name, "path": str(path)})
    else:
        note(f"Wrote {name} to {path}")


def register(group: click.Group) -> None:
    group.add_command(datasets_group)
