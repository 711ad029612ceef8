"""The tuned encoder as a first-class path: ONNX Runtime with its own cache identity, a head on top when it
helps, the same vectors wherever it embeds, the device it runs on. Real BBC News records and the real MiniLM
(one 1-epoch fine-tune of 60 records per module)."""
from __future__ import annotations

import numpy as np
import pytest

from likewise.errors import InputError


@pytest.fixture(scope="module")
def bbc60():
    """12 full-length BBC News articles per class (most longer than the 256-token window)."""
    from likewise.datasets import load_dataset

    data = load_dataset("bbc_news")
    rng = np.random.default_rng(0)
    picks = np.concatenate([rng.choice([i for i, lab in enumerate(data.labels) if lab == c], 12, replace=False)
                            for c in data.classes])
    return data.subset(np.sort(picks))


@pytest.fixture(scope="module")
def tuned_ws(tmp_path_factory, bbc60):
    """A workspace embedded with the default model and `likewise tune --train-encoder` (1 epoch, CPU)."""
    from likewise.encoders import get_encoder
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(tmp_path_factory.mktemp("tuned-encoder") / "ws", create=True)
    embed_into_workspace(ws, bbc60, get_encoder("default"), source={"path": "bbc60"})
    result = tune_workspace(ws, train_encoder=True,
                            encoder_options={"epochs": 1, "batch_size": 16, "k": 5, "device": "cpu", "force": True,
                                            "validate": True})  # 12 per class: below the automatic validation
    return Workspace.open(ws.path), result


@pytest.mark.slow
def test_tuned_encoder_runs_on_onnx_with_the_torch_vectors_and_its_own_cache_identity(tuned_ws, bbc60, tmp_path):
    from likewise.cache import EmbeddingCache, normalize_text, text_keys
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder
    from likewise.encoders.onnx import OnnxEncoder, onnx_cache_dir
    from likewise.ops.tune import load_tuned_encoder, tuned_model_folder

    ws, result = tuned_ws
    folder = ws.artifact_path("tuned_encoder")
    fast = load_tuned_encoder(folder, device="cpu")
    torch = get_encoder(tuned_model_folder(folder), runtime="torch", device="cpu")
    assert isinstance(fast, OnnxEncoder) and not isinstance(torch, OnnxEncoder)
    assert fast.identity == torch.identity and fast.max_tokens == torch.max_tokens == 256
    texts = bbc60.texts[:20]
    cosine = np.sum(fast.embed(texts) * torch.embed(texts), axis=1)
    assert cosine.min() >= 0.9999
    base = ws.vectors_info("raw")["encoder"]
    assert fast.identity != base and fast.identity.startswith("st:tuned-encoder:")
    assert not result.kept_identity  # force: the trained weights, so the identity must differ by weights too
    assert fast.identity.split(":")[2] != base.split(":")[2]

    # its ONNX graph is part of the tuned-encoder object (removed with it), not left in the shared graph cache
    assert fast.graph_path.is_file() and fast.graph_path.parent == tuned_model_folder(folder) / OnnxEncoder.GRAPH_DIR
    assert fast.graph_path.name.endswith(OnnxEncoder.GRAPH_SUFFIX)
    shared = onnx_cache_dir()
    assert not [p.name for p in shared.glob("*") if fast.identity.split(":")[2] in p.name]
    ws.objects.verify(ws.artifact("tuned_encoder")["ref"], "tuned encoder")  # the graph is listed and hashed

    # tune wrote every record's tuned-encoder vectors through the shared cache: embedding them again encodes none
    _, stats = embed_records(fast, bbc60.ids, bbc60.texts, ws.cache)
    assert stats.cache_hits == len(bbc60) and stats.encoded == 0
    # and in a fresh cache: the first run encodes, the second is all hits, with the same vectors
    cache = EmbeddingCache(tmp_path / "cache")
    first, stats = embed_records(fast, bbc60.ids[:10], bbc60.texts[:10], cache)
    assert stats.encoded == 10 and stats.cache_hits == 0
    again, stats = embed_records(fast, bbc60.ids[:10], bbc60.texts[:10], cache)
    assert stats.cache_hits == 10 and stats.encoded == 0
    np.testing.assert_array_equal(first, again)
    # the base model's cache entries are not the tuned encoder's: same texts, no hits under the base identity
    found, _ = cache.lookup(base, text_keys([normalize_text(t) for t in bbc60.texts[:10]]))
    assert not found.any()


@pytest.mark.slow
def test_tuned_vectors_are_the_kept_head_on_the_tuned_encoder_wherever_it_embeds(tuned_ws, bbc60):
    """tune reports both validation scores and which was kept (result, --json dict, model card); the stored
    tuned vectors equal head(tuned encoder(text)) when the head was kept, the encoder's alone otherwise, and a
    text query is embedded the same way (a record's own text finds the record first)."""
    from likewise.ops.search import search, text_query_vector
    from likewise.ops.tune import plain, tuned_encoder_vectors

    ws, result = tuned_ws
    head = result.encoder_head
    assert head is not None and head == plain(result.to_dict()["encoder_head"])
    assert head["kept"] == (head["head_top_k"] > head["encoder_top_k"])
    assert head["records"] == result.validation["records"] == 12
    assert result.validation["strategy"] == "holdout (20% of the labels)"  # forced: every class holds out 20%
    assert result.validation["kept_top_k"] == max(head["encoder_top_k"], head["head_top_k"] if head["kept"] else -1)
    info = ws.vectors_info("tuned")
    assert info["by"] == "encoder" and info["head"] == head["kept"]
    assert info["encoder"] == info["encoder_tuned"] + ("+head" if head["kept"] else "")
    card = (ws.artifact_path("tuned_encoder") / "MODEL_CARD.md").read_text()
    assert "## Head on the tuned encoder" in card
    assert f"{head['encoder_top_k']:.4f}" in card and f"{head['head_top_k']:.4f}" in card

    stored = ws.vectors("tuned").vectors
    again, identity = tuned_encoder_vectors(ws, bbc60.texts)
    assert identity == info["encoder"]
    assert np.sum(stored * again, axis=1).min() >= 0.9999
    plain_vectors, plain_identity = tuned_encoder_vectors(ws, bbc60.texts[:3], with_head=False)
    assert plain_identity == info["encoder_tuned"]
    if head["kept"]:
        assert np.abs(plain_vectors - stored[:3]).max() > 1e-3  # the head really changed them
    query, query_identity = text_query_vector(ws, bbc60.texts[7], "tuned")
    assert query_identity == info["encoder"] and float(query[0] @ stored[7]) >= 0.9999
    hits = search(ws, text=bbc60.texts[7], k=3).hits
    assert hits[0].id == bbc60.ids[7]


def test_head_on_the_tuned_encoder_is_kept_only_when_it_scores_higher_on_validation():
    """On BBC News hashing vectors a head helps, so it is kept; on vectors that already put every validation
    record's class first (top_k 1.0) nothing can score higher, so no head is kept."""
    from likewise.datasets import load_dataset
    from likewise.encoders import get_encoder
    from likewise.evaluation import holdout_split
    from likewise.ops.tune import head_on_tuned_encoder
    from likewise.tuning.trainer import validation_k

    data = load_dataset("bbc_news")
    data = data.subset(np.arange(0, len(data), 6))
    y = np.asarray(data.labels, dtype=object)
    vectors = get_encoder("hashing").embed(data.texts)
    train, val = holdout_split(y, test_size=0.2, seed=0)
    head, scores = head_on_tuned_encoder(vectors, y, train, val, k=10, seed=0)
    assert scores["kept"] and head is not None and scores["head_top_k"] > scores["encoder_top_k"]
    assert scores["records"] == len(val) and scores["k"] == 10
    # k is the heads' validation k (a typical class's size - 1), never ~ the number of validation records,
    # where every set of vectors would score the same
    _, wide = head_on_tuned_encoder(vectors, y, train, val, k=100, seed=0)
    assert wide["k"] == validation_k(100, y[val]) < len(val) // 2
    assert wide["head_top_k"] != wide["encoder_top_k"]

    # each record moved next to its class's centroid: every validation record's k nearest share its class
    centroids = {c: vectors[y == c].mean(axis=0) for c in set(y)}
    perfect = np.stack([centroids[c] for c in y]) + 0.01 * vectors
    head, scores = head_on_tuned_encoder(perfect, y, train, val, k=10, seed=0)
    assert scores["encoder_top_k"] == 1.0
    assert not scores["kept"] and head is None and "no head" in scores["message"]


def test_tuned_encoder_device_follows_the_override_and_cuda_when_present(monkeypatch):
    """A tuned-encoder folder (here the bundled model's folder, in the older top-level layout) runs on ONNX
    Runtime on the CPU, on PyTorch with CUDA's batch when a GPU is present; --device / $LIKEWISE_DEVICE win."""
    import torch

    from likewise.encoders import CUDA_BATCH_SIZE, default_model_path
    from likewise.encoders.onnx import OnnxEncoder
    from likewise.ops.tune import load_tuned_encoder, tuned_model_folder

    folder = default_model_path()
    assert tuned_model_folder(folder) == folder
    assert isinstance(load_tuned_encoder(folder, device="cpu"), OnnxEncoder)
    monkeypatch.setenv("LIKEWISE_DEVICE", "cpu")
    assert isinstance(load_tuned_encoder(folder), OnnxEncoder)
    monkeypatch.delenv("LIKEWISE_DEVICE")
    chosen = load_tuned_encoder(folder)
    if torch.cuda.is_available():
        assert not isinstance(chosen, OnnxEncoder)
        assert chosen.device.startswith("cuda") and chosen.batch_size == CUDA_BATCH_SIZE
    else:
        assert isinstance(chosen, OnnxEncoder)
        with pytest.raises(InputError, match="CUDA is not available"):
            load_tuned_encoder(folder, device="cuda")


@pytest.mark.slow
def test_fine_tuning_ran_on_the_device_asked_for(tuned_ws):
    ws, result = tuned_ws
    assert result.config["device"] == "cpu" and ws.artifact("tuned_encoder")["config"]["device"] == "cpu"


@pytest.mark.slow
def test_classify_scores_raw_head_and_tuned_encoder_on_one_split_and_says_which_predicts(tuned_ws):
    """`likewise classify` on a workspace with a tuned encoder: three rows on the same held-out records, the
    encoder's from an encoder fine-tuned on the training records only; the choice is stated; --encoder no
    skips that fine-tuning (and the "tuned" row is still a head, never the encoder trained on the test records)."""
    import io
    import json

    from click.testing import CliRunner
    from rich.console import Console

    from likewise.cli.classify import render_classify
    from likewise.cli.main import cli
    from likewise.ops.classify import classify_workspace

    ws, _ = tuned_ws
    result = classify_workspace(ws, seed=0, device="cpu")
    c = result.classification
    assert [s.vectors for s in c.scores] == ["raw", "tuned", "encoder"]
    assert len({s.test_records for s in c.scores}) == 1 and len({s.train_records for s in c.scores}) == 1
    assert all(0 <= s.accuracy <= 1 and 0 <= s.macro_f1 <= 1 for s in c.scores)
    made = c.config["encoder"]
    assert made["train_records"] == c.config["split"]["train_records"] == c.scores[0].train_records
    assert "training records only" in made["heldout_encoder"] and made["epochs"] >= 1
    assert made["tuned_encoder"] == ws.vectors_info("tuned")["encoder_tuned"]
    order = ["raw", "tuned", "encoder"]  # ties: later wins
    assert c.predicted_with == max(c.scores, key=lambda s: (s.accuracy, order.index(s.vectors))).vectors
    console = Console(file=io.StringIO(), width=120, color_system=None)
    render_classify(result, console)
    out = console.file.getvalue()
    assert "tuned encoder" in out and "tuned (head)" in out and "the best held-out accuracy" in out
    assert json.loads(json.dumps(result.to_dict()))["config"]["encoder"]["epochs"] == made["epochs"]

    skipped = CliRunner().invoke(cli, ["classify", "-w", str(ws.path), "--json", "--encoder", "no",
                                       "--predict-with", "tuned"])
    assert skipped.exit_code == 0, skipped.output
    report = json.loads(skipped.stdout)
    assert [s["vectors"] for s in report["scores"]] == ["raw", "tuned"] and report["predicted_with"] == "tuned"
    bad = CliRunner().invoke(cli, ["classify", "-w", str(ws.path), "--encoder", "no", "--predict-with", "encoder"])
    assert bad.exit_code == 2 and "needs a tuned encoder" in bad.stderr


@pytest.mark.slow
def test_report_predicts_with_the_vectors_it_scored_when_the_encoder_was_fine_tuned(tuned_ws):
    """The report's classifier cannot retrain the encoder per report: its 'tuned' row is a head trained on the
    training records, and its predictions must then use that head's vectors too, never the fine-tuned encoder's
    (whose score the report does not show); the report says so."""
    from likewise.report.content import ReportOptions, gather

    ws, _ = tuned_ws
    assert ws.vectors_info("tuned")["by"] == "encoder"
    data = gather(ws, ReportOptions(k=5))
    assert any("classifier's 'tuned' scores and predictions use a head" in note for note in data.notes)
    c = data.classification
    assert [s.vectors for s in c.scores] == ["raw", "tuned"]
    assert c.predicted_with in {"raw", "tuned"}


def test_encoder_validation_needs_five_held_out_labels_per_class():
    from likewise.ops.tune import MIN_VALIDATION_PER_CLASS, can_validate_encoder

    enough = np.array(["a"] * 5 * MIN_VALIDATION_PER_CLASS + ["b"] * 40, dtype=object)
    assert can_validate_encoder(enough)
    assert not can_validate_encoder(np.concatenate([enough, ["c"] * (5 * MIN_VALIDATION_PER_CLASS - 1)]))
    assert not can_validate_encoder(np.array(["a"] * 100, dtype=object))


def test_a_small_class_beside_large_ones_trains_while_the_large_ones_validate():
    """Rotten Tomatoes at 250 labels: fresh 133, rotten 97 and 20 plot summaries. The large classes carry 92% of
    the labels, so the encoder validates on a 20% holdout of them and the plot summaries all train; when small
    classes carry more than 20% (FOLDOC, drug conditions), it does not."""
    from likewise.evaluation import holdout_split
    from likewise.ops.tune import HOLDOUT_LABEL_SHARE, can_validate_encoder, encoder_holdout, validating_classes

    y = np.array(["fresh"] * 133 + ["plot"] * 20 + ["rotten"] * 97, dtype=object)
    assert list(validating_classes(y)) == ["fresh", "rotten"] and can_validate_encoder(y)
    train, val = encoder_holdout(y, seed=3)
    assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == len(y)
    assert set(y[val]) == {"fresh", "rotten"} and np.sum(y[train] == "plot") == 20
    assert sorted(np.unique(y[val], return_counts=True)[1]) == [19, 27]  # 20% of each large class, stratified
    many = np.array(["a"] * 60 + ["b"] * 60 + [f"s{i}" for i in range(40) for _ in range(3)], dtype=object)
    assert len(validating_classes(many)) == 2 and (120 / 240) < HOLDOUT_LABEL_SHARE and not can_validate_encoder(many)
    every = np.array(["a"] * 40 + ["b"] * 30 + ["c"] * 25, dtype=object)  # every class validates: the plain split
    for got, want in zip(encoder_holdout(every, seed=5), holdout_split(every, test_size=0.2, seed=5)):
        assert np.array_equal(got, want)
    few = np.array(["a"] * 12 + ["b"] * 12 + ["c"] * 30, dtype=object)  # a forced validation, 1 class validates
    assert list(validating_classes(few)) == ["c"] and not can_validate_encoder(few)
    for got, want in zip(encoder_holdout(few, seed=5), holdout_split(few, test_size=0.2, seed=5)):
        assert np.array_equal(got, want)  # every class holds out 20%, as a forced validation did before


def test_the_encoder_comparison_splits_give_every_scorable_class_two_validation_records():
    from likewise.ops.tune import encoder_comparison_splits

    y = np.array(["a"] * 30 + ["b"] * 30, dtype=object)  # 6 per class in a 20% holdout: the holdout
    [(train, val)] = encoder_comparison_splits(y, seed=1)
    assert len(val) == 12 and sorted(np.unique(y[val], return_counts=True)[1]) == [6, 6]
    y = np.array(["a"] * 12 + ["b"] * 5 + ["c"] * 3 + ["d"] * 2, dtype=object)  # small classes: 2-fold halves
    (train1, val1), (train2, val2) = encoder_comparison_splits(y, seed=1)
    for train, val in ((train1, val1), (train2, val2)):
        assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == len(y)
        assert set(y[val]) == {"a", "b"} and min(np.unique(y[val], return_counts=True)[1]) >= 2
    assert np.intersect1d(val1, val2).size == 0 and len(val1) + len(val2) == 17  # c, d (< 4) always train
    assert encoder_comparison_splits(np.array(["a"] * 12 + ["b"] * 3, dtype=object), seed=1) == []


def test_repeated_halves_draw_fresh_halves_and_only_when_the_time_left_holds_them():
    from likewise.ops.tune import MAX_HALVES_REPEATS, another_draw_fits, encoder_comparison_splits

    y = np.array(["a"] * 12 + ["b"] * 5 + ["c"] * 3 + ["d"] * 2, dtype=object)
    splits = encoder_comparison_splits(y, seed=1, repeats=2)
    assert len(splits) == 4
    assert [(t.tolist(), v.tolist()) for t, v in splits[:2]] == [
        (t.tolist(), v.tolist()) for t, v in encoder_comparison_splits(y, seed=1)]
    for first, second in (splits[:2], splits[2:]):  # each draw: every scorable record validates exactly once
        assert np.intersect1d(first[1], second[1]).size == 0 and len(first[1]) + len(second[1]) == 17
    assert not np.array_equal(splits[0][1], splits[2][1])  # the second draw cuts other halves
    # with a holdout there is nothing to repeat
    assert len(encoder_comparison_splits(np.array(["a"] * 30 + ["b"] * 30, dtype=object), seed=1, repeats=2)) == 1
    # a second draw needs two more trials like the first draw's and the final fit (2.5 trials) in the time left
    assert another_draw_fits(40.0, None) and another_draw_fits(40.0, 180.0)
    assert not another_draw_fits(40.0, 179.0)
    assert MAX_HALVES_REPEATS == 2


def test_auto_keeps_the_encoders_export_and_encoding_of_every_record_inside_the_time_budget():
    """What a kept tuned encoder costs after training (its ONNX export, encoding every record of the workspace)
    comes out of the budget before any fine-tuning is planned: the same labels that fit in a small workspace
    do not in a large one of long texts, and on a GPU the export is not needed and encoding is ~20x faster."""
    import time

    from likewise.ops.tune import _encoder_asked
    from likewise.tuning.encoder_finetune import (
        ENCODE_SECONDS_PER_TOKEN,
        EXPORT_SECONDS,
        after_training_seconds,
        estimate_tokens,
    )

    short = [f"a short review number {i}, not long" for i in range(40)]
    labels = np.array(["fresh", "rotten"] * 20, dtype=object)
    long = ["word " * 400] * 2000  # cut at the 256-token window
    assert after_training_seconds(long) == pytest.approx(EXPORT_SECONDS + 2000 * 256 * ENCODE_SECONDS_PER_TOKEN)
    assert after_training_seconds(long, device="cuda") == pytest.approx(2000 * 256 * ENCODE_SECONDS_PER_TOKEN / 20)
    assert after_training_seconds(short) == pytest.approx(
        EXPORT_SECONDS + 40 * estimate_tokens(short) * ENCODE_SECONDS_PER_TOKEN)
    budget = 60.0
    assert after_training_seconds(long) > budget > after_training_seconds(short) + 10
    assert _encoder_asked(None, "model", short, labels, budget, time.perf_counter(), all_texts=short, device="cpu")
    assert not _encoder_asked(None, "model", short, labels, budget, time.perf_counter(), all_texts=long, device="cpu")


def test_halves_keep_the_encoder_unless_the_map_leads_by_more_than_the_margin():
    """Halves halve the labels, which costs the encoder more than the map: the encoder is kept when it trails the
    map's mean trial score by less than HALVES_MARGIN, and dropped from that lead on."""
    from likewise.ops.tune import HALVES_MARGIN, halves_keep_encoder

    assert HALVES_MARGIN == pytest.approx(0.05)
    assert halves_keep_encoder(0.60, 0.50) and halves_keep_encoder(0.467, 0.471)  # Rotten Tomatoes 25, seed 18
    assert halves_keep_encoder(0.50 - HALVES_MARGIN + 1e-6, 0.50)
    assert not halves_keep_encoder(0.50 - HALVES_MARGIN, 0.50) and not halves_keep_encoder(0.40, 0.50)


def test_the_halves_margin_needs_the_final_fit_to_run_its_whole_schedule():
    """The margin assumes the fine-tuning on all the labels runs its whole schedule (as in every development fit
    behind it); when the time left cuts that schedule, the encoder must beat the map on the halves outright."""
    from likewise.ops.tune import final_schedule, halves_keep_encoder
    from likewise.tuning.encoder_finetune import (CPU_SECONDS_PER_TOKEN_EPOCH, DEFAULT_EPOCHS, MIN_STEPS,
                                                  estimate_tokens, plan_schedule)

    assert halves_keep_encoder(0.874, 0.902) and not halves_keep_encoder(0.874, 0.902, full_schedule=False)
    assert halves_keep_encoder(0.60, 0.50, full_schedule=False)  # a clear win needs no margin
    assert not halves_keep_encoder(0.50, 0.50, full_schedule=False)

    long = ["the minister said on tuesday that the budget " * 30] * 100  # BBC-like: 100 labels of ~256 tokens
    short = ["a warm, funny film"] * 25
    assert final_schedule(long, None) == (DEFAULT_EPOCHS, DEFAULT_EPOCHS)
    assert final_schedule(short, None) == (MIN_STEPS, MIN_STEPS)  # 25 labels: one batch an epoch, 32 epochs
    assert final_schedule(short, None, batch_size=16) == (MIN_STEPS // 2,) * 2  # the batch finetune_encoder uses
    epoch = 100 * estimate_tokens(long) * CPU_SECONDS_PER_TOKEN_EPOCH["fp32"]  # fp32: this test's CPU may lack bf16
    planned, full = final_schedule(long, 3.5 * epoch, device="cpu")
    assert full == DEFAULT_EPOCHS and planned == plan_schedule(100, 3.5 * epoch, device="cpu",
                                                               precision=_cpu_precision(),
                                                               tokens_per_record=estimate_tokens(long))[0] < full
    assert final_schedule(long, 100 * epoch, device="cpu") == (full, full)
    assert final_schedule(short, 300.0, device="cpu") == (MIN_STEPS, MIN_STEPS)
    assert final_schedule(long, -5.0, device="cpu")[0] == 1  # no time left: the plan's floor, never a full schedule


def _cpu_precision() -> str:
    from likewise.encoders.device import training_precision

    return training_precision("cpu")


@pytest.mark.slow
def test_auto_tries_the_encoder_and_keeps_the_better_on_the_same_records(tmp_path):
    """Plain `likewise tune` (auto) on sentiment labels fine-tunes the encoder within the time budget and keeps
    it only when it scores higher than the map on the same validation records: a 20% holdout with 25+ labels
    per class; with fewer, a trial on each half of the labels scored on the other (two draws of halves when
    the budget holds them), then (when it wins) a fine-tuning on all of them. Without two scorable classes, or
    without the time, it never tries."""
    from likewise.datasets import load_dataset
    from likewise.encoders import get_encoder
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.tune import another_draw_fits, halves_keep_encoder, tune_workspace
    from likewise.workspace import Workspace

    data = load_dataset("rotten_tomatoes")
    rng = np.random.default_rng(4)
    picks = np.concatenate([rng.choice([i for i, lab in enumerate(data.labels) if lab == c], 45, replace=False)
                            for c in ("fresh", "rotten")])  # auto chooses by cross-validation from 40 per class
    fast = {"device": "cpu", "epochs": 2, "batch_size": 16}
    ws = Workspace.open(tmp_path / "ws", create=True)
    embed_into_workspace(ws, data.subset(np.sort(picks)), get_encoder("default"), source={"path": "rt90"})
    result = tune_workspace(ws, tuner_options={"method": "auto", "seed": 0}, train_encoder=None, time_budget=240,
                            encoder_options=fast)
    scores = result.selection["scores"]
    assert "encoder" in scores and scores["encoder"]["split"] == "20% holdout", result.message
    chosen = scores["encoder"]["holdout_top_k"] > scores["encoder"]["vs"]
    assert scores["encoder"]["chosen"] == chosen and (result.kind == "encoder") == chosen
    assert (ws.artifact("tuned_encoder") is not None) == chosen and (ws.artifact("head") is not None) != chosen

    few = Workspace.open(tmp_path / "few", create=True)  # 20 per class: below 40, auto trains the head directly
    embed_into_workspace(few, data.subset(np.sort(np.concatenate([picks[:20], picks[45:65]]))), get_encoder("default"),
                         source={"path": "rt40"})
    result = tune_workspace(few, tuner_options={"method": "auto", "seed": 0}, train_encoder=None, time_budget=240,
                            encoder_options={"device": "cpu"})  # the planned schedule (32 steps): ~10 s a fit here
    score = result.selection["scores"]["encoder"]
    # a trial takes ~10 s here: the 240 s hold a second draw and the final fit, so the halves are drawn twice; a
    # slower or loaded machine draws once, and the selection records what that decision saw
    draws = 2 if another_draw_fits(score["trial_seconds"], score["seconds_left_after_draw_1"]) else 1
    assert score["draws"] == draws and score["split"] == ("2 draws of " if draws == 2 else "") + "2-fold halves", \
        result.selection
    assert 0 < score["trial_seconds"] < 240 and score["seconds_left_after_draw_1"] < 240, result.selection
    assert score["records"] == 40, result.selection
    full_schedule = score["final_epochs_planned"] >= score["full_schedule_epochs"]
    assert score["chosen"] == halves_keep_encoder(score["holdout_top_k"], score["vs"], full_schedule=full_schedule) \
        == (result.kind == "encoder")
    assert len(score["per_split"]) == len(score["map_per_split"]) == 2 * draws
    assert score["holdout_top_k"] == pytest.approx(np.mean(score["per_split"]))
    assert score["vs"] == pytest.approx(np.mean(score["map_per_split"]))
    if result.kind == "encoder":  # the kept encoder was fine-tuned again on all 40 labels
        assert result.train_records == 40 and "fine-tuned again on all 40 labels" in result.message
        assert result.validation["trained_top_k"] == score["holdout_top_k"] and result.validation["records"] == 40
        assert few.artifact("head") is None and few.artifact("tuned_encoder") is not None
    else:
        assert "kept the map" in result.message and few.artifact("tuned_encoder") is None

    tiny = Workspace.open(tmp_path / "tiny", create=True)  # 3 per class: no class can give 2 to score on
    embed_into_workspace(tiny, data.subset(np.sort(np.concatenate([picks[:3], picks[45:48]]))), get_encoder("default"),
                         source={"path": "rt6"})
    result = tune_workspace(tiny, tuner_options={"method": "auto", "seed": 0}, train_encoder=None, time_budget=240)
    assert result.kind == "head" and "encoder" not in (result.selection or {}).get("scores", {})
    result = tune_workspace(few, tuner_options={"method": "auto", "seed": 0}, train_encoder=None, time_budget=0.5)
    assert result.kind == "head" and "encoder" not in (result.selection or {}).get("scores", {})
