"""A similarity session before and after tuning: one query and its nearest records under each set of vectors.

The query is a held-out record (the head never saw its label); "after" uses the tuned vectors of a head
trained on the training records only, so the example shows what tuning does for records it did not learn.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from likewise.errors import InputError


@dataclass
class Neighbour:
    id: str
    text: str
    label: str | None
    score: float
    hit: bool | None  # same class as the query; None when the neighbour is unlabeled


@dataclass
class SessionExample:
    """The query, its ``k`` nearest before and after tuning, and hits@k averaged over every held-out query."""

    query_id: str
    query_text: str
    query_label: str | None
    query_role: str
    k: int
    before: list[Neighbour]
    after: list[Neighbour]
    mean_hits_before: float | None
    mean_hits_after: float | None
    held_out_queries: int

    def hits(self, which: str) -> int:
        return self.counts(which)["same_class"]

    def counts(self, which: str) -> dict[str, Any]:
        """Same-class neighbours among the labeled ones, as ``likewise session compare`` counts them."""
        from likewise.ops.search import same_class_counts

        rows = self.before if which == "before" else self.after
        return same_class_counts([n.label for n in rows], self.query_label)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _neighbours(vectors: np.ndarray, q: int, k: int, ids, texts, labels, query_label) -> list[Neighbour]:
    from likewise.neighbors import topk

    idx, scores = topk(vectors[q : q + 1], k + 1, vectors)
    out = []
    for j, s in zip(idx[0], scores[0]):
        if j == q or len(out) == k:
            continue
        label = labels[j]
        out.append(Neighbour(str(ids[j]), texts[j], label, float(s), None if label is None else label == query_label))
    return out


def session_example(ids, texts, labels, raw: np.ndarray, heldout, *, k: int = 10, query_id: str | None = None,
                    seed: int = 0) -> SessionExample:
    """``k`` nearest of one query among all records, by raw and by held-out tuned vectors.

    ``heldout``: a :class:`likewise.evaluation.HeldOut` with tuned vectors. The query is ``query_id`` or a
    held-out record drawn by ``seed``. Also reports, over every held-out record as a query among the held-out
    records, the mean share of its ``k`` nearest that share its class (``top_k`` of :mod:`likewise.metrics`).
    """
    from likewise.metrics import evaluate

    if heldout.tuned is None:
        raise InputError("the similarity example needs tuned vectors; run `likewise tune` first")
    labels = [None if lab is None else str(lab) for lab in labels]
    test = heldout.test_records
    if query_id is not None:
        where = {str(i): n for n, i in enumerate(ids)}
        if str(query_id) not in where:
            raise InputError(f"no record with id {query_id!r} in the workspace; pass an id from your data")
        q = where[str(query_id)]
    else:
        q = int(np.random.default_rng(seed).choice(test))
    role = "held-out" if q in set(test.tolist()) else ("training" if q in set(heldout.train_records.tolist()) else "unlabeled")
    from likewise.neighbors import normalize

    before = _neighbours(normalize(raw), q, k, ids, texts, labels, labels[q])
    after = _neighbours(normalize(heldout.tuned), q, k, ids, texts, labels, labels[q])
    y_test = heldout.y[heldout.test]
    kk = min(k, len(test) - 1)
    mean_before = evaluate(raw[test], y_test, kk, metrics=["top_k"])["top_k"] if kk >= 1 else None
    mean_after = evaluate(heldout.tuned[test], y_test, kk, metrics=["top_k"])["top_k"] if kk >= 1 else None
    return SessionExample(str(ids[q]), texts[q], labels[q], role, k, before, after, mean_before, mean_after, len(test))
