"""Encoder fine-tuning through sentence-transformers' trainer, on a tiny real slice (slow: real model)."""
from __future__ import annotations

import numpy as np
import pytest

from likewise.errors import InputError


def _same_and_other_class_similarity(vectors: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean cosine over pairs of distinct records of the same class, and over pairs of different classes."""
    sims = vectors @ vectors.T
    same = labels[:, None] == labels[None, :]
    distinct = ~np.eye(len(labels), dtype=bool)
    return float(sims[same & distinct].mean()), float(sims[~same].mean())


@pytest.mark.slow
def test_finetune_moves_the_encoder_towards_the_classes(tmp_path, minilm):
    """The saved model is a trained one: its vectors differ from the base model's, and on the training texts
    records of the same class grew more similar, by more than records of different classes did."""
    from likewise.datasets import load_dataset
    from likewise.encoders import SentenceTransformerEncoder
    from likewise.tuning.encoder_finetune import finetune_encoder

    data = load_dataset("rotten_tomatoes")
    rng = np.random.default_rng(0)
    picks = {c: rng.choice([i for i, lab in enumerate(data.labels) if lab == c], 12, replace=False) for c in data.classes}
    train = np.concatenate([p[:8] for p in picks.values()])
    val = np.concatenate([p[8:] for p in picks.values()])
    texts, labels = [data.texts[i] for i in train], np.array([data.labels[i] for i in train], dtype=object)
    seen = []
    result = finetune_encoder(
        texts, list(labels), tmp_path / "model",
        epochs=1, batch_size=8, k=3, val_texts=[data.texts[i] for i in val], val_labels=[data.labels[i] for i in val],
        device="cpu", force=True, progress=lambda done, total, what: seen.append(done),
    )
    assert [h["epoch"] for h in result.history] == [0, 1]
    assert all(0 <= h["val_top_k"] <= 1 for h in result.history)
    assert not result.kept_base  # force: the trained weights are saved whatever validation says
    assert result.config["loss_params"] == {"temperature": 0.2}  # 3 classes: the warmer supcon loss
    assert seen and (tmp_path / "model" / "model.safetensors").exists()
    from safetensors.numpy import load_file

    from likewise.encoders.device import training_precision

    # mixed precision where the CPU has bfloat16 (this machine's does): the saved weights stay float32
    assert result.config["precision"] == training_precision("cpu")
    assert {w.dtype for w in load_file(tmp_path / "model" / "model.safetensors").values()} == {np.dtype("float32")}

    base = minilm.embed(texts)
    tuned = SentenceTransformerEncoder(tmp_path / "model", device="cpu").embed(texts)
    assert tuned.shape == base.shape == (len(texts), 384) and np.isfinite(tuned).all()
    assert np.abs(tuned - base).max() > 1e-2  # not the base model saved under a new name
    same_before, other_before = _same_and_other_class_similarity(base, labels)
    same_after, other_after = _same_and_other_class_similarity(tuned, labels)
    assert same_after > same_before
    assert same_after - other_after > same_before - other_before + 0.01


def test_finetune_refuses_one_class(tmp_path):
    from likewise.tuning.encoder_finetune import finetune_encoder

    with pytest.raises(InputError, match="one class"):
        finetune_encoder(["a", "b", "c"], ["x", "x", "x"], tmp_path / "m")


@pytest.mark.slow
def test_trainer_batches_are_likewise_batches_and_it_prints_nothing(tmp_path, minilm, capfd, monkeypatch):
    """The trainer draws every batch from likewise's sampler (never a single-class batch, even with an
    imbalanced label set), and neither the trainer nor the model card writes to stdout or stderr (no
    ``{'train_runtime': ...}`` dict, no "Computing widget examples" bar): only likewise's progress."""
    from likewise.datasets import load_dataset
    from likewise.tuning import sampler as sampler_module
    from likewise.tuning.encoder_finetune import finetune_encoder

    data = load_dataset("bbc_news")
    rng = np.random.default_rng(1)
    sizes = {"business": 14, "sports": 3, "tech": 2}
    picks = np.concatenate([rng.choice([i for i, lab in enumerate(data.labels) if lab == c], n, replace=False)
                            for c, n in sizes.items()])
    texts, labels = [data.texts[i][:300] for i in picks], [data.labels[i] for i in picks]
    seen: list[list[int]] = []
    original = sampler_module.EpochBatchSampler.__iter__

    def recording(self):
        for batch in original(self):
            seen.append(batch)
            yield batch

    monkeypatch.setattr(sampler_module.EpochBatchSampler, "__iter__", recording)
    capfd.readouterr()
    finetune_encoder(texts, labels, tmp_path / "m", epochs=2, batch_size=8, device="cpu", force=True)
    out, err = capfd.readouterr()
    assert "train_runtime" not in out + err and "Computing widget examples" not in out + err
    assert out == ""
    assert len(seen) >= 2 * 3  # 19 records / 8 per batch, 2 epochs
    y = np.asarray(labels)
    for batch in seen:
        classes, counts = np.unique(y[batch], return_counts=True)
        assert len(classes) >= 2 and counts.min() >= 2


def test_schedule_fits_the_time_budget():
    from likewise.tuning.encoder_finetune import DEFAULT_EPOCHS, DEFAULT_LR, MIN_STEPS, plan_schedule

    assert plan_schedule(200, None) == (DEFAULT_EPOCHS, DEFAULT_LR)
    assert plan_schedule(25, None) == (MIN_STEPS, DEFAULT_LR)  # one batch per epoch: 32 steps need 32 epochs
    assert plan_schedule(100, None, batch_size=16)[0] == max(DEFAULT_EPOCHS, -(-MIN_STEPS // 7))
    assert plan_schedule(200, 10_000) == (DEFAULT_EPOCHS, DEFAULT_LR)
    epochs, lr = plan_schedule(1000, 150)
    assert 1 <= epochs < DEFAULT_EPOCHS and DEFAULT_LR < lr <= 2e-4
    assert plan_schedule(100_000, 10) == (1, 2e-4)
    assert plan_schedule(1000, 150, device="cuda")[0] == DEFAULT_EPOCHS
    # long texts cost more per epoch than short ones, fp32 more than bf16
    short, long = plan_schedule(200, 60, tokens_per_record=32)[0], plan_schedule(200, 60, tokens_per_record=256)[0]
    assert long < short
    assert plan_schedule(200, 60, tokens_per_record=128, precision="bf16")[0] > plan_schedule(
        200, 60, tokens_per_record=128, precision="fp32")[0]


def test_token_estimate_follows_the_texts_and_the_window():
    from likewise.tuning.encoder_finetune import estimate_tokens

    assert estimate_tokens([]) == 0.0
    assert 5 < estimate_tokens(["a short review of a film, not long"]) < 15
    assert estimate_tokens(["word " * 5000]) == 256  # cut at the encoder's window


@pytest.mark.slow
def test_training_stops_mid_epoch_when_the_time_budget_is_spent(tmp_path):
    """A loaded CPU runs far slower than the plan: the budget stops training at a step, not only at an
    epoch's end, and that partial epoch is still validated (so the best-epoch choice sees it)."""
    from likewise.datasets import load_dataset
    from likewise.tuning.encoder_finetune import finetune_encoder

    data = load_dataset("bbc_news")
    rng = np.random.default_rng(2)
    picks = np.concatenate([rng.choice([i for i, lab in enumerate(data.labels) if lab == c], 12, replace=False)
                            for c in data.classes])
    texts, labels = [data.texts[i][:300] for i in picks], [data.labels[i] for i in picks]
    result = finetune_encoder(texts[::2] + texts[1::4], labels[::2] + labels[1::4], tmp_path / "m", epochs=50,
                              lr=5e-5, batch_size=8, k=3, val_texts=texts[3::4], val_labels=labels[3::4],
                              device="cpu", force=True, time_budget=1.0)
    assert result.config["stopped_at_budget"] and result.config["epochs_run"] < 1
    assert [h["epoch"] for h in result.history] == [0, 1]  # the partial epoch, validated


def test_the_supcon_temperature_follows_the_number_of_classes_unless_given(tmp_path):
    from likewise.tuning.encoder_finetune import FEW_CLASSES, finetune_encoder, supcon_temperature

    assert [supcon_temperature(n) for n in (2, FEW_CLASSES, FEW_CLASSES + 1, 24)] == [0.2, 0.2, 0.1, 0.1]
    texts = [f"record {i} about topic {i % 6}" for i in range(24)]
    labels = [f"topic {i % 6}" for i in range(24)]  # 6 classes
    run = {"epochs": 1, "batch_size": 12, "device": "cpu", "force": True, "time_budget": 0.5}
    assert finetune_encoder(texts, labels, tmp_path / "a", **run).config["loss_params"] == {"temperature": 0.1}
    given = finetune_encoder(texts, labels, tmp_path / "b", loss_params={"temperature": 0.3}, **run)
    assert given.config["loss_params"] == {"temperature": 0.3}
    triplet = finetune_encoder(texts, labels, tmp_path / "c", loss="batch_all_triplet", **run)
    assert "temperature" not in triplet.config["loss_params"]


@pytest.mark.slow
def test_length_chunks_give_the_whole_batch_embeddings_and_gradients():
    """Encoding a batch in chunks of similar length, each cut to its own longest text, is exact: the same
    embeddings (in the batch's order) and the same gradients as one pass over the batch padded to its longest."""
    import torch
    from sentence_transformers import SentenceTransformer

    from likewise.datasets import load_dataset
    from likewise.encoders.sentence_transformer import default_model_path
    from likewise.tuning.encoder_finetune import _embed_by_length

    data = load_dataset("rotten_tomatoes")
    rng = np.random.default_rng(3)
    texts = [data.texts[i] for i in rng.choice(len(data.texts), 12, replace=False)]
    texts[4] = data.texts[int(np.argmax([len(t) for t in data.texts[:2000]]))]  # one long text among short ones
    model = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
    model.eval()  # no dropout: both passes must see the same network
    features = model.tokenize(texts)
    lengths = features["attention_mask"].sum(1)
    assert int(lengths.max()) > 3 * int(lengths.float().median())  # most of the padded batch is padding
    probe = torch.randn(384, generator=torch.Generator().manual_seed(0))
    weight = model[0].auto_model.encoder.layer[0].attention.self.query.weight

    whole = model(dict(features))["sentence_embedding"]
    (whole @ probe).sum().backward()
    grad_whole = weight.grad.clone()
    weight.grad = None
    chunked = _embed_by_length(model, dict(features), chunk=3)
    (chunked @ probe).sum().backward()

    assert torch.allclose(chunked, whole, atol=1e-5)
    assert torch.allclose(weight.grad, grad_whole, rtol=1e-3, atol=1e-5)


def test_training_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch):
    import torch

    from likewise.encoders.device import training_precision

    assert training_precision("cpu", "fp32") == "fp32"
    with pytest.raises(InputError, match="unknown precision"):
        training_precision("cpu", "fp16")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert training_precision("cpu") == "fp32"
    with pytest.raises(InputError, match="no native bfloat16"):
        training_precision("cpu", "bf16")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert training_precision("cpu") == "bf16" == training_precision("cpu", "bf16")
    assert training_precision("mps") == "fp32"
