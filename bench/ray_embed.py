"""Encoding through a Ray cluster (`likewise embed --ray`) against a local run, on one machine.

    python bench/ray_embed.py [--n 2000] [--nodes 2] [--cpus 1]

Starts a real cluster on loopback with scripts/ray_cluster.py (a head plus ``--nodes - 1`` worker nodes,
``--cpus`` CPUs each, so the workers hold as many cores as the local run's ONNX Runtime threads), then encodes
the same N Rotten Tomatoes texts (bench/embed.py's sample) with the default encoder, each run with an empty
cache: locally (``likewise.embedding.embed_records``), through ``likewise.ray_embed.RayEncoding``, and locally
again (the two local runs bracket the Ray run: the shared cores' load drifts). Prints the cluster's start-up
seconds, each run's seconds and texts/s, the Ray run's time to its first vectors (job start + each worker
loading the model), the overhead (Ray seconds - mean local seconds) and the minimum cosine between the local
and the Ray vectors, with the load average next to each number: the cores are shared.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from embed import load, texts  # noqa: E402  bench/embed.py: the sample and the load average


def ray_cluster_module():
    spec = importlib.util.spec_from_file_location("ray_cluster", HERE.parent / "scripts" / "ray_cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=1, help="CPUs per node (one encoder worker each)")
    args = parser.parse_args()

    from likewise.cache import EmbeddingCache
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder
    from likewise.ray_embed import RayEncoding

    sample = texts(args.n)
    ids = [str(i) for i in range(len(sample))]
    result: dict = {"n": len(sample), "nodes": args.nodes, "cpus_per_node": args.cpus}

    def run_locally(name: str):
        start = time.perf_counter()
        vectors, stats = embed_records(get_encoder("default"), ids, sample, EmbeddingCache(tempfile.mkdtemp()))
        result[f"{name}_s"] = round(time.perf_counter() - start, 1)
        result[f"{name}_texts_per_s"] = round(len(sample) / result[f"{name}_s"], 1)
        result[f"{name}_load"] = load()
        print(f"{name}: {result[f'{name}_s']} s, {result[f'{name}_texts_per_s']} texts/s ({result[f'{name}_load']})",
              flush=True)
        return vectors, stats

    local, local_stats = run_locally("local")

    start = time.perf_counter()
    with ray_cluster_module().local_cluster(nodes=args.nodes, cpus=args.cpus) as address:
        result["cluster_start_s"] = round(time.perf_counter() - start, 1)
        result["cluster_load"] = load()
        print(f"cluster of {args.nodes} nodes up in {result['cluster_start_s']} s ({result['cluster_load']})",
              flush=True)
        first: list[float] = []

        def progress(done: int, total: int | None, description: str) -> None:
            if description == "encoding on Ray" and not first:
                first.append(time.perf_counter())

        start = time.perf_counter()
        on_ray, ray_stats = embed_records(get_encoder("default"), ids, sample, EmbeddingCache(tempfile.mkdtemp()),
                                          progress=progress, encode_chunks=RayEncoding(address))
        result["ray_s"] = round(time.perf_counter() - start, 1)
        result["ray_first_vectors_s"] = round(first[0] - start, 1) if first else None
        result["ray_texts_per_s"] = round(len(sample) / result["ray_s"], 1)
        result["ray_load"] = load()
        print(f"ray: {result['ray_s']} s, {result['ray_texts_per_s']} texts/s, first vectors after "
              f"{result['ray_first_vectors_s']} s ({result['ray_load']})", flush=True)
    run_locally("local_again")
    assert (ray_stats.encoded, ray_stats.duplicates) == (local_stats.encoded, local_stats.duplicates)
    result["overhead_s"] = round(result["ray_s"] - (result["local_s"] + result["local_again_s"]) / 2, 1)
    result["min_cosine"] = float(np.round((local * on_ray).sum(axis=1).min(), 6))
    result["max_abs_difference"] = float(np.abs(local - on_ray).max())
    print(f"overhead {result['overhead_s']} s on {len(sample)} texts; min cosine {result['min_cosine']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
