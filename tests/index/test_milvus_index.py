"""MilvusIndex on Milvus Lite and, where it runs, the standalone server: same answers as ExactIndex."""
from __future__ import annotations

import socket

import numpy as np
import pytest
from index_data import clustered, payloads, record_ids

pytest.importorskip("pymilvus")

from likewise.errors import InputError  # noqa: E402
from likewise.index import ExactIndex, Filter, MilvusIndex, Payload, collection_name  # noqa: E402
from likewise.index.milvus import filter_expression  # noqa: E402

DIM = 16
N = 600


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.slow)])
def uri(request):
    return request.getfixturevalue("milvus_lite_uri" if request.param == "lite" else "milvus_server_uri")


@pytest.fixture
def data():
    # Gaussian data: no two scores tie, so both backends must agree exactly on the order
    return record_ids(N), clustered(N, DIM, seed=8), payloads(N)


@pytest.fixture
def pair(uri, unique_name, data):
    ids, vectors, pl = data
    exact = ExactIndex(DIM, encoder_id="enc-m", vector_kind="tuned")
    exact.upsert(ids, vectors, pl)
    milvus = MilvusIndex.create(uri, unique_name, dimension=DIM, encoder_id="enc-m", vector_kind="tuned",
                                batch_size=256)
    milvus.upsert(ids, vectors, pl)
    yield exact, milvus
    milvus.close()


def same_neighbours(got, expected):
    assert [[h.id for h in row] for row in got] == [[h.id for h in row] for row in expected]
    for g, e in zip(got, expected):
        assert [h.score for h in g] == pytest.approx([h.score for h in e], abs=1e-5)
        assert [(h.label, h.text) for h in g] == [(h.label, h.text) for h in e]


def test_same_neighbours_as_exact(pair):
    exact, milvus = pair
    assert milvus.count() == N
    queries = clustered(10, DIM, seed=21)
    same_neighbours(milvus.search(queries, 25), exact.search(queries, 25))


@pytest.mark.parametrize("flt", [
    Filter(unlabeled_only=True),
    Filter(label_eq="art"),
    Filter(label_ne="art"),
    Filter(label_ne="sport", ids_in={f"rec-{i:05d}" for i in range(0, N, 7)}),
    Filter(ids_in=set()),
])
def test_filters_match_exact(pair, flt):
    exact, milvus = pair
    queries = clustered(4, DIM, seed=22)
    same_neighbours(milvus.search(queries, 12, filter=flt), exact.search(queries, 12, filter=flt))


def test_search_by_id_update_delete(pair, data):
    exact, milvus = pair
    ids, vectors, _ = data
    same_neighbours([milvus.search_by_id("rec-00003", 9)], [exact.search_by_id("rec-00003", 9)])
    for index in pair:
        index.upsert(["rec-00010", "new-1"], vectors[[300, 301]], [Payload("moved", "x"), Payload(None, "y")])
        assert index.delete(["rec-00300", "not-there"]) == 1
    assert milvus.count() == exact.count() == N
    queries = vectors[[300, 301, 5]]
    same_neighbours(milvus.search(queries, 8), exact.search(queries, 8))
    with pytest.raises(InputError, match="likewise search --text"):
        milvus.search_by_id("rec-00300", 3)
    hits = milvus.search_by_id("rec-00010", N + 50)
    assert hits.short and len(hits) == N - 1


def test_rebuild_and_switch_replaces_everything_behind_the_alias(pair, data, uri, unique_name):
    _, milvus = pair
    ids, vectors, pl = data
    old_physical = milvus._physical()
    seen = []
    milvus.rebuild_and_switch(ids[:100], vectors[:100] * 3, pl[:100], encoder_id="enc-m2",
                              progress=lambda done, total, what: seen.append((done, total)))
    assert seen[-1] == (100, 100)
    assert milvus.count() == 100 and milvus.encoder_id == "enc-m2"
    assert milvus._physical() != old_physical
    assert not milvus._client.has_collection(old_physical)
    reopened = MilvusIndex(uri, unique_name)
    described = (reopened.encoder_id, reopened.vector_kind, reopened.dimension, reopened.count())
    assert described == ("enc-m2", "tuned", DIM, 100)
    with pytest.raises(InputError, match="encoder 'enc-m' but this tuned index holds vectors from 'enc-m2'"):
        reopened.search(vectors[0], 3, encoder_id="enc-m")


def test_failed_rebuild_leaves_the_index_as_it_was(pair, data):
    _, milvus = pair
    ids, vectors, _ = data
    before = milvus._physical()
    collections = set(milvus._client.list_collections())
    with pytest.raises(InputError, match="labels are longer than Milvus's 512 bytes"):
        milvus.rebuild_and_switch(ids[:3], vectors[:3], [Payload("x" * 600, None)] * 3)
    assert milvus._physical() == before and milvus.count() == N
    assert set(milvus._client.list_collections()) == collections  # the half-written collection is gone


def test_create_open_and_errors(uri, unique_name):
    with pytest.raises(InputError, match=f"no collection or alias '{unique_name}'"):
        MilvusIndex(uri, unique_name)
    index = MilvusIndex.create(uri, unique_name, dimension=4, encoder_id="e")
    with pytest.raises(InputError, match="already exists"):
        MilvusIndex.create(uri, unique_name, dimension=4, encoder_id="e")
    with pytest.raises(InputError, match="the index is empty"):
        index.search(np.ones(4), 1)
    index.upsert(["a"], np.ones((1, 4)))
    with pytest.raises(InputError, match="dimension 3"):
        index.search(np.ones(3), 1)
    with pytest.raises(InputError, match="at most 16384"):
        index.search(np.ones(4), 20_000)
    with pytest.raises(InputError, match="invalid Milvus collection name"):
        MilvusIndex(uri, "bad-name")
    with pytest.raises(InputError, match="unknown consistency 'strong'; choose one of Strong, Bounded"):
        MilvusIndex(uri, unique_name, consistency="strong")
    bounded = MilvusIndex(uri, unique_name, consistency="Bounded")  # may lag fresh writes: not searched here
    assert (bounded.consistency, bounded.dimension, bounded.encoder_id) == ("Bounded", 4, "e")
    physical = index._physical()
    index._client.create_collection(f"{unique_name}_foreign", dimension=4)  # made by someone else
    with pytest.raises(InputError, match="not made by likewise"):
        MilvusIndex(uri, f"{unique_name}_foreign")
    assert physical.startswith(f"{unique_name}__")


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InputError, match=f"cannot reach Milvus at http://127.0.0.1:{port}"):
        MilvusIndex(f"http://127.0.0.1:{port}", "likewise_x_raw", timeout=2)
    with pytest.raises(InputError, match="neither a server URI"):
        MilvusIndex("some/folder", "likewise_x_raw")


def test_collection_names_and_filter_expressions():
    assert collection_name("my reviews/2024", "tuned") == "likewise_my_reviews_2024_tuned"
    assert collection_name("???", "raw") == "likewise_workspace_raw"
    expr = filter_expression(Filter(unlabeled_only=True, label_ne='say "hi"', ids_in={"b", "a"}), frozenset({"z"}))
    assert expr == 'label == "" and label != "say \\"hi\\"" and id in ["a", "b"] and id not in ["z"]'
    assert filter_expression(None) == ""


def test_labels_with_quotes_round_trip(uri, unique_name):
    index = MilvusIndex.create(uri, unique_name, dimension=2, encoder_id="e")
    index.upsert(["a", "b", "c"], np.array([[1, 0], [1, 0.1], [0, 1]]),
                 [Payload('say "hi"', "t\u00e9xt"), Payload("back\\slash", None), Payload(None, None)])
    hits = index.search(np.array([1.0, 0.0]), 3, filter=Filter(label_ne='say "hi"'))[0]
    assert [(h.id, h.label, h.text) for h in hits] == [("b", "back\\slash", None), ("c", None, None)]
    hits = index.search(np.array([1.0, 0.0]), 3, filter=Filter(label_eq='say "hi"'))[0]
    assert [(h.id, h.text) for h in hits] == [("a", "t\u00e9xt")]
