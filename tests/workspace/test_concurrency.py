"""Several real processes on one workspace: no lost label, no torn or mixed state, writers one at a time."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from workspace_procs import digest, likewise, start, write_records

from likewise.workspace import Workspace

LABELER = """
import sys
from likewise.ops.labels import label_records
from likewise.workspace import Workspace
ws = Workspace.open(sys.argv[1])
who, n = sys.argv[2], int(sys.argv[3])
for i in range(n):
    label_records(ws, {f"r{(i * 7 + len(who)) % 600}": f"class-{who}-{i % 5}"}, author=who)
"""


def test_eight_processes_writing_500_labels_each_lose_none(tmp_path):
    data = write_records(tmp_path / "a.csv", 600, labeled=0.0)
    ws = tmp_path / "ws"
    assert likewise("embed", str(data), "-m", "hashing", "-w", str(ws)).returncode == 0
    procs = [subprocess.Popen([sys.executable, "-c", LABELER, str(ws), f"p{i}", "500"]) for i in range(8)]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8
    with sqlite3.connect(ws / "labels.sqlite") as conn:
        per_author = dict(conn.execute("SELECT author, COUNT(*) FROM events WHERE kind = 'label' GROUP BY author"))
        distinct = conn.execute("SELECT COUNT(DISTINCT seq) FROM events").fetchone()[0]
    assert per_author == {f"p{i}": 500 for i in range(8)} and distinct == 4000
    state = Workspace.open(ws).labels()
    assert sum(1 for c in state.labels.values()) > 0 and state.last_seq == 4000


def test_two_embeds_at_once_end_in_one_of_them_whole(tmp_path):
    a = write_records(tmp_path / "a.csv", 3000, seed=1)
    b = write_records(tmp_path / "b.csv", 2500, seed=2)
    ws = tmp_path / "ws"
    first = start("embed", str(a), "-m", "hashing", "-w", str(ws), "--wait", "120")
    second = start("embed", str(b), "-m", "hashing", "-w", str(ws), "--wait", "120")
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0, first.stderr.read() + second.stderr.read()
    final = digest(ws)
    ids_a = tuple(f"r{i}" for i in range(3000))
    ids_b = tuple(f"r{i}" for i in range(2500))
    assert final[0] in (ids_a, ids_b)
    assert likewise("info", "--check", "-w", str(ws)).returncode == 0


def test_a_second_writer_without_wait_gets_one_line_naming_the_holder(tmp_path):
    ws = tmp_path / "ws"
    assert likewise("embed", str(write_records(tmp_path / "a.csv", 200)), "-m", "hashing", "-w", str(ws)).returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time\nfrom likewise.workspace import Workspace\n"
        f"ws = Workspace.open({str(ws)!r})\n"
        "with ws.writing('tune'):\n    print('held', flush=True)\n    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = likewise("index", "-w", str(ws), "--wait", "0.5")
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and f"pid {holder.pid}" in lines[0]
        assert "likewise tune" in lines[0] and "--wait" in lines[0]
        # a search needs the index, the lock is busy: it searches an in-memory index instead of waiting
        found = likewise("search", "--id", "r1", "-k", "3", "-w", str(ws), "--json")
        assert found.returncode == 0 and len(found.stdout.strip().splitlines()) == 3
        labels = likewise("label", "r5", "sport", "-w", str(ws))  # labels never wait for the writer lock
        assert labels.returncode == 0
    finally:
        holder.kill()
        holder.wait()


def test_tune_during_embed_and_two_indexes_at_once_stay_consistent(tmp_path):
    ws = tmp_path / "ws"
    assert likewise("embed", str(write_records(tmp_path / "a.csv", 1500, seed=1)), "-m", "hashing", "-w", str(ws)).returncode == 0
    embed = start("embed", str(write_records(tmp_path / "b.csv", 20000, seed=2)), "-m", "hashing", "-w", str(ws),
                  "--wait", "120")
    tune = start("tune", "--epochs", "3", "-w", str(ws), "--wait", "120", "--json")
    assert embed.wait(timeout=600) == 0 and tune.wait(timeout=600) == 0, embed.stderr.read() + tune.stderr.read()
    state = Workspace.open(ws)
    assert state.check() == [] and len(state.record_ids()) == 20000
    # the tuned vectors are current (tune ran after the switch) or stale (before it): never a mix
    info = state.info()["vectors"]["tuned"]["state"]
    assert info == "current" or info.startswith("stale")
    one = start("index", "--kind", "raw", "-w", str(ws), "--wait", "120", "--json")
    two = start("index", "--kind", "raw", "-w", str(ws), "--wait", "120", "--json")
    assert one.wait(timeout=300) == 0 and two.wait(timeout=300) == 0
    results = [json.loads(p.stdout.read()) for p in (one, two)]
    assert sorted(r["added"] for r in results) == [0, 20000]  # the second found the first one's index current
    assert digest(ws)[-1] == (20000, state.vectors_info("raw")["content"])
