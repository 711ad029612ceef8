"""The report's charts as PNG bytes (matplotlib, Agg backend; never a window, never pyplot's global state)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from likewise.classify import ClassifierScore


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


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
