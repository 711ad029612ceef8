"""`likewise embed --ray`: encoding on a real Ray cluster (a head and one worker node on loopback, started and
stopped by the module's fixture through scripts/ray_cluster.py), checked against a local run."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from likewise.cache import EmbeddingCache, normalize_text, text_keys
from likewise.cli.main import cli
from likewise.datasets import load_dataset
from likewise.embedding import embed_records
from likewise.encoders import HashingEncoder, get_encoder
from likewise.errors import InputError
from likewise.workspace import Workspace

pytest.importorskip("ray", reason="ray is not installed (pip install 'likewise[ray]')")
pytestmark = pytest.mark.slow  # a cluster takes 20-80 s to start on a loaded 2-core machine

from likewise.ray_embed import RayEncoding  # noqa: E402



@pytest.fixture(scope="module")
def ray_address(tmp_path_factory, repo_script):
    """A head node and one worker node, one CPU each; the workers export the ONNX graph where this session's
    driver does (never into the user's home)."""
    onnx_cache = tmp_path_factory.getbasetemp() / "onnx-cache"
    saved = os.environ.get("LIKEWISE_ONNX_CACHE")
    os.environ["LIKEWISE_ONNX_CACHE"] = str(onnx_cache)  # inherited by the nodes' worker processes
    try:
        with repo_script("ray_cluster").local_cluster(nodes=2, cpus=1) as address:
            yield address
    finally:
        if saved is None:
            os.environ.pop("LIKEWISE_ONNX_CACHE", None)
        else:
            os.environ["LIKEWISE_ONNX_CACHE"] = saved


@pytest.fixture(scope="module")
def reviews_csv(tmp_path_factory):
    """300 real Rotten Tomatoes records spread over the set (plots, fresh and rotten reviews)."""
    data = load_dataset("rotten_tomatoes")
    rows = list(range(0, len(data), len(data) // 300))[:300]
    path = tmp_path_factory.mktemp("reviews") / "reviews.csv"
    pd.DataFrame({"id": [data.ids[i] for i in rows], "text": [data.texts[i] for i in rows],
                  "label": [data.labels[i] for i in rows]}).to_csv(path, index=False)
    return path


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _shard_keys(cache_dir: Path, identity: str, texts: list[str]) -> np.ndarray:
    found, _ = EmbeddingCache(cache_dir).lookup(identity, text_keys([normalize_text(t) for t in texts]))
    return found


def test_ray_embed_gives_the_local_vectors_cache_and_workspace(tmp_path, ray_address, reviews_csv):
    texts = pd.read_csv(reviews_csv)["text"].tolist()
    on_ray = run("embed", str(reviews_csv), "-t", "text", "-l", "label", "--ray", ray_address,
                 "-w", str(tmp_path / "ray-ws"), "--cache", str(tmp_path / "ray-cache"), "--json")
    assert on_ray.exit_code == 0, on_ray.output
    local = run("embed", str(reviews_csv), "-t", "text", "-l", "label",
                "-w", str(tmp_path / "local-ws"), "--cache", str(tmp_path / "local-cache"), "--json")
    assert local.exit_code == 0, local.output
    ray_stats, local_stats = json.loads(on_ray.stdout)["embedding"], json.loads(local.stdout)["embedding"]
    assert ray_stats["encoded"] == local_stats["encoded"] == 300 - local_stats["duplicates"]
    assert ray_stats["truncated_to_window"] == local_stats["truncated_to_window"] > 0  # long plots: counted on workers

    ray_ws, local_ws = Workspace.open(tmp_path / "ray-ws"), Workspace.open(tmp_path / "local-ws")
    ray_vectors, local_vectors = ray_ws.vectors("raw"), local_ws.vectors("raw")
    assert ray_vectors.ids == local_vectors.ids and ray_vectors.encoder == local_vectors.encoder
    cosine = (ray_vectors.vectors * local_vectors.vectors).sum(axis=1)
    assert cosine.min() >= 0.9999
    # the same workspace: records, encoder (and how to rebuild it), labels
    assert ray_ws.records().texts == local_ws.records().texts
    assert ray_ws.records().labels == local_ws.records().labels
    assert ray_ws.encoder_info() == local_ws.encoder_info()
    assert ray_ws.records_info()["ref"] == local_ws.records_info()["ref"]  # content-addressed: the same bytes

    # the same cache: every text is in the Ray run's cache, in as many shards as a local run writes, and a
    # local run on it encodes nothing
    assert _shard_keys(tmp_path / "ray-cache", ray_vectors.encoder, texts).all()
    shards = lambda d: sorted(p.name for p in (tmp_path / d).rglob("shard-*.safetensors"))  # noqa: E731
    assert len(shards("ray-cache")) == len(shards("local-cache")) >= 1
    again = run("embed", str(reviews_csv), "-t", "text", "-l", "label", "-w", str(tmp_path / "again-ws"),
                "--cache", str(tmp_path / "ray-cache"), "--json")
    assert again.exit_code == 0, again.output
    again_stats = json.loads(again.stdout)["embedding"]
    assert again_stats["encoded"] == 0 and again_stats["cache_hits"] == 300
    np.testing.assert_array_equal(Workspace.open(tmp_path / "again-ws").vectors("raw").vectors, ray_vectors.vectors)


def test_chunks_hits_and_duplicates_match_a_local_run(tmp_path, ray_address):
    """Several chunks, part of them cached, texts repeated within a chunk and across chunks, small Ray batches
    arriving in any order: every row gets its own text's vector, each distinct text is encoded once, and the
    stats and cache shards are a local run's."""
    data = load_dataset("bbc_news")
    texts = list(data.texts[:150]) + list(data.texts[:30]) + list(data.texts[200:210]) * 2
    ids = [f"r{i}" for i in range(len(texts))]
    wanted = HashingEncoder().embed([normalize_text(t) for t in texts])
    results = {}
    for where in ("ray", "local"):
        cache = EmbeddingCache(tmp_path / where)
        embed_records(HashingEncoder(), ids[40:70], texts[40:70], cache)  # 30 already cached
        encoder = get_encoder("hashing")
        runner = {"encode_chunks": RayEncoding(ray_address, batch_size=7)} if where == "ray" else {}
        events = []
        vectors, stats = embed_records(encoder, ids, texts, cache, chunk_size=50,
                                       progress=lambda *a: events.append(a), **runner)
        np.testing.assert_allclose(vectors, wanted, atol=1e-6)
        assert events[-1][:2] == (len(texts), len(texts))
        results[where] = ((stats.cache_hits, stats.encoded, stats.duplicates),
                          len(list((tmp_path / where).rglob("shard-*.safetensors"))))
    assert results["ray"] == results["local"]
    (hits, encoded, duplicates), shards = results["ray"]
    assert hits >= 30 + 30 and duplicates >= 10 and encoded + hits + duplicates == len(texts)
    assert shards == 1 + 4  # the pre-cached texts' shard, then one per chunk


def test_a_worker_that_cannot_build_the_encoder_is_one_line(tmp_path, ray_address):
    encoder = HashingEncoder()
    encoder.spec = {"model": str(tmp_path / "model-only-the-driver-has"), "runtime": "auto"}
    with pytest.raises(InputError) as error:
        embed_records(encoder, ["a", "b"], ["one text", "another text"], EmbeddingCache(tmp_path / "cache"),
                      encode_chunks=RayEncoding(ray_address))
    message = str(error.value)
    assert "Ray worker" in message and "cannot build the encoder" in message and "model-only-the-driver-has" in message
    assert "\n" not in message
    assert not list((tmp_path / "cache").rglob("shard-*.safetensors"))


def test_bad_address_is_one_error_line_and_writes_nothing(tmp_path, reviews_csv, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LIKEWISE_RAY_ADDRESS", f"127.0.0.1:{port}")
    result = run("embed", str(reviews_csv), "-t", "text", "-w", str(tmp_path / "ws"), "--cache", str(tmp_path / "cache"),
                 "--quiet")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no Ray cluster at 127.0.0.1:") and "ray start --head" in lines[0]
    assert not (tmp_path / "ws" / "manifest.json").exists()
    assert not list(tmp_path.rglob("shard-*.safetensors"))
    malformed = run("embed", str(reviews_csv), "-t", "text", "--ray", "not-an-address", "-w", str(tmp_path / "ws"))
    assert malformed.exit_code == 2 and "is not HOST:PORT" in malformed.stderr


def test_ray_refuses_user_vectors(tmp_path):
    from likewise.ops.embed import chunk_encoder
    from likewise.encoders import UserVectors

    np.save(tmp_path / "v.npy", np.eye(3, dtype=np.float32))
    with pytest.raises(InputError, match="drop --ray"):
        chunk_encoder(UserVectors(tmp_path / "v.npy"), "127.0.0.1:6379")
    assert chunk_encoder(get_encoder("hashing"), None).__name__ == "encode_locally"


def test_gpu_workers_on_a_cluster_without_gpus_is_one_line(tmp_path, ray_address, reviews_csv):
    result = run("embed", str(reviews_csv), "-t", "text", "--model", "hashing", "--ray", ray_address,
                 "--ray-gpus", "1", "-w", str(tmp_path / "ws"), "--cache", str(tmp_path / "cache"), "--quiet")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: the Ray cluster at {ray_address} has 2 CPUs and 0 GPUs: not enough for one worker of 1 CPU(s) "
        "and 1 GPU(s)"]
    assert not (tmp_path / "ws" / "manifest.json").exists() and not list(tmp_path.rglob("shard-*.safetensors"))


def test_a_port_that_is_not_ray_fails_in_bounded_time(tmp_path):
    """Something listens but never speaks Ray's protocol: one attempt (about 40 s), then one line, not
    Ray's default of 20 attempts."""
    import socket
    import time

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel accepts connections; nothing ever answers
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(InputError, match=f"could not join the Ray cluster at {address}"):
            embed_records(get_encoder("hashing"), ["a"], ["one text"], EmbeddingCache(tmp_path / "cache"),
                          encode_chunks=RayEncoding(address))
        assert time.monotonic() - start < 150
    assert not list(tmp_path.rglob("shard-*.safetensors"))
