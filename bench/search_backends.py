"""Search backends compared: exact vs HNSW (build, latency, recall@k vs exact), Milvus insert and query speed.

    python bench/search_backends.py [--n 100000] [--dim 384] [--milvus-n 20000] [--skip ann,milvus]
    python scripts/milvus_server.py run -- python bench/search_backends.py --skip exact,ann   # + server

Data: clustered unit vectors (``--clusters`` centres with Gaussian spread, like sentence embeddings of a
topical corpus); queries are fresh points from the same distribution. HNSW recall@k is measured against
:class:`ExactIndex` on ``--queries`` queries (tie-aware, as in ``HNSWIndex.measure_recall``). Milvus runs on
Milvus Lite (a temporary .db file) and, when ``LIKEWISE_MILVUS_URI`` is set, on that server, with a FLAT
index (exact). Prints one JSON line per measurement; bench/RESULTS.md ("Search backends") records a run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid

import numpy as np

from likewise.index import ExactIndex, HNSWIndex, MilvusIndex


def clustered(n: int, dim: int, clusters: int, seed: int, spread: float = 0.6, intrinsic: int = 0) -> np.ndarray:
    """Unit vectors around random centres. ``intrinsic=0``: isotropic noise in all ``dim`` directions (the
    hardest case for a graph index); ``intrinsic=r``: noise mostly in one shared random r-dim subspace plus a
    little isotropic noise, closer to sentence embeddings, whose intrinsic dimension is far below 384."""
    rng = np.random.default_rng(seed)
    basis_rng = np.random.default_rng(12345)  # the same subspace and centres for data and queries
    centres = basis_rng.normal(size=(clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    if intrinsic:
        basis = np.linalg.qr(basis_rng.normal(size=(dim, intrinsic)))[0].T  # shape: (intrinsic, dim)
        noise = rng.normal(size=(n, intrinsic)) @ basis / np.sqrt(intrinsic)
        noise += 0.1 * rng.normal(size=(n, dim)) / np.sqrt(dim)
    else:
        noise = rng.normal(size=(n, dim)) / np.sqrt(dim)
    x = centres[rng.integers(clusters, size=n)] + spread * noise
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def latency_ms(index, queries: np.ndarray, k: int, repeats: int) -> float:
    """Median wall time of one single-vector query."""
    times = []
    for q in queries[:repeats]:
        _, seconds = timed(lambda: index.search(q, k))
        times.append(seconds)
    return 1000 * float(np.median(times))


def recall(truth, got) -> float:
    found = []
    for t, g in zip(truth, got):
        kth = t[-1].score
        found.append(sum(h.score >= kth - 1e-6 for h in g) / len(t))
    return float(np.mean(found))


def bench_exact_and_ann(args, vectors, ids, queries, skip) -> None:
    exact = ExactIndex(args.dim, encoder_id="bench")
    _, build = timed(lambda: exact.upsert(ids, vectors))
    emit(backend="exact", n=args.n, dim=args.dim, build_s=round(build, 2))
    for k in (10, args.k):
        batch, seconds = timed(lambda: exact.search(queries, k))
        emit(backend="exact", k=k, single_query_ms=round(latency_ms(exact, queries, k, 30), 2),
             batch_queries=len(queries), batch_ms_per_query=round(1000 * seconds / len(queries), 2))
    if "ann" in skip:
        return
    truth = {k: exact.search(queries, k) for k in (10, args.k)}
    for m, ef_construction in args.hnsw:
        ann, build = timed(lambda: HNSWIndex.from_exact(exact, M=m, ef_construction=ef_construction))
        with tempfile.TemporaryDirectory() as folder:
            _, save_s = timed(lambda: ann.save(folder))
            _, load_s = timed(lambda: HNSWIndex.load(folder))
        emit(backend="hnsw", M=m, ef_construction=ef_construction, build_s=round(build, 1),
             save_s=round(save_s, 1), load_s=round(load_s, 1))
        for k, efs in ((10, (32, 64, 128)), (args.k, (args.k, int(1.5 * args.k), 2 * args.k))):
            for ef in efs:
                ann.ef, ann.ef_per_k = ef, 0.0
                got, seconds = timed(lambda: ann.search(queries, k))
                emit(backend="hnsw", M=m, ef_construction=ef_construction, k=k, ef=ef,
                     recall=round(recall(truth[k], got), 4),
                     single_query_ms=round(latency_ms(ann, queries, k, 30), 2),
                     batch_ms_per_query=round(1000 * seconds / len(queries), 2))
        del ann


def bench_milvus(args, label: str, uri: str, skip) -> None:
    n = args.milvus_n
    vectors = clustered(n, args.dim, args.clusters, seed=3, intrinsic=args.intrinsic)
    ids = [f"r{i:07d}" for i in range(n)]
    queries = clustered(args.queries, args.dim, args.clusters, seed=4, intrinsic=args.intrinsic)
    exact = ExactIndex(args.dim, encoder_id="bench")
    exact.upsert(ids, vectors)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    (index, create_s) = timed(lambda: MilvusIndex.create(uri, name, dimension=args.dim, encoder_id="bench",
                                                         batch_size=args.batch))
    try:
        _, insert_s = timed(lambda: index.upsert(ids, vectors))
        emit(backend=label, n=n, dim=args.dim, create_s=round(create_s, 2), insert_s=round(insert_s, 2),
             insert_records_per_s=round(n / insert_s))
        for consistency in ("Strong", "Bounded"):
            index.consistency = consistency
            for k in (10, 100):
                got, seconds = timed(lambda: index.search(queries, k))
                emit(backend=label, consistency=consistency, k=k,
                     single_query_ms=round(latency_ms(index, queries, k, 30), 2), batch_queries=len(queries),
                     qps_batched=round(len(queries) / seconds),
                     recall_vs_exact=round(recall(exact.search(queries, k), got), 4))
        _, rebuild_s = timed(lambda: index.rebuild_and_switch(ids, vectors))
        emit(backend=label, rebuild_and_switch_s=round(rebuild_s, 2), n=n)
    finally:
        index._client.drop_alias(name)
        for collection in index._client.list_collections():
            if collection.startswith(name):
                index._client.drop_collection(collection)
        index.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--intrinsic", type=int, default=0, help="0: isotropic noise; r: noise in an r-dim subspace")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--hnsw", default="32:200", help="M:ef_construction pairs to build, e.g. 16:100,32:200")
    parser.add_argument("--milvus-n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000, help="Milvus upsert batch size")
    parser.add_argument("--skip", default="", help="comma list of exact, ann, milvus, lite")
    args = parser.parse_args()
    args.hnsw = [tuple(int(v) for v in pair.split(":")) for pair in args.hnsw.split(",") if pair]
    skip = set(filter(None, args.skip.split(",")))
    emit(machine=platform.processor() or platform.machine(), cpus=os.cpu_count(), numpy=np.__version__,
         data=f"{args.clusters} clusters, " + (f"intrinsic dim {args.intrinsic}" if args.intrinsic else "isotropic"))
    if "exact" not in skip:
        vectors = clustered(args.n, args.dim, args.clusters, seed=1, intrinsic=args.intrinsic)
        ids = [f"r{i:07d}" for i in range(args.n)]
        queries = clustered(args.queries, args.dim, args.clusters, seed=2, intrinsic=args.intrinsic)
        bench_exact_and_ann(args, vectors, ids, queries, skip)
        del vectors
    if "milvus" not in skip:
        if "lite" not in skip:
            with tempfile.TemporaryDirectory() as folder:
                bench_milvus(args, "milvus-lite", os.path.join(folder, "bench.db"), skip)
        if os.environ.get("LIKEWISE_MILVUS_URI"):
            bench_milvus(args, "milvus-server", os.environ["LIKEWISE_MILVUS_URI"], skip)


if __name__ == "__main__":
    main()
