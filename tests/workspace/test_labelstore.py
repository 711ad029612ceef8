"""The label store: append-only events, the one rule for current labels, undo, class events, idempotency."""
from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likewise.errors import InputError
from likewise.workspace import LabelInput, LabelStore


@pytest.fixture
def store(tmp_path):
    with LabelStore.open(tmp_path / "labels.sqlite") as s:
        yield s


def test_latest_manual_wins_then_imported_then_weak_above_threshold(store):
    store.add([LabelInput("a", "sport", "weak", 0.9), LabelInput("b", "sport", "weak", 0.7),
               LabelInput("c", "tech", "imported"), LabelInput("c", "sport", "weak", 0.95)], author="load")
    state = store.state(threshold=0.7)
    assert state.label_of("a") == "sport" and state.labels["a"].source == "weak"
    assert state.label_of("b") is None and state.below_threshold == 1  # 0.7 is not above 0.7
    assert state.label_of("c") == "tech"  # a person's label beats a weak one
    store.label("c", "politics", author="anna")
    store.label("a", "tech", author="anna")
    state = store.state(threshold=0.7)
    assert state.label_of("c") == "politics" and state.labels["c"].source == "manual"
    assert state.label_of("a") == "tech"


def test_a_manual_removal_takes_back_every_earlier_label_but_not_later_ones(store):
    store.add([LabelInput("a", "tech", "imported"), LabelInput("a", "sport", "weak", 0.9)], author="load")
    store.label("a", None, author="anna")
    assert store.state().label_of("a") is None
    store.add([LabelInput("a", "business", "weak", 0.8)], author="model")
    assert store.state().label_of("a") == "business"


def test_a_weak_removal_takes_back_only_the_weak_label(store):
    store.add([LabelInput("a", "tech", "imported"), LabelInput("b", "sport", "weak", 0.9)], author="load")
    store.add([LabelInput("a", None, "weak"), LabelInput("b", None, "weak")], author="load")
    state = store.state()
    assert state.label_of("a") == "tech" and state.label_of("b") is None


def test_two_authors_disagreeing_is_a_conflict_and_the_latest_wins(store):
    store.label("a", "sport", author="anna")
    store.label("a", "tech", author="bob")
    store.label("b", "sport", author="anna")
    store.label("b", "sport", author="bob")
    state = store.state()
    assert state.label_of("a") == "tech" and state.labels["a"].conflict == ("sport",)
    assert state.labels["b"].conflict == () and state.conflicts == 1
    store.label("a", "tech", author="anna")  # anna agrees now
    assert store.state().conflicts == 0


def test_undo_removes_the_effect_of_an_authors_last_events_only(store):
    store.label("a", "sport", author="anna")
    store.label("a", "tech", author="bob")
    store.label("b", "sport", author="anna")
    store.label("b", "tech", author="anna")
    undone = store.undo(1, author="anna")
    assert [(e.record_id, e.label) for e in undone] == [("b", "tech")]
    state = store.state()
    assert state.label_of("b") == "sport" and state.label_of("a") == "tech"
    store.undo(5, author="anna")  # more than there are: undoes what there is
    state = store.state()
    assert state.label_of("b") is None and state.label_of("a") == "tech"
    assert store.undo(1, author="anna") == []
    history = store.history("b")
    assert [h["undone"] for h in history] == [True, True]


def test_rename_merge_and_delete_classes_apply_to_earlier_labels_only(store):
    store.add([LabelInput("a", "tech", "imported"), LabelInput("b", "biz", "imported"),
               LabelInput("c", "economy", "imported"), LabelInput("d", "misc", "weak", 0.9)], author="load")
    store.rename_class("tech", "technology", author="anna")
    store.rename_class("biz", "economy", author="anna")  # a merge
    store.delete_class("misc", author="anna")
    store.label("e", "tech", author="anna")  # after the rename: a new class "tech" again
    state = store.state()
    assert {r: state.label_of(r) for r in "abcde"} == {"a": "technology", "b": "economy", "c": "economy",
                                                       "d": None, "e": "tech"}
    store.undo(3, author="anna")  # the label of e, the delete, the merge
    state = store.state()
    assert {r: state.label_of(r) for r in "abcde"} == {"a": "technology", "b": "biz", "c": "economy",
                                                       "d": "misc", "e": None}
    with pytest.raises(InputError, match="unknown class 'nope'"):
        store.rename_class("nope", "x")


def test_idempotency_keys_make_a_retry_a_no_op(store):
    first = store.add([LabelInput("a", "sport", key="req-1")], author="anna")
    again = store.add([LabelInput("a", "sport", key="req-1")], author="anna")
    assert (first.written, again.written, again.skipped) == (1, 0, 1)
    assert store.last_seq() == 1


def test_changes_drop_what_repeats_the_latest_event(store):
    items = [LabelInput("a", "sport", "imported"), LabelInput("b", None, "imported"), LabelInput("c", "x", "weak", 0.8)]
    assert store.changes(items) == [items[0], items[2]]  # nothing to remove for b
    store.add(store.changes(items), author="load")
    assert store.changes(items) == []
    assert store.changes([LabelInput("c", "x", "weak", 0.9)]) != []  # another confidence is a change


def test_bad_labels_are_refused_whole(store):
    with pytest.raises(InputError, match="empty label"):
        store.add([LabelInput("a", "sport"), LabelInput("b", "  ")], author="anna")
    with pytest.raises(InputError, match="unknown label source"):
        store.add([LabelInput("a", "sport", "guess")], author="anna")
    assert store.last_seq() == 0


def test_events_are_never_updated_or_deleted(store, tmp_path):
    store.label("a", "sport", author="anna")
    store.label("a", "tech", author="anna")
    store.undo(1, author="anna")
    store.rename_class("sport", "sports")
    with sqlite3.connect(tmp_path / "labels.sqlite") as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY seq")]
    assert kinds == ["label", "label", "undo", "rename"]


def test_the_state_is_cached_until_an_event_is_written(store):
    store.label("a", "sport", author="anna")
    first = store.state()
    assert store.state() is first
    store.label("b", "tech", author="anna")
    assert store.state() is not first and store.state().label_of("b") == "tech"


def test_fingerprint_changes_exactly_when_labels_of_the_given_ids_change(store):
    store.label("a", "sport", author="anna")
    before = store.state().fingerprint(["a", "b"])
    store.label("c", "tech", author="anna")  # not among the ids
    assert store.state().fingerprint(["a", "b"]) == before
    store.label("b", "tech", author="anna")
    assert store.state().fingerprint(["a", "b"]) != before


def test_runs_and_sessions_round_trip(store):
    run = store.log_run("tune", config={"head": "linear"}, labels={"labeled": 3}, metrics={"top_k": 0.5}, seconds=1.25)
    assert [(r.id, r.command, r.metrics) for r in store.runs()] == [(run, "tune", {"top_k": 0.5})]
    store.save_session("s1", {"ids": ["a", "b"], "created": "2026-01-01T00:00:00"})
    assert store.session("s1")["ids"] == ["a", "b"] and store.session_ids() == ["s1"]


_events = st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(["x", "y", None]),
                             st.sampled_from(["manual", "imported", "weak"]), st.sampled_from(["anna", "bob"])),
                   max_size=25)


@settings(max_examples=60, deadline=None)
@given(before=_events, extra=_events)
def test_undoing_an_authors_new_events_restores_the_state_before_them(tmp_path_factory, before, extra):
    """Property: write some events, remember the state, let "carl" write more, undo all of carl's: the
    state is the one remembered."""
    path = tmp_path_factory.mktemp("prop") / "labels.sqlite"
    with LabelStore.open(path) as s:
        for rid, label, source, author in before:
            s.add([LabelInput(rid, label, source, 0.9 if source == "weak" else None)], author=author)
        remembered = {r: (c.label, c.source) for r, c in s.state().labels.items()}
        for rid, label, source, _ in extra:
            s.add([LabelInput(rid, label, source, 0.9 if source == "weak" else None)], author="carl")
        s.undo(len(extra) + 1, author="carl")
        assert {r: (c.label, c.source) for r, c in s.state().labels.items()} == remembered


_mixed = st.lists(st.tuples(st.sampled_from(["label", "remove", "undo", "rename"]), st.sampled_from("abcd"),
                            st.sampled_from(["x", "y", "z"]), st.sampled_from(["manual", "imported", "weak"]),
                            st.sampled_from(["anna", "bob"]), st.sampled_from([0.5, 0.9])), max_size=40)


@settings(max_examples=60, deadline=None)
@given(ops=_mixed)
def test_the_kept_state_equals_the_rule_recomputed_from_every_event(tmp_path_factory, ops):
    """Property: after every write, the state the store keeps (new events applied incrementally) equals
    :func:`current_labels` over all events."""
    from likewise.workspace.labelstore import current_labels

    path = tmp_path_factory.mktemp("inc") / "labels.sqlite"
    with LabelStore.open(path) as s:
        for kind, rid, label, source, author, confidence in ops:
            if kind == "undo":
                s.undo(1, author=author)
            elif kind == "rename":
                if label in {c.label for c in s.state(threshold=0.7).labels.values()}:
                    s.rename_class(label, "w", author=author)
            else:
                s.add([LabelInput(rid, label if kind == "label" else None, source,
                                  confidence if source == "weak" else None)], author=author)
            kept = s.state(threshold=0.7)
            full = current_labels(s.events(), 0.7)
            assert kept.labels == full.labels
            assert (kept.below_threshold, kept.conflicts, kept.last_seq) == (full.below_threshold, full.conflicts,
                                                                              full.last_seq)
