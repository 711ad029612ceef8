"""Tune, transform, evaluate and compare models over a real workspace (BBC News, hashing vectors: fast)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from likewise.cli.main import cli
from likewise.datasets import load_dataset
from likewise.ops.embed import embed_into_workspace
from likewise.encoders import get_encoder
from likewise.errors import InputError
from likewise.ops.search import compare_session, search
from likewise.ops.evaluate import compare_models, evaluate_workspace
from likewise.ops.tune import export_vectors, transform_vectors, tune_workspace, tuned_model_folder
from likewise.workspace import Workspace

FAST = {"epochs": 8, "patience": 3, "validation": "holdout"}


@pytest.fixture(scope="module")
def bbc():
    data = load_dataset("bbc_news")
    data = data.subset(np.arange(0, len(data), 3))  # 742 records
    for i in range(0, len(data), 5):  # a fifth unlabeled: tuned vectors must still cover them
        data.labels[i] = None
    return data


@pytest.fixture
def ws(tmp_path, bbc):
    ws = Workspace.open(tmp_path / "ws", create=True)
    embed_into_workspace(ws, bbc, get_encoder("hashing"), source={"path": "bbc"})
    return ws


@pytest.fixture(scope="module")
def tuned_template(tmp_path_factory, bbc):
    """One tuned workspace per module (training is the slow part); tests work on copies."""
    folder = tmp_path_factory.mktemp("tuned") / "ws"
    ws = Workspace.open(folder, create=True)
    embed_into_workspace(ws, bbc, get_encoder("hashing"), source={"path": "bbc"})
    result = tune_workspace(ws, tuner_options=FAST)
    return folder, result


@pytest.fixture
def tuned(tuned_template, tmp_path):
    import shutil

    shutil.copytree(tuned_template[0], tmp_path / "tuned")
    return Workspace.open(tmp_path / "tuned"), tuned_template[1]


def test_tune_writes_head_card_and_tuned_vectors_for_every_record(tuned, bbc):
    ws, result = tuned
    assert result.train_records == int(bbc.labeled_mask.sum())
    folder = ws.artifact_path("head")
    assert {p.name for p in folder.iterdir()} >= {"head.safetensors", "head.json", "tuner.json", "MODEL_CARD.md"}
    card = (folder / "MODEL_CARD.md").read_text()
    assert "Trained on" in card and "business" in card
    tuned = ws.vectors("tuned")
    assert tuned.ids == bbc.ids and tuned.vectors.shape == (len(bbc), 256)
    np.testing.assert_allclose(np.linalg.norm(tuned.vectors, axis=1), 1, atol=1e-4)
    if not result.kept_identity:
        comparison = compare_session(ws, bbc.ids[1], size=100)
        assert comparison.results["tuned"]["same_class_share"] > comparison.results["raw"]["same_class_share"]
    # the search picks up the new vectors without a manual `likewise index`
    assert search(ws, record_id=bbc.ids[1], k=5).kind == "tuned"


def test_failed_retune_keeps_previous_head(tuned):
    ws, _ = tuned
    before = (ws.artifact_path("head") / "head.safetensors").read_bytes()
    with pytest.raises(InputError):
        tune_workspace(ws, tuner_options={**FAST, "loss": "no_such_loss"})
    again = Workspace.open(ws.path)
    assert (again.artifact_path("head") / "head.safetensors").read_bytes() == before
    assert again.check() == [] and [r.command for r in again.store.runs()] == ["tune"]


def test_transform_exports_round_trip(tuned, bbc, tmp_path):
    ws, _ = tuned
    tuned = ws.vectors("tuned")
    export_vectors(ws, tmp_path / "v.parquet")
    frame = pd.read_parquet(tmp_path / "v.parquet")
    assert frame["id"].tolist() == bbc.ids
    np.testing.assert_allclose(np.stack(frame["vector"].to_numpy()), tuned.vectors, atol=1e-6)
    assert [None if pd.isna(x) else x for x in frame["label"]] == bbc.labels
    export_vectors(ws, tmp_path / "v.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), tuned.vectors)
    assert json.loads((tmp_path / "v.ids.json").read_text()) == bbc.ids
    export_vectors(ws, tmp_path / "v.jsonl")
    first = json.loads((tmp_path / "v.jsonl").read_text().splitlines()[0])
    assert first["id"] == bbc.ids[0] and len(first["vector"]) == 256
    with pytest.raises(InputError, match="unknown export format"):
        export_vectors(ws, tmp_path / "v.txt")


def test_head_refuses_other_dimension_or_encoder(tuned):
    ws, _ = tuned
    with pytest.raises(InputError, match="dimensional"):
        transform_vectors(ws, np.ones((2, 384), dtype=np.float32))
    with pytest.raises(InputError, match="trained on vectors from"):
        transform_vectors(ws, np.ones((2, 256), dtype=np.float32), encoder="st:other-model")


def test_tune_bad_labels(tmp_path):
    from likewise.records import Dataset

    ws = Workspace.open(tmp_path / "w", create=True)
    data = Dataset.from_lists([f"text {i}" for i in range(6)], ["a", "a", "a", "b", "c", None])
    embed_into_workspace(ws, data, get_encoder("hashing"), source={})
    with pytest.raises(InputError, match=r"2 classes have only 1 labeled record \(b, c\)"):
        tune_workspace(ws)
    one = Dataset.from_lists([f"text {i}" for i in range(4)], ["a"] * 4)
    embed_into_workspace(ws, one, get_encoder("hashing"), source={})
    with pytest.raises(InputError, match="one class"):
        tune_workspace(ws)


def test_evaluate_scores_only_held_out_records(ws, bbc):
    result = evaluate_workspace(ws, methods=("raw", "lda"), budgets=(25, "all"), seeds=(0, 1), k=20)
    summary = {(s["method"], s["budget"]): s for s in result.summary()}
    assert set(summary) == {("raw", "25"), ("raw", "all"), ("lda", "25"), ("lda", "all")}
    labeled = int(bbc.labeled_mask.sum())
    for row in result.rows:
        assert row.train_records + row.test_records <= labeled
        assert abs(row.test_records - 0.4 * labeled) <= 3
        assert 0 <= row.metrics["top_k"] <= 1
    # raw vectors do not depend on the budget: same test split, same score
    assert summary[("raw", "25")]["top_k"]["mean"] == pytest.approx(summary[("raw", "all")]["top_k"]["mean"])
    # LDA learns from the training labels: above the raw hashing vectors on held-out records
    assert summary[("lda", "all")]["top_k"]["mean"] > summary[("raw", "all")]["top_k"]["mean"]
    assert ws.artifact_json("evaluation")["summary"] == result.summary()
    assert [r.command for r in ws.store.runs()] == ["evaluate"]


def test_compare_models_ranks_and_reads_user_vectors(ws, bbc, tmp_path):
    rng = np.random.default_rng(0)
    classes = sorted(set(filter(None, bbc.labels)))
    centers = rng.normal(size=(len(classes), 16))
    # "API" vectors that know the classes well: should rank first
    good = np.stack([centers[classes.index(lab)] + 0.1 * rng.normal(size=16) if lab else rng.normal(size=16)
                     for lab in bbc.labels]).astype(np.float32)
    pd.DataFrame({"id": bbc.ids, "vector": list(good)}).to_parquet(tmp_path / "api.parquet")
    scores = compare_models(ws, ["hashing"], vector_files=[str(tmp_path / "api.parquet")], k=20)
    assert [s.model.split(":")[0] for s in scores] == ["vectors", "hashing"]
    assert scores[0].metrics["top_k"] > 0.9 > scores[1].metrics["top_k"]


def test_cli_tune_transform_evaluate(ws, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["tune", "-w", str(ws.path), "--epochs", "3", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["kind"] == "head"
    out = runner.invoke(cli, ["transform", "-w", str(ws.path), "-o", str(tmp_path / "t.npy")])
    assert out.exit_code == 0 and (tmp_path / "t.npy").exists()
    out = runner.invoke(cli, ["evaluate", "-w", str(ws.path), "--methods", "raw,lda", "--budgets", "25", "--seeds", "0", "-k", "10", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["summary"][0]["method"] == "raw"
    bad = runner.invoke(cli, ["evaluate", "-w", str(ws.path), "--methods", "raw,magic", "--budgets", "25"])
    assert bad.exit_code == 2 and "unknown method 'magic'" in bad.stderr
    bad = runner.invoke(cli, ["evaluate", "-w", str(ws.path), "--methods", "raw", "--budgets", "4"])
    assert bad.exit_code == 2 and "too small for 5 classes" in bad.stderr


def test_train_encoder_refuses_vectors_without_a_model(ws):
    with pytest.raises(InputError, match="needs a sentence-transformers model"):
        tune_workspace(ws, train_encoder=True, encoder_options={"epochs": 1})


@pytest.mark.slow
def test_train_encoder_end_to_end_on_a_small_real_workspace(tmp_path):
    """`likewise tune --train-encoder`: a tuned model folder, tuned vectors for all records, text search."""
    data = load_dataset("rotten_tomatoes")
    rng = np.random.default_rng(1)
    picks = np.concatenate([rng.choice([i for i, lab in enumerate(data.labels) if lab == c], 20, replace=False)
                            for c in data.classes])
    small = data.subset(np.sort(picks))
    small.labels[0] = None  # one unlabeled record must still get a tuned vector
    ws = Workspace.open(tmp_path / "ws", create=True)
    embed_into_workspace(ws, small, get_encoder("default"), source={"path": "rt"})
    result = tune_workspace(ws, train_encoder=True, encoder_options={"epochs": 1, "batch_size": 16, "k": 5, "device": "cpu"})
    folder = ws.artifact_path("tuned_encoder")
    assert result.kind == "encoder" and (tuned_model_folder(folder) / "model.safetensors").exists()
    # 20 labels per class: too few to hold out 5 per class, so all 59 train and the model is kept unvalidated
    assert result.validation["records"] == 0 and not result.kept_identity and result.train_records == 59
    assert "too few to hold out" in result.message and "trained on all 59 labels" in result.message
    assert result.message.count("too few to hold out") == 1
    assert (folder / "MODEL_CARD.md").exists()
    tuned = ws.vectors("tuned")
    assert tuned.ids == small.ids and tuned.vectors.shape == (len(small), 384)
    hits = search(ws, text="a gorgeous, moving film", k=3).hits
    assert len(hits) == 3 and search(ws, text="x", k=1).kind == "tuned"


def test_tuned_vectors_follow_the_raw_vectors_through_the_saved_head_or_go_stale(tuned, bbc):
    from likewise.encoders import HashingEncoder

    ws, _ = tuned
    first = embed_into_workspace(ws, bbc, get_encoder("hashing"), source={"path": "bbc"})  # same records again
    assert Workspace.open(ws.path).stale_reason("tuned") is None and not first.head_reapplied
    edited = bbc.subset(np.arange(len(bbc)))
    edited.texts[3] = edited.texts[3] + " edited"  # same count, one text changed
    again = embed_into_workspace(ws, edited, get_encoder("hashing"), source={"path": "bbc"})
    fresh = Workspace.open(ws.path)
    # the head still fits the encoder: it is applied to the new raw vectors, no `likewise tune` needed
    assert again.head_reapplied and fresh.stale_reason("tuned") is None
    np.testing.assert_allclose(fresh.vectors("tuned").vectors, fresh.head().transform(fresh.vectors("raw").vectors),
                               atol=1e-6)
    # another encoder: the head does not fit, the tuned vectors are stale until `likewise tune`
    other = embed_into_workspace(fresh, edited, HashingEncoder(dim=64), source={"path": "bbc"})
    assert not other.head_reapplied
    assert "records or the encoder changed" in Workspace.open(ws.path).stale_reason("tuned")
    with pytest.raises(InputError, match="stale"):
        export_vectors(Workspace.open(ws.path), ws.path / "t.parquet")


def test_cli_tune_auto_reports_every_candidate_and_saves_them_in_the_card(ws):
    """`likewise tune` (auto): every candidate's validation score printed and in the model card and tuner.json;
    the chosen one applied; hashing vectors cannot be fine-tuned, so no encoder candidate."""
    runner = CliRunner()
    out = runner.invoke(cli, ["tune", "-w", str(ws.path), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    scores = result["selection"]["scores"]
    assert set(scores) == {"identity", "centroids", "lda", "lda_shrinkage", "head", "reference"}
    assert result["method"] == result["selection"]["chosen"] != "identity"
    best = max(scores, key=lambda n: scores[n]["mean"])
    assert scores[result["method"]]["mean"] == scores[best]["mean"] > scores["identity"]["mean"]
    folder = Workspace.open(ws.path).artifact_path("head", "head")
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## How the method was chosen" in card and all(f"| {n} |" in card for n in scores)
    saved = json.loads((folder / "tuner.json").read_text(encoding="utf-8"))
    assert saved["method"] == result["method"] and saved["selection"]["scores"].keys() == scores.keys()
    table = runner.invoke(cli, ["tune", "-w", str(ws.path), "--time-budget", "60"])
    assert table.exit_code == 0, table.output
    assert json.loads(table.stdout)["selection"]["chosen"] in scores  # piped: JSON, with the same report


def test_auto_keeps_the_identity_when_nothing_beats_it(tmp_path):
    """Vectors whose neighbours are already all of the query's class: no map can do better, so auto keeps
    the untouched vectors (a tie goes to the identity) and says so."""
    from likewise.tuning import Tuner

    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat(["a", "b", "c"], 40))
    centres = {"a": np.eye(16)[0], "b": np.eye(16)[1], "c": np.eye(16)[2]}
    X = (np.stack([centres[c] for c in y]) + 0.01 * rng.normal(size=(120, 16))).astype(np.float32)
    tuner = Tuner(method="auto", k=10, epochs=5, patience=2).fit(X, y)
    assert tuner.method_ == "identity" and tuner.kept_identity_
    assert "identity is kept" in tuner.message_
    np.testing.assert_allclose(tuner.transform(X), X / np.linalg.norm(X, axis=1, keepdims=True), atol=1e-5)


def test_explicit_method_and_time_budget(ws):
    result = tune_workspace(ws, tuner_options={"method": "lda_shrinkage"})
    assert result.method == "lda_shrinkage" and result.selection is None
    tuned = Workspace.open(ws.path).vectors("tuned").vectors
    assert tuned.shape[1] == 4  # C - 1 dims for 5 classes
    quick = tune_workspace(ws, tuner_options={"method": "auto", **FAST}, time_budget=1e-9)
    skipped = [n for n, s in quick.selection["scores"].items() if "skipped" in s]
    assert skipped and "time budget" in quick.selection["scores"][skipped[0]]["skipped"]
