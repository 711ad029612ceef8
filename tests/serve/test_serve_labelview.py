"""The server's label view stays equal to the label store's own state under every kind of write."""
from __future__ import annotations

import random

import numpy as np

from likewise.serve.labelview import LabelView
from likewise.workspace import LabelInput, Workspace
from likewise.workspace.labelstore import SOURCES, LabelStore


def _check(view: LabelView, path) -> None:
    truth = Workspace.open(path).labels().labels
    assert {k: (v.label, v.source, v.author, v.conflict) for k, v in view.labels.items()} == \
        {k: (v.label, v.source, v.author, v.conflict) for k, v in truth.items()}
    for rid, row in view.row.items():
        current = truth.get(rid)
        if current is None:
            assert view.codes[row] == -1 and view.sources[row] == -1
        else:
            assert view.classes[view.codes[row]] == current.label and SOURCES[view.sources[row]] == current.source


def test_view_follows_random_writes_from_another_connection(hashing_ws):
    ws = Workspace.open(hashing_ws)
    ids = ws.record_ids()
    view = LabelView(ws, ids)
    other = LabelStore.open(hashing_ws / "labels.sqlite")  # another labeler, another process in effect
    rng = random.Random(0)
    classes = ["a", "b", "c"]
    changed_total = set()
    for step in range(120):
        op = rng.random()
        store = other if rng.random() < 0.5 else ws.store
        author = rng.choice(["ann", "bob"])
        if op < 0.55:
            items = [LabelInput(rng.choice(ids[:40]), rng.choice(classes)) for _ in range(rng.randint(1, 4))]
            store.add(items, author=author)
        elif op < 0.65:
            store.add([LabelInput(rng.choice(ids[:40]), None)], author=author)
        elif op < 0.72:
            store.add([LabelInput(rng.choice(ids[:40]), rng.choice(classes), "weak", rng.random())], author=author)
        elif op < 0.88:
            store.undo(rng.randint(1, 3), author=author)
        elif op < 0.95:
            present = sorted({c.label for c in store.state().labels.values()})
            if present:
                old = rng.choice(present)
                store.rename_class(old, rng.choice([c for c in classes + ["d"] if c != old]), author=author)
        else:
            present = sorted({c.label for c in store.state().labels.values()})
            if present:
                store.delete_class(rng.choice(present), author=author)
        before = view.seq
        changed_total.update(view.refresh())
        _check(view, hashing_ws)
        assert view.seq >= before
    assert changed_total
    other.close()


def test_touched_since_and_manual_counter(hashing_ws):
    ws = Workspace.open(hashing_ws)
    ids = ws.record_ids()
    view = LabelView(ws, ids)
    start = view.seq
    ws.store.add([LabelInput(ids[0], "a"), LabelInput(ids[1], "b")], author="ann")
    ws.store.add([LabelInput(ids[2], "a", "weak", 0.9)], author="ann")
    view.refresh()
    assert set(view.touched_since(start)) == {ids[0], ids[1], ids[2]}
    assert view.manual_labels_since(start) == 2  # weak labels do not count toward a retrain
    ws.store.undo(1, author="ann")  # the weak label
    view.refresh()
    assert view.manual_labels_since(start) == 2 and view.label_of(ids[2]) is None
    ws.store.undo(1, author="ann")  # one of the two manual labels
    view.refresh()
    assert view.manual_labels_since(start) == 1
    mid = view.seq
    ws.store.rename_class("a", "z", author="ann")
    assert view.refresh() == ids and view.rebuilt_at > mid  # a class event: every row may have changed
    assert np.count_nonzero(view.codes >= 0) == len(ws.labels().labels)
