"""The workspace folder: round trip, content-addressed objects, checksums, the writer lock, the shared cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from likewise.errors import InputError
from likewise.ops.embed import embed_into_workspace
from likewise.ops.tune import tune_workspace
from likewise.records import Dataset
from likewise.workspace import SCHEMA_VERSION, CorruptObjectError, StaleVectorsError, Workspace, WorkspaceBusyError

FAST = {"epochs": 3, "k": 5, "patience": 2}


def _dataset(n: int = 30) -> Dataset:
    labels = ["sport", "tech", None]
    return Dataset.from_lists([f"text number {i} about {labels[i % 3]}" for i in range(n)], [labels[i % 3] for i in range(n)])


def _embedded(tmp_path, encoder, n: int = 30) -> Workspace:
    ws = Workspace.open(tmp_path / "ws", create=True, cache=tmp_path / "cache")
    embed_into_workspace(ws, _dataset(n), encoder, source={"path": "x.csv"})
    return Workspace.open(tmp_path / "ws", cache=tmp_path / "cache")


def test_open_missing_workspace_says_how_to_create(tmp_path):
    with pytest.raises(InputError, match="likewise embed"):
        Workspace.open(tmp_path / "nope")


def test_embed_into_workspace_round_trip(tmp_path, hashing_encoder):
    data = _dataset()
    ws = _embedded(tmp_path, hashing_encoder)
    info = ws.info()
    assert info["schema_version"] == SCHEMA_VERSION and info["generation"] == 1
    records = ws.records()
    assert records.ids == data.ids and records.labels == data.labels and records.texts == data.texts
    assert set(records.label_sources) == {"imported", ""}
    vec = ws.vectors("raw")
    assert vec.ids == data.ids and vec.vectors.shape == (30, hashing_encoder.dim)
    assert info["records"]["count"] == 30 and info["labels"]["labeled"] == 20
    assert info["labels"]["classes"] == {"sport": 10, "tech": 10}
    # every file the manifest names lives under objects/ with its sha256 as its name
    manifest = json.loads((ws.path / "manifest.json").read_text())
    ref = manifest["vectors"]["raw"]["ref"]
    assert ref["path"] == f"objects/{ref['sha256']}.safetensors" and ws.check() == []
    names = {p.name for p in ws.path.iterdir()}
    assert {"manifest.json", "objects", "labels.sqlite"} <= names
    assert not names & {"records.parquet", "vectors", "cache", "head"}  # the cache is shared, outside


def test_reembedding_the_same_file_adds_no_label_events_and_no_objects(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    events, objects = ws.store.last_seq(), sorted(p.name for p in (ws.path / "objects").iterdir())
    result = embed_into_workspace(ws, _dataset(), hashing_encoder, source={"path": "x.csv"})
    assert result.labels == {"written": 0, "unchanged": 60}
    assert ws.store.last_seq() == events and sorted(p.name for p in (ws.path / "objects").iterdir()) == objects
    assert result.stats.cache_hits == 30 and result.stats.encoded == 0


def test_a_label_the_file_no_longer_has_is_removed_but_manual_labels_stay(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    ws.store.label("3", "tech", author="anna")  # a person relabels record 3 (was "sport" in the file)
    edited = _dataset()
    edited.labels[0] = None  # the file drops record 0's label
    edited.labels[3] = "sport"  # unchanged in the file
    embed_into_workspace(ws, edited, hashing_encoder, source={"path": "x.csv"})
    state = ws.labels()
    assert state.label_of("0") is None
    assert state.label_of("3") == "tech" and state.labels["3"].source == "manual"


def test_failed_embed_leaves_workspace_as_it_was(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    before = {p.relative_to(ws.path): p.read_bytes() for p in ws.path.rglob("*") if p.is_file() and "labels.sqlite" not in p.name}

    class Broken(type(hashing_encoder)):
        def embed_batch(self, texts):
            raise InputError("model exploded")

    broken = Broken(dim=64)
    broken.identity = "broken"
    with pytest.raises(InputError, match="exploded"):
        embed_into_workspace(Workspace.open(ws.path), _dataset(40), broken, source={"path": "b"})
    after = {p.relative_to(ws.path): p.read_bytes() for p in ws.path.rglob("*") if p.is_file() and "labels.sqlite" not in p.name}
    assert before == after
    assert Workspace.open(ws.path).records().ids == _dataset().ids


def test_corrupt_manifest_older_schema_and_foreign_folder(tmp_path):
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
    (tmp_path / "ws" / "manifest.json").write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(InputError, match="older likewise"):
        Workspace.open(tmp_path / "ws")


def test_a_folder_another_process_is_creating_a_workspace_in_is_not_foreign(tmp_path):
    """A second `likewise embed` into a new folder can look while the first holds the lock and writes its
    manifest (CI saw the temporary file and refused); it opens the folder and waits for the lock instead."""
    folder = tmp_path / "ws"
    first = Workspace.open(folder, create=True)
    with first.writing("embed"):
        assert first.store is not None  # the label store exists
        (folder / "objects").mkdir(exist_ok=True)
        (folder / ".manifest.json.k2x9a1.tmp").write_text("{")  # an atomic write of the manifest, half done
        assert Workspace.open(folder, create=True).generation == 0
        (folder / ".notes.txt.k2x9a1.tmp").write_text("x")  # not a name likewise writes
        with pytest.raises(InputError, match="is not empty and is not a likewise workspace"):
            Workspace.open(folder, create=True)


def _flip(path, at: int = -5) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("what", ["records", "raw vectors", "vector ids", "tuned vectors", "head", "index"])
def test_a_flipped_byte_in_any_file_is_refused_never_trusted(tmp_path, hashing_encoder, what):
    from likewise.ops.search import build_index, search

    ws = _embedded(tmp_path, hashing_encoder)
    tune_workspace(ws, tuner_options={**FAST, "force": True})
    build_index(ws, kind="raw")
    manifest = json.loads((ws.path / "manifest.json").read_text())
    target = {
        "records": ws.path / manifest["records"]["ref"]["path"],
        "raw vectors": ws.path / manifest["vectors"]["raw"]["ref"]["path"],
        "vector ids": ws.path / manifest["vectors"]["raw"]["ids_ref"]["path"],
        "tuned vectors": ws.path / manifest["vectors"]["tuned"]["ref"]["path"],
        "head": ws.path / manifest["artifacts"]["head"]["ref"]["path"] / "head.safetensors",
        "index": next((ws.path / manifest["artifacts"]["index_raw"]["ref"]["path"]).glob("vectors-*")),
    }[what]
    _flip(target, at=len(target.read_bytes()) // 2)
    fresh = Workspace.open(ws.path)
    assert any("damaged" in p for p in fresh.check())
    with pytest.raises(CorruptObjectError, match="damaged"):
        {"records": fresh.records, "raw vectors": lambda: fresh.vectors("raw"),
         "vector ids": lambda: fresh.vectors("raw"), "tuned vectors": lambda: fresh.vectors("tuned"),
         "head": fresh.head, "index": lambda: search(fresh, record_id="0", k=3, kind="raw")}[what]()


def test_a_flipped_byte_in_a_cache_shard_is_re_encoded(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    good = ws.vectors("raw").vectors.copy()
    shard = next(ws.cache.folder.rglob("shard-*.safetensors"))
    _flip(shard, at=-9)  # inside the vectors
    again = Workspace.open(tmp_path / "ws", cache=tmp_path / "cache")
    result = embed_into_workspace(again, _dataset(), hashing_encoder, source={"path": "x.csv"})
    assert result.stats.ignored_cache_shards == 1 and result.stats.encoded == 30
    np.testing.assert_array_equal(again.vectors("raw").vectors, good)


def test_a_second_workspace_on_the_same_texts_encodes_nothing(tmp_path, hashing_encoder):
    _embedded(tmp_path, hashing_encoder)
    other = Workspace.open(tmp_path / "second", create=True, cache=tmp_path / "cache")
    result = embed_into_workspace(other, _dataset(), hashing_encoder, source={"path": "x.csv"})
    assert result.stats.encoded == 0 and result.stats.cache_hits == 30


def test_unreferenced_objects_are_collected_after_two_generations(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    first = json.loads((ws.path / "manifest.json").read_text())["vectors"]["raw"]["ref"]["path"]
    embed_into_workspace(ws, _dataset(33), hashing_encoder, source={"path": "y.csv"})
    assert (ws.path / first).exists()  # kept one generation for readers that opened the old manifest
    embed_into_workspace(ws, _dataset(36), hashing_encoder, source={"path": "z.csv"})
    assert not (ws.path / first).exists()
    names = {p.name for p in (ws.path / "objects").iterdir()}
    assert not any(n.startswith(".tmp-") for n in names)


def test_stale_tuned_vectors_raise_and_labels_changed_is_reported(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    tune_workspace(ws, tuner_options={**FAST, "force": True})
    assert ws.info()["vectors"]["tuned"]["state"] == "current"
    ws.store.label("2", "sport")
    assert ws.labels_changed("tuned") and ws.info()["vectors"]["tuned"]["state"] == "labels changed since tuning"
    from likewise.encoders import HashingEncoder

    embed_into_workspace(ws, _dataset(33), HashingEncoder(dim=32), source={"path": "y.csv"})  # the head cannot follow
    with pytest.raises(StaleVectorsError, match="stale"):
        ws.vectors("tuned")
    assert ws.resolve_kind("auto") == "raw"


def test_a_second_writer_waits_then_names_the_holder(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom likewise.workspace import Workspace\n"
        f"ws = Workspace.open({str(ws.path)!r})\n"
        "with ws.writing('tune'):\n    print('held', flush=True)\n    time.sleep(30)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        other = Workspace.open(ws.path, wait=0.3)
        start = time.monotonic()
        with pytest.raises(WorkspaceBusyError, match=rf"`likewise tune` \(pid {holder.pid}"):
            with other.writing("index"):
                pass
        assert time.monotonic() - start >= 0.3
        # readers never block: records and vectors read while the writer holds the lock
        assert len(other.records()) == 30 and other.vectors("raw").vectors.shape[0] == 30
    finally:
        holder.kill()
        holder.wait()
    with Workspace.open(ws.path, wait=5).writing("index"):  # the OS released the lock of the killed holder
        pass


def test_writes_outside_the_lock_are_refused(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    with pytest.raises(RuntimeError, match="ws.writing"):
        ws.record_artifact("x", {})


def test_cache_folder_comes_from_the_environment_or_the_user_cache(monkeypatch, tmp_path):
    from likewise.cache import default_cache_dir

    monkeypatch.setenv("LIKEWISE_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LIKEWISE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "likewise" / "embeddings"
    assert os.environ.get("LIKEWISE_CACHE") is None


def test_a_reader_two_generations_behind_reads_the_current_state(tmp_path, hashing_encoder):
    ws = _embedded(tmp_path, hashing_encoder)
    reader = Workspace.open(ws.path, cache=tmp_path / "cache")  # opened now, reads later
    embed_into_workspace(ws, _dataset(33), hashing_encoder, source={"path": "y.csv"})
    embed_into_workspace(ws, _dataset(36), hashing_encoder, source={"path": "z.csv"})
    # the reader's manifest names files the last writer collected: it moves on to the current manifest
    assert len(reader.records()) == 36 and reader.vectors("raw").vectors.shape[0] == 36
