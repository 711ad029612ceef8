"""Records to vectors through the cache: encode only what the cache does not hold, in bounded chunks."""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from likewise.cache import EmbeddingCache, normalize_text, text_keys
from likewise.encoders.base import Encoder
from likewise.progress import Progress, no_progress

#: records per chunk: bounds the memory of one encode + cache write, and what an interruption can lose
CHUNK_SIZE = 4096


class ChunkEncoder(Protocol):
    """Where the cache misses are encoded: ``encode_chunks(encoder, chunks, progress)`` yields one float32,
    L2-normalised array per chunk of texts, in chunk order (an empty chunk gives an empty array), and reports
    ``progress(texts encoded so far, None, description)``. :func:`encode_locally` is the default;
    :class:`likewise.ray_embed.RayEncoding` runs them as a Ray Data job."""

    def __call__(self, encoder: Encoder, chunks: Iterable[list[str]], progress: Progress) -> Iterator[np.ndarray]: ...


def encode_locally(encoder: Encoder, chunks: Iterable[list[str]], progress: Progress = no_progress) -> Iterator[np.ndarray]:
    """Each chunk through ``encoder.embed`` in this process, one after the other: the next chunk is asked for
    (and looked up in the cache) only once this one's vectors are written."""
    done = 0
    for texts in chunks:
        def chunk_progress(n: int, total: int | None, description: str, base: int = done) -> None:
            progress(base + n, None, description)

        yield encoder.embed(texts, progress=chunk_progress) if texts else np.empty((0, encoder.dim), np.float32)
        done += len(texts)


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
    encode_chunks: ChunkEncoder = encode_locally,
) -> tuple[np.ndarray, EmbedStats]:
    """Vectors (n, dim) float32, L2-normalised, in record order, with what was cached and what was encoded.

    Texts are normalised (:func:`likewise.cache.normalize_text`) before hashing and encoding; identical texts
    are encoded once. Each chunk's distinct cache misses go to ``encode_chunks`` (:class:`ChunkEncoder`; in
    this process by default) and its new vectors are written to the cache as soon as that chunk is done, so an
    interrupted run keeps what it finished. Encoders that are not cacheable (user vectors) always run here.
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
    hits = encoded = duplicates = written = 0  # written: cache-miss records whose vectors are in ``out``
    # per chunk handed to encode_chunks, until its vectors come back: (first row, keys of its distinct
    # misses, its missing rows, each missing row's position among the distinct ones, rows to copy from
    # earlier chunks' rows once those are written)
    pending: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]] = deque()
    # distinct texts handed out and not yet written to the cache -> their first row: a runner that asks for
    # later chunks before earlier ones are written (Ray) still encodes a text once, as a local run does
    handed: dict[bytes, int] = {}

    def chunks_to_encode() -> Iterator[list[str]]:
        nonlocal hits
        for lo in range(0, n, chunk_size):
            chunk = [normalize_text(t) for t in texts[lo : lo + chunk_size]]
            keys = text_keys(chunk)
            found, cached = cache.lookup(encoder.identity, keys)
            if found.any():
                out[lo : lo + len(chunk)][found] = cached
            missing = np.flatnonzero(~found)
            earlier = np.array([handed.get(keys[i].tobytes(), -1) for i in missing], dtype=np.int64)
            copies = (lo + missing[earlier >= 0], earlier[earlier >= 0])
            missing = missing[earlier < 0]
            hits += int(found.sum()) + len(copies[0])  # a local run finds those in the cache
            # encode each distinct missing text once
            _, first, inverse = np.unique(keys[missing], axis=0, return_index=True, return_inverse=True)
            unique_rows = missing[first]
            handed.update((keys[i].tobytes(), lo + i) for i in unique_rows)
            pending.append((lo, keys[unique_rows], missing, inverse.reshape(-1), copies))
            yield [chunk[i] for i in unique_rows]

    def encode_progress(done: int, total: int | None, description: str) -> None:
        progress(min(hits + written + done - encoded, n), n, description)

    for fresh in encode_chunks(encoder, chunks_to_encode(), encode_progress):
        lo, unique_keys, missing, inverse, (copy_to, copy_from) = pending.popleft()
        if len(unique_keys):
            cache.add(encoder.identity, unique_keys, fresh)
            out[lo : lo + chunk_size][missing] = fresh[inverse]
            for key in unique_keys:
                handed.pop(key.tobytes(), None)
        out[copy_to] = out[copy_from]  # earlier chunks are written before this one
        encoded += len(unique_keys)
        duplicates += len(missing) - len(unique_keys)
        written += len(missing)
        progress(min(hits + written, n), n, "encoding")
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
