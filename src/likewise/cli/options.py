"""Options shared by several commands."""
from __future__ import annotations

import os
from collections.abc import Callable

import click

from likewise.cache import CACHE_ENV
from likewise.workspace import DEFAULT_WORKSPACE, WORKSPACE_ENV
from likewise.workspace.lock import DEFAULT_WAIT_S, WAIT_ENV


def _to_env(name: str) -> Callable:
    def callback(ctx: click.Context, param: click.Parameter, value) -> None:
        if value is not None:
            os.environ[name] = str(value)  # read by Workspace.open: this process is this one command

    return callback


_workspace = click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False),
    envvar=WORKSPACE_ENV,
    default=DEFAULT_WORKSPACE,
    show_default=True,
    help=f"Workspace folder (or set ${WORKSPACE_ENV}).",
)
_wait = click.option(
    "--wait", type=click.FloatRange(min=0), default=None, expose_value=False, callback=_to_env(WAIT_ENV),
    help=f"Seconds to wait while another command writes the workspace (default {DEFAULT_WAIT_S:g}, or ${WAIT_ENV}).",
)


def workspace_option(f: Callable) -> Callable:
    """``-w/--workspace`` and ``--wait SECONDS``."""
    return _workspace(_wait(f))


cache_option = click.option(
    "--cache", type=click.Path(file_okay=False), default=None, expose_value=False, callback=_to_env(CACHE_ENV),
    help=f"Embedding cache folder, shared by workspaces (default ${CACHE_ENV}, else the user cache folder).",
)

author_option = click.option(
    "--author", default=None, envvar="LIKEWISE_AUTHOR",
    help="Who gives these labels (default $LIKEWISE_AUTHOR, else your login name).",
)

device_option = click.option(
    "--device", default=None, help="torch device: cpu, cuda, cuda:N (default: cuda when present, else cpu; or $LIKEWISE_DEVICE)."
)


# -- vectors and search backends ------------------------------------------------------------------------------
kind_option = click.option("--kind", type=click.Choice(["auto", "raw", "tuned"]), default="auto", show_default=True,
                           help="Which vectors: tuned when current tuned vectors exist (auto), or raw.")
milvus_options = [
    click.option("--milvus-uri", envvar="LIKEWISE_MILVUS_URI", default=None,
                 help="Milvus: a Lite file (./x.db), http://host:19530 for a server or cluster (or $LIKEWISE_MILVUS_URI)."),
    click.option("--milvus-token", envvar="LIKEWISE_MILVUS_TOKEN", default=None, help="Milvus token (or $LIKEWISE_MILVUS_TOKEN)."),
]


def milvus_options_for(f):
    for option in reversed(milvus_options):
        f = option(f)
    return f


# -- held-out splits, budgets, seeds ---------------------------------------------------------------------------
def parse_budget(value: str) -> int | str:
    if value == "all":
        return "all"
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter(f"{value!r} is not a positive number or 'all'")


def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def split_options(function):
    """--seed, --test-size and --budget: the evaluation's held-out split."""
    function = click.option("--budget", default="all", show_default=True,
                            help="Labeled training records (stratified from the training pool), or 'all'.")(function)
    function = click.option("--test-size", type=float, default=0.4, show_default=True,
                            help="Share of labeled records held out (as in `likewise evaluate`).")(function)
    function = click.option("--seed", type=int, default=0, show_default=True,
                            help="Seed of the held-out split, the budget and the held-out head.")(function)
    return function


def supervised_choice(value: str) -> str | None:
    return None if value == "none" else value


def parse_budgets(value: str) -> list[int | str]:
    out: list[int | str] = []
    for part in value.split(","):
        part = part.strip()
        if part == "all":
            out.append("all")
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise click.BadParameter(f"{part!r} is not a positive number or 'all'")
    return out


def parse_ints(value: str) -> list[int]:
    try:
        return [int(p) for p in value.split(",") if p.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} must be comma-separated integers") from exc


def map_options(function):
    """--projection, --supervised and --max-points, with the defaults `likewise map` and `likewise report`
    share (so the report can reuse maps `likewise map` drew)."""
    from likewise.maps import DEFAULT_MAX_POINTS, DEFAULT_PROJECTIONS, DEFAULT_SUPERVISED

    function = click.option("--max-points", type=int, default=DEFAULT_MAX_POINTS, show_default=True,
                            help="Larger datasets are drawn from a random sample of this size.")(function)
    function = click.option("--supervised", type=click.Choice(["head2d", "umap_supervised", "none"]),
                            default=DEFAULT_SUPERVISED, show_default=True,
                            help="Supervised map, fitted on the training records' labels only.")(function)
    function = click.option("-p", "--projection", "projections", multiple=True, type=click.Choice(["pca", "umap"]),
                            help=f"Unsupervised projection, repeatable (default: {', '.join(DEFAULT_PROJECTIONS)}; "
                                 "umap is slower and needs likewise[umap]).")(function)
    return function
