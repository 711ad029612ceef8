"""Background jobs of the web app: retrain the head in the loop, draw the maps, write the report.

Each job runs in a thread with its own :class:`~likewise.workspace.Workspace` handle (so its commit never
races the serving handle) and reports progress through the library's progress callback; labeling goes on
meanwhile. One job of a kind runs at a time: asking again while one runs returns the running one. A
retrain starts by itself after every ``retrain_every`` new manual labels (see :class:`Settings`).

On shutdown (Ctrl-C) running jobs are asked to stop at their next progress report and given a few seconds;
a job killed anyway leaves the workspace as it was (the manifest is replaced last).

Encoder fine-tuning stays a CLI job (``likewise tune --train-encoder``); :meth:`JobManager.external` shows
which command holds the workspace's writer lock and for how long, and the server picks up its result
when it commits.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from likewise.errors import InputError, LikewiseError
from likewise.workspace import Workspace, WorkspaceBusyError, now_iso

if TYPE_CHECKING:
    from likewise.serve.state import ServeState

log = logging.getLogger("likewise.serve")
JOB_KINDS = ("retrain", "map", "report")
KEEP_FINISHED = 50
SHUTDOWN_WAIT_S = 10.0


class JobCancelled(Exception):
    """Raised inside a job at its next progress report once the server is stopping."""


@dataclass
class Job:
    id: str
    kind: str
    author: str | None
    auto: bool = False
    state: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int | None = None
    message: str = ""
    created: str = field(default_factory=now_iso)
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancelled: bool = False

    def progress(self, done: int, total: int | None, description: str) -> None:
        """The library's progress callback; stops the job when the server is stopping."""
        if self.cancelled:
            raise JobCancelled()
        self.done, self.total, self.message = int(done), total, str(description)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def to_dict(self) -> dict[str, Any]:
        elapsed = None
        if self.started is not None:
            elapsed = round((self.finished or time.monotonic()) - self.started, 3)
        return {"id": self.id, "kind": self.kind, "state": self.state, "author": self.author, "auto": self.auto,
                "done": self.done, "total": self.total, "message": self.message, "created": self.created,
                "seconds": elapsed, "result": self.result, "error": self.error}


class JobManager:
    def __init__(self, state: ServeState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._stopping = False

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        from likewise.serve.state import NotFound

        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job

    def list(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def active(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.active]

    def running(self, kind: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.kind == kind and j.active), None)

    def start(self, kind: str, work: Callable[[Job, Workspace], dict[str, Any]], *, author: str | None = None,
              auto: bool = False) -> tuple[Job, bool]:
        """Start ``work(job, ws)`` in a thread, or return the job of that kind already running (``False``)."""
        with self._lock:
            if self._stopping:
                raise InputError("the server is stopping; no new jobs")
            running = self.running(kind)
            if running is not None:
                return running, False
            job = Job(f"{kind}-{uuid.uuid4().hex[:10]}", kind, author, auto)
            self._jobs[job.id] = job
            finished = [j for j in self.list() if not j.active]
            for old in finished[KEEP_FINISHED:]:
                self._jobs.pop(old.id, None)
            thread = threading.Thread(target=self._run, args=(job, work), name=f"likewise-{job.id}", daemon=True)
            self._threads[job.id] = thread
            thread.start()
            return job, True

    def _run(self, job: Job, work: Callable[[Job, Workspace], dict[str, Any]]) -> None:
        job.state, job.started = "running", time.monotonic()
        ws = None
        try:
            ws = Workspace.open(self.state.path)
            job.result = work(job, ws)
            job.state = "done"
        except JobCancelled:
            job.state, job.error = "cancelled", "the server stopped before the job finished; nothing was changed"
        except LikewiseError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # a bug: keep the traceback in the server's log, a message for the page
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            job.state, job.error = "failed", f"internal error ({type(exc).__name__}: {exc}); see the server's log"
        finally:
            job.finished = time.monotonic()
            if ws is not None:
                ws.store.close()
            self._threads.pop(job.id, None)

    def shutdown(self, timeout: float = SHUTDOWN_WAIT_S) -> None:
        """Ask running jobs to stop and wait up to ``timeout`` seconds for them."""
        with self._lock:
            self._stopping = True
            threads = list(self._threads.values())
            for job in self.active():
                job.cancelled = True
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def external(self) -> dict[str, Any] | None:
        """The other command holding the workspace's writer lock (e.g. ``likewise tune --train-encoder``), with
        how long it has run; None when no other process writes."""
        holder = self.state.ws.lock.holder()
        pid = holder.get("pid")
        if not holder or pid == os.getpid() or not isinstance(pid, int):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # it died without truncating the file: the OS released its lock
        except PermissionError:
            pass
        return {"command": holder.get("command"), "pid": pid, "since": holder.get("since"),
                "argv": holder.get("argv"), "encoder_finetuning": "train-encoder" in str(holder.get("command", ""))}

    # -- the jobs ------------------------------------------------------------------------------------------
    def retrain(self, *, author: str | None = None, auto: bool = False) -> tuple[Job, bool]:
        return self.start("retrain", self._retrain, author=author, auto=auto)

    def maybe_retrain(self, author: str | None) -> Job | None:
        """Start a retrain when ``retrain_every`` manual labels arrived since the last one (and none runs)."""
        st = self.state
        if not st.settings.auto_retrain or self.running("retrain") is not None:
            return None
        if st.labels_until_retrain() > 0:
            return None
        job, started = self.retrain(author=author, auto=True)
        return job if started else None

    def _retrain(self, job: Job, ws: Workspace) -> dict[str, Any]:
        from likewise.ops.loop import retrain_workspace
        from likewise.ops.search import build_index

        st = self.state
        with st.lock:
            st.sync()
            labels = st.view.labels_in_order()
            seq = st.view.seq
            fingerprint = st.view.state.fingerprint(st.space.ids)
            raw, raw_content, vectors = st.space.raw, st.space.raw_content, st.space.vectors
            st.retrain_base = seq  # labels from here on count toward the next retrain
        if (ws.vectors_info("raw") or {}).get("content") != raw_content:
            raise InputError("the workspace's records changed as the retrain started; it will run again")
        try:
            result = retrain_workspace(ws, labels=labels, labels_seq=seq, fingerprint=fingerprint, raw=raw,
                                       current=vectors.current if vectors.kind == "tuned" else None,
                                       current_name=vectors.kind, tuner_options=st.tuner_options,
                                       wait=30.0, progress=job.progress)
        except InputError as exc:
            self._remember({"state": "failed", "message": str(exc), "labels_seq": seq, "time": now_iso()})
            raise
        out = result.to_dict()
        if result.switched:
            new = st.space.replace(result.tuned, str(result.vectors_content), result.fit.tuner)
            out["version"] = new.version
            job.progress(1, 1, "re-ranking is ready")
        else:
            out["version"] = vectors.version
        out.update(time=now_iso(), state="done", kind_before=vectors.kind)
        self._remember(out)
        if result.switched and ws.artifact("index_tuned"):
            # keep the workspace's on-disk index (used by `likewise search`) in step; the app searches in memory
            job.progress(0, 1, "updating the workspace's search index")
            try:
                out["index"] = build_index(ws, kind="tuned", wait=0).to_dict()
            except WorkspaceBusyError as exc:
                out["index"] = {"skipped": str(exc)}
        return out

    def _remember(self, outcome: dict[str, Any]) -> None:
        st = self.state
        st.last_retrain = outcome
        with st.lock:
            st.ws.store.set_meta("serve.last_retrain", json.dumps(outcome, default=str))

    def maps(self, *, author: str | None = None, projections: list[str] | None = None, supervised: str | None = "head2d",
             max_points: int = 20_000) -> tuple[Job, bool]:
        def work(job: Job, ws: Workspace) -> dict[str, Any]:
            generation = ws.generation
            result, written = draw_maps(ws, projections=projections or ["pca"], supervised=supervised,
                                        max_points=max_points, progress=job.progress)
            panels = [{"title": p.title, "vectors": p.vectors, "projection": p.projection, "supervised": p.supervised,
                       "knn_accuracy": p.knn_accuracy, "silhouette": p.silhouette,
                       "coords": p.coords.round(5).tolist()} for p in result.panels]
            self.state.map = {"generation": generation, "vectors_version": self.state.space.vectors.version,
                              "ids": result.ids, "panels": panels, "notes": result.notes,
                              "shown": len(result.ids), "total_records": result.total_records,
                              "sampled": result.sampled, "written": written, "made": now_iso()}
            return {"panels": [{k: v for k, v in p.items() if k != "coords"} for p in panels], "written": written,
                    "shown": len(result.ids), "notes": result.notes}

        return self.start("map", work, author=author)

    def report(self, *, author: str | None = None) -> tuple[Job, bool]:
        def work(job: Job, ws: Workspace) -> dict[str, Any]:
            from likewise.report import build_report

            result = build_report(ws, progress=job.progress)
            self.state.report = result.html
            return {"html": result.html, "markdown": result.markdown, "seconds": round(result.seconds, 2),
                    "headline": json.loads(json.dumps(result.headline, default=str))}

        return self.start("report", work, author=author)


def draw_maps(ws: Workspace, *, progress, **options: Any):
    """The workspace's maps as ``likewise map`` draws them (:func:`likewise.ops.maps.map_workspace`, which also
    writes ``maps/`` in the workspace). Mid-labeling some classes have too few records for the held-out split
    the map scores need; they are then left out of the split (still coloured on the page) and said so."""
    from collections import Counter

    from likewise.labels import MIN_PER_CLASS
    from likewise.ops.maps import map_workspace

    data = ws.records()
    counts = Counter(lab for lab in data.labels if lab is not None)
    small = sorted(c for c, n in counts.items() if n < 2 * MIN_PER_CLASS)
    if not small or len(counts) - len(small) < 2:
        return map_workspace(ws, progress=progress, **options)
    from likewise.maps import make_maps
    from likewise.ops.classify import workspace_tuner_options

    labels = [None if lab in small else lab for lab in data.labels]
    tuned = ws.has_vectors("tuned") and not ws.stale_reason("tuned")
    result = make_maps(ws.vectors("raw").vectors, labels, ids=data.ids, texts=data.texts, tuned=tuned,
                       tuner_options=workspace_tuner_options(ws), progress=progress, **options)
    result.notes.append(f"{len(small)} class(es) with fewer than {2 * MIN_PER_CLASS} labeled records are left out of "
                        f"the held-out split and the supervised map: {', '.join(small[:10])}")
    return result, {}
