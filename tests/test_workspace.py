from __future__ import annotations

import json

import numpy as np
import pytest

from likewise.embedding import embed_into_workspace
from likewise.errors import InputError
from likewise.records import Dataset
from likewise.workspace import SCHEMA_VERSION, Workspace


def _dataset(n: int = 30) -> Dataset:
    labels = ["sport", "tech", None]
    return Dataset.from_lists([f"text number {i} about {labels[i % 3]}" for i in range(n)], [labels[i % 3] for i in range(n)])


def test_open_missing_workspace_says_how_to_create(tmp_path):
    with pytest.raises(InputError, match="likewise embed"):
        Workspace.open(tmp_path / "nope")


def test_embed_into_workspace_round_trip(tmp_path, hashing_encoder):
    ws = Workspace.open(tmp_path / "ws", create=True)
    data = _dataset()
    result = embed_into_workspace(ws, data, hashing_encoder, source={"path": "x.csv"})
    assert result.stats.encoded == 30
    again = Workspace.open(tmp_path / "ws")
    assert again.manifest["schema_version"] == SCHEMA_VERSION
    records = again.load_records()
    assert records.ids == data.ids and records.labels == data.labels and records.texts == data.texts
    vec = again.load_vectors("raw")
    assert vec.ids == data.ids and vec.vectors.shape == (30, hashing_encoder.dim)
    info = again.info()
    assert info["records"]["count"] == 30 and info["records"]["labeled"] == 20
    assert info["records"]["classes"] == {"sport": 10, "tech": 10}
    assert info["cache"]["shards"] >= 1


def test_failed_embed_leaves_workspace_as_it_was(tmp_path, hashing_encoder):
    ws = Workspace.open(tmp_path / "ws", create=True)
    embed_into_workspace(ws, _dataset(), hashing_encoder, source={"path": "a"})
    before = {p.name: p.read_bytes() for p in (tmp_path / "ws").glob("*") if p.is_file()}

    class Broken(type(hashing_encoder)):
        def embed_batch(self, texts):
            raise InputError("model exploded")

    broken = Broken(dim=64)
    broken.identity = "broken"
    with pytest.raises(InputError, match="exploded"):
        embed_into_workspace(Workspace.open(tmp_path / "ws"), _dataset(40), broken, source={"path": "b"})
    after = {p.name: p.read_bytes() for p in (tmp_path / "ws").glob("*") if p.is_file()}
    assert before == after
    assert Workspace.open(tmp_path / "ws").load_records().ids == _dataset().ids


def test_corrupt_manifest_and_foreign_folder(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="corrupt"):
        Workspace.open(tmp_path / "ws")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x")
    with pytest.raises(InputError, match="not a likewise workspace"):
        Workspace.open(tmp_path / "other", create=True)
    (tmp_path / "ws" / "manifest.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(InputError, match="schema version 99"):
        Workspace.open(tmp_path / "ws")


def test_corrupt_vectors_are_refused_clearly(tmp_path, hashing_encoder):
    ws = Workspace.open(tmp_path / "ws", create=True)
    embed_into_workspace(ws, _dataset(), hashing_encoder, source={})
    path = tmp_path / "ws" / "vectors" / "raw.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="unreadable"):
        Workspace.open(tmp_path / "ws").load_vectors("raw")
    assert np.isfinite(0)
