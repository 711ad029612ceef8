"""HNSWIndex: recall against exact on clustered data, filters, updates, and the missing-extra error."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from index_data import clustered, payloads, record_ids

pytest.importorskip("hnswlib")

from likewise.errors import InputError, MissingExtraError  # noqa: E402
from likewise.index import ExactIndex, Filter, HNSWIndex, Payload  # noqa: E402

DIM = 32


@pytest.fixture(scope="module")
def built():
    n = 5000
    ids, vectors, pl = record_ids(n), clustered(n, DIM, clusters=50, seed=2), payloads(n)
    exact = ExactIndex(DIM, encoder_id="enc")
    exact.upsert(ids, vectors, pl)
    return exact, HNSWIndex.from_exact(exact, M=16, ef_construction=100, ef=150, ef_per_k=0, exact_below=100)


def test_recall_at_100_against_exact_on_clustered_points(built):
    exact, ann = built
    report = ann.measure_recall(100, sample=100, seed=1)
    assert report.recall >= 0.95, report
    assert (report.k, report.sample, report.ef, report.M) == (100, 100, 150, 16)
    # cross-check the report by hand on other queries
    queries = clustered(30, DIM, clusters=50, seed=2)[:30] + 0.01
    truth, got = exact.search(queries, 100), ann.search(queries, 100)
    hand = np.mean([len({h.id for h in g} & {h.id for h in t}) / 100 for g, t in zip(got, truth)])
    assert hand >= 0.95


def test_hits_carry_true_scores_and_payloads(built):
    exact, ann = built
    query = clustered(1, DIM, clusters=50, seed=9)
    exact_scores = {h.id: h.score for h in exact.search(query, 5000)[0]}
    hits = ann.search(query, 20)[0]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:
        assert h.score == pytest.approx(exact_scores[h.id], abs=1e-5)
        assert exact.payload(h.id) == Payload(h.label, h.text)


def test_filtered_search_only_returns_matches_and_narrow_filters_are_exact(built):
    exact, ann = built
    query = clustered(1, DIM, clusters=50, seed=4)
    art = Filter(label_eq="art")  # 1250 records: a filtered graph walk
    hits, truth = ann.search(query, 50, filter=art)[0], exact.search(query, 50, filter=art)[0]
    assert len(hits) == 50 and all(h.label == "art" for h in hits)
    assert len({h.id for h in hits} & {h.id for h in truth}) >= 45
    narrow = Filter(ids_in={f"rec-{i:05d}" for i in range(0, 5000, 250)})  # 20 records <= exact_below: exact
    assert ann.search(query, 30, filter=narrow) == exact.search(query, 30, filter=narrow)
    by_id = ann.search_by_id("rec-00000", 10, Filter(unlabeled_only=True))
    assert "rec-00000" not in {h.id for h in by_id} and all(h.label is None for h in by_id)


def test_update_delete_and_reinsert():
    ids, vectors = record_ids(300), clustered(300, 8, seed=3)
    ann = HNSWIndex(8, encoder_id="enc", M=8, ef_construction=50, ef=50)
    ann.upsert(ids, vectors)
    ann.upsert(["rec-00001"], vectors[100], [Payload("moved", None)])
    assert {h.id for h in ann.search(vectors[100], 2)[0]} == {"rec-00001", "rec-00100"}
    assert ann.delete(["rec-00100", "missing"]) == 1 and ann.count() == 299
    assert "rec-00100" not in {h.id for h in ann.search(vectors[100], 10)[0]}
    assert len(ann.search(vectors[0], 1000)[0]) == 299
    ann.upsert(["rec-00100"], vectors[100])
    assert ann.search_by_id("rec-00001", 1)[0].id == "rec-00100" and ann.count() == 300


def test_grows_past_its_initial_capacity():
    ids, vectors = record_ids(2500), clustered(2500, 8, seed=5)
    ann = HNSWIndex(8, encoder_id="enc", M=8, ef_construction=40)
    for start in range(0, 2500, 700):
        ann.upsert(ids[start : start + 700], vectors[start : start + 700])
    assert ann.count() == 2500
    assert ann.search(vectors[2400], 1)[0][0].id == "rec-02400"


def test_same_validation_as_every_backend():
    ann = HNSWIndex(4, encoder_id="enc")
    with pytest.raises(InputError, match="the index is empty"):
        ann.search(np.ones(4), 1)
    ann.upsert(["a"], np.ones((1, 4)))
    with pytest.raises(InputError, match="dimension 3"):
        ann.search(np.ones(3), 1)
    with pytest.raises(InputError, match="HNSW needs M >= 2"):
        HNSWIndex(4, encoder_id="enc", M=1)


def test_search_breadth_grows_with_k():
    ann = HNSWIndex(4, encoder_id="enc", ef=64, ef_per_k=2.0)
    assert (ann.search_ef(10), ann.search_ef(1000)) == (64, 2000)
    assert HNSWIndex(4, encoder_id="enc", ef=8, ef_per_k=0).search_ef(50) == 50  # never below k


def test_missing_hnswlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # what an environment without the package looks like
    with pytest.raises(MissingExtraError, match=r"pip install 'likewise\[ann\]'"):
        HNSWIndex(4, encoder_id="enc")


def test_save_load_round_trip_keeps_graph_and_deletions(tmp_path):
    ids, vectors = record_ids(800), clustered(800, 8, seed=6)
    ann = HNSWIndex(8, encoder_id="enc", vector_kind="tuned", M=8, ef_construction=50, ef=40, exact_below=10)
    ann.upsert(ids, vectors, payloads(800))
    ann.delete(["rec-00005"])
    ann.save(tmp_path)
    loaded = HNSWIndex.load(tmp_path)
    assert (loaded.count(), loaded.vector_kind, loaded.M, loaded.ef, loaded.exact_below) == (799, "tuned", 8, 40, 10)
    queries = vectors[:20]
    assert loaded.search(queries, 10) == ann.search(queries, 10)
    assert "rec-00005" not in {h.id for h in loaded.search(vectors[5], 50)[0]}
    loaded.upsert(["rec-00005"], vectors[5])  # the reloaded graph still takes writes
    assert loaded.search(vectors[5], 1)[0][0].id == "rec-00005"
    assert ExactIndex.load(tmp_path).count() == 799  # the folder is a plain exact index too


def test_damaged_or_stale_graph_is_refused(tmp_path):
    ids, vectors = record_ids(100), clustered(100, 8, seed=7)
    ann = HNSWIndex(8, encoder_id="enc", M=8)
    ann.upsert(ids, vectors)
    ann.save(tmp_path)
    graph = next(tmp_path.glob("hnsw-*.bin"))
    blob = bytearray(graph.read_bytes())
    blob[len(blob) // 3] ^= 0x01
    graph.write_bytes(bytes(blob))
    unusable = r"HNSW graph in .* is unusable \(hnsw-.*sha256.*likewise index --backend hnsw"
    with pytest.raises(InputError, match=unusable):
        HNSWIndex.load(tmp_path)
    ann.save(tmp_path)
    ann.store.delete(["rec-00001"])
    ann.store.save(tmp_path)  # exact index moved on, graph did not
    with pytest.raises(InputError, match="built on other vectors"):
        HNSWIndex.load(tmp_path)
    (tmp_path / "hnsw.json").unlink()
    with pytest.raises(InputError, match="no hnsw.json"):
        HNSWIndex.load(tmp_path)


def test_from_exact_keeps_the_vectors_once():
    n = 2000
    ids, vectors = record_ids(n), clustered(n, DIM, clusters=20, seed=5)
    exact = ExactIndex(DIM, encoder_id="enc")
    exact.upsert(ids, vectors, payloads(n))
    ann = HNSWIndex.from_exact(exact, M=16, ef_construction=100)
    assert ann.store is exact  # the graph's store is the exact index itself, not a copy of its vectors
    assert ann.count() == n and ann.search(vectors[7], 1)[0][0].id == ids[7]
    ann.upsert(["new"], clustered(1, DIM, seed=6))  # later changes go through the HNSW index to both
    assert "new" in exact and ann.search_by_id("new", 5)[0].id != "new"
