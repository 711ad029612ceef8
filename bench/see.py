"""Classifier, 2D maps and report on real data: the numbers behind bench/RESULTS.md ("See and share").

    python bench/see.py [--seeds 0,1,2] [--budget 100] [--report-records 10000] [--skip-umap]

1. BBC News, a label budget of 100 (the evaluation's split and budget, per seed): logistic-regression
   accuracy on raw vs tuned vectors (tuned = default ``Tuner()`` trained on the 100 training records only),
   and the held-out 2D kNN accuracy (k=10) of each map: PCA/UMAP of raw and tuned vectors, the supervised
   maps (supervised UMAP, 2-D head). Also the kNN accuracy in the full 384-d space (the ceiling a map can
   hardly pass).
2. A full report (``likewise report`` defaults) of a 10,000-record workspace (a random 10,000 of Rotten
   Tomatoes, embedded with the bundled all-MiniLM-L6-v2, tuned and evaluated beforehand, which the report
   does not count), timed end to end; and once more with UMAP maps.

Vectors come from the embedding cache in ./.bench-cache (encoded once). The machine's load average is
printed, since the 2 cores are shared.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CACHE = Path(".bench-cache")


def load() -> str:
    return "load average " + " / ".join(f"{v:.1f}" for v in os.getloadavg())


def vectors_for(name: str, n: int | None = None):
    from likewise.cache import EmbeddingCache
    from likewise.datasets import load_dataset
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder

    data = load_dataset(name)
    if n is not None and n < len(data):
        data = data.subset(np.sort(np.random.default_rng(0).permutation(len(data))[:n]))
    encoder = get_encoder("default")
    t0 = time.perf_counter()
    vectors, stats = embed_records(encoder, data.ids, data.texts, EmbeddingCache(CACHE))
    print(f"# {name}: {len(data):,} records, {stats.encoded:,} encoded, {stats.cache_hits:,} from cache, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return data, vectors, encoder


def mean_range(values: list[float]) -> str:
    v = 100 * np.asarray(values)
    return f"{v.mean():.1f} ({v.min():.1f}-{v.max():.1f})"


def bbc(seeds: list[int], budget: int, umap: bool) -> dict:
    from likewise.classify import classify_records
    from likewise.evaluation import make_heldout
    from likewise.maps import make_maps
    from likewise.metrics import evaluate

    data, raw, _ = vectors_for("bbc_news")
    rows: dict[str, list[float]] = {}
    for seed in seeds:
        t0 = time.perf_counter()
        heldout = make_heldout(raw, data.labels, seed=seed, budget=budget)
        result = classify_records(raw, data.labels, tuned=heldout.tuned, heldout=heldout)
        c1 = classify_records(raw, data.labels, tuned=heldout.tuned, heldout=heldout, C=1.0)
        for s, s1 in zip(result.scores, c1.scores):
            rows.setdefault(f"logreg accuracy, {s.vectors} (C=10)", []).append(s.accuracy)
            rows.setdefault(f"logreg accuracy, {s.vectors} (C=1)", []).append(s1.accuracy)
            t7 = next(r for r in s.thresholds if r["threshold"] == 0.7)
            rows.setdefault(f"confidence > 0.7 kept, {s.vectors}", []).append(t7["kept"])
            rows.setdefault(f"confidence > 0.7 precision, {s.vectors}", []).append(t7["precision"] or 0.0)
        test = heldout.test_records
        y_test = heldout.y[heldout.test]
        for name, X in (("raw", raw), ("tuned", heldout.tuned)):
            rows.setdefault(f"kNN accuracy in 384-d, {name}", []).append(
                evaluate(X[test], y_test, 10, metrics=["knn_accuracy"])["knn_accuracy"])
        projections = ("pca", "umap") if umap else ("pca",)
        maps = make_maps(raw, data.labels, heldout=heldout, projections=projections,
                         supervised="umap_supervised" if umap else "head2d", seed=seed)
        panels = list(maps.panels)
        if umap:
            panels += [p for p in make_maps(raw, data.labels, heldout=heldout, projections=(), supervised="head2d",
                                            seed=seed).panels]
        for p in panels:
            rows.setdefault(f"2D kNN accuracy, {p.title}", []).append(p.knn_accuracy)
            rows.setdefault(f"2D silhouette, {p.title}", []).append(p.silhouette)
            rows.setdefault(f"seconds, {p.title}", []).append(p.seconds / 100)  # shown x100 below
        print(f"  seed {seed}: {time.perf_counter() - t0:.0f} s (head {heldout.tune_seconds:.0f} s), {load()}", flush=True)
    print(f"\n## BBC News, budget {budget}, seeds {seeds} (mean (min-max), %)")
    for key, values in rows.items():
        shown = mean_range(values) if not key.startswith(("2D silhouette", "seconds")) else \
            f"{np.mean(values) * (100 if key.startswith('seconds') else 1):.3f}"
        print(f"| {key} | {shown} |")
    raw_acc = np.mean(rows["logreg accuracy, raw (C=10)"])
    tuned_acc = np.mean(rows["logreg accuracy, tuned (C=10)"])
    pca = np.mean(rows["2D kNN accuracy, raw · PCA"])
    sup = max(np.mean(v) for k, v in rows.items() if k.startswith("2D kNN accuracy") and ("supervised" in k or "2-D head" in k))
    print(f"\ntarget 1: tuned logreg >= raw + 3 points: {100 * (tuned_acc - raw_acc):+.1f} points")
    print(f"target 2: supervised map 2D kNN >= raw PCA + 20 points: {100 * (sup - pca):+.1f} points")
    return {k: [float(x) for x in v] for k, v in rows.items()}


def report_workspace(n: int) -> Path:
    """A workspace of n Rotten Tomatoes records with raw vectors, a tuned head and an evaluation."""
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.evaluate import evaluate_workspace
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    folder = CACHE / f"see-report-{n}"
    if (folder / "manifest.json").exists():
        ws = Workspace.open(folder)
        if ws.artifact("evaluation") is not None:
            return folder
    shutil.rmtree(folder, ignore_errors=True)
    data, _, encoder = vectors_for("rotten_tomatoes", n)
    ws = Workspace.open(folder, create=True, cache=CACHE)
    # the vectors are in the bench's embedding cache by now: embedding only stores them
    embed_into_workspace(ws, data, encoder, source={"dataset": "rotten_tomatoes",
                                                    "path": f"bundled:rotten_tomatoes (random {n:,})"})
    t0 = time.perf_counter()
    tune_workspace(ws)
    print(f"# tuned {n:,} records in {time.perf_counter() - t0:.0f} s (not part of the report), {load()}", flush=True)
    t0 = time.perf_counter()
    evaluate_workspace(ws, methods=["raw", "likewise"], budgets=[100, 1000, "all"], seeds=[0], k=1000)
    print(f"# evaluated in {time.perf_counter() - t0:.0f} s (not part of the report), {load()}", flush=True)
    return folder


VARIANTS = {
    "defaults (PCA + 2-D head)": {},
    "PCA + supervised UMAP": {"supervised": "umap_supervised"},
    "PCA + UMAP + supervised UMAP": {"projections": ("pca", "umap"), "supervised": "umap_supervised"},
}


def report_child(n: int, variant: str) -> None:
    """Runs in a fresh process (imports included in its time, as for `likewise report`): one report."""
    from likewise.report import ReportOptions, build_report
    from likewise.workspace import Workspace

    ws = Workspace.open(CACHE / f"see-report-{n}")
    t0 = time.perf_counter()
    result = build_report(ws, out=CACHE / f"see-report-{n}-out" / "report.html", options=ReportOptions(**VARIANTS[variant]))
    print(json.dumps({"seconds": time.perf_counter() - t0, "timings": result.timings, "headline": result.headline,
                      "html_bytes": Path(result.html).stat().st_size}, default=str))


def report(n: int, umap: bool) -> dict:
    import subprocess
    import sys

    report_workspace(n)
    out = {}
    for name in VARIANTS if umap else list(VARIANTS)[:1]:
        before = load()
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--report-child", name, "--report-records", str(n)],
                              capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\n## report of {n:,} records, {name}: {wall:.1f} s for the whole process, {result['seconds']:.1f} s "
              f"in build_report ({before} before, {load()} after), HTML {result['html_bytes'] / 1e6:.1f} MB")
        print("| step | s |")
        for step, s in result["timings"].items():
            print(f"| {step} | {s:.1f} |")
        print(json.dumps(result["headline"], default=str))
        out[name] = {"wall": wall, **result}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--report-records", type=int, default=10_000)
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--only", choices=["bbc", "report"], default=None)
    parser.add_argument("--report-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.report_child:
        report_child(args.report_records, args.report_child)
        return
    print(f"# {load()}", flush=True)
    if args.only in (None, "bbc"):
        bbc([int(s) for s in args.seeds.split(",")], args.budget, not args.skip_umap)
    if args.only in (None, "report"):
        report(args.report_records, not args.skip_umap)


if __name__ == "__main__":
    main()
