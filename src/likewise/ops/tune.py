"""``likewise tune`` and ``likewise transform``: train a head (or the encoder) on the current labels,
write tuned vectors, apply the head to other vectors, export vectors.

Each is a plain function over a :class:`~likewise.workspace.Workspace` that returns a result dataclass
(the CLI formats it); nothing here prints.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.progress import Progress, no_progress
from likewise.atomic import atomic_write, atomic_write_text
from likewise.workspace import Workspace


# -- tune -------------------------------------------------------------------------------------------------------
@dataclass
class TuneResult:
    workspace: str
    kind: str  # "head" or "encoder"
    path: str
    train_records: int
    classes: dict[str, int]
    kept_identity: bool
    message: str
    history: list[dict[str, Any]]
    seconds: float
    config: dict[str, Any]
    validation: dict[str, float] = field(default_factory=dict)
    #: the method fitted ("head", "lda", ..., "encoder") and, for --method auto, every candidate's score
    method: str = "head"
    selection: dict[str, Any] | None = None
    #: encoder fine-tuning only: the default head fitted on the tuned encoder's vectors of the training labels,
    #: both validation scores and whether the head was kept (see :func:`head_on_tuned_encoder`)
    encoder_head: dict[str, Any] | None = None
    #: head only: what self-training on the unlabeled records did (unlabeled records, the estimated share of
    #: right pseudo-labels, records pseudo-labeled per round, or why it was skipped); None when all are labeled
    self_training: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def labeled(ws: Workspace):
    """The records with their current labels, the raw vectors, and the labeled positions and labels
    (checked: at least 2 classes, 2 records per class)."""
    from likewise.labels import check_labels, labeled_arrays

    state = ws.labels()
    data = ws.records(state)
    raw = ws.vectors("raw")
    positions, y = labeled_arrays(data.labels)
    check_labels(y)
    return data, raw, positions, y, state


def with_unlabeled(n: int, positions: np.ndarray, y: Sequence) -> np.ndarray:
    """Labels for all ``n`` records: ``y`` at ``positions``, None (unlabeled) elsewhere — how the Tuner is given
    the workspace's unlabeled vectors for self-training (:mod:`likewise.tuning.self_training`)."""
    every = np.full(n, None, dtype=object)
    every[np.asarray(positions, dtype=np.int64)] = np.asarray(y, dtype=object)
    return every


def label_counts_of(y: np.ndarray) -> dict[str, int]:
    classes, counts = np.unique(y, return_counts=True)
    return {str(k): int(v) for k, v in zip(classes, counts)}


DEFAULT_TIME_BUDGET = 300.0
"""Seconds ``likewise tune`` may spend by default: a few minutes on a laptop CPU."""


def tune_workspace(
    ws: Workspace,
    *,
    tuner_options: dict[str, Any] | None = None,
    train_encoder: bool | None = False,
    encoder_options: dict[str, Any] | None = None,
    time_budget: float | None = None,
    progress: Progress = no_progress,
) -> TuneResult:
    """Train a head on the workspace's labeled raw vectors (or fine-tune the encoder), save it, and write
    tuned vectors for every record, all switched in at once (the previous head stays until then).

    ``tuner_options["method"] == "auto"`` chooses the map by cross-validation on the labels; with
    ``train_encoder=None`` ("when the data asks"), auto also fine-tunes the encoder when ``time_budget``
    allows (:func:`_encoder_asked`) and keeps whichever of the two scores better on the same validation
    records (:func:`_encoder_if_better`)."""
    from likewise.ops.runs import log_run
    from likewise.tuning import Tuner

    start = time.perf_counter()
    with ws.writing("tune --train-encoder" if train_encoder else "tune"):
        data, raw, positions, y, state = labeled(ws)
        classes = label_counts_of(y)
        fingerprint = state.fingerprint(data.ids)
        if train_encoder:
            result = _tune_encoder(ws, data, raw, positions, y, classes, dict(encoder_options or {}), progress, start,
                                   fingerprint, state.last_seq)
            log_run(ws, "tune", config={"kind": result.kind, **result.config}, labels=classes,
                    metrics=result.validation, seconds=result.seconds)
            return result
        options = dict(tuner_options or {})
        if options.get("method") == "auto" and time_budget is not None:
            options.setdefault("time_budget", time_budget)
        tuner = Tuner(**options)
        tuner.fit(raw.vectors, with_unlabeled(len(raw.vectors), positions, y), progress=progress)
        selection = getattr(tuner, "selection_", None)
        if train_encoder is None and _encoder_asked(tuner, raw.encoder, [data.texts[i] for i in positions], y,
                                                    time_budget, start, all_texts=data.texts,
                                                    device=(encoder_options or {}).get("device")):
            remaining = None if time_budget is None else time_budget - (time.perf_counter() - start)
            outcome = _encoder_if_better(ws, data, raw, positions, y, classes, tuner, dict(encoder_options or {}),
                                         remaining, progress, start, fingerprint, state.last_seq)
            if outcome is not None:
                log_run(ws, "tune", config={"kind": outcome.kind, **outcome.config}, labels=classes,
                        metrics=outcome.validation, seconds=outcome.seconds)
                return outcome
            selection = getattr(tuner, "selection_", None)
        tuned = tuner.transform(raw.vectors)
        config = tuner.get_params()
        kept = bool(getattr(tuner, "kept_identity_", False))
        message = str(getattr(tuner, "message_", ""))
        history = list(getattr(tuner, "history_", []))
        result = TuneResult(str(ws.path), "head", "", int(len(y)), classes, kept, message,
                            plain(history), time.perf_counter() - start, plain(config),
                            plain(getattr(tuner, "validation_", {}) or {}), str(getattr(tuner, "method_", "head")),
                            plain(selection) if selection else None,
                            self_training=plain(getattr(tuner, "self_training_", None)))
        switch_in_head(ws, tuner, result, tuned, fingerprint=fingerprint, labels_seq=state.last_seq,
                       method=result.method, selection=result.selection)
        log_run(ws, "tune", config={"kind": result.kind, "method": result.method, **result.config}, labels=classes,
                metrics=result.validation, seconds=result.seconds)
    return result


def switch_in_head(ws: Workspace, tuner, result: TuneResult, tuned: np.ndarray, *, fingerprint: str | None,
                   labels_seq: int, **extra: Any) -> None:
    """Inside ``ws.writing(...)``: save ``tuner`` as the workspace's head (a folder object with its model
    card) and ``tuned`` as its tuned vectors, marked with the raw vectors and the labels they came from;
    ``result.path`` becomes the head's folder. ``extra`` goes into the head artifact (``method``, ``by``...)."""
    raw = ws.vectors_info("raw") or {}
    encoder = str(raw["encoder"])
    source = (ws.records_info() or {}).get("source", {})

    def save(folder: Path) -> None:
        tuner.save(folder, encoder=encoder)
        write_model_card(folder, result, data_source=source)

    ref = ws.put_folder(save, "head")
    result.path = str(ws.objects.path(ref))
    ws.put_vectors("tuned", tuned, encoder=f"{encoder}+head", encoder_raw=encoder, by="head",
                   raw_content=raw["content"], labels_fingerprint=fingerprint, labels_seq=labels_seq)
    ws.drop_artifact("tuned_encoder")
    ws.record_artifact("head", {"ref": ref, "config": result.config, "kept_identity": result.kept_identity,
                                "message": result.message, "train_records": result.train_records,
                                "classes": result.classes, "validation": result.validation,
                                "labels_seq": labels_seq, **extra})


def _encoder_asked(tuner, encoder: str, texts: list[str], labels: np.ndarray, time_budget: float | None, start: float,
                   *, all_texts: list[str], device: str | None = None) -> bool:
    """Whether auto should try encoder fine-tuning: the vectors come from a model that can be trained, the
    labels can be split to compare it with the map (:func:`encoder_comparison_splits`) and the remaining
    budget, less what a kept encoder costs after training (exporting it and encoding ``all_texts``, every
    record: :func:`~likewise.tuning.encoder_finetune.after_training_seconds`), allows at least 2 epochs of every
    fine-tuning the comparison needs (:data:`COMPARISON`)."""
    from likewise.encoders.device import resolve_device
    from likewise.tuning.encoder_finetune import after_training_seconds, schedule_for

    if str(encoder).startswith(("vectors:", "hashing:", "static")):
        return False
    y = np.asarray(labels, dtype=object).astype(str)
    if not encoder_comparison_splits(y, seed=0):
        return False  # no class can give 2 records to score on: nothing to compare the tuned encoder with the map on
    device = resolve_device(device)
    remaining = None if time_budget is None else (time_budget - (time.perf_counter() - start)
                                                  - after_training_seconds(all_texts, device=device))
    if remaining is not None and remaining <= 0:
        return False
    share, runs = COMPARISON["holdout" if can_validate_encoder(y) else "halves"]
    return schedule_for(texts, None if remaining is None else remaining / runs, device=device,
                        n_train=int(share * len(texts)))[0] >= 2


MIN_VALIDATION_PER_CLASS = 5
"""Encoder fine-tuning holds out 20% of the labels, to choose its best epoch and whether a head goes on top,
only when every class keeps at least this many records there (about 25 labels per class); with fewer, a top_k
among a handful of records cannot tell epochs apart (BBC News at 25 labels: 1 validation record per class,
every model scored 0), so ``--train-encoder`` trains on all the labels for the fixed schedule, and ``auto``
compares it with its map on halves of the labels instead (:func:`encoder_comparison_splits`)."""

COMPARISON = {"holdout": (0.8, 1), "halves": (0.5, 3)}
"""How ``auto`` compares the tuned encoder with its map: (share of the labels a trial trains on, fine-tunings
the budget must hold). ``holdout`` (every class can validate, :func:`can_validate_encoder`): one fine-tuning on
80%, its best epoch and head chosen on the other 20%, kept as it is when it wins. ``halves`` (smaller classes):
2-fold, a trial on each half scored on the other, then, when the encoder wins on the mean, a third fine-tuning
on all labels for the planned schedule; repeated on fresh halves when the budget holds it
(:func:`another_draw_fits`)."""

MAX_HALVES_REPEATS = 2
"""2-fold halves score each method on a handful of records (Rotten Tomatoes at 25 labels: 12 per half, top_3):
one such comparison swings by several points between draws. When the time left after the first draw holds a
second one and still the final fine-tuning (:func:`another_draw_fits`), the halves are drawn again on fresh
halves (a 2 x 2-fold), which halves the variance of the comparison."""


HALVES_MARGIN = 0.05
"""How far (in top_k) the map may lead the encoder on 2-fold halves and the encoder still be fine-tuned on all
the labels and kept. Halves train each method on half the labels, and halving the labels costs encoder
fine-tuning more than a map on frozen vectors (its gain grows steeply with the labels), so at the few labels
where ``auto`` compares on halves the comparison is biased toward the map. Chosen on development runs
(bench/RESULTS.md, "Prefer the encoder on halves"): in 12 fits where the map won the halves by 0.1-8.4 points,
the encoder fine-tuned on all the labels beat that map on the held-out records in 10, by 1.1 points on the
mean; every loss came with a lead under 1 point, so no smaller margin separates them. Judged on fresh seeds
21-23 at 25 labels: it switched 4 of 9 fits to the encoder, each better than the map it replaced. It holds only
when the final fit on all the labels can run its whole schedule (:func:`halves_keep_encoder`)."""


def halves_keep_encoder(encoder_top_k: float, map_top_k: float, *, full_schedule: bool = True) -> bool:
    """Whether ``auto`` fine-tunes the encoder on all the labels and keeps it after a comparison on halves: the
    encoder's mean trial score is within :data:`HALVES_MARGIN` of the map's, or above it. The margin holds only
    when that fine-tuning on all the labels can run its whole default schedule in the time left
    (``full_schedule``, :func:`final_schedule`): every development fit behind the margin did, and a final fit
    cut to a few epochs gains less from the doubled labels than the trials it is compared with (BBC News at 100
    labels, fresh seeds 24-25 on the AMD host: 3 and 2 of 8 epochs, 2.1 and 3.8 points below the map the
    margin replaced). Otherwise the encoder must score above the map."""
    return encoder_top_k > map_top_k - (HALVES_MARGIN if full_schedule else 0.0)


def final_schedule(texts: list[str], remaining: float | None, *, device: str | None = None,
                   batch_size: int = 32) -> tuple[int, int]:
    """(epochs planned, epochs of the default schedule) for a fine-tuning on ``texts`` (all the labeled records)
    in ``remaining`` seconds, in batches of ``batch_size``: the plan
    :func:`~likewise.tuning.encoder_finetune.finetune_encoder` will make."""
    from likewise.encoders.device import resolve_device
    from likewise.tuning.encoder_finetune import plan_schedule, schedule_for

    full = plan_schedule(len(texts), None, batch_size=batch_size)[0]  # the default schedule: no device, no tokens
    if remaining is None:
        return full, full
    return schedule_for(texts, max(0.0, remaining), device=resolve_device(device), batch_size=batch_size)[0], full


def another_draw_fits(trial_seconds: float, remaining: float | None) -> bool:
    """Whether ``auto`` draws its halves again: the ``remaining`` seconds must hold two more trials like the
    first draw's (``trial_seconds`` each, measured, so a loaded machine draws less) and then the final
    fine-tuning on all the labels (twice a trial's records: counted as 2.5 trials, for its margin)."""
    return remaining is None or remaining >= (2 + 2.5) * float(trial_seconds)


HOLDOUT_LABEL_SHARE = 0.8
"""Encoder fine-tuning validates on a 20% holdout when the classes that can hold out
:data:`MIN_VALIDATION_PER_CLASS` carry at least this share of the labels; the smaller classes then all train
(their records are never queried in validation, as in the halves). Sentiment-like sets carry a small third class
(Rotten Tomatoes' plot summaries, drug reviews' neutral ratings: 8-9% of the labels), which otherwise sent them
to the halves and their three fine-tunings; with many small classes (FOLDOC, drug conditions at 250 labels: the
large classes hold 40-50%) a holdout of the few large ones would not speak for the labels, so they stay on
halves."""


def validating_classes(y: np.ndarray) -> np.ndarray:
    """The classes of ``y`` with enough labels to hold out :data:`MIN_VALIDATION_PER_CLASS` in a 20% split."""
    classes, counts = np.unique(np.asarray(y, dtype=object).astype(str), return_counts=True)
    return classes[counts * 0.2 >= MIN_VALIDATION_PER_CLASS]


def can_validate_encoder(y: np.ndarray) -> bool:
    """Whether encoder fine-tuning can validate on a 20% holdout of ``y`` (:func:`encoder_holdout`): at least 2
    classes can hold out :data:`MIN_VALIDATION_PER_CLASS` and they carry :data:`HOLDOUT_LABEL_SHARE` of the
    labels."""
    y = np.asarray(y, dtype=object).astype(str)
    big = np.isin(y, validating_classes(y))
    return bool(len(validating_classes(y)) >= 2 and big.mean() >= HOLDOUT_LABEL_SHARE)


def holdout_classes(y: np.ndarray) -> np.ndarray:
    """The classes of ``y`` that hold out records in :func:`encoder_holdout`: those of
    :func:`validating_classes` when there are 2 or more, else every class."""
    big = validating_classes(y)
    return big if len(big) >= 2 else np.unique(np.asarray(y, dtype=object).astype(str))


def encoder_holdout(y: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) positions into ``y`` for encoder fine-tuning: a stratified 20% of
    :func:`holdout_classes` validates, everything else trains. When every class can hold out
    :data:`MIN_VALIDATION_PER_CLASS`, or fewer than 2 can (a validation the user forced on small classes), this
    is :func:`~likewise.evaluation.holdout_split` at 20% of every class."""
    from likewise.evaluation import holdout_split

    y = np.asarray(y, dtype=object).astype(str)
    members = np.flatnonzero(np.isin(y, holdout_classes(y)))
    val = np.sort(members[holdout_split(y[members], test_size=0.2, seed=seed)[1]])
    return np.setdiff1d(np.arange(len(y)), val), val


def encoder_comparison_splits(y: np.ndarray, *, seed: int, repeats: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) positions into ``y`` on which ``auto`` compares the tuned encoder with its map.

    With :func:`can_validate_encoder`: the stratified 20% holdout. Otherwise 2-fold halves: every class with 4+
    labels is cut in two halves (2+ records each) that validate in turn, smaller classes always train — so a
    validation record always has another of its class to find, and top_k among the validation records can tell
    methods apart (with 1 record per class it is 0 for every method). ``repeats`` draws the halves that many
    times (2 x ``repeats`` splits; each record validates once per draw). Empty when fewer than 2 classes could
    give validation records."""
    y = np.asarray(y, dtype=object).astype(str)
    if can_validate_encoder(y):
        return [encoder_holdout(y, seed=seed)]
    rng = np.random.default_rng(seed)
    everyone = np.arange(len(y))
    splits = []
    for _ in range(max(1, int(repeats))):
        halves: tuple[list, list] = ([], [])
        for label in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == label))
            if len(members) >= 4:
                halves[0].append(members[: len(members) // 2])
                halves[1].append(members[len(members) // 2:])
        if len(halves[0]) < 2:
            return []
        splits += [(np.setdiff1d(everyone, val), val) for val in (np.sort(np.concatenate(h)) for h in halves)]
    return splits


def _encoder_if_better(ws, data, raw, positions, y, classes, tuner, options, remaining, progress, start, fingerprint,
                       labels_seq) -> TuneResult | None:
    """Compare encoder fine-tuning with the map auto chose, both fitted on the same training share of the labels
    (the map with the workspace's unlabeled records, as it was fitted) and scored by top_k among the same
    validation records (:func:`encoder_comparison_splits`); keep the tuned encoder only when it scores higher.
    Holdout: the fine-tuning on 80% is kept as it is. Halves: the mean of a trial on each half; when it is within
    :data:`HALVES_MARGIN` of the map's or above (:func:`halves_keep_encoder`; the margin only when that last
    fine-tuning can run its whole schedule, :func:`final_schedule`), the encoder is fine-tuned again on
    all the labels and kept. None: keep the map. ``remaining`` (seconds) covers everything: what a
    kept encoder costs after its training (:func:`~likewise.tuning.encoder_finetune.after_training_seconds`)
    is kept out of what the fine-tunings may use."""
    from likewise.encoders.device import resolve_device
    from likewise.metrics import evaluate
    from likewise.tuning import Tuner
    from likewise.tuning.encoder_finetune import after_training_seconds
    from likewise.tuning.trainer import validation_k

    if remaining is not None:
        remaining -= after_training_seconds(data.texts, device=resolve_device(options.get("device")))

    seed = int(options.get("seed", tuner.seed))
    halves = not can_validate_encoder(y)
    splits = encoder_comparison_splits(y, seed=seed, repeats=MAX_HALVES_REPEATS if halves else 1)
    params = {**tuner.get_params(), "method": tuner.method_}
    k = min(validation_k(int(options.get("k", tuner.k)), y[val]) for _, val in splits)

    def map_score(train: np.ndarray, val: np.ndarray) -> float:
        rival = Tuner(**params).fit(raw.vectors, with_unlabeled(len(raw.vectors), positions[train], y[train]))
        return float(evaluate(rival.transform(raw.vectors[positions[val]]), y[val], k, metrics=["top_k"])["top_k"])

    entered = time.perf_counter()
    options = {"seed": seed, "epochs": None, "lr": None, **options}
    repeats, trials, drawn = 1, [], {}
    if halves:  # the first draw, then a second on fresh halves when the time left holds it and the final fit
        texts = [data.texts[i] for i in positions]
        share = None if remaining is None else remaining / COMPARISON["halves"][1]
        for draw in range(MAX_HALVES_REPEATS):
            left = None if remaining is None else remaining - (time.perf_counter() - entered)
            if draw:  # what the decision to draw again saw (reported, so a single draw says why)
                drawn = {"trial_seconds": float(trial_seconds),
                         "seconds_left_after_draw_1": None if left is None else float(left)}
                if not another_draw_fits(trial_seconds, left):
                    break
            began = time.perf_counter()
            trials += [_encoder_trial(texts, y, train, val, k, {**options, "time_budget": share},
                                      _labelled(progress, f"comparing with the map, draw {draw + 1}, "
                                                          f"trial {i + 1} of 2"))
                       for i, (train, val) in enumerate(splits[2 * draw: 2 * draw + 2])]
            trial_seconds = (time.perf_counter() - began) / 2
            repeats = draw + 1
        splits = splits[: 2 * repeats]
    map_scores = [map_score(train, val) for train, val in splits]
    rival_score = float(np.mean(map_scores))
    records = int(sum(len(val) for _, val in splits[:2]))
    draws = f"{repeats} draws of " if repeats > 1 else ""
    split_words = (f"{draws}2-fold halves of every class with 4+ labels ({records} validation records)" if halves
                   else f"a 20% holdout ({records} records)")
    note = f"{tuner.method_} on frozen vectors: top_{k} {rival_score:.3f} on the same validation records"
    planned = full = None
    if halves:
        trial = float(np.mean(trials))
        out = (None, trial)
        left = None if remaining is None else remaining - (time.perf_counter() - entered)
        planned, full = final_schedule(texts, left, device=options.get("device"),
                                       batch_size=int(options.get("batch_size") or 32))
        if halves_keep_encoder(trial, rival_score, full_schedule=planned >= full):
            why = (f"fine-tuned on each half of the labels in turn ({draws}2-fold halves), the encoder scored "
                   f"top_{k} {trial:.3f} on the other half against {rival_score:.3f} for {tuner.method_} on frozen "
                   "vectors" + ("" if trial > rival_score else f", within {HALVES_MARGIN:.2f} (halves cost the encoder more "
                                                          "than the map)") + "; so it was "
                   f"fine-tuned again on all {len(y)} labels for the planned schedule (classes too small to hold out "
                   f"{MIN_VALIDATION_PER_CLASS} per class: no best epoch, no head)")
            out = (_tune_encoder(ws, data, raw, positions, y, classes, {**options, "time_budget": left,
                                                                         "validate": False},
                                 progress, start, fingerprint, labels_seq, unvalidated_why=why,
                                 unvalidated_scores={"strategy": f"{draws}2-fold halves (trials; then all labels)",
                                                     "records": records, "draws": repeats, "map_top_k": rival_score,
                                                     "trained_top_k": trial}), trial)
    else:
        out = _tune_encoder(ws, data, raw, positions, y, classes, {"time_budget": remaining, **options}, progress,
                            start, fingerprint, labels_seq, split=splits[0], keep_if=lambda best: best > rival_score)
    selection = tuner.selection_ or {"chosen": tuner.method_, "scores": {}, "k": int(k), "splits": len(splits),
                                     "strategy": f"{tuner.method_} (too few labels per class to cross-validate maps)"
                                                 " against encoder fine-tuning", "message": tuner.message_}
    selection["scores"]["encoder"] = {"holdout_top_k": out[1], "vs": rival_score, "chosen": out[0] is not None,
                                      "split": f"{draws}2-fold halves" if halves else "20% holdout", "records": records,
                                      "draws": repeats, "per_split": [float(t) for t in trials] if halves else [],
                                      "map_per_split": [float(m) for m in map_scores]}
    if halves:
        selection["scores"]["encoder"].update(final_epochs_planned=int(planned), full_schedule_epochs=int(full),
                                              **drawn)
    tuner.selection_ = selection
    if out[0] is None:
        short = (f" (within {HALVES_MARGIN:.2f}, but the fine-tuning on all the labels would run only {planned} of "
                 f"{full} epochs in the time left, so the encoder had to score higher)"
                 if halves and planned < full and halves_keep_encoder(out[1], rival_score) else "")
        tuner.message_ = "; ".join(m for m in (tuner.message_, f"encoder fine-tuning reached top_{k} {out[1]:.3f} on "
                                                                 f"{split_words}, not better than {note}{short}: kept "
                                                                 "the map") if m)
        return None
    result = out[0]
    selection["chosen"] = "encoder"
    result.method, result.selection = "encoder", plain(selection)
    result.message = "; ".join(m for m in (result.message, "" if halves else note) if m)
    return result


def _labelled(progress: Progress, prefix: str) -> Progress:
    """``progress`` with ``prefix`` before each description (which of several fine-tunings is running)."""
    return lambda done, total, description: progress(done, total, f"{prefix}: {description}")


def _encoder_trial(texts: list[str], y: np.ndarray, train: np.ndarray, val: np.ndarray, k: int,
                   options: dict[str, Any], progress: Progress) -> float:
    """Fine-tune a scratch copy of the encoder on ``texts[train]`` for the planned schedule (no validation) and
    return its top_k among ``texts[val]``; nothing is saved."""
    import tempfile

    from likewise.encoders import get_encoder
    from likewise.tuning.encoder_finetune import finetune_encoder
    from likewise.tuning.trainer import score_among

    options = {key: v for key, v in options.items() if key != "validate"}
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch) / TUNED_MODEL_DIR
        finetune_encoder([texts[i] for i in train], y[train], model_dir, base_model=options.pop("base_model", None),
                         progress=progress, **options)
        encoder = get_encoder(model_dir, runtime="torch", device=options.get("device"))
        vectors = encoder.embed([texts[i] for i in val], progress=progress)
    return score_among(vectors, y[val], k)


TUNED_MODEL_DIR = "tuned-encoder"
"""Inside a tuned-encoder object: the sentence-transformers folder. Its name (not the object's content hash)
goes into the encoder identity, so the identity depends only on the weights (``model_fingerprint``): the
model card and a head beside it do not change it, and vectors computed before the object is saved stay cached."""
ENCODER_HEAD_DIR = "head"
"""Inside a tuned-encoder object: the head kept on top of the tuned encoder, when one is."""


def tuned_model_folder(folder: str | Path) -> Path:
    """The sentence-transformers folder of a tuned-encoder object (workspaces before the head-on-top step
    hold the model at the object's top level)."""
    inner = Path(folder) / TUNED_MODEL_DIR
    return inner if inner.is_dir() else Path(folder)


def load_tuned_encoder(folder: str | Path, *, device: str | None = None, own_graph: bool = False):
    """The tuned encoder in ``folder`` on the fast path: ONNX Runtime on the CPU when ``onnxruntime`` is
    installed and the model has mean pooling (same vectors and identity as PyTorch), else PyTorch on
    ``device`` (:func:`likewise.encoders.resolve_device`: CUDA when present, with CUDA's larger batch).
    ``own_graph``: export the ONNX graph into the model folder (``onnx/``), as tune does before the folder
    becomes a workspace object, so the graph (~90 MB) is removed with the tuned encoder it belongs to instead
    of piling up in the shared cache; a graph found there is used in any case."""
    import importlib.util

    from likewise.encoders import get_encoder, resolve_device

    model = tuned_model_folder(folder)
    resolved = resolve_device(device)
    if resolved == "cpu" and importlib.util.find_spec("onnxruntime") is not None and _mean_pooling_only(model):
        encoder = get_encoder(model, runtime="onnx", device=resolved)
        encoder.own_graph = own_graph
        return encoder
    return get_encoder(model, runtime="torch", device=resolved)


def _mean_pooling_only(model: Path) -> bool:
    """Whether the model is transformer + mean pooling (+ normalisation): what the ONNX path exports."""
    modules = model / "modules.json"
    pooling = model / "1_Pooling" / "config.json"
    if not modules.exists() or not pooling.exists():
        return False
    types = [m.get("type", "") for m in json.loads(modules.read_text())]
    config = json.loads(pooling.read_text())
    return not any("Dense" in t for t in types) and bool(config.get("pooling_mode_mean_tokens"))


def encoder_head(ws: Workspace, encoder_identity: str):
    """The head kept on top of the workspace's tuned encoder (checked against its identity), or None."""
    from likewise.tuning import Tuner

    entry = ws.artifact("tuned_encoder") or {}
    if not entry.get("head"):
        return None
    folder = ws.artifact_path("tuned_encoder", "tuned encoder")
    return Tuner.load(folder / ENCODER_HEAD_DIR, expected_encoder=encoder_identity)


def tuned_encoder_vectors(ws: Workspace, texts: list[str], *, with_head: bool = True, ids: list[str] | None = None,
                          cached: bool = False, progress: Progress = no_progress) -> tuple[np.ndarray, str]:
    """Vectors of ``texts`` by the workspace's tuned encoder on the fast path, through the head kept on top
    of it (when one is and ``with_head``): what its tuned vectors are made of. ``cached``: through the
    embedding cache (record texts; ``ids`` then name them). Returns (vectors, their encoder identity)."""
    from likewise.embedding import embed_records

    folder = ws.artifact_path("tuned_encoder", "tuned encoder")
    if folder is None:
        raise InputError("the workspace has no tuned encoder; run `likewise tune --train-encoder` first")
    encoder = load_tuned_encoder(folder)
    if cached:
        vectors, _ = embed_records(encoder, ids if ids is not None else [str(i) for i in range(len(texts))], texts,
                                   ws.cache, progress=progress)
    else:
        vectors = encoder.embed(texts, progress=progress)
    head = encoder_head(ws, encoder.identity) if with_head else None
    if head is None:
        return vectors, encoder.identity
    return head.transform(vectors), f"{encoder.identity}+head"


def head_on_tuned_encoder(vectors: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, *, k: int,
                          seed: int, progress: Progress = no_progress):
    """Fit the default head on the tuned encoder's ``vectors[train]`` and score both the encoder's vectors and
    the head's on ``vectors[val]`` (the records the fine-tuning chose its best epoch on; held-out data is never
    seen). Returns (the head or None when it does not score higher, the scores)."""
    from likewise.metrics import evaluate
    from likewise.tuning import Tuner
    from likewise.tuning.trainer import validation_k

    k = validation_k(int(k), y[val])
    head = Tuner(seed=seed).fit(vectors[train], y[train], progress=progress)
    plain_score = float(evaluate(vectors[val], y[val], k, metrics=["top_k"])["top_k"])
    head_score = float(evaluate(head.transform(vectors[val]), y[val], k, metrics=["top_k"])["top_k"])
    kept = head_score > plain_score and not getattr(head, "kept_identity_", False)
    scores = {"kept": bool(kept), "encoder_top_k": plain_score, "head_top_k": head_score, "k": k,
              "records": int(len(val)),
              "message": (f"a head on the tuned encoder: validation top_{k} {100 * head_score:.1f}% vs the tuned "
                          f"encoder alone {100 * plain_score:.1f}%: " + ("kept the head" if kept else "no head"))}
    return (head if kept else None), scores


def _tune_encoder(ws, data, raw, positions, y, classes, options, progress, start, fingerprint, labels_seq, *,
                  split=None, keep_if=None, unvalidated_why: str | None = None,
                  unvalidated_scores: dict[str, Any] | None = None):
    """Fine-tune the encoder on 80% of the labels (best epoch chosen on the rest), fit the default head on
    its vectors and keep the head when it scores higher on the same rest, save both and write tuned vectors
    (the tuned encoder runs on the fast path, :func:`load_tuned_encoder`, through the embedding cache).
    With ``keep_if(best validation top_k)`` the model is trained and measured first and kept only if that
    returns True: returns (result or None, best validation top_k); else returns the result. ``unvalidated_why``:
    what the result says when it trains on all labels without validation (default: the smallest class's size),
    ``unvalidated_scores`` the validation it reports then (default: none)."""
    import shutil
    import tempfile

    from likewise.embedding import embed_records
    from likewise.tuning.encoder_finetune import finetune_encoder

    if str(raw.encoder).startswith(("vectors:", "hashing:")):
        raise InputError("encoder fine-tuning needs a sentence-transformers model; these vectors came from "
                         f"{raw.encoder}")
    source_model = options.pop("base_model", None)
    texts = [data.texts[i] for i in positions]
    seed = int(options.get("seed", 0))
    validate = options.pop("validate", None)  # None: when every class has enough labels (can_validate_encoder)
    validated = split is not None or (can_validate_encoder(y) if validate is None else bool(validate))
    if split is not None:
        train, val = split
    elif validated:
        train, val = encoder_holdout(y, seed=seed)
    else:  # too few labels per class to tell epochs apart: all of them train, for the fixed schedule
        train, val = np.arange(len(y)), np.arange(0)
    source = (ws.records_info() or {}).get("source", {})

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch) / TUNED_MODEL_DIR
        fit = finetune_encoder(
            [texts[i] for i in train], y[train], model_dir, base_model=source_model,
            val_texts=[texts[i] for i in val] if validated else None, val_labels=y[val] if validated else None,
            progress=progress, **options,
        )
        encoder = load_tuned_encoder(model_dir, device=options.get("device"), own_graph=True)
        labeled_vectors, _ = embed_records(encoder, [data.ids[i] for i in positions], texts, ws.cache,
                                           progress=progress)
        if validated:
            head, head_scores = head_on_tuned_encoder(labeled_vectors, y, train, val, k=int(options.get("k", 100)),
                                                      seed=seed, progress=progress)
            best = max(head_scores["encoder_top_k"], head_scores["head_top_k"] if head is not None else -1.0)
            others = len(classes) - len(holdout_classes(y))
            validation = {"strategy": "holdout (20% of the labels)" if not others else
                          f"holdout (20% of the labels of the classes with {5 * MIN_VALIDATION_PER_CLASS}+; "
                          f"{others} smaller class{'es' if others > 1 else ''} only train)", "records": int(len(val)),
                          "identity_top_k": fit.history[0]["val_top_k"] if fit.history else float("nan"),
                          "trained_top_k": max(h["val_top_k"] for h in fit.history) if fit.history else float("nan"),
                          "head_on_encoder_top_k": head_scores["head_top_k"], "kept_top_k": best}
        else:
            smallest = int(np.unique(y, return_counts=True)[1].min())
            why = unvalidated_why or (
                f"the smallest class has {smallest} labels, too few to hold out {MIN_VALIDATION_PER_CLASS} per class "
                f"for validation: the encoder trained on all {len(y)} labels for the fixed schedule "
                f"({fit.config['epochs']} epochs) and is kept without a validation score; no head on top")
            head, best = None, float("nan")
            head_scores = {"kept": False, "message": why}
            validation = unvalidated_scores or {"strategy": "none (too few labels per class to validate)",
                                                "records": 0}
        if keep_if is not None and (fit.kept_base or not keep_if(best)):
            return None, best
        vectors, _ = embed_records(encoder, data.ids, data.texts, ws.cache, progress=progress)
        tuned = head.transform(vectors) if head is not None else vectors
        message = "; ".join(m for m in (fit.message, head_scores["message"]) if m)
        out = TuneResult(str(ws.path), "encoder", "", int(len(y)), classes, fit.kept_base, message, fit.history,
                         time.perf_counter() - start, fit.config, validation, "encoder",
                         encoder_head=plain(head_scores))

        encoder.prepare(progress)  # the ONNX graph into model_dir/onnx (own_graph), if no embedding made it yet

        def save(folder: Path) -> None:
            shutil.copytree(model_dir, folder / TUNED_MODEL_DIR)
            if head is not None:
                head.save(folder / ENCODER_HEAD_DIR, encoder=encoder.identity)
            write_model_card(folder, out, data_source=source)

        ref = ws.put_folder(save, "encoder")
    out.path = str(ws.objects.path(ref))
    identity = f"{encoder.identity}+head" if head is not None else encoder.identity
    ws.put_vectors("tuned", tuned, encoder=identity, encoder_raw=raw.encoder, by="encoder",
                   encoder_tuned=encoder.identity, head=head is not None,
                   raw_content=ws.vectors_info("raw")["content"], labels_fingerprint=fingerprint, labels_seq=labels_seq)
    ws.drop_artifact("head")
    ws.record_artifact("tuned_encoder", {"ref": ref, "config": fit.config, "kept_base": fit.kept_base,
                                         "best_epoch": fit.best_epoch, "message": message, "labels_seq": labels_seq,
                                         "head": head is not None, "head_scores": plain(head_scores),
                                         "identity": encoder.identity})
    return (out, best) if keep_if is not None else out


def write_model_card(folder: Path, result: TuneResult, *, data_source: dict[str, Any]) -> Path:
    """A Markdown model card next to a saved head or tuned encoder: what, on which data, how, how well."""
    from likewise import __version__

    lines = [
        f"# likewise {'head' if result.kind == 'head' else 'tuned encoder'}",
        "",
        f"- Trained on {result.train_records:,} labeled records from `{data_source.get('path', '?')}`",
        f"- Classes: {', '.join(f'{k} ({v})' for k, v in result.classes.items())}",
        f"- Training time: {result.seconds:.1f} s; likewise {__version__}",
        f"- Outcome: {result.message or ('kept the identity' if result.kept_identity else 'trained')}",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(result.config, indent=2, sort_keys=True, default=str),
        "```",
        "",
        "## Intended use",
        "",
        "Maps embeddings of this encoder so that nearest neighbours by cosine similarity share the query's class,",
        "for similarity labeling sessions, search, classifiers and 2D maps on data like the training data.",
        "It has only seen the classes above; evaluate it on held-out records (`likewise evaluate`) before relying",
        "on it for other data.",
    ]
    if result.selection:
        lines += ["", "## How the method was chosen", "",
                  f"`--method auto`: {result.selection.get('strategy', '')}. Chosen: **{result.method}**.", "",
                  "| candidate | validation top_k (mean) | min | max | fit seconds |", "|---|---|---|---|---|"]
        for name, score in result.selection.get("scores", {}).items():
            if "mean" in score:
                lines.append(f"| {name} | {score['mean']:.4f} | {score['min']:.4f} | {score['max']:.4f} | "
                             f"{score['seconds']:.2f} |")
            elif "holdout_top_k" in score:
                lines.append(f"| {name} ({score.get('split', '20% holdout')}) | {score['holdout_top_k']:.4f} | "
                             f"vs {score['vs']:.4f} | | |")
            else:
                lines.append(f"| {name} | {score.get('skipped', '')} | | | |")
    if result.encoder_head and "records" not in result.encoder_head:  # no validation: said why
        lines += ["", "## Head on the tuned encoder", "", str(result.encoder_head.get("message", ""))]
    elif result.encoder_head:
        h = result.encoder_head
        lines += ["", "## Head on the tuned encoder", "",
                  f"The default head was fitted on the tuned encoder's vectors of the training labels and scored on "
                  f"the {h['records']} validation records the best epoch was chosen on (top_{h['k']}):", "",
                  "| vectors | validation top_k |", "|---|---|",
                  f"| tuned encoder | {h['encoder_top_k']:.4f} |", f"| tuned encoder + head | {h['head_top_k']:.4f} |",
                  "", f"Kept: **{'tuned encoder + head' if h['kept'] else 'tuned encoder alone'}**."]
    if result.history:
        lines += ["", "## Training history", "", "| " + " | ".join(result.history[0]) + " |",
                  "|" + "---|" * len(result.history[0])]
        for row in result.history:
            lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    path = Path(folder) / "MODEL_CARD.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def plain(value: Any) -> Any:
    """JSON-friendly copy (numpy scalars to Python)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


# -- transform / export ------------------------------------------------------------------------------------------
EXPORT_FORMATS = ("parquet", "npy", "jsonl")


def export_vectors(ws: Workspace, out: str | Path, *, kind: str = "tuned", fmt: str | None = None) -> dict[str, Any]:
    """Write the workspace's ``kind`` vectors with record ids and current labels: Parquet (id, label, vector),
    JSON lines, or .npy (plus ``<name>.ids.json`` beside it). The folder of ``out`` must exist."""
    out = Path(out)
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)} (by --format or extension)")
    if not out.parent.is_dir():
        raise InputError(f"cannot write {out}: the folder {out.parent} does not exist; create it first")
    vec = ws.vectors(ws.resolve_kind(kind))
    data = ws.records()
    labels = dict(zip(data.ids, data.labels))
    if fmt == "npy":
        def write_npy(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a bare name
                np.save(f, vec.vectors, allow_pickle=False)

        atomic_write(out, write_npy, create_folder=False)
        atomic_write_text(out.with_name(out.stem + ".ids.json"), json.dumps(vec.ids), create_folder=False)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            "id": vec.ids,
            "label": [labels.get(i) for i in vec.ids],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.vectors.reshape(-1)), vec.vectors.shape[1]),
        })
        atomic_write(out, lambda tmp: pq.write_table(table, tmp), create_folder=False)
    else:
        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                for rid, row in zip(vec.ids, vec.vectors):
                    f.write(json.dumps({"id": rid, "label": labels.get(rid), "vector": [round(float(v), 7) for v in row]}) + "\n")
        atomic_write(out, write, create_folder=False)
    return {"path": str(out), "format": fmt, "kind": vec.kind, "records": len(vec.ids), "dim": int(vec.vectors.shape[1]),
            "encoder": vec.encoder}


def transform_vectors(ws: Workspace, vectors: np.ndarray, *, encoder: str | None = None) -> np.ndarray:
    """Apply the workspace's saved head to other vectors of the same encoder (dimension and identity checked)."""
    from likewise.tuning import Tuner

    path = ws.artifact_path("head", "head")
    if path is None:
        raise InputError(f"workspace {ws.path} has no saved head; run `likewise tune` first")
    tuner = Tuner.load(path, expected_dim=int(vectors.shape[1]), expected_encoder=encoder)
    return tuner.transform(vectors)
