"""Class-balanced batches: ``m`` records of each of several classes per batch, seeded.

Similarity losses learn from pairs inside a batch, so every batch must hold positives (at least 2 records
of a class) and negatives (at least 2 classes). Random batches of a small or imbalanced label set often hold
neither; this sampler builds each batch from ``batch_size // m`` classes with ``m`` records each.
``m=None`` (the default) spreads the batch evenly over the classes: ``m = max(2, batch_size // n_classes)``,
so 5 classes and ``batch_size=128`` give 25 records per class per batch.

How an epoch is drawn (deterministic for a seed):

* Each class keeps its own shuffled queue of its records and refills it (reshuffled) when it runs out, so
  every record is seen about equally often and a small class simply repeats across batches.
* Within a batch a class contributes ``min(m, class size)`` distinct records: a record never appears twice
  in one batch (it would be its own positive at distance 0).
* Classes are picked for a batch in proportion to their size (without replacement within the batch), so an
  epoch visits each class in proportion to its share and rare classes still appear; when a batch has room
  for every class, every class is in it.
* An epoch has ``ceil(n_records / batch_size)`` batches, at least 1. Tiny budgets work: 25 records in 5
  classes with ``batch_size=128`` give one batch of all 25 records per epoch.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from likewise.errors import InputError


class ClassBalancedSampler:
    """Yields batches (int64 arrays of row positions) for one epoch at a time: ``for batch in sampler``."""

    def __init__(self, labels: np.ndarray, *, batch_size: int = 128, m: int | None = None, seed: int = 0) -> None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) == 0:
            raise InputError(f"the sampler needs a non-empty 1-D array of labels, got shape {labels.shape}")
        if batch_size < 2:
            raise InputError(f"batch_size must be at least 2, got {batch_size}")
        if m is not None and m < 2:
            raise InputError(f"m (records per class per batch) must be at least 2, got {m}")
        self.batch_size = int(batch_size)
        classes, inverse = np.unique(labels, return_inverse=True)
        self.m = int(m) if m is not None else max(2, self.batch_size // len(classes))
        self.members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
        self.n_records = len(labels)
        self.rng = np.random.default_rng(seed)
        self._queues: list[deque[int]] = [deque() for _ in self.members]

    def __len__(self) -> int:
        """Batches per epoch."""
        return max(1, -(-self.n_records // self.batch_size))

    def _take(self, c: int, count: int) -> list[int]:
        """``count`` distinct records of class ``c`` from its queue, refilling it when it runs out."""
        queue = self._queues[c]
        out: list[int] = []
        while len(out) < count:
            if not queue:
                fresh = self.rng.permutation(self.members[c]).tolist()
                taken = set(out)  # keep the batch free of repeats across a refill
                queue.extend([r for r in fresh if r not in taken] + [r for r in fresh if r in taken])
            out.append(queue.popleft())
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        sizes = np.array([len(m) for m in self.members], dtype=float)
        n_classes = len(self.members)
        per_class = [min(self.m, len(m)) for m in self.members]
        for _ in range(len(self)):
            if sum(per_class) <= self.batch_size:
                chosen = np.arange(n_classes)
            else:
                slots = max(2, self.batch_size // self.m)
                chosen = self.rng.choice(n_classes, size=min(slots, n_classes), replace=False, p=sizes / sizes.sum())
            batch: list[int] = []
            for c in chosen:
                batch.extend(self._take(int(c), per_class[c]))
            yield self.rng.permutation(np.asarray(batch, dtype=np.int64))


class EpochBatchSampler:
    """:class:`ClassBalancedSampler` as a PyTorch batch sampler (lists of dataset positions) for trainers that
    iterate ``for batch in sampler`` once per epoch and call ``set_epoch`` (sentence-transformers' trainer).

    Replaces label-grouped samplers that chunk a stream of records into batches, which can leave a batch
    with one class only (no negatives) or a class with one record (no positive): every batch here holds at
    least 2 classes with at least 2 records each, as long as every class has 2 records. Epoch ``e`` draws
    from seed ``seed + e``, so a run is reproducible whatever the trainer's own generator does.
    """

    def __init__(self, labels: np.ndarray, *, batch_size: int, m: int | None = None, seed: int = 0) -> None:
        self.labels = np.asarray(labels)
        self.batch_size = int(batch_size)
        self.m = m
        self.seed = int(seed)
        self.epoch = 0
        ClassBalancedSampler(self.labels, batch_size=self.batch_size, m=m, seed=seed)  # validate now

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return max(1, -(-len(self.labels) // self.batch_size))

    def __iter__(self) -> Iterator[list[int]]:
        sampler = ClassBalancedSampler(self.labels, batch_size=self.batch_size, m=self.m, seed=self.seed + self.epoch)
        for batch in sampler:
            yield batch.tolist()
