"""Search over a workspace: keep an index in step with the records, query it, run labeling sessions.

The index lives in ``<workspace>/index/<kind>/`` (exact, the default) or in a Milvus collection named after
the workspace and vector kind. ``kind`` is "raw", "tuned" or "auto" (tuned when current tuned vectors exist).
Queries come by record id (the record itself excluded), by free text (encoded with the workspace's encoder
and passed through the tuned head when searching tuned vectors) or by vector.
"""
from __future__ import annotations

import csv
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.index import ExactIndex, Filter, Hit, Index, Payload
from likewise.index.exact import MANIFEST as INDEX_MANIFEST
from likewise.progress import Progress, no_progress
from likewise.workspace import Workspace, atomic_write, atomic_write_text, now_iso

INDEX_DIR = "index"
SESSIONS_DIR = "sessions"
SEARCH_BACKENDS = ("exact", "hnsw", "milvus")


def resolve_kind(ws: Workspace, kind: str = "auto") -> str:
    vectors = ws.manifest.get("vectors", {})
    if kind == "auto":
        tuned = vectors.get("tuned")
        return "tuned" if tuned and not tuned.get("stale") else "raw"
    if kind not in ("raw", "tuned"):
        raise InputError(f"unknown vector kind {kind!r}; use raw, tuned or auto")
    if kind not in vectors:
        raise InputError(f"workspace {ws.path} has no {kind} vectors; run "
                         f"`likewise {'embed DATA' if kind == 'raw' else 'tune'}` first")
    if vectors[kind].get("stale"):
        raise InputError(f"the {kind} vectors are stale (records or encoder changed); run `likewise tune` again")
    return kind


@dataclass
class IndexResult:
    kind: str
    backend: str
    count: int
    added: int
    updated: int
    removed: int
    unchanged: int
    seconds: float
    location: str
    recall: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _records_for(ws: Workspace, kind: str) -> tuple[list[str], np.ndarray, list[Payload], str]:
    data = ws.load_records()
    vec = ws.load_vectors(kind)
    if vec.ids != data.ids:
        raise InputError(f"{kind} vectors do not match the records in {ws.path}; run `likewise embed`/`tune` again")
    payloads = [Payload(label=lab, text=text) for lab, text in zip(data.labels, data.texts)]
    return vec.ids, vec.vectors, payloads, vec.encoder


def build_index(
    ws: Workspace,
    *,
    kind: str = "auto",
    backend: str = "exact",
    milvus_uri: str | None = None,
    milvus_token: str | None = None,
    measure_recall_k: int = 100,
    progress: Progress = no_progress,
) -> IndexResult:
    """Bring the workspace's index up to date with its records: add new ids, update changed vectors or
    labels, delete ids that are gone. ``hnsw`` builds an approximate graph and reports its recall against
    exact (the exact index is kept and stays the default for searches); ``milvus`` writes a new collection
    and switches to it only once complete."""
    start = time.perf_counter()
    kind = resolve_kind(ws, kind)
    ids, vectors, payloads, encoder = _records_for(ws, kind)
    if backend not in SEARCH_BACKENDS:
        raise InputError(f"unknown index backend {backend!r}; choose one of {', '.join(SEARCH_BACKENDS)}")
    if backend == "milvus":
        return _build_milvus(ws, kind, ids, vectors, payloads, encoder, milvus_uri, milvus_token, progress, start)
    folder = ws.path / INDEX_DIR / kind
    added = updated = removed = unchanged = 0
    index: ExactIndex | None = None
    if (folder / INDEX_MANIFEST).exists():
        try:
            index = ExactIndex.load(folder)
        except InputError:
            index = None  # corrupt or partial: rebuild from the workspace vectors (the source of truth)
        if index is not None and (index.encoder_id != encoder or index.dimension != vectors.shape[1]):
            index = None
    if index is None:
        index = ExactIndex(int(vectors.shape[1]), encoder_id=encoder, vector_kind=kind)
        index.upsert(ids, vectors, payloads)
        added = len(ids)
    else:
        old_ids, old_vectors, old_payloads = index.records()
        old_row = {rid: r for r, rid in enumerate(old_ids)}
        new_set = set(ids)
        gone = [rid for rid in old_ids if rid not in new_set]
        removed = index.delete(gone)
        change = []
        for r, rid in enumerate(ids):
            o = old_row.get(rid)
            if o is None:
                added += 1
                change.append(r)
            elif old_payloads[o] != payloads[r] or not np.allclose(old_vectors[o], vectors[r], atol=1e-6):
                updated += 1
                change.append(r)
            else:
                unchanged += 1
        if change:
            index.upsert([ids[r] for r in change], vectors[change], [payloads[r] for r in change])
    progress(len(ids), len(ids), "indexing")
    index.save(folder)
    recall = None
    if backend == "hnsw":
        from likewise.index import HNSWIndex

        graph = HNSWIndex.from_exact(index, progress=progress)
        graph.save(folder)
        if len(ids) > 1:
            recall = asdict(graph.measure_recall(min(measure_recall_k, len(ids) - 1)))
    version = ws.manifest.get("vectors", {}).get(kind, {}).get("version")
    ws.record_artifact(f"index_{kind}", {"path": f"{INDEX_DIR}/{kind}", "backend": "exact", "count": len(ids),
                                         "encoder": encoder, "vectors_version": version})
    if backend == "hnsw":
        ws.record_artifact(f"hnsw_{kind}", {"path": f"{INDEX_DIR}/{kind}", "count": len(ids), "encoder": encoder,
                                            "vectors_version": version, "recall": recall})
    ws.save_manifest()
    return IndexResult(kind, backend, len(ids), added, updated, removed, unchanged, time.perf_counter() - start,
                       str(folder), recall)


def _milvus_name(ws: Workspace, kind: str) -> str:
    from likewise.index import collection_name

    return collection_name(str(ws.path.resolve().name), kind)


def _build_milvus(ws, kind, ids, vectors, payloads, encoder, uri, token, progress, start) -> IndexResult:
    from likewise.index import MilvusIndex

    uri = uri or str(ws.path / "milvus.db")
    name = _milvus_name(ws, kind)
    try:
        index = MilvusIndex(uri, name, token=token)
    except InputError:
        index = MilvusIndex.create(uri, name, dimension=int(vectors.shape[1]), encoder_id=encoder, vector_kind=kind,
                                   token=token)
    with index:
        index.rebuild_and_switch(ids, vectors, payloads, encoder_id=encoder, progress=progress)
        count = index.count()
    ws.record_artifact(f"milvus_{kind}", {"uri": uri if "://" in uri else str(Path(uri).resolve()), "collection": name,
                                          "count": count, "encoder": encoder})
    ws.save_manifest()
    return IndexResult(kind, "milvus", count, len(ids), 0, 0, 0, time.perf_counter() - start, f"{uri} :: {name}")


def open_index(ws: Workspace, kind: str, *, backend: str = "exact", milvus_uri: str | None = None,
               milvus_token: str | None = None) -> Index:
    if backend == "milvus":
        from likewise.index import MilvusIndex

        entry = ws.manifest.get("artifacts", {}).get(f"milvus_{kind}")
        uri = milvus_uri or (entry or {}).get("uri")
        if not uri:
            raise InputError(f"no Milvus collection for {kind} vectors yet; run `likewise index --backend milvus` first")
        return MilvusIndex(uri, _milvus_name(ws, kind), token=milvus_token)
    folder = ws.path / INDEX_DIR / kind
    current = ws.manifest.get("vectors", {}).get(kind, {})
    built = ws.manifest.get("artifacts", {}).get(f"index_{kind}", {})
    if backend != "hnsw" and (not (folder / INDEX_MANIFEST).exists() or built.get("vectors_version") != current.get("version")):
        # no index yet, or vectors written after it (embed / tune ran since): bring it up to date first
        build_index(ws, kind=kind)
    index = ExactIndex.load(folder)
    if current.get("encoder") and current["encoder"] != index.encoder_id:
        raise InputError(f"the {kind} index holds vectors of {index.encoder_id!r} but the workspace now has "
                         f"{current['encoder']!r}; run `likewise index` again")
    if backend == "hnsw":
        from likewise.index import HNSWIndex

        graph = ws.manifest.get("artifacts", {}).get(f"hnsw_{kind}", {})
        if graph.get("vectors_version") != current.get("version"):
            raise InputError(f"no current HNSW graph for the {kind} vectors; run `likewise index --backend hnsw --kind {kind}`")
        return HNSWIndex.load(folder)
    return index


def text_query_vector(ws: Workspace, text: str, kind: str) -> tuple[np.ndarray, str]:
    """Encode a free-text query with the workspace's encoder; through the tuned head for tuned vectors."""
    from likewise.encoders import get_encoder

    spec = ws.manifest.get("encoder", {}).get("spec")
    if not spec:
        raise InputError("this workspace's vectors were brought by the user (no model), so free text cannot be "
                         "encoded; search by record id or by vector instead")
    if not text.strip():
        raise InputError("the query text is empty")
    encoder = get_encoder(spec["model"], runtime=spec.get("runtime", "auto"))
    vector = encoder.embed([text])
    raw_encoder = ws.manifest["vectors"]["raw"]["encoder"]
    if encoder.identity != raw_encoder:
        raise InputError(f"the workspace's raw vectors come from {raw_encoder!r} but its model now loads as "
                         f"{encoder.identity!r}; run `likewise embed` again")
    if kind == "raw":
        return vector, raw_encoder
    by = ws.manifest["vectors"]["tuned"].get("by")
    if by == "encoder":
        from likewise.encoders import SentenceTransformerEncoder
        from likewise.workflows import ENCODER_DIR

        tuned_encoder = SentenceTransformerEncoder(ws.artifact_dir(ENCODER_DIR))
        return tuned_encoder.embed([text]), ws.manifest["vectors"]["tuned"]["encoder"]
    from likewise.workflows import transform_vectors

    return transform_vectors(ws, vector, encoder=raw_encoder), ws.manifest["vectors"]["tuned"]["encoder"]


@dataclass
class SearchResult:
    query: dict[str, Any]
    kind: str
    k: int
    hits: list[Hit]
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "kind": self.kind, "k": self.k, "warning": self.warning,
                "hits": [asdict(h) for h in self.hits]}


def search(
    ws: Workspace,
    *,
    record_id: str | None = None,
    text: str | None = None,
    vector: np.ndarray | None = None,
    k: int = 10,
    filter: Filter | None = None,
    kind: str = "auto",
    backend: str = "exact",
    milvus_uri: str | None = None,
) -> SearchResult:
    """The k most similar records to one query (exactly one of record_id, text, vector)."""
    given = [name for name, v in (("record id", record_id), ("text", text), ("vector", vector)) if v is not None]
    if len(given) != 1:
        raise InputError("give exactly one query: --id, --text or --vector-file")
    kind = resolve_kind(ws, kind)
    index = open_index(ws, kind, backend=backend, milvus_uri=milvus_uri)
    if record_id is not None:
        hits = index.search_by_id(str(record_id), k, filter=filter)
        query = {"id": str(record_id)}
    else:
        if text is not None:
            qv, encoder = text_query_vector(ws, text, kind)
            query = {"text": text}
        else:
            qv = np.asarray(vector, dtype=np.float32).reshape(1, -1)
            encoder = None
            query = {"vector_dim": int(qv.shape[1])}
        hits = index.search(qv, k, filter=filter, encoder_id=encoder)[0]
    return SearchResult(query, kind, k, list(hits), hits.warning)


# -- labeling sessions --------------------------------------------------------------------------------------------
@dataclass
class Session:
    """An ordered list of records to label together, most similar to the query first."""

    id: str
    query: dict[str, Any]
    kind: str
    size: int
    unlabeled_only: bool
    created: str
    ids: list[str]
    scores: list[float]
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def create_session(ws: Workspace, record_id: str, *, size: int = 1000, unlabeled_only: bool = False,
                   kind: str = "auto") -> Session:
    """Search from a record and store the ordered result as a session in ``<workspace>/sessions/``."""
    result = search(ws, record_id=record_id, k=size, kind=kind, filter=Filter(unlabeled_only=True) if unlabeled_only else None)
    session = Session(
        id=f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}", query={"id": str(record_id)}, kind=result.kind,
        size=size, unlabeled_only=unlabeled_only, created=now_iso(), ids=[h.id for h in result.hits],
        scores=[round(float(h.score), 6) for h in result.hits], warning=result.warning,
    )
    atomic_write_text(ws.path / SESSIONS_DIR / f"{session.id}.json", json.dumps(session.to_dict(), indent=1))
    return session


def load_session(ws: Workspace, session_id: str | None = None) -> Session:
    folder = ws.path / SESSIONS_DIR
    files = sorted(folder.glob("*.json")) if folder.exists() else []
    if not files:
        raise InputError(f"no sessions in {ws.path}; start one with `likewise session --from RECORD_ID`")
    path = files[-1] if session_id in (None, "latest") else folder / f"{session_id}.json"
    if not path.exists():
        raise InputError(f"no session {session_id!r}; known: {', '.join(p.stem for p in files[-5:])}")
    try:
        return Session(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise InputError(f"session file {path} is corrupt ({exc}); start the session again") from exc


def export_session(ws: Workspace, session: Session, out: str | Path, *, fmt: str | None = None) -> dict[str, Any]:
    """Write a session as CSV or JSON lines: position, id, text, score, current label."""
    out = Path(out)
    fmt = fmt or {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(out.suffix.lower(), "")
    if fmt not in ("csv", "jsonl"):
        raise InputError(f"export a session as .csv or .jsonl (got {out.name}); or pass --format")
    data = ws.load_records()
    row = {rid: i for i, rid in enumerate(data.ids)}
    rows = []
    for pos, (rid, score) in enumerate(zip(session.ids, session.scores), start=1):
        i = row.get(rid)
        rows.append({"position": pos, "id": rid, "text": data.texts[i] if i is not None else None, "score": score,
                     "label": data.labels[i] if i is not None else None})

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            if fmt == "csv":
                writer = csv.DictWriter(f, fieldnames=["position", "id", "text", "score", "label"])
                writer.writeheader()
                writer.writerows(rows)
            else:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")

    atomic_write(out, write)
    return {"path": str(out), "format": fmt, "records": len(rows), "session": session.id}


@dataclass
class SessionComparison:
    """Same query, raw vs tuned vectors: among the labeled records of the session, the share with the
    query's class (``same_class_share``), and how many of the session's records are labeled at all."""

    query: dict[str, Any]
    query_label: str | None
    size: int
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_session(ws: Workspace, record_id: str, *, size: int = 1000) -> SessionComparison:
    data = ws.load_records()
    row = {rid: i for i, rid in enumerate(data.ids)}
    if str(record_id) not in row:
        raise InputError(f"no record with id {record_id!r}; try `likewise search --text \"...\"` to find one")
    query_label = data.labels[row[str(record_id)]]
    if query_label is None:
        raise InputError(f"record {record_id!r} has no label, so same-class shares cannot be computed; pick a labeled record")
    comparison = SessionComparison({"id": str(record_id)}, query_label, size)
    for kind in ("raw", "tuned"):
        if kind == "tuned" and "tuned" not in ws.manifest.get("vectors", {}):
            raise InputError("no tuned vectors to compare with; run `likewise tune` first")
        hits = search(ws, record_id=record_id, k=size, kind=kind).hits
        labels = [data.labels[row[h.id]] for h in hits]
        known = [lab for lab in labels if lab is not None]
        same = sum(lab == query_label for lab in known)
        comparison.results[kind] = {"records": len(hits), "labeled": len(known), "same_class": same,
                                    "same_class_share": same / len(known) if known else None,
                                    "top10": [h.id for h in hits[:10]]}
    return comparison
