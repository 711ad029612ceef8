"""Labeling sessions in the web app: a start record and its N most similar records, labeled together.

A session is the library's :class:`~likewise.ops.search.Session` (stored in the label store, so
``likewise session export`` reads it) with a few more keys in its stored body: ``start`` (the start record,
shown on top), ``seq`` (the last label event when it was opened), the filters it was opened with and how
often it was re-ranked. The page's rows are ``[start] + ids``: position 0 is the start record.

Searches run on the server's in-memory vectors (:func:`likewise.ops.loop.rank`); a lasso session is a
closed set of records ordered by similarity to the one nearest their centre.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from likewise.errors import InputError
from likewise.ops.loop import bulk_positions, purity, rank, rerank_rest, session_query
from likewise.ops.search import Session, new_session_id
from likewise.workspace import now_iso

if TYPE_CHECKING:
    from likewise.serve.state import ServeState

MAX_SESSION = 1000
MAX_LASSO = 20_000
LABEL_EVENTS = ("label", "remove")


class SessionBook:
    """The sessions of one served workspace: open, read (a page of rows with the live meter), re-rank, bulk-label."""

    def __init__(self, state: ServeState) -> None:
        self.state = state
        self._lock = threading.RLock()
        self._bodies: dict[str, dict[str, Any]] = {}

    # -- opening ---------------------------------------------------------------------------------------------
    def open(self, *, start_id: str | None = None, ids: list[str] | None = None, size: int = 100,
             unlabeled_only: bool = True, label: str | None = None, source: str | None = None,
             author: str | None = None) -> dict[str, Any]:
        """A session from ``start_id`` (its ``size`` most similar records passing the filters), or from a set
        of ``ids`` (a lasso on the map: those records, most similar to their centre first)."""
        st = self.state
        if (start_id is None) == (ids is None):
            raise InputError("open a session from a start record ('start_id') or from a set of records ('ids')")
        if not 1 <= int(size) <= MAX_SESSION:
            raise InputError(f"a session holds 1 to {MAX_SESSION:,} records, got {size}")
        st.sync(every=1.0)
        vectors = st.space.vectors
        current = vectors.current
        if ids is not None:
            ids = list(dict.fromkeys(str(i) for i in ids))
            if not ids:
                raise InputError("the lasso holds no records")
            if len(ids) > MAX_LASSO:
                raise InputError(f"a lasso of {len(ids):,} records is too large; at most {MAX_LASSO:,}")
            rows = np.asarray(st.space.rows_of(ids), np.int64)
            centre = current[rows].mean(axis=0)
            start_row = int(rows[np.argmax(current[rows] @ centre)])
            allowed = np.zeros(st.space.size, bool)
            allowed[rows] = True
            allowed[start_row] = False
            query: dict[str, Any] = {"ids": len(ids), "lasso": True}
            size = len(ids) - 1
        else:
            start_row = st.row_of(start_id)
            allowed = st.mask(unlabeled=unlabeled_only, label=label, source=source)
            allowed[start_row] = False
            query = {"id": str(start_id)}
        found, scores = rank(current, session_query(current, start_row, st.view.codes), size, allowed,
                             first_pass=vectors.first_pass())
        session = Session(id=new_session_id(), query=query, kind=vectors.kind, size=int(size),
                          unlabeled_only=bool(unlabeled_only), created=now_iso(),
                          ids=[st.space.ids[r] for r in found], scores=[round(float(s), 6) for s in scores],
                          warning=None if len(found) >= size or ids is not None else
                          f"only {len(found)} records pass the filters (asked for {size})")
        body = {**session.to_dict(), "start": st.space.ids[start_row], "seq": st.view.seq, "author": author,
                "filters": {"unlabeled_only": bool(unlabeled_only), "label": label, "source": source},
                "closed": ids is not None, "version": vectors.version, "reranked": 0}
        self._save(body)
        return self.read(session.id, offset=0, limit=min(200, len(found) + 1))

    def _save(self, body: dict[str, Any]) -> None:
        st = self.state
        with self._lock:
            self._bodies[body["id"]] = body
            with st.lock:  # the body is a Session's dict plus keys of the app (load_session reads it back)
                st.ws.store.save_session(body["id"], body, author=body.get("author"))

    def get(self, session_id: str) -> dict[str, Any]:
        from likewise.serve.state import NotFound

        with self._lock:
            body = self._bodies.get(session_id)
            if body is None:
                with self.state.lock:
                    body = self.state.ws.store.session(str(session_id))
                if body is None:
                    raise NotFound(f"no session {session_id!r}")
                body.setdefault("start", (body.get("query") or {}).get("id") or (body["ids"] or [None])[0])
                if body.get("start") in body["ids"]:  # a session the CLI opened from a labeled start
                    body["ids"] = [i for i in body["ids"] if i != body["start"]]
                body.setdefault("seq", 0)
                body.setdefault("closed", False)
                body.setdefault("filters", {"unlabeled_only": body.get("unlabeled_only", False)})
                body.setdefault("reranked", 0)
                self._bodies[session_id] = body
            return body

    # -- reading ---------------------------------------------------------------------------------------------
    def rows(self, body: dict[str, Any]) -> list[str]:
        return [body["start"], *body["ids"]]

    def read(self, session_id: str, *, offset: int = 0, limit: int = 200) -> dict[str, Any]:
        """A page of the session's rows (position, record, score, current label) and its meter."""
        st = self.state
        st.sync(every=1.0)
        body = self.get(session_id)
        rows = self.rows(body)
        scores = [1.0, *body["scores"]]
        page = []
        for pos in range(max(0, offset), min(len(rows), offset + limit)):
            row = st.space.row.get(rows[pos])
            if row is None:
                page.append({"position": pos, "id": rows[pos], "missing": True, "label": None, "conflict": []})
                continue
            page.append({"position": pos, **st.record(row, score=scores[pos])})
        return {**self.summary(body), "offset": offset, "rows": page}

    def summary(self, body: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        return {"id": body["id"], "start": body["start"], "size": len(body["ids"]), "kind": body.get("kind"),
                "created": body.get("created"), "author": body.get("author"), "query": body.get("query"),
                "filters": body.get("filters"), "closed": body.get("closed", False), "warning": body.get("warning"),
                "reranked": body.get("reranked", 0), "version": body.get("version"),
                "current_version": st.space.vectors.version, "meter": self.meter(body)}

    def meter(self, body: dict[str, Any]) -> dict[str, Any]:
        """How pure the session is in the start record's class, and what it cost: labeled rows, rows in the
        start class, and actions (label requests: one bulk action labels many rows with one key)."""
        st = self.state
        labels = [st.view.label_of(rid) for rid in body["ids"]]
        start_label = st.view.label_of(body["start"])
        guess = start_label is None
        if guess:
            known = [lab for lab in labels if lab is not None]
            start_label = max(set(known), key=known.count) if known else None
        labeled = sum(lab is not None for lab in labels)
        with st.lock:
            events = [e for e in st.ws.store.events(since=int(body.get("seq", 0)))
                      if e.session == body["id"] and e.kind in LABEL_EVENTS]
        return {"start_label": start_label, "start_label_guessed": guess and start_label is not None,
                "labeled": labeled, "rows": len(labels),
                "same": sum(lab == start_label for lab in labels if lab is not None),
                "purity": purity(labels, start_label), "actions": len({(e.author, e.time) for e in events})}

    # -- changing --------------------------------------------------------------------------------------------
    def rerank(self, session_id: str, *, skipped: list[str] = ()) -> dict[str, Any]:
        """Re-rank the unlabeled rest under the current vectors (after a retrain) and the start record's label
        (after it is labeled: :func:`likewise.ops.loop.session_query`): labeled and skipped rows stay where they
        are; the other positions get the best unlabeled candidates (within the lasso for a closed session)."""
        st = self.state
        st.sync(every=0.0)
        with self._lock:
            body = self.get(session_id)
            vectors = st.space.vectors
            rows = np.asarray([st.space.row.get(rid, -1) for rid in body["ids"]], np.int64)
            present = rows >= 0
            rows = rows[present]
            skip = set(skipped)
            fixed = np.asarray([st.view.codes[r] >= 0 or st.space.ids[r] in skip for r in rows], bool)
            start_row = st.row_of(body["start"])
            pool = None
            if not body.get("closed"):
                pool = st.mask(unlabeled=True)
                pool[start_row] = False
            before = list(body["ids"])
            query = session_query(vectors.current, start_row, st.view.codes)
            new_rows, scores = rerank_rest(rows, fixed, vectors.current, query, pool)
            body["ids"] = [st.space.ids[r] for r in new_rows]
            body["scores"] = [round(float(s), 6) for s in scores]
            body["kind"], body["version"] = vectors.kind, vectors.version
            body["reranked"] = int(body.get("reranked", 0)) + 1
            self._save(body)
            moved = sum(a != b for a, b in zip(before, body["ids"]))
            entered = len(set(body["ids"]) - set(before))
        return {**self.read(session_id, offset=0, limit=min(len(body["ids"]) + 1, 200)), "moved": moved,
                "entered": entered, "fixed": int(fixed.sum())}

    def bulk(self, session_id: str, *, position: int, label: str, author: str, key: str | None = None,
             skipped: list[str] = ()) -> dict[str, Any]:
        """Shift+digit: label the row at ``position`` and every unlabeled row below it up to the next one
        labeled otherwise (:func:`likewise.ops.loop.bulk_positions`), on the labels as they are now."""
        from likewise.serve.state import check_name

        st = self.state
        label = check_name(label)
        body = self.get(session_id)
        rows = self.rows(body)
        if not 0 <= position < len(rows):
            raise InputError(f"position {position} is outside the session (0 to {len(rows) - 1})")
        with st.lock:
            st.view.refresh()
            labels = [st.view.label_of(rid) for rid in rows]
        skip = {i for i, rid in enumerate(rows) if rid in set(skipped)}
        positions = bulk_positions(labels, position, label, sorted(skip))
        # the focused row is relabeled as asked; the rest only while nobody labeled them meanwhile
        items = [{"id": rows[p], "label": label, "only_unlabeled": i > 0} for i, p in enumerate(positions)]
        result = st.write_labels(items, author=author, key=key, session=session_id)
        return {**result, "positions": positions, "meter": self.meter(body)}

    def list(self, *, limit: int = 200) -> list[dict[str, Any]]:
        """Stored sessions, newest first, with their purity."""
        st = self.state
        st.sync(every=1.0)
        with st.lock:
            ids = st.ws.store.session_ids()[-limit:]
        out = []
        for sid in reversed(ids):
            try:
                body = self.get(sid)
            except InputError:
                continue
            labels = [st.view.label_of(rid) for rid in body["ids"]]
            start_label = st.view.label_of(body["start"])
            out.append({"id": sid, "created": body.get("created"), "author": body.get("author"),
                        "start": body["start"], "start_label": start_label, "size": len(body["ids"]),
                        "labeled": sum(lab is not None for lab in labels), "purity": purity(labels, start_label),
                        "closed": body.get("closed", False), "reranked": body.get("reranked", 0)})
        return out
