"""``likewise serve``: the labeling web app on this machine."""
from __future__ import annotations

import click

from likewise.cli.options import workspace_option
from likewise.cli.output import note, stderr


@click.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback also needs --allow-remote.")
@click.option("--allow-remote", is_flag=True, help="Allow a --host other machines can reach (prints a warning).")
@click.option("--token", envvar="LIKEWISE_SERVE_TOKEN", default=None,
              help="Access token (default: a new random one each start; or $LIKEWISE_SERVE_TOKEN).")
@click.option("--retrain-every", type=click.IntRange(min=1), default=None,
              help="Retrain the head after this many new labels (default 25, or what the page last set).")
@click.option("--no-auto-retrain", is_flag=True, default=False, help="Retrain only when asked (the page's R key).")
@workspace_option
def serve_command(port, host, allow_remote, token, retrain_every, no_auto_retrain, workspace) -> None:
    """Label in the browser: sessions of similar records, keyboard first, retraining as you label.

    Prints one URL carrying a random access token (open it in your browser; nothing is opened for you).
    Every label goes straight to the workspace's label store, so Ctrl-C and a restart lose nothing.
    Needs the serve extra: pip install 'likewise[serve]'.

    \b
    Example:
      likewise serve
      likewise serve -w reviews-ws --port 9000 --retrain-every 50
      likewise serve --host 0.0.0.0 --allow-remote      # other machines too (prints a warning)
    """
    from likewise.serve.server import serve

    serve(workspace, host=host, port=port, token=token, allow_remote=allow_remote, retrain_every=retrain_every,
          auto_retrain=False if no_auto_retrain else None, announce=lambda url: click.echo(url),
          warn=lambda message: stderr.print(message, style="yellow", highlight=False, soft_wrap=True))
    note("Stopped; every label is in the workspace.")


def register(group: click.Group) -> None:
    group.add_command(serve_command)
