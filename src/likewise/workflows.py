"""The steps the CLI runs on a workspace: tune, transform/export, evaluate, compare models.

Each is a plain function over a :class:`~likewise.workspace.Workspace` that returns a result dataclass
(the CLI formats it); nothing here prints.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.progress import Progress, no_progress
from likewise.workspace import Workspace, atomic_write, atomic_write_text

HEAD_DIR = "head"
ENCODER_DIR = "tuned-encoder"


# -- tune -------------------------------------------------------------------------------------------------------
@dataclass
class TuneResult:
    workspace: str
    kind: str  # "head" or "encoder"
    path: str
    train_records: int
    classes: dict[str, int]
    kept_identity: bool
    message: str
    history: list[dict[str, Any]]
    seconds: float
    config: dict[str, Any]
    validation: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labeled(ws: Workspace) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    from likewise.evaluation import check_labels, labeled_arrays

    data = ws.load_records()
    raw = ws.load_vectors("raw")
    if raw.ids != data.ids:
        raise InputError(f"raw vectors in {ws.path} do not match its records; run `likewise embed` again")
    positions, y = labeled_arrays(data.labels)
    check_labels(y)
    return data, raw, positions, y


def tune_workspace(
    ws: Workspace,
    *,
    tuner_options: dict[str, Any] | None = None,
    train_encoder: bool = False,
    encoder_options: dict[str, Any] | None = None,
    progress: Progress = no_progress,
) -> TuneResult:
    """Train a head on the workspace's labeled raw vectors (or fine-tune the encoder), save it, and write
    tuned vectors for every record. The previous head stays intact until the new one is completely saved."""
    from likewise.tuning import Tuner

    start = time.perf_counter()
    data, raw, positions, y = _labeled(ws)
    classes = dict(zip(*np.unique(y, return_counts=True)))
    classes = {str(k): int(v) for k, v in classes.items()}
    if train_encoder:
        return _tune_encoder(ws, data, raw, positions, y, classes, encoder_options or {}, progress, start)
    tuner = Tuner(**(tuner_options or {}))
    tuner.fit(raw.vectors[positions], y, progress=progress)
    folder = ws.artifact_dir(HEAD_DIR)
    tuner.save(folder, encoder=raw.encoder)
    tuned = tuner.transform(raw.vectors)
    config = tuner.get_params() if hasattr(tuner, "get_params") else dict(tuner_options or {})
    ws.write_vectors("tuned", raw.ids, tuned, encoder=f"{raw.encoder}+head", extra={"encoder_raw": raw.encoder, "by": "head",
                                                        "raw_content": ws.manifest["vectors"]["raw"]["content"]})
    kept = bool(getattr(tuner, "kept_identity_", False))
    message = str(getattr(tuner, "message_", ""))
    history = list(getattr(tuner, "history_", []))
    ws.record_artifact("head", {"path": HEAD_DIR, "config": config, "kept_identity": kept, "message": message,
                                "train_records": int(len(y)), "classes": classes})
    result = TuneResult(str(ws.path), "head", str(folder), int(len(y)), classes, kept, message,
                        _plain(history), time.perf_counter() - start, _plain(config),
                        _plain(getattr(tuner, "validation_", {}) or {}))
    write_model_card(folder, result, data_source=ws.manifest.get("records", {}).get("source", {}))
    ws.save_manifest()
    return result


def _tune_encoder(ws, data, raw, positions, y, classes, options, progress, start) -> TuneResult:
    from likewise.embedding import embed_records
    from likewise.encoders import SentenceTransformerEncoder
    from likewise.evaluation import holdout_split
    from likewise.tuning.encoder_finetune import finetune_encoder

    if str(raw.encoder).startswith(("vectors:", "hashing:")):
        raise InputError("encoder fine-tuning needs a sentence-transformers model; these vectors came from "
                         f"{raw.encoder}")
    source_model = options.pop("base_model", None)
    texts = [data.texts[i] for i in positions]
    train, val = holdout_split(y, test_size=0.2, seed=int(options.get("seed", 0)))
    folder = ws.artifact_dir(ENCODER_DIR)
    result = finetune_encoder(
        [texts[i] for i in train], y[train], folder, base_model=source_model,
        val_texts=[texts[i] for i in val], val_labels=y[val], progress=progress, **options,
    )
    encoder = SentenceTransformerEncoder(folder)
    vectors, _ = embed_records(encoder, data.ids, data.texts, ws.cache, progress=progress)
    ws.write_vectors("tuned", data.ids, vectors, encoder=encoder.identity, extra={"encoder_raw": raw.encoder, "by": "encoder",
                                                                                "raw_content": ws.manifest["vectors"]["raw"]["content"]})
    ws.record_artifact("tuned_encoder", {"path": ENCODER_DIR, "config": result.config, "kept_base": result.kept_base,
                                         "message": result.message})
    out = TuneResult(str(ws.path), "encoder", str(folder), int(len(y)), classes, result.kept_base, result.message,
                     result.history, time.perf_counter() - start, result.config)
    write_model_card(folder, out, data_source=ws.manifest.get("records", {}).get("source", {}))
    ws.save_manifest()
    return out


def write_model_card(folder: Path, result: TuneResult, *, data_source: dict[str, Any]) -> Path:
    """A Markdown model card next to a saved head or tuned encoder: what, on which data, how, how well."""
    from likewise import __version__

    lines = [
        f"# likewise {'head' if result.kind == 'head' else 'tuned encoder'}",
        "",
        f"- Trained on {result.train_records:,} labeled records from `{data_source.get('path', '?')}`",
        f"- Classes: {', '.join(f'{k} ({v})' for k, v in result.classes.items())}",
        f"- Training time: {result.seconds:.1f} s; likewise {__version__}",
        f"- Outcome: {result.message or ('kept the identity' if result.kept_identity else 'trained')}",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(result.config, indent=2, sort_keys=True, default=str),
        "```",
        "",
        "## Intended use",
        "",
        "Maps embeddings of this encoder so that nearest neighbours by cosine similarity share the query's class,",
        "for similarity labeling sessions, search, classifiers and 2D maps on data like the training data.",
        "It has only seen the classes above; evaluate it on held-out records (`likewise evaluate`) before relying",
        "on it for other data.",
    ]
    if result.history:
        lines += ["", "## Training history", "", "| " + " | ".join(result.history[0]) + " |",
                  "|" + "---|" * len(result.history[0])]
        for row in result.history:
            lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    path = Path(folder) / "MODEL_CARD.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _plain(value: Any) -> Any:
    """JSON-friendly copy (numpy scalars to Python)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


# -- transform / export ------------------------------------------------------------------------------------------
EXPORT_FORMATS = ("parquet", "npy", "jsonl")


def export_vectors(ws: Workspace, out: str | Path, *, kind: str = "tuned", fmt: str | None = None) -> dict[str, Any]:
    """Write the workspace's ``kind`` vectors with record ids and labels: Parquet (id, label, vector),
    JSON lines, or .npy (plus ``<name>.ids.json`` beside it)."""
    out = Path(out)
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)} (by --format or extension)")
    entry = ws.manifest.get("vectors", {}).get(kind, {})
    if entry.get("stale"):
        raise InputError(f"the {kind} vectors are stale (the records or encoder changed); run `likewise tune` again")
    vec = ws.load_vectors(kind)
    data = ws.load_records()
    labels = dict(zip(data.ids, data.labels))
    if fmt == "npy":
        atomic_write(out, lambda tmp: np.save(open(tmp, "wb"), vec.vectors))
        atomic_write_text(out.with_name(out.stem + ".ids.json"), json.dumps(vec.ids))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            "id": vec.ids,
            "label": [labels.get(i) for i in vec.ids],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.vectors.reshape(-1)), vec.vectors.shape[1]),
        })
        atomic_write(out, lambda tmp: pq.write_table(table, tmp))
    else:
        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                for rid, row in zip(vec.ids, vec.vectors):
                    f.write(json.dumps({"id": rid, "label": labels.get(rid), "vector": [round(float(v), 7) for v in row]}) + "\n")
        atomic_write(out, write)
    return {"path": str(out), "format": fmt, "kind": kind, "records": len(vec.ids), "dim": int(vec.vectors.shape[1]),
            "encoder": vec.encoder}


def transform_vectors(ws: Workspace, vectors: np.ndarray, *, encoder: str | None = None) -> np.ndarray:
    """Apply the workspace's saved head to other vectors of the same encoder (dimension and identity checked)."""
    from likewise.tuning import Tuner

    folder = ws.artifact_dir(HEAD_DIR)
    if not folder.exists():
        raise InputError(f"workspace {ws.path} has no saved head; run `likewise tune` first")
    tuner = Tuner.load(folder, expected_dim=int(vectors.shape[1]), expected_encoder=encoder)
    return tuner.transform(vectors)


# -- evaluate ------------------------------------------------------------------------------------------------------
def evaluate_workspace(ws: Workspace, *, progress: Progress = no_progress, **options: Any):
    """:func:`likewise.evaluation.evaluate_methods` on the workspace's raw vectors and labels; saved as an
    artifact (``evaluation.json``) for the report."""
    from likewise.evaluation import evaluate_methods

    data = ws.load_records()
    raw = ws.load_vectors("raw")
    result = evaluate_methods(raw.vectors, data.labels, progress=progress, **options)
    result.config["encoder"] = raw.encoder
    atomic_write_text(ws.path / "evaluation.json", json.dumps(result.to_dict(), indent=2, default=str))
    ws.record_artifact("evaluation", {"path": "evaluation.json"})
    ws.save_manifest()
    return result


# -- compare models -----------------------------------------------------------------------------------------------
@dataclass
class ModelScore:
    model: str
    encoder: str
    dim: int
    texts_per_s: float | None
    metrics: dict[str, float]
    test_records: int
    cached: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_models(
    ws: Workspace,
    models: Sequence[str],
    *,
    vector_files: Sequence[str] = (),
    k: int = 100,
    test_size: float = 0.4,
    seed: int = 0,
    runtime: str = "auto",
    device: str | None = None,
    progress: Progress = no_progress,
) -> list[ModelScore]:
    """Rank candidate encoders by held-out top_k and MAP@R on the workspace's labels (no training involved;
    scored on the same held-out split ``likewise evaluate`` uses), with encode speed. Best first."""
    from likewise.embedding import embed_records
    from likewise.encoders import UserVectors, get_encoder
    from likewise.evaluation import holdout_split, labeled_arrays, check_labels
    from likewise.metrics import evaluate

    data = ws.load_records()
    positions, y = labeled_arrays(data.labels)
    check_labels(y)
    _, test = holdout_split(y, test_size=test_size, seed=seed)
    ids = [data.ids[positions[i]] for i in test]
    texts = [data.texts[positions[i]] for i in test]
    k_eff = min(k, len(test) - 1)
    candidates: list[tuple[str, Any]] = [(m, lambda m=m: get_encoder(m, runtime=runtime, device=device)) for m in models]
    candidates += [(f"vectors:{v}", lambda v=v: UserVectors(v)) for v in vector_files]
    if not candidates:
        raise InputError("no models to compare; pass --model NAME_OR_FOLDER (repeatable) or --vectors FILE")
    scores = []
    for name, make in candidates:
        encoder = make()
        if isinstance(encoder, UserVectors):
            all_vectors, stats = embed_records(encoder, data.ids, data.texts, None)
            vectors = all_vectors[positions[test]]
        else:
            vectors, stats = embed_records(encoder, ids, texts, ws.cache, progress=progress)
        speed = stats.encoded / stats.seconds if stats.encoded and stats.seconds > 0 else None
        metrics = evaluate(vectors, y[test], k_eff, metrics=["top_k", "map_at_r", "precision_at_1"])
        scores.append(ModelScore(name, encoder.identity, int(encoder.dim), speed, metrics, len(test), stats.cache_hits))
    scores.sort(key=lambda s: (-s.metrics["top_k"], -s.metrics["map_at_r"]))
    ws.record_artifact("model_comparison", {"results": [s.to_dict() for s in scores], "k": k_eff})
    ws.save_manifest()
    return scores
