"""End to end with the real offline all-MiniLM-L6-v2 on a slice of real data (slow: loads the model)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from likewise.cli.main import cli


@pytest.mark.slow
def test_embed_real_bbc_slice_with_minilm_then_rerun_hits_cache(tmp_path):
    from likewise.datasets import export_dataset

    import pandas as pd

    export_dataset("bbc_news", tmp_path / "bbc.csv")
    frame = pd.read_csv(tmp_path / "bbc.csv").groupby("label").head(30)  # 150 articles, 5 topics
    frame.to_csv(tmp_path / "slice.csv", index=False)
    ws = tmp_path / "ws"
    runner = CliRunner()
    own_cache = ["--cache", str(tmp_path / "cache")]  # the suite's shared cache may hold some of these texts already
    first = runner.invoke(cli, ["embed", str(tmp_path / "slice.csv"), "-l", "label", "-w", str(ws), "--json", *own_cache])
    assert first.exit_code == 0, first.output
    stats = json.loads(first.stdout)["embedding"]
    assert stats["encoded"] + stats["duplicates"] == 150 and stats["encoder"].startswith("st:all-MiniLM-L6-v2")
    second = json.loads(runner.invoke(cli, ["embed", str(tmp_path / "slice.csv"), "-l", "label", "-w", str(ws), "--json",
                                            *own_cache]).stdout)
    assert second["embedding"]["cache_hits"] == 150 and second["embedding"]["encoded"] == 0

    from likewise.workspace import Workspace

    w = Workspace.open(ws)
    vectors = w.vectors("raw").vectors
    labels = np.array(w.records().labels)
    assert vectors.shape == (150, 384)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(axis=1)
    # a real sentence encoder puts most articles next to one of the same topic (chance would be ~20%)
    assert (labels[nearest] == labels).mean() > 0.8


@pytest.mark.slow
def test_demo_command_runs_end_to_end(tmp_path):
    """The README's first command runs `likewise demo`: real BBC News, real MiniLM, held-out evaluation."""
    result = CliRunner().invoke(cli, ["demo", "-w", str(tmp_path / "demo"), "--budgets", "25", "--seeds", "0", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    cells = {row["method"]: row["top_k"]["mean"] for row in data["evaluation"]["summary"]}
    assert set(cells) == {"raw", "reference", "lda", "likewise"}
    assert data["embed"]["records"]["records"] == 2225
    # the mission in one line: likewise's neighbours share the query's class more often than raw ones
    assert cells["likewise"] > cells["raw"]
