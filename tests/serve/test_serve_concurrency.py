"""Several labelers at once, kill -9 mid-write and a restart, against a real uvicorn server on loopback."""
from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections import Counter

import httpx
import pytest

from likewise.workspace import Workspace

N_LABELS = 1000


def _events(workspace):
    ws = Workspace.open(workspace)
    return [e for e in ws.store.events() if e.kind == "label"]


@pytest.mark.slow
def test_two_clients_write_1000_labels_each_and_all_arrive(serve, hashing_ws, bbc_small):
    server = serve(hashing_ws, "--no-auto-retrain")
    ids = bbc_small.ids
    errors: list[str] = []

    def labeler(author: str, offset: int) -> None:
        with server.client() as c:
            for i in range(N_LABELS):
                rid = ids[(offset + i) % len(ids)]
                r = c.post("/api/labels", json={"labels": [{"id": rid, "label": f"class-{i % 3}"}], "author": author,
                                                "key": f"{author}-{i}"})
                if r.status_code != 200 or r.json()["written"] != 1:
                    errors.append(f"{author} {i}: {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=labeler, args=(name, off)) for name, off in (("ann", 0), ("bob", 7))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    assert errors == []
    events = _events(hashing_ws)
    assert Counter(e.author for e in events) == {"ann": N_LABELS, "bob": N_LABELS}
    with server.client() as c:
        status = c.get("/api/status").json()
        assert status["seq"] == 2 * N_LABELS
        # the server's view is the store's: every record's latest label, conflicts between the two shown
        labels = c.get("/api/records", params={"source": "manual", "limit": 1000}).json()["records"]
        truth = Workspace.open(hashing_ws).labels().labels
        assert {r["id"]: (r["label"], tuple(r["conflict"])) for r in labels} == \
            {k: (v.label, v.conflict) for k, v in truth.items()}
        assert any(r["conflict"] for r in labels)
    assert seconds < 120


def test_kill_9_mid_write_loses_at_most_the_request_in_flight_and_restart_serves_the_same(serve, hashing_ws, bbc_small):
    server = serve(hashing_ws, "--no-auto-retrain")
    ids = bbc_small.ids
    with server.client() as c:
        c.post("/api/classes", json={"name": "business"})
        session = c.post("/api/sessions", json={"start_id": ids[0], "size": 40, "author": "ann"}).json()
        c.post(f"/api/sessions/{session['id']}/bulk",
               json={"position": 0, "label": "business", "author": "ann", "key": "bulk"})
        before = c.get(f"/api/sessions/{session['id']}").json()
        classes_before = c.get("/api/classes").json()
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=server.base, headers=server.auth, timeout=10) as c:
            i = 0
            while not stop.is_set():
                batch = [{"id": ids[(i * 10 + j) % len(ids)], "label": f"w{i % 4}"} for j in range(10)]
                try:
                    r = c.post("/api/labels", json={"labels": batch, "author": "writer", "key": f"req-{i}"})
                except httpx.HTTPError:
                    return  # the server died under this request: it was in flight
                if r.status_code == 200:
                    acknowledged.append(f"req-{i}")
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acknowledged) < 30:
        time.sleep(0.01)
    assert server.kill(signal.SIGKILL) == -signal.SIGKILL
    stop.set()
    thread.join(30)
    # every acknowledged request is in the store, each one whole (one transaction per request)
    with sqlite3.connect(hashing_ws / "labels.sqlite") as conn:
        keys = [k for (k,) in conn.execute("SELECT key FROM events WHERE author = 'writer'")]
    per_request = Counter(k.split(":")[0] for k in keys)
    assert all(n == 10 for n in per_request.values())
    assert set(acknowledged) <= set(per_request)
    assert len(per_request) - len(acknowledged) <= 1  # + the one in flight, if it landed
    events = keys
    # a restarted server serves the same state
    again = serve(hashing_ws, "--no-auto-retrain")
    with again.client() as c:
        after = c.get(f"/api/sessions/{session['id']}").json()
        assert [r["id"] for r in after["rows"]] == [r["id"] for r in before["rows"]]
        ws_labels = Workspace.open(hashing_ws).labels().labels
        assert all(r["label"] == (ws_labels[r["id"]].label if r["id"] in ws_labels else None) for r in after["rows"])
        assert [c["name"] for c in c.get("/api/classes").json()][:1] == [classes_before[0]["name"]]
        assert c.get("/api/status").json()["seq"] == Workspace.open(hashing_ws).store.last_seq()
        # and the retried in-flight request, sent again with its key, never doubles
        last = f"req-{len(events) // 10 - 1}"
        batch = [{"id": ids[((len(events) // 10 - 1) * 10 + j) % len(ids)], "label": "again"} for j in range(10)]
        assert c.post("/api/labels", json={"labels": batch, "author": "writer", "key": last}).json()["written"] == 0
