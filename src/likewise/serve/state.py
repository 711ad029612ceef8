"""What the web app serves, without HTTP: records, search, labels, classes and settings of one workspace.

:class:`ServeState` wraps a :class:`~likewise.workspace.Workspace` with the in-memory :class:`Space`
(vectors) and :class:`LabelView` (current labels), the labeling sessions (:mod:`.sessions`) and the
background jobs (:mod:`.jobs`). The HTTP layer (:mod:`.routes`) only parses requests and calls these
methods; every write goes to the workspace's label store, so a restart serves the same state.

Threads: FastAPI runs each request in a thread pool. The label store's one SQLite connection and the label
view are used under :attr:`ServeState.lock` (SQLite serialises writers anyway; each write is one
transaction). Background jobs open their own :class:`Workspace` handle; vectors are swapped, not mutated.
"""
from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.labels import is_missing_label
from likewise.ops.loop import DEFAULT_RETRAIN_EVERY, rank, uncertain_rows
from likewise.serve.labelview import LabelView
from likewise.serve.space import Space
from likewise.workspace import LabelInput, Workspace
from likewise.workspace.labelstore import SOURCES

CLASSES_META = "serve.classes"
SETTINGS_META = "serve.settings"
LAST_RETRAIN_META = "serve.last_retrain"
MAX_NAME = 200
MAX_AUTHOR = 80
FILTER_SOURCES = (*SOURCES, "none")


class NotFound(InputError):
    """A record, session or job the request names does not exist (HTTP 404)."""


class Conflict(InputError):
    """The request cannot be applied to the state as it is now (HTTP 409)."""


def check_name(value: str, what: str = "class name") -> str:
    """A class name as given (stripped); refuses empty or "no label" names and over-long ones."""
    name = str(value).strip()
    if is_missing_label(name):
        raise InputError(f"{value!r} is not a usable {what}: it reads as 'no label'; choose another name")
    if len(name) > MAX_NAME:
        raise InputError(f"the {what} is {len(name)} characters long; at most {MAX_NAME}")
    if any(ord(ch) < 32 for ch in name):
        raise InputError(f"the {what} contains control characters; use plain text")
    return name


def check_author(value: str | None) -> str:
    author = (value or "").strip()
    if not author:
        raise InputError("every change needs an author: send your name as 'author'")
    if len(author) > MAX_AUTHOR or any(ord(ch) < 32 for ch in author):
        raise InputError(f"an author name is plain text of at most {MAX_AUTHOR} characters")
    return author


def _import_tuning() -> None:
    import likewise.tuning  # noqa: F401


@dataclass
class Settings:
    retrain_every: int = DEFAULT_RETRAIN_EVERY
    auto_retrain: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"retrain_every": self.retrain_every, "auto_retrain": self.auto_retrain}


class ServeState:
    """One workspace, served."""

    def __init__(self, path: str | Path, *, retrain_every: int | None = None, auto_retrain: bool | None = None,
                 tuner_options: dict[str, Any] | None = None) -> None:
        from likewise.serve.jobs import JobManager
        from likewise.serve.sessions import SessionBook

        self.path = Path(path)
        self.ws = Workspace.open(self.path)
        self.lock = threading.RLock()
        self.space = Space(self.ws)
        self.view = LabelView(self.ws, self.space.ids)
        self.tuner_options = dict(tuner_options or {})
        saved = json.loads(self.ws.store.get_meta(SETTINGS_META) or "{}")
        self.settings = Settings(int(saved.get("retrain_every", DEFAULT_RETRAIN_EVERY)),
                                 bool(saved.get("auto_retrain", True)))
        if retrain_every is not None:
            self.settings.retrain_every = max(1, int(retrain_every))
        if auto_retrain is not None:
            self.settings.auto_retrain = bool(auto_retrain)
        last = json.loads(self.ws.store.get_meta(LAST_RETRAIN_META) or "{}")
        self.last_retrain: dict[str, Any] | None = last or None
        self.retrain_base = max(int(last.get("labels_seq", 0) or 0),
                                int((self.ws.artifact("head") or {}).get("labels_seq", 0) or 0))
        self.sessions = SessionBook(self)
        self.jobs = JobManager(self)
        self.map: dict[str, Any] | None = None  # the latest maps drawn here (points included)
        self.report: str | None = (self.ws.artifact("report") or {}).get("html")
        self._synced = 0.0
        # the first retrain should take seconds, not the seconds torch takes to import: import it now, aside
        threading.Thread(target=_import_tuning, name="likewise-warm-up", daemon=True).start()

    # -- keeping up with the workspace ---------------------------------------------------------------------
    def sync(self, *, every: float = 0.0) -> list[str]:
        """See other commands' writes: a new manifest (vectors, records) and new label events. Returns the
        ids whose labels may have changed. ``every`` skips the manifest read when one was that recent."""
        with self.lock:
            now = time.monotonic()
            if now - self._synced >= every:
                self._synced = now
                ids_before = self.space.ids
                self.space.sync()
                if self.space.ids is not ids_before and self.space.ids != self.view.ids:
                    self.view = LabelView(self.ws, self.space.ids)
                    return list(self.space.ids)
            return self.view.refresh()

    # -- records ---------------------------------------------------------------------------------------------
    def record(self, row: int, *, score: float | None = None, text: bool = True) -> dict[str, Any]:
        rid = self.space.ids[row]
        out: dict[str, Any] = {"id": rid, **self.label_info(rid)}
        if text:
            out["text"] = self.space.texts[row]
        if score is not None:
            out["score"] = round(float(score), 5)
        return out

    def label_info(self, record_id: str) -> dict[str, Any]:
        current = self.view.labels.get(record_id)
        if current is None:
            return {"label": None, "source": None, "author": None, "conflict": []}
        return {"label": current.label, "source": current.source, "author": current.author,
                "confidence": current.confidence, "conflict": list(current.conflict)}

    def row_of(self, record_id: str) -> int:
        row = self.space.row.get(str(record_id))
        if row is None:
            raise NotFound(f"no record with id {record_id!r} in {self.path}")
        return row

    def record_detail(self, record_id: str) -> dict[str, Any]:
        from likewise.ops.labels import label_history

        self.sync(every=1.0)
        row = self.row_of(record_id)
        with self.lock:
            history = label_history(self.ws, str(record_id))
        return {**self.record(row), "history": history}

    def mask(self, *, unlabeled: bool = False, label: str | None = None, source: str | None = None) -> np.ndarray:
        """Rows passing the filters: unlabeled only, current label equal to ``label``, label ``source``."""
        codes = self.view.codes
        keep = np.ones(len(codes), bool)
        if unlabeled:
            keep &= codes < 0
        if label is not None:
            code = self.view.class_code(label)
            keep &= codes == (code if code is not None else -2)
        if source is not None:
            if source not in FILTER_SOURCES:
                raise InputError(f"unknown label source {source!r}; use one of {', '.join(FILTER_SOURCES)}")
            keep &= self.view.source_mask(source)
        return keep

    def browse(self, *, unlabeled: bool = False, label: str | None = None, source: str | None = None,
               order: str = "position", seed: int | None = None, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """Records passing the filters, in record order, at random (seeded) or least sure first."""
        self.sync(every=1.0)
        keep = self.mask(unlabeled=unlabeled, label=label, source=source)
        scores = None
        if order == "position":
            rows = np.flatnonzero(keep)
        elif order == "random":
            rows = np.flatnonzero(keep)
            rng = np.random.default_rng(seed if seed is not None else random.randrange(2**31))
            rows = rows[rng.permutation(len(rows))]
        elif order == "uncertain":
            vectors = self.space.vectors
            rows, scores = uncertain_rows(vectors.current, self.view.codes, offset + limit, keep)
        else:
            raise InputError(f"unknown order {order!r}; use position, random or uncertain")
        total = int(np.count_nonzero(keep))
        page = rows[offset: offset + limit]
        shown = [self.record(int(r), score=None if scores is None else scores[offset + i]) for i, r in enumerate(page)]
        return {"total": total, "offset": offset, "limit": limit, "order": order, "records": shown}

    def search(self, *, text: str | None = None, record_id: str | None = None, k: int = 20, unlabeled: bool = False,
               label: str | None = None, source: str | None = None) -> dict[str, Any]:
        """The k records most similar to a text (encoded with the workspace's model and head) or to a record."""
        if (text is None) == (record_id is None):
            raise InputError("search by 'text' or by 'id' (one of them)")
        self.sync(every=1.0)
        vectors = self.space.vectors
        keep = self.mask(unlabeled=unlabeled, label=label, source=source)
        if record_id is not None:
            row = self.row_of(record_id)
            query = vectors.current[row]
            keep[row] = False
        else:
            query = self.space.text_vector(str(text), vectors)
        rows, scores = rank(vectors.current, query, k, keep, first_pass=vectors.first_pass())
        return {"query": {"text": text} if text is not None else {"id": record_id}, "kind": vectors.kind,
                "k": k, "hits": [self.record(int(r), score=s) for r, s in zip(rows, scores)]}

    # -- labels ----------------------------------------------------------------------------------------------
    def write_labels(self, items: Sequence[dict[str, Any]], *, author: str, key: str | None = None,
                     session: str | None = None, only_unlabeled: bool = False) -> dict[str, Any]:
        """Write manual labels (``label: None`` removes one). ``key`` makes a retried request a no-op.

        An item with ``expected`` (the label its author last saw, None for unlabeled) whose record now has
        another label from someone else is still written (the latest manual label counts, and the store
        keeps the conflict) but reported in ``conflicts``; with ``only_unlabeled`` records that have a label
        by now are left alone and reported in ``kept``."""
        author = check_author(author)
        if session is not None:
            self.sessions.get(session)
        seen: set[str] = set()
        for item in items:
            rid = str(item["id"])
            if rid in seen:
                raise InputError(f"record {rid!r} appears twice in one request; send one label per record")
            seen.add(rid)
            if item.get("label") is not None:
                item["label"] = check_name(item["label"])
        with self.lock:
            self.view.refresh()
            self.space.rows_of([str(i["id"]) for i in items])
            conflicts, kept, writes = [], [], []
            for item in items:
                rid = str(item["id"])
                current = self.view.labels.get(rid)
                now = current.label if current else None
                if item.get("only_unlabeled", only_unlabeled) and now is not None and now != item.get("label"):
                    kept.append({"id": rid, "label": now, "author": current.author})  # type: ignore[union-attr]
                    continue
                if "expected" in item and item["expected"] != now and current is not None \
                        and current.author != author and now != item.get("label"):
                    conflicts.append({"id": rid, "yours": item.get("label"), "theirs": now, "author": current.author,
                                      "source": current.source})
                writes.append(LabelInput(rid, item.get("label"), "manual", None, f"{key}:{rid}" if key else None))
            result = self.ws.store.add(writes, author=author, session=session) if writes else None
            self.view.refresh()
            labels = {str(i["id"]): self.label_info(str(i["id"])) for i in items}
            out = {"written": result.written if result else 0, "skipped": result.skipped if result else 0,
                   "seq": self.view.seq, "labels": labels, "conflicts": conflicts, "kept": kept}
        self.jobs.maybe_retrain(author)
        return out

    def undo(self, *, author: str) -> dict[str, Any]:
        """Undo ``author``'s last action: the label events of their latest request (a bulk action is one), or
        their last class rename or delete."""
        author = check_author(author)
        with self.lock:
            last = self.ws.store.last_seq()
            window = 5000
            while True:
                events = self.ws.store.events(since=max(0, last - window))
                undone = {e.target for e in events if e.kind == "undo"}
                mine = [e for e in events if e.author == author and e.kind != "undo" and e.seq not in undone]
                if mine or last - window <= 0:
                    break
                window *= 4
            if not mine:
                raise Conflict(f"nothing to undo for {author!r}")
            newest = mine[-1]
            group = [e for e in mine if e.time == newest.time and e.session == newest.session and e.kind == newest.kind]
            undone_events = self.ws.store.undo(len(group), author=author)
            touched = self.view.refresh()
            ids = sorted({e.record_id for e in undone_events if e.record_id is not None})
            return {"undone": len(undone_events), "kind": newest.kind, "session": newest.session, "seq": self.view.seq,
                    "labels": {rid: self.label_info(rid) for rid in ids}, "classes_changed": newest.kind != "label"
                    and newest.kind != "remove", "touched": len(touched)}

    def changes(self, since: int) -> dict[str, Any]:
        """Current labels of the records whose labels changed after event ``since`` (another labeler's work);
        ``reload`` when a class was renamed or deleted since then (every label may have changed)."""
        self.sync(every=1.0)
        with self.lock:
            if since < self.view.rebuilt_at:
                return {"seq": self.view.seq, "reload": True, "labels": {}}
            ids = self.view.touched_since(since)
            return {"seq": self.view.seq, "reload": len(ids) > 5000,
                    "labels": {rid: self.label_info(rid) for rid in ids} if len(ids) <= 5000 else {}}

    # -- classes ---------------------------------------------------------------------------------------------
    def classes(self) -> list[dict[str, Any]]:
        """Classes in key order (digits 1-9 label with the first nine): the ones added here, then any class
        that appeared in the labels (kept in that order from then on), with their record counts."""
        with self.lock:
            names = self._class_order()
            counts = self.view.class_counts()
            return [{"name": n, "key": i + 1 if i < 9 else None, "records": counts.get(n, 0)} for i, n in enumerate(names)]

    def _class_order(self) -> list[str]:
        names = json.loads(self.ws.store.get_meta(CLASSES_META) or "[]")
        seen = set(names)
        new = sorted(n for n in self.view.class_counts() if n not in seen)
        if new:
            names += new
            self.ws.store.set_meta(CLASSES_META, json.dumps(names))
        return names

    def add_class(self, name: str) -> list[dict[str, Any]]:
        name = check_name(name)
        with self.lock:
            names = self._class_order()
            if name in names:
                raise Conflict(f"class {name!r} exists already")
            self.ws.store.set_meta(CLASSES_META, json.dumps(names + [name]))
        return self.classes()

    def rename_class(self, old: str, new: str, *, author: str) -> dict[str, Any]:
        """Rename ``old`` to ``new`` on every record (a merge when ``new`` exists); a class without records
        yet is only renamed in the list."""
        from likewise.ops.labels import rename_class

        author, new = check_author(author), check_name(new)
        with self.lock:
            self.view.refresh()
            names = self._class_order()
            if old not in names:
                raise NotFound(f"no class {old!r}")
            if old == new:
                raise InputError(f"class {old!r} already has that name")
            result = {"from": old, "to": new, "records": 0, "merged": new in names}
            if self.view.class_counts().get(old):
                result = rename_class(self.ws, old, new, author=author)
            names = [new if n == old else n for n in names]
            self.ws.store.set_meta(CLASSES_META, json.dumps(list(dict.fromkeys(names))))
            self.view.refresh()
        return {**result, "classes": self.classes()}

    def delete_class(self, name: str, *, author: str) -> dict[str, Any]:
        from likewise.ops.labels import delete_class

        author = check_author(author)
        with self.lock:
            self.view.refresh()
            names = self._class_order()
            if name not in names:
                raise NotFound(f"no class {name!r}")
            result = {"class": name, "records": 0}
            if self.view.class_counts().get(name):
                result = delete_class(self.ws, name, author=author)
            self.ws.store.set_meta(CLASSES_META, json.dumps([n for n in names if n != name]))
            self.view.refresh()
        return {**result, "classes": self.classes()}

    # -- settings and status ---------------------------------------------------------------------------------
    def update_settings(self, *, retrain_every: int | None = None, auto_retrain: bool | None = None) -> dict[str, Any]:
        with self.lock:
            if retrain_every is not None:
                if not 1 <= int(retrain_every) <= 100_000:
                    raise InputError(f"retrain_every must be between 1 and 100,000 labels, got {retrain_every}")
                self.settings.retrain_every = int(retrain_every)
            if auto_retrain is not None:
                self.settings.auto_retrain = bool(auto_retrain)
            self.ws.store.set_meta(SETTINGS_META, json.dumps(self.settings.to_dict()))
        return self.settings.to_dict()

    def labels_until_retrain(self) -> int:
        return max(0, self.settings.retrain_every - self.view.manual_labels_since(self.retrain_base))

    def status(self) -> dict[str, Any]:
        """What the page polls: label and vector versions, jobs, the retrain counter, another command at work."""
        self.sync(every=1.0)
        vectors = self.space.vectors
        return {"seq": self.view.seq, "vectors": {"kind": vectors.kind, "version": vectors.version,
                                                  "content": vectors.content},
                "records": self.space.size, "labeled": int(np.count_nonzero(self.view.codes >= 0)),
                "settings": self.settings.to_dict(), "labels_until_retrain": self.labels_until_retrain(),
                "jobs": [j.to_dict() for j in self.jobs.active()], "last_retrain": self.last_retrain,
                "external": self.jobs.external()}

    def info(self) -> dict[str, Any]:
        info = self.ws.info()
        return {"workspace": str(self.path), "name": self.path.resolve().name, "records": self.space.size,
                "encoder": (info.get("vectors", {}).get("raw") or {}).get("encoder"),
                "can_search_text": bool((self.ws.encoder_info() or {}).get("spec")),
                "sources": list(FILTER_SOURCES), "status": self.status(), "classes": self.classes()}

    def close(self) -> None:
        self.jobs.shutdown()
        with self.lock:
            self.ws.store.close()
