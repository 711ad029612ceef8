"""The label store: every label anyone ever gave, as append-only events in SQLite, and the one rule that
turns them into each record's current label. Also the run log and the stored labeling sessions.

``<workspace>/labels.sqlite`` (WAL mode, so readers never wait for a writer and many processes can write
labels at once; each write is one transaction, so a crash loses at most the write in flight).

Events (table ``events``, never updated or deleted):

- ``label``: record ``record_id`` gets ``label`` from ``source`` (see :data:`SOURCES`) with an optional
  ``confidence`` (weak and predicted labels), by ``author``, optionally in a labeling ``session``;
- ``remove``: the record's label from ``source`` is taken back (a ``manual`` removal takes back every
  label the record had until then, whatever its source);
- ``rename``: class ``label`` is called ``new_label`` from now on (a merge is a rename onto an existing
  class); ``delete``: class ``label`` is removed from every record labeled with it so far;
- ``undo``: event ``target`` no longer counts (:meth:`LabelStore.undo` undoes an author's last N events).

The current label of a record (:func:`current_labels`, the only place this rule is written):

1. its events are read in order, undone events skipped; a class rename or delete applies to every label
   event before it;
2. the latest ``manual`` label wins; otherwise the latest ``imported`` label (a label a person gave in a
   file, read by ``likewise embed`` or ``likewise label --file``); otherwise the latest ``weak`` or
   ``predicted`` label, when its confidence is above the workspace's threshold; otherwise the record is
   unlabeled;
3. a record is in *conflict* when two authors' latest manual labels differ (the latest still wins; the
   conflict is counted and shown).

An optional idempotency ``key`` makes a retried write a no-op (the HTTP API passes the client's key).
"""
from __future__ import annotations

import bisect
import getpass
import hashlib
import json
import math
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from likewise.errors import InputError, unknown_name

STORE_FILE = "labels.sqlite"
SOURCES = ("manual", "imported", "weak", "predicted")
HUMAN_SOURCES = ("manual", "imported")
MACHINE_SOURCES = ("weak", "predicted")
EVENT_KINDS = ("label", "remove", "rename", "delete", "undo")
AUTHOR_ENV = "LIKEWISE_AUTHOR"
BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    record_id TEXT,
    label TEXT,
    new_label TEXT,
    source TEXT,
    confidence REAL,
    author TEXT NOT NULL,
    session TEXT,
    target INTEGER,
    key TEXT UNIQUE,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_record ON events(record_id, seq);
CREATE INDEX IF NOT EXISTS events_author ON events(author, seq);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    author TEXT NOT NULL,
    command TEXT NOT NULL,
    config TEXT NOT NULL,
    labels TEXT NOT NULL,
    metrics TEXT NOT NULL,
    seconds REAL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_author() -> str:
    """``$LIKEWISE_AUTHOR``, else the login name."""
    name = os.environ.get(AUTHOR_ENV)
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    record_id: str | None
    label: str | None
    new_label: str | None
    source: str | None
    confidence: float | None
    author: str
    session: str | None
    target: int | None
    time: str

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class CurrentLabel:
    """A record's label under the rule of the module docstring, where it came from, and its conflict."""

    label: str
    source: str
    confidence: float | None
    author: str
    seq: int
    conflict: tuple[str, ...] = ()  # the differing labels of other authors' latest manual events


@dataclass
class LabelState:
    """Every record's current label (records without one are absent) and the counts behind it."""

    labels: dict[str, CurrentLabel]
    last_seq: int
    threshold: float
    below_threshold: int = 0
    conflicts: int = 0

    def label_of(self, record_id: str) -> str | None:
        current = self.labels.get(record_id)
        return current.label if current else None

    def fingerprint(self, ids: Iterable[str]) -> str:
        """A short hash of the (id, label) pairs of ``ids``: equal exactly when those records' labels are."""
        h = hashlib.sha256()
        for rid in ids:
            current = self.labels.get(rid)
            if current is not None:
                h.update(f"{len(rid)}:{rid}{len(current.label)}:{current.label}".encode("utf-8", "surrogatepass"))
        return h.hexdigest()[:20]


@dataclass
class LabelInput:
    """One label to write: ``label=None`` removes the record's label from ``source``."""

    record_id: str
    label: str | None
    source: str = "manual"
    confidence: float | None = None
    key: str | None = None


@dataclass
class Run:
    """One row of the run log: what ran, on how many labels, how well it did on held-out records."""

    id: int
    time: str
    author: str
    command: str
    config: dict[str, Any]
    labels: dict[str, Any]
    metrics: dict[str, Any]
    seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WriteResult:
    """What a write did: events written, and those skipped as retries (same idempotency key) or no-ops."""

    written: int = 0
    skipped: int = 0
    seqs: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "skipped": self.skipped, "last_seq": self.seqs[-1] if self.seqs else None}


def _event(row: sqlite3.Row | tuple) -> Event:
    return Event(*row)


_EVENT_COLUMNS = "seq, kind, record_id, label, new_label, source, confidence, author, session, target, time"


class _Layers:
    """The rule's per-record state: the latest manual, imported and machine label events and each author's
    latest manual label, fed label/remove events in order (their labels already renamed to their final
    class); :meth:`resolve` picks a record's current label from them."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.manual: dict[str, Event | None] = {}
        self.imported: dict[str, Event | None] = {}
        self.machine: dict[str, Event | None] = {}
        self.by_author: dict[str, dict[str, str | None]] = {}
        self.below: set[str] = set()
        self.conflicted: set[str] = set()

    def feed(self, e: Event, label: str | None) -> None:
        rid = e.record_id
        entry = e if label is not None else None
        if label is not None and label != e.label:
            entry = Event(e.seq, e.kind, rid, label, None, e.source, e.confidence, e.author, e.session, None, e.time)
        if e.source == "manual":
            self.manual[rid] = entry
            self.by_author.setdefault(rid, {})[e.author] = label
            if e.kind == "remove":  # a person took the label back: nothing before counts
                self.imported[rid] = None
                self.machine[rid] = None
                self.by_author[rid] = {}
        elif e.source == "imported":
            self.imported[rid] = entry
        else:
            self.machine[rid] = entry

    def resolve(self, rid: str) -> CurrentLabel | None:
        self.below.discard(rid)
        self.conflicted.discard(rid)
        chosen = self.manual.get(rid) or self.imported.get(rid)
        if chosen is None:
            weak = self.machine.get(rid)
            if weak is not None:
                confidence = weak.confidence if weak.confidence is not None else math.nan
                if confidence > self.threshold:
                    chosen = weak
                else:
                    self.below.add(rid)
        if chosen is None:
            return None
        others: tuple[str, ...] = ()
        if chosen.source == "manual":
            others = tuple(sorted({lab for lab in self.by_author.get(rid, {}).values()
                                   if lab is not None and lab != chosen.label}))
            if others:
                self.conflicted.add(rid)
        return CurrentLabel(chosen.label, chosen.source, chosen.confidence, chosen.author, chosen.seq, others)

    def records(self) -> set[str]:
        return set(self.manual) | set(self.imported) | set(self.machine)


def _final_labels(live: Sequence[Event]):
    """``final(label, seq)``: the class a label given at ``seq`` has after every later rename or delete
    (None when deleted), from suffix compositions of the class events."""
    class_events = [e for e in live if e.kind in ("rename", "delete")]
    maps: list[dict[str, str | None]] = [{}]  # maps[i]: a label given before class_events[i] -> its final name
    for ce in reversed(class_events):
        later = maps[0]
        step = {ce.label: ce.new_label if ce.kind == "rename" else None}
        composed = {old: (later.get(new, new) if new is not None else None) for old, new in step.items()}
        for old, new in later.items():
            composed.setdefault(old, new)
        maps.insert(0, composed)
    class_seqs = [ce.seq for ce in class_events]

    def final(label: str, seq: int) -> str | None:
        return maps[bisect.bisect_right(class_seqs, seq)].get(label, label)

    return final


def _layers(events: Sequence[Event], threshold: float) -> _Layers:
    undone = {e.target for e in events if e.kind == "undo" and e.target is not None}
    live = [e for e in events if e.seq not in undone and e.kind != "undo"]
    final = _final_labels(live)
    layers = _Layers(threshold)
    for e in live:
        if e.kind not in ("label", "remove") or e.record_id is None:
            continue
        label = final(e.label, e.seq) if e.kind == "label" and e.label is not None else None
        if e.kind == "label" and label is None:  # its class was deleted later
            continue
        layers.feed(e, label)
    return layers


def _state(layers: _Layers, last_seq: int, rids) -> LabelState:
    state = LabelState({}, last_seq, layers.threshold)
    for rid in rids:
        current = layers.resolve(rid)
        if current is not None:
            state.labels[rid] = current
    state.below_threshold, state.conflicts = len(layers.below), len(layers.conflicted)
    return state


def current_labels(events: Sequence[Event], threshold: float) -> LabelState:
    """The current label of every record from its events (the rule of the module docstring)."""
    layers = _layers(events, threshold)
    return _state(layers, max((e.seq for e in events), default=0), layers.records())


class LabelStore:
    """The workspace's SQLite store. Open it with :meth:`open`; every method is one transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._cache: tuple[int, float, _Layers, LabelState] | None = None  # (last seq, threshold, layers, state)

    @classmethod
    def open(cls, path: str | Path) -> LabelStore:
        store = cls(path)
        store._connect()
        return store

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
            except sqlite3.DatabaseError as exc:
                raise InputError(f"the label store {self.path} is unreadable ({exc}); restore it from a backup "
                                 "(labels are never rewritten, so a copy of the file is a full backup)") from exc
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- writes ----------------------------------------------------------------------------------------------
    def changes(self, labels: Sequence[LabelInput]) -> list[LabelInput]:
        """The labels that would change something: those that do not repeat the record's latest event of the
        same source, and no removal where that source never labeled the record (re-importing the same file
        changes nothing)."""
        latest: dict[tuple[str, str], tuple[str, str | None, float | None]] = {}
        for kind, rid, label, source, confidence in self._connect().execute(
            "SELECT kind, record_id, label, source, confidence FROM events WHERE seq IN ("
            "SELECT MAX(seq) FROM events WHERE kind IN ('label', 'remove') AND seq NOT IN "
            "(SELECT target FROM events WHERE kind = 'undo') GROUP BY record_id, source)"
        ):
            latest[(rid, source)] = (kind, label, confidence)
        out = []
        for item in labels:
            kind = "label" if item.label is not None else "remove"
            before = latest.get((str(item.record_id), item.source))
            if before is None:
                if kind == "label":
                    out.append(item)
                continue
            confidence = None if item.confidence is None else round(float(item.confidence), 6)
            same_confidence = (before[2] is None and confidence is None) or (
                before[2] is not None and confidence is not None and abs(before[2] - confidence) < 1e-6)
            if not (before[0] == kind and before[1] == item.label and same_confidence) and not (
                    kind == "remove" and before[0] == "remove"):
                out.append(item)
        return out

    def add(
        self,
        labels: Sequence[LabelInput],
        *,
        author: str | None = None,
        session: str | None = None,
    ) -> WriteResult:
        """Append label (or removal) events in one transaction: all are written or none. An event whose
        idempotency ``key`` was written before is skipped (a retried request changes nothing)."""
        author = author or default_author()
        for item in labels:
            if item.source not in SOURCES:
                raise InputError(f"unknown label source {item.source!r}; use one of {', '.join(SOURCES)}")
            if item.label is not None and not str(item.label).strip():
                raise InputError(f"record {item.record_id!r}: an empty label; give a class name, or remove the label")
        result = WriteResult()
        stamp = now_iso()
        with self._transaction() as conn:
            for item in labels:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO events (kind, record_id, label, source, confidence, author, session, key, time)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ("label" if item.label is not None else "remove", str(item.record_id),
                     None if item.label is None else str(item.label), item.source,
                     None if item.confidence is None else round(float(item.confidence), 6), author, session,
                     item.key, stamp),
                )
                if cur.rowcount:
                    result.written += 1
                    result.seqs.append(int(cur.lastrowid))
                else:
                    result.skipped += 1
        return result

    def label(self, record_id: str, label: str | None, *, author: str | None = None, source: str = "manual",
              confidence: float | None = None, session: str | None = None, key: str | None = None) -> WriteResult:
        """One label (``None`` removes it)."""
        return self.add([LabelInput(record_id, label, source, confidence, key)], author=author, session=session)

    def rename_class(self, old: str, new: str, *, author: str | None = None) -> int:
        """Class ``old`` becomes ``new`` on every record (a merge when ``new`` exists). Returns the event seq."""
        old, new = str(old), str(new).strip()
        if not new:
            raise InputError("the new class name is empty")
        if old == new:
            raise InputError(f"class {old!r} already has that name")
        self._require_class(old)
        return self._class_event("rename", old, new, author)

    def delete_class(self, name: str, *, author: str | None = None) -> int:
        """Remove class ``name`` from every record labeled with it (the records become unlabeled)."""
        self._require_class(str(name))
        return self._class_event("delete", str(name), None, author)

    def _require_class(self, name: str) -> None:
        known = sorted({c.label for c in self.state(threshold=-math.inf).labels.values()})
        if name not in known:
            raise unknown_name("class", name, known)

    def _class_event(self, kind: str, label: str, new: str | None, author: str | None) -> int:
        with self._transaction() as conn:
            cur = conn.execute("INSERT INTO events (kind, label, new_label, author, time) VALUES (?, ?, ?, ?, ?)",
                               (kind, label, new, author or default_author(), now_iso()))
            return int(cur.lastrowid)

    def undo(self, n: int = 1, *, author: str | None = None) -> list[Event]:
        """Undo the last ``n`` events of ``author`` that still count; returns the events undone."""
        if n < 1:
            raise InputError(f"undo needs a positive number of events, got {n}")
        author = author or default_author()
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE author = ? AND kind != 'undo' AND seq NOT IN "
                "(SELECT target FROM events WHERE kind = 'undo') ORDER BY seq DESC LIMIT ?", (author, n)).fetchall()
            stamp = now_iso()
            for row in rows:
                conn.execute("INSERT INTO events (kind, target, author, time) VALUES ('undo', ?, ?, ?)",
                             (row[0], author, stamp))
        return [_event(r) for r in rows]

    # -- reads -----------------------------------------------------------------------------------------------
    def last_seq(self) -> int:
        row = self._connect().execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def events(self, *, record_id: str | None = None, since: int = 0) -> list[Event]:
        conn = self._connect()
        if record_id is not None:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE record_id = ? OR (record_id IS NULL AND kind != 'undo') "
                "OR seq IN (SELECT target FROM events WHERE kind = 'undo') OR (kind = 'undo' AND target IN "
                "(SELECT seq FROM events WHERE record_id = ?)) ORDER BY seq", (str(record_id), str(record_id)))
        else:
            rows = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq", (since,))
        return [_event(r) for r in rows]

    def state(self, *, threshold: float = 0.7) -> LabelState:
        """Every record's current label. Kept between calls: new label events are applied to the kept
        state (a long-running labeler pays for its new events only); an undo or a class event since, or
        another threshold, recomputes it from every event (:func:`current_labels`'s rule either way)."""
        last = self.last_seq()
        if self._cache is not None and self._cache[:2] == (last, float(threshold)):
            return self._cache[3]
        if self._cache is not None and self._cache[1] == float(threshold):
            new = self.events(since=self._cache[0])
            if all(e.kind in ("label", "remove") for e in new):
                layers, state = self._cache[2], self._cache[3]
                touched = set()
                for e in new:
                    layers.feed(e, e.label)
                    touched.add(e.record_id)
                fresh = _state(layers, last, ())
                fresh.labels = dict(state.labels)
                for rid in touched:
                    current = layers.resolve(rid)
                    if current is None:
                        fresh.labels.pop(rid, None)
                    else:
                        fresh.labels[rid] = current
                fresh.below_threshold, fresh.conflicts = len(layers.below), len(layers.conflicted)
                self._cache = (last, float(threshold), layers, fresh)
                return fresh
        events = self.events()
        layers = _layers(events, threshold)
        state = _state(layers, last, layers.records())
        self._cache = (last, float(threshold), layers, state)
        return state

    def history(self, record_id: str) -> list[dict[str, Any]]:
        """Every event that touched ``record_id`` (with the class renames and deletes in between), oldest
        first, each marked ``undone`` when an undo took it back."""
        events = self.events(record_id=record_id)
        undone = {e.target for e in events if e.kind == "undo"}
        out = []
        for e in events:
            if e.kind == "undo" or (e.record_id is None and e.kind not in ("rename", "delete")):
                continue
            if e.record_id not in (None, str(record_id)):
                continue
            out.append({**e.to_dict(), "undone": e.seq in undone})
        return out

    # -- run log ---------------------------------------------------------------------------------------------
    def log_run(self, command: str, *, config: dict[str, Any], labels: dict[str, Any], metrics: dict[str, Any],
                seconds: float | None, author: str | None = None) -> int:
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (time, author, command, config, labels, metrics, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now_iso(), author or default_author(), command, _json(config), _json(labels), _json(metrics),
                 None if seconds is None else round(float(seconds), 3)))
            return int(cur.lastrowid)

    def runs(self, *, command: str | None = None, limit: int | None = None) -> list[Run]:
        sql = "SELECT id, time, author, command, config, labels, metrics, seconds FROM runs"
        args: list[Any] = []
        if command:
            sql += " WHERE command = ?"
            args.append(command)
        sql += " ORDER BY id"
        rows = self._connect().execute(sql, args).fetchall()
        runs = [Run(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), json.loads(r[6]), r[7]) for r in rows]
        return runs[-limit:] if limit else runs

    # -- sessions --------------------------------------------------------------------------------------------
    def save_session(self, session_id: str, body: dict[str, Any], *, author: str | None = None) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO sessions (id, created, author, body) VALUES (?, ?, ?, ?)",
                         (session_id, body.get("created") or now_iso(), author or default_author(), _json(body)))

    def session(self, session_id: str) -> dict[str, Any] | None:
        row = self._connect().execute("SELECT body FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def session_ids(self) -> list[str]:
        return [r[0] for r in self._connect().execute("SELECT id FROM sessions ORDER BY created, id")]

    # -- meta ------------------------------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        row = self._connect().execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v), sort_keys=True)


