"""Retrain in the loop: a simulated labeler, and the loop's latency. The numbers behind bench/RESULTS.md
("Labeling in the loop").

    python bench/loop.py [--sessions 12] [--seeds 0,1,2] [--skip-latency] [--records 10000,100000]

1. **Curves.** A simulated labeler who knows the dataset's true labels labels in sessions: start from a random
   unlabeled record, open a session of its 100 most similar *unlabeled* records, label them all, next. Three
   runs: the fixed raw vectors as they are; the fixed raw vectors with the session re-ranked toward the start
   record's class once it is labeled (what the page does after the first key:
   :func:`likewise.ops.loop.session_query`); and that plus retraining in the loop after every session (the
   default Tuner on the cached raw vectors, switched in only when it beats the current vectors on validation,
   as ``likewise serve`` does: :func:`likewise.ops.loop.fit_head`). Per session: purity (share of the start
   record's class among the 100) and the labels a person would correct after one bulk action (Shift+digit
   labels all 100 with the start record's class). Every run uses the same order of start candidates. BBC News
   and Rotten Tomatoes, bundled MiniLM vectors from the embedding cache in ./.bench-cache.
2. **Latency.** A workspace of N records (10,000 real Rotten Tomatoes vectors; 100,000 = those vectors 10 times
   with small noise): the time from the last label of a session to that session re-ranked (retrain job: fit,
   tuned vectors, commit, swap; then the re-rank), through the same ``ServeState`` the web app runs; and the
   session endpoint's latency (``GET /api/sessions/ID``, 100 rows) against a real ``likewise serve`` on loopback.

Writes bench/loop.json and bench/loop.png; prints the curves. The machine's load average is printed, since the
2 cores are shared.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CACHE = Path(".bench-cache")
OUT = Path(__file__).resolve().parent
SESSION = 100


def load() -> str:
    return "load average " + " / ".join(f"{v:.1f}" for v in os.getloadavg())


def vectors_for(name: str):
    from likewise.cache import EmbeddingCache
    from likewise.datasets import load_dataset
    from likewise.embedding import embed_records
    from likewise.encoders import get_encoder

    data = load_dataset(name)
    vectors, stats = embed_records(get_encoder("default"), data.ids, data.texts, EmbeddingCache(CACHE))
    print(f"# {name}: {len(data):,} records ({stats.cache_hits:,} vectors from the cache)", flush=True)
    return data, vectors


# -- 1. the simulated labeler ---------------------------------------------------------------------------------
MODES = {
    "raw": "fixed raw vectors, ranked by the start record alone",
    "raw_start_class": "fixed raw vectors, re-ranked toward the start record's class once it is labeled",
    "retrain": "retrained after every session, re-ranked toward the start record's class (likewise serve)",
}


def simulate(raw: np.ndarray, truth: np.ndarray, *, sessions: int, seed: int, mode: str) -> list[dict]:
    """Sessions of a labeler with the true labels; returns one row per session.

    A session as the web app runs it: open the start record's 100 most similar unlabeled records, label the
    start record (one key); the unlabeled rest is then re-ranked toward its class (except in mode "raw"); one
    bulk action labels all 100 with the start record's class, and the person corrects the others."""
    from likewise.errors import InputError
    from likewise.ops.loop import fit_head, purity, rank, session_query

    n = len(truth)
    classes = sorted(set(truth.tolist()))
    order = np.random.default_rng(seed).permutation(n)  # start candidates, the same for every mode
    labels: list[str | None] = [None] * n
    codes = np.full(n, -1, np.int32)
    current, current_name = raw, "raw"
    rows_out = []
    for s in range(1, sessions + 1):
        unlabeled = codes < 0
        start = int(next(i for i in order if unlabeled[i]))
        allowed = unlabeled.copy()
        allowed[start] = False
        start_class = str(truth[start])
        labels[start], codes[start] = start_class, classes.index(start_class)
        query = current[start] if mode == "raw" else session_query(current, start, codes)
        found, _ = rank(current, query, SESSION, allowed)
        share = purity([str(t) for t in truth[found]], start_class)
        row = {"session": s, "vectors": current_name, "start_class": start_class, "purity": share,
               "corrections": int(sum(truth[found] != start_class)), "records": int(len(found))}
        for i in found:
            labels[int(i)], codes[int(i)] = str(truth[i]), classes.index(str(truth[i]))
        row["labeled"] = int((codes >= 0).sum())
        if mode == "retrain":
            t0 = time.perf_counter()
            try:
                fit = fit_head(raw, labels, current=None if current_name == "raw" else current,
                               current_name=current_name)
            except InputError as exc:  # e.g. one pure session: a single class cannot train a head yet
                row.update(retrain_seconds=round(time.perf_counter() - t0, 2), switched=False, skipped=str(exc))
            else:
                row.update(retrain_seconds=round(time.perf_counter() - t0, 2), before=fit.before, after=fit.after,
                           switched=fit.switch, k=fit.k)
                if fit.switch:
                    current, current_name = fit.tuner.transform(raw), "tuned"
        rows_out.append(row)
    return rows_out


def curves(name: str, sessions: int, seeds: list[int]) -> dict:
    data, raw = vectors_for(name)
    truth = np.asarray(data.labels, dtype=object)
    out: dict = {"dataset": name, "records": len(data), "classes": len(set(data.labels)), "sessions": sessions,
                 "seeds": seeds, "runs": {}}
    t0 = time.perf_counter()
    for mode in MODES:
        runs = [simulate(raw, truth, sessions=sessions, seed=seed, mode=mode) for seed in seeds]
        out["runs"][mode] = runs
        out[mode] = {"purity": [float(np.mean([r[s]["purity"] for r in runs])) for s in range(sessions)],
                     "corrections": [float(np.mean([r[s]["corrections"] for r in runs])) for s in range(sessions)]}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    last = min(10, sessions)
    out["summary"] = {}
    for mode in MODES:
        p = out[mode]["purity"]
        out["summary"][mode] = {"purity_sessions_4_10": float(np.mean(p[3:last])), "purity_session_10": p[last - 1],
                                "purity_sessions_6_10": float(np.mean(p[5:last])),
                                "corrections_sessions_4_10": float(np.mean(out[mode]["corrections"][3:last]))}
    for base in ("raw", "raw_start_class"):
        out["summary"][f"retrain_gain_over_{base}_points"] = {
            key: 100 * (out["summary"]["retrain"][key] - out["summary"][base][key])
            for key in ("purity_sessions_4_10", "purity_session_10", "purity_sessions_6_10")}
    seconds = [r["retrain_seconds"] for run in out["runs"]["retrain"] for r in run]
    out["summary"]["retrain_seconds"] = {"mean": float(np.mean(seconds)), "max": float(np.max(seconds))}
    print(f"\n## {name}: {len(data):,} records, {out['classes']} classes; sessions of {SESSION}, mean over seeds "
          f"{seeds} ({out['seconds']:.0f} s; {load()})")
    print("session  purity: raw  raw+start class  retrain | corrections: raw  raw+start class  retrain | switched in")
    for s in range(sessions):
        switched = sum(run[s].get("switched", False) for run in out["runs"]["retrain"])
        p = [100 * out[m]["purity"][s] for m in MODES]
        c = [out[m]["corrections"][s] for m in MODES]
        print(f"{s + 1:>7}  {p[0]:>11.1f}  {p[1]:>15.1f}  {p[2]:>7.1f} | {c[0]:>16.1f}  {c[1]:>15.1f}  {c[2]:>7.1f} | "
              f"{switched}/{len(seeds)}")
    print(json.dumps(out["summary"], indent=1, default=lambda v: round(float(v), 4)), flush=True)
    return out


# -- 2. latency -----------------------------------------------------------------------------------------------
def bench_workspace(folder: Path, n: int) -> tuple[Path, np.ndarray]:
    """A workspace of ``n`` records with real Rotten Tomatoes vectors (repeated with noise beyond 13,891)."""
    from likewise.records.dataset import Dataset
    from likewise.workspace import Workspace

    data, raw = vectors_for("rotten_tomatoes")
    rng = np.random.default_rng(0)
    reps = int(np.ceil(n / len(data)))
    take = rng.permutation(len(data) * reps)[:n] if reps > 1 else rng.permutation(len(data))[:n]
    base = take % len(data)
    vectors = raw[base] + (take >= len(data))[:, None] * rng.normal(0, 0.02, (n, raw.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"r{i}" for i in range(n)]
    texts = [data.texts[b] for b in base]
    truth = np.asarray([data.labels[b] for b in base], dtype=object)
    ws = Workspace.open(folder, create=True)
    with ws.writing("bench"):
        ws.put_records(Dataset.from_lists(texts, None, ids), source={"path": f"rotten_tomatoes x{reps}"})
        ws.put_vectors("raw", vectors.astype(np.float32), encoder="vectors:bench-rotten-tomatoes")
    ws.store.close()
    return folder, truth


def latency(n: int, prior_labels: int = 400) -> dict:
    """Last label -> re-ranked session, through the web app's own state, at ``n`` records."""
    from likewise.serve.state import ServeState
    from likewise.workspace import LabelInput, Workspace

    folder = Path(tempfile.mkdtemp(prefix=f"loop-{n}-", dir=CACHE)) / "ws"
    t0 = time.perf_counter()
    folder, truth = bench_workspace(folder, n)
    made = time.perf_counter() - t0
    ws = Workspace.open(folder)
    ids = ws.record_ids()
    prior = np.random.default_rng(1).choice(n, prior_labels, replace=False)
    ws.store.add([LabelInput(ids[i], str(truth[i])) for i in prior], author="earlier sessions")
    ws.store.close()
    st = ServeState(folder, auto_retrain=False)
    import likewise.tuning  # noqa: F401  (the server imports it at start; not part of the loop's time)

    rounds = []
    for r in range(3):
        start = next(rid for rid in np.random.default_rng(10 + r).permutation(ids) if st.view.label_of(rid) is None)
        t_open = time.perf_counter()
        opened = st.sessions.open(start_id=str(start), size=SESSION, author="bench")
        t_opened = time.perf_counter()
        st.write_labels([{"id": str(start), "label": str(truth[int(str(start)[1:])])}], author="bench",
                        session=opened["id"])
        t_start = time.perf_counter()
        st.sessions.rerank(opened["id"])  # toward the start record's class, as the page does after the first key
        t_leaned = time.perf_counter()
        rows = [row["id"] for row in st.sessions.read(opened["id"], limit=SESSION + 1)["rows"]]
        half = rows[: SESSION // 2 + 1]  # the labeler labeled the top half, then the last label lands
        st.write_labels([{"id": rid, "label": str(truth[int(rid[1:])])} for rid in half[:-1]], author="bench",
                        session=opened["id"])
        t_label = time.perf_counter()
        st.write_labels([{"id": half[-1], "label": str(truth[int(half[-1][1:])])}], author="bench", session=opened["id"])
        t_last = time.perf_counter()
        job, _ = st.jobs.retrain(author="bench")
        while job.active:
            time.sleep(0.005)
        t_trained = time.perf_counter()
        result = st.sessions.rerank(opened["id"])
        t_reranked = time.perf_counter()
        assert job.state == "done", job.error
        rounds.append({"open_session": round(t_opened - t_open, 4), "start_label_rerank": round(t_leaned - t_start, 4),
                       "last_label_write": round(t_last - t_label, 4), "retrain_job": round(t_trained - t_last, 3),
                       "rerank": round(t_reranked - t_trained, 3), "total": round(t_reranked - t_last, 3),
                       "switched": job.result["switched"], "phases": job.result["phases"], "moved": result["moved"],
                       "labeled": int((st.view.codes >= 0).sum())})
    st.close()
    out = {"records": n, "made_workspace_seconds": round(made, 1), "rounds": rounds,
           "total_median": float(np.median([r["total"] for r in rounds])), "folder": str(folder)}
    print(f"\n## last label -> re-ranked session, {n:,} records ({load()})")
    for r in rounds:
        print(f"  {r['total']:.2f} s (retrain job {r['retrain_job']:.2f} s: {r['phases']}; re-rank {r['rerank']:.3f} s; "
              f"switched in: {r['switched']}; {r['labeled']} labels); open a session {r['open_session']:.3f} s, "
              f"re-rank toward the start class {r['start_label_rerank']:.3f} s")
    return out


def endpoint_latency(folder: Path, requests: int = 300) -> dict:
    """p50/p95 of GET /api/sessions/ID (100 rows), against a real server on loopback; also right after a label."""
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "likewise.cli.main", "serve", "-w", str(folder), "--port", "0",
                             "--no-auto-retrain"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        port, token = re.match(r"http://127.0.0.1:(\d+)/\?token=(\S+)", line).groups()  # type: ignore[union-attr]
        c = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        while True:
            try:
                c.get("/api/status")
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        records = c.get("/api/records", params={"unlabeled": True, "limit": 1}).json()
        session = c.post("/api/sessions", json={"start_id": records["records"][0]["id"], "size": SESSION}).json()
        for _ in range(20):
            c.get(f"/api/sessions/{session['id']}", params={"limit": SESSION + 1})
        steady, after_label, label_post = [], [], []
        for i in range(requests):
            t0 = time.perf_counter()
            r = c.get(f"/api/sessions/{session['id']}", params={"limit": SESSION + 1})
            steady.append(time.perf_counter() - t0)
            assert len(r.json()["rows"]) == SESSION + 1
        rows = [row["id"] for row in r.json()["rows"]]
        for i in range(min(100, requests)):
            t0 = time.perf_counter()
            c.post("/api/labels", json={"labels": [{"id": rows[1 + i % SESSION], "label": f"c{i % 3}"}],
                                        "author": "bench", "key": f"lat-{i}", "session": session["id"]})
            t1 = time.perf_counter()
            c.get(f"/api/sessions/{session['id']}", params={"limit": SESSION + 1})
            label_post.append(t1 - t0)
            after_label.append(time.perf_counter() - t1)
        total = c.get("/api/status").json()["records"]
    finally:
        proc.terminate()
        proc.wait(30)
    ms = lambda xs, q: round(1000 * float(np.percentile(xs, q)), 1)  # noqa: E731
    out = {"records": total, "requests": requests, "session_get_p50_ms": ms(steady, 50), "session_get_p95_ms": ms(steady, 95),
           "label_post_p50_ms": ms(label_post, 50), "label_post_p95_ms": ms(label_post, 95),
           "session_get_after_label_p50_ms": ms(after_label, 50), "session_get_after_label_p95_ms": ms(after_label, 95)}
    print(f"\n## session endpoint, {total:,} records, 100 rows ({load()}): {out}", flush=True)
    return out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, res in zip(axes[0], results):
        x = np.arange(1, res["sessions"] + 1)
        ax.plot(x, 100 * np.asarray(res["raw"]["purity"]), "o-", color="#a15c00", label="fixed raw vectors")
        ax.plot(x, 100 * np.asarray(res["raw_start_class"]["purity"]), "s--", color="#8c6d31",
                label="fixed raw vectors, toward the start class")
        ax.plot(x, 100 * np.asarray(res["retrain"]["purity"]), "o-", color="#1d7a3a",
                label="retrained after every session, toward the start class")
        ax.set_title(f"{res['dataset']} ({res['records']:,} records, sessions of {SESSION})")
        ax.set_xlabel("session")
        ax.set_ylabel("purity: share of the start record's class (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--datasets", default="bbc_news,rotten_tomatoes")
    parser.add_argument("--records", default="10000,100000", help="workspace sizes for the latency part")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    print(f"# bench/loop.py, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {load()}", flush=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {"curves": [curves(name, args.sessions, seeds) for name in args.datasets.split(",")]}
    plot(results["curves"], OUT / "loop.png")
    if not args.skip_latency:
        results["latency"] = []
        for n in (int(v) for v in args.records.split(",")):
            lat = latency(n)
            lat["endpoint"] = endpoint_latency(Path(lat["folder"]))
            results["latency"].append(lat)
    results["load_at_end"] = load()
    (OUT / "loop.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"\nwrote {OUT / 'loop.json'} and {OUT / 'loop.png'}; {load()}")


if __name__ == "__main__":
    main()
