"""``likewise classify``, ``likewise map`` and ``likewise report`` through click's runner."""
from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from report_fixtures import make_workspace

from likewise.cli import classify, map, report
from likewise.cli.main import LikewiseGroup
from likewise.records import load_records


@pytest.fixture(scope="module")
def cli():
    group = LikewiseGroup(context_settings={"help_option_names": ["-h", "--help"]})
    for module in (classify, map, report):
        module.register(group)
    return group


def run(cli, *args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_command_has_help_with_an_example(cli):
    for name in ("classify", "map", "report"):
        result = run(cli, name, "--help")
        assert result.exit_code == 0 and "Example:" in result.output and "likewise " + name in result.output


def test_classify_exports_weak_labels_that_load_back(cli, workspace_copy, tmp_path):
    out = tmp_path / "weak.csv"
    result = run(cli, "classify", "-w", str(workspace_copy.path), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [s["vectors"] for s in data["scores"]] == ["raw", "tuned"] and data["unlabeled_records"] == 20
    assert data["export"]["predicted"] == 20
    back = load_records(out, label_column="label", confidence_column="confidence", confidence_threshold=0.0)
    assert back.summary.manual == 160 and back.summary.weak == 20


def test_map_and_report_write_their_files(cli, workspace_copy, tmp_path):
    result = run(cli, "map", "-w", str(workspace_copy.path), "-p", "pca", "--supervised", "head2d",
                 "-o", str(tmp_path / "m.html"), "--png", str(tmp_path / "m.png"), "--json")
    assert result.exit_code == 0, result.output
    maps = json.loads(result.stdout)
    assert [m["map"] for m in maps["maps"]] == ["raw · PCA", "tuned · PCA", "tuned · 2-D head"]
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "m.html").stat().st_size > 1000
    result = run(cli, "report", "-w", str(workspace_copy.path), "-o", str(tmp_path / "r.html"), "--budget", "40",
                 "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert Path(report["html"]).exists() and Path(report["markdown"]).name == "r.md"


def test_report_too_early_is_one_line_and_exit_2(cli, tmp_path):
    ws = make_workspace(tmp_path / "ws", tune=False, evaluate=False)
    result = CliRunner().invoke(cli, ["report", "-w", str(ws.path)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "run `likewise tune`" in result.output


def test_bad_budget_is_a_usage_error(cli, workspace_copy):
    result = CliRunner().invoke(cli, ["classify", "-w", str(workspace_copy.path), "--budget", "lots"])
    assert result.exit_code == 2 and "'lots' is not a positive number" in result.output


def test_each_module_registers_its_own_command():
    for module, name in ((classify, "classify"), (map, "map"), (report, "report")):
        group = click.Group()
        module.register(group)
        assert sorted(group.commands) == [name]
