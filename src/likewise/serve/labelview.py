"""The server's view of the current labels, aligned with the records' rows, kept up to date per write.

The label store keeps its state between calls and applies new label events incrementally
(:meth:`LabelStore.state`), so reading every current label after a keystroke is cheap. On top of it this
view keeps what a search filter and a live page need:

- each row's class code (``-1`` unlabeled) and source code, so searches filter by label and source with
  numpy masks;
- which records each event touched (``touched_since(seq)``: another labeler's changes for the page to
  show), and the live manual label events (the retrain counter);
- ``rebuilt_at``: the last event after which every label may have changed (a class rename or delete, or a
  new threshold): a page behind it reloads instead of patching rows.

It reads events written by any process (another labeler, a CLI command); it never writes.
"""
from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence

import numpy as np

from likewise.workspace import Workspace
from likewise.workspace.labelstore import SOURCES, CurrentLabel, LabelState

CLASS_EVENTS = ("rename", "delete")


class LabelView:
    """Current labels of ``ids`` (the workspace's records, in row order), refreshed with :meth:`refresh`."""

    def __init__(self, ws: Workspace, ids: Sequence[str]) -> None:
        self.ws = ws
        self.ids = list(ids)
        self.row = {rid: i for i, rid in enumerate(self.ids)}
        self._lock = threading.RLock()
        self.state: LabelState = LabelState({}, 0, ws.threshold)
        self.seq = 0  # the last event this view has applied
        self.rebuilt_at = 0
        self.threshold = ws.threshold
        self.codes = np.full(len(self.ids), -1, np.int32)
        self.sources = np.full(len(self.ids), -1, np.int8)
        self.classes: list[str] = []
        self._code: dict[str, int] = {}
        self._event_record: dict[int, str] = {}
        self._touched: list[tuple[int, str]] = []  # (seq, record id) of every label event and undo, in order
        self._manual: list[int] = []  # seqs of live manual label events
        self._read = False
        self.refresh()

    # -- reading ----------------------------------------------------------------------------------------------
    @property
    def labels(self) -> dict[str, CurrentLabel]:
        return self.state.labels

    def label_of(self, record_id: str) -> str | None:
        current = self.state.labels.get(record_id)
        return current.label if current else None

    def labels_in_order(self) -> list[str | None]:
        return [self.label_of(rid) for rid in self.ids]

    def touched_since(self, seq: int) -> list[str]:
        """Record ids whose label events (or undos of them) came after ``seq``."""
        with self._lock:
            start = bisect.bisect_right(self._touched, (seq, "\U0010ffff"))
            return list(dict.fromkeys(rid for _, rid in self._touched[start:]))

    def manual_labels_since(self, seq: int) -> int:
        """How many live manual label events came after ``seq`` (what the retrain counter counts)."""
        with self._lock:
            return len(self._manual) - bisect.bisect_right(self._manual, seq)

    def class_code(self, name: str) -> int | None:
        return self._code.get(name)

    def source_mask(self, source: str) -> np.ndarray:
        """Rows whose current label comes from ``source`` ("none": unlabeled rows)."""
        if source == "none":
            return self.codes < 0
        return self.sources == SOURCES.index(source)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.codes[self.codes >= 0], minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, counts) if n}

    # -- refreshing ------------------------------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Apply the events written since the last look (by anyone); returns the record ids whose label may
        have changed (every id after a class rename or delete, or a new threshold)."""
        with self._lock:
            first, self._read = not self._read, True
            events = self.ws.store.events(since=self.seq)
            threshold = self.ws.threshold
            if not events and threshold == self.threshold and not first:
                return []
            full = first or threshold != self.threshold
            touched: set[str] = set()
            for e in events:
                if e.kind in CLASS_EVENTS:
                    full = True
                elif e.kind == "undo":
                    rid = self._event_record.get(e.target)  # type: ignore[arg-type]
                    if rid is None:
                        full = True  # an undone class event
                        continue
                    touched.add(rid)
                    self._touched.append((e.seq, rid))
                    i = bisect.bisect_left(self._manual, e.target)  # type: ignore[arg-type]
                    if i < len(self._manual) and self._manual[i] == e.target:
                        del self._manual[i]
                elif e.record_id is not None:
                    rid = str(e.record_id)
                    touched.add(rid)
                    self._event_record[e.seq] = rid
                    self._touched.append((e.seq, rid))
                    if e.kind == "label" and e.source == "manual":
                        self._manual.append(e.seq)
            # events first, then the state: a write in between shows up in both now and in the next events
            self.state = self.ws.labels()
            self.threshold = threshold
            if events:
                self.seq = events[-1].seq
            if full:
                self.rebuilt_at = self.seq
                self.classes, self._code = [], {}
                self.codes[:] = -1
                self.sources[:] = -1
                self._set_rows(self.state.labels)
                return list(self.ids)
            self._set_rows(touched)
            return sorted(touched)

    def _set_rows(self, record_ids: Iterable[str]) -> None:
        for rid in record_ids:
            row = self.row.get(rid)
            if row is None:
                continue  # a label for a record the workspace no longer holds
            current = self.state.labels.get(rid)
            if current is None:
                self.codes[row], self.sources[row] = -1, -1
                continue
            code = self._code.get(current.label)
            if code is None:
                code = self._code[current.label] = len(self.classes)
                self.classes.append(current.label)
            self.codes[row] = code
            self.sources[row] = SOURCES.index(current.source)
