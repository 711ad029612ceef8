"""The report's charts as PNG bytes (matplotlib, Agg backend; never a window, never pyplot's global state),
and the drawing conventions the interactive map view shares with them (class colours, panel captions).

Drawing lives here, not in :mod:`likewise.maps` (which computes projections and scores on arrays), so the
maps module never imports plotting or the report.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from likewise.classify import ClassifierScore
from likewise.maps import MapPanel, MapResult


def _figure(width: float, height: float, *, dpi: int = 100):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


CURVE_METRICS = (("top_k", "top_k (share of the k nearest in the query's class)"),
                 ("logreg_accuracy", "logistic-regression accuracy"))

# one colour per meaning across the report: methods and vector kinds never take a class colour (below)
METHOD_COLORS = {"raw": "#6e6e6e", "reference": "#a6761d", "lda": "#7570b3", "likewise": "#111111",
                 "tuned": "#111111"}
METHOD_STYLES = {"raw": ":", "reference": "-.", "lda": "--", "likewise": "-", "tuned": "-"}
CHANCE_COLOR = "#c0392b"


def method_color(method: str) -> str:
    return METHOD_COLORS.get(method, "#4d4d4d")


def seed_count(cell: dict[str, Any]) -> int:
    """How many seeds an evaluation summary row averages (stored as a count or as the list of seeds)."""
    seeds = cell.get("seeds")
    return len(seeds) if isinstance(seeds, (list, tuple)) else int(seeds or 1)


def budget_ticks(summary: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """The x ticks of the budget curve: one per budget at its number of labeled training records, the
    ``all`` budget written ``all = N``."""
    ticks: dict[int, str] = {}
    for e in summary:
        n = int(e["train_records"])
        ticks[n] = f"all = {n:,}" if str(e.get("budget")) == "all" else f"{n:,}"
    return sorted(ticks.items())


def names_dropped(ticks: Sequence[tuple[int, str]], i: int) -> bool:
    """Whether tick ``i - 1`` already dropped a line (then tick ``i`` stays up: they alternate)."""
    return i >= 2 and ticks[i - 1][0] / ticks[i - 2][0] < 1.6 and not names_dropped(ticks, i - 1)


def budget_curve_figure(summary: Sequence[dict[str, Any]], *, k: int | None = None,
                        chance: dict[str, float] | None = None):
    """Held-out metric vs labeled training records, one line per method (mean over seeds; the min-max
    range over seeds shaded when more than one seed ran), the budgets as ticks and chance as a line.

    ``chance``: the value of each metric for a guess that ignores the vectors (``top_k``: the share of a
    random neighbour in the query's class; ``logreg_accuracy``: the largest class's share)."""
    chance = chance or {}
    metrics = [(key, title) for key, title in CURVE_METRICS if any(key in e for e in summary)]
    fig = _figure(5.2 * max(1, len(metrics)), 3.8)
    axes = fig.subplots(1, max(1, len(metrics)), squeeze=False)[0]
    methods = list(dict.fromkeys(e["method"] for e in summary))
    ticks = budget_ticks(summary)
    for ax, (key, title) in zip(axes, metrics):
        lows = []
        for method in methods:
            rows = sorted((e for e in summary if e["method"] == method and key in e), key=lambda e: e["train_records"])
            if not rows:
                continue
            x = [e["train_records"] for e in rows]
            mean = [100 * e[key]["mean"] for e in rows]
            color = method_color(method)
            ax.plot(x, mean, marker="o", markersize=4, label=method, color=color,
                    linestyle=METHOD_STYLES.get(method, "-"))
            if any(seed_count(e) > 1 for e in rows):
                ax.fill_between(x, [100 * e[key]["min"] for e in rows], [100 * e[key]["max"] for e in rows],
                                alpha=0.12, color=color, linewidth=0)
            lows.append(min(100 * e[key]["min"] for e in rows))
        if key in chance:
            ax.axhline(100 * chance[key], color=CHANCE_COLOR, linestyle="--", linewidth=1,
                       label=f"chance {100 * chance[key]:.1f}%")
            lows.append(100 * chance[key])
        ax.set_xscale("log")
        # a tick close to the one before it (250 and "all = 300") drops a line so the two never overlap
        names = [("\n" + name) if i and t / ticks[i - 1][0] < 1.6 and not names_dropped(ticks, i) else name
                 for i, (t, name) in enumerate(ticks)]
        ax.set_xticks([t for t, _ in ticks], names, fontsize=8)
        ax.minorticks_off()
        if lows:
            ax.set_ylim(bottom=max(0.0, min(lows) - 2))
        ax.set_xlabel("labeled training records (budget)")
        ax.set_ylabel("% on held-out records")
        ax.set_title(title.replace("top_k", f"top_{k}" if k else "top_k"), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def budget_curve_png(summary: Sequence[dict[str, Any]], *, k: int | None = None,
                     chance: dict[str, float] | None = None) -> bytes:
    """:func:`budget_curve_figure` as PNG bytes."""
    return _png(budget_curve_figure(summary, k=k, chance=chance))


def timeline_png(labels: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]) -> bytes:
    """Left: labeled records over time (from the label events). Right: each run's held-out or
    cross-validated quality against the number of labels it used (from the run log), raw vs tuned."""
    from datetime import datetime

    fig = _figure(10.4, 3.6)
    left, right = fig.subplots(1, 2)
    if labels:
        times = [datetime.fromisoformat(p["time"]) for p in labels]
        left.step(times, [p["labeled"] for p in labels], where="post", marker=".", color="#444444")
        for tick in left.get_xticklabels():
            tick.set_rotation(30)
            tick.set_horizontalalignment("right")
    left.set_ylabel("labeled records")
    left.set_title("labeled records over time (UTC)", fontsize=10)
    left.grid(alpha=0.3)
    markers = {"tune": "o", "evaluate": "s", "classify": "^"}
    for command, marker in markers.items():
        for name in ("raw", "tuned"):
            color = method_color(name)
            points = [(r["labeled"], 100 * r["quality"][name]) for r in runs
                      if r["command"] == command and name in r["quality"]]
            if points:
                right.plot([a for a, _ in points], [b for _, b in points], marker=marker, linestyle="-" if
                           name == "tuned" else ":", color=color, label=f"{command}: {name}")
    right.set_xlabel("labeled records the run used")
    right.set_ylabel("%")
    right.set_title("quality over the label count", fontsize=10)
    right.grid(alpha=0.3)
    if runs:
        right.legend(fontsize=7)
    return _png(fig)


def confidence_png(scores: Sequence[ClassifierScore]) -> bytes:
    """For each kind of vectors: share of held-out records kept and their precision vs confidence threshold."""
    fig = _figure(5.6, 3.6)
    ax = fig.subplots()
    for score in scores:
        color = method_color(score.vectors)
        rows = score.thresholds
        t = [r["threshold"] for r in rows]
        ax.plot(t, [100 * r["kept"] for r in rows], marker="o", color=color, label=f"{score.vectors}: share kept")
        kept = [(r["threshold"], 100 * r["precision"]) for r in rows if r["precision"] is not None]
        ax.plot([a for a, _ in kept], [b for _, b in kept], marker="s", linestyle="--", color=color,
                label=f"{score.vectors}: precision")
    ax.set_xlabel("confidence threshold (kept when confidence > threshold)")
    ax.set_ylabel("% of held-out records")
    ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


# -- 2D maps ---------------------------------------------------------------------------------------------------
GREY = "#b8b8b8"
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
            "#393b79", "#ad494a", "#637939", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#843c39"]


def class_colors(classes: Sequence[str]) -> dict[str, str]:
    """A distinct colour per class (18 hand-picked, then evenly spaced hues); grey is kept for unlabeled and
    the method colours (:data:`METHOD_COLORS`) are never used, so a class never looks like a method."""
    import colorsys

    reserved = {GREY, CHANCE_COLOR, *METHOD_COLORS.values()}
    out: dict[str, str] = {}
    i = 0
    for c in classes:
        while True:
            if i < len(_PALETTE):
                color = _PALETTE[i]
            else:
                r, g, b = colorsys.hls_to_rgb((i * 0.618034) % 1.0, 0.45, 0.65)
                color = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
            i += 1
            if color not in reserved:
                break
        out[c] = color
    return out


LABELED_ALPHA = 0.85
UNLABELED_ALPHA = 0.3  # unlabeled points lighter than labeled ones, on every map


def point_radius(n: int) -> float:
    """Radius in pixels of a map point for ``n`` points: large enough to see, small enough not to merge."""
    return float(np.clip(110 / np.sqrt(max(n, 1)), 2.0, 5.0))


def panel_caption(panel: MapPanel) -> str:
    if panel.knn_accuracy is None:
        return "no held-out labels to score"
    sil = "" if panel.silhouette is None else f" · silhouette {panel.silhouette:.2f}"
    return f"kNN acc {100 * panel.knn_accuracy:.1f}%{sil}"


def maps_png(result: MapResult, *, dpi: int = 100, columns: int = 3) -> bytes:
    """The maps side by side as a PNG (matplotlib, Agg): classes coloured, unlabeled points grey."""
    panels = result.panels
    cols = min(columns, len(panels))
    rows = -(-len(panels) // cols)
    fig = _figure(4.6 * cols, 4.4 * rows + 0.6, dpi=dpi)
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = class_colors(result.classes)
    labels = np.array([lab if lab is not None else "" for lab in result.labels], dtype=object)
    # area in points^2 of a marker whose radius matches the interactive map's (the same look in both)
    size = float((point_radius(len(labels)) * 0.9) ** 2 * np.pi)
    for ax, panel in zip(axes.ravel(), panels):
        xy = panel.coords
        grey = labels == ""
        ax.scatter(xy[grey, 0], xy[grey, 1], s=size, c=GREY, alpha=UNLABELED_ALPHA, linewidths=0, rasterized=True)
        for c in result.classes:
            mask = labels == c
            ax.scatter(xy[mask, 0], xy[mask, 1], s=size, c=colors[c], alpha=LABELED_ALPHA, linewidths=0,
                       rasterized=True)
        ax.set_title(f"{panel.title}\n{panel_caption(panel)}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D

    # legend markers of the points' own size and alpha
    marker = float(np.sqrt(size))
    handles = [Line2D([], [], marker="o", linestyle="", markersize=marker, markeredgewidth=0, color=colors[c],
                      alpha=LABELED_ALPHA) for c in result.classes]
    names = list(result.classes)
    if (labels == "").any():
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=marker, markeredgewidth=0, color=GREY,
                              alpha=UNLABELED_ALPHA))
        names.append("unlabeled")
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 8), frameon=False, fontsize=9)
    return _png(fig)
