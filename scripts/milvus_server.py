"""Run the Milvus standalone server from the PyPI ``milvus`` package on loopback only, for tests and CI.

    python scripts/milvus_server.py run -- python -m pytest -q     # server up, command, server down
    python scripts/milvus_server.py start                           # inside an isolated network namespace
    python scripts/milvus_server.py stop

Why a private network namespace: the bundled Milvus (2.3.5) binds its gRPC and HTTP ports on every
interface (``:19530``, ``:9091``, ...). Its ``<component>.ip`` settings only choose the address it
advertises, not the one it listens on (milvus-io/milvus#26538), so they cannot keep it on loopback. ``run``
therefore re-executes itself under ``unshare --net`` (needs root or CAP_SYS_ADMIN): the namespace has only
``lo``, which it brings up, and the server and the command run inside it, where 127.0.0.1 is the only
address there is. The command gets ``LIKEWISE_MILVUS_URI=http://127.0.0.1:PORT``. If the namespace cannot
be made, the server is not started: the command still runs, with ``LIKEWISE_MILVUS_SKIP_REASON`` set, and
the Milvus server tests skip with that reason. ``start`` refuses to run outside such a namespace.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

URI_ENV = "LIKEWISE_MILVUS_URI"
SKIP_ENV = "LIKEWISE_MILVUS_SKIP_REASON"
_INSIDE_ENV = "LIKEWISE_MILVUS_NETNS"
COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")
DEFAULT_PIDFILE = Path(tempfile.gettempdir()) / "likewise-milvus.json"


def interfaces() -> list[str]:
    """Network interfaces of this process's namespace (from /proc/net/dev, which follows the namespace)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines]


def loopback_only() -> bool:
    return interfaces() == ["lo"]


def bring_loopback_up() -> None:
    """``ip link set lo up`` without needing iproute2: SIOCGIFFLAGS / SIOCSIFFLAGS on ``lo``."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))


def start_server(port: int, data_dir: Path, timeout_s: float):
    """Start the bundled server with every component on 127.0.0.1; returns the running ``MilvusServer``."""
    if not loopback_only():
        raise RuntimeError(
            f"refusing to start: Milvus binds every interface and this namespace has {interfaces()}; "
            "use `python scripts/milvus_server.py run -- CMD` (or run inside `unshare --net`)"
        )
    bring_loopback_up()  # a fresh namespace starts with lo down
    from milvus import MilvusServer, MilvusServerConfig

    server = MilvusServer(MilvusServerConfig(), wait_for_started=False)
    server.set_base_dir(str(data_dir))
    server.listen_port = port
    for component in COMPONENTS:
        server.config.set(f"{component}.ip", "127.0.0.1")
    server.start()
    try:
        server.wait_started(timeout=int(timeout_s * 1000))
    except (TimeoutError, RuntimeError) as exc:
        log = data_dir / "logs" / "milvus-stderr.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        server.stop()
        raise RuntimeError(f"Milvus did not become healthy: {exc}\n{tail}") from exc
    return server


def _run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("run needs a command after --", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if os.environ.get(_INSIDE_ENV) != "1" and not loopback_only():
        unshare = shutil.which("unshare")
        if unshare is None:
            return _without_server(command, env, "`unshare` (util-linux) is not installed")
        probe = subprocess.run([unshare, "--net", "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            why = probe.stderr.strip() or f"exit {probe.returncode}"
            return _without_server(command, env, f"cannot create a network namespace ({why}); needs root")
        env[_INSIDE_ENV] = "1"
        inner = [unshare, "--net", "--", sys.executable, os.path.abspath(__file__), "run",
                 "--port", str(args.port), "--timeout", str(args.timeout), "--", *command]
        return subprocess.run(inner, env=env).returncode
    data_dir = Path(tempfile.mkdtemp(prefix="likewise-milvus-"))
    try:
        try:
            server = start_server(args.port, data_dir, args.timeout)
        except (RuntimeError, OSError, ImportError) as exc:
            return _without_server(command, env, f"Milvus server did not start: {exc}")
        uri = f"http://127.0.0.1:{server.listen_port}"
        print(f"milvus_server: Milvus {server_version()} up at {uri} (loopback-only namespace)", file=sys.stderr)
        env[URI_ENV] = uri
        try:
            return subprocess.run(command, env=env).returncode
        finally:
            server.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _without_server(command: list[str], env: dict[str, str], reason: str) -> int:
    print(f"milvus_server: {reason}; running the command without it", file=sys.stderr)
    env[SKIP_ENV] = reason
    env.pop(URI_ENV, None)
    return subprocess.run(command, env=env).returncode


def server_version() -> str:
    from milvus import __version__

    return __version__


def _start(args: argparse.Namespace) -> int:
    if args.pidfile.exists():
        print(f"a server seems to run already ({args.pidfile}); stop it first", file=sys.stderr)
        return 1
    data_dir = Path(tempfile.mkdtemp(prefix="likewise-milvus-"))
    try:
        server = start_server(args.port, data_dir, args.timeout)
    except (RuntimeError, OSError, ImportError) as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"milvus_server: {exc}", file=sys.stderr)
        return 1
    state = {"pid": server.server_proc.pid, "data_dir": str(data_dir), "uri": f"http://127.0.0.1:{server.listen_port}"}
    args.pidfile.write_text(json.dumps(state))
    server.server_proc = None  # leave the process running when this script exits
    print(state["uri"])
    return 0


def _stop(args: argparse.Namespace) -> int:
    if not args.pidfile.exists():
        print(f"no server recorded in {args.pidfile}", file=sys.stderr)
        return 1
    state = json.loads(args.pidfile.read_text())
    pid = int(state["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    shutil.rmtree(state["data_dir"], ignore_errors=True)
    args.pidfile.unlink()
    print(f"stopped Milvus (pid {pid})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("run", "start", "stop"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=19530)
        p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for health")
        p.add_argument("--pidfile", type=Path, default=DEFAULT_PIDFILE)
        if name == "run":
            p.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    return {"run": _run, "start": _start, "stop": _stop}[args.action](args)


if __name__ == "__main__":
    sys.exit(main())
