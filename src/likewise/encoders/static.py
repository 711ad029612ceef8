"""A static encoder distilled offline from the bundled MiniLM with model2vec (extra ``static``).

No transformer runs at encode time: every token has one fixed vector (the transformer's output for that
token alone, reduced by PCA and weighted by an estimate of its frequency), and a text is the mean of its
tokens' vectors. Hundreds of times faster than MiniLM and somewhat worse at similarity (see
bench/RESULTS.md); tuning on top works as for any encoder.

The distillation runs locally from the installed model (nothing is downloaded), once per machine, into
``$LIKEWISE_STATIC_CACHE`` (default ``~/.cache/likewise/static``), moved into place as one folder.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from likewise.atomic import move, remove
from likewise.encoders.base import Encoder
from likewise.encoders.quiet import third_party_quiet
from likewise.encoders.sentence_transformer import check_model_folder, default_model_path, model_fingerprint
from likewise.errors import InputError
from likewise.progress import Progress, no_progress

STATIC_CACHE_ENV = "LIKEWISE_STATIC_CACHE"
#: output dimension after PCA (256 keeps a million records at 1 GB of float32)
STATIC_DIM = 256
#: model2vec's SIF weighting coefficient (its default)
SIF_COEFFICIENT = 1e-4


def static_cache_dir() -> Path:
    """Where distilled models are kept: ``$LIKEWISE_STATIC_CACHE`` or ``~/.cache/likewise/static``."""
    return Path(os.environ.get(STATIC_CACHE_ENV) or Path.home() / ".cache" / "likewise" / "static")


def _model2vec_version() -> str:
    try:
        import model2vec
    except ImportError as exc:
        raise InputError("the static encoder needs `pip install likewise[static]` (model2vec)") from exc
    return str(model2vec.__version__)


class StaticEncoder(Encoder):
    """Mean of distilled static token vectors (model2vec), from a local sentence-transformers folder.

    ``identity`` names the source model's fingerprint, the distillation recipe and model2vec's version, so
    its cache entries never mix with the transformer's or with another recipe's.
    """

    def __init__(self, source: str | Path | None = None, *, dim: int = STATIC_DIM, batch_size: int = 2048) -> None:
        self.source = Path(source) if source is not None else default_model_path()
        check_model_folder(self.source)
        self.version = _model2vec_version()
        self.dim = dim
        self.batch_size = batch_size
        self.max_tokens = None  # a mean of token vectors has no window: every token counts
        name = self.source.name if source is not None else "all-MiniLM-L6-v2"
        self.identity = (f"static:{name}:{model_fingerprint(self.source)}:m2v{self.version}"
                         f":pca{dim}:sif{SIF_COEFFICIENT:g}")
        self._model = None
        self._fallback: np.ndarray | None = None

    @property
    def model_path(self) -> Path:
        return static_cache_dir() / self.identity.replace(":", "_").replace("/", "_")

    def prepare(self, progress: Progress = no_progress) -> None:
        """Distil the model once (about 20 s on 2 cores for MiniLM's 30k tokens), then load it."""
        if self._model is not None:
            return
        if not (self.model_path / "model.safetensors").exists():
            progress(0, None, "preparing the static encoder (once)")
            self._distil(self.model_path)
            progress(1, 1, "preparing the static encoder (once)")
        from model2vec import StaticModel

        with third_party_quiet():
            self._model = StaticModel.from_pretrained(str(self.model_path), normalize=True, force_download=False)
        if self._model.dim != self.dim:
            raise InputError(f"{self.model_path}: distilled model has dim {self._model.dim}, expected {self.dim}; "
                             "delete the folder to rebuild it")
        table = np.asarray(self._model.embedding, dtype=np.float32)
        mean = table.mean(axis=0)
        self._fallback = mean / np.linalg.norm(mean)  # for texts with no known token (empty, only symbols)

    def _distil(self, target: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from model2vec.distill import distill
        except ImportError as exc:
            raise InputError("distilling the static encoder needs `pip install likewise[static]` "
                             "(model2vec and skeletoken)") from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        try:
            with third_party_quiet():
                model = distill(model_name=str(self.source), pca_dims=self.dim, sif_coefficient=SIF_COEFFICIENT,
                                device="cpu", quantize_to="float32")
                model.save_pretrained(str(tmp))
            if target.exists():  # another process finished first: keep its copy
                remove(tmp)
            else:
                move(tmp, target)
        except BaseException:
            remove(tmp)
            raise

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        self.prepare()
        assert self._model is not None and self._fallback is not None
        out = self._model.encode(texts, max_length=None, use_multiprocessing=False, batch_size=len(texts) or 1)
        out = np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)
        empty = ~np.any(out, axis=1)
        if empty.any():
            out[empty] = self._fallback
        return out
