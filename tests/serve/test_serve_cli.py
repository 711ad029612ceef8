"""``likewise serve`` as a command: one URL, loopback unless asked, clean errors, Ctrl-C stops cleanly."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys

from click.testing import CliRunner
from serve_helpers import URL, Server

from likewise.cli.main import cli


def test_help_has_an_example():
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and "--allow-remote" in result.output


def _run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "likewise.cli.main", "serve", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_clean_one_line_errors(tmp_path, hashing_ws):
    remote = _run("-w", str(hashing_ws), "--host", "0.0.0.0", "--port", "0")
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr and "Traceback" not in remote.stderr
    missing = _run("-w", str(tmp_path / "nothing"), "--port", "0")
    assert missing.returncode == 2 and "no workspace" in missing.stderr and "Traceback" not in missing.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = _run("-w", str(hashing_ws), "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 2 and "--port 0" in busy.stderr and "Traceback" not in busy.stderr


def test_one_url_then_ctrl_c_stops_cleanly(hashing_ws):
    server = Server(hashing_ws).start()
    assert URL.match(server.url)
    with server.client() as c:
        assert c.post("/api/labels", json={"labels": [{"id": c.get("/api/records").json()["records"][0]["id"],
                                                       "label": "a"}], "author": "ann"}).status_code == 200
    assert server.kill(signal.SIGINT) == 0
    assert server.proc.stdout.read() == ""  # nothing but the one URL line on stdout
    err = server.stderr()
    assert "Traceback" not in err and "Stopped" in err


def test_beyond_loopback_only_with_the_flag_and_a_warning(hashing_ws):
    server = Server(hashing_ws, "--host", "0.0.0.0", "--allow-remote").start()
    try:
        assert "Warning" in server.stderr() and "other machines" in server.stderr()
        with server.client() as c:  # any Host name is answered then; the token still guards
            assert c.get("/api/status", headers={"Host": "labeling-box.local"}).status_code == 200
    finally:
        assert server.kill(signal.SIGINT) == 0
