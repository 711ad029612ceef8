"""The loop's library functions (likewise.ops.loop): ranking, bulk rule, re-ranking, retraining."""
from __future__ import annotations

import numpy as np
import pytest

from likewise.errors import InputError
from likewise.neighbors import normalize
from likewise.ops.loop import (
    bulk_positions, fit_head, purity, rank, rerank_rest, retrain_workspace, uncertain_rows, validation_top_k,
)
from likewise.tuning import Tuner
from likewise.workspace import Workspace


def _unit(rng, n, d=16):
    return normalize(rng.normal(size=(n, d)).astype(np.float32))


def test_rank_matches_a_naive_loop():
    rng = np.random.default_rng(0)
    v = _unit(rng, 300)
    q = v[7]
    allowed = rng.random(300) > 0.3
    rows, scores = rank(v, q, 25, allowed)
    naive = sorted((i for i in range(300) if allowed[i]), key=lambda i: (-float(v[i] @ q), i))[:25]
    assert rows.tolist() == naive
    np.testing.assert_allclose(scores, v[naive] @ q, rtol=1e-6)
    assert rank(v, q, 1000, allowed)[0].size == allowed.sum()  # never a disallowed row, even when k is large
    assert rank(v, q, 5, np.zeros(300, bool))[0].size == 0


def test_bulk_labels_unlabeled_rows_until_one_labeled_otherwise():
    labels = [None, None, "a", None, None, "b", None]
    assert bulk_positions(labels, 0, "a") == [0, 1, 3, 4]
    assert bulk_positions(labels, 0, "a", skip=[3]) == [0, 1, 4]
    assert bulk_positions(labels, 5, "a") == [5, 6]  # the focused row itself is relabeled as asked
    assert bulk_positions(labels, 6, "b") == [6]
    assert bulk_positions([None] * 4, 1, "x") == [1, 2, 3]


def test_purity_is_the_share_of_labeled_rows_in_the_start_class():
    assert purity(["a", "a", None, "b"], "a") == pytest.approx(2 / 3)
    assert purity([None, None], "a") is None and purity(["a"], None) is None


def test_rerank_keeps_fixed_rows_and_refills_the_rest():
    rng = np.random.default_rng(1)
    v = _unit(rng, 200)
    q = v[0]
    rows = np.arange(1, 21)
    fixed = np.zeros(20, bool)
    fixed[[0, 4, 9]] = True
    pool = np.ones(200, bool)
    pool[0] = False
    new, scores = rerank_rest(rows, fixed, v, q, pool)
    assert new[[0, 4, 9]].tolist() == rows[[0, 4, 9]].tolist()
    free = new[~fixed]
    expected, _ = rank(v, q, 17, pool & ~np.isin(np.arange(200), rows[fixed]))
    assert free.tolist() == expected.tolist()
    assert len(set(new.tolist())) == 20
    np.testing.assert_allclose(scores, v[new] @ q, rtol=1e-6)
    # a closed set (a lasso) is only reordered
    closed, _ = rerank_rest(rows, fixed, v, q, None)
    assert sorted(closed.tolist()) == sorted(rows.tolist()) and closed[[0, 4, 9]].tolist() == rows[[0, 4, 9]].tolist()
    free_scores = v[closed[~fixed]] @ q
    assert np.all(np.diff(free_scores) <= 1e-7)


def test_uncertain_rows_are_far_from_every_class_centre():
    rng = np.random.default_rng(2)
    v = _unit(rng, 120)
    codes = np.full(120, -1, np.int32)
    codes[:10], codes[10:20] = 0, 1
    rows, nearest = uncertain_rows(v, codes, 5, codes < 0)
    centres = normalize(np.stack([v[:10].mean(0), v[10:20].mean(0)]))
    naive = sorted(range(20, 120), key=lambda i: (float((v[i] @ centres.T).max()), i))[:5]
    assert rows.tolist() == naive
    np.testing.assert_allclose(nearest, (v[naive] @ centres.T).max(1), rtol=1e-5)
    with pytest.raises(InputError, match="no labeled records"):
        uncertain_rows(v, np.full(120, -1, np.int32), 5)


def _labels(corpus, n, seed=0, wrong=False):
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(corpus.ids), n, replace=False)
    labels = [None] * len(corpus.ids)
    classes = sorted(set(corpus.truth.values()))
    for i in chosen:
        labels[i] = classes[rng.integers(len(classes))] if wrong else corpus.truth[corpus.ids[i]]
    return labels


def test_validation_score_of_untouched_vectors_is_the_tuners_identity(hashing_ws, bbc_small):
    ws = Workspace.open(hashing_ws)
    raw = ws.vectors("raw").vectors
    for n in (60, 279):  # cross-validation and the holdout split
        labels = _labels(bbc_small, n)
        rows = [i for i, lab in enumerate(labels) if lab is not None]
        y = np.array([labels[i] for i in rows], dtype=object)
        tuner = Tuner(epochs=3).fit(raw[rows], y)
        assert validation_top_k(raw[rows], y, k=tuner.k) == pytest.approx(tuner.validation_["identity_top_k"])


def test_fit_head_switches_only_when_it_beats_the_current_vectors(hashing_ws, bbc_small):
    raw = Workspace.open(hashing_ws).vectors("raw").vectors
    good = fit_head(raw, _labels(bbc_small, 150))
    assert good.switch and good.after > good.before == good.identity
    # a head that cannot learn (the identity) never beats the raw vectors: kept, and said so
    flat = fit_head(raw, _labels(bbc_small, 150), tuner_options={"head": "identity"})
    assert not flat.switch and "would not beat the raw vectors" in flat.message
    # compared with vectors already tuned on these labels, a retrain on the same labels does not switch
    tuned = good.tuner.transform(raw)
    again = fit_head(raw, _labels(bbc_small, 150), current=tuned, current_name="tuned")
    assert again.before > good.identity and again.current == "tuned"
    assert again.switch == (again.after > again.before)
    with pytest.raises(InputError, match="one class"):
        fit_head(raw, ["a", "a"] + [None] * (len(raw) - 2))


def test_a_class_with_one_record_is_left_out_not_refused(hashing_ws, bbc_small):
    raw = Workspace.open(hashing_ws).vectors("raw").vectors
    labels = _labels(bbc_small, 100)
    labels[labels.index(None)] = "brand new class"
    fit = fit_head(raw, labels)
    assert fit.dropped == {"brand new class": 1} and "brand new class" not in fit.classes
    assert "left out 1 class" in fit.message


def test_retrain_workspace_switches_head_and_tuned_vectors_in(hashing_ws, bbc_small):
    ws = Workspace.open(hashing_ws)
    labels = _labels(bbc_small, 150)
    from likewise.workspace import LabelInput

    ws.store.add([LabelInput(rid, lab) for rid, lab in zip(ws.record_ids(), labels) if lab], author="tester")
    result = retrain_workspace(ws)
    assert result.switched and result.fit.after > result.fit.before
    fresh = Workspace.open(hashing_ws)
    assert fresh.resolve_kind("auto") == "tuned"
    np.testing.assert_allclose(fresh.vectors("tuned").vectors, result.tuned, atol=1e-6)
    assert not fresh.labels_changed("tuned")
    assert fresh.artifact("head")["by"] == "serve"
    run = fresh.store.runs(command="tune")[-1]
    assert run.config["by"] == "serve" and run.metrics["switched"] is True and run.labels["labeled"] == 150
    # nothing new: the retrain keeps the head it just made, and says so
    kept = retrain_workspace(fresh)
    assert not kept.switched and "kept" in kept.fit.message
    assert Workspace.open(hashing_ws).vectors_info("tuned")["content"] == result.vectors_content


def test_retrain_refuses_to_switch_when_the_raw_vectors_changed(hashing_ws, bbc_small):
    from likewise.ops.loop import switch_in_head

    ws = Workspace.open(hashing_ws)
    raw = ws.vectors("raw").vectors
    fit = fit_head(raw, _labels(bbc_small, 150))
    with pytest.raises(InputError, match="raw vectors changed"):
        switch_in_head(ws, fit, fit.tuner.transform(raw), raw_content="something else", fingerprint=None, labels_seq=0)
    assert not Workspace.open(hashing_ws).has_vectors("tuned")


def test_session_query_leans_toward_the_start_records_class():
    from likewise.ops.loop import session_query

    v = normalize(np.array([[1, 0.2], [0, 1], [0.1, 1], [1, 0]], dtype=np.float32))
    codes = np.array([-1, 0, 0, 1], np.int32)
    np.testing.assert_array_equal(session_query(v, 0, codes), v[0])  # unlabeled start: its own vector
    codes[0] = 0
    q = session_query(v, 0, codes)
    centre = normalize(v[[0, 1, 2]].mean(0, keepdims=True))[0]
    np.testing.assert_allclose(q, normalize((v[0] + centre)[None])[0], rtol=1e-6)
    assert float(q @ v[1]) > float(v[0] @ v[1])  # closer to its class than the start alone
    codes[:] = [1, -1, -1, -1]
    np.testing.assert_array_equal(session_query(v, 0, codes), v[0])  # a class of one: nothing to lean on
