"""Entry point: ``likewise <command>``. Library errors become one line on stderr and exit code 2."""
from __future__ import annotations

import os
import sys

import click

from likewise import __version__
from likewise.errors import LikewiseError


FLOW = ("datasets", "embed", "info", "label", "labels", "compare-models", "tune", "transform", "evaluate", "runs",
        "index", "search", "session", "classify", "map", "report", "serve", "demo", "cache")


class LikewiseGroup(click.Group):
    """Turns the library's errors (bad input, missing extras) into a clean one-line error, no traceback;
    lists the commands in the order of the flow."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return [n for n in FLOW if n in names] + [n for n in names if n not in FLOW]

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LikewiseError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"Error: {exc.strerror or exc}{where}; pick a path you can write to", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted; the workspace was left as it was before this command.", err=True)
            ctx.exit(130)


@click.group(cls=LikewiseGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="likewise")
def cli() -> None:
    """Fine-tune text embeddings from class labels so that, in a similarity search, similar means same class.

    \b
    The flow:
      likewise embed reviews.csv -l label       # records in, cached embeddings, the file's labels
      likewise label r42 fresh                  # more labels (or --file, or the web app)
      likewise compare-models                   # which pretrained encoder fits your labels best
      likewise tune                             # learn the mapping from the current labels
      likewise evaluate                         # raw vs tuned on held-out records, by label budget
      likewise index / search / session         # similarity search, labeling sessions
      likewise classify / map / report          # classifier, 2D maps, a report to share
      likewise serve                            # label in the browser; retrains while you label
      likewise demo                             # all of it on bundled real data, narrated
    The workspace folder comes from --workspace or $LIKEWISE_WORKSPACE (default ./likewise-workspace).
    Other libraries' warnings go to a log file ($LIKEWISE_LOG), not the terminal.
    """
    from likewise.cli.output import quiet_third_party

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    quiet_third_party()  # other libraries' bars and warnings go to the log file, never the terminal


def _register() -> None:
    from likewise.cli import (
        cache, classify, compare_models, datasets, demo, embed, evaluate, index, info, label, labels, map, report, runs,
        search, serve, session, transform, tune,
    )

    # in the order of the flow: data in, labels, tune, measure, search and label, see and share
    for module in (datasets, embed, info, label, labels, compare_models, tune, transform, evaluate, demo, runs, index,
                   search, session, classify, map, report, serve, cache):
        module.register(cli)


_register()


def main() -> None:
    cli(prog_name="likewise")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
