"""Helpers for tests that run likewise in real processes: the CLI as a subprocess, a logical state digest."""
from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from pathlib import Path

from likewise.workspace import Workspace

WORDS = {"sport": "goal match team win league striker coach", "tech": "chip software computer phone code app",
         "politics": "vote party election minister law bill"}


def write_records(path: Path, n: int, *, seed: int = 0, labeled: float = 0.7) -> Path:
    rng = random.Random(seed)
    classes = sorted(WORDS)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label"])
        for i in range(n):
            c = classes[i % len(classes)]
            text = " ".join(rng.choice(WORDS[c].split()) for _ in range(10)) + f" {seed}-{i}"
            w.writerow([f"r{i}", text, c if rng.random() < labeled else ""])
    return path


def likewise(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "likewise.cli.main", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "likewise.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def digest(path: Path) -> tuple | None:
    """What a user would call the workspace's state, read through the library after checking every file.
    None when there is no workspace yet."""
    if not (path / "manifest.json").exists():
        return None
    ws = Workspace.open(path)
    problems = ws.check()
    assert problems == [], problems
    data = ws.records()
    raw = ws.vectors_info("raw")
    tuned = ws.vectors_info("tuned")
    index = ws.artifact("index_raw") or ws.artifact("index_tuned")
    return (tuple(data.ids), tuple(data.texts), tuple(data.labels), raw["content"] if raw else None,
            tuned is not None and ws.stale_reason("tuned") is None, ws.artifact("head") is not None,
            None if index is None else (index["count"], index["vectors_content"]))
