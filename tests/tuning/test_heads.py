"""Heads: start at (or near) the identity, normalised float32 output, safetensors + JSON round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from likewise.errors import InputError
from likewise.tuning.heads import HEAD_CONFIG, HEAD_WEIGHTS, HEADS, load_head, make_head, save_head


def _vectors(n: int = 50, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("name", list(HEADS))
def test_transform_is_normalised_float32(name) -> None:
    x = 3.0 * _vectors()
    out = make_head(name, 16).transform(x)
    assert out.dtype == np.float32 and out.shape == (50, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("name,tolerance", [("identity", 1e-6), ("linear", 1e-6), ("mlp", 1e-6), ("skip", 0.2)])
def test_untrained_head_is_near_the_identity(name, tolerance) -> None:
    x = _vectors()
    torch.manual_seed(0)
    out = make_head(name, 16).transform(x)
    cosines = np.einsum("ij,ij->i", out, x)
    assert cosines.min() > 1 - tolerance


def test_skip_head_gate_starts_at_minus_four() -> None:
    head = make_head("skip", 8)
    assert torch.all(head.gate == -4.0)
    # y = x + sigmoid(g) * (W x + b)
    x = torch.randn(3, 8)
    expected = x + torch.sigmoid(torch.tensor(-4.0)) * head.linear(x)
    expected = expected / expected.norm(dim=1, keepdim=True)
    torch.testing.assert_close(head(x), expected)


def test_linear_head_can_reduce_dims() -> None:
    head = make_head("linear", 16, 4)
    out = head.transform(_vectors())
    assert out.shape == (50, 4)
    with pytest.raises(InputError, match="keeps the dims"):
        make_head("skip", 16, 4)


@pytest.mark.parametrize("name", list(HEADS))
def test_save_and_load_round_trip_without_pickle(name, tmp_path) -> None:
    torch.manual_seed(1)
    head = make_head(name, 16)
    with torch.no_grad():  # move away from the init so the round trip is not trivially the identity
        for p in head.parameters():
            p.add_(0.1 * torch.randn_like(p))
    save_head(head, tmp_path, encoder="test-encoder@1")
    assert (tmp_path / HEAD_WEIGHTS).is_file()
    config = json.loads((tmp_path / HEAD_CONFIG).read_text())
    assert config["head"] == name and config["in_dim"] == 16 and config["encoder"] == "test-encoder@1"
    loaded = load_head(tmp_path, expected_dim=16, expected_encoder="test-encoder@1")
    assert type(loaded) is type(head)
    x = _vectors(seed=2)
    np.testing.assert_array_equal(loaded.transform(x), head.transform(x))
    # the weights file is a plain safetensors file: no pickle opcodes, loadable by safetensors alone
    from safetensors.torch import load_file

    assert set(load_file(str(tmp_path / HEAD_WEIGHTS))) == set(head.state_dict())


def test_load_checks_dims_and_encoder(tmp_path) -> None:
    save_head(make_head("linear", 16), tmp_path, encoder="enc-a")
    with pytest.raises(InputError, match="takes 16-dimensional vectors but these have 384"):
        load_head(tmp_path, expected_dim=384)
    with pytest.raises(InputError, match="'enc-a', not 'enc-b'"):
        load_head(tmp_path, expected_encoder="enc-b")


def test_transform_rejects_other_dims() -> None:
    with pytest.raises(InputError, match="takes 16-dimensional vectors but got 8"):
        make_head("linear", 16).transform(np.ones((3, 8), np.float32))


def test_load_refuses_missing_or_corrupt_files(tmp_path) -> None:
    with pytest.raises(InputError, match="head.json is missing"):
        load_head(tmp_path)
    save_head(make_head("linear", 4), tmp_path)
    (tmp_path / HEAD_WEIGHTS).write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="could not be read"):
        load_head(tmp_path)
    save_head(make_head("linear", 4), tmp_path)
    config = json.loads((tmp_path / HEAD_CONFIG).read_text())
    config["in_dim"] = 5
    (tmp_path / HEAD_CONFIG).write_text(json.dumps(config))
    with pytest.raises(InputError, match="does not match"):
        load_head(tmp_path)


def test_wrong_head_name_lists_the_valid_ones() -> None:
    with pytest.raises(InputError, match="skip, linear, mlp, identity"):
        make_head("transformer", 16)


def test_centroid_init_amplifies_the_class_directions() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    labels = np.repeat(np.arange(3), 10)
    x = torch.tensor(centres[labels] + 0.1 * rng.normal(size=(30, 16)), dtype=torch.float32)
    y = torch.tensor(labels)
    head = make_head("linear", 16, init="centroids", init_scale=3.0)
    head.init_from_data(x, y)
    w = head.linear.weight.detach().double().numpy()
    m = np.stack([x[y == c].mean(0).double().numpy() for c in range(3)])
    u, _, _ = np.linalg.svd((m - m.mean(0)).T, full_matrices=False)
    basis = u[:, :2]  # 3 centroids span 2 directions
    np.testing.assert_allclose(w, np.eye(16) + 3.0 * basis @ basis.T, atol=1e-5)
    # a direction between the centroids is scaled by 4, one orthogonal to them is left alone
    inside, outside = basis[:, 0], np.linalg.qr(np.hstack([basis, rng.normal(size=(16, 1))]))[0][:, 2]
    assert np.linalg.norm(w @ inside) == pytest.approx(4.0, rel=1e-5)
    assert np.linalg.norm(w @ outside) == pytest.approx(1.0, rel=1e-5)
    # identity init ignores the data
    plain = make_head("linear", 16)
    plain.init_from_data(x, y)
    np.testing.assert_array_equal(plain.linear.weight.detach().numpy(), np.eye(16, dtype=np.float32))
    with pytest.raises(InputError, match="identity, centroids"):
        make_head("linear", 16, init="pca")
