"""``likewise evaluate`` and ``likewise compare-models`` on a workspace: held-out scores on its current labels."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from likewise.errors import InputError
from likewise.progress import Progress, no_progress
from likewise.workspace import Workspace


def evaluate_workspace(ws: Workspace, *, progress: Progress = no_progress, **options: Any):
    """:func:`likewise.evaluation.evaluate_methods` on the workspace's raw vectors and current labels; the
    result is stored (artifact ``evaluation``, for the report) and logged in the run log."""
    from likewise.evaluation import evaluate_methods
    from likewise.ops.runs import log_run

    start = time.perf_counter()
    state = ws.labels()
    data = ws.records(state)
    raw = ws.vectors("raw")
    result = evaluate_methods(raw.vectors, data.labels, progress=progress, **options)
    result.config["encoder"] = raw.encoder
    result.config["labels_seq"] = state.last_seq
    with ws.writing("evaluate"):
        ws.record_artifact("evaluation", {"ref": ws.put_json(result.to_dict()), "labels_seq": state.last_seq})
        log_run(ws, "evaluate", config=result.config, labels=data.class_counts(),
                metrics={"summary": result.summary()}, seconds=time.perf_counter() - start)
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
    from likewise.evaluation import holdout_split
    from likewise.labels import check_labels, labeled_arrays
    from likewise.metrics import evaluate

    data = ws.records()
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
    with ws.writing("compare-models"):
        ws.record_artifact("model_comparison", {"results": [s.to_dict() for s in scores], "k": k_eff})
    return scores
