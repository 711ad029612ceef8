"""The encoder extension point: implement ``embed_batch``; batching, ordering and validation live here."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from likewise.errors import InputError
from likewise.progress import Progress, no_progress


class Encoder(ABC):
    """Turns texts into float32, L2-normalised vectors.

    Subclasses implement :meth:`embed_batch` and set ``identity`` (a string that changes whenever the vectors
    would change: model weights, pooling, window) and ``dim``. :meth:`embed` sorts texts by length so each batch
    pads little, calls ``embed_batch`` per batch, checks the result and normalises it.
    """

    #: stable identity of the vectors this encoder produces (cache key part)
    identity: str = ""
    #: output dimension
    dim: int = 0
    #: the model's token window, or None when it has none (texts past it are truncated by the model)
    max_tokens: int | None = None
    #: texts per batch in :meth:`embed`
    batch_size: int = 32
    #: how to rebuild this encoder with :func:`likewise.encoders.get_encoder` (None: it cannot be rebuilt)
    spec: dict | None = None

    #: texts cut at the token window since this encoder was made (see :meth:`count_truncated`)
    truncated: int = 0

    def count_truncated(self, token_counts: list[int]) -> None:
        """Called by subclasses with each batch's token counts: counts texts that filled the whole window."""
        if self.max_tokens:
            self.truncated += sum(1 for n in token_counts if n >= self.max_tokens)

    def prepare(self, progress: Progress = no_progress) -> None:
        """One-time work before the first batch (exporting a graph, distilling a model), reported through
        ``progress``; the default has none. :meth:`embed` calls it."""

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for ``texts``, shape (len(texts), dim); need not be normalised."""

    def embed(self, texts: Sequence[str], *, progress: Progress = no_progress) -> np.ndarray:
        """Vectors for all ``texts`` in input order: float32, rows L2-normalised."""
        texts = list(texts)
        if texts:
            self.prepare(progress)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        done = 0
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            vectors = np.asarray(self.embed_batch([texts[i] for i in idx]), dtype=np.float32)
            if vectors.shape != (len(idx), self.dim):
                raise InputError(
                    f"encoder {self.identity} returned shape {vectors.shape}, expected {(len(idx), self.dim)}"
                )
            out[idx] = vectors
            done += len(idx)
            progress(done, len(texts), "encoding")
        return check_and_normalize(out, source=f"encoder {self.identity}")

    def embed_records(
        self, ids: Sequence[str], texts: Sequence[str], *, progress: Progress = no_progress
    ) -> np.ndarray:
        """Vectors for records; encoders that look vectors up by record id (user vectors) override this."""
        return self.embed(texts, progress=progress)

    @property
    def cacheable(self) -> bool:
        """Whether vectors depend only on the text (and so may be cached by text hash)."""
        return True


def check_and_normalize(vectors: np.ndarray, *, source: str) -> np.ndarray:
    """:func:`likewise.neighbors.check_vectors` (2-D, real, finite), then refuse all-zero rows and return
    float32 rows scaled to unit length."""
    from likewise.neighbors import check_vectors

    vectors = check_vectors(vectors, source)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    zero = norms[:, 0] == 0
    if zero.any():
        rows = np.flatnonzero(zero)[:5].tolist()
        raise InputError(f"{source}: {int(zero.sum())} vectors are all zeros (rows {rows}); cosine is undefined")
    return vectors / norms
