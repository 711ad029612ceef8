"""Fixtures for the records tests: files written to tmp_path."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from record_fixtures import EXTENSIONS, write_rows


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(rows, fmt, name=None)`` -> the path of a new file in tmp_path."""

    def _write(rows: list[dict], fmt: str, name: str | None = None) -> Path:
        return write_rows(tmp_path / (name or f"records{EXTENSIONS.get(fmt, '.json')}"), rows, fmt)

    return _write
