"""Golden layouts of the main tables at 100 columns (search, session, session compare, classify, map), and
every option of the commands that read a workspace has a help line.

Regenerate the golden files after an intended change with ``LIKEWISE_UPDATE_GOLDEN=1 pytest tests/cli``.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from likewise.records import Dataset

GOLDEN = Path(__file__).parent / "golden"
TEXTS = ["the match ended with a late goal for the home team in the rain",
         "a new phone chip makes the network faster for every app on it",
         "slow cooked sauce with bread from the oven and a little spice on top",
         "a cheap flight to the island, a hotel by the beach and a museum tour"]


def dataset() -> Dataset:
    texts, labels = [], []
    for i in range(48):
        texts.append(f"{TEXTS[i % 4]} number {i} " + ("and a very long tail of words " * (i % 3)))
        labels.append(["sport", "tech", "food", "travel"][i % 4] if i < 40 else None)
    return Dataset.from_lists(texts, labels, ids=[f"r{i:02d}" for i in range(48)])


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from likewise.encoders import HashingEncoder
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    path = tmp_path_factory.mktemp("layout") / "ws"
    w = Workspace.open(path, create=True)
    embed_into_workspace(w, dataset(), HashingEncoder(dim=32), source={"path": "topics.csv"})
    tune_workspace(w, tuner_options={"epochs": 3, "k": 5, "patience": 2, "seed": 0, "method": "head"})
    return Workspace.open(path)


def console() -> Console:
    return Console(file=io.StringIO(), width=100, color_system=None, force_terminal=False, legacy_windows=False)


def check(name: str, c: Console) -> None:
    text = c.file.getvalue()
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines), [line for line in lines if len(line) > 100]
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("LIKEWISE_UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"layout of {name} changed; see {path}"


def test_search_layout(ws):
    from likewise.cli.search import query_text, render_search
    from likewise.ops.search import search

    c = console()
    render_search(search(ws, record_id="r05", k=6), query_text(str(ws.path), "r05", None, None), c)
    out = c.file.getvalue()
    assert out.startswith("Query: r05 (tech) “a new phone chip")  # the query above the results
    assert "…" in out  # long texts are cut, not wrapped
    header = out.splitlines()[2]
    assert header.index("text") > header.index("id")
    check("search", c)


def test_session_layouts(ws):
    from likewise.cli.session import render_compare, render_session
    from likewise.ops.search import compare_session, create_session

    c = console()
    session = create_session(ws, "r02", size=12, store=False)
    session.id = "SESSION"
    render_session(session, ws.records(), c)
    render_compare(compare_session(ws, "r02", size=12), c)
    out = c.file.getvalue()
    assert "first 10 shown" in out and "same class among the labeled ones" in out and "%" in out
    check("session", c)


def test_classify_layout(ws):
    from likewise.cli.classify import render_classify
    from likewise.ops.classify import classify_workspace

    c = console()
    render_classify(classify_workspace(ws, seed=0), c)
    out = c.file.getvalue()
    assert "Per class, on held-out records" in out  # the per-class table the README promises
    assert "0.4770" not in out and "%" in out
    check("classify", c)


def test_map_layout(ws):
    from likewise.cli.map import render_maps
    from likewise.ops.maps import map_workspace

    c = console()
    result, _ = map_workspace(ws, seed=0)
    for panel in result.panels:
        panel.seconds = 0.0  # timings vary from run to run
    render_maps(result, c)
    check("map", c)


OWN = ("info", "index", "search", "session", "classify", "map", "report", "label", "labels", "runs", "cache", "demo",
       "datasets")


def _commands(group, prefix=""):
    import click

    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_option_of_these_commands_has_help():
    import click

    from likewise.cli.main import cli

    missing = []
    for name, command in _commands(cli):
        if name.split()[0] not in OWN:
            continue
        assert "Example:" in (command.help or ""), f"`likewise {name}` has no Example: block"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{name} {param.opts[-1]}")
    assert missing == []


def test_help_lists_the_commands_in_the_order_of_the_flow():
    from click.testing import CliRunner

    from likewise.cli.main import cli

    out = CliRunner().invoke(cli, ["--help"]).output
    order = [out.index(f"\n  {name} ") for name in ("embed", "tune", "evaluate", "index", "search", "session",
                                                     "classify", "map", "report", "serve")]
    assert order == sorted(order)
