"""Fixtures for the web app's tests (helpers in serve_helpers.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serve_helpers import HOSTILE, Corpus, Server, make_workspace

from likewise.datasets import load_dataset


@pytest.fixture(scope="session")
def bbc_small() -> Corpus:
    """279 BBC News articles (every 8th), three of them hostile."""
    data = load_dataset("bbc_news")
    sub = data.subset(np.arange(0, len(data), 8))
    texts = list(sub.texts)
    for i, text in enumerate(HOSTILE):
        texts[10 + i] = text + " " + texts[10 + i][:200]
    return Corpus(list(sub.ids), texts, dict(zip(sub.ids, sub.labels)))


@pytest.fixture
def hashing_ws(tmp_path, bbc_small) -> Path:
    return make_workspace(tmp_path / "ws", bbc_small)


@pytest.fixture
def serve():
    """Start servers with ``serve(workspace, *options)``; every one still running is stopped at the end."""
    started: list[Server] = []

    def start(workspace: Path, *extra: str, env: dict | None = None) -> Server:
        server = Server(workspace, *extra, env=env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


