"""`likewise label`, `likewise labels`, `likewise runs`, `likewise cache`: labels in and out from the shell."""
from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from click.testing import CliRunner

from likewise.cli.main import cli
from likewise.records import load_records
from likewise.workspace import Workspace


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def ok(*args: str, input: str | None = None) -> dict | list:
    result = run(*args, "--json", input=input)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def ws(tmp_path):
    path = tmp_path / "data.csv"
    texts = [("goal match team league" if i % 2 else "chip software phone code") + f" {i}" for i in range(20)]
    labels = ["sport" if i % 2 else "tech" for i in range(12)] + [None] * 8
    pd.DataFrame({"id": [f"r{i}" for i in range(20)], "text": texts, "label": labels}).to_csv(path, index=False)
    folder = tmp_path / "ws"
    assert run("embed", str(path), "-m", "hashing", "-w", str(folder), "--json").exit_code == 0
    return folder


def _events(folder) -> int:
    with sqlite3.connect(folder / "labels.sqlite") as conn:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def test_label_one_record_then_undo(ws):
    ok("label", "r15", "sport", "-w", str(ws), "--author", "anna")
    assert Workspace.open(ws).labels().label_of("r15") == "sport"
    counts = ok("labels", "-w", str(ws))
    assert counts["labeled"] == 13 and counts["classes"]["sport"] == {"records": 7, "imported": 6, "manual": 1}
    undone = ok("label", "--undo", "-w", str(ws), "--author", "anna")["undone"]
    assert [e["record_id"] for e in undone] == ["r15"]
    assert Workspace.open(ws).labels().label_of("r15") is None


def test_label_remove_and_history(ws):
    ok("label", "r1", "--remove", "-w", str(ws))
    assert Workspace.open(ws).labels().label_of("r1") is None
    history = ok("labels", "-w", str(ws), "history", "r1")
    assert [(h["kind"], h["source"]) for h in history] == [("label", "imported"), ("remove", "manual")]


def test_label_file_applies_whole_or_not_at_all(ws, tmp_path):
    good = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["r12", "r13", "r14"], "label": ["tech", "sport", "tech"]}).to_csv(good, index=False)
    result = ok("label", "--file", str(good), "-w", str(ws))
    assert (result["rows"], result["written"], result["source"]) == (3, 3, "imported")
    again = ok("label", "--file", str(good), "-w", str(ws))
    assert again["written"] == 0 and again["unchanged"] == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "r15", "label": "sport"}\n{"id": "nope", "label": "tech"}\n')
    before = _events(ws)
    failed = run("label", "--file", str(bad), "-w", str(ws))
    assert failed.exit_code == 2 and "1 record id(s) are not in the workspace: 'nope'" in failed.stderr
    assert failed.stderr.count("\n") == 1 and _events(ws) == before


def test_label_file_with_confidences_is_weak(ws, tmp_path):
    path = tmp_path / "weak.csv"
    pd.DataFrame({"id": ["r12", "r13"], "label": ["tech", "sport"], "p": [0.9, 0.5]}).to_csv(path, index=False)
    ok("label", "--file", str(path), "--confidence-column", "p", "-w", str(ws))
    state = Workspace.open(ws).labels()
    assert state.label_of("r12") == "tech" and state.labels["r12"].source == "weak"
    assert state.label_of("r13") is None  # 0.5 is not above the workspace's threshold 0.7


def test_refinery_export_round_trips_through_embed(ws, tmp_path):
    ok("label", "r16", "sport", "-w", str(ws))
    out = tmp_path / "export.json"
    assert run("labels", "-w", str(ws), "export", str(out), "--task", "topic").exit_code == 0
    back = load_records(out, refinery_task="topic")
    assert back.summary.manual == 13 and dict(zip(back.ids, back.labels))["r16"] == "sport"
    csv_out = tmp_path / "labels.csv"
    assert run("labels", "-w", str(ws), "export", str(csv_out)).exit_code == 0
    frame = pd.read_csv(csv_out)
    assert len(frame) == 13 and set(frame["source"]) == {"imported", "manual"}
    # a refinery export is also read by `likewise label --file`: only r16's label is new as an imported one
    result = ok("label", "--file", str(out), "--task", "topic", "-w", str(ws))
    assert result["format"] == "refinery" and (result["rows"], result["written"]) == (13, 1)


def test_rename_merge_delete_classes(ws):
    assert run("labels", "-w", str(ws), "rename", "tech", "technology").exit_code == 0
    assert set(ok("labels", "-w", str(ws))["classes"]) == {"sport", "technology"}
    assert run("labels", "-w", str(ws), "merge", "technology", "sport").exit_code == 0
    assert ok("labels", "-w", str(ws))["classes"]["sport"]["records"] == 12
    failed = run("labels", "-w", str(ws), "merge", "sport", "nope")
    assert failed.exit_code == 2 and "unknown class 'nope'" in failed.stderr
    assert run("labels", "-w", str(ws), "delete", "sport").exit_code == 0
    assert ok("labels", "-w", str(ws))["labeled"] == 0
    ok("label", "--undo", "3", "-w", str(ws))
    assert set(ok("labels", "-w", str(ws))["classes"]) == {"sport", "tech"}


@pytest.mark.parametrize("args, message", [
    (("label", "r1"), "give a LABEL after RECORD_ID"),
    (("label",), "give one of"),
    (("label", "r1", "x", "--undo"), "give one of"),
    (("label", "nope", "tech"), "not in the workspace"),
    (("label", "r1", "  "), "empty label"),
    (("labels", "history", "nope"), "no record with id"),
    (("labels", "rename", "ghost", "x"), "unknown class 'ghost'"),
])
def test_bad_label_commands_are_one_line(ws, args, message):
    before = _events(ws)
    result = run(*args, "-w", str(ws)) if args[0] == "label" else run(args[0], "-w", str(ws), *args[1:])
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.startswith("Error:") and result.stderr.count("\n") == 1
    assert _events(ws) == before


def test_tuned_vectors_are_behind_after_new_labels_and_runs_are_logged(ws):
    assert run("tune", "--epochs", "3", "--force", "-w", str(ws), "--json").exit_code == 0
    assert ok("info", "-w", str(ws))["vectors"]["tuned"]["state"] == "current"
    ok("label", "r17", "tech", "-w", str(ws))
    info = run("info", "-w", str(ws))
    assert "labels changed since tuning" in info.output or "labels changed since" in info.stdout
    runs = ok("runs", "-w", str(ws))
    assert [r["command"] for r in runs] == ["tune"] and runs[0]["labels"]["labeled"] == 12


def test_cache_info_and_clear(ws, tmp_path):
    info = ok("cache", "info")
    assert info["shards"] >= 1 and any(e["identity"].startswith("hashing") for e in info["encoders"])
    other = tmp_path / "cache"
    assert run("embed", str(tmp_path / "data.csv"), "-m", "hashing", "-w", str(tmp_path / "ws3"), "--cache", str(other)).exit_code == 0
    assert ok("cache", "info", "--cache", str(other))["shards"] == 1
    cleared = run("cache", "clear", "--cache", str(other), "--yes")
    assert cleared.exit_code == 0 and ok("cache", "info", "--cache", str(other))["shards"] == 0


def test_evaluate_with_one_seed_prints_no_range_and_names_an_oversized_budget(ws):
    from likewise.cli.evaluate import _fmt

    result = ok("evaluate", "--methods", "raw,lda", "--budgets", "4,10000", "--seeds", "0", "-k", "3", "-w", str(ws),
                "--test-size", "0.5")
    assert result["config"]["skipped_budgets"] == {"10000": 6}
    summary = result["summary"]
    cell = next(e for e in summary if e["method"] == "lda")["top_k"]
    assert "±" not in _fmt(cell, 1) and _fmt({"mean": 0.5, "min": 0.4, "max": 0.6}, 3) == "50.0±10.0"
