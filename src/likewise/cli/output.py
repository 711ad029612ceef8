"""How the CLI shows results: JSON when asked or piped, rich tables for people, progress on stderr."""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

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


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
          wrap: Sequence[str] = ()) -> RenderableType:
    """A table for people: numbers (and percents) right-aligned, text left-aligned and cut with "…" to fit
    the terminal (columns named in ``wrap`` wrap instead); the title on a line of its own above it, so it
    is never squeezed to the table's width."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(col)] + [len(row[i]) for row in cells if i < len(row)]) for i, col in enumerate(columns)]
    long = [i for i, col in enumerate(columns) if widths[i] > LONG_CELL and col not in wrap]
    t = Table(show_edge=False, header_style="bold", pad_edge=False, expand=bool(long or wrap))
    for i, col in enumerate(columns):
        values = [row[i] for row in cells if i < len(row) and row[i] != ""]
        numeric = bool(values) and all(_NUMBER.fullmatch(v) for v in values)
        if col in wrap:
            t.add_column(col, justify="left", overflow="fold", ratio=1)
        elif i in long:  # texts take the room that is left, cut with "…"
            t.add_column(col, justify="left", no_wrap=True, overflow="ellipsis", ratio=1, min_width=12)
        else:  # numbers, ids, labels: never squeezed
            t.add_column(col, justify="right" if numeric else "left", no_wrap=True, min_width=widths[i])
    for row in cells:
        t.add_row(*row)
    if not title:
        return t
    return Group(Text(title, style="bold"), t)


LONG_CELL = 28  # a column with a longer cell is text: it takes the room left and is cut with "…"
_NUMBER = re.compile(r"[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?|[<>] [\d.]+|–")


def share(value: float | None, digits: int = 1) -> str:
    """A share as a percent, the one way the CLI prints shares: ``0.477`` -> ``47.7%``."""
    return "" if value is None else f"{100 * value:.{digits}f}%"


def one_line(text: str | None) -> str:
    """A record's text on one line (newlines and runs of spaces collapsed), for a table cell."""
    return " ".join((text or "").split())


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def note(message: str, *, quiet: bool = False) -> None:
    """A line for people on stderr (never mixed into JSON on stdout)."""
    if not quiet:
        stderr.print(message, highlight=False, soft_wrap=True)


class _Count(ProgressColumn):
    """``12/100`` when the total is known, nothing otherwise (never ``0/?``)."""

    def render(self, task) -> Text:
        if task.total is None:
            return Text("")
        return MofNCompleteColumn().render(task)


class _Remaining(ProgressColumn):
    def render(self, task) -> Text:
        return Text("") if task.total is None else TimeRemainingColumn().render(task)


@contextmanager
def progress_bar(quiet: bool = False, start: str = "starting") -> Iterator[ProgressCallback]:
    """A progress callback drawing a rich bar on stderr; silent when quiet or stderr is not a terminal.

    ``start`` is what the bar says from its first frame, before the library reports its first step
    ("loading model", "reading the workspace"); a step with no known total shows a spinner, not ``0/?``."""
    if quiet or not sys.stderr.isatty():
        yield no_progress
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        _Count(),
        TimeElapsedColumn(),
        _Remaining(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task(start, total=None)

        def update(done: int, total: int | None, description: str) -> None:
            # one bar: its text follows the current step (epochs, folds and phases change the description)
            bar.update(task, completed=done, total=total, description=description or start)

        yield update


LOG_ENV = "LIKEWISE_LOG"
THIRD_PARTY_LOGGERS = ("transformers", "sentence_transformers", "torch", "onnxruntime", "onnx", "optimum",
                       "huggingface_hub", "datasets", "accelerate", "umap", "numba", "pynndescent", "py.warnings")


def third_party_log_path():
    """Where other libraries' warnings and log lines go instead of the terminal: ``$LIKEWISE_LOG``, else
    ``likewise.log`` in the user log folder."""
    import os
    from pathlib import Path

    if os.environ.get(LOG_ENV):
        return Path(os.environ[LOG_ENV])
    from platformdirs import user_log_dir

    return Path(user_log_dir("likewise")) / "likewise.log"


def quiet_third_party() -> None:
    """Keep other libraries' output off the terminal: their progress bars off (tqdm, Hugging Face), their
    warnings (``warnings.warn``, e.g. torch's tracer on the first ONNX export) and log records to the log file
    (:func:`third_party_log_path`). Called once, when a command starts."""
    import logging
    import os

    for name, value in (("TQDM_DISABLE", "1"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                        ("TRANSFORMERS_VERBOSITY", "error"), ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"),
                        ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)
    handler: logging.Handler
    try:
        path = third_party_log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        handler = logging.NullHandler()  # no writable log folder: their lines are dropped, never printed
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.captureWarnings(True)
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
