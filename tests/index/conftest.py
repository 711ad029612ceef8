"""Milvus endpoints for the index tests: a Milvus Lite file and, where it can run, the standalone server."""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest



@pytest.fixture(scope="session")
def milvus_lite_uri(tmp_path_factory) -> str:
    """One Milvus Lite file for the session (each test uses its own collection names)."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    return str(tmp_path_factory.mktemp("milvus-lite") / "likewise.db")


@pytest.fixture(scope="session")
def milvus_server_uri(repo_script):
    """A Milvus standalone server: the one ``scripts/milvus_server.py run`` started (``LIKEWISE_MILVUS_URI``),
    or one started here when this process is already in a loopback-only network namespace; otherwise skip.
    """
    pytest.importorskip("pymilvus")
    script = repo_script("milvus_server")
    uri = os.environ.get(script.URI_ENV)
    if uri:
        yield uri
        return
    reason = os.environ.get(script.SKIP_ENV)
    if reason:
        pytest.skip(f"Milvus server not available: {reason}")
    if importlib.util.find_spec("milvus") is None:
        pytest.skip("Milvus server not available: the `milvus` package (bundled server) is not installed")
    if not script.loopback_only():
        pytest.skip(
            "Milvus server not started: it binds every interface, so it only runs in a loopback-only network "
            "namespace; run the tests through `python scripts/milvus_server.py run -- python -m pytest`"
        )
    data_dir = Path(tempfile.mkdtemp(prefix="likewise-milvus-"))
    try:
        server = script.start_server(19530, data_dir, timeout_s=120)
    except (RuntimeError, OSError) as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        pytest.skip(f"Milvus server did not start: {exc}")
    try:
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def unique_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"
