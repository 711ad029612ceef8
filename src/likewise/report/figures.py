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


def budget_curve_png(summary: Sequence[dict[str, Any]], *, k: int | None = None) -> bytes:
    """Held-out metric vs number of labeled training records, one line per method (mean over seeds, with
    the min-max range over seeds shaded), from ``evaluation.json``'s summary."""
    metrics = [(key, title) for key, title in CURVE_METRICS if any(key in e for e in summary)]
    fig = _figure(5.2 * max(1, len(metrics)), 3.8)
    axes = fig.subplots(1, max(1, len(metrics)), squeeze=False)[0]
    methods = list(dict.fromkeys(e["method"] for e in summary))
    for ax, (key, title) in zip(axes, metrics):
        for method in methods:
            rows = sorted((e for e in summary if e["method"] == method and key in e), key=lambda e: e["train_records"])
            if not rows:
                continue
            x = [e["train_records"] for e in rows]
            mean = [100 * e[key]["mean"] for e in rows]
            ax.plot(x, mean, marker="o", label=method)
            ax.fill_between(x, [100 * e[key]["min"] for e in rows], [100 * e[key]["max"] for e in rows], alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("labeled training records")
        ax.set_ylabel("%")
        ax.set_title(title.replace("top_k", f"top_{k}" if k else "top_k"), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


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
        for name, color in (("raw", "#888888"), ("tuned", "#1f77b4")):
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
    for score, color in zip(scores, ("#1f77b4", "#d62728", "#2ca02c")):
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
    """A distinct colour per class (18 hand-picked, then evenly spaced hues); grey is kept for unlabeled."""
    import colorsys

    out = {}
    for i, c in enumerate(classes):
        if i < len(_PALETTE):
            out[c] = _PALETTE[i]
        else:
            r, g, b = colorsys.hls_to_rgb((i * 0.618034) % 1.0, 0.45, 0.65)
            out[c] = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
    return out


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
    size = float(np.clip(3000 / max(len(labels), 1), 1.0, 12.0))
    for ax, panel in zip(axes.ravel(), panels):
        xy = panel.coords
        grey = labels == ""
        ax.scatter(xy[grey, 0], xy[grey, 1], s=size, c=GREY, alpha=0.5, linewidths=0, rasterized=True)
        for c in result.classes:
            mask = labels == c
            ax.scatter(xy[mask, 0], xy[mask, 1], s=size, c=colors[c], alpha=0.8, linewidths=0, label=c,
                       rasterized=True)
        ax.set_title(f"{panel.title}\n{panel_caption(panel)}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    handles, names = axes.ravel()[0].get_legend_handles_labels()
    if (labels == "").any():
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], marker="o", linestyle="", color=GREY))
        names.append("unlabeled")
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 8), markerscale=max(1, 6 / size),
                   frameon=False, fontsize=9)
    return _png(fig)
