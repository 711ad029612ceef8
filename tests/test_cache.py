from __future__ import annotations

import numpy as np
import pytest

from likewise.cache import EmbeddingCache, normalize_text, text_keys
from likewise.embedding import embed_records


class CountingEncoder:
    """Wraps an encoder and records which texts reached the model."""

    def __init__(self, inner):
        self.inner = inner
        self.seen: list[str] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def embed(self, texts, progress=None, **kw):
        self.seen.extend(texts)
        return self.inner.embed(texts)


def _texts(n: int) -> list[str]:
    words = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma", "tau"]
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, size=6)) + f" r{i}" for i in range(n)]


def test_normalize_text_collapses_whitespace_and_nfc():
    assert normalize_text("  caf\u0065\u0301 \n\t bar ") == "caf\u00e9 bar"
    keys = text_keys(["a", "a", "b"])
    assert keys.shape == (3, 16) and keys.dtype == np.uint8
    assert (keys[0] == keys[1]).all() and not (keys[0] == keys[2]).all()


def test_rerun_encodes_nothing_and_edits_encode_only_edits(tmp_path, hashing_encoder):
    texts = _texts(300)
    ids = [str(i) for i in range(300)]
    cache = EmbeddingCache(tmp_path / "cache")
    enc = CountingEncoder(hashing_encoder)
    first, s1 = embed_records(enc, ids, texts, cache, chunk_size=128)
    assert s1.encoded == 300 and s1.cache_hits == 0
    enc.seen.clear()
    again, s2 = embed_records(enc, ids, texts, EmbeddingCache(tmp_path / "cache"), chunk_size=128)
    assert s2.cache_hits == 300 and s2.encoded == 0 and enc.seen == []
    np.testing.assert_array_equal(first, again)
    edited = list(texts)
    for i in range(0, 100, 10):
        edited[i] = edited[i] + " edited"
    third, s3 = embed_records(enc, ids, edited, EmbeddingCache(tmp_path / "cache"), chunk_size=128)
    assert s3.encoded == 10 and s3.cache_hits == 290
    assert sorted(enc.seen) == sorted(normalize_text(edited[i]) for i in range(0, 100, 10))
    np.testing.assert_allclose(third, hashing_encoder.embed([normalize_text(t) for t in edited]), atol=1e-6)


def test_other_encoder_never_gets_stale_vectors(tmp_path):
    from likewise.encoders import HashingEncoder

    texts = _texts(50)
    ids = [str(i) for i in range(50)]
    cache = EmbeddingCache(tmp_path)
    a, _ = embed_records(HashingEncoder(dim=32), ids, texts, cache)
    b, stats = embed_records(HashingEncoder(dim=32, bigrams=False), ids, texts, cache)
    assert stats.cache_hits == 0 and stats.encoded == 50
    assert not np.allclose(a, b)


def test_duplicate_texts_encoded_once(tmp_path, hashing_encoder):
    texts = ["same text"] * 5 + ["other"]
    vectors, stats = embed_records(hashing_encoder, list("abcdef"), texts, EmbeddingCache(tmp_path))
    assert stats.encoded == 2 and stats.duplicates == 4
    assert np.allclose(vectors[0], vectors[4])


def test_corrupt_or_partial_shard_is_ignored_not_trusted(tmp_path, hashing_encoder):
    texts = _texts(40)
    ids = [str(i) for i in range(40)]
    embed_records(hashing_encoder, ids, texts, EmbeddingCache(tmp_path), chunk_size=20)
    shards = sorted(tmp_path.rglob("shard-*.safetensors"))
    assert len(shards) == 2
    data = shards[0].read_bytes()
    shards[0].write_bytes(data[: len(data) // 2])  # an interrupted write that was never renamed would look like this
    (shards[0].parent / ".tmp-leftover.tmp").write_bytes(b"garbage")
    vectors, stats = embed_records(hashing_encoder, ids, texts, EmbeddingCache(tmp_path), chunk_size=20)
    assert stats.ignored_cache_shards == 1
    assert stats.cache_hits == 20 and stats.encoded == 20
    np.testing.assert_allclose(vectors, hashing_encoder.embed([normalize_text(t) for t in texts]), atol=1e-6)


def test_compaction_keeps_every_vector(tmp_path, hashing_encoder):
    cache = EmbeddingCache(tmp_path)
    texts = _texts(100)
    for lo in range(0, 100, 10):
        chunk = [normalize_text(t) for t in texts[lo : lo + 10]]
        cache.add(hashing_encoder.identity, text_keys(chunk), hashing_encoder.embed(chunk))
    cache.compact(hashing_encoder.identity)
    assert len(list(tmp_path.rglob("shard-*.safetensors"))) == 1
    fresh = EmbeddingCache(tmp_path)
    found, vectors = fresh.lookup(hashing_encoder.identity, text_keys([normalize_text(t) for t in texts]))
    assert found.all()
    np.testing.assert_allclose(vectors, hashing_encoder.embed([normalize_text(t) for t in texts]), atol=1e-6)


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_inputs(tmp_path, hashing_encoder, n):
    vectors, stats = embed_records(hashing_encoder, [str(i) for i in range(n)], _texts(n), EmbeddingCache(tmp_path))
    assert vectors.shape == (n, hashing_encoder.dim) and stats.records == n


def test_lookup_is_exact_on_all_128_bits(tmp_path):
    cache = EmbeddingCache(tmp_path)
    stored = np.arange(32, dtype=np.uint8).reshape(2, 16)
    cache.add("enc", stored, np.eye(2, 3, dtype=np.float32))
    probe = stored.copy()
    probe[0, 15] ^= 1  # same first 64 bits, different last 64
    found, vectors = EmbeddingCache(tmp_path).lookup("enc", probe)
    assert found.tolist() == [False, True]
    np.testing.assert_array_equal(vectors, [[0, 1, 0]])
