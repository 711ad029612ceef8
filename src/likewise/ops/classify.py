"""``likewise classify`` on a workspace: a logistic regression on raw vs tuned vectors (and the tuned encoder's
vectors, where the workspace holds a tuned encoder), scored on held-out records, predictions for the unlabeled
ones as weak labels."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from likewise.classify import Classification, EncoderFeatures, WeakLabels, classify_records, export_weak_labels
from likewise.errors import InputError
from likewise.evaluation import HeldOut
from likewise.progress import Progress, no_progress
from likewise.workspace import Workspace


@dataclass
class ClassifyResult:
    """What ``likewise classify`` reports: held-out scores, predictions and where they were written."""

    workspace: str
    classification: Classification
    weak: WeakLabels
    export: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        c = self.classification
        above = {str(t): self.weak.predicted_count(t) for t in (0.5, 0.7, 0.9)}
        return {"workspace": self.workspace, "scores": [s.to_dict() for s in c.scores],
                "predicted_with": c.predicted_with, "unlabeled_records": int(len(c.predicted)),
                "predicted_above": above, "config": c.config, "seconds": round(c.seconds, 3),
                "export": self.export}


def held_out_precision(classification: Classification, threshold: float) -> float | None:
    """The held-out precision of the classifier that made the predictions (``predicted_with`` vectors) among
    held-out records with confidence above ``threshold``: what a weak label above that threshold is worth.
    None when no held-out record was that confident or the threshold is not one of the table's."""
    score = classification.score(classification.predicted_with)
    if score is None:
        return None
    row = next((r for r in score.thresholds if abs(r["threshold"] - threshold) < 1e-9), None)
    return None if row is None else row["precision"]


def workspace_tuner_options(ws: Workspace) -> dict[str, Any]:
    """The configuration of the workspace's saved head (what ``likewise tune`` used), for a held-out head."""
    head = ws.artifact("head") or {}
    return dict(head.get("config") or {})


def current_tuned(ws: Workspace):
    """The tuned vectors' array when current tuned vectors exist, else None (stale ones raise)."""
    return ws.vectors("tuned").vectors if ws.has_vectors("tuned") else None


def has_tuned_encoder(ws: Workspace) -> bool:
    """Whether the workspace's current tuned vectors come from a tuned encoder it holds."""
    info = ws.vectors_info("tuned") or {}
    return ws.has_vectors("tuned") and info.get("by") == "encoder" and ws.artifact("tuned_encoder") is not None


ENCODER_CHOICES = ("auto", "yes", "no")
"""``likewise classify --encoder``: score the tuned encoder's vectors where the workspace has a tuned encoder
(auto), insist on it (yes: an error without one), or skip the held-out fine-tuning it costs (no)."""


def encoder_features(ws: Workspace, texts: list[str], ids: list[str], heldout: HeldOut, *, device: str | None = None,
                     progress: Progress = no_progress) -> EncoderFeatures:
    """The tuned encoder's vectors as classifier features, without a leak: for the held-out score an encoder
    is fine-tuned on the split's training records only, with the tuned encoder's schedule (its loss, batch,
    learning rate and best epoch, no validation: the epoch count is fixed), and embeds the training and
    held-out records (PyTorch, outside the cache: the model is thrown away); the predictions use the
    workspace's tuned encoder (through the cache, without the head kept on top of it)."""
    import tempfile
    from pathlib import Path

    from likewise.encoders import get_encoder
    from likewise.ops.tune import tuned_encoder_vectors
    from likewise.tuning.encoder_finetune import finetune_encoder

    entry = ws.artifact("tuned_encoder") or {}
    config = dict(entry.get("config") or {})
    every_record, identity = tuned_encoder_vectors(ws, texts, with_head=False, ids=ids, cached=True,
                                                   progress=progress)
    train_texts = [texts[i] for i in heldout.train_records]
    test_texts = [texts[i] for i in heldout.test_records]
    epochs = int(entry.get("best_epoch") or config.get("epochs_run") or config.get("epochs") or 1)
    if entry.get("kept_base"):
        epochs = 0  # the tuned encoder is the untouched model: so is the held-out one
    made = {"tuned_encoder": identity, "heldout_encoder": f"fine-tuned on the {len(train_texts)} training records "
            f"only for {epochs} epochs" if epochs else "the untouched base model (the tuned encoder kept it)",
            "epochs": epochs, "train_records": len(train_texts)}
    with tempfile.TemporaryDirectory() as scratch:
        if epochs:
            options = {name: config[name] for name in ("loss", "loss_params", "batch_size", "lr", "k", "seed")
                       if config.get(name) is not None}
            base = config.get("base_model")
            finetune_encoder(train_texts, heldout.y[heldout.train], Path(scratch) / "heldout-encoder",
                             base_model=base, epochs=epochs, device=device, force=True, progress=progress, **options)
            model = get_encoder(Path(scratch) / "heldout-encoder", runtime="torch", device=device)
        else:
            model = get_encoder(config.get("base_model") or "default", runtime="torch", device=device)
        start = time.perf_counter()
        train = model.embed(train_texts, progress=progress)
        test = model.embed(test_texts, progress=progress)
        made["embed_seconds"] = round(time.perf_counter() - start, 3)
    return EncoderFeatures(train, test, every_record, made)


def classify_workspace(
    ws: Workspace,
    *,
    export: str | Path | None = None,
    export_format: str | None = None,
    attribute: str = "text",
    task: str = "likewise",
    min_confidence: float | None = None,
    include_labeled: bool = True,
    heldout: HeldOut | None = None,
    encoder: str = "auto",
    device: str | None = None,
    progress: Progress = no_progress,
    **options: Any,
) -> ClassifyResult:
    """:func:`classify_records` on a workspace's current labels (raw vectors, and tuned ones when
    ``likewise tune`` ran); the scores are stored (artifact ``classifier``) and logged in the run log, and
    the weak labels exported when asked.

    Where the tuned vectors come from a tuned encoder, the rows are: raw; ``tuned``, a head on the raw
    vectors (as for any workspace: the head is what a logistic regression is usually offered); and
    ``encoder``, the tuned encoder's own vectors (:func:`encoder_features`; ``encoder="no"`` skips them)."""
    from likewise.evaluation import make_heldout
    from likewise.ops.runs import log_run

    if encoder not in ENCODER_CHOICES:
        raise InputError(f"unknown --encoder choice {encoder!r}; use one of {', '.join(ENCODER_CHOICES)}")
    start = time.perf_counter()
    data = ws.records()
    raw = ws.vectors("raw")
    tuned = current_tuned(ws)
    by_encoder = has_tuned_encoder(ws)
    if encoder == "yes" and not by_encoder:
        raise InputError("--encoder yes needs a tuned encoder; run `likewise tune --train-encoder` first")
    if encoder == "no" and options.get("predict_with") == "encoder":
        raise InputError("--predict-with encoder needs a tuned encoder's scores; drop --encoder no")
    features = None
    if by_encoder:
        from likewise.tuning import Tuner

        # the workspace's tuned vectors are the encoder's: the "tuned" row is a head on the raw vectors
        tuner_options = workspace_tuner_options(ws)
        heldout = heldout or make_heldout(raw.vectors, data.labels, seed=int(options.get("seed", 0)),
                                          test_size=float(options.get("test_size", 0.4)),
                                          budget=options.get("budget", "all"), tuner_options=tuner_options,
                                          progress=progress)
        head = Tuner(**{**tuner_options, "seed": int(options.get("seed", 0))})
        tuned = head.fit(raw.vectors[heldout.positions], heldout.y, progress=progress).transform(raw.vectors)
        if encoder != "no":
            features = encoder_features(ws, list(data.texts), list(data.ids), heldout, device=device,
                                        progress=progress)
    result = classify_records(raw.vectors, data.labels, tuned=tuned, encoder=features, heldout=heldout,
                              tuner_options=workspace_tuner_options(ws), progress=progress, **options)
    weak = WeakLabels.from_classification(data.ids, data.texts, data.labels, data.label_sources,
                                          data.confidences, result)
    exported = None
    if export is not None:
        exported = export_weak_labels(weak, export, fmt=export_format, attribute=attribute, task=task,
                                      min_confidence=min_confidence, include_labeled=include_labeled)
    out = ClassifyResult(str(ws.path), result, weak, exported)
    with ws.writing("classify"):
        ws.record_artifact("classifier", {"ref": ws.put_json(out.to_dict())})
        log_run(ws, "classify", config=result.config, labels=data.class_counts(),
                metrics={s.vectors: s.to_dict() for s in result.scores}, seconds=time.perf_counter() - start)
    return out
