"""ExactIndex against a naive loop: ranking, ties, filters, updates, persistence, and every bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from index_data import clustered, naive_search, payloads, record_ids

from likewise.errors import InputError
from likewise.index import ExactIndex, Filter, Payload

DIM = 24


@pytest.fixture
def data():
    n = 400
    return record_ids(n), clustered(n, DIM, seed=1), payloads(n)


@pytest.fixture
def index(data):
    ids, vectors, pl = data
    order = np.random.default_rng(5).permutation(len(ids))  # inserted out of id order on purpose
    idx = ExactIndex(DIM, encoder_id="enc-a")
    idx.upsert([ids[i] for i in order], vectors[order], [pl[i] for i in order])
    return idx


def assert_matches_naive(hits, reference, k):
    """Same scores (to float32 precision); ids equal except where neighbouring scores tie within rounding."""
    assert len(hits) == len(reference) == k
    got_scores = np.array([h.score for h in hits])
    ref_scores = np.array([s for _, s in reference])
    np.testing.assert_allclose(got_scores, ref_scores, atol=1e-5)
    for pos, (hit, (rid, score)) in enumerate(zip(hits, reference)):
        if hit.id != rid:  # only acceptable inside a near-tie
            assert abs(hit.score - score) < 1e-5, (pos, hit, rid, score)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_search_matches_naive_loop(index, data):
    ids, vectors, pl = data
    queries = clustered(12, DIM, seed=99)
    results = index.search(queries, 15)
    labels = [p.label for p in pl]
    for query, hits in zip(queries, results):
        assert_matches_naive(hits, naive_search(ids, vectors, labels, query, 15), 15)
        assert not hits.short and hits.warning is None


def test_payloads_come_back_with_hits(index, data):
    ids, _, pl = data
    by_id = dict(zip(ids, pl))
    for hit in index.search(clustered(3, DIM, seed=7), 10)[0]:
        assert (hit.label, hit.text) == (by_id[hit.id].label, by_id[hit.id].text)


def test_exact_ties_go_to_lower_id_even_at_the_cutoff():
    base = np.eye(4, dtype=np.float32)
    # five identical copies of e0 under shuffled ids, plus unrelated records
    ids = ["d", "b", "e", "a", "c", "x", "y"]
    vectors = np.stack([base[0]] * 5 + [base[1], base[2]])
    idx = ExactIndex(4, encoder_id="enc")
    idx.upsert(ids, vectors)
    hits = idx.search(base[0], 3)[0]
    assert [h.id for h in hits] == ["a", "b", "c"]
    assert [h.score for h in hits] == pytest.approx([1.0, 1.0, 1.0])
    assert [h.id for h in idx.search_by_id("a", 2)] == ["b", "c"]


def test_vectors_are_normalised_on_the_way_in():
    idx = ExactIndex(2, encoder_id="enc")
    idx.upsert(["a", "b"], np.array([[3.0, 4.0], [0.0, -10.0]]))
    hits = idx.search(np.array([6.0, 8.0]), 2)[0]
    assert [h.id for h in hits] == ["a", "b"]
    assert [h.score for h in hits] == pytest.approx([1.0, -0.8])


@pytest.mark.parametrize(
    ("flt", "keep"),
    [
        (Filter(unlabeled_only=True), lambda rid, lab: lab is None),
        (Filter(label_eq="tech"), lambda rid, lab: lab == "tech"),
        (Filter(label_ne="tech"), lambda rid, lab: lab != "tech"),  # unlabeled records stay
        (Filter(label_ne="tech", ids_in={f"rec-{i:05d}" for i in range(0, 400, 3)}),
         lambda rid, lab: lab != "tech" and int(rid[4:]) % 3 == 0),
    ],
)
def test_filtered_search_is_exact_over_the_matching_records(index, data, flt, keep):
    ids, vectors, pl = data
    labels = [p.label for p in pl]
    for query in clustered(5, DIM, seed=3):
        hits = index.search(query, 20, filter=flt)[0]
        assert_matches_naive(hits, naive_search(ids, vectors, labels, query, 20, keep), 20)
        assert all(keep(h.id, h.label) for h in hits)


def test_narrow_filter_returns_all_matches_and_flags_the_shortfall(index):
    hits = index.search(clustered(1, DIM, seed=4), 10, filter=Filter(ids_in={"rec-00001", "rec-00002", "nope"}))[0]
    assert sorted(h.id for h in hits) == ["rec-00001", "rec-00002"]
    assert hits.short and hits.requested == 10
    assert "only 2 records match" in hits.warning


def test_contradictory_filter_is_refused():
    with pytest.raises(InputError, match="unlabeled records and for label == 'x'"):
        Filter(unlabeled_only=True, label_eq="x")


def test_exclude_ids(index, data):
    query = data[1][10]
    first = index.search(query, 3)[0]
    assert first[0].id == "rec-00010"
    hits = index.search(query, 3, exclude_ids=["rec-00010", first[1].id])[0]
    assert [h.id for h in hits][:1] == [first[2].id]
    assert "rec-00010" not in {h.id for h in hits}


def test_upsert_replaces_vector_and_payload_and_delete_removes(index, data):
    ids, vectors, _ = data
    target = vectors[200]
    index.upsert(["rec-00007"], target, [Payload("new", "moved")])
    assert index.count() == 400
    hits = index.search(target, 2)[0]
    assert {h.id for h in hits} == {"rec-00007", "rec-00200"}
    moved = next(h for h in hits if h.id == "rec-00007")
    assert (moved.label, moved.text) == ("new", "moved") and moved.score == pytest.approx(1.0)

    assert index.delete(["rec-00200", "rec-00200", "unknown"]) == 1
    assert index.count() == 399
    assert "rec-00200" not in {h.id for h in index.search(target, 5)[0]}
    with pytest.raises(InputError, match="no record with id 'rec-00200'"):
        index.search_by_id("rec-00200", 3)
    index.upsert(["rec-00200"], target)
    assert index.search_by_id("rec-00007", 1)[0].id == "rec-00200"


def test_k_larger_than_collection_returns_everything_with_a_warning():
    idx = ExactIndex(3, encoder_id="enc")
    idx.upsert(["a", "b", "c"], np.eye(3))
    hits = idx.search(np.ones(3), 10)[0]
    assert len(hits) == 3 and hits.short
    assert hits.warning == "asked for k=10 but only 3 records match; returned all 3"
    by_id = idx.search_by_id("a", 10)
    assert [h.id for h in by_id] == ["b", "c"] and by_id.short


def test_empty_index_and_unknown_id_and_bad_k():
    idx = ExactIndex(3, encoder_id="enc")
    with pytest.raises(InputError, match="the index is empty"):
        idx.search(np.ones(3), 1)
    idx.upsert(["a"], np.ones((1, 3)))
    with pytest.raises(InputError, match=r"likewise search --text"):
        idx.search_by_id("zzz", 3)
    for k in (0, -1, 1.5, True, "3", None):
        with pytest.raises(InputError, match="k must be a positive whole number"):
            idx.search(np.ones(3), k)
    assert len(idx.search(np.ones(3), np.int64(1))[0]) == 1


def test_dimension_and_encoder_mismatch_name_both_sides():
    idx = ExactIndex(8, encoder_id="minilm-v2", vector_kind="tuned")
    idx.upsert(["a"], np.ones((1, 8)))
    with pytest.raises(InputError, match=r"dimension 5 .* 8-d vectors from encoder 'minilm-v2'"):
        idx.search(np.ones((2, 5)), 1)
    with pytest.raises(InputError, match=r"dimension 7 .* 8-d"):
        idx.upsert(["b"], np.ones((1, 7)))
    with pytest.raises(InputError, match=r"encoder 'hashing-256' but this tuned index holds vectors from 'minilm-v2'"):
        idx.search(np.ones(8), 1, encoder_id="hashing-256")
    assert idx.search(np.ones(8), 1, encoder_id="minilm-v2")[0][0].id == "a"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_and_zero_vectors_are_refused(bad):
    idx = ExactIndex(3, encoder_id="enc")
    vectors = np.ones((4, 3))
    vectors[2, 1] = bad
    with pytest.raises(InputError, match=r"NaN or infinite values in 1 of 4 rows \(first: row 2\)"):
        idx.upsert(list("abcd"), vectors)
    with pytest.raises(InputError, match="all zeros"):
        idx.upsert(["a"], np.zeros((1, 3)))
    idx.upsert(["a"], np.ones((1, 3)))
    with pytest.raises(InputError, match="NaN or inf"):
        idx.search(np.array([1.0, bad, 0.0]), 1)


def test_bad_upserts_are_refused_whole():
    idx = ExactIndex(2, encoder_id="enc")
    with pytest.raises(InputError, match="2 ids but 3 vectors"):
        idx.upsert(["a", "b"], np.ones((3, 2)))
    with pytest.raises(InputError, match=r"1 duplicate ids \(a\)"):
        idx.upsert(["a", "b", "a"], np.ones((3, 2)))
    with pytest.raises(InputError, match="2 ids but 1 payloads"):
        idx.upsert(["a", "b"], np.ones((2, 2)), [Payload()])
    with pytest.raises(InputError, match="non-empty"):
        idx.upsert([""], np.ones((1, 2)))
    assert idx.count() == 0


def test_bad_metadata_is_refused():
    with pytest.raises(InputError, match="unknown vector kind 'fine'; choose one of raw, tuned"):
        ExactIndex(3, encoder_id="e", vector_kind="fine")
    with pytest.raises(InputError, match="dimension"):
        ExactIndex(0, encoder_id="e")
    with pytest.raises(InputError, match="encoder id"):
        ExactIndex(3, encoder_id="")


# -- persistence ------------------------------------------------------------------------------------------


def test_save_load_round_trip(index, tmp_path):
    index.save(tmp_path / "idx")
    loaded = ExactIndex.load(tmp_path / "idx")
    assert (loaded.dimension, loaded.encoder_id, loaded.vector_kind, loaded.count()) == (DIM, "enc-a", "raw", 400)
    ids, vectors, pl = index.records()
    ids2, vectors2, pl2 = loaded.records()
    assert ids == ids2 == sorted(ids) and pl == pl2
    np.testing.assert_array_equal(vectors, vectors2)
    queries = clustered(4, DIM, seed=11)
    assert index.search(queries, 7) == loaded.search(queries, 7)
    loaded.upsert(["extra"], queries[0])  # a loaded index is writable
    assert loaded.count() == 401


def test_save_again_replaces_and_leaves_one_vectors_file(index, tmp_path):
    folder = tmp_path / "idx"
    index.save(folder)
    index.delete(["rec-00001"])
    index.save(folder)
    assert len(list(folder.glob("vectors-*.safetensors"))) == 1
    assert not list(folder.glob("*.tmp"))
    assert ExactIndex.load(folder).count() == 399


def _vectors_file(folder):
    return folder / json.loads((folder / "index.json").read_text())["vectors_file"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "delete"])
def test_damaged_vectors_file_is_detected(index, tmp_path, damage):
    folder = tmp_path / "idx"
    index.save(folder)
    path = _vectors_file(folder)
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
        path.write_bytes(bytes(blob))
    elif damage == "truncate":
        path.write_bytes(bytes(blob[: len(blob) - 100]))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(InputError, match=r"index file is corrupt .* rebuild with `likewise index`"):
        ExactIndex.load(folder)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda text: text[: len(text) // 2],  # truncated JSON
        lambda text: text.replace('"count": 400', '"count": 399'),
        lambda text: text.replace('"rec-00003"', '"rec-99999"'),  # ids no longer sorted
        lambda text: text.replace('"dimension": 24', '"dimension": "wide"'),
        lambda text: "[]",
    ],
)
def test_damaged_manifest_is_detected(index, tmp_path, mangle):
    folder = tmp_path / "idx"
    index.save(folder)
    manifest = folder / "index.json"
    manifest.write_text(mangle(manifest.read_text()))
    with pytest.raises(InputError, match="index file is corrupt"):
        ExactIndex.load(folder)


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(InputError, match=r"no index at .*likewise index"):
        ExactIndex.load(tmp_path / "nothing")


def test_empty_index_round_trips(tmp_path):
    ExactIndex(5, encoder_id="e", vector_kind="tuned").save(tmp_path)
    loaded = ExactIndex.load(tmp_path)
    assert loaded.count() == 0 and loaded.vector_kind == "tuned" and loaded.dimension == 5


def _bbc_records(dim: int = 64):
    """The bundled BBC News articles as (ids, unit vectors, payloads) from the hashing encoder."""
    from likewise.datasets import load_dataset
    from likewise.encoders import HashingEncoder

    bbc = load_dataset("bbc_news")
    vectors = HashingEncoder(dim=dim).embed(list(bbc.texts))
    ids = [str(i) for i in bbc.ids]
    return ids, vectors, [Payload(str(lab), None) for lab in bbc.labels]


def test_blockwise_upserts_in_any_id_order_equal_one_upsert():
    ids, vectors, pays = _bbc_records()
    whole = ExactIndex(vectors.shape[1], encoder_id="hash", vector_kind="raw")
    whole.upsert(ids, vectors, pays)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(ids))  # blocks whose ids interleave with every earlier block's
    blocks = ExactIndex(vectors.shape[1], encoder_id="hash", vector_kind="raw")
    held = None
    for b, part in enumerate(np.array_split(order, 7)):
        blocks.upsert([ids[i] for i in part], vectors[part], [pays[i] for i in part])
        if b == 3:
            held = blocks.records()  # a view held across later upserts keeps what it showed
            held_copy = (list(held[0]), np.array(held[1]))
    blocks.upsert([ids[i] for i in order[:50]], vectors[order[:50]], [pays[i] for i in order[:50]])  # replaces
    assert held[0] == held_copy[0]
    np.testing.assert_array_equal(held[1], held_copy[1])
    got, want = blocks.records(), whole.records()
    assert got[0] == want[0] == sorted(ids) and got[2] == want[2]
    np.testing.assert_array_equal(got[1], want[1])
    queries = vectors[rng.choice(len(ids), 25, replace=False)]
    assert blocks.search(queries, 100) == whole.search(queries, 100)
    assert all(blocks.payload(i) == whole.payload(i) for i in ids[:100])


def test_upsert_holds_one_matrix_not_two(monkeypatch):
    import tracemalloc

    import likewise.index.exact as exact

    data = clustered(20_000, 256)
    index = ExactIndex(256, encoder_id="e", vector_kind="raw")
    ids = [f"r{i}" for i in range(20_000)]  # r1, r10, r100, ...: later blocks land between earlier rows
    monkeypatch.setattr(exact, "MOVE_BLOCK", 1000)
    tracemalloc.start()
    index.upsert(ids[:18_000], data[:18_000])
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    index.upsert(ids[18_000:], data[18_000:])
    extra = tracemalloc.get_traced_memory()[1] - held
    tracemalloc.stop()
    matrix_bytes = 20_000 * 256 * 4
    # the new block, its validated copy and one moved block: a second matrix beside the first would be 1.0 more
    assert extra < 0.6 * matrix_bytes, (extra, matrix_bytes)
    want = ExactIndex(256, encoder_id="e", vector_kind="raw")
    want.upsert(ids, data)
    np.testing.assert_array_equal(index.records()[1], want.records()[1])
    assert index.records()[0] == want.records()[0]


def test_vectors_file_is_plain_safetensors_and_loads_without_a_bytes_copy(tmp_path):
    import hashlib
    import tracemalloc

    from safetensors.numpy import load_file, save_file

    ids, vectors, pays = _bbc_records(dim=1024)  # 9 MB of vectors: they, not the ids, dominate memory
    index = ExactIndex(vectors.shape[1], encoder_id="hash", vector_kind="raw")
    index.upsert(ids, vectors, pays)
    index.save(tmp_path / "idx")
    path = _vectors_file(tmp_path / "idx")
    np.testing.assert_array_equal(load_file(path)["vectors"], index.records()[1])  # the reference reader agrees
    tracemalloc.start()
    loaded = ExactIndex.load(tmp_path / "idx")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    matrix_bytes = vectors.nbytes
    assert peak < 1.5 * matrix_bytes, (peak, matrix_bytes)  # the matrix, ids and payloads; not bytes + matrix
    np.testing.assert_array_equal(loaded.records()[1], index.records()[1])
    # a vectors file written by safetensors itself (as older versions did) loads too
    manifest_path = tmp_path / "idx" / "index.json"
    save_file({"vectors": index.records()[1].copy()}, path)
    manifest = json.loads(manifest_path.read_text())
    manifest["vectors_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    assert ExactIndex.load(tmp_path / "idx").search(vectors[:3], 5) == index.search(vectors[:3], 5)
