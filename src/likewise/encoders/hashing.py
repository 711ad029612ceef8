"""Hashed bag-of-words vectors: no model weights, deterministic and fast.

A baseline to compare pretrained models against (``--model hashing``) and the encoder most tests use.
Each lower-cased word (and word bigram) adds a signed one to a bucket picked by a stable hash.
"""
from __future__ import annotations

import re

import numpy as np
import xxhash

from likewise.encoders.base import Encoder

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEncoder(Encoder):
    """``dim`` buckets of signed word and bigram counts (the hashing trick)."""

    def __init__(self, dim: int = 256, *, bigrams: bool = True, max_tokens: int | None = 512) -> None:
        self.dim = dim
        self.bigrams = bigrams
        self.max_tokens = max_tokens
        self.batch_size = 256
        self.identity = f"hashing:{dim}:{int(bigrams)}:{max_tokens}"

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        counts = []
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            counts.append(len(words))
            if self.max_tokens:
                words = words[: self.max_tokens]
            terms = words + ([a + " " + b for a, b in zip(words, words[1:])] if self.bigrams else [])
            for term in terms or ["<empty>"]:
                h = xxhash.xxh64_intdigest(term.encode("utf-8", "surrogatepass"))
                out[row, h % self.dim] += 1.0 if (h >> 63) else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        self.count_truncated(counts)
        return out
