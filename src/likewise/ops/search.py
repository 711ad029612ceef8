"""Search over a workspace: keep an index in step with the records and labels, query it, run labeling sessions.

The exact index (and an HNSW graph) is a folder object of the workspace, switched in with the manifest, or a
Milvus collection named after the workspace and vector kind; sessions are stored in the label store. ``kind`` is "raw", "tuned" or "auto" (tuned when current tuned vectors exist).
Queries come by record id (the record itself excluded), by free text (encoded with the workspace's encoder
and passed through the tuned head when searching tuned vectors) or by vector.
"""
from __future__ import annotations

import csv
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from likewise.errors import InputError, unknown_name
from likewise.index import ExactIndex, Filter, Hit, Index, Payload
from likewise.progress import Progress, no_progress
from likewise.atomic import atomic_write
from likewise.workspace import Workspace, WorkspaceBusyError, now_iso

SEARCH_BACKENDS = ("exact", "hnsw", "milvus")


def check_record_id(ws: Workspace, record_id: str) -> None:
    """Refuse an id the workspace does not hold, suggesting the closest ones."""
    if ws.unknown_ids([str(record_id)]):
        import difflib

        close = difflib.get_close_matches(str(record_id), ws.record_ids(), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise InputError(f"no record with id {record_id!r}; {hint}try `likewise search --text \"...\"` to find one")


def resolve_kind(ws: Workspace, kind: str = "auto") -> str:
    return ws.resolve_kind(kind)


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


def _records_for(ws: Workspace, kind: str) -> tuple[list[str], np.ndarray, list[Payload], str, int]:
    state = ws.labels()
    data = ws.records(state)
    vec = ws.vectors(kind)  # type: ignore[arg-type]
    payloads = [Payload(label=lab, text=text) for lab, text in zip(data.labels, data.texts)]
    return vec.ids, vec.vectors, payloads, vec.encoder, state.last_seq


def _index_current(ws: Workspace, kind: str, entry: dict[str, Any] | None) -> bool:
    """An index artifact is current when it was built from the vectors the workspace holds now, and from
    the labels as they are now (labels travel with the index as filters and in results)."""
    vectors = ws.vectors_info(kind) or {}  # type: ignore[arg-type]
    return bool(entry) and entry.get("vectors_content") == vectors.get("content") and \
        entry.get("labels_seq") == ws.store.last_seq()


def _updated_index(ws: Workspace, kind: str, ids, vectors, payloads, encoder) -> tuple[ExactIndex, dict[str, int]]:
    """The workspace's exact index brought in step with ``ids``/``vectors``/``payloads`` (adds, updates,
    deletes by id), or a new one when there is none or it cannot be used."""
    counts = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0}
    index: ExactIndex | None = None
    try:
        path = ws.artifact_path(f"index_{kind}", f"{kind} index")
        index = ExactIndex.load(path) if path is not None else None
    except InputError:
        index = None  # damaged: rebuilt from the workspace vectors (the source of truth)
    if index is not None and (index.encoder_id != encoder or index.dimension != vectors.shape[1]):
        index = None
    if index is None:
        index = ExactIndex(int(vectors.shape[1]), encoder_id=encoder, vector_kind=kind)
        index.upsert(ids, vectors, payloads)
        counts["added"] = len(ids)
        return index, counts
    old_ids, old_vectors, old_payloads = index.records()
    old_row = {rid: r for r, rid in enumerate(old_ids)}
    new_set = set(ids)
    counts["removed"] = index.delete([rid for rid in old_ids if rid not in new_set])
    change = []
    for r, rid in enumerate(ids):
        o = old_row.get(rid)
        if o is None:
            counts["added"] += 1
            change.append(r)
        elif old_payloads[o] != payloads[r] or not np.allclose(old_vectors[o], vectors[r], atol=1e-6):
            counts["updated"] += 1
            change.append(r)
        else:
            counts["unchanged"] += 1
    if change:
        index.upsert([ids[r] for r in change], vectors[change], [payloads[r] for r in change])
    return index, counts


def build_index(
    ws: Workspace,
    *,
    kind: str = "auto",
    backend: str = "exact",
    milvus_uri: str | None = None,
    milvus_token: str | None = None,
    measure_recall_k: int = 100,
    wait: float | None = None,
    progress: Progress = no_progress,
) -> IndexResult:
    """Bring the workspace's index up to date with its records and labels: add new ids, update changed
    vectors or labels, delete ids that are gone; the new index is switched in with the manifest.
    ``hnsw`` also builds an approximate graph and reports its recall against exact (the exact index stays
    the default for searches); ``milvus`` writes a new collection and switches to it only once complete."""
    if backend not in SEARCH_BACKENDS:
        raise InputError(f"unknown index backend {backend!r}; choose one of {', '.join(SEARCH_BACKENDS)}")
    start = time.perf_counter()
    with ws.writing(f"index --backend {backend}", wait=wait):
        kind = resolve_kind(ws, kind)
        ids, vectors, payloads, encoder, labels_seq = _records_for(ws, kind)
        if backend == "milvus":
            return _build_milvus(ws, kind, ids, vectors, payloads, encoder, milvus_uri, milvus_token, progress, start)
        index, counts = _updated_index(ws, kind, ids, vectors, payloads, encoder)
        progress(len(ids), len(ids), "indexing")
        graph = None
        if backend == "hnsw":
            from likewise.index import HNSWIndex

            graph = HNSWIndex.from_exact(index, progress=progress)
        ref = ws.put_folder(graph.save if graph is not None else index.save, f"{kind}.index")
        recall = None
        if graph is not None and len(ids) > 1:
            recall = asdict(graph.measure_recall(min(measure_recall_k, len(ids) - 1)))
        content = ws.vectors_info(kind)["content"]  # type: ignore[index]
        ws.record_artifact(f"index_{kind}", {"ref": ref, "backend": "exact", "count": len(ids), "encoder": encoder,
                                             "vectors_content": content, "labels_seq": labels_seq,
                                             "hnsw": graph is not None, "recall": recall})
    return IndexResult(kind, backend, len(ids), counts["added"], counts["updated"], counts["removed"],
                       counts["unchanged"], time.perf_counter() - start, str(ws.objects.path(ref)), recall)


def _milvus_name(ws: Workspace, kind: str) -> str:
    from likewise.index import collection_name

    return collection_name(str(ws.path.resolve().name), kind)


def _build_milvus(ws, kind, ids, vectors, payloads, encoder, uri, token, progress, start) -> IndexResult:
    from likewise.index import MilvusIndex

    uri = uri or str(ws.out_path("milvus.db"))
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
    return IndexResult(kind, "milvus", count, len(ids), 0, 0, 0, time.perf_counter() - start, f"{uri} :: {name}")


def open_index(ws: Workspace, kind: str, *, backend: str = "exact", milvus_uri: str | None = None,
               milvus_token: str | None = None) -> Index:
    """The index to search ``kind`` vectors with. An exact index that is missing or behind the vectors or
    labels is brought up to date first; when another command holds the writer lock, an up-to-date index is
    built in memory for this search instead (a search never waits for a writer)."""
    if backend == "milvus":
        from likewise.index import MilvusIndex

        entry = ws.artifact(f"milvus_{kind}")
        uri = milvus_uri or (entry or {}).get("uri")
        if not uri:
            raise InputError(f"no Milvus collection for {kind} vectors yet; run `likewise index --backend milvus` first")
        return MilvusIndex(uri, _milvus_name(ws, kind), token=milvus_token)
    entry = ws.artifact(f"index_{kind}")
    if backend == "hnsw":
        from likewise.index import HNSWIndex

        if not (entry and entry.get("hnsw")) or entry.get("vectors_content") != (ws.vectors_info(kind) or {}).get("content"):
            raise InputError(f"no current HNSW graph for the {kind} vectors; run `likewise index --backend hnsw --kind {kind}`")
        return HNSWIndex.load(ws.artifact_path(f"index_{kind}", f"{kind} index"))
    if not _index_current(ws, kind, entry):
        try:
            build_index(ws, kind=kind, wait=0)
        except WorkspaceBusyError:
            ids, vectors, payloads, encoder, _ = _records_for(ws, kind)
            index, _ = _updated_index(ws, kind, ids, vectors, payloads, encoder)
            return index
    index = ExactIndex.load(ws.artifact_path(f"index_{kind}", f"{kind} index"))
    current = ws.vectors_info(kind) or {}
    if current.get("encoder") and current["encoder"] != index.encoder_id:
        raise InputError(f"the {kind} index holds vectors of {index.encoder_id!r} but the workspace now has "
                         f"{current['encoder']!r}; run `likewise index` again")
    return index


def text_query_vector(ws: Workspace, text: str, kind: str) -> tuple[np.ndarray, str]:
    """Encode a free-text query with the workspace's encoder; through the tuned head (or the tuned encoder)
    for tuned vectors."""
    from likewise.encoders import get_encoder

    spec = (ws.encoder_info() or {}).get("spec")
    if not spec:
        raise InputError("this workspace's vectors were brought by the user (no model), so free text cannot be "
                         "encoded; search by record id or by vector instead")
    if not text.strip():
        raise InputError("the query text is empty")
    raw_encoder = ws.vectors_info("raw")["encoder"]  # type: ignore[index]
    tuned = ws.vectors_info("tuned") if kind == "tuned" else None
    if tuned and tuned.get("by") == "encoder":
        from likewise.ops.tune import tuned_encoder_vectors

        vector, identity = tuned_encoder_vectors(ws, [text])
        if identity != tuned["encoder"]:
            raise InputError(f"the tuned vectors come from {tuned['encoder']!r} but the workspace's tuned encoder "
                             f"now loads as {identity!r}; run `likewise tune --train-encoder` again")
        return vector, identity
    encoder = get_encoder(spec["model"], runtime=spec.get("runtime", "auto"), precision=spec.get("precision", "fp32"))
    vector = encoder.embed([text])
    if encoder.identity != raw_encoder:
        raise InputError(f"the workspace's raw vectors come from {raw_encoder!r} but its model now loads as "
                         f"{encoder.identity!r}; run `likewise embed` again")
    if kind == "raw":
        return vector, raw_encoder
    from likewise.ops.tune import transform_vectors

    return transform_vectors(ws, vector, encoder=raw_encoder), tuned["encoder"]  # type: ignore[index]


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
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    if record_id is not None:
        check_record_id(ws, record_id)
    if filter is not None:
        known = {c.label for c in ws.labels().labels.values()}
        for name in (filter.label_eq, filter.label_ne):
            if name is not None and name not in known:
                raise unknown_name("class", name, sorted(known), fix=" (a label filter names a class)")
    if text is not None and not text.strip():
        raise InputError("the query text is empty")
    asked = kind
    kind = resolve_kind(ws, kind)  # a bad query is refused above, before an index is built or written
    why_raw = raw_fallback_reason(ws) if asked == "auto" and kind == "raw" else None
    index = open_index(ws, kind, backend=backend, milvus_uri=milvus_uri)
    if record_id is not None:
        hits = index.search_by_id(str(record_id), k, filter=filter)
        query = {"id": str(record_id)}
    else:
        if text is not None:
            qv, encoder = text_query_vector(ws, text, kind)
            query = {"text": text}
        else:
            qv = np.asarray(vector, dtype=np.float32)
            if qv.ndim not in (1, 2) or (qv.ndim == 2 and qv.shape[0] != 1):
                raise InputError(f"a query vector has shape (d,) or (1, d); got {qv.shape}")
            qv = qv.reshape(1, -1)
            encoder = None
            query = {"vector_dim": int(qv.shape[1])}
        hits = index.search(qv, k, filter=filter, encoder_id=encoder)[0]
    warning = "; ".join(w for w in (why_raw, hits.warning) if w) or None
    return SearchResult(query, kind, k, list(hits), warning)


def raw_fallback_reason(ws: Workspace) -> str | None:
    """Why a search on "auto" vectors uses raw ones although tuned ones exist, and how to refresh them."""
    if not ws.has_vectors("tuned"):
        return None
    reason = ws.stale_reason("tuned")
    if not reason:
        return None
    return (f"searching raw vectors: the tuned vectors are stale ({reason}); run `likewise tune` to tune "
            "again on the current records (or pass --kind raw to silence this)")


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


def new_session_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def create_session(ws: Workspace, record_id: str, *, size: int = 1000, unlabeled_only: bool = False,
                   kind: str = "auto", store: bool = True) -> Session:
    """Search from a record; the ordered result is stored as a session in the label store (unless
    ``store=False``, for a caller that checks something else before storing it)."""
    result = search(ws, record_id=record_id, k=size, kind=kind, filter=Filter(unlabeled_only=True) if unlabeled_only else None)
    session = Session(
        id=new_session_id(), query={"id": str(record_id)}, kind=result.kind,
        size=size, unlabeled_only=unlabeled_only, created=now_iso(), ids=[h.id for h in result.hits],
        scores=[round(float(h.score), 6) for h in result.hits], warning=result.warning,
    )
    if store:
        save_session(ws, session)
    return session


def save_session(ws: Workspace, session: Session) -> None:
    ws.store.save_session(session.id, session.to_dict())


def load_session(ws: Workspace, session_id: str | None = None) -> Session:
    known = ws.store.session_ids()
    if not known:
        raise InputError(f"no sessions in {ws.path}; start one with `likewise session --from RECORD_ID`")
    wanted = known[-1] if session_id in (None, "latest") else str(session_id)
    body = ws.store.session(wanted)
    if body is None:
        raise InputError(f"no session {session_id!r}; known: {', '.join(known[-5:])}")
    try:
        return Session(**{k: v for k, v in body.items() if k in Session.__dataclass_fields__})
    except TypeError as exc:
        raise InputError(f"session {wanted} is damaged ({exc}); start the session again") from exc


SESSION_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def session_export_format(out: str | Path) -> str:
    """The export format of a session file, from its extension; anything else is refused up front."""
    fmt = SESSION_FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise InputError(f"export a session as .csv or .jsonl (got {Path(out).name!r})")
    return fmt


def export_session(ws: Workspace, session: Session, out: str | Path) -> dict[str, Any]:
    """Write a session as CSV or JSON lines: position, id, text, score, current label. The folder of
    ``out`` must exist."""
    out = Path(out)
    fmt = session_export_format(out)
    data = ws.records()
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

    atomic_write(out, write, create_folder=False)
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
    check_record_id(ws, record_id)
    data = ws.records()
    row = {rid: i for i, rid in enumerate(data.ids)}
    query_label = data.labels[row[str(record_id)]]
    if query_label is None:
        raise InputError(f"record {record_id!r} has no label, so same-class shares cannot be computed; pick a labeled record")
    comparison = SessionComparison({"id": str(record_id)}, query_label, size)
    for kind in ("raw", "tuned"):
        if kind == "tuned" and not ws.has_vectors("tuned"):
            raise InputError("no tuned vectors to compare with; run `likewise tune` first")
        hits = search(ws, record_id=record_id, k=size, kind=kind).hits
        counts = same_class_counts([data.labels[row[h.id]] for h in hits], query_label)
        comparison.results[kind] = {**counts, "top10": [h.id for h in hits[:10]]}
    return comparison


def same_class_counts(neighbour_labels: Sequence[str | None], query_label: str | None) -> dict[str, Any]:
    """How many of a query's neighbours share its class, counted among the labeled ones only: an unlabeled
    neighbour is neither a hit nor a miss. The one definition behind ``session compare`` and the report's
    before/after example.

    >>> same_class_counts(["a", None, "b", "a", None], "a")
    {'records': 5, 'labeled': 3, 'unlabeled': 2, 'same_class': 2, 'same_class_share': 0.6666666666666666}
    """
    known = [lab for lab in neighbour_labels if lab is not None]
    same = sum(lab == query_label for lab in known) if query_label is not None else 0
    return {"records": len(neighbour_labels), "labeled": len(known), "unlabeled": len(neighbour_labels) - len(known),
            "same_class": same, "same_class_share": same / len(known) if known and query_label is not None else None}


def describe_counts(counts: dict[str, Any]) -> str:
    """``3 of 4 labeled in the query's class, 6 unlabeled``."""
    return (f"{counts['same_class']:,} of {counts['labeled']:,} labeled in the query's class, "
            f"{counts['unlabeled']:,} unlabeled")
