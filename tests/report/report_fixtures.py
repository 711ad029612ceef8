"""Workspaces for the report tests: synthetic topic texts, hashing vectors, a fast head and evaluation."""
from __future__ import annotations

import numpy as np

from likewise.records import Dataset

FAST_TUNER = {"epochs": 3, "k": 5, "patience": 2, "seed": 0}
TOPICS = {
    "sport": "match goal team coach league season player score stadium",
    "tech": "software chip phone network data computer code server app",
    "food": "recipe cook bread sauce oven flavour dinner kitchen spice",
    "travel": "flight hotel beach train museum passport island tour map",
}
SHARED = "the a today people new said week report city".split()


def topic_dataset(per_class: int = 40, unlabeled: int = 20, seed: int = 0) -> Dataset:
    """Short texts of topic words and shared words (with an id-like number); the last ``unlabeled`` have no label."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    texts, labels = [], []
    for i in range(per_class * len(names) + unlabeled):
        topic = names[i % len(names)]
        words = list(rng.choice(TOPICS[topic].split(), 4)) + list(rng.choice(SHARED, 5))
        rng.shuffle(words)
        texts.append(" ".join(words) + f" item {i}")
        labels.append(topic if i < per_class * len(names) else None)
    return Dataset.from_lists(texts, labels, ids=[f"r{i:04d}" for i in range(len(texts))])


def make_workspace(path, *, tune: bool = True, evaluate: bool = True, data: Dataset | None = None):
    from likewise.ops.embed import embed_into_workspace
    from likewise.encoders import HashingEncoder
    from likewise.ops.evaluate import evaluate_workspace
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(path, create=True)
    embed_into_workspace(ws, data or topic_dataset(), HashingEncoder(dim=64), source={"path": "topics.csv"})
    if tune:
        tune_workspace(ws, tuner_options=dict(FAST_TUNER))
    if evaluate:
        evaluate_workspace(ws, methods=["raw", "likewise"], budgets=[16, "all"], seeds=[0, 1], k=10)
    return Workspace.open(path)
