"""Encoder fine-tuning through sentence-transformers' trainer, on a tiny real slice (slow: real model)."""
from __future__ import annotations

import numpy as np
import pytest

from likewise.errors import InputError


@pytest.mark.slow
def test_finetune_saves_a_loadable_model_folder_and_history(tmp_path):
    from likewise.datasets import load_dataset
    from likewise.encoders import SentenceTransformerEncoder
    from likewise.tuning.encoder_finetune import finetune_encoder

    data = load_dataset("rotten_tomatoes")
    rng = np.random.default_rng(0)
    picks = {c: rng.choice([i for i, lab in enumerate(data.labels) if lab == c], 12, replace=False) for c in data.classes}
    train = np.concatenate([p[:8] for p in picks.values()])
    val = np.concatenate([p[8:] for p in picks.values()])
    seen = []
    result = finetune_encoder(
        [data.texts[i] for i in train], [data.labels[i] for i in train], tmp_path / "model",
        epochs=1, batch_size=8, k=3, val_texts=[data.texts[i] for i in val], val_labels=[data.labels[i] for i in val],
        device="cpu", progress=lambda done, total, what: seen.append(done),
    )
    assert [h["epoch"] for h in result.history] == [0, 1]
    assert all(0 <= h["val_top_k"] <= 1 for h in result.history)
    assert result.kept_base == (result.history[1]["val_top_k"] <= result.history[0]["val_top_k"])
    assert seen and (tmp_path / "model" / "model.safetensors").exists()
    encoder = SentenceTransformerEncoder(tmp_path / "model")
    vectors = encoder.embed(["a wonderful film", "a dreadful film"])
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()


def test_finetune_refuses_one_class(tmp_path):
    from likewise.tuning.encoder_finetune import finetune_encoder

    with pytest.raises(InputError, match="one class"):
        finetune_encoder(["a", "b", "c"], ["x", "x", "x"], tmp_path / "m")
