"""End to end on real data with the real model: BBC News texts, all-MiniLM-L6-v2, a default head, the report."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.mark.slow
def test_report_on_bbc_news_with_minilm(tmp_path, minilm):
    from likewise.ops.classify import classify_workspace
    from likewise.datasets import load_dataset
    from likewise.ops.embed import embed_into_workspace
    from likewise.records import load_records
    from likewise.report import build_report
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    full = load_dataset("bbc_news")
    rng = np.random.default_rng(0)
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(np.array(full.labels) == c), 60, replace=False)
                                   for c in full.classes]))
    data = full.subset(keep)
    hidden = np.arange(len(data)) % 10 == 0  # 30 records lose their label: the classifier predicts them
    truth = [data.labels[i] for i in np.flatnonzero(hidden)]
    data.labels = [None if h else lab for lab, h in zip(data.labels, hidden)]
    data.label_sources = ["" if h else s for s, h in zip(data.label_sources, hidden)]
    ws = Workspace.open(tmp_path / "ws", create=True)
    embed_into_workspace(ws, data, minilm, source={"dataset": "bbc_news", "path": "bundled:bbc_news (300)"})
    tune_workspace(ws, tuner_options={"seed": 0})

    classified = classify_workspace(ws, export=tmp_path / "weak.json")
    scores = {s.vectors: s for s in classified.classification.scores}
    assert scores["raw"].accuracy > 0.85 and scores["tuned"].accuracy > 0.85
    predicted = classified.classification.predicted_labels
    assert np.mean(predicted == np.array(truth, dtype=object)) > 0.8
    back = load_records(tmp_path / "weak.json", confidence_threshold=0.7)
    assert back.summary.manual == 270 and back.summary.weak + back.summary.dropped_by_confidence == 30

    result = build_report(ws, out=tmp_path / "report.html")
    page = Path(result.html).read_text(encoding="utf-8")
    assert "A similarity session, before and after" in page and "bbc_news" in page
    assert result.headline["maps"]["raw · PCA"] > 0.5
    assert result.headline["held_out_top_10"]["before"] > 0.7
