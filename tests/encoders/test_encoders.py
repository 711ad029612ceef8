from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from likewise.encoders import HashingEncoder, UserVectors, get_encoder
from likewise.encoders.device import resolve_device
from likewise.errors import InputError

TEXTS = [
    "The central bank raised interest rates again to fight inflation.",
    "The striker scored twice in the second half to win the cup final.",
    "A new smartphone chip promises longer battery life.",
    "Parliament voted on the budget late on Tuesday night.",
    "",
    "Short",
    "word " * 400,  # past the 256-token window
]


def test_hashing_encoder_deterministic_and_normalised():
    a = HashingEncoder(dim=64).embed(TEXTS)
    b = HashingEncoder(dim=64).embed(list(reversed(TEXTS)))[::-1]
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_unknown_model_and_runtime_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="unknown model"):
        get_encoder("no-such-model")
    with pytest.raises(InputError, match="unknown runtime"):
        get_encoder("default", runtime="tpu")
    with pytest.raises(InputError, match="not a sentence-transformers model folder"):
        get_encoder(tmp_path)


def test_device_override():
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("gpu0")


@pytest.mark.slow
def test_minilm_matches_sentence_transformers_encode(minilm):
    reference = minilm.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    ours = minilm.embed(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert float((ours * reference).sum(axis=1).min()) >= 0.9999
    # meaning, not only shapes: the two finance/politics sentences are closer to each other than to sport
    sims = ours @ ours.T
    assert sims[0, 3] > sims[0, 1]
    assert minilm.truncated >= 1  # the 400-word text filled the window


@pytest.mark.slow
def test_onnx_runtime_gives_the_same_vectors(minilm):
    pytest.importorskip("onnxruntime")
    onnx = get_encoder("default", runtime="onnx")
    assert onnx.identity == minilm.identity  # same model, same cache entries
    a = onnx.embed(TEXTS)
    b = minilm.embed(TEXTS)
    assert float((a * b).sum(axis=1).min()) >= 0.9999
    assert onnx.graph_path.exists()
    import onnx as onnx_format

    ops = {node.op_type for node in onnx_format.load(str(onnx.graph_path), load_external_data=False).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops  # the fused graph, not the plain export


@pytest.mark.slow
def test_onnx_parallel_sessions_give_the_same_vectors_in_order():
    pytest.importorskip("onnxruntime")
    from likewise.encoders.onnx import OnnxEncoder

    texts = TEXTS * 3  # more texts than one batch, of mixed lengths
    one = OnnxEncoder(batch_size=4).embed(texts)
    two = OnnxEncoder(batch_size=4, workers=2, spinning=False)
    both = two.embed(texts)
    assert len(two._sessions) == 2
    assert float((one * both).sum(axis=1).min()) >= 0.9999  # row by row: the order is kept
    with pytest.raises(InputError, match="workers must be at least 1"):
        OnnxEncoder(workers=0)


def test_user_vectors_npy_by_row(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", vectors)
    enc = UserVectors(tmp_path / "v.npy")
    out = enc.embed_records(list("abcd"), ["x"] * 4)
    np.testing.assert_allclose(out, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), atol=1e-6)
    assert not enc.cacheable and enc.dim == 8
    with pytest.raises(InputError, match="has 4 vectors but there are 5 records"):
        enc.embed_records(list("abcde"), ["x"] * 5)
    with pytest.raises(InputError, match="cannot embed new texts"):
        enc.embed(["new text"])


def test_user_vectors_parquet_by_id(tmp_path):
    frame = pd.DataFrame({"id": ["b", "a", "c"], "vector": [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]})
    frame.to_parquet(tmp_path / "v.parquet")
    enc = UserVectors(tmp_path / "v.parquet")
    out = enc.embed_records(["a", "b"], ["", ""])
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(InputError, match=r"1 of 2 records have no vector .*'zz'"):
        enc.embed_records(["a", "zz"], ["", ""])


def test_user_vectors_jsonl_wrong_dimension_rows(tmp_path):
    path = tmp_path / "v.jsonl"
    path.write_text('{"id": "a", "vector": [1, 2, 3]}\n{"id": "b", "vector": [1, 2]}\n')
    with pytest.raises(InputError, match="different lengths"):
        UserVectors(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_user_vectors_nan_inf_refused(tmp_path, bad):
    vectors = np.ones((3, 4), dtype=np.float32)
    vectors[1, 2] = bad
    np.save(tmp_path / "v.npy", vectors)
    with pytest.raises(InputError, match=r"NaN or infinite values in 1 of 3 rows \(first: row 1\)"):
        UserVectors(tmp_path / "v.npy").embed_records(list("abc"), ["x"] * 3)


def test_user_vectors_missing_column_and_pickled_npy(tmp_path):
    pd.DataFrame({"id": ["a"], "emb": [[1.0]]}).to_parquet(tmp_path / "v.parquet")
    with pytest.raises(InputError, match="no column 'vector'"):
        UserVectors(tmp_path / "v.parquet")
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a plain .npy array of numbers"):
        UserVectors(tmp_path / "obj.npy")


@pytest.mark.slow
def test_int8_has_its_own_identity_and_close_vectors(minilm):
    pytest.importorskip("onnxruntime")
    import onnx as onnx_format

    int8 = get_encoder("default", runtime="onnx", precision="int8")
    fp32 = get_encoder("default", runtime="onnx")
    assert int8.identity == fp32.identity + ":int8" and int8.graph_path != fp32.graph_path
    assert int8.spec["precision"] == "int8"  # rebuilt as int8 for text queries
    cosine = (int8.embed(TEXTS) * minilm.embed(TEXTS)).sum(axis=1)
    assert cosine.mean() >= 0.98 and cosine.min() >= 0.95
    assert cosine.min() < 0.9999  # really other vectors, hence the other identity
    ops = {node.op_type for node in onnx_format.load(str(int8.graph_path), load_external_data=False).graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops
    with pytest.raises(InputError, match="needs the ONNX runtime"):
        get_encoder("default", runtime="torch", precision="int8")
    with pytest.raises(InputError, match="unknown precision 'int4'"):
        get_encoder("default", precision="int4")


@pytest.mark.slow
def test_embed_precision_int8_end_to_end_text_query_rebuilds_int8(tmp_path):
    pytest.importorskip("onnxruntime")
    import json

    from click.testing import CliRunner

    from likewise.cli.main import cli

    path = tmp_path / "r.csv"
    pd.DataFrame({"id": [f"r{i}" for i in range(len(TEXTS) - 1)], "text": TEXTS[:4] + TEXTS[5:]}).to_csv(path, index=False)
    ws = str(tmp_path / "ws")
    out = CliRunner().invoke(cli, ["embed", str(path), "-t", "text", "--precision", "int8", "-w", ws, "--json",
                                   "--cache", str(tmp_path / "cache")], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    found = CliRunner().invoke(cli, ["search", "--text", "the goalkeeper saved a penalty", "-k", "1", "-w", ws,
                                     "--json"], catch_exceptions=False)
    assert found.exit_code == 0, found.output  # the query is encoded as int8 too (else: identity mismatch)
    assert json.loads(found.output.splitlines()[0])["id"] == "r1"  # the football record
