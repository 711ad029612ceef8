"""Records to vectors through the cache: encode only what the cache does not hold, in bounded chunks."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from likewise.cache import EmbeddingCache, normalize_text, text_keys
from likewise.encoders.base import Encoder
from likewise.progress import Progress, no_progress

#: records per chunk: bounds the memory of one encode + cache write, and what an interruption can lose
CHUNK_SIZE = 4096


@dataclass
class EmbedStats:
    """What one embedding run did. ``cache_hits + encoded + duplicates == records`` for cacheable encoders."""

    encoder: str
    records: int
    cache_hits: int
    encoded: int
    duplicates: int
    truncated_to_window: int
    seconds: float
    ignored_cache_shards: int = 0

    @property
    def hit_rate(self) -> float:
        return self.cache_hits / self.records if self.records else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "hit_rate": round(self.hit_rate, 4)}


def embed_records(
    encoder: Encoder,
    ids: Sequence[str],
    texts: Sequence[str],
    cache: EmbeddingCache | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress = no_progress,
) -> tuple[np.ndarray, EmbedStats]:
    """Vectors (n, dim) float32, L2-normalised, in record order, with what was cached and what was encoded.

    Texts are normalised (:func:`likewise.cache.normalize_text`) before hashing and encoding; identical texts
    are encoded once. Each chunk's new vectors are written to the cache before the next chunk starts, so an
    interrupted run keeps what it finished.
    """
    start = time.perf_counter()
    n = len(texts)
    truncated_before = encoder.truncated
    if cache is None or not encoder.cacheable:
        vectors = encoder.embed_records(list(ids), [normalize_text(t) for t in texts], progress=progress)
        stats = EmbedStats(encoder.identity, n, 0, n, 0, encoder.truncated - truncated_before,
                           time.perf_counter() - start)
        return vectors, stats
    out = np.empty((n, encoder.dim), dtype=np.float32)
    hits = encoded = duplicates = 0
    for lo in range(0, n, chunk_size):
        chunk = [normalize_text(t) for t in texts[lo : lo + chunk_size]]
        keys = text_keys(chunk)
        found, cached = cache.lookup(encoder.identity, keys)
        if found.any():
            out[lo : lo + len(chunk)][found] = cached
        hits += int(found.sum())
        missing = np.flatnonzero(~found)
        if len(missing):
            # encode each distinct missing text once
            _, first, inverse = np.unique(keys[missing], axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            unique_rows = missing[first]
            done_before = lo + int(found.sum())

            def chunk_progress(done: int, total: int | None, description: str) -> None:
                progress(min(done_before + done, n), n, description)

            fresh = encoder.embed([chunk[i] for i in unique_rows], progress=chunk_progress)
            cache.add(encoder.identity, keys[unique_rows], fresh)
            out[lo : lo + len(chunk)][missing] = fresh[inverse]
            encoded += len(unique_rows)
            duplicates += len(missing) - len(unique_rows)
        progress(min(lo + len(chunk), n), n, "encoding")
    stats = EmbedStats(
        encoder=encoder.identity,
        records=n,
        cache_hits=hits,
        encoded=encoded,
        duplicates=duplicates,
        truncated_to_window=encoder.truncated - truncated_before,
        seconds=time.perf_counter() - start,
        ignored_cache_shards=cache.ignored_shards(encoder.identity),
    )
    return out, stats
