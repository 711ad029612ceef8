"""2D maps of raw and tuned vectors, coloured by class, with a separation score per map.

Each map is one projection of one kind of vectors (see :data:`PROJECTIONS`):

* ``pca`` and ``umap`` (cosine; extra ``likewise[umap]``) are unsupervised and fitted on every point shown.
* ``umap_supervised`` (UMAP with the training records' labels as target, the other points marked unlabeled)
  and ``head2d`` (a 2-D linear map trained with likewise's ``supcon`` loss) are supervised: they see the
  labels of the **training records only** (the evaluation's split, :func:`likewise.evaluation.make_heldout`).

Scores are computed on the **held-out** labeled records shown, never on records whose labels a projection
or head saw: ``knn_accuracy`` (each held-out point's class against a vote of its 10 nearest held-out points
in 2D, Euclidean, itself excluded; :func:`likewise.metrics.knn_accuracy`) and ``silhouette`` (scikit-learn,
Euclidean in 2D, on at most 5,000 of them). The "tuned" vectors of a map come from a head trained on the
training records only, for the same reason. Large datasets are shown as a random sample of ``max_points``
records (default 20,000), stated in the result; nothing is fitted on more than that.

This module computes on arrays only; drawing the maps (PNG, the interactive page) is in
:mod:`likewise.report.figures` and :mod:`likewise.report.mapview`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likewise.errors import InputError, MissingExtraError, unknown_name
from likewise.evaluation import HeldOut, make_heldout
from likewise.labels import labeled_arrays
from likewise.neighbors import single_threaded
from likewise.progress import Progress, no_progress

DEFAULT_MAX_POINTS = 20_000
# the maps `likewise map` and `likewise report` draw unless told otherwise (fast, no extra needed)
DEFAULT_PROJECTIONS: tuple[str, ...] = ("pca",)
DEFAULT_SUPERVISED = "head2d"
KNN_K = 10
HEAD2D_STEPS = 300
SILHOUETTE_MAX = 5_000
UNLABELED = -1
# roles of the points shown
TRAIN, TEST, OTHER = "train", "test", "unlabeled"

Fit = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
"""(vectors, target, seed) -> (n, 2) coordinates; ``target`` holds class codes of the training records and
-1 for every point whose label must not be used."""


# -- projections ------------------------------------------------------------------------------------------------
def _pca(X: np.ndarray, target: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(X)


def _umap_module():
    try:
        import umap
    except ImportError as exc:
        raise MissingExtraError("UMAP maps", "umap", "umap-learn") from exc
    return umap


def _umap_params(n: int, seed: int) -> dict[str, Any]:
    return {"n_components": 2, "metric": "cosine", "n_neighbors": max(2, min(15, n - 1)), "random_state": seed,
            "n_jobs": 1}


def _umap(X: np.ndarray, target: np.ndarray, seed: int) -> np.ndarray:
    umap = _umap_module()
    return umap.UMAP(**_umap_params(len(X), seed)).fit_transform(X)


def _umap_supervised(X: np.ndarray, target: np.ndarray, seed: int) -> np.ndarray:
    umap = _umap_module()
    return umap.UMAP(**_umap_params(len(X), seed), target_metric="categorical").fit_transform(X, y=target)


def _head2d(X: np.ndarray, target: np.ndarray, seed: int) -> np.ndarray:
    """A linear map to the plane trained with the supcon loss on the training records.

    The losses compare directions (cosine), so the loss sees ``(x, y, 1)``: a point of the plane stands for
    a direction on a hemisphere (the gnomonic projection), and cosine margins become distances in the plane.
    """
    import torch

    from likewise.tuning.losses import make_loss
    from likewise.tuning.sampler import ClassBalancedSampler

    rows = np.flatnonzero(target >= 0)
    torch.manual_seed(seed)
    layer = torch.nn.Linear(X.shape[1], 2)
    loss = make_loss("supcon", temperature=0.1)
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-2)
    x = torch.from_numpy(np.ascontiguousarray(X[rows], dtype=np.float32))
    codes = torch.from_numpy(target[rows].astype(np.int64))
    sampler = ClassBalancedSampler(target[rows], batch_size=256, seed=seed)
    epochs = int(np.clip(HEAD2D_STEPS // len(sampler), 1, 200))  # about HEAD2D_STEPS steps whatever the size
    ones = torch.ones(256, 1)
    with single_threaded():  # tiny matrices: extra threads only spin
        for _ in range(epochs):
            for batch in sampler:
                optimizer.zero_grad()
                points = layer(x[batch])
                value = loss(torch.cat([points, ones[: len(batch)]], dim=1), codes[batch])
                value.backward()
                optimizer.step()
        with torch.no_grad():
            return layer(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).numpy()


@dataclass(frozen=True)
class Projection:
    title: str
    description: str
    supervised: bool
    fit: Fit


PROJECTIONS: dict[str, Projection] = {
    "pca": Projection("PCA", "principal components, fitted on every point shown", False, _pca),
    "umap": Projection("UMAP", "UMAP (cosine, 15 neighbours), fitted on every point shown; needs likewise[umap]",
                       False, _umap),
    "umap_supervised": Projection("supervised UMAP", "UMAP with the training records' labels as target (the other "
                                  "points unlabeled); needs likewise[umap]", True, _umap_supervised),
    "head2d": Projection("2-D head", "a linear map to 2-D trained with likewise's supcon loss on the training "
                         "records", True, _head2d),
}
SUPERVISED = tuple(name for name, p in PROJECTIONS.items() if p.supervised)


def get_projection(name: str, *, supervised: bool | None = None) -> Projection:
    names = [n for n, p in PROJECTIONS.items() if supervised is None or p.supervised == supervised]
    if name not in names:
        kind = {True: "supervised ", False: "unsupervised ", None: ""}[supervised]
        raise unknown_name(f"{kind}projection", name, names)
    return PROJECTIONS[name]


# -- scores -------------------------------------------------------------------------------------------------------
def separation_scores(coords: np.ndarray, labels: Sequence[Hashable], *, k: int = KNN_K,
                      seed: int = 0) -> dict[str, float | None]:
    """How well classes separate in 2D: ``knn_accuracy`` (vote of the ``k`` nearest other points, Euclidean)
    and ``silhouette`` (scikit-learn, at most 5,000 points). Both None with fewer than 2 classes or 3 points.

    Higher is better. Chance for ``knn_accuracy`` is about the largest class's share; for ``silhouette``, 0.
    """
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import NearestNeighbors

    from likewise.metrics import knn_accuracy

    coords = np.asarray(coords, dtype=np.float64)
    classes, codes = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    if len(classes) < 2 or len(codes) < 3:
        return {"knn_accuracy": None, "silhouette": None}
    kk = min(k, len(codes) - 1)
    neighbours = NearestNeighbors(n_neighbors=kk + 1).fit(coords).kneighbors(coords, return_distance=False)
    # drop each point itself (a duplicate point may come first, so remove by index, not by column)
    others = np.array([[j for j in row if j != i][:kk] for i, row in enumerate(neighbours)])
    knn = knn_accuracy(codes[others], codes, kk)
    sample = min(len(codes), SILHOUETTE_MAX)
    if len(classes) >= len(codes):
        silhouette = None
    else:
        silhouette = float(silhouette_score(coords, codes, sample_size=sample if sample < len(codes) else None,
                                            random_state=seed))
    return {"knn_accuracy": float(knn), "silhouette": silhouette}


def chance_knn(labels: Sequence[Hashable]) -> float | None:
    """The ``knn_accuracy`` of always answering the largest class (the floor a map should clear)."""
    if len(labels) == 0:
        return None
    _, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    return float(counts.max() / counts.sum())


# -- maps ---------------------------------------------------------------------------------------------------------
@dataclass
class MapPanel:
    """One map: ``coords`` (n, 2) for the points shown, and its scores on the held-out points."""

    vectors: str
    projection: str
    supervised: bool
    coords: np.ndarray
    knn_accuracy: float | None
    silhouette: float | None
    seconds: float

    @property
    def title(self) -> str:
        return f"{self.vectors} · {PROJECTIONS[self.projection].title}"

    def scores(self) -> dict[str, Any]:
        return {"map": self.title, "vectors": self.vectors, "projection": self.projection,
                "supervised": self.supervised, "knn_accuracy": self.knn_accuracy, "silhouette": self.silhouette,
                "seconds": round(self.seconds, 3)}


@dataclass
class MapResult:
    """The points shown (a sample when the data is larger than ``max_points``) and one panel per map.

    ``labels[i]`` is None for an unlabeled point; ``roles[i]`` is "train", "test" or "unlabeled" (labeled
    records outside the split's budget count as "unlabeled" here: no map used their labels).
    """

    positions: np.ndarray
    ids: list[str]
    texts: list[str]
    labels: list[str | None]
    roles: list[str]
    classes: list[str]
    panels: list[MapPanel]
    total_records: int
    max_points: int
    chance: float | None
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def sampled(self) -> bool:
        return len(self.positions) < self.total_records

    def panel(self, title: str) -> MapPanel | None:
        return next((p for p in self.panels if p.title == title), None)

    def supervised_gain(self) -> dict[str, Any] | None:
        """Held-out separation of the supervised map minus that of the first map of raw vectors."""
        base = next((p for p in self.panels if p.vectors == "raw" and not p.supervised), None)
        sup = next((p for p in self.panels if p.supervised), None)
        if base is None or sup is None or base.knn_accuracy is None or sup.knn_accuracy is None:
            return None
        gain: dict[str, Any] = {"map": sup.title, "baseline": base.title,
                                "knn_accuracy": sup.knn_accuracy - base.knn_accuracy}
        if base.silhouette is not None and sup.silhouette is not None:
            gain["silhouette"] = sup.silhouette - base.silhouette
        return gain

    def describe(self) -> str:
        shown = f"{len(self.positions):,} records"
        if self.sampled:
            shown = (f"a random sample of {len(self.positions):,} of {self.total_records:,} records "
                     f"(max_points={self.max_points:,}, seed {self.config.get('seed', 0)})")
        test = self.roles.count(TEST)
        return f"{shown}; scores on the {test:,} held-out labeled records shown" if test else shown

    def to_dict(self, *, points: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"shown": len(self.positions), "total_records": self.total_records,
                               "max_points": self.max_points, "sampled": self.sampled, "classes": self.classes,
                               "held_out_points": self.roles.count(TEST), "chance_knn_accuracy": self.chance,
                               "maps": [p.scores() for p in self.panels], "supervised_gain": self.supervised_gain(),
                               "notes": self.notes, "config": self.config}
        if points:
            out["points"] = {"positions": np.asarray(self.positions).tolist(), "ids": self.ids, "labels": self.labels,
                             "roles": self.roles, "coords": {p.title: p.coords.round(5).tolist() for p in self.panels}}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], texts: Sequence[str]) -> MapResult:
        """A result back from ``to_dict(points=True)``; ``texts`` are the texts of every record (by position)."""
        points = data["points"]
        positions = np.asarray(points["positions"], dtype=np.int64)
        panels = [MapPanel(m["vectors"], m["projection"], bool(m["supervised"]),
                           np.asarray(points["coords"][m["map"]], dtype=np.float32), m["knn_accuracy"],
                           m["silhouette"], float(m["seconds"])) for m in data["maps"]]
        return cls(positions=positions, ids=list(points["ids"]), texts=[str(texts[i]) for i in positions],
                   labels=list(points["labels"]), roles=list(points["roles"]), classes=list(data["classes"]),
                   panels=panels, total_records=int(data["total_records"]), max_points=int(data["max_points"]),
                   chance=data.get("chance_knn_accuracy"), notes=list(data.get("notes", [])),
                   config=dict(data.get("config", {})))


def sample_points(n: int, max_points: int, *, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most ``max_points`` of ``n`` records, uniformly at random by ``seed``."""
    if max_points < 10:
        raise InputError(f"max_points must be at least 10, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def make_maps(
    raw: np.ndarray,
    labels: Sequence[Hashable | None],
    *,
    ids: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
    tuned: bool = True,
    projections: Sequence[str] = DEFAULT_PROJECTIONS,
    supervised: str | None = DEFAULT_SUPERVISED,
    heldout: HeldOut | None = None,
    tuner_options: dict[str, Any] | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    test_size: float = 0.4,
    budget: int | str = "all",
    progress: Progress = no_progress,
) -> MapResult:
    """Maps of raw (and, with ``tuned``, tuned) vectors for every projection in ``projections``, plus one
    ``supervised`` map of the tuned vectors (raw without ``tuned``), each scored on held-out records.

    More records than ``max_points``: a random sample is shown (:func:`sample_points`) and the held-out split
    is built on it (:func:`likewise.evaluation.make_heldout` with ``within``), unless ``heldout`` (for the
    records given, which must then be at most ``max_points``) is passed. With
    fewer than 2 labeled classes there is nothing to colour or score: the raw maps are drawn, with a note.
    """
    raw = np.asarray(raw, dtype=np.float32)
    n = raw.shape[0] if raw.ndim == 2 else 0
    if n != len(labels):
        raise InputError(f"{n} vectors for {len(labels)} records; they must match")
    if n < 3:
        raise InputError(f"a map needs at least 3 records, got {n}")
    if not projections and supervised is None:
        raise InputError("no maps asked for: give at least one projection or a supervised one")
    for name in projections:
        get_projection(name, supervised=False)
    if supervised is not None:
        get_projection(supervised, supervised=True)
    shown = sample_points(n, max_points, seed=seed)
    if heldout is not None and len(shown) < n:
        raise InputError(f"{n:,} records are more than max_points={max_points:,}: pass the sampled records "
                         "(sample_points) with a held-out split built on them (make_heldout(within=...))")
    _, y = labeled_arrays(labels)
    classes = sorted(set(y.tolist()))
    notes: list[str] = []
    if len(shown) < n:
        notes.append(f"{n:,} records: showing a random sample of {len(shown):,} (max_points); the projections are "
                     "fitted on the sample only")
    if len(classes) < 2:
        notes.append(f"all {len(y):,} labeled records are in one class ({classes[0]}): nothing to colour or score"
                     if classes else "no labeled records: nothing to colour or score; label some records first")
        heldout, tuned, supervised = None, False, None
    elif heldout is None:
        heldout = make_heldout(raw, labels, seed=seed, test_size=test_size, budget=budget, tune=tuned,
                               tuner_options=tuner_options, within=shown, progress=progress)
    elif tuned and heldout.tuned is None:
        raise InputError("the held-out split carries no tuned vectors; build it with make_heldout(tune=True)")
    # from here on every array describes the points shown (heldout's positions index them too)
    raw = raw[shown]
    label_list = [None if lab is None or lab != lab or str(lab) == "" else str(lab) for lab in (labels[i] for i in shown)]
    code_of = {c: i for i, c in enumerate(classes)}
    roles = np.full(len(shown), OTHER, dtype=object)
    target = np.full(len(shown), UNLABELED, dtype=np.int64)
    if heldout is not None:
        roles[heldout.test_records] = TEST
        roles[heldout.train_records] = TRAIN
        target[heldout.train_records] = [code_of[c] for c in heldout.y[heldout.train]]
    test_rows = np.flatnonzero(roles == TEST)
    test_labels = [label_list[i] for i in test_rows]

    jobs: list[tuple[str, np.ndarray, str]] = [("raw", raw, p) for p in projections]
    if tuned:
        jobs += [("tuned", heldout.tuned, p) for p in projections]
    if supervised is not None:
        jobs.append(("tuned" if tuned else "raw", heldout.tuned if tuned else raw, supervised))
    panels = []
    for i, (kind, vectors, name) in enumerate(jobs):
        progress(i, len(jobs), "drawing maps")
        start = time.perf_counter()
        with single_threaded():  # PCA and the scores of 10,000 points: 0.2 s, vs up to 1.3 s with 2 threads
            coords = np.asarray(PROJECTIONS[name].fit(vectors, target, seed), dtype=np.float32)
            seconds = time.perf_counter() - start
            scores = (separation_scores(coords[test_rows], test_labels, seed=seed) if len(test_rows)
                      else {"knn_accuracy": None, "silhouette": None})
        panels.append(MapPanel(kind, name, PROJECTIONS[name].supervised, coords, scores["knn_accuracy"],
                               scores["silhouette"], seconds))
    progress(len(jobs), len(jobs), "drawing maps")
    config = {"projections": list(projections), "supervised": supervised, "max_points": max_points, "seed": seed,
              "test_size": test_size, "budget": str(budget), "knn_k": KNN_K,
              "split": heldout.describe() if heldout is not None else None,
              "descriptions": {name: PROJECTIONS[name].description for _, _, name in jobs}}
    return MapResult(
        positions=shown,
        ids=[str(ids[i]) for i in shown] if ids is not None else [str(i) for i in shown],
        texts=[str(texts[i]) for i in shown] if texts is not None else [""] * len(shown),
        labels=label_list, roles=roles.tolist(), classes=classes, panels=panels,
        total_records=n, max_points=max_points, chance=chance_knn(test_labels), notes=notes, config=config,
    )
