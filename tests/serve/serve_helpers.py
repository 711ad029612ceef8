"""Helpers for the web app's tests: small real workspaces, a real ``likewise serve`` subprocess on loopback."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from likewise.encoders import get_encoder
from likewise.ops.embed import embed_into_workspace
from likewise.records.dataset import Dataset
from likewise.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
URL = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)$")
HOSTILE = ['<script>window.__pwned = "script"</script>hostile one',
           '<img src=x onerror="window.__pwned = \'img\'">hostile two',
           '<!--<script>window.__pwned = "comment"</script>-->hostile three']


@dataclass
class Corpus:
    """Records for a workspace (none labeled in it) and their true classes (what a labeler would say)."""

    ids: list[str]
    texts: list[str]
    truth: dict[str, str] = field(default_factory=dict)


def make_workspace(path: Path, corpus: Corpus, encoder=None) -> Path:
    ws = Workspace.open(path, create=True)
    embed_into_workspace(ws, Dataset.from_lists(corpus.texts, None, corpus.ids), encoder or get_encoder("hashing"),
                         source={"path": "tests"})
    ws.store.close()
    return path


class Server:
    """``likewise serve`` as a real process on a free loopback port."""

    def __init__(self, workspace: Path, *extra: str, env: dict | None = None) -> None:
        self.workspace = Path(workspace)
        self.extra = extra
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.url = self.token = ""
        self.port = 0
        self.stderr_path = self.workspace.parent / f"serve-{time.monotonic_ns()}.err"

    def start(self, timeout: float = 60.0) -> Server:
        self._err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "likewise.cli.main", "serve", "-w", str(self.workspace),
                                      "--port", "0", *self.extra], stdout=subprocess.PIPE, stderr=self._err,
                                     text=True, env=self.env, start_new_session=True)
        line = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        match = URL.match(line)
        assert match, f"expected one URL line, got {line!r}; stderr: {self.stderr()}"
        self.url, self.port, self.token = line, int(match.group(1)), match.group(2)
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/status", headers=self.auth, timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not answer; stderr: {self.stderr()}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kw):
        import httpx

        return httpx.Client(base_url=self.base, headers=self.auth, timeout=60, **kw)

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        code = self.proc.wait(30)
        self._err.close()
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGINT)


def wait_job(client, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
