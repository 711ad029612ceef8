"""Start the web app: bind the socket, print one URL carrying the access token, serve until Ctrl-C."""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from likewise.errors import InputError, MissingExtraError
from likewise.serve.security import LOOPBACK_NAMES, new_token

DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), with a clear error when the port is taken."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP named: asyncio then sets TCP_NODELAY on each connection (else keep-alive requests wait ~40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), int(port)))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port "
                         "(--port 0 takes a free one)") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int, token: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={token}"


def serve(workspace: str | Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
          allow_remote: bool = False, retrain_every: int | None = None, auto_retrain: bool | None = None,
          announce: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> None:
    """Serve ``workspace`` until interrupted. ``announce`` gets the one URL to open (with the token);
    ``warn`` a warning when listening beyond this machine (which needs ``allow_remote``)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError("likewise serve", "serve", exc.name or "fastapi") from exc
    from likewise.serve.app import create_app
    from likewise.serve.state import ServeState

    remote = not is_loopback(host)
    if remote and not allow_remote:
        raise InputError(f"--host {host} would let other machines reach your labels; pass --allow-remote as well "
                         "if that is what you want (anyone who has the URL's token can then label)")
    token = token or new_token()
    if len(token) < 16:
        raise InputError("the access token must be at least 16 characters long")
    state = ServeState(workspace, retrain_every=retrain_every, auto_retrain=auto_retrain)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    # beyond loopback any Host header is answered (the machine has names we cannot know): the token guards
    app = create_app(state, token=token, port=port, hosts=None if remote else LOOPBACK_NAMES)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5,
                            server_header=False, date_header=False)
    server = uvicorn.Server(config)
    if remote:
        warn(f"Warning: listening on {host}:{port}, reachable from other machines over plain HTTP; the token is "
             "the only protection. Prefer an SSH tunnel to 127.0.0.1.")
    announce(url_for(host, port, token))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down gracefully, then re-raised Ctrl-C: for a server that is the normal way to stop
    finally:
        sock.close()
