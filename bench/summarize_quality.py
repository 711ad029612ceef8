"""One compact table from the JSON lines bench/quality.py writes with --out: per dataset x budget, top_k
mean [min-max] over seeds of raw, the best of the baselines (raw, reference, lda, lda_shrinkage), the head
alone, auto on the budget only (``auto_labeled``, no self-training) and likewise's default (auto with
self-training on the unlabeled records), with the default's worst per-seed gap to raw. With ``--fits``, one row
per fit of plain ``likewise tune`` (``encoder:auto`` rows of ``--encoder-mode auto``): what auto kept, how its
comparison scored the encoder against the map, and the held-out top_k against raw, the best baseline and the
default map of the same split.

    python bench/summarize_quality.py [--fits] rows.jsonl
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


def fits(path: str) -> None:
    """One row per ``encoder:auto`` fit, paired with the vector methods of the same (dataset, budget, seed)."""
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    by = {(r["dataset"], r["budget"], r["seed"], r["method"]): r for r in rows}
    print("| dataset | budget | seed | raw | best baseline | default map | auto (kept) | auto - best baseline "
          "| auto - raw | comparison: encoder - map | tune s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["method"] != "encoder:auto":
            continue
        key = (r["dataset"], r["budget"], r["seed"])
        base = {m: by[(*key, m)]["top_k"] for m in BASELINES if (*key, m) in by}
        best = max(base, key=base.get) if base else None
        enc = ((r.get("selection") or {}).get("scores") or {}).get("encoder") or {}
        gap = (f"{enc['holdout_top_k'] - enc['vs']:+.3f}" if "holdout_top_k" in enc and "vs" in enc else "none")
        pct = lambda v: f"{100 * v:.1f}" if v is not None else ""
        mapped = by.get((*key, "likewise"), {}).get("top_k")
        print(f"| {r['dataset']} | {r['budget']} | {r['seed']} | {pct(base.get('raw'))} | "
              f"{best} {pct(base.get(best))} | {pct(mapped)} | **{pct(r['top_k'])}** ({r['kind']}) | "
              f"{100 * (r['top_k'] - base[best]):+.1f} | {100 * (r['top_k'] - base['raw']):+.1f} | {gap} | "
              f"{r['seconds']:.0f} |")


if __name__ == "__main__":
    if sys.argv[1] == "--fits":
        fits(sys.argv[2])
    else:
        main(sys.argv[1])
