"""Fixtures for the report tests: a workspace embedded, tuned and evaluated once per session."""
from __future__ import annotations

import shutil

import pytest
from report_fixtures import make_workspace


@pytest.fixture(scope="session")
def ready_workspace(tmp_path_factory):
    """Embedded, tuned and evaluated; copy it (``workspace_copy``) before writing into it."""
    return make_workspace(tmp_path_factory.mktemp("report") / "ws")


@pytest.fixture
def workspace_copy(ready_workspace, tmp_path):
    from likewise.workspace import Workspace

    shutil.copytree(ready_workspace.path, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


@pytest.fixture(scope="session")
def built_report(ready_workspace, tmp_path_factory):
    """The report of ``ready_workspace`` written to a folder of its own: (result, workspace copy)."""
    from likewise.report import build_report
    from likewise.workspace import Workspace

    folder = tmp_path_factory.mktemp("built")
    shutil.copytree(ready_workspace.path, folder / "ws")
    ws = Workspace.open(folder / "ws")
    return build_report(ws, out=folder / "out" / "report.html"), ws
