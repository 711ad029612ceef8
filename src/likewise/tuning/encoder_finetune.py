"""Full encoder fine-tuning through sentence-transformers' trainer, with likewise's losses.

For data where a head on frozen vectors cannot move (on Rotten Tomatoes a head gains only a few points),
the encoder itself is trained. The loss is the same code the heads use (:mod:`likewise.tuning.losses`
takes embeddings and labels), wrapped as a sentence-transformers loss. Batches come from likewise's
class-balanced sampler (:class:`likewise.tuning.sampler.EpochBatchSampler`): every batch holds at least two
classes with at least two records each, never a single-class batch. Runs on CUDA when present (``device``
overrides), on the CPU for small sets. The best epoch by validation top_k is kept; if no epoch beats the
untouched model, the untouched model is kept (unless ``force``) and the result says so.

``epochs=None`` and ``lr=None`` pick the schedule from the label count and ``time_budget``
(:func:`plan_schedule`); training also stops at an epoch's end when the next epoch would overrun the budget.
The trainer's own output (its printed log dicts, progress bars, the model card's "Computing widget
examples" bar) is switched off: progress comes only through the ``progress`` callback. The tuned model is
saved as a normal sentence-transformers folder (safetensors weights), written to a temporary folder and
renamed into place.
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.progress import Progress, no_progress


DEFAULT_EPOCHS = 8
DEFAULT_LR = 1e-4
MIN_STEPS = 32
"""The schedule: at least 8 epochs and at least 32 optimizer steps (a budget of 25 labels is one batch per
epoch: 32 epochs), at 1e-4. Chosen on Rotten Tomatoes with development seeds 0-2 (bench/RESULTS.md, "Encoder
fine-tuning, faster"): at 25 labels 32 steps beat 8 on every seed (57.1 vs 55.4 mean top_1000), at 250 labels
1e-4 beat 5e-5 (64.9 vs 62.0-61.5) and level with 2e-4; 16 epochs instead of 8 gained 0.3 points on seed 0 and
none on seed 1, for 1.3-2.8x the time."""
CPU_SECONDS_PER_TOKEN_EPOCH = {"bf16": 1.0e-3, "fp32": 1.6e-3}
"""What one token of training text costs per epoch (forward and backward in chunks of similar length, plus
the validation encode) with MiniLM on this project's 2-core CPU, a little above the quiet-machine figures
of bench/RESULTS.md ("Encoder fine-tuning, faster": ~0.6 ms in bf16, ~1.1 ms in fp32) since a shared
CPU runs slower; a GPU is ~20x faster. Training also stops at a step when the budget is spent."""
FEW_CLASSES = 5
"""With up to this many classes the encoder's supcon loss runs warmer (:func:`supcon_temperature`)."""


def supcon_temperature(n_classes: int) -> float:
    """The supcon temperature encoder fine-tuning uses by default: 0.2 with up to :data:`FEW_CLASSES` classes,
    else 0.1 (the loss's own default, which the heads keep).

    Chosen on development seeds on all five open sets (bench/RESULTS.md, "The encoder's loss temperature
    follows the number of classes"): at 0.2 instead of 0.1 the 3- and 5-class sets gained on every seed
    (Rotten Tomatoes +0.8 at 250 labels and +0.4 at 25, drug reviews by rating +2.1, BBC News +0.6), the
    11- and 24-class sets lost (drug conditions -0.7, FOLDOC -1.7). With few classes a batch holds many
    positives per anchor, and a colder loss pulls each class into tight clumps that a new record of the class
    misses; with many classes the colder loss's push on the nearest other classes is what separates them."""
    return 0.2 if int(n_classes) <= FEW_CLASSES else 0.1


CHARS_PER_TOKEN = 4.0
"""English text through MiniLM's WordPiece tokenizer: ~4 characters per token (a plan, not a count)."""


def estimate_tokens(texts: Sequence[str], window: int = 256) -> float:
    """Mean tokens per text as the encoder sees them (cut at ``window``), estimated from characters."""
    if not texts:
        return 0.0
    return float(np.mean([min(window, 2 + len(t) / CHARS_PER_TOKEN) for t in texts]))


ENCODE_SECONDS_PER_TOKEN = 2.0e-4
"""What one token costs to encode with MiniLM on this project's 2-core CPU at the slower of its measured hosts
(bench/RESULTS.md: the AMD EPYC host encoded BBC News's 2,225 articles of ~240 tokens in ~105 s; 21 MFLOP per
token at ~100 GFLOP/s achieved). A GPU is ~20x faster."""
EXPORT_SECONDS = 15.0
"""Exporting and fusing a tuned encoder's ONNX graph on the CPU (12.5 s measured on the AMD EPYC host)."""


def after_training_seconds(texts: Sequence[str], *, device: str = "cpu") -> float:
    """What a kept tuned encoder still costs once its training ends: the ONNX export (on the CPU; a GPU encodes
    with torch) and encoding ``texts``, every record of the workspace. ``auto`` keeps this out of the final
    fine-tuning's time budget, so the whole ``tune`` ends within ``--time-budget``."""
    tokens = len(texts) * estimate_tokens(texts)
    if device != "cpu":
        return tokens * ENCODE_SECONDS_PER_TOKEN / 20
    return EXPORT_SECONDS + tokens * ENCODE_SECONDS_PER_TOKEN


def plan_schedule(n_train: int, time_budget: float | None, *, device: str = "cpu", tokens_per_record: float = 64.0,
                  precision: str = "fp32", batch_size: int = 32) -> tuple[int, float]:
    """(epochs, lr) for ``n_train`` records of ``tokens_per_record`` tokens within ``time_budget`` seconds: the
    default schedule (:data:`DEFAULT_EPOCHS` epochs, at least :data:`MIN_STEPS` steps, :data:`DEFAULT_LR`) when
    it fits, else as many epochs as fit (at least 1) with the learning rate raised in proportion to the steps
    lost (capped at 2e-4), so a short schedule still moves the weights as far."""
    steps_per_epoch = max(1, -(-int(n_train) // int(batch_size)))
    wanted = max(DEFAULT_EPOCHS, -(-MIN_STEPS // steps_per_epoch))
    if time_budget is None:
        return wanted, DEFAULT_LR
    per_token = CPU_SECONDS_PER_TOKEN_EPOCH.get(precision, CPU_SECONDS_PER_TOKEN_EPOCH["fp32"])
    per_epoch = max(1e-6, n_train * tokens_per_record * per_token / (1 if device == "cpu" else 20))
    epochs = int(max(1, min(wanted, time_budget // per_epoch)))
    return epochs, float(min(2e-4, DEFAULT_LR * wanted / epochs))


def schedule_for(texts: Sequence[str], time_budget: float | None, *, device: str = "cpu", precision: str = "auto",
                 batch_size: int = 32, n_train: int | None = None) -> tuple[int, float]:
    """(epochs, lr) that :func:`finetune_encoder` plans for a fine-tuning on ``texts`` within ``time_budget``
    seconds on ``device`` (already resolved) in ``precision`` (:func:`~likewise.encoders.device.training_precision`),
    in batches of ``batch_size``: :func:`plan_schedule` with the texts' own token estimate. ``n_train`` trains on
    that many of them (a trial on a share of the labels); all of them by default. The one place the plan is made,
    so ``auto``'s checks ask exactly what the fine-tuning will do."""
    from likewise.encoders.device import training_precision

    return plan_schedule(len(texts) if n_train is None else int(n_train), time_budget, device=device,
                         precision=training_precision(device, precision), tokens_per_record=estimate_tokens(texts),
                         batch_size=batch_size)


@dataclass
class EncoderFinetuneResult:
    """Where the tuned model went and how training went (validation top_k per epoch, 0 = untouched)."""

    path: str
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    kept_base: bool = False
    message: str = ""
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


LENGTH_CHUNK = 8
"""Records per forward pass inside a training batch: the batch is sorted by token count and encoded in chunks
of this many, each padded only to its own longest text (:func:`_embed_by_length`)."""


def _embed_by_length(model, features: dict[str, Any], chunk: int = LENGTH_CHUNK):
    """The model's sentence embeddings of one tokenized batch, computed in chunks of similar length.

    A collated batch is padded to its longest text: with short texts and a few long ones (Rotten Tomatoes:
    mean 33 tokens, some 256) most of a batch's tokens are padding. Each chunk is cut to its own longest
    text, which the attention mask makes exact: a record's embedding (mean over its own tokens) and its
    gradient do not depend on the other records of its forward pass, so the loss and the gradients are those
    of the whole batch, up to float rounding, for a fraction of the work."""
    import torch

    mask = features["attention_mask"]
    n, width = mask.shape
    lengths = mask.sum(dim=1)
    order = torch.argsort(lengths)
    parts = []
    for idx in order.split(chunk):
        cut = int(lengths[idx].max())
        part = {key: (value[idx, :cut] if value.dim() == 2 and value.shape[1] == width else value[idx])
                for key, value in features.items() if torch.is_tensor(value) and value.shape[:1] == (n,)}
        parts.append(model(part)["sentence_embedding"])
    embeddings = torch.cat(parts)
    return embeddings[torch.argsort(order)]


def _loss_module(model, loss_name: str, loss_params: dict[str, Any], precision: str = "fp32"):
    import contextlib

    import torch

    from likewise.tuning.losses import make_loss

    loss_fn = make_loss(loss_name, **loss_params)

    class EmbeddingLoss(torch.nn.Module):
        """sentence-transformers' loss protocol over likewise's loss on embeddings."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.loss_fn = loss_fn

        def forward(self, sentence_features, labels):
            device = next(self.model.parameters()).device.type
            mixed = (torch.autocast(device_type=device, dtype=torch.bfloat16) if precision == "bf16"
                     else contextlib.nullcontext())
            with mixed:  # the encoder's products in bfloat16; the loss on float32 embeddings
                embeddings = _embed_by_length(self.model, sentence_features[0])
            embeddings = torch.nn.functional.normalize(embeddings.float(), dim=-1)
            return self.loss_fn(embeddings, labels)

    return EmbeddingLoss()


def _val_top_k(model, texts: list[str], labels: np.ndarray, k: int, batch_size: int) -> float:
    """top_k of the validation records among themselves, with the heads' k (:func:`validation_k`: at most a
    typical class's size - 1; a k near the number of validation records would score every model the same)."""
    from likewise.metrics import evaluate
    from likewise.tuning.trainer import validation_k

    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    return float(evaluate(vectors, labels, validation_k(k, labels), metrics=["top_k"])["top_k"])


def finetune_encoder(
    texts: Sequence[str],
    labels: Sequence[Hashable],
    output: str | Path,
    *,
    base_model: str | Path | None = None,
    loss: str = "supcon",
    loss_params: dict[str, Any] | None = None,
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float | None = None,
    k: int = 100,
    val_texts: Sequence[str] | None = None,
    val_labels: Sequence[Hashable] | None = None,
    seed: int = 0,
    device: str | None = None,
    force: bool = False,
    time_budget: float | None = None,
    precision: str = "auto",
    progress: Progress = no_progress,
) -> EncoderFinetuneResult:
    """Fine-tune a sentence-transformers model on (texts, labels); save the best one to ``output``."""
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from likewise.encoders import CUDA_BATCH_SIZE
    from likewise.encoders.device import resolve_device, training_precision
    from likewise.encoders.sentence_transformer import check_model_folder, default_model_path
    from likewise.labels import check_labels
    from likewise.tuning.sampler import EpochBatchSampler

    try:
        import datasets  # noqa: F401  (the trainer needs it)
        from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
        from sentence_transformers.sentence_transformer.training_args import (
            SentenceTransformerTrainingArguments,
        )
    except ImportError as exc:
        raise InputError("encoder fine-tuning needs `pip install 'likewise[train]'` (datasets, accelerate)") from exc

    start = time.perf_counter()
    _quiet_libraries()
    y = np.asarray([str(v) for v in labels], dtype=object)
    check_labels(y)
    if len(texts) != len(y):
        raise InputError(f"{len(texts)} texts for {len(y)} labels; they must match")
    base = Path(base_model) if base_model is not None else default_model_path()
    check_model_folder(base)
    device = resolve_device(device)
    precision = training_precision(device, precision)
    # validation encodes in CUDA's larger batches on a GPU (the training batch is a hyperparameter: unchanged)
    encode_batch = CUDA_BATCH_SIZE if device.startswith("cuda") else batch_size
    planned_epochs, planned_lr = schedule_for(texts, time_budget, device=device, precision=precision,
                                              batch_size=batch_size)
    epochs = planned_epochs if epochs is None else int(epochs)
    lr = planned_lr if lr is None else float(lr)
    output = Path(output)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(seed)
    model = SentenceTransformer(str(base), device=device, local_files_only=True)
    classes = sorted(set(y))
    codes = np.array([classes.index(v) for v in y], dtype=np.int64)
    loss_params = dict(loss_params or {})
    if loss == "supcon" and "temperature" not in loss_params:
        loss_params["temperature"] = supcon_temperature(len(classes))

    from datasets import Dataset as HFDataset

    train = HFDataset.from_dict({"text": list(texts), "label": codes.tolist()})
    has_val = val_texts is not None and val_labels is not None and len(val_texts) > 2
    val_y = np.asarray([str(v) for v in val_labels], dtype=object) if has_val else None
    history: list[dict[str, float]] = []
    best = {"epoch": 0, "score": -1.0, "state": None}
    if has_val:
        score = _val_top_k(model, list(val_texts), val_y, k, encode_batch)
        history.append({"epoch": 0, "val_top_k": score})
        best["score"] = score

    epoch_started = {"at": time.perf_counter()}

    stopped = {"at_budget": False}

    class Track(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            progress(min(state.global_step, total_steps), total_steps, "fine-tuning the encoder")
            if time_budget is not None and time.perf_counter() - start > time_budget:
                # the budget is spent mid-epoch (a loaded CPU runs far slower than plan_schedule assumes):
                # stop now; the trainer still ends the epoch, so this partial one is validated like the others
                stopped["at_budget"] = control.should_training_stop = True

        def on_epoch_begin(self, args, state, control, **kw):
            epoch_started["at"] = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kw):
            if has_val:
                score = _val_top_k(model, list(val_texts), val_y, k, encode_batch)
                epoch = len(history)  # epochs validated so far, epoch 0 included: a partial last one counts
                history.append({"epoch": epoch, "val_top_k": score})
                if score > best["score"]:
                    best.update(epoch=epoch, score=score,
                                state=copy.deepcopy({n: t.detach().cpu() for n, t in model.state_dict().items()}))
            now = time.perf_counter()
            if time_budget is not None and now - start + (now - epoch_started["at"]) > time_budget:
                control.should_training_stop = True  # the next epoch would overrun the time budget

    def batches(dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        return EpochBatchSampler(np.asarray(dataset["label"]), batch_size=batch_size, seed=seed)

    steps_per_epoch = max(1, -(-len(texts) // batch_size))
    total_steps = steps_per_epoch * epochs
    with tempfile.TemporaryDirectory() as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=lr,
            warmup_steps=max(1, total_steps // 10),
            seed=seed,
            batch_sampler=batches,
            save_strategy="no",
            report_to=[],
            logging_strategy="no",
            disable_tqdm=True,
            use_cpu=device == "cpu",
            dataloader_drop_last=False,
        )
        model.model_card_data.set_widget_examples = lambda dataset: None  # its "Computing widget examples" bar
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=train, loss=_loss_module(model, loss, loss_params, precision),
            callbacks=[Track()],
        )
        for noisy in (PrinterCallback, ProgressCallback):  # print {'train_runtime': ...} dicts, draw tqdm bars
            trainer.remove_callback(noisy)
        trainer.train()
    kept_base = False
    message = ""
    if has_val:
        if best["state"] is None and not force:
            kept_base = True
            best_tuned = max((h["val_top_k"] for h in history[1:]), default=history[0]["val_top_k"])
            message = (f"kept the untouched model: on validation its top_k is {100 * history[0]['val_top_k']:.1f}%, the "
                       f"best fine-tuned epoch {100 * best_tuned:.1f}%; pass --force (force=True) to keep the "
                       "fine-tuned one")
            model = SentenceTransformer(str(base), device=device, local_files_only=True)
        elif best["state"] is not None:
            model.load_state_dict(best["state"])
            message = (f"kept the fine-tuned model (epoch {best['epoch']}): on validation its top_k is "
                       f"{100 * best['score']:.1f}%, the untouched model's {100 * history[0]['val_top_k']:.1f}%")
    _save_model_atomic(model, output)
    return EncoderFinetuneResult(
        path=str(output), history=history, best_epoch=int(best["epoch"]), kept_base=kept_base, message=message,
        seconds=time.perf_counter() - start,
        config={"base_model": str(base), "loss": loss, "loss_params": loss_params, "epochs": epochs,
                "batch_size": batch_size, "lr": lr, "k": k, "seed": seed, "device": device, "precision": precision,
                "train_records": len(texts), "val_records": len(val_texts) if has_val else 0,
                "time_budget": time_budget, "epochs_run": round(float(trainer.state.epoch or 0), 2),
                "stopped_at_budget": stopped["at_budget"]},
    )


def _quiet_libraries() -> None:
    """The trainer's own progress bars and notices would interleave with likewise's bar; progress comes
    through the ``progress`` callback instead."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def _save_model_atomic(model, output: Path) -> None:
    """Save into a sibling temporary folder, then swap it into place (the previous model survives a crash)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
    try:
        model.save(str(tmp), safe_serialization=True)
        _classic_pooling_config(tmp)
        old = None
        if output.exists():
            old = output.with_name(f".{output.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(output, old)
        os.replace(tmp, output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _classic_pooling_config(folder: Path) -> None:
    """sentence-transformers 6 saves mean pooling as ``"pooling_mode": "mean"``; write it in the classic
    form (``"pooling_mode_mean_tokens": true``, as the bundled model has it, and as sentence-transformers
    still reads it) so the ONNX Runtime path, which checks that form, runs the tuned encoder too."""
    import json

    path = folder / "1_Pooling" / "config.json"
    if not path.exists():
        return
    config = json.loads(path.read_text())
    if config.get("pooling_mode") != "mean":
        return
    classic = {"word_embedding_dimension": config.get("embedding_dimension", config.get("word_embedding_dimension")),
               "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": config.get("include_prompt", True)}
    path.write_text(json.dumps(classic, indent=2))
