"""The same sentence-transformers model run with ONNX Runtime (extra ``onnx``): exported once, locally."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from likewise.atomic import atomic_write
from likewise.encoders.quiet import third_party_quiet
from likewise.encoders.sentence_transformer import SentenceTransformerEncoder
from likewise.errors import InputError
from likewise.progress import Progress, no_progress

ONNX_CACHE_ENV = "LIKEWISE_ONNX_CACHE"
#: fp32: the PyTorch vectors (cosine >= 0.9999); int8: weights quantized per channel (other vectors, own
#: identity; held-out top_k within 0.5 points of fp32 on the open sets, bench/RESULTS.md "int8")
PRECISIONS = ("fp32", "int8")


def onnx_cache_dir() -> Path:
    """Where exported graphs are kept: ``$LIKEWISE_ONNX_CACHE`` or ``~/.cache/likewise/onnx``."""
    return Path(os.environ.get(ONNX_CACHE_ENV) or Path.home() / ".cache" / "likewise" / "onnx")


def fuse_transformer(graph: str | Path, *, num_heads: int, hidden_size: int) -> dict[str, int]:
    """Rewrite an exported BERT-style graph in place with ONNX Runtime's fused transformer operators
    (the same arithmetic in fewer, larger kernels); returns how many of each were fused."""
    from onnxruntime.transformers.optimizer import optimize_model

    with third_party_quiet():
        fused = optimize_model(str(graph), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0)
    fused.save_model_to_file(str(graph))
    return {name: count for name, count in fused.get_fused_operator_statistics().items() if count}


def quantize_weights(graph: str | Path, target: str | Path) -> None:
    """Write an int8 copy of an unfused fp32 graph: each MatMul with a weight gets int8 weights, one scale per
    output channel, and quantizes its input per batch at run time (ONNX Runtime's dynamic quantization);
    MatMuls of two activations (attention scores) stay fp32. Per-tensor scales over every MatMul moved the
    vectors too far (mean cosine 0.958 to fp32, against 0.992 this way; bench/int8.py)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(graph), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    between_activations = [node.name for node in model.graph.node
                           if node.op_type == "MatMul" and not any(name in weights for name in node.input)]
    with third_party_quiet():
        quantize_dynamic(str(graph), str(target), per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=between_activations)


class OnnxEncoder(SentenceTransformerEncoder):
    """Transformer + mean pooling + normalisation exported to ONNX and run with ONNX Runtime on the CPU.

    Gives the same vectors as the PyTorch path (cosine >= 0.9999, checked in tests), so it shares its
    ``identity`` and its cache entries. Only models with mean pooling are supported. The graph is exported
    with eager attention and fused by ONNX Runtime's transformer optimizer (Attention, SkipLayerNorm,
    BiasGelu, EmbedLayerNorm): the same vectors, faster side by side (``bench/embed.py --variants``).
    """

    #: ends the graph's file name; a new suffix when the graph changes but its vectors do not
    GRAPH_SUFFIX = ".fused.onnx"
    #: a model folder's own graphs (``<model>/onnx/``): used when present, before the shared cache
    GRAPH_DIR = "onnx"

    def __init__(
        self, path: str | Path | None = None, *, threads: int | None = None, batch_size: int = 8, workers: int = 1,
        spinning: bool = True, precision: str = "fp32",
    ) -> None:
        """``workers`` > 1 runs that many single-thread sessions on consecutive slices of each batch at once
        (ONNX Runtime releases the GIL) instead of one session with ``threads`` intra-op threads;
        ``spinning=False`` lets idle intra-op threads sleep instead of spinning (a shared, loaded CPU);
        ``precision="int8"`` runs :func:`quantize_weights`' graph, under its own identity (``...:int8``)."""
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        super().__init__(path, device="cpu", batch_size=batch_size)
        self.precision = precision
        if precision != "fp32":
            self.identity = f"{self.identity}:{precision}"  # other vectors: other cache entries
        if workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}")
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise InputError("the ONNX runtime needs `pip install onnxruntime onnx`; or use --runtime torch") from exc
        pooling = self.path / "1_Pooling" / "config.json"
        if pooling.exists() and '"pooling_mode_mean_tokens": true' not in pooling.read_text():
            raise InputError(f"{self.path}: the ONNX path supports mean pooling only; use the torch encoder")
        self.threads = threads
        self.own_graph = False  # True: export into the model folder's GRAPH_DIR, not the shared cache
        self.workers = workers
        self.spinning = spinning
        self._session = None
        self._sessions: list = []
        self._pool = None
        self._tokenizer = None

    def _read_dim(self) -> int:
        """From the configs, without loading the PyTorch weights (only the one-time export needs them)."""
        import json

        modules = json.loads((self.path / "modules.json").read_text()) if (self.path / "modules.json").exists() else []
        if any("Dense" in m.get("type", "") for m in modules):
            raise InputError(f"{self.path}: the ONNX path supports transformer + mean pooling only; use --runtime torch")
        return int(json.loads((self.path / "config.json").read_text())["hidden_size"])

    @property
    def graph_path(self) -> Path:
        """Where this encoder's graph is: in the model folder's own ``onnx/`` when one is there (a tuned
        encoder carries its graph, so it is deleted with the model, :attr:`own_graph`), else the shared cache."""
        suffix = self.GRAPH_SUFFIX if self.precision == "fp32" else ".onnx"  # int8: quantized from the plain export
        name = self.identity.replace(":", "_").replace("/", "_") + suffix
        own = self.path / self.GRAPH_DIR / name
        return own if self.own_graph or own.exists() else onnx_cache_dir() / name

    def _build_graph(self, target: Path) -> None:
        """This encoder's graph: the fused fp32 export, or the plain export quantized to int8."""
        if self.precision == "fp32":
            self._export(target)
            return
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            self._export(Path(tmp) / "fp32.onnx", fuse=False)
            atomic_write(target, lambda out: quantize_weights(Path(tmp) / "fp32.onnx", out))

    def _export(self, target: Path, *, fuse: bool = True) -> None:
        """Export transformer + pooling to ``target``; ``fuse=False`` keeps one MatMul per projection."""
        import torch

        with third_party_quiet():
            model = self.model
        hf = model[0].auto_model.eval()
        if hasattr(hf, "set_attn_implementation"):
            hf.set_attn_implementation("eager")  # the attention pattern the optimizer's fusion recognises

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.hf = hf

            def forward(self, input_ids, attention_mask):
                hidden = self.hf(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # shape: (B, L, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        sample = model.tokenizer(["a sample text", "another"], padding=True, return_tensors="pt")

        def export(tmp: str) -> None:
            with torch.inference_mode():
                torch.onnx.export(
                    Pooled().eval(),
                    (sample["input_ids"], sample["attention_mask"]),
                    tmp,
                    input_names=["input_ids", "attention_mask"],
                    output_names=["embedding"],
                    dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "embedding": {0: "b"}},
                    opset_version=17,
                    dynamo=False,
                )
            if fuse:
                fuse_transformer(tmp, num_heads=hf.config.num_attention_heads, hidden_size=hf.config.hidden_size)

        with third_party_quiet():  # torch's tracer warnings, transformers' weight-loading bar
            atomic_write(target, export)

    def prepare(self, progress: Progress = no_progress) -> None:
        """Export the graph once per machine (about 10 s), saying so through ``progress``; then load it."""
        if self._session is None and not self.graph_path.exists():
            progress(0, None, "preparing the fast encoder (once)")
            self._build_graph(self.graph_path)
            progress(1, 1, "preparing the fast encoder (once)")
        self.session  # noqa: B018 - loads the session

    def new_session(self, graph: str | Path, *, threads: int | None = None):
        """An ONNX Runtime CPU session on ``graph`` with this encoder's settings (all graph optimisations)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        if not self.spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    @property
    def session(self):
        """The first (with ``workers=1`` the only) session; loads the graph, exporting it if needed."""
        if self._session is None:
            if not self.graph_path.exists():
                self._build_graph(self.graph_path)
            self._session = self.new_session(self.graph_path, threads=1 if self.workers > 1 else self.threads)
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        return self._session

    def _run(self, session, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        width = max(int(mask.sum(axis=1).max()), 1)  # this slice's own padding: rows are length-sorted
        return session.run(None, {"input_ids": ids[:, :width], "attention_mask": mask[:, :width]})[0]

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        session = self.session
        enc = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens or 512, return_tensors="np"
        )
        self.count_truncated(enc["attention_mask"].sum(axis=1).tolist())
        ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
        if self.workers == 1 or len(texts) < 2:
            return self._run(session, ids, mask)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._sessions = [session] + [self.new_session(self.graph_path, threads=1) for _ in range(self.workers - 1)]
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="likewise-onnx")
        slices = np.array_split(np.arange(len(texts)), min(self.workers, len(texts)))
        parts = self._pool.map(lambda job: self._run(job[0], ids[job[1]], mask[job[1]]), zip(self._sessions, slices))
        return np.concatenate(list(parts))
