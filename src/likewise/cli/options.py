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
