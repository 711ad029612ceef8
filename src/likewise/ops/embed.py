"""``likewise embed``: records in, raw vectors through the shared cache, the file's labels as label events."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from likewise.embedding import ChunkEncoder, EmbedStats, embed_records, encode_locally
from likewise.errors import InputError
from likewise.encoders.base import Encoder
from likewise.progress import Progress, no_progress
from likewise.records.dataset import Dataset
from likewise.workspace import Workspace


@dataclass
class WorkspaceEmbedResult:
    """What ``likewise embed`` did: the load summary, the embedding stats, the label events written."""

    workspace: str
    summary: dict
    stats: EmbedStats
    dim: int
    labels: dict
    head_reapplied: bool = False

    def to_dict(self) -> dict:
        return {"workspace": self.workspace, "records": self.summary, "embedding": self.stats.to_dict(),
                "dim": self.dim, "labels": self.labels, "head_reapplied": self.head_reapplied}


def embed_into_workspace(
    workspace: Workspace,
    dataset: Dataset,
    encoder: Encoder,
    *,
    source: dict,
    threshold: float | None = None,
    ray_address: str | None = None,
    ray_gpus: float = 0.0,
    progress: Progress = no_progress,
) -> WorkspaceEmbedResult:
    """Embed ``dataset`` (through the shared cache) and store its records and raw vectors in the workspace;
    the file's labels become label events (``imported`` for a person's label, ``weak`` with its confidence).

    Nothing but cache shards is written until every vector exists (and the writer lock is taken only then),
    so an interrupted first run resumes from the cache. The records, the vectors and the file's label
    changes (re-loading the same file has none) are switched in with the manifest together; the label
    events are then applied to the label store exactly once (see :meth:`Workspace.apply_label_import`).
    Tuned vectors made by the saved head are re-made by it (:func:`reapply_head`) when it still fits the
    encoder; other tuned vectors made from other raw vectors become stale.

    ``ray_address``: encode the cache misses on that Ray cluster (:class:`likewise.ray_embed.RayEncoding`;
    ``ray_gpus`` GPUs per worker, 0 for CPU workers) instead of in this process; everything else, the cache
    shards included, is as in a local run.
    """
    from likewise.ops.labels import dataset_label_changes

    vectors, stats = embed_records(encoder, dataset.ids, dataset.texts, workspace.cache, progress=progress,
                                   encode_chunks=chunk_encoder(encoder, ray_address, ray_gpus))
    with workspace.writing("embed"):
        changes = dataset_label_changes(workspace, dataset)
        workspace.stage_label_import(changes, author=f"embed:{source.get('path') or '?'}")
        workspace.put_records(dataset, source=source)
        workspace.put_vectors("raw", vectors, encoder=encoder.identity)
        if threshold is not None:
            workspace.set_threshold(threshold)
        elif dataset.summary.confidence_threshold is not None:
            workspace.set_threshold(dataset.summary.confidence_threshold)
        workspace.set_encoder({"identity": encoder.identity, "dim": encoder.dim, "max_tokens": encoder.max_tokens,
                               "runtime": type(encoder).__name__, "spec": encoder.spec})
        reapplied = reapply_head(workspace, vectors, encoder.identity)
    written = workspace.apply_label_import()
    labels = {"written": written, "unchanged": 2 * len(dataset) - len(changes)}
    return WorkspaceEmbedResult(str(workspace.path), dataset.summary.to_dict(), stats, encoder.dim, labels, reapplied)


def chunk_encoder(encoder: Encoder, ray_address: str | None, ray_gpus: float = 0.0) -> ChunkEncoder:
    """Where ``likewise embed`` encodes: in this process, or on the Ray cluster at ``ray_address`` (workers
    of one CPU and ``ray_gpus`` GPUs each)."""
    if not ray_address:
        return encode_locally
    if not encoder.cacheable or not encoder.spec:
        raise InputError(f"--ray encodes with a model on the cluster; encoder {encoder.identity} cannot be rebuilt "
                         "there (your own --vectors need no encoding): drop --ray")
    from likewise.ray_embed import RayEncoding

    return RayEncoding(ray_address, num_gpus=ray_gpus)


def reapply_head(workspace: Workspace, raw: np.ndarray, encoder: str) -> bool:
    """When the tuned vectors came from the saved head and it fits these raw vectors (same encoder, same
    dimension), apply it to them, so new or edited records get tuned vectors without `likewise tune`.
    The tuned vectors keep the head's label fingerprint: `likewise info` still says when labels changed
    since it was trained. Returns whether it did."""
    tuned = workspace.vectors_info("tuned")
    head = workspace.artifact("head")
    if not tuned or not head or tuned.get("by") != "head" or tuned.get("encoder_raw") != encoder:
        return False
    if workspace.stale_reason("tuned") is None:
        return False  # the raw vectors did not change: the tuned ones are current
    try:
        tuner = workspace.head()
    except InputError:
        return False  # a head for another encoder or dimension: `likewise tune` again
    workspace.put_vectors("tuned", tuner.transform(raw),
                          **{**{k: tuned[k] for k in ("encoder", "encoder_raw", "by", "labels_fingerprint", "labels_seq")
                                if k in tuned}, "raw_content": workspace.vectors_info("raw")["content"],
                             "reapplied": True})
    return True
