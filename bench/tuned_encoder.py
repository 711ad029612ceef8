"""The tuned encoder end to end on one real set: `likewise tune --train-encoder` (best epoch and the head on
top chosen on its validation split), `likewise classify` with the tuned encoder's row, and the tuned encoder's
embedding speed on ONNX Runtime vs PyTorch side by side (same texts, same run), with the load average.

    .venv/bin/python bench/tuned_encoder.py --dataset rotten_tomatoes --records 1000 --labels 250 --seed 0
    .venv/bin/python bench/tuned_encoder.py --labels 100 --epochs 3 --time-budget 3000 --speed-texts 300

Prints one JSON line per step (and ``uptime`` before each), nothing else.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average: ")[-1]


def emit(step: str, **values) -> None:
    print(json.dumps({"step": step, "load": load_average(), **values}, default=str), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="rotten_tomatoes")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--labels", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=300.0)
    parser.add_argument("--epochs", type=int, default=None, help="Default: planned from the time budget.")
    parser.add_argument("--lr", type=float, default=None, help="Default: planned with the epochs.")
    parser.add_argument("--speed-texts", type=int, default=1000)
    args = parser.parse_args()

    from likewise.datasets import load_dataset
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder
    from likewise.ops.classify import classify_workspace
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.tune import load_tuned_encoder, tune_workspace, tuned_model_folder
    from likewise.workspace import Workspace

    data = load_dataset(args.dataset)
    rng = np.random.default_rng(args.seed)
    picks = np.sort(rng.choice(len(data), min(args.records, len(data)), replace=False))
    data = data.subset(picks)
    labeled = set(rng.choice(len(data), args.labels, replace=False).tolist())
    for i in range(len(data)):
        if i not in labeled:
            data.labels[i] = None
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.setdefault("LIKEWISE_CACHE", f"{scratch}/cache")
        ws = Workspace.open(Path(scratch) / "ws", create=True)
        t0 = time.perf_counter()
        embed_into_workspace(ws, data, get_encoder("default"), source={"path": args.dataset})
        emit("embed", records=len(data), seconds=round(time.perf_counter() - t0, 1))

        t0 = time.perf_counter()
        result = tune_workspace(Workspace.open(ws.path), train_encoder=True,
                                encoder_options={"seed": args.seed, "epochs": args.epochs, "lr": args.lr,
                                                 "time_budget": args.time_budget})
        emit("tune --train-encoder", labels=args.labels, seconds=round(time.perf_counter() - t0, 1),
             validation=result.validation, encoder_head=result.encoder_head, kept_base=result.kept_identity,
             epochs=result.config.get("epochs"), epochs_run=result.config.get("epochs_run"), lr=result.config.get("lr"))

        t0 = time.perf_counter()
        classified = classify_workspace(Workspace.open(ws.path), seed=args.seed)
        c = classified.classification
        emit("classify", seconds=round(time.perf_counter() - t0, 1), predicted_with=c.predicted_with,
             heldout_encoder=c.config.get("encoder"),
             scores={s.vectors: {"accuracy": round(s.accuracy, 4), "macro_f1": round(s.macro_f1, 4),
                                 "train": s.train_records, "test": s.test_records} for s in c.scores})

        folder = Workspace.open(ws.path).artifact_path("tuned_encoder")
        full = load_dataset(args.dataset)
        texts = [full.texts[i] for i in rng.choice(len(full), args.speed_texts, replace=False)]
        onnx = load_tuned_encoder(folder, device="cpu")
        torch = get_encoder(tuned_model_folder(folder), runtime="torch", device="cpu")
        onnx.embed(texts[:16])  # the one-time export and session load, outside the timing
        torch.embed(texts[:16])
        timings = {}
        vectors = {}
        for name, encoder in (("onnx", onnx), ("torch", torch), ("onnx again", onnx)):
            t0 = time.perf_counter()
            vectors[name] = encoder.embed(texts)
            timings[name] = round(len(texts) / (time.perf_counter() - t0), 1)
        cache_dir = Path(scratch) / "speed-cache"
        from likewise.cache import EmbeddingCache

        cache = EmbeddingCache(cache_dir)
        ids = [str(i) for i in range(len(texts))]
        embed_records(onnx, ids, texts, cache)
        t0 = time.perf_counter()
        _, stats = embed_records(onnx, ids, texts, cache)
        emit("tuned encoder speed", texts=len(texts), texts_per_s=timings,
             onnx_vs_torch=round(timings["onnx"] / timings["torch"], 2),
             cosine_min=float(np.sum(vectors["onnx"] * vectors["torch"], axis=1).min()),
             cache_rerun_records_per_s=round(len(texts) / (time.perf_counter() - t0), 1),
             cache_hits=stats.cache_hits, identity=onnx.identity, runtime=type(onnx).__name__)


if __name__ == "__main__":
    main()
