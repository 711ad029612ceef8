"""The pieces every backend shares: the registry, Filter, Hits."""
from __future__ import annotations

import pytest

from likewise.errors import InputError
from likewise.index import BACKENDS, ExactIndex, Filter, Hit, Hits, HNSWIndex, MilvusIndex, get_backend


def test_registry_names_and_wrong_name_lists_the_valid_ones():
    assert BACKENDS == {"exact": ExactIndex, "hnsw": HNSWIndex, "milvus": MilvusIndex}
    assert get_backend("hnsw") is HNSWIndex
    with pytest.raises(InputError, match="unknown index backend 'faiss'; choose one of exact, hnsw, milvus"):
        get_backend("faiss")


def test_filter_mask_by_hand():
    ids = ["a", "b", "c", "d"]
    labels = ["x", None, "y", "x"]
    assert Filter().mask(ids, labels).tolist() == [True] * 4
    assert Filter(unlabeled_only=True).mask(ids, labels).tolist() == [False, True, False, False]
    assert Filter(label_eq="x").mask(ids, labels).tolist() == [True, False, False, True]
    assert Filter(label_ne="x").mask(ids, labels).tolist() == [False, True, True, False]
    assert Filter(label_ne="y", ids_in=["a", "c", "b"]).mask(ids, labels).tolist() == [True, True, False, False]
    assert Filter(ids_in=[]).mask(ids, labels).tolist() == [False] * 4


def test_filter_ids_in_takes_a_collection_not_a_string():
    assert Filter(ids_in=["a", "a"]).ids_in == frozenset({"a"})
    with pytest.raises(InputError, match="collection of ids"):
        Filter(ids_in="abc")


def test_hits_flag_a_shortfall():
    full = Hits([Hit("a", 0.9, None, None)], requested=1)
    assert not full.short and full.warning is None and full == [Hit("a", 0.9, None, None)]
    short = Hits([], requested=4)
    assert short.short and short.warning == "asked for k=4 but only 0 records match; returned all 0"
