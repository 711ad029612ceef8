"""A real two-node Ray cluster on this machine, for tests, the benchmark and trying `likewise embed --ray`.

    python scripts/ray_cluster.py run -- likewise embed bbc_news --ray '$RAY_ADDRESS'   # up, command, down

It runs ``ray start --head`` (on 127.0.0.1, a free port, no dashboard, its own temp folder, a small object
store) plus one more ``ray start --address=...`` worker node, each with ``--num-cpus`` CPUs, and waits until
the cluster shows every node. Each ``ray start`` runs in a session of its own, and stopping kills exactly the
processes of those sessions (SIGTERM, then SIGKILL after a grace period): never ``ray stop``, which would end
every Ray process of the machine. The command gets the address as ``$RAY_ADDRESS`` (the shell expands it).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_processes(sessions: set[int]) -> list[int]:
    """Pids whose session id (field 6 of /proc/PID/stat) is one of ``sessions``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) in sessions:
            pids.append(int(entry.name))
    return pids


def _stop(sessions: set[int], grace: float = 10.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        pids = [p for p in _session_processes(sessions) if p != os.getpid()]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while _session_processes(sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _session_processes(sessions):
            return


def _ray_start(args: list[str], temp_dir: Path, log: Path, sessions: set[int]) -> None:
    """Runs `ray start ...` in a new session, whose id (= its pid) goes into ``sessions`` at once, so what a
    failed start left running is stopped with the rest."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(RAY), "start", *args, f"--temp-dir={temp_dir}", "--disable-usage-stats"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        sessions.add(proc.pid)
        rc = proc.wait(timeout=300)
    if rc != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"`ray start` failed (exit {rc}): " + " | ".join(tail))


def wait_for_cpus(address: str, cpus: float, timeout: float = 180.0) -> None:
    """Until the cluster at ``address`` shows ``cpus`` CPUs (a worker node joins a few seconds after its start)."""
    code = (
        "import sys, time, logging, ray\n"
        f"ray.init(address={address!r}, logging_level=logging.ERROR, log_to_driver=False)\n"
        f"deadline = time.monotonic() + {timeout}\n"
        f"while ray.cluster_resources().get('CPU', 0) < {cpus}:\n"
        "    if time.monotonic() > deadline: sys.exit(1)\n"
        "    time.sleep(0.5)\n"
    )
    env = {**os.environ, "RAY_BACKEND_LOG_LEVEL": "error"}
    if subprocess.run([sys.executable, "-c", code], env=env, timeout=timeout + 60,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        raise RuntimeError(f"the Ray cluster at {address} did not reach {cpus} CPUs in {timeout:g} s")


@contextmanager
def local_cluster(nodes: int = 2, cpus: int = 1, object_store_mb: int = 150,
                  temp_dir: str | Path | None = None) -> Iterator[str]:
    """A head plus ``nodes - 1`` worker nodes on loopback; yields the address (``127.0.0.1:PORT``)."""
    # Ray puts socket files under the temp folder: its path must stay short (AF_UNIX paths <= 107 bytes), so
    # the default is directly under the system temp folder; a folder made here is removed afterwards
    base = Path(temp_dir) if temp_dir else Path(tempfile.mkdtemp(prefix="lw-ray-"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = [f"--num-cpus={cpus}", f"--object-store-memory={object_store_mb * 1024 * 1024}"]
    sessions: set[int] = set()
    log = base / "ray-start.log"
    try:
        _ray_start(["--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    f"--ray-client-server-port={free_port()}", "--include-dashboard=false", *common], base, log, sessions)
        for _ in range(nodes - 1):
            _ray_start([f"--address={address}", *common], base, log, sessions)
        wait_for_cpus(address, nodes * cpus)
        yield address
    finally:
        _stop(sessions)
        if temp_dir is None:
            shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="start the cluster, run a command (with $RAY_ADDRESS set), stop the cluster")
    run.add_argument("--nodes", type=int, default=2)
    run.add_argument("--cpus", type=int, default=1, help="CPUs per node")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    with local_cluster(args.nodes, args.cpus) as address:
        env = {**os.environ, "RAY_ADDRESS": address}
        return subprocess.run(" ".join(command), shell=True, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
