"""How the CLI shows results: JSON when asked or piped, rich tables for people, progress on stderr."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from likewise.progress import Progress as ProgressCallback
from likewise.progress import no_progress

stdout = Console()
stderr = Console(stderr=True)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (the default when output is piped).")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bars or summaries on stderr.")


def wants_json(as_json: bool) -> bool:
    return as_json or not sys.stdout.isatty()


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_default, ensure_ascii=False))


def print_jsonl(rows: Sequence[dict]) -> None:
    for row in rows:
        click.echo(json.dumps(row, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        t.add_row(*(_cell(v) for v in row))
    return t


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def note(message: str, *, quiet: bool = False) -> None:
    """A line for people on stderr (never mixed into JSON on stdout)."""
    if not quiet:
        stderr.print(message, highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[ProgressCallback]:
    """A progress callback drawing a rich bar on stderr; silent when quiet or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield no_progress
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int | None, description: str) -> None:
            # one bar: its text follows the current step (epochs, folds and phases change the description)
            bar.update(task, completed=done, total=total, description=description)

        yield update
