"""One compact table from the JSON lines bench/quality.py writes with --out: per dataset x budget, top_k
mean [min-max] over seeds of raw, the best of the baselines (raw, reference, lda, lda_shrinkage), the head
alone, auto on the budget only (``auto_labeled``, no self-training) and likewise's default (auto with
self-training on the unlabeled records), with the default's worst per-seed gap to raw.

    python bench/summarize_quality.py rows.jsonl
"""
from __future__ import annotations

import json
import sys

import numpy as np

BASELINES = ("raw", "reference", "lda", "lda_shrinkage")


def main(path: str) -> None:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    cells: dict[tuple[str, str, str], dict[int, float]] = {}
    for r in rows:
        cells.setdefault((r["dataset"], r["budget"], r["method"]), {})[r["seed"]] = r["top_k"]
    order = []
    for r in rows:
        if (r["dataset"], r["budget"]) not in order:
            order.append((r["dataset"], r["budget"]))
    print("| dataset | budget | raw | best baseline | head | auto, labels only | likewise (default) | default - best baseline "
          "| worst seed vs raw |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dataset, budget in order:
        get = lambda m: cells.get((dataset, budget, m), {})
        fmt = lambda v: f"{100 * np.mean(list(v.values())):.1f} [{100 * min(v.values()):.1f}-{100 * max(v.values()):.1f}]" if v else ""
        means = {m: np.mean(list(get(m).values())) for m in BASELINES if get(m)}
        best = max(means, key=means.get)
        auto, raw = get("likewise"), get("raw")
        worst = min(auto[s] - raw[s] for s in auto if s in raw) if auto and raw else float("nan")
        gap = np.mean(list(auto.values())) - means[best] if auto else float("nan")
        print(f"| {dataset} | {budget} | {fmt(raw)} | {best} {100 * means[best]:.1f} | {fmt(get('head'))} | "
              f"{fmt(get('auto_labeled'))} | {fmt(auto)} | {100 * gap:+.1f} | {100 * worst:+.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
