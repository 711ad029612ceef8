"""``likewise embed``: records in, raw vectors through the shared cache, the file's labels as label events."""
from __future__ import annotations

from dataclasses import dataclass

from likewise.embedding import EmbedStats, embed_records
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

    def to_dict(self) -> dict:
        return {"workspace": self.workspace, "records": self.summary, "embedding": self.stats.to_dict(),
                "dim": self.dim, "labels": self.labels}


def embed_into_workspace(
    workspace: Workspace,
    dataset: Dataset,
    encoder: Encoder,
    *,
    source: dict,
    threshold: float | None = None,
    progress: Progress = no_progress,
) -> WorkspaceEmbedResult:
    """Embed ``dataset`` (through the shared cache) and store its records and raw vectors in the workspace;
    the file's labels become label events (``imported`` for a person's label, ``weak`` with its confidence).

    Nothing but cache shards is written until every vector exists (and the writer lock is taken only then),
    so an interrupted first run resumes from the cache. The records, the vectors and the file's label
    changes (re-loading the same file has none) are switched in with the manifest together; the label
    events are then applied to the label store exactly once (see :meth:`Workspace.apply_label_import`).
    Tuned vectors made from other raw vectors become stale.
    """
    from likewise.ops.labels import dataset_label_changes

    vectors, stats = embed_records(encoder, dataset.ids, dataset.texts, workspace.cache, progress=progress)
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
    written = workspace.apply_label_import()
    labels = {"written": written, "unchanged": 2 * len(dataset) - len(changes)}
    return WorkspaceEmbedResult(str(workspace.path), dataset.summary.to_dict(), stats, encoder.dim, labels)
