"""One million records on this machine: each step's time and the process's peak RSS.

    python bench/scale.py [--n 1000000] [--sample 2000] [--labeled 10000] [--skip-hnsw] [--report-sample 5000]

Records: the sentences of the bundled BBC News articles (split at ". ") and the Rotten Tomatoes texts,
labelled by their source class ("bbc:sport", "rt:fresh", ...), repeated to N; record i is base text
``i mod P`` with word ``(i // P) mod len`` dropped (when it has more than one word) and " #i" appended, so no
two records share a text and every one is encoded (nothing comes from a cache or a duplicate).

Steps, in one process (each step's peak RSS is its own: Linux's high-water mark is reset before it; what
earlier steps left in memory, such as the N vectors, counts in it; nothing holds an N x N matrix):
  1. embed all N with the static encoder through the embedding cache (chunks of 4,096, shards on disk), or
     ``--no-cache`` straight from the encoder
  2. the default encoder (MiniLM, ONNX) on a random sample of ``--sample`` texts, its time extrapolated to N
  3. tune: the default ``Tuner`` fitted on ``--labeled`` labelled records, then all N transformed in blocks
  4. exact index of the tuned vectors (upserted in blocks) and a labeling session: one exact top-1,000 query;
     after it the script keeps the tuned vectors only in the index (and a 10,000-record map sample)
  5. HNSW graph (M=16, ef_construction=100) over the exact index (``HNSWIndex.from_exact``, as ``likewise
     index --backend hnsw`` builds it: the exact index is its store, not copied), a top-1,000 session query
     and its recall@1000 against the exact top-1,000
  6. a map of a 10,000-record sample (likewise.maps, PCA projection)
  7. a report: ``likewise embed/tune/report`` on a workspace of ``--report-sample`` records (static encoder),
     run as CLI commands (their peak RSS is the children's)
The load average is printed with every step: the 2 cores are shared. At the end: the largest step peak and
the whole process's high-water mark (the largest VmHWM seen before any reset, so memory between steps counts).
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS since the start (of this process, or of its finished children)."""
    return resource.getrusage(who).ru_maxrss / 1024


def step_peak_mb() -> float:
    """Peak RSS since the last :func:`reset_step_peak` (Linux VmHWM), so each step reports its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return rss_mb()


def reset_step_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # not Linux, or not allowed: the peaks are then cumulative
        pass


def load() -> str:
    return "load " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def base_texts() -> tuple[list[str], list[str]]:
    from likewise.datasets import load_dataset

    texts, labels = [], []
    bbc = load_dataset("bbc_news")
    for text, label in zip(bbc.texts, bbc.labels):
        for sentence in text.split(". "):
            if len(sentence.split()) >= 3:
                texts.append(sentence.strip())
                labels.append(f"bbc:{label}")
    rt = load_dataset("rotten_tomatoes")
    for text, label in zip(rt.texts, rt.labels):
        texts.append(text)
        labels.append(f"rt:{label}")
    return texts, labels


def records(n: int) -> tuple[list[str], list[str], np.ndarray]:
    """ids, texts and labels (array of str) of n perturbed records (see the module docstring)."""
    base, base_labels = base_texts()
    p = len(base)
    split = [t.split() for t in base]
    texts = []
    for i in range(n):
        words = split[i % p]
        if len(words) > 1:
            drop = (i // p) % len(words)
            words = words[:drop] + words[drop + 1:]
        texts.append(" ".join(words) + f" #{i}")
    labels = np.array([base_labels[i % p] for i in range(n)], dtype=object)
    return [f"r{i}" for i in range(n)], texts, labels


class Steps:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, str]] = []
        self.process_peak = 0.0  # the whole process's high-water mark, across the per-step resets

    def reset(self) -> None:
        self.process_peak = max(self.process_peak, step_peak_mb())
        reset_step_peak()

    def run(self, name: str, fn):
        gc.collect()
        self.reset()
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
        peak = step_peak_mb()
        self.peak = max(getattr(self, "peak", 0.0), peak)
        self.rows.append((name, seconds, peak, load()))
        print(f"{name:66} {seconds:8.1f} s  peak RSS {peak:7.0f} MB  ({load()})", flush=True)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=2000, help="texts for the default encoder's extrapolation")
    parser.add_argument("--labeled", type=int, default=10_000)
    parser.add_argument("--skip-hnsw", action="store_true")
    parser.add_argument("--report-sample", type=int, default=5000)
    parser.add_argument("--no-cache", action="store_true",
                        help="embed without the embedding cache (its in-memory table holds every vector again)")
    args = parser.parse_args()
    from likewise.cache import EmbeddingCache
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder
    from likewise.index import ExactIndex, HNSWIndex
    from likewise.index.base import Payload
    from likewise.tuning import Tuner

    print(f"# bench/scale.py: {args.n:,} records, {os.cpu_count()} CPUs, {load()}")
    steps = Steps()
    ids, texts, labels = steps.run("records (build in memory)", lambda: records(args.n))
    tmp = tempfile.TemporaryDirectory()
    cache = None if args.no_cache else EmbeddingCache(Path(tmp.name) / "cache")
    static = get_encoder("static")
    static.prepare()  # a distillation, if any, is a one-time cost: not part of the embed step
    raw, stats = steps.run(f"1. embed, static encoder ({'no cache' if args.no_cache else 'through the cache'})",
                           lambda: embed_records(static, ids, texts, cache))
    print(f"   {stats.encoded:,} encoded, {stats.cache_hits:,} from cache, {args.n / stats.seconds:,.0f} texts/s")
    if cache is not None:
        cache.close()
    del cache
    rng = np.random.default_rng(0)
    sample = rng.choice(args.n, size=min(args.sample, args.n), replace=False)
    default = get_encoder("default")
    default.embed(texts[:16])
    steps.run(f"2. embed, default encoder, {len(sample):,}-text sample", lambda: default.embed([texts[i] for i in sample]))
    sample_s = steps.rows[-1][1]
    print(f"   {len(sample) / sample_s:.1f} texts/s -> {args.n:,} records would take {args.n / len(sample) * sample_s / 3600:.1f} h "
          f"(static: {stats.seconds / 60:.1f} min)")
    del default
    labeled = rng.choice(args.n, size=min(args.labeled, args.n), replace=False)

    def tune() -> np.ndarray:
        tuner = Tuner(seed=0).fit(raw[labeled], labels[labeled])
        out = np.empty((args.n, tuner.transform(raw[:1]).shape[1]), np.float32)
        for lo in range(0, args.n, 100_000):
            out[lo:lo + 100_000] = tuner.transform(raw[lo:lo + 100_000])
        return out

    tuned = steps.run(f"3. tune ({len(labeled):,} labels) + transform all", tune)
    del raw
    gc.collect()
    queries = tuned[rng.choice(args.n, size=20, replace=False)]
    from likewise.maps import get_projection, sample_points, separation_scores

    map_rows = sample_points(args.n, 10_000, seed=0)
    map_vectors = tuned[map_rows]

    def exact_index() -> ExactIndex:
        index = ExactIndex(tuned.shape[1], encoder_id=static.identity, vector_kind="tuned")
        for lo in range(0, args.n, 100_000):
            hi = min(lo + 100_000, args.n)
            index.upsert(ids[lo:hi], tuned[lo:hi], [Payload(labels[i], None) for i in range(lo, hi)])
        return index

    index = steps.run("4. exact index (upsert in blocks of 100k)", exact_index)
    index.search(queries[:1], 1000)

    def session() -> float:
        times = []
        for q in queries:
            t0 = time.perf_counter()
            index.search(q[None], 1000)
            times.append(time.perf_counter() - t0)
        return 1000 * float(np.median(times))

    ms = steps.run("   session: exact top-1,000 query (20 queries)", session)
    print(f"   median {ms:.1f} ms per session of 1,000")
    exact_top = [{h.id for h in hits} for hits in index.search(queries, 1000)]
    del tuned  # from here on the tuned vectors live in the index only
    gc.collect()
    if not args.skip_hnsw:
        graph = steps.run("5. HNSW graph over the exact index (M=16, ef_construction=100)",
                          lambda: HNSWIndex.from_exact(index, M=16, ef_construction=100))

        def hnsw_session() -> tuple[float, float]:
            times, recalls = [], []
            for q, truth in zip(queries, exact_top):
                t0 = time.perf_counter()
                hits = graph.search(q[None], 1000)[0]
                times.append(time.perf_counter() - t0)
                recalls.append(len({h.id for h in hits} & truth) / len(truth))
            return 1000 * float(np.median(times)), float(np.mean(recalls))

        ms, recall = steps.run("   session: HNSW top-1,000 query (20 queries)", hnsw_session)
        print(f"   median {ms:.1f} ms per session of 1,000, recall@1000 {recall:.3f}")
        del graph
    del index
    gc.collect()

    def a_map() -> dict:
        coords = get_projection("pca").fit(map_vectors, np.zeros(len(map_rows)), 0)
        return separation_scores(coords, list(labels[map_rows]))

    steps.run("6. map of a 10,000-record sample (PCA)", a_map)

    def report() -> None:
        import pandas as pd

        rows = rng.choice(args.n, size=min(args.report_sample, args.n), replace=False)
        folder = Path(tmp.name)
        pd.DataFrame({"id": [ids[i] for i in rows], "text": [texts[i] for i in rows],
                      "label": [labels[i] for i in rows]}).to_parquet(folder / "sample.parquet")
        # each command reports its own peak RSS at exit: VmHWM (getrusage's maxrss survives exec, so it would
        # include this process's pages at fork)
        cli = [sys.executable, "-c", "import sys\nfrom likewise.cli.main import main\nsys.argv[0] = 'likewise'\n"
               "try:\n    main()\nfinally:\n    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
               "    print('PEAK', hwm[0].split()[1] if hwm else 0, file=sys.stderr)"]
        env = {**os.environ, "LIKEWISE_CACHE": str(folder / "cli-cache")}
        ws = str(folder / "ws")
        peaks = {}
        for command in (["embed", str(folder / "sample.parquet"), "-t", "text", "-l", "label", "-m", "static"],
                        ["tune"], ["report"]):
            done = subprocess.run([*cli, *command, "-w", ws, "--quiet"], check=True, env=env, capture_output=True,
                                  text=True)
            peaks[command[0]] = int(done.stderr.rsplit("PEAK", 1)[1].split()[0]) / 1024
        return peaks

    peaks = steps.run(f"7. report: embed + tune + report on a {args.report_sample:,}-record workspace (CLI)", report)
    print("   the commands' own peak RSS: " + ", ".join(f"{c} {mb:.0f} MB" for c, mb in peaks.items()))
    steps.reset()
    print(f"\nlargest step peak RSS: {steps.peak:.0f} MB; the whole process's high-water mark: "
          f"{steps.process_peak:.0f} MB (target < 4,096)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
