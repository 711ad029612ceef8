"""Tuning quality on real data: raw vs reference recipe vs LDA vs likewise, held-out, over seeds.

    python bench/quality.py [--datasets bbc_news,rotten_tomatoes] [--budgets 25,100,250,all] [--seeds 0,1,2]
                            [--encoder-finetune [--encoder-only] [--encoder-mode train-encoder|auto]
                             [--encoder-budgets 25,100,250] [--time-budget 300]] [--out rows.jsonl]

Per dataset (BBC News k=100, Rotten Tomatoes k=1000) x label budget x method (``likewise``, the default, also
sees the vectors of the training pool outside the budget, unlabeled; ``auto_labeled`` is the same without them): mean and min/max over seeds of
top_k, MAP@R and logistic-regression accuracy on the held-out 40%, plus training seconds. The protocol is
likewise.evaluation's (the same as `likewise evaluate`). Vectors come from the bundled all-MiniLM-L6-v2
through an embedding cache in ./.bench-cache (encoded once). ``--encoder-finetune`` adds full encoder
fine-tuning as a user runs it (``likewise tune --train-encoder``, or with ``--encoder-mode auto`` plain
``likewise tune``) at ``--encoder-budgets`` on every seed (slow on a CPU); ``--encoder-only`` runs just those.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

K = {"bbc_news": 100, "rotten_tomatoes": 1000, "foldoc": 25, "drug_reviews": 30, "drug_conditions": 10}
"""k per dataset: BBC News and Rotten Tomatoes as in the issue; for the new sets about the median held-out class
size (FOLDOC: its smallest held-out subject has 24 records; drug reviews: 36 neutral held out; conditions: 6-77)."""
TARGETS = {
    ("bbc_news", "25"): 0.78, ("bbc_news", "100"): 0.89, ("bbc_news", "250"): 0.92,
    ("rotten_tomatoes", "25"): 0.54, ("rotten_tomatoes", "250"): 0.60,
}


def vectors_for(name: str) -> tuple[np.ndarray, list, list[str]]:
    from likewise.cache import EmbeddingCache
    from likewise.datasets import load_dataset
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder

    data = load_dataset(name)
    t0 = time.perf_counter()
    vectors, stats = embed_records(get_encoder("default"), data.ids, data.texts, EmbeddingCache(".bench-cache"))
    print(f"# {name}: {len(data):,} records, {stats.encoded:,} encoded, {stats.cache_hits:,} from cache, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return vectors, data.labels, data.texts


def tune_as_user(name: str, X: np.ndarray, texts: list[str], positions: np.ndarray, y: np.ndarray,
                 train: np.ndarray, extra: np.ndarray, test: np.ndarray, seed: int, *, mode: str = "auto",
                 time_budget: float = 300.0) -> dict:
    """One fit as a user runs it: a fresh workspace with the records ``train`` (labeled) and ``extra``
    (unlabeled; positions into ``y``, records ``positions[...]`` of ``texts``/``X``), raw vectors from the bench
    cache, then ``likewise tune --train-encoder`` (``mode="train-encoder"``) or plain ``likewise tune``
    (``mode="auto"``) with ``time_budget``; the records ``test`` are then embedded by whatever the workspace
    kept (the tuned encoder through its head, or the map on the raw vectors). Returns the tune's result,
    Z_train / Z_test, the tune's and the embedding's seconds and the load average before and after."""
    import tempfile
    from pathlib import Path

    from likewise.encoders import get_encoder
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.tune import tune_workspace, tuned_encoder_vectors
    from likewise.records.dataset import Dataset
    from likewise.tuning import Tuner
    from likewise.workspace import Workspace

    encoder = get_encoder("default")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ws", create=True, cache=".bench-cache")
        every = np.concatenate([train, extra])
        data = Dataset.from_lists([texts[positions[i]] for i in every],
                                  [str(v) for v in y[train]] + [None] * len(extra),
                                  [f"r{positions[i]}" for i in every])
        embed_into_workspace(ws, data, encoder, source={"path": f"{name} {len(train)} labels seed {seed}"})
        load0, t0 = os.getloadavg()[0], time.perf_counter()
        if mode == "train-encoder":
            result = tune_workspace(ws, train_encoder=True, encoder_options={"seed": seed, "time_budget": time_budget})
        else:
            result = tune_workspace(ws, tuner_options={"seed": seed, "method": "auto"}, train_encoder=None,
                                    time_budget=time_budget)
        seconds = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
        t1 = time.perf_counter()
        if result.kind == "encoder":
            Z_test, _ = tuned_encoder_vectors(ws, [texts[positions[i]] for i in test])
        else:  # the map on the raw vectors (cached)
            Z_test = Tuner.load(result.path, expected_encoder=encoder.identity).transform(X[positions[test]])
        order = {rid: i for i, rid in enumerate(ws.records(ws.labels()).ids)}
        Z_train = ws.vectors("tuned").vectors[[order[f"r{positions[i]}"] for i in train]]
        embed_seconds = time.perf_counter() - t1
        ws.store.close()
    return {"result": result, "Z_train": Z_train, "Z_test": Z_test, "seconds": seconds,
            "embed_seconds": embed_seconds, "load": [round(load0, 2), round(load1, 2)]}


def encoder_rows(name: str, X: np.ndarray, texts: list[str], labels: list, budgets, seeds, k: int, *, mode: str = "train-encoder",
                 time_budget: float = 300.0, out: str | None = None, unlabeled: int = 0) -> list[dict]:
    """Encoder fine-tuning as a user runs it (:func:`tune_as_user`), scored on the held-out 40% (protocol of
    likewise.evaluation), per seed and budget: ``mode="train-encoder"``, ``likewise tune --train-encoder`` (80%
    of the labels train the encoder, the best epoch and a head on top are chosen on the other 20%, when every
    class can hold 5 out); ``mode="auto"``, plain ``likewise tune`` (the map chosen by cross-validation, or the
    tuned encoder when it scores higher on the same validation records). ``unlabeled``: the workspace also
    holds this many records of the training pool outside the budget, unlabeled (a random sample, by the seed),
    as a user's workspace does: the map self-trains on them and a kept encoder embeds them too."""
    import json

    from likewise.evaluation import holdout_split, logistic_accuracy, sample_budget
    from likewise.labels import labeled_arrays
    from likewise.metrics import evaluate

    positions, y = labeled_arrays(labels)
    n_classes = len(set(y))
    budgets = [b for b in budgets if b == "all" or b >= 2 * n_classes]  # below 2 per class: skipped, as for maps
    rows = []
    for seed in seeds:
        pool, test = holdout_split(y, seed=seed)
        for budget in budgets:
            train = sample_budget(y, pool, budget, seed=seed)
            rest = np.setdiff1d(pool, train)
            extra = np.sort(np.random.default_rng(seed).choice(rest, min(unlabeled, len(rest)), replace=False))
            fit = tune_as_user(name, X, texts, positions, y, train, extra, test, seed, mode=mode,
                               time_budget=time_budget)
            result = fit["result"]
            m = evaluate(fit["Z_test"], y[test], min(k, len(test) - 1), metrics=["top_k", "map_at_r"])
            m["logreg_accuracy"] = logistic_accuracy(fit["Z_train"], y[train], fit["Z_test"], y[test])
            config = (result.config or {})
            row = {"dataset": name, "method": f"encoder:{mode}", "budget": str(budget), "seed": seed,
                   "seconds": fit["seconds"], "embed_seconds": fit["embed_seconds"], "kind": result.kind,
                   "unlabeled": len(extra), "selection": result.selection,
                   "kept_base": bool(result.kept_identity), "epochs_run": config.get("epochs_run"),
                   "lr": config.get("lr"), "head_on_encoder": (result.encoder_head or {}).get("kept"),
                   "message": result.message, "load": fit["load"], **m}
            rows.append(row)
            print(f"  {mode} {name} budget {budget} seed {seed}: {result.kind}, top_{k} {m['top_k']:.3f} "
                  f"({fit['seconds']:.0f} s tune, {fit['embed_seconds']:.0f} s embedding the held-out; load "
                  f"{fit['load'][0]:.1f}-{fit['load'][1]:.1f})", flush=True)
            if out:
                with open(out, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row, default=str) + "\n")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="bbc_news,rotten_tomatoes,foldoc,drug_reviews")
    parser.add_argument("--budgets", default="25,100,250,all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default="raw,reference,lda,lda_shrinkage,centroids,head,auto_labeled,likewise")
    parser.add_argument("--out", default=None, help="also write every row as JSON lines to this file")
    parser.add_argument("--encoder-finetune", action="store_true",
                        help="also run encoder fine-tuning as users run it (see encoder_rows), at --encoder-budgets")
    parser.add_argument("--encoder-only", action="store_true", help="only the encoder rows (no map methods)")
    parser.add_argument("--encoder-mode", choices=["train-encoder", "auto"], default="train-encoder",
                        help="train-encoder: `likewise tune --train-encoder`; auto: plain `likewise tune`")
    parser.add_argument("--encoder-budgets", default="25,100,250")
    parser.add_argument("--unlabeled", type=int, default=0,
                        help="encoder rows: also put this many unlabeled pool records in each workspace")
    parser.add_argument("--time-budget", type=float, default=300.0, help="the tune's --time-budget (seconds)")
    args = parser.parse_args()
    from likewise.evaluation import evaluate_methods

    budgets = [b if b == "all" else int(b) for b in args.budgets.split(",")]
    encoder_budgets = [b if b == "all" else int(b) for b in args.encoder_budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in args.datasets.split(","):
        X, labels, texts = vectors_for(name)
        k = K[name]
        t0 = time.perf_counter()
        n_classes = len({label for label in labels if label is not None})
        small = [b for b in budgets if b != "all" and b < 2 * n_classes]
        if small:
            print(f"# {name}: budgets {small} skipped: below 2 labeled records for each of its {n_classes} classes")
        result = None
        if args.encoder_only:
            encoder_rows(name, X, texts, labels, encoder_budgets, seeds, k,
                         mode=args.encoder_mode, time_budget=args.time_budget, out=args.out, unlabeled=args.unlabeled)
            continue
        for seed in seeds:  # one seed at a time, so every finished seed's rows are written (long runs)
            part = evaluate_methods(X, labels, methods=args.methods.split(","),
                                    budgets=[b for b in budgets if b not in small], seeds=[seed], k=k,
                                    metric_names=["top_k", "map_at_r"])
            if args.out:
                import json

                with open(args.out, "a", encoding="utf-8") as out:
                    for r in part.rows:
                        out.write(json.dumps({"dataset": name, "method": r.method, "budget": str(r.budget),
                                              "seed": r.seed, "seconds": r.seconds, **r.metrics}) + "\n")
            print(f"# {name}: seed {seed} done ({time.perf_counter() - t0:.0f} s, load average "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
            if result is None:
                result = part
            else:
                result.rows += part.rows
        print(f"\n## {name}: top_{k} on the held-out 40%, mean [min-max] over seeds {seeds} "
              f"({time.perf_counter() - t0:.0f} s)\n")
        print(f"| budget | method | top_{k} | MAP@R | logreg acc | fit s | target |")
        print("|---|---|---|---|---|---|---|")
        by_cell = {(r.method, str(r.budget), r.seed): r.metrics["top_k"] for r in result.rows}
        means = {(e["method"], e["budget"]): e["top_k"]["mean"] for e in result.summary()}
        for entry in sorted(result.summary(), key=lambda e: (budgets.index(e["budget"] if e["budget"] == "all" else int(e["budget"])),
                                                              args.methods.split(",").index(e["method"]))):
            cell = lambda m: f"{100 * entry[m]['mean']:.1f} [{100 * entry[m]['min']:.1f}-{100 * entry[m]['max']:.1f}]"
            target = TARGETS.get((name, entry["budget"])) if entry["method"] == "likewise" else None
            mark = ""
            if target is not None:
                mark = f">= {100 * target:.0f}: {'met' if entry['top_k']['mean'] >= target else 'MISSED'}"
            if entry["method"] == "likewise":
                rivals = [m for m in ("raw", "reference", "lda", "lda_shrinkage") if (m, entry["budget"]) in means]
                best = max(rivals, key=lambda m: means[(m, entry["budget"])]) if rivals else None
                if best is not None and entry["top_k"]["mean"] < means[(best, entry["budget"])]:
                    mark += f" below {best}"
                worst = min((by_cell[("likewise", entry["budget"], s)] - by_cell[("raw", entry["budget"], s)]
                             for s in seeds if ("raw", entry["budget"], s) in by_cell and ("likewise", entry["budget"], s) in by_cell),
                            default=0.0)
                if worst < -0.005:
                    mark += f" (a seed {100 * -worst:.1f} below raw)"
            print(f"| {entry['budget']} | {entry['method']} | {cell('top_k')} | {cell('map_at_r')} | "
                  f"{cell('logreg_accuracy')} | {entry['seconds']:.1f} | {mark} |", flush=True)
        if args.encoder_finetune:
            encoder_rows(name, X, texts, labels, encoder_budgets, seeds, k,
                         mode=args.encoder_mode, time_budget=args.time_budget, out=args.out, unlabeled=args.unlabeled)


if __name__ == "__main__":
    main()
