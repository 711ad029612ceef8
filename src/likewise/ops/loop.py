"""Retrain in the loop: the operations a labeling front end (``likewise serve``, the loop benchmark) runs
between two keystrokes, on vectors held in memory.

- :func:`rank`: the k most similar rows to a query among the allowed ones (one matrix-vector product and a
  partial selection: ~5 ms over 100,000 x 384), the in-memory twin of the workspace index's exact search;
- :func:`uncertain_rows`: the rows the current vectors are least sure about (far from every class centre);
- :func:`bulk_positions`: what one Shift+digit labels in a session (the focused row and every unlabeled row
  below it, up to the next one labeled otherwise);
- :func:`rerank_rest`: after a retrain, the session's labeled (and skipped) rows stay where they are and the
  rest is filled again with the best candidates under the new vectors;
- :func:`fit_head`: train the default :class:`~likewise.tuning.Tuner` on cached raw vectors and decide whether
  it beats the *current* vectors (raw or an earlier head) on the same validation protocol the Tuner uses;
- :func:`retrain_workspace`: :func:`fit_head` on a workspace's current labels and, when the new head wins,
  switch it and its tuned vectors in (one manifest commit), logging the attempt in the run log either way.

Fitting happens outside the writer lock (labels keep arriving meanwhile); the lock is held only to switch
the result in, and the switch is refused if the raw vectors changed underneath.
"""
from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.first_pass import Int8Copy
from likewise.neighbors import topk
from likewise.progress import Progress, no_progress
from likewise.workspace import Workspace

DEFAULT_RETRAIN_EVERY = 25
"""New labels between two automatic retrains in ``likewise serve`` (settable there)."""
START_CLASS_WEIGHT = 1.0
"""How much a session's query leans toward the centre of its start record's class, once that record is labeled
(:func:`session_query`): the start vector and the class centre count equally (bench/RESULTS.md, "Labeling in
the loop": weight 1 and 2 measured)."""


# -- ranking --------------------------------------------------------------------------------------------------
def rank(vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None, *,
         first_pass: Int8Copy | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``vectors`` most similar to ``query`` (dot product: cosine for unit rows) among the
    ``allowed`` ones (a boolean mask; None = all), best first, ties by the lower row: one exact query of
    :func:`likewise.neighbors.topk`, through ``first_pass`` (an int8 copy of ``vectors``) when given.

    Returns ``(rows, scores)`` (int64, float32), at most ``k`` long (fewer when fewer rows are allowed).

    >>> v = np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32)
    >>> rank(v, v[0], 2)[0].tolist(), rank(v, v[0], 2, np.array([False, True, True]))[0].tolist()
    ([0, 1], [1, 2])
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    rows = None if allowed is None else np.flatnonzero(allowed)
    if int(k) <= 0 or len(vectors) == 0 or (rows is not None and len(rows) == 0):
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    found, scores = topk(np.asarray(query, dtype=np.float32).reshape(1, -1), int(k), vectors, rows=rows,
                         first_pass=first_pass)
    return found[0], scores[0]


def class_centres(vectors: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Unit mean vector of every class code ``0..C-1`` among rows with ``codes >= 0`` (shape (C, d))."""
    n_classes = int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 0
    centres = np.zeros((n_classes, vectors.shape[1]), np.float32)
    labeled = codes >= 0
    np.add.at(centres, codes[labeled], vectors[labeled])
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    return centres / np.where(norms > 0, norms, 1.0)


def uncertain_rows(vectors: np.ndarray, codes: np.ndarray, n: int, allowed: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` allowed rows farthest from every class centre (lowest cosine to the nearest centre), least
    sure first, with that cosine. ``codes`` holds each row's class code (-1 unlabeled)."""
    centres = class_centres(vectors, codes)
    centres = centres[np.linalg.norm(centres, axis=1) > 0]
    if len(centres) == 0:
        raise InputError("no labeled records yet, so no class centres to be unsure about; label a few records first")
    nearest = (vectors @ centres.T).max(axis=1)
    rows, scores = rank(-nearest[:, None], np.ones(1, np.float32), n, allowed)
    return rows, -scores


# -- sessions -------------------------------------------------------------------------------------------------
def session_query(vectors: np.ndarray, start: int, codes: np.ndarray, weight: float = START_CLASS_WEIGHT) -> np.ndarray:
    """What a session ranks its records by: the start record's vector and, once the start record is labeled
    (``codes[start] >= 0``) and its class has other labeled records, the unit centre of that class, added with
    ``weight`` (then normalised). A start record at the edge of its class (a business story that reads like
    tech) then still gathers its own class rather than its look-alikes."""
    query = np.asarray(vectors[start], dtype=np.float32)
    code = int(codes[start])
    members = codes == code
    if code < 0 or int(members.sum()) < 2 or weight <= 0:
        return query
    centre = vectors[members].mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    mixed = query + weight * centre
    return (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32)


def bulk_positions(labels: Sequence[str | None], start: int, label: str, skip: Sequence[int] = ()) -> list[int]:
    """What one bulk action (Shift+digit) labels in a session whose rows have ``labels`` (None = unlabeled):
    the row at ``start`` and every unlabeled row below it, up to (not including) the next row labeled with a
    class other than ``label``; rows already labeled ``label`` and the ``skip`` positions are passed over.

    >>> bulk_positions([None, None, "a", None, "b", None], 0, "a")
    [0, 1, 3]
    """
    skipped = set(skip)
    out = [start]
    for pos in range(start + 1, len(labels)):
        current = labels[pos]
        if current is None:
            if pos not in skipped:
                out.append(pos)
        elif current != label:
            break
    return out


def purity(labels: Sequence[str | None], start_label: str | None) -> float | None:
    """Share of the labeled rows whose label is ``start_label`` (None when no row is labeled or there is
    no start label): how pure a session is in the start record's class."""
    known = [lab for lab in labels if lab is not None]
    if not known or start_label is None:
        return None
    return sum(lab == start_label for lab in known) / len(known)


def rerank_rest(rows: np.ndarray, fixed: np.ndarray, vectors: np.ndarray, query: np.ndarray,
                pool: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A session after a retrain: the rows at ``fixed`` positions (labeled or skipped) stay where they are;
    the other positions are filled, in order, with the best candidates by similarity to ``query`` under the
    new ``vectors``: among the session's own free rows when ``pool`` is None (a closed set, such as a lasso),
    else among the ``pool`` rows (a mask) that are not already fixed in the session.

    Returns the new rows and their scores under the new vectors (same length as ``rows``, or shorter when the
    pool runs out).
    """
    rows = np.asarray(rows, dtype=np.int64)
    fixed = np.asarray(fixed, dtype=bool)
    free = np.flatnonzero(~fixed)
    if pool is None:
        candidates = rows[free]
        allowed = np.zeros(len(vectors), bool)
        allowed[candidates] = True
    else:
        allowed = np.array(pool, dtype=bool, copy=True)
    allowed[rows[fixed]] = False
    best, _ = rank(vectors, query, len(free), allowed)
    out = rows.copy()
    out[free[: len(best)]] = best
    keep = np.concatenate([np.flatnonzero(fixed), free[: len(best)]])
    keep.sort()
    out = out[keep]
    return out, (vectors[out] @ np.asarray(query, np.float32).reshape(-1)).astype(np.float32)


# -- retraining ---------------------------------------------------------------------------------------------
def validation_top_k(Z: np.ndarray, y: np.ndarray, *, k: int = 100, validation: str = "auto",
                     val_fraction: float = 0.2, seed: int = 0) -> float:
    """The top_k of vectors ``Z`` (labeled rows, labels ``y``) under the validation protocol the Tuner uses
    for the same labels and parameters (its holdout split, or its repeated stratified folds with their k):
    for the untouched input vectors this is exactly the Tuner's ``identity_top_k``, so the current vectors
    and a new head are compared on the same validation records."""
    from likewise.tuning.trainer import (
        choose_strategy, holdout_positions, score_against, score_among, stratified_folds, validation_k,
    )

    _, codes = np.unique(np.asarray(y, dtype=object).astype(str), return_inverse=True)
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    if choose_strategy(codes, validation) == "holdout":
        _, val = holdout_positions(codes, val_fraction, seed)
        return score_among(Z[val], codes[val], validation_k(k, codes[val]))
    scores = []
    for train, val in stratified_folds(codes, seed):
        k_val = max(1, min(int(k), int(np.median(np.bincount(codes[train])))))
        scores.append(score_against(Z[val], codes[val], Z[train], codes[train], k_val))
    return float(np.mean(scores))


@dataclass
class HeadFit:
    """A head trained on the current labels, and whether it beats the current vectors.

    ``before`` is the validation top_k of the current vectors (raw, or an earlier head: that head saw some of
    these labels in training, so its number is if anything optimistic, which makes keeping it the cautious
    choice), ``after`` the new head's, ``identity`` that of the raw vectors; all on the same validation
    records with the same k. ``switch`` is True when the new head should replace the current vectors."""

    tuner: Any
    before: float
    after: float
    identity: float
    k: int
    strategy: str
    switch: bool
    message: str
    train_records: int
    classes: dict[str, int]
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    current: str = "raw"

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "identity": self.identity, "k": self.k,
                "strategy": self.strategy, "switch": self.switch, "message": self.message,
                "train_records": self.train_records, "classes": self.classes, "dropped": self.dropped,
                "seconds": round(self.seconds, 3), "current": self.current}


def trainable(labels: Sequence[Hashable | None]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Labeled positions and labels a head can learn from: classes with fewer than the minimum records per
    class are left out (a class just created in the loop has one record) and returned apart."""
    from likewise.labels import MIN_PER_CLASS, check_labels, labeled_arrays

    positions, y = labeled_arrays(labels)
    classes, counts = np.unique(y, return_counts=True) if len(y) else (np.array([]), np.array([]))
    dropped = {str(c): int(n) for c, n in zip(classes, counts) if n < MIN_PER_CLASS}
    if dropped:
        keep = ~np.isin(y, list(dropped))
        positions, y = positions[keep], y[keep]
    check_labels(y, what=f"labeled records in classes with at least {MIN_PER_CLASS} records")
    return positions, y, dropped


def fit_head(raw: np.ndarray, labels: Sequence[Hashable | None], *, current: np.ndarray | None = None,
             current_name: str = "raw", tuner_options: dict[str, Any] | None = None,
             progress: Progress = no_progress) -> HeadFit:
    """Train the default Tuner (or one with ``tuner_options``) on the labeled rows of ``raw`` and compare it
    with the ``current`` vectors (None: the raw vectors) on the Tuner's validation protocol.

    The new head is to be switched in (``switch``) only when it beats both the raw vectors (the Tuner's own
    check) and the current vectors."""
    from likewise.ops.tune import label_counts_of
    from likewise.tuning import Tuner

    start = time.perf_counter()
    positions, y, dropped = trainable(labels)
    # labels only: the retrain runs every few labels and must re-rank within seconds; self-training on the
    # unlabeled records (likewise tune's default) refits twice more, so the web app leaves it to `likewise tune`
    tuner = Tuner(**{"self_training": 0, **(tuner_options or {})})
    tuner.fit(raw[positions], y, progress=progress)
    validation = dict(getattr(tuner, "validation_", {}) or {})
    identity = float(validation.get("identity_top_k", float("nan")))
    after = float(validation.get("trained_top_k", float("nan")))
    k = int(validation.get("k", tuner.k))
    before = identity
    if current is not None:
        before = validation_top_k(current[positions], y, k=tuner.k, validation=tuner.validation,
                                  val_fraction=tuner.val_fraction, seed=tuner.seed)
    kept_identity = bool(getattr(tuner, "kept_identity_", False))
    switch = not kept_identity and after > before
    if switch:
        message = f"the new head beats the {current_name} vectors: top_{k} {before:.3f} -> {after:.3f}"
    elif kept_identity:
        message = (f"retraining would not beat the raw vectors (top_{k} {after:.3f} vs {identity:.3f}); kept the "
                   f"{current_name} vectors")
    else:
        message = (f"retraining would not beat the current {current_name} vectors (top_{k} {after:.3f} vs "
                   f"{before:.3f}); kept them")
    if dropped:
        message += f"; left out {len(dropped)} class(es) with a single record ({', '.join(sorted(dropped)[:5])})"
    return HeadFit(tuner, before, after, identity, k, str(validation.get("strategy", "")), switch, message,
                   int(len(y)), label_counts_of(y), dropped, time.perf_counter() - start, current_name)


@dataclass
class RetrainResult:
    """What one retrain did: the fit, the tuned vectors when they were switched in, the labels it saw."""

    fit: HeadFit
    labels_seq: int
    tuned: np.ndarray | None = None
    vectors_content: str | None = None
    run_id: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def switched(self) -> bool:
        return self.tuned is not None

    def to_dict(self) -> dict[str, Any]:
        return {**self.fit.to_dict(), "switched": self.switched, "labels_seq": self.labels_seq,
                "vectors_content": self.vectors_content, "run_id": self.run_id,
                "phases": {k: round(v, 3) for k, v in self.seconds.items()}}


def retrain_workspace(
    ws: Workspace,
    *,
    labels: Sequence[str | None] | None = None,
    labels_seq: int | None = None,
    fingerprint: str | None = None,
    raw: np.ndarray | None = None,
    current: np.ndarray | None = None,
    current_name: str | None = None,
    tuner_options: dict[str, Any] | None = None,
    wait: float | None = None,
    progress: Progress = no_progress,
) -> RetrainResult:
    """Retrain the head on the workspace's current labels (cached raw vectors: seconds) and, when it beats
    the current vectors, switch the head and its tuned vectors in at once; the attempt is logged in the run
    log (command ``tune``, ``by: serve``) either way.

    A caller that keeps the workspace in memory (the web app) passes ``labels`` (aligned with the records),
    ``labels_seq`` and ``fingerprint`` (of those labels), ``raw`` and ``current`` vectors; otherwise they are
    read from the workspace. Raises :class:`InputError` when the labels cannot train a head yet (fewer than 2
    classes with 2 records), or when the raw vectors changed while training.
    """
    from likewise.ops.runs import log_run

    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    raw_info = ws.vectors_info("raw")
    if raw_info is None:
        raise InputError(f"workspace {ws.path} has no raw vectors; run `likewise embed DATA` first")
    if labels is None:
        state = ws.labels()
        labels = ws.records(state).labels
        labels_seq, fingerprint = state.last_seq, state.fingerprint(ws.record_ids())
    if raw is None:
        raw = ws.vectors("raw").vectors
    if current is None and current_name is None:
        kind = ws.resolve_kind("auto")
        current = ws.vectors("tuned").vectors if kind == "tuned" else None
        current_name = "tuned" if kind == "tuned" else "raw"
    phases["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = fit_head(raw, labels, current=current, current_name=current_name or "raw", tuner_options=tuner_options,
                   progress=progress)
    phases["fit"] = time.perf_counter() - t0
    result = RetrainResult(fit, int(labels_seq or 0))
    if fit.switch:
        t0 = time.perf_counter()
        progress(0, 1, "tuned vectors for every record")
        tuned = fit.tuner.transform(raw)
        phases["transform"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        progress(0, 1, "switching the new head in")
        result.vectors_content = switch_in_head(ws, fit, tuned, raw_content=raw_info["content"],
                                                fingerprint=fingerprint, labels_seq=result.labels_seq, wait=wait)
        result.tuned = tuned
        phases["switch in"] = time.perf_counter() - t0
    result.run_id = log_run(ws, "tune", config={"kind": "head", "by": "serve", **_plain(fit.tuner.get_params())},
                            labels=fit.classes, metrics={**_plain(fit.tuner.validation_), **fit.to_dict(),
                                                         "switched": fit.switch},
                            seconds=fit.seconds)
    result.seconds = phases
    return result


def switch_in_head(ws: Workspace, fit: HeadFit, tuned: np.ndarray, *, raw_content: str, fingerprint: str | None,
                   labels_seq: int, wait: float | None = None) -> str:
    """Save ``fit``'s head and its ``tuned`` vectors in the workspace in one commit, as ``likewise tune``
    does (head folder with its model card, tuned vectors marked with the labels they came from); returns the
    new tuned vectors' content id."""
    from likewise.ops.tune import TuneResult, switch_in_head as save_and_switch

    tuner = fit.tuner
    with ws.writing("serve retrain", wait=wait):
        raw = ws.vectors_info("raw") or {}
        if raw.get("content") != raw_content:
            raise InputError("the raw vectors changed while the head was training (`likewise embed` ran); "
                             "nothing was switched in: retrain again")
        card = TuneResult(str(ws.path), "head", "", fit.train_records, fit.classes, False, fit.message,
                          _plain(list(getattr(tuner, "history_", []))), fit.seconds, _plain(tuner.get_params()),
                          _plain(getattr(tuner, "validation_", {}) or {}))
        save_and_switch(ws, tuner, card, tuned, fingerprint=fingerprint, labels_seq=labels_seq, by="serve")
        return str(ws.vectors_info("tuned")["content"])  # type: ignore[index]


def _plain(value: Any) -> Any:
    from likewise.ops.tune import plain

    return plain(value)
