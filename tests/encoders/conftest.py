"""The static encoder is distilled once per test session into a per-session folder, never the user's."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def static_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("static-cache")


@pytest.fixture
def static_encoder(static_cache, monkeypatch):
    pytest.importorskip("model2vec")
    monkeypatch.setenv("LIKEWISE_STATIC_CACHE", str(static_cache))
    from likewise.encoders import get_encoder

    return get_encoder("static")
