"""Shared fixtures: a fast deterministic encoder for most tests, the real offline MiniLM loaded once."""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_configure(config):
    """Before any fixture (module-scoped ones included): the shared embedding cache is a per-run folder,
    never the user's."""
    import tempfile

    os.environ["LIKEWISE_CACHE"] = tempfile.mkdtemp(prefix="likewise-test-cache-")


@pytest.fixture
def hashing_encoder():
    from likewise.encoders import HashingEncoder

    return HashingEncoder(dim=64)


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 (torch runtime, CPU), loaded once per test session."""
    from likewise.encoders import SentenceTransformerEncoder

    return SentenceTransformerEncoder(device="cpu")


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """Exported ONNX graphs go to a per-session folder, never the user's home;
    label authors and lock waits are fixed so tests do not depend on who runs them."""
    monkeypatch.setenv("LIKEWISE_ONNX_CACHE", str(tmp_path_factory.getbasetemp() / "onnx-cache"))
    monkeypatch.setenv("LIKEWISE_AUTHOR", "tester")
    monkeypatch.delenv("LIKEWISE_WAIT", raising=False)
    # `--cache` and `--wait` set these for the rest of their process (one CLI command); CliRunner runs them in
    # this one, so each test gets them back as they were
    monkeypatch.setenv("LIKEWISE_CACHE", os.environ["LIKEWISE_CACHE"])


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless chromium driven by Playwright (never a browser download), one per test session;
    skips, saying why, where chromium or playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def repo_script():
    """Load one of the repository's scripts (``scripts/<name>.py``) as a module: ``repo_script("ray_cluster")``."""
    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
