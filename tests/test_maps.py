from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest

from likewise import maps
from likewise.errors import InputError, MissingExtraError
from likewise.evaluation import make_heldout
from likewise.maps import (
    PROJECTIONS,
    Projection,
    chance_knn,
    make_maps,
    sample_points,
    separation_scores,
)
from likewise.report.figures import maps_png

FAST_TUNER = {"epochs": 3, "k": 5, "patience": 2}


def _planar_blobs(per_class: int = 60, classes: int = 4, spread: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = 5 * np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, classes, endpoint=False)])
    coords = np.concatenate([c + spread * rng.normal(size=(per_class, 2)) for c in centres])
    labels = np.repeat([f"k{i}" for i in range(classes)], per_class)
    return coords, labels


def _vectors(per_class: int = 40, classes: int = 3, dim: int = 24, spread: float = 0.9, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    X = np.concatenate([c + spread * rng.normal(size=(per_class, dim)) for c in centres]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, np.repeat([f"c{i}" for i in range(classes)], per_class).astype(object)


# -- separation scores where the answer is known ---------------------------------------------------------------
def test_well_separated_blobs_score_high():
    coords, labels = _planar_blobs()
    scores = separation_scores(coords, labels)
    assert scores["knn_accuracy"] == 1.0
    assert scores["silhouette"] > 0.8


def test_shuffled_labels_score_near_chance():
    coords, labels = _planar_blobs(per_class=150)
    shuffled = np.random.default_rng(1).permutation(labels)
    scores = separation_scores(coords, shuffled)
    assert abs(scores["knn_accuracy"] - 0.25) < 0.08  # 4 equal classes: chance is 25%
    assert abs(scores["silhouette"]) < 0.05
    assert chance_knn(shuffled) == 0.25


def test_knn_accuracy_matches_a_naive_loop():
    rng = np.random.default_rng(3)
    coords = rng.normal(size=(80, 2))
    labels = rng.choice(["a", "b", "c"], size=80)
    got = separation_scores(coords, labels, k=5)["knn_accuracy"]
    right = 0
    for i in range(80):
        d = np.linalg.norm(coords - coords[i], axis=1)
        d[i] = np.inf
        nearest = np.argsort(d, kind="stable")[:5]
        votes: dict[str, int] = {}
        for j in nearest:  # ties go to the class whose first vote came nearest
            votes[labels[j]] = votes.get(labels[j], 0) + 1
        best = max(votes.values())
        winner = next(labels[j] for j in nearest if votes[labels[j]] == best)
        right += winner == labels[i]
    assert got == pytest.approx(right / 80)


def test_silhouette_matches_scikit_learn_and_degenerate_cases():
    from sklearn.metrics import silhouette_score

    coords, labels = _planar_blobs(per_class=30, spread=2.0)
    assert separation_scores(coords, labels)["silhouette"] == pytest.approx(silhouette_score(coords, labels))
    assert separation_scores(coords, ["one"] * len(coords)) == {"knn_accuracy": None, "silhouette": None}


# -- maps ---------------------------------------------------------------------------------------------------------
def test_make_maps_scores_only_held_out_records_and_supervised_sees_training_labels_only(monkeypatch):
    seen = {}

    def spy_fit(X, target, seed):  # a supervised projection registered like any other
        seen["target"] = target.copy()
        return maps.PROJECTIONS["head2d"].fit(X, target, seed)

    monkeypatch.setitem(PROJECTIONS, "spy", Projection("spy", "records its target", True, spy_fit))
    X, y = _vectors()
    labels = list(y) + [None] * 10
    X = np.concatenate([X, X[:10]])
    result = make_maps(X, labels, tuned=True, projections=("pca",), supervised="spy", tuner_options=FAST_TUNER,
                       budget=30)
    assert [p.title for p in result.panels] == ["raw · PCA", "tuned · PCA", "tuned · spy"]
    roles = np.array(result.roles)
    assert (roles == "unlabeled").sum() == 10 + (72 - 30)  # the unlabeled + the training pool outside the budget
    assert (roles == "train").sum() == 30 and (roles == "test").sum() == 48
    target = seen["target"]
    assert (target[roles == "train"] >= 0).all() and (target[roles != "train"] == -1).all()
    for panel in result.panels:
        assert panel.coords.shape == (len(labels), 2)
        assert 0 <= panel.knn_accuracy <= 1 and -1 <= panel.silhouette <= 1
    assert result.chance == pytest.approx(1 / 3)
    assert result.supervised_gain()["baseline"] == "raw · PCA"


def test_supervised_map_separates_held_out_records_better_than_pca_of_noisy_vectors():
    # 3 classes live in 3 of 40 dimensions; the other 37 hold larger noise that PCA picks up
    rng = np.random.default_rng(0)
    n = 300
    y = np.repeat(["a", "b", "c"], n // 3).astype(object)
    X = rng.normal(scale=1.0, size=(n, 40))
    X[:, :3] *= 0.2
    X[np.arange(n), np.repeat([0, 1, 2], n // 3)] += 1.0
    result = make_maps(X.astype(np.float32), list(y), tuned=False, projections=("pca",), supervised="head2d")
    pca, sup = result.panels
    assert pca.knn_accuracy < 0.7 and sup.knn_accuracy > 0.9
    assert result.supervised_gain()["knn_accuracy"] > 0.25


def test_large_data_is_sampled_with_a_stated_size():
    X, y = _vectors(per_class=400)
    result = make_maps(X, list(y), tuned=False, projections=("pca",), supervised=None, max_points=300)
    assert len(result.ids) == 300 and result.sampled and result.total_records == 1200
    assert "random sample of 300" in result.describe() and any("1,200 records" in n for n in result.notes)
    assert sample_points(1200, 300, seed=0).tolist() == result.positions.tolist()
    with pytest.raises(InputError, match="max_points"):
        sample_points(10, 5)


def test_single_class_says_so_and_draws_without_scores():
    X, _ = _vectors()
    labels = ["only"] * 60 + [None] * 60
    result = make_maps(X, labels, projections=("pca",), supervised="head2d")
    assert [p.title for p in result.panels] == ["raw · PCA"]
    assert result.panels[0].knn_accuracy is None
    assert any("one class (only)" in n and "nothing to colour" in n for n in result.notes)
    unlabeled = make_maps(X, [None] * len(X), projections=("pca",))
    assert any("no labeled records" in n for n in unlabeled.notes)


def test_wrong_projection_names_list_the_valid_ones():
    X, y = _vectors()
    with pytest.raises(InputError, match="choose from pca, umap"):
        make_maps(X, list(y), projections=("tsne",))
    with pytest.raises(InputError, match="umap_supervised, head2d"):
        make_maps(X, list(y), projections=("pca",), supervised="pca")


def test_umap_without_the_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    X, y = _vectors()
    with pytest.raises(MissingExtraError, match=r"likewise\[umap\]"):
        make_maps(X, list(y), tuned=False, projections=("umap",), supervised=None)


@pytest.mark.slow
def test_umap_maps_separate_blobs():
    pytest.importorskip("umap")
    X, y = _vectors(per_class=60, spread=0.6)
    result = make_maps(X, list(y), tuned=False, projections=("umap",), supervised="umap_supervised")
    assert [p.title for p in result.panels] == ["raw · UMAP", "raw · supervised UMAP"]
    assert all(p.knn_accuracy > 0.9 for p in result.panels)


# -- drawing --------------------------------------------------------------------------------------------------------
def test_the_maps_module_never_imports_the_report_or_plotting():
    """Drawing lives in likewise.report; likewise.maps computes on arrays only."""
    import subprocess

    code = ("import sys, likewise.maps\n"
            "loaded = [m for m in sys.modules if m.startswith(('likewise.report', 'matplotlib'))]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("first", ["likewise.maps", "likewise.report.mapview", "likewise.report.figures"])
def test_maps_and_the_map_view_import_in_any_order(first):
    import subprocess

    code = f"import {first}\nimport likewise.maps, likewise.report.figures, likewise.report.mapview\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_png_and_page_are_drawn_and_self_contained():
    from PIL import Image

    from likewise.report.mapview import map_page

    X, y = _vectors()
    labels = list(y[:-20]) + [None] * 20
    result = make_maps(X, labels, ids=[f"id{i}" for i in range(len(y))], texts=["</script><b>x</b>"] * len(y),
                       tuned=False, projections=("pca",), supervised="head2d")
    png = maps_png(result)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 600 and image.height > 300
    page = map_page(result)
    assert page.count("<script") == 2 and "</script><b>" not in page  # texts cannot close the script
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_heldout_passed_in_must_match_the_records_shown():
    X, y = _vectors(per_class=100)
    heldout = make_heldout(X, list(y), tune=False)
    with pytest.raises(InputError, match="max_points"):
        make_maps(X, list(y), tuned=False, heldout=heldout, max_points=100)
