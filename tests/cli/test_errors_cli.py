"""Every failure is one `Error:` line with exit code 2, and a failed command writes nothing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from likewise.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_error_line(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error:") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def snapshot(folder):
    import sqlite3

    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
             if p.is_file() and not p.name.startswith("labels.sqlite")}
    with sqlite3.connect(folder / "labels.sqlite") as conn:
        files["events"] = conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
    return files


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("errors")
    path = folder / "data.csv"
    texts = [("goal match team league" if i % 2 else "chip software phone code") + f" {i}" for i in range(40)]
    pd.DataFrame({"id": [f"r{i}" for i in range(40)], "text": texts,
                  "label": ["sport" if i % 2 else "tech" for i in range(30)] + [None] * 10}).to_csv(path, index=False)
    ws = folder / "ws"
    assert run("embed", str(path), "-m", "hashing", "-w", str(ws), "--json").exit_code == 0
    assert run("tune", "--epochs", "3", "--force", "-w", str(ws), "--json").exit_code == 0
    assert run("index", "-w", str(ws), "--json").exit_code == 0
    return ws


@pytest.mark.parametrize("args, needles", [
    (("transform", "-o", "/proc/x.parquet"), ("cannot write /proc/x.parquet",)),
    (("transform", "-o", "no/such/folder/x.parquet"), ("does not exist", "create it first")),
    (("transform", "-o", "x.txt"), ("unknown export format",)),
    (("session", "--from", "r1", "-o", "/proc/x.csv"), ("cannot write /proc/x.csv",)),
    (("session", "--from", "r1", "-o", "s.xlsx"), (".csv or .jsonl",)),
    (("session", "--from", "nope"), ("no record with id 'nope'",)),
    (("search", "--id", "nope"), ("no record with id 'nope'",)),
    (("search", "--text", "  "), ("query text is empty",)),
    (("labels", "export", "/proc/labels.csv"), ("cannot write /proc/labels.csv",)),
    (("labels", "export", "missing/labels.csv"), ("does not exist",)),
])
def test_bad_output_paths_and_queries_are_one_line_and_write_nothing(tuned, args, needles, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tuned)
    one_error_line(run(*args, "-w", str(tuned)) if args[0] != "labels" else run("labels", "-w", str(tuned), *args[1:]),
                   *needles)
    assert snapshot(tuned) == before
    assert list(tmp_path.iterdir()) == []


def test_a_garbage_query_vector_file_is_one_line(tuned, tmp_path):
    path = tmp_path / "q.npy"
    path.write_bytes(b"\x93NUMPY garbage" * 10)
    one_error_line(run("search", "--vector-file", str(path), "-w", str(tuned)), "q.npy")
    np.save(path, np.zeros((3, 4), dtype=np.float32))
    one_error_line(run("search", "--vector-file", str(path), "-w", str(tuned)))


def test_a_truncated_records_file_is_refused_clearly(tuned, tmp_path):
    import shutil

    copy = tmp_path / "ws"
    shutil.copytree(tuned, copy)
    records = next(p for p in (copy / "objects").iterdir() if p.suffix == ".parquet")
    records.write_bytes(records.read_bytes()[:50])
    for args in (("tune",), ("search", "--id", "r1"), ("labels",), ("info", "--check")):
        result = run(*args, "-w", str(copy)) if args[0] != "labels" else run("labels", "-w", str(copy))
        one_error_line(result, "damaged")
