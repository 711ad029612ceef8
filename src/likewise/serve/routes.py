"""The HTTP API: thin handlers over :class:`~likewise.serve.state.ServeState` (JSON in, JSON out).

Every route is documented in the OpenAPI schema (``/api/openapi.json``); the page uses these and nothing
else. Reads are GET, every change is POST (with a CSRF header when a browser sends it, see
:mod:`.security`); label writes take an idempotency ``key``.
"""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from likewise.serve.schemas import (
    AuthorRequest, BulkRequest, ClassRequest, DeleteClassRequest, JobRequest, LabelsRequest, MapRequest,
    RenameRequest, RerankRequest, SessionRequest, SettingsRequest,
)
from likewise.serve.state import ServeState

api = APIRouter(prefix="/api")
Source = Literal["manual", "imported", "weak", "predicted", "none"]


def _state(request: Request) -> ServeState:
    return request.app.state.serve


# -- workspace ------------------------------------------------------------------------------------------------
@api.get("/info", tags=["workspace"], summary="The workspace: records, encoder, classes, status")
def info(request: Request) -> dict[str, Any]:
    return _state(request).info()


@api.get("/status", tags=["workspace"], summary="What the page polls: label seq, vector version, jobs, retrain counter")
def status(request: Request) -> dict[str, Any]:
    return _state(request).status()


@api.post("/settings", tags=["workspace"], summary="Retrain every N new labels, or not automatically")
def settings(request: Request, body: SettingsRequest) -> dict[str, Any]:
    return _state(request).update_settings(retrain_every=body.retrain_every, auto_retrain=body.auto_retrain)


# -- records and search -----------------------------------------------------------------------------------------
@api.get("/records", tags=["records"], summary="Browse records: all, unlabeled, by label or source; in order, "
                                               "at random, or least sure first")
def records(request: Request, unlabeled: bool = False, label: str | None = Query(None, max_length=200),
            source: Source | None = None, order: Literal["position", "random", "uncertain"] = "position",
            seed: int | None = None, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    return _state(request).browse(unlabeled=unlabeled, label=label, source=source, order=order, seed=seed,
                                  offset=offset, limit=limit)


@api.get("/records/{record_id:path}", tags=["records"], summary="One record with its label and label history")
def record(request: Request, record_id: str) -> dict[str, Any]:
    return _state(request).record_detail(record_id)


@api.get("/search", tags=["records"], summary="Most similar records to a text or a record id")
def search(request: Request, text: str | None = Query(None, min_length=1, max_length=10_000),
           id: str | None = Query(None, min_length=1, max_length=1000), k: int = Query(20, ge=1, le=1000),
           unlabeled: bool = False, label: str | None = Query(None, max_length=200),
           source: Source | None = None) -> dict[str, Any]:
    return _state(request).search(text=text, record_id=id, k=k, unlabeled=unlabeled, label=label, source=source)


# -- labels and classes -----------------------------------------------------------------------------------------
@api.post("/labels", tags=["labels"], summary="Label records (null removes); idempotent by key; conflicts reported")
def labels(request: Request, body: LabelsRequest) -> dict[str, Any]:
    items = [{"id": i.id, "label": i.label, "only_unlabeled": i.only_unlabeled,
              **({"expected": i.expected} if "expected" in i.model_fields_set else {})} for i in body.labels]
    return _state(request).write_labels(items, author=body.author, key=body.key, session=body.session)


@api.post("/undo", tags=["labels"], summary="Undo the author's last action (a bulk action is one)")
def undo(request: Request, body: AuthorRequest) -> dict[str, Any]:
    return _state(request).undo(author=body.author)


@api.get("/changes", tags=["labels"], summary="Labels changed after event `since` (other labelers' work)")
def changes(request: Request, since: int = Query(0, ge=0)) -> dict[str, Any]:
    return _state(request).changes(since)


@api.get("/classes", tags=["labels"], summary="Classes in key order (1-9) with record counts")
def classes(request: Request) -> list[dict[str, Any]]:
    return _state(request).classes()


@api.post("/classes", tags=["labels"], summary="Add a class")
def add_class(request: Request, body: ClassRequest) -> list[dict[str, Any]]:
    return _state(request).add_class(body.name)


@api.post("/classes/rename", tags=["labels"], summary="Rename a class; onto an existing class it is a merge")
def rename_class(request: Request, body: RenameRequest) -> dict[str, Any]:
    return _state(request).rename_class(body.old, body.new, author=body.author)


@api.post("/classes/delete", tags=["labels"], summary="Delete a class (its records become unlabeled)")
def delete_class(request: Request, body: DeleteClassRequest) -> dict[str, Any]:
    return _state(request).delete_class(body.name, author=body.author)


# -- sessions ---------------------------------------------------------------------------------------------------
@api.get("/sessions", tags=["sessions"], summary="Stored sessions, newest first, with their purity")
def sessions(request: Request, limit: int = Query(200, ge=1, le=5000)) -> list[dict[str, Any]]:
    return _state(request).sessions.list(limit=limit)


@api.post("/sessions", tags=["sessions"], summary="Open a session from a start record (or a lasso of records)")
def open_session(request: Request, body: SessionRequest) -> dict[str, Any]:
    return _state(request).sessions.open(start_id=body.start_id, ids=body.ids, size=body.size,
                                         unlabeled_only=body.unlabeled_only, label=body.label, source=body.source,
                                         author=body.author)


@api.get("/sessions/{session_id}", tags=["sessions"], summary="A page of a session's rows and its live meter")
def session(request: Request, session_id: str, offset: int = Query(0, ge=0),
            limit: int = Query(200, ge=1, le=1001)) -> dict[str, Any]:
    return _state(request).sessions.read(session_id, offset=offset, limit=limit)


@api.post("/sessions/{session_id}/rerank", tags=["sessions"],
          summary="Re-rank the unlabeled rest under the current vectors (labeled and skipped rows stay)")
def rerank(request: Request, session_id: str, body: RerankRequest) -> dict[str, Any]:
    return _state(request).sessions.rerank(session_id, skipped=body.skipped)


@api.post("/sessions/{session_id}/bulk", tags=["sessions"],
          summary="Label a row and every unlabeled row below it up to the next one labeled otherwise")
def bulk(request: Request, session_id: str, body: BulkRequest) -> dict[str, Any]:
    return _state(request).sessions.bulk(session_id, position=body.position, label=body.label, author=body.author,
                                         key=body.key, skipped=body.skipped)


# -- jobs: retrain, maps, report ------------------------------------------------------------------------------------
@api.get("/jobs", tags=["jobs"], summary="Background jobs, newest first, and another command at work")
def jobs(request: Request) -> dict[str, Any]:
    st = _state(request)
    return {"jobs": [j.to_dict() for j in st.jobs.list()], "external": st.jobs.external()}


@api.get("/jobs/{job_id}", tags=["jobs"], summary="One job with its progress and result")
def job(request: Request, job_id: str) -> dict[str, Any]:
    return _state(request).jobs.get(job_id).to_dict()


@api.post("/retrain", tags=["jobs"], summary="Retrain the head now on the current labels (a background job)")
def retrain(request: Request, body: JobRequest) -> dict[str, Any]:
    job, started = _state(request).jobs.retrain(author=body.author)
    return {**job.to_dict(), "started": started}


@api.get("/maps", tags=["maps"], summary="The latest 2D maps (raw and tuned) with every point's current label")
def maps(request: Request) -> dict[str, Any]:
    st = _state(request)
    st.sync(every=1.0)
    if st.map is None:
        return {"ready": False}
    labels = [st.view.label_of(rid) for rid in st.map["ids"]]
    texts = [st.space.texts[st.space.row[rid]][:240] if rid in st.space.row else "" for rid in st.map["ids"]]
    stale = st.map["vectors_version"] != st.space.vectors.version
    return {"ready": True, "stale": stale, **st.map, "labels": labels, "texts": texts, "classes": st.classes()}


@api.post("/maps", tags=["maps"], summary="Draw the maps again (a background job, as `likewise map` draws them)")
def draw_maps(request: Request, body: MapRequest) -> dict[str, Any]:
    job, started = _state(request).jobs.maps(author=body.author, projections=list(body.projections),
                                             supervised=None if body.supervised == "none" else body.supervised,
                                             max_points=body.max_points)
    return {**job.to_dict(), "started": started}


@api.get("/progress", tags=["progress"], summary="Labels over time, quality over labels (run log), sessions")
def progress(request: Request) -> dict[str, Any]:
    from likewise.serve.progress import progress_data

    return progress_data(_state(request))


@api.get("/runs", tags=["progress"], summary="The run log: every tune, evaluate and classify run")
def runs(request: Request, command: str | None = Query(None, max_length=50),
         limit: int = Query(500, ge=1, le=10_000)) -> list[dict[str, Any]]:
    from likewise.ops.runs import list_runs

    st = _state(request)
    with st.lock:
        return [r.to_dict() for r in list_runs(st.ws, command=command, limit=limit)]


@api.post("/report", tags=["progress"], summary="Write the `likewise report` (a background job)")
def report(request: Request, body: JobRequest) -> dict[str, Any]:
    job, started = _state(request).jobs.report(author=body.author)
    return {**job.to_dict(), "started": started}
