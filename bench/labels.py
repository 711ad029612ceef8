"""The label store's speed: label events per second (one process, and 8 at once), the writer lock's wait,
the current-label rule over many events, and `likewise label --file` for 100,000 labels.

    python bench/labels.py [--records 100000] [--events 5000] [--quick]

Builds a workspace of synthetic records with the hashing encoder (no model: this measures the store, not
encoding) in a temporary folder; prints one JSON line per measurement and a summary table at the end.
Targets (issue "labels live in the workspace"): >= 2,000 label events/s from one process, no lost label
under 8 writers, 100,000 imported labels in < 10 s.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELER = """
import sys, time
from likewise.ops.labels import label_records
from likewise.workspace import Workspace
ws = Workspace.open(sys.argv[1])
who, n, records = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ws.unknown_ids(["r0"])  # load the records once, as a long-running labeler (the web app) would
print("ready", flush=True)
sys.stdin.readline()
t0 = time.perf_counter()
for i in range(n):
    label_records(ws, {f"r{(i * 7919 + hash(who)) % records}": f"class-{i % 7}"}, author=who)
print(time.perf_counter() - t0, flush=True)
"""

HOLDER = """
import sys, time
from likewise.workspace import Workspace
ws = Workspace.open(sys.argv[1])
with ws.writing("bench-holder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
print(time.time(), flush=True)
"""


def emit(**row) -> dict:
    print(json.dumps(row), flush=True)
    return row


def likewise(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "likewise.cli.main", *args], capture_output=True, text=True)
    return result, time.perf_counter() - t0


def build(folder: Path, records: int) -> Path:
    data = folder / "records.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        for i in range(records):
            w.writerow([f"r{i}", f"record {i} about topic {i % 97} and {i % 13}"])
    ws = folder / "ws"
    result, seconds = likewise("embed", str(data), "-m", "hashing", "-w", str(ws), "--quiet", "--json")
    assert result.returncode == 0, result.stderr
    emit(step="embed (hashing encoder, setup)", records=records, seconds=round(seconds, 2))
    return ws


def single_process(ws: Path, events: int) -> dict:
    from likewise.ops.labels import label_records
    from likewise.workspace import Workspace

    workspace = Workspace.open(ws)
    n = len(workspace.record_ids())
    workspace.unknown_ids(["r0"])
    t0 = time.perf_counter()
    for i in range(events):
        label_records(workspace, {f"r{(i * 7919) % n}": f"class-{i % 7}"}, author="bench-single")
    seconds = time.perf_counter() - t0
    return emit(step="one process, one event per transaction", events=events, seconds=round(seconds, 3),
                events_per_s=round(events / seconds))


def many_processes(ws: Path, writers: int, each: int, records: int) -> dict:
    procs = [subprocess.Popen([sys.executable, "-c", LABELER, str(ws), f"w{i}", str(each), str(records)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for i in range(writers)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    own = [float(p.stdout.readline()) for p in procs]
    wall = time.perf_counter() - t0
    assert all(p.wait() == 0 for p in procs)
    with sqlite3.connect(ws / "labels.sqlite") as conn:
        counts = dict(conn.execute("SELECT author, COUNT(*) FROM events WHERE author LIKE 'w%' GROUP BY author"))
    lost = writers * each - sum(counts.get(f"w{i}", 0) for i in range(writers))
    return emit(step=f"{writers} processes x {each} events at once", events=writers * each, seconds=round(wall, 3),
                events_per_s=round(writers * each / wall), slowest_writer_s=round(max(own), 3), lost=lost)


def lock_wait(ws: Path) -> dict:
    from likewise.workspace import Workspace

    workspace = Workspace.open(ws, wait=30)
    t0 = time.perf_counter()
    for _ in range(20):
        with workspace.writing("bench-uncontended"):
            pass
    uncontended = (time.perf_counter() - t0) / 20
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws), "1.0"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    other = Workspace.open(ws, wait=30)
    with other.writing("bench-waiter"):
        got = time.time()
    released = float(holder.stdout.readline())
    holder.wait()
    return emit(step="writer lock", uncontended_ms=round(1000 * uncontended, 2),
                handover_ms=round(1000 * (got - released), 1))


def rule(ws: Path) -> dict:
    from likewise.workspace import Workspace

    workspace = Workspace.open(ws)
    events = workspace.store.last_seq()
    t0 = time.perf_counter()
    state = workspace.store.state()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    workspace.store.state()
    cached = time.perf_counter() - t0
    workspace.store.label("r1", "one-more", author="bench-rule")
    t0 = time.perf_counter()
    workspace.store.state()
    one_more = time.perf_counter() - t0
    return emit(step="current labels (the rule) over every event", events=events, labeled=len(state.labels),
                seconds=round(first, 3), unchanged_ms=round(1000 * cached, 2),
                after_one_new_event_ms=round(1000 * one_more, 2))


def import_file(folder: Path, ws: Path, records: int) -> dict:
    path = folder / "labels.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label"])
        for i in range(records):
            w.writerow([f"r{i}", f"topic-{i % 97}"])
    result, seconds = likewise("label", "--file", str(path), "-w", str(ws), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    again, again_s = likewise("label", "--file", str(path), "-w", str(ws), "--json")
    return emit(step=f"likewise label --file ({records:,} labels, a new process)", labels=out["rows"],
                written=out["written"], seconds=round(seconds, 2), again_unchanged=json.loads(again.stdout)["unchanged"],
                again_seconds=round(again_s, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="10,000 records, 1,000 events")
    args = parser.parse_args()
    if args.quick:
        args.records, args.events = 10_000, 1000
    load = os.getloadavg()
    emit(step="machine", cpus=os.cpu_count(), load_1m=round(load[0], 2))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.setdefault("LIKEWISE_CACHE", str(folder / "cache"))
        ws = build(folder, args.records)
        rows = [single_process(ws, args.events), many_processes(ws, 8, 500, args.records), lock_wait(ws),
                import_file(folder, ws, args.records), rule(ws)]
    print("\nsummary:")
    for row in rows:
        print("  " + ", ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
