"""``likewise report``: one self-contained HTML file a team can publish, and its Markdown twin.

:func:`build_report` computes every section (:mod:`.content`), lays it out once (:mod:`.document`) and
renders it to HTML (:mod:`.html`: inline CSS and script, images as data URIs, opens without a network) and
Markdown (:mod:`.markdown`: figures as PNG files beside it). Files are written atomically.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from likewise.progress import Progress, no_progress
from likewise.report.content import ReportData, ReportOptions, gather

REPORT_DIR = "report"

__all__ = ["ReportData", "ReportOptions", "ReportResult", "build_report", "gather"]


@dataclass
class ReportResult:
    """Where the report was written, how long each step took and its headline numbers."""

    html: str
    markdown: str
    figures: list[str]
    seconds: float
    timings: dict[str, float]
    headline: dict[str, Any] = field(default_factory=dict)
    summary: str = ""  # the report's one-sentence headline, as plain text
    flags: list[str] = field(default_factory=list)  # what is partial or out of date, per the sections

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def headline(report: ReportData) -> dict[str, Any]:
    """The numbers a person looks for first: classifier accuracy, map separation, session hits."""
    c = report.classification
    out: dict[str, Any] = {f"{s.vectors}_accuracy": s.accuracy for s in c.scores}
    out.update({f"{s.vectors}_macro_f1": s.macro_f1 for s in c.scores})
    out["maps"] = {p.title: p.knn_accuracy for p in report.maps.panels}
    out["session_hits"] = {"before": report.session.hits("before"), "after": report.session.hits("after"),
                           "k": report.session.k}
    s = report.session
    out["session_example"] = {"query_id": s.query_id, "query_text": s.query_text, "query_label": s.query_label,
                              "k": s.k, "before": s.counts("before"), "after": s.counts("after")}
    out["held_out_top_10"] = {"before": report.session.mean_hits_before, "after": report.session.mean_hits_after}
    out["unlabeled_predicted"] = int(len(c.predicted))
    out["raw_vs_tuned"] = report.headline
    return out


def build_report(ws, *, out: str | Path | None = None, options: ReportOptions | None = None,
                 progress: Progress = no_progress) -> ReportResult:
    """Compute and write the report of workspace ``ws``: ``out`` (default ``<workspace>/report/report.html``),
    the Markdown twin beside it (same name, ``.md``) and its figures in ``<name>-figures/``.

    Raises :class:`likewise.errors.InputError` naming what to run first when nothing was tuned yet.
    """
    from likewise.report.document import build_document
    from likewise.report.html import render_html
    from likewise.report.markdown import render_markdown
    from likewise.atomic import atomic_write, atomic_write_text

    start = time.perf_counter()
    report = gather(ws, options, progress=progress)
    html_path = Path(out) if out is not None else ws.out_path(REPORT_DIR, "report.html")
    if html_path.suffix.lower() not in (".html", ".htm"):
        html_path = html_path.with_suffix(".html")
    md_path = html_path.with_suffix(".md")
    figures_dir = html_path.parent / f"{html_path.stem}-figures"
    render_start = time.perf_counter()
    sections = build_document(report)
    page = render_html(report, sections)
    markdown = render_markdown(report, figures_dir=figures_dir.name, html_name=html_path.name, sections=sections)
    figures = []
    for key, png in report.figures.items():
        path = figures_dir / f"{key}.png"
        atomic_write(path, lambda tmp, png=png: Path(tmp).write_bytes(png))
        figures.append(str(path))
    atomic_write_text(md_path, markdown)
    atomic_write_text(html_path, page)
    timings = {**report.timings, "render and write": round(time.perf_counter() - render_start, 3)}
    sentence = next((b.text for b in sections[0].blocks if getattr(b, "kind", "") == "headline"), "")
    flags = list(dict.fromkeys(f for source in report.sources.values() if source is not None for f in source.flags))
    result = ReportResult(str(html_path), str(md_path), figures, time.perf_counter() - start, timings, headline(report),
                        sentence.replace("`", ""), flags)
    with ws.writing("report"):
        ws.record_artifact("report", {"html": str(html_path), "markdown": str(md_path), "seconds": round(result.seconds, 2)})
    return result
