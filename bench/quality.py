"""Tuning quality on real data: raw vs reference recipe vs LDA vs likewise, held-out, over seeds.

    python bench/quality.py [--datasets bbc_news,rotten_tomatoes] [--budgets 25,100,250,all] [--seeds 0,1,2]
                            [--encoder-finetune]

Per dataset (BBC News k=100, Rotten Tomatoes k=1000) x label budget x method (``likewise``, the default, also
sees the vectors of the training pool outside the budget, unlabeled; ``auto_labeled`` is the same without them): mean and min/max over seeds of
top_k, MAP@R and logistic-regression accuracy on the held-out 40%, plus training seconds. The protocol is
likewise.evaluation's (the same as `likewise evaluate`). Vectors come from the bundled all-MiniLM-L6-v2
through an embedding cache in ./.bench-cache (encoded once). ``--encoder-finetune`` adds full encoder
fine-tuning at the smallest budgets (slow on a CPU).
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


def encoder_rows(name: str, texts: list[str], labels: list, budgets, seeds, k: int) -> list[dict]:
    """Full encoder fine-tuning at the given budgets (held-out protocol as in likewise.evaluation)."""
    import tempfile

    from likewise.encoders import SentenceTransformerEncoder
    from likewise.evaluation import holdout_split, logistic_accuracy, sample_budget
    from likewise.labels import labeled_arrays
    from likewise.metrics import evaluate
    from likewise.tuning.encoder_finetune import finetune_encoder

    positions, y = labeled_arrays(labels)
    rows = []
    for seed in seeds:
        pool, test = holdout_split(y, seed=seed)
        for budget in budgets:
            train = sample_budget(y, pool, budget, seed=seed)
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                finetune_encoder([texts[positions[i]] for i in train], y[train], f"{tmp}/m", seed=seed)
                seconds = time.perf_counter() - t0
                enc = SentenceTransformerEncoder(f"{tmp}/m")
                Z_test = enc.embed([texts[positions[i]] for i in test])
                Z_train = enc.embed([texts[positions[i]] for i in train])
            m = evaluate(Z_test, y[test], min(k, len(test) - 1), metrics=["top_k", "map_at_r"])
            m["logreg_accuracy"] = logistic_accuracy(Z_train, y[train], Z_test, y[test])
            rows.append({"budget": str(budget), "seed": seed, "seconds": seconds, **m})
            print(f"  encoder fine-tuning {name} budget {budget} seed {seed}: top_{k} {m['top_k']:.3f} "
                  f"({seconds:.0f} s)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="bbc_news,rotten_tomatoes,foldoc,drug_reviews")
    parser.add_argument("--budgets", default="25,100,250,all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default="raw,reference,lda,lda_shrinkage,centroids,head,auto_labeled,likewise")
    parser.add_argument("--out", default=None, help="also write every row as JSON lines to this file")
    parser.add_argument("--encoder-finetune", action="store_true")
    args = parser.parse_args()
    from likewise.evaluation import evaluate_methods

    budgets = [b if b == "all" else int(b) for b in args.budgets.split(",")]
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
            small = [b for b in budgets if b != "all" and b <= 250]
            encoder_rows(name, texts, labels, small, seeds[:1], k)


if __name__ == "__main__":
    main()
