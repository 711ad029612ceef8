"""Encoder fine-tuning settings side by side on development seeds, no validation, held-out top_k.

    python bench/encoder_screen.py DATASET BUDGET SEEDS CONFIGS OUT
    e.g. python bench/encoder_screen.py rotten_tomatoes 250 0,1,2 '[{}, {"loss_params": {"temperature": 0.2}}]' rows.jsonl

For each config (keyword arguments of ``likewise.tuning.encoder_finetune.finetune_encoder``; ``{}`` is the
default schedule) and seed: the budget's labels (likewise.evaluation's split and sample), fine-tuned on all of
them with no validation (what ``likewise tune --train-encoder`` does where a class is too small to hold out 5),
``time_budget`` unset, then the held-out 40% embedded by the tuned model (PyTorch) and scored by top_k with the
dataset's k (bench/quality.py's ``K``). One JSON row per fit, appended to OUT as it finishes.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from quality import K, vectors_for  # noqa: E402

from likewise.encoders import get_encoder  # noqa: E402
from likewise.evaluation import holdout_split, sample_budget  # noqa: E402
from likewise.labels import labeled_arrays  # noqa: E402
from likewise.metrics import evaluate  # noqa: E402
from likewise.tuning.encoder_finetune import finetune_encoder  # noqa: E402


def main() -> None:
    name, budget, seeds, configs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
    _, labels, texts = vectors_for(name)
    positions, y = labeled_arrays(labels)
    k = K[name]
    for cfg in configs:
        for seed in (int(s) for s in seeds.split(",")):
            pool, test = holdout_split(y, seed=seed)
            train = sample_budget(y, pool, budget, seed=seed)
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                finetune_encoder([texts[positions[i]] for i in train], y[train], tmp + "/m", seed=seed, **cfg)
                fit = time.perf_counter() - t0
                Z = get_encoder(tmp + "/m", runtime="torch").embed([texts[positions[i]] for i in test])
            m = evaluate(Z, y[test], min(k, len(test) - 1), metrics=["top_k"])
            row = {"dataset": name, "budget": budget, "seed": seed, "cfg": cfg, "top_k": m["top_k"], "fit_s": fit,
                   "load": os.getloadavg()[0]}
            print(json.dumps(row), flush=True)
            with open(out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
