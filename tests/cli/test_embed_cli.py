"""The CLI end to end (in-process through click's runner, and once as a real subprocess)."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from likewise.cli.main import cli


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def reviews(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(12)],
            "title": [f"title {i}" for i in range(12)],
            "body": [("great fun film" if i % 2 else "dull boring plot") + f" number {i}" for i in range(12)],
            "label": ["fresh" if i % 2 else "rotten" for i in range(11)] + [None],
        }
    ).to_csv(path, index=False)
    return path


def _snapshot(folder):
    """Every file's bytes, and the label store's events (SQLite's own files change when it is only read)."""
    import sqlite3

    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
             if p.is_file() and not p.name.startswith("labels.sqlite")}
    if (folder / "labels.sqlite").exists():
        with sqlite3.connect(folder / "labels.sqlite") as conn:
            files["events"] = conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
    return files


def test_embed_then_info_json(tmp_path, reviews):
    ws = tmp_path / "ws"
    result = run("embed", str(reviews), "-t", "title", "-t", "body", "-l", "label", "--model", "hashing", "-w", str(ws), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["records"]["records"] == 12 and data["records"]["labeled"] == 11
    assert data["embedding"]["encoded"] == 12
    again = json.loads(run("embed", str(reviews), "-t", "title", "-t", "body", "-l", "label", "--model", "hashing",
                           "-w", str(ws), "--json").stdout)
    assert again["embedding"]["cache_hits"] == 12 and again["embedding"]["encoded"] == 0
    info = json.loads(run("info", "-w", str(ws), "--json").stdout)
    assert info["labels"]["classes"] == {"fresh": 5, "rotten": 6}
    assert info["vectors"]["raw"]["count"] == 12


def test_workspace_from_environment(tmp_path, reviews, monkeypatch):
    monkeypatch.setenv("LIKEWISE_WORKSPACE", str(tmp_path / "envws"))
    assert run("embed", str(reviews), "-t", "body", "--model", "hashing", "--json").exit_code == 0
    assert (tmp_path / "envws" / "manifest.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.csv"], "no such file"),
        (["{reviews}", "-l", "lable"], "label"),  # misspelled column: suggest the closest name
        (["{reviews}", "-t", "bodyy"], "body"),
        (["{reviews}", "-t", "body", "--model", "nope"], "unknown model"),
        (["{reviews}", "-t", "body", "--vectors", "{vec}"], "has 3 vectors but there are 12 records"),
    ],
)
def test_bad_input_one_line_exit_2_workspace_untouched(tmp_path, reviews, args, message):
    import numpy as np

    ws = tmp_path / "ws"
    assert run("embed", str(reviews), "-t", "body", "--model", "hashing", "-w", str(ws), "--json").exit_code == 0
    before = _snapshot(ws)
    np.save(tmp_path / "vec.npy", np.ones((3, 4), dtype=np.float32))
    args = [a.format(reviews=reviews, vec=tmp_path / "vec.npy") for a in args]
    result = run("embed", *args, "--model" if "--model" not in args else "--quiet",
                 *(["hashing"] if "--model" not in args else []), "-w", str(ws))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and message in lines[-1]
    assert "Traceback" not in result.output
    assert _snapshot(ws) == before


def test_info_without_workspace_says_what_to_run(tmp_path):
    result = run("info", "-w", str(tmp_path / "none"))
    assert result.exit_code == 2 and "likewise embed" in result.stderr


def test_datasets_list_and_export(tmp_path):
    listing = json.loads(run("datasets", "--json").stdout)
    names = {d["name"]: d for d in listing}
    assert names["rotten_tomatoes"]["size"] == 13891 and names["bbc_news"]["size"] == 2225
    assert all(d["license"] and d["source"] for d in listing)
    out = tmp_path / "bbc.csv"
    assert run("datasets", "export", "bbc_news", str(out)).exit_code == 0
    frame = pd.read_csv(out)
    assert len(frame) == 2225 and set(frame["label"]) == {"business", "entertainment", "politics", "sports", "tech"}


def test_every_command_has_help_with_example_and_is_in_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    import click

    def walk(group: click.Group, prefix: str):
        for name, command in group.commands.items():
            yield f"{prefix} {name}".strip(), command
            if isinstance(command, click.Group):
                yield from walk(command, f"{prefix} {name}")

    commands = list(walk(cli, ""))
    assert len(commands) >= 4
    for name, command in commands:
        help_text = run(*name.split(), "--help").output
        assert "Example:" in help_text, f"`likewise {name} --help` has no Example block"
        assert f"likewise {name}" in readme, f"`likewise {name}` is not documented in README.md"


def test_real_subprocess_help_and_version():
    out = subprocess.run([sys.executable, "-m", "likewise.cli.main", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "embed" in out.stdout
    err = subprocess.run([sys.executable, "-m", "likewise.cli.main", "embed", "nope.csv"], capture_output=True, text=True)
    assert err.returncode == 2 and err.stderr.strip().startswith("Error:") and "Traceback" not in err.stderr
