"""Options shared by several commands."""
from __future__ import annotations

import click

from likewise.workspace import DEFAULT_WORKSPACE, WORKSPACE_ENV

workspace_option = click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False),
    envvar=WORKSPACE_ENV,
    default=DEFAULT_WORKSPACE,
    show_default=True,
    help=f"Workspace folder (or set ${WORKSPACE_ENV}).",
)

device_option = click.option(
    "--device", default=None, help="torch device: cpu, cuda, cuda:N (default: cuda when present, else cpu; or $LIKEWISE_DEVICE)."
)
