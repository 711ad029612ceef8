"""Search over a real workspace (hashing encoder on BBC News): index sync, queries, sessions."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from likewise.datasets import load_dataset
from likewise.ops.embed import embed_into_workspace
from likewise.encoders import get_encoder
from likewise.errors import InputError
from likewise.index import Filter
from likewise.records import Dataset
from likewise.ops.search import build_index, compare_session, create_session, export_session, load_session, search
from likewise.workspace import Workspace


@pytest.fixture(scope="module")
def bbc():
    data = load_dataset("bbc_news")
    return data.subset(np.arange(0, len(data), 4))  # 557 records, all 5 topics


def _workspace(tmp_path, data: Dataset) -> Workspace:
    ws = Workspace.open(tmp_path / "ws", create=True)
    embed_into_workspace(ws, data, get_encoder("hashing"), source={"path": "bbc"})
    return ws


def test_search_by_id_matches_brute_force(tmp_path, bbc):
    ws = _workspace(tmp_path, bbc)
    build_index(ws)
    vectors = ws.vectors("raw").vectors
    q = 7
    scores = vectors @ vectors[q]
    scores[q] = -np.inf
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], bbc.ids[i]))[:20]
    hits = search(ws, record_id=bbc.ids[q], k=20).hits
    assert [h.id for h in hits] == [bbc.ids[i] for i in order]
    assert bbc.ids[q] not in {h.id for h in hits}
    np.testing.assert_allclose([h.score for h in hits], scores[order], atol=1e-5)


def test_text_query_and_filters(tmp_path, bbc):
    ws = _workspace(tmp_path, bbc)
    build_index(ws)
    hits = search(ws, text="football match goal striker league", k=5, filter=Filter(label_ne="business")).hits
    assert len(hits) == 5 and all(h.label != "business" for h in hits)
    only = search(ws, text="football", k=3, filter=Filter(label_eq="sports")).hits
    assert {h.label for h in only} == {"sports"}


def test_index_follows_record_changes(tmp_path, bbc):
    ws = _workspace(tmp_path, bbc)
    first = build_index(ws)
    assert first.added == len(bbc)
    again = build_index(ws)
    assert again.added == again.updated == again.removed == 0 and again.unchanged == len(bbc)
    changed = bbc.subset(np.arange(10, len(bbc)))  # 10 records deleted
    changed.texts[0] = changed.texts[0] + " edited"  # 1 text edited
    changed.labels[1] = None  # 1 label removed
    embed_into_workspace(ws, changed, get_encoder("hashing"), source={"path": "bbc2"})
    result = build_index(ws)
    assert (result.removed, result.updated, result.added) == (10, 2, 0)
    with pytest.raises(InputError, match="no record with id"):
        search(ws, record_id=bbc.ids[0], k=3)


def test_corrupt_index_is_rebuilt_by_index_and_refused_by_search(tmp_path, bbc):
    ws = _workspace(tmp_path, bbc)
    build_index(ws)
    vec_file = next(ws.artifact_path("index_raw").glob("vectors-*.safetensors"))
    data = bytearray(vec_file.read_bytes())
    data[-5] ^= 0xFF
    vec_file.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged"):
        search(ws, record_id=bbc.ids[0], k=3)
    assert build_index(ws).added == len(bbc)
    assert len(search(ws, record_id=bbc.ids[0], k=3).hits) == 3


def test_session_store_export_and_unlabeled_only(tmp_path, bbc):
    data = bbc.subset(np.arange(len(bbc)))
    for i in range(0, len(data), 3):
        data.labels[i] = None
    ws = _workspace(tmp_path, data)
    build_index(ws)
    session = create_session(ws, data.ids[1], size=40, unlabeled_only=True)
    assert len(session.ids) == 40 and session.scores == sorted(session.scores, reverse=True)
    labels = dict(zip(data.ids, data.labels))
    assert all(labels[i] is None for i in session.ids)
    assert load_session(ws).ids == session.ids
    out = export_session(ws, session, tmp_path / "s.csv")
    rows = list(csv.DictReader(open(out["path"], encoding="utf-8")))
    assert [r["id"] for r in rows] == session.ids and rows[0]["position"] == "1"
    out = export_session(ws, session, tmp_path / "s.jsonl")
    first = json.loads(open(out["path"], encoding="utf-8").readline())
    assert set(first) == {"position", "id", "text", "score", "label"}


def test_k_larger_than_collection_returns_all_with_warning(tmp_path, bbc):
    ws = _workspace(tmp_path, bbc.subset(np.arange(20)))
    build_index(ws)
    result = search(ws, record_id=bbc.ids[0], k=100)
    assert len(result.hits) == 19 and "only 19" in result.warning


def test_session_compare_needs_tuned(tmp_path, bbc):
    ws = _workspace(tmp_path, bbc)
    with pytest.raises(InputError, match="likewise tune"):
        compare_session(ws, bbc.ids[0], size=50)


def test_vector_query_dimension_mismatch(tmp_path, bbc):
    ws = _workspace(tmp_path, bbc)
    build_index(ws)
    with pytest.raises(InputError, match="dimension|dimensions"):
        search(ws, vector=np.ones(7, dtype=np.float32), k=3)


def test_hnsw_backend_is_saved_reports_recall_and_agrees_with_exact(tmp_path, bbc):
    ws = _workspace(tmp_path, bbc)
    result = build_index(ws, backend="hnsw", measure_recall_k=20)
    assert result.recall["recall"] >= 0.95
    exact = [h.id for h in search(ws, record_id=bbc.ids[3], k=10).hits]
    approx = [h.id for h in search(ws, record_id=bbc.ids[3], k=10, backend="hnsw").hits]
    assert len(set(exact) & set(approx)) >= 9
    embed_into_workspace(ws, bbc.subset(np.arange(100)), get_encoder("hashing"), source={})
    with pytest.raises(InputError, match="no current HNSW graph"):
        search(ws, record_id=bbc.ids[3], k=10, backend="hnsw")


def test_milvus_lite_backend_through_the_workspace_matches_exact(tmp_path, bbc):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    data = bbc.subset(np.arange(150))
    ws = _workspace(tmp_path, data)
    result = build_index(ws, backend="milvus")
    assert result.count == 150 and result.backend == "milvus"
    exact = search(ws, record_id=data.ids[5], k=10)
    lite = search(ws, record_id=data.ids[5], k=10, backend="milvus")
    assert [h.id for h in lite.hits] == [h.id for h in exact.hits]
    np.testing.assert_allclose([h.score for h in lite.hits], [h.score for h in exact.hits], atol=1e-4)
    # re-tuning or re-embedding writes a new collection and switches over: counts follow the records
    embed_into_workspace(ws, data.subset(np.arange(100)), get_encoder("hashing"), source={})
    assert build_index(ws, backend="milvus").count == 100
