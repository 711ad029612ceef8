from __future__ import annotations

import numpy as np
import pytest

from likewise.encoders import get_encoder

TEXTS = [
    "The central bank raised interest rates again to fight inflation.",
    "The striker scored twice in the second half to win the cup final.",
    "Parliament voted on the budget late on Tuesday night.",
    "The goalkeeper saved a penalty in the last minute of the match.",
    "",
    "word " * 2000,
]


@pytest.mark.slow
def test_static_encoder_is_distilled_once_and_means_something(static_encoder, static_cache, monkeypatch):
    seen: list[str] = []
    vectors = static_encoder.embed(TEXTS, progress=lambda d, t, s: seen.append(s))
    assert vectors.shape == (len(TEXTS), 256) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[1, 3] > sims[1, 0] and sims[1, 3] > sims[1, 2]  # sport with sport
    assert (static_encoder.model_path / "model.safetensors").exists()
    # a second encoder loads the built model: no "preparing" step, the same vectors, the same identity
    again = get_encoder("static")
    seen_again: list[str] = []
    np.testing.assert_allclose(again.embed(TEXTS, progress=lambda d, t, s: seen_again.append(s)), vectors, atol=1e-6)
    assert not any("preparing" in s for s in seen_again)
    assert again.identity == static_encoder.identity
    # its own cache identity, never the transformer's
    assert static_encoder.identity.startswith("static:") and "pca256" in static_encoder.identity
    assert get_encoder("hashing").identity != static_encoder.identity


@pytest.mark.slow
def test_static_encoder_order_independent_and_batched(static_encoder):
    static_encoder.batch_size = 2
    a = static_encoder.embed(TEXTS)
    b = static_encoder.embed(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_static_vectors_tune_like_any_encoder(static_encoder):
    """A head trained on static vectors pulls same-class texts together on held-out data."""
    from likewise.datasets import load_dataset
    from likewise.metrics import evaluate
    from likewise.tuning import Tuner

    data = load_dataset("bbc_news")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(data))[:800]
    vectors = static_encoder.embed([data.texts[i] for i in idx])
    labels = np.asarray([data.labels[i] for i in idx], dtype=object)
    train, test = slice(0, 400), slice(400, 800)
    tuner = Tuner(seed=0).fit(vectors[train], labels[train])
    raw = evaluate(vectors[test], labels[test], k=50)["top_k"]
    tuned = evaluate(tuner.transform(vectors[test]), labels[test], k=50)["top_k"]
    assert tuned > raw


def test_static_missing_extra_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_model2vec(name, *args, **kwargs):
        if name.startswith("model2vec"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_model2vec)
    from likewise.errors import InputError

    with pytest.raises(InputError, match=r"likewise\[static\]"):
        get_encoder("static")


def test_misspelt_model_suggests_the_name():
    from likewise.errors import InputError

    with pytest.raises(InputError, match="did you mean 'static'"):
        get_encoder("statc")
