from __future__ import annotations

import numpy as np
import pytest

from likewise.cache import EmbeddingCache, normalize_text, shard_checksum, text_keys
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


def _bbc_sentences(n: int) -> list[str]:
    """n distinct normalised sentences of the bundled BBC News articles."""
    from likewise.datasets import load_dataset

    seen: dict[str, None] = {}
    for text in load_dataset("bbc_news").texts:
        for sentence in text.split(". "):
            seen.setdefault(normalize_text(sentence), None)
            if len(seen) == n:
                return list(seen)
    raise AssertionError("not enough BBC sentences")


def test_shards_are_plain_safetensors_with_their_checksum(tmp_path, hashing_encoder):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    texts = _bbc_sentences(300)
    cache = EmbeddingCache(tmp_path)
    cache.add(hashing_encoder.identity, text_keys(texts[:200]), hashing_encoder.embed(texts[:200]))
    (shard,) = tmp_path.rglob("shard-*.safetensors")
    data = load_file(shard)  # the reference reader accepts what the cache writes
    with safe_open(shard, framework="numpy") as f:
        assert f.metadata()["sha256"] == shard_checksum(data["keys"], data["vectors"])
    np.testing.assert_array_equal(data["vectors"], hashing_encoder.embed(texts[:200]))
    # a shard written by safetensors itself (as older likewise versions did) is read too
    keys, vectors = text_keys(texts[200:]), hashing_encoder.embed(texts[200:])
    save_file({"keys": keys, "vectors": vectors}, shard.parent / "shard-old.safetensors",
              metadata={"identity": hashing_encoder.identity, "sha256": shard_checksum(keys, vectors)})
    found, got = EmbeddingCache(tmp_path).lookup(hashing_encoder.identity, text_keys(texts))
    assert found.all()
    np.testing.assert_array_equal(got, hashing_encoder.embed(texts))


def test_a_flipped_byte_in_the_vectors_makes_the_shard_ignored(tmp_path, hashing_encoder):
    texts = _bbc_sentences(50)
    EmbeddingCache(tmp_path).add(hashing_encoder.identity, text_keys(texts), hashing_encoder.embed(texts))
    (shard,) = tmp_path.rglob("shard-*.safetensors")
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0x40  # inside the last vector: the file still parses, only the checksum can tell
    shard.write_bytes(bytes(data))
    fresh = EmbeddingCache(tmp_path)
    found, _ = fresh.lookup(hashing_encoder.identity, text_keys(texts))
    assert not found.any() and fresh.ignored_shards(hashing_encoder.identity) == 1


def test_vectors_stay_on_disk_and_shards_merge_by_size_tier(tmp_path, hashing_encoder):
    import tracemalloc

    from likewise.cache import COMPACT_FANOUT

    texts = _bbc_sentences(3000)
    vectors = hashing_encoder.embed(texts)
    keys = text_keys(texts)
    cache = EmbeddingCache(tmp_path)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for lo in range(0, len(texts), 50):
        cache.add(hashing_encoder.identity, keys[lo : lo + 50], vectors[lo : lo + 50])
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # 60 shards were written; what the cache holds is keys and file handles, not the 768 KB of vectors
    assert held < vectors.nbytes / 4, held
    shards = list(tmp_path.rglob("shard-*.safetensors"))
    assert len(shards) < 2 * COMPACT_FANOUT
    assert cache.count(hashing_encoder.identity) == len(texts)
    for probe in (cache, EmbeddingCache(tmp_path)):
        found, got = probe.lookup(hashing_encoder.identity, keys[::-1])
        assert found.all()
        np.testing.assert_array_equal(got, vectors[::-1])
    # adding what is cached writes nothing
    cache.add(hashing_encoder.identity, keys[:100], vectors[:100])
    assert len(list(tmp_path.rglob("shard-*.safetensors"))) == len(shards)


def test_a_shard_compacted_away_by_another_cache_stays_readable(tmp_path, hashing_encoder):
    texts = _bbc_sentences(400)
    keys, vectors = text_keys(texts), hashing_encoder.embed(texts)
    first = EmbeddingCache(tmp_path)
    for lo in range(0, 400, 100):
        first.add(hashing_encoder.identity, keys[lo : lo + 100], vectors[lo : lo + 100])
    other = EmbeddingCache(tmp_path)
    other.compact(hashing_encoder.identity)  # deletes the four shards `first` has open
    assert len(list(tmp_path.rglob("shard-*.safetensors"))) == 1
    found, got = first.lookup(hashing_encoder.identity, keys)
    assert found.all()
    np.testing.assert_array_equal(got, vectors)
    first.compact(hashing_encoder.identity)  # merges the unlinked files it holds: nothing is lost
    found, got = EmbeddingCache(tmp_path).lookup(hashing_encoder.identity, keys)
    assert found.all()
    np.testing.assert_array_equal(got, vectors)


_WRITER = """
import sys
import numpy as np
from likewise.cache import EmbeddingCache, text_keys
from likewise.encoders import HashingEncoder
folder, lo, hi, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
texts = open(path, encoding="utf-8").read().split("\\n")[lo:hi]
enc = HashingEncoder(dim=64)
cache = EmbeddingCache(folder)
for start in range(0, len(texts), 40):
    part = texts[start:start + 40]
    cache.add(enc.identity, text_keys(part), enc.embed(part))
cache.compact(enc.identity)
"""


def test_concurrent_writer_processes_lose_nothing(tmp_path, hashing_encoder):
    import subprocess
    import sys

    texts = _bbc_sentences(2400)
    listing = tmp_path / "texts.txt"
    listing.write_text("\n".join(texts), encoding="utf-8")
    folder = tmp_path / "cache"
    # three processes at once, overlapping ranges: each writes, merges by tier and compacts what it holds
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), str(lo), str(lo + 1000), str(listing)])
             for lo in (0, 700, 1400)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    cache = EmbeddingCache(folder)
    found, got = cache.lookup(hashing_encoder.identity, text_keys(texts))
    assert found.all() and cache.ignored_shards(hashing_encoder.identity) == 0
    np.testing.assert_array_equal(got, hashing_encoder.embed(texts))
    assert cache.count(hashing_encoder.identity) == len(texts)


def test_vectors_of_another_size_are_refused_and_a_mangled_header_is_ignored(tmp_path, hashing_encoder):
    from likewise.errors import InputError

    texts = _bbc_sentences(20)
    cache = EmbeddingCache(tmp_path)
    cache.add("enc", text_keys(texts[:10]), hashing_encoder.embed(texts[:10]))
    with pytest.raises(InputError, match="dimension 64"):
        cache.add("enc", text_keys(texts[10:]), np.ones((10, 32), np.float32))
    (shard,) = tmp_path.rglob("shard-*.safetensors")
    header = b"[1, 2]"  # valid JSON, not a safetensors header
    (shard.parent / "shard-bad.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    fresh = EmbeddingCache(tmp_path)
    found, _ = fresh.lookup("enc", text_keys(texts))
    assert found.tolist() == [True] * 10 + [False] * 10 and fresh.ignored_shards("enc") == 1
