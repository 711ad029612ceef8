"""The HTTP API against a real server: find records, sessions, labels, classes, retrain, maps, progress."""
from __future__ import annotations

import pytest
from serve_helpers import wait_job

from likewise.workspace import Workspace


@pytest.fixture
def server(serve, hashing_ws):
    return serve(hashing_ws, "--retrain-every", "1000")


def test_find_a_start_record(server, bbc_small):
    with server.client() as c:
        info = c.get("/api/info").json()
        assert info["records"] == 279 and info["can_search_text"] and info["classes"] == []
        unlabeled = c.get("/api/records", params={"unlabeled": True, "limit": 5}).json()
        assert unlabeled["total"] == 279 and [r["id"] for r in unlabeled["records"]] == bbc_small.ids[:5]
        a = c.get("/api/records", params={"order": "random", "seed": 3, "limit": 10}).json()["records"]
        b = c.get("/api/records", params={"order": "random", "seed": 3, "limit": 10}).json()["records"]
        assert [r["id"] for r in a] == [r["id"] for r in b] != [r["id"] for r in unlabeled["records"]][:10]
        hits = c.get("/api/search", params={"text": "football match goal striker league", "k": 5}).json()["hits"]
        assert len(hits) == 5 and sum(bbc_small.truth[h["id"]] == "sports" for h in hits) >= 3
        by_id = c.get("/api/search", params={"id": bbc_small.ids[0], "k": 5}).json()["hits"]
        assert bbc_small.ids[0] not in [h["id"] for h in by_id]
        assert by_id == sorted(by_id, key=lambda h: -h["score"])
        # least sure needs classes; with some labels it lists unlabeled records far from every centre
        assert c.get("/api/records", params={"order": "uncertain"}).status_code == 400
        first = [{"id": i, "label": bbc_small.truth[i]} for i in bbc_small.ids[::10]]
        assert c.post("/api/labels", json={"labels": first, "author": "ann", "key": "k0"}).json()["written"] == len(first)
        unsure = c.get("/api/records", params={"order": "uncertain", "unlabeled": True, "limit": 5}).json()["records"]
        assert len(unsure) == 5 and all(r["label"] is None for r in unsure)
        assert [r["score"] for r in unsure] == sorted(r["score"] for r in unsure)
        sports = c.get("/api/records", params={"label": "sports"}).json()
        assert sports["total"] == sum(bbc_small.truth[i["id"]] == "sports" for i in first)
        manual = c.get("/api/records", params={"source": "manual"}).json()
        assert manual["total"] == len(first)
        assert c.get("/api/search", params={"text": "football", "label": "sports"}).json()["hits"][0]["label"] == "sports"
        record = c.get(f"/api/records/{bbc_small.ids[0]}").json()
        assert record["label"] == bbc_small.truth[bbc_small.ids[0]] and record["history"][0]["author"] == "ann"


def test_a_session_labeled_with_one_bulk_action(server, bbc_small):
    start = bbc_small.ids[0]
    with server.client() as c:
        s = c.post("/api/sessions", json={"start_id": start, "size": 30, "author": "ann"}).json()
        assert s["rows"][0]["id"] == start and len(s["rows"]) == 31 and s["size"] == 30
        assert s["meter"]["labeled"] == 0 and s["meter"]["purity"] is None
        scores = [r["score"] for r in s["rows"][1:]]
        assert scores == sorted(scores, reverse=True)
        # somebody else labels row 12 otherwise: the bulk action stops there
        other = s["rows"][12]["id"]
        c.post("/api/labels", json={"labels": [{"id": other, "label": "zzz"}], "author": "bob", "key": "b1"})
        bulk = c.post(f"/api/sessions/{s['id']}/bulk",
                      json={"position": 0, "label": "business", "author": "ann", "key": "bulk-1"}).json()
        assert bulk["positions"] == list(range(12)) and bulk["written"] == 12
        again = c.post(f"/api/sessions/{s['id']}/bulk",
                       json={"position": 0, "label": "business", "author": "ann", "key": "bulk-1"}).json()
        assert again["written"] == 0  # a retried request (same key) writes nothing twice
        read = c.get(f"/api/sessions/{s['id']}").json()
        m = read["meter"]
        assert m["start_label"] == "business" and m["labeled"] == 12 and m["same"] == 11
        assert m["purity"] == pytest.approx(11 / 12) and m["actions"] == 1
        assert [r["label"] for r in read["rows"][:12]] == ["business"] * 12 and read["rows"][12]["label"] == "zzz"
        page = c.get(f"/api/sessions/{s['id']}", params={"offset": 20, "limit": 5}).json()
        assert [r["position"] for r in page["rows"]] == list(range(20, 25))
        listed = c.get("/api/sessions").json()
        assert listed[0]["id"] == s["id"] and listed[0]["purity"] == pytest.approx(11 / 12)
        # undo takes the whole bulk action back, in one step
        undone = c.post("/api/undo", json={"author": "ann"}).json()
        assert undone["undone"] == 12 and all(v["label"] is None for v in undone["labels"].values())
        assert c.get(f"/api/sessions/{s['id']}").json()["meter"]["labeled"] == 1
    # the session is the library's: the CLI's loader reads it back
    from likewise.ops.search import load_session

    assert load_session(Workspace.open(server.workspace), s["id"]).ids[:3] == [r["id"] for r in s["rows"][1:4]]


def test_two_authors_conflict_is_shown_not_silently_overwritten(server, bbc_small):
    rid = bbc_small.ids[5]
    with server.client() as c:
        c.post("/api/labels", json={"labels": [{"id": rid, "label": "tech", "expected": None}], "author": "ann"})
        r = c.post("/api/labels", json={"labels": [{"id": rid, "label": "politics", "expected": None}],
                                        "author": "bob", "key": "bob-1"}).json()
        assert r["conflicts"] == [{"id": rid, "yours": "politics", "theirs": "tech", "author": "ann", "source": "manual"}]
        assert r["labels"][rid]["label"] == "politics" and r["labels"][rid]["conflict"] == ["tech"]
        # only-unlabeled writes leave somebody else's label alone and say so
        kept = c.post("/api/labels", json={"labels": [{"id": rid, "label": "sports", "only_unlabeled": True}],
                                           "author": "cat"}).json()
        assert kept["written"] == 0 and kept["kept"][0]["label"] == "politics"
        record = c.get(f"/api/records/{rid}").json()
        assert record["conflict"] == ["tech"] and {h["author"] for h in record["history"]} == {"ann", "bob"}
        changes = c.get("/api/changes", params={"since": 0}).json()
        assert changes["labels"][rid]["conflict"] == ["tech"]


def test_classes_add_rename_merge_delete(server, bbc_small):
    a, b = bbc_small.ids[:2]
    with server.client() as c:
        assert [x["name"] for x in c.post("/api/classes", json={"name": "<b>one</b>"}).json()] == ["<b>one</b>"]
        assert c.post("/api/classes", json={"name": "<b>one</b>"}).status_code == 409
        c.post("/api/labels", json={"labels": [{"id": a, "label": "<b>one</b>"}, {"id": b, "label": "two"}], "author": "ann"})
        classes = c.get("/api/classes").json()
        assert [(x["name"], x["key"], x["records"]) for x in classes] == [("<b>one</b>", 1, 1), ("two", 2, 1)]
        renamed = c.post("/api/classes/rename", json={"old": "two", "new": "deux", "author": "ann"}).json()
        assert [x["name"] for x in renamed["classes"]] == ["<b>one</b>", "deux"]
        merged = c.post("/api/classes/rename", json={"old": "deux", "new": "<b>one</b>", "author": "ann"}).json()
        assert merged["merged"] and [(x["name"], x["records"]) for x in merged["classes"]] == [("<b>one</b>", 2)]
        assert c.get("/api/changes", params={"since": 1}).json()["reload"] is True
        undone = c.post("/api/undo", json={"author": "ann"}).json()  # the merge, undone
        assert undone["classes_changed"] and c.get(f"/api/records/{b}").json()["label"] == "deux"
        deleted = c.post("/api/classes/delete", json={"name": "deux", "author": "ann"}).json()
        assert deleted["records"] == 1 and c.get(f"/api/records/{b}").json()["label"] is None


def test_retrain_in_the_loop_reranks_the_rest(serve, hashing_ws, bbc_small):
    server = serve(hashing_ws, "--retrain-every", "40")
    start = bbc_small.ids[3]
    with server.client() as c:
        s = c.post("/api/sessions", json={"start_id": start, "size": 60}).json()
        rows = [r["id"] for r in s["rows"]]
        # a labeler labels the first 39 rows with their true classes: no retrain yet
        items = [{"id": rid, "label": bbc_small.truth[rid]} for rid in rows[:39]]
        c.post("/api/labels", json={"labels": items, "author": "ann", "key": "first", "session": s["id"]})
        assert c.get("/api/status").json()["labels_until_retrain"] == 1
        more = [{"id": rid, "label": bbc_small.truth[rid]} for rid in bbc_small.ids[100:160]]
        c.post("/api/labels", json={"labels": more, "author": "ann", "key": "second"})
        status = c.get("/api/status").json()
        job = next(j for j in status["jobs"] if j["kind"] == "retrain")
        assert job["auto"]
        done = wait_job(c, job["id"])
        assert done["state"] == "done", done
        result = done["result"]
        assert result["switched"] and result["after"] > result["before"] and result["k"] > 0
        assert c.get("/api/status").json()["vectors"]["kind"] == "tuned"
        assert c.get("/api/status").json()["last_retrain"]["after"] == result["after"]
        skipped = rows[45]
        r = c.post(f"/api/sessions/{s['id']}/rerank", json={"skipped": [skipped]}).json()
        new = [x["id"] for x in r["rows"]]
        labeled = {x["id"] for x in items + more}
        fixed = [p for p, rid in enumerate(rows) if rid in labeled or rid == skipped]
        assert set(range(39)) <= set(fixed) and 45 in fixed
        assert [new[p] for p in fixed] == [rows[p] for p in fixed]  # labeled and skipped rows stay where they are
        assert r["moved"] > 0 and r["kind"] == "tuned" and r["version"] == c.get("/api/status").json()["vectors"]["version"]
        assert len(set(new)) == len(new) == 61
        assert all(x["label"] is None for p, x in enumerate(r["rows"]) if p not in fixed)
        # a manual retrain with nothing new keeps the head and says why
        again = c.post("/api/retrain", json={"author": "ann"}).json()
        kept = wait_job(c, again["id"])
        assert kept["state"] == "done" and not kept["result"]["switched"] and "kept" in kept["result"]["message"]
        quality = c.get("/api/progress").json()["quality"]
        assert [q["switched"] for q in quality] == [True, False] and quality[0]["labeled"] == len(labeled)
    ws = Workspace.open(hashing_ws)
    assert ws.resolve_kind("auto") == "tuned" and ws.artifact("head")["by"] == "serve"


def test_maps_progress_runs_and_the_report(server, bbc_small):
    with server.client() as c:
        assert c.get("/api/maps").json() == {"ready": False}
        items = [{"id": rid, "label": bbc_small.truth[rid]} for rid in bbc_small.ids[::2]]
        c.post("/api/labels", json={"labels": items, "author": "ann", "key": "all"})
        job = c.post("/api/maps", json={}).json()
        assert wait_job(c, job["id"])["state"] == "done"
        maps = c.get("/api/maps").json()
        assert maps["ready"] and len(maps["ids"]) == 279 and not maps["stale"]
        assert [p["vectors"] for p in maps["panels"]] == ["raw", "raw"]  # not tuned yet: raw PCA and raw 2-D head
        assert all(len(p["coords"]) == 279 for p in maps["panels"])
        assert sum(lab is None for lab in maps["labels"]) == 279 - len(items)
        retrain = wait_job(c, c.post("/api/retrain", json={}).json()["id"])
        assert retrain["state"] == "done" and retrain["result"]["switched"]
        assert c.get("/api/maps").json()["stale"]
        maps = c.get("/api/maps").json() if wait_job(c, c.post("/api/maps", json={}).json()["id"])["state"] == "done" else None
        assert [p["vectors"] for p in maps["panels"]] == ["raw", "tuned", "tuned"]
        progress = c.get("/api/progress").json()
        assert progress["labels"][-1]["labels"] == len(items) and progress["labeled"] == len(items)
        assert progress["quality"][0]["after"] == retrain["result"]["after"]
        runs = c.get("/api/runs").json()
        assert {r["command"] for r in runs} >= {"tune"}
        report = wait_job(c, c.post("/api/report", json={}).json()["id"], timeout=300)
        assert report["state"] == "done", report
        page = c.get("/report")
        assert page.status_code == 200 and "sandbox" in page.headers["content-security-policy"]


def test_a_cli_job_holding_the_workspace_is_shown(server):
    """Encoder fine-tuning stays a CLI job; while one holds the writer lock the app says so."""
    import subprocess
    import sys
    import time

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom likewise.workspace import Workspace\n"
        f"ws = Workspace.open({str(server.workspace)!r})\n"
        "with ws.writing('tune --train-encoder'):\n    print('held', flush=True)\n    time.sleep(30)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with server.client() as c:
            external = c.get("/api/status").json()["external"]
            assert external["encoder_finetuning"] and external["pid"] == holder.pid
            assert "train-encoder" in external["command"]
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.2)
    with server.client() as c:
        assert c.get("/api/status").json()["external"] is None
