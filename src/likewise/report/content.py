"""Everything the report shows, computed once from a workspace, as plain data plus PNG figures.

Sections: the data, the model comparison (``likewise compare-models``, if run), raw vs tuned held-out
metrics and the label-budget curve (``likewise evaluate``'s ``evaluation.json``, if run), a similarity
session before/after tuning, the classifier, the 2D maps, the configuration, versions, timings and seeds.
The held-out split is the evaluation's (by seed); one head is trained on its training records only and
serves the session, the classifier and the maps (see :mod:`likewise.classify`).
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from likewise.classify import DEFAULT_C, Classification, classify_records
from likewise.evaluation import make_heldout
from likewise.errors import InputError
from likewise.maps import (DEFAULT_MAX_POINTS, DEFAULT_PROJECTIONS, DEFAULT_SUPERVISED, MapResult, make_maps,
                           sample_points)
from likewise.progress import Progress, no_progress
from likewise.report.provenance import (Source, data_source, evaluation_source, maps_source, models_source,
                                        tuning_source)
from likewise.report.session import SessionExample, session_example

VERSIONED = ("likewise", "numpy", "scikit-learn", "torch", "sentence-transformers", "onnxruntime", "matplotlib",
             "umap-learn")


@dataclass
class ReportOptions:
    """What the report computes: the evaluation's split (seed, test size, label budget), the maps, the query."""

    seed: int = 0
    test_size: float = 0.4
    budget: int | str = "all"
    projections: tuple[str, ...] = DEFAULT_PROJECTIONS
    supervised: str | None = DEFAULT_SUPERVISED
    max_points: int = DEFAULT_MAX_POINTS
    query_id: str | None = None
    k: int = 10
    C: float = DEFAULT_C

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "projections": list(self.projections), "budget": str(self.budget)}


@dataclass
class ReportData:
    title: str
    workspace: str
    generated: str
    data: dict[str, Any]
    model_comparison: dict[str, Any] | None
    evaluation: dict[str, Any] | None
    session: SessionExample
    classification: Classification
    maps: MapResult
    split: dict[str, Any]
    configuration: dict[str, Any]
    versions: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    timeline: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, Source | None] = field(default_factory=dict)  # section id -> where its numbers come from
    headline: dict[str, Any] = field(default_factory=dict)
    chance: dict[str, float] = field(default_factory=dict)
    data_name: str = ""


def versions() -> dict[str, str]:
    """Installed versions of likewise and the libraries behind the numbers (absent ones left out)."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def check_ready(ws) -> None:
    """Refuse a report on a workspace where nothing was tuned, naming what to run first."""
    if not ws.has_vectors("raw"):
        raise InputError(f"workspace {ws.path} holds no vectors yet; run `likewise embed DATA`, then `likewise tune` "
                         "and `likewise evaluate`, then `likewise report`")
    if not ws.has_vectors("tuned"):
        evaluated = ws.artifact("evaluation") is not None
        then = "" if evaluated else " and `likewise evaluate` (for the raw-vs-tuned label-budget curve)"
        raise InputError(f"workspace {ws.path} has nothing tuned yet; run `likewise tune`{then} first, "
                         "then `likewise report`")
    ws.resolve_kind("tuned")  # stale tuned vectors raise, saying why


def _data_section(ws, data) -> dict[str, Any]:
    summary = data.summary
    sources = [s for s in data.label_sources if s]
    return {
        "source": (ws.records_info() or {}).get("source", {}),
        "records": len(data),
        "labeled": int(data.labeled_mask.sum()),
        "unlabeled": int((~data.labeled_mask).sum()),
        "classes": data.class_counts(),
        "manual": sources.count("manual") + sources.count("imported"),
        "weak": sources.count("weak") + sources.count("predicted"),
        "confidence_threshold": summary.confidence_threshold,
        "dropped_by_confidence": summary.dropped_by_confidence,
        "conflicts": summary.conflicts,
        "empty_texts": summary.empty_texts,
        "truncated_texts": summary.truncated_texts,
        "encoder": (ws.vectors_info("raw") or {}).get("encoder"),
    }


def _evaluation(ws) -> dict[str, Any] | None:
    return ws.artifact_json("evaluation")


def _timeline(ws) -> dict[str, Any]:
    """Labels over time (label events) and every logged run with its quality (the run log)."""
    from likewise.ops.runs import label_timeline, list_runs, run_quality, run_summary

    runs = [{"id": r.id, "time": r.time, "author": r.author, "command": r.command,
             "labeled": r.labels.get("labeled"), "quality": run_quality(r), "summary": run_summary(r),
             "seconds": r.seconds} for r in list_runs(ws)]
    return {"labels": label_timeline(ws), "runs": runs}


def seed_count(cell: dict[str, Any]) -> int:
    from likewise.report.figures import seed_count as count

    return count(cell)


def chance_levels(class_counts: dict[str, int]) -> dict[str, float]:
    """What each metric scores for a guess that ignores the vectors: ``top_k`` (a random neighbour's chance
    of sharing the query's class, the sum of squared class shares) and accuracy (always the largest class)."""
    total = sum(class_counts.values())
    if total == 0:
        return {}
    shares = [n / total for n in class_counts.values()]
    return {"top_k": float(sum(p * p for p in shares)), "logreg_accuracy": float(max(shares))}


def headline_numbers(evaluation: dict[str, Any] | None, session: SessionExample, split: dict[str, Any],
                     budget: int | str) -> dict[str, Any]:
    """Raw vs tuned on held-out records at the stated budget: from ``likewise evaluate`` when it ran (the
    report's budget when evaluated, else the largest), else from the report's own held-out head."""
    summary = (evaluation or {}).get("summary") or []
    by = {(str(e["budget"]), e["method"]): e for e in summary if "top_k" in e}
    budgets = [str(e["budget"]) for e in sorted(summary, key=lambda e: e["train_records"])
               if ("likewise" in {m for (b, m) in by if b == str(e["budget"])}
                   and "raw" in {m for (b, m) in by if b == str(e["budget"])})]
    if budgets:
        chosen = str(budget) if str(budget) in budgets else budgets[-1]
        tuned, raw = by[(chosen, "likewise")], by[(chosen, "raw")]
        tests = [r["test_records"] for r in (evaluation or {}).get("rows", [])
                 if str(r.get("budget")) == chosen and r.get("method") == "likewise"]
        return {"by": "evaluate", "k": evaluation["config"].get("k"), "budget": chosen,
                "labels": int(tuned["train_records"]), "test_records": tests[0] if tests else None,
                "raw": raw["top_k"]["mean"], "tuned": tuned["top_k"]["mean"], "seeds": seed_count(tuned)}
    if session.mean_hits_before is None:
        return {}
    return {"by": "report", "k": min(session.k, max(session.held_out_queries - 1, 1)), "budget": split["budget"],
            "labels": split["train_records"], "test_records": session.held_out_queries,
            "raw": session.mean_hits_before, "tuned": session.mean_hits_after, "seeds": 1}


def gather(ws, options: ReportOptions | None = None, *, progress: Progress = no_progress) -> ReportData:
    """Compute every section of the report for workspace ``ws`` (nothing is written)."""
    from likewise.ops.classify import workspace_tuner_options
    from likewise.report.figures import budget_curve_png, confidence_png, maps_png, timeline_png
    from likewise.workspace import now_iso

    options = options or ReportOptions()
    check_ready(ws)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    data = ws.records()
    raw_v, tuned_v = ws.vectors("raw"), ws.vectors("tuned")
    notes = []
    shown = sample_points(len(data), options.max_points, seed=options.seed)
    if options.query_id is not None and options.query_id in data.ids:  # the asked-for query is always shown
        shown = np.union1d(shown, [data.ids.index(options.query_id)])
    if len(shown) < len(data):
        notes.append(f"The workspace holds {len(data):,} records; the classifier, the session and the maps use a "
                     f"random sample of {len(shown):,} (max_points, seed {options.seed}), each record keeping its "
                     "side of the evaluation's split.")
    raw, tuned = raw_v.vectors[shown], tuned_v.vectors[shown]
    ids = [data.ids[i] for i in shown]
    texts = [data.texts[i] for i in shown]
    labels = [data.labels[i] for i in shown]
    lap("load")

    progress(0, 4, "report: training a head on the training records")
    heldout = make_heldout(raw_v.vectors, data.labels, seed=options.seed, test_size=options.test_size,
                           budget=options.budget, tuner_options=workspace_tuner_options(ws), within=shown,
                           progress=progress)
    by_encoder = bool(tuned_v.encoder) and (ws.vectors_info("tuned") or {}).get("by") == "encoder"
    if by_encoder:
        notes.append("The tuned vectors came from a fine-tuned encoder; the classifier's 'tuned' scores and "
                     "predictions use a head trained on the training records instead (retraining the encoder per "
                     "report is too slow; `likewise classify` scores the tuned encoder itself).")
    lap("held-out head")

    progress(1, 4, "report: similarity session")
    session = session_example(ids, texts, labels, raw, heldout, k=options.k, query_id=options.query_id,
                              seed=options.seed)
    lap("similarity session")

    progress(2, 4, "report: classifier")
    # predictions with the vectors that were scored: a fine-tuned encoder's are not (see the note above)
    classification = classify_records(raw, labels, tuned=heldout.tuned if by_encoder else tuned, heldout=heldout,
                                      C=options.C)
    lap("classifier")

    progress(3, 4, "report: maps")
    from likewise.ops.maps import data_name, maps_key, stored_maps

    key = maps_key(ws, tuned=True, projections=options.projections, supervised=options.supervised,
                   max_points=options.max_points, seed=options.seed, test_size=options.test_size, budget=options.budget)
    maps = stored_maps(ws, key) if len(shown) == min(len(data), options.max_points) else None
    reused = maps is not None
    if maps is None:
        maps = make_maps(raw, labels, ids=ids, texts=texts, tuned=True, projections=options.projections,
                         supervised=options.supervised, heldout=heldout,
                         max_points=max(options.max_points, len(shown)), seed=options.seed)
    lap("maps (drawn by `likewise map`, reused)" if reused else "maps")

    evaluation = _evaluation(ws)
    timeline = _timeline(ws)
    class_counts = data.class_counts()
    chance = chance_levels(class_counts)
    figures = {"maps": maps_png(maps), "confidence": confidence_png(classification.scores),
               "timeline": timeline_png(timeline["labels"], timeline["runs"])}
    if evaluation and evaluation.get("summary"):
        figures["budget_curve"] = budget_curve_png(evaluation["summary"], k=evaluation.get("config", {}).get("k"),
                                                   chance=chance)
    else:
        notes.append("No label-budget curve: run `likewise evaluate` for raw vs tuned metrics across label budgets.")
    lap("figures")
    progress(4, 4, "report")

    comparison = ws.artifact("model_comparison")
    head = ws.artifact("head") or ws.artifact("tuned_encoder")
    configuration = {
        "report": options.to_dict(),
        "records": {k: v for k, v in (ws.records_info() or {}).items() if k not in ("classes", "ref")},
        "encoder": ws.encoder_info(),
        "vectors": {kind: {k: v for k, v in (ws.vectors_info(kind) or {}).items() if k not in ("ref", "ids_ref")}
                    for kind in ("raw", "tuned")},
        "tuning": head,
        "evaluation": evaluation.get("config") if evaluation else None,
        "classifier": classification.config,
        "maps": maps.config,
    }
    from likewise.ops.runs import list_runs

    generated = now_iso()
    runs = list_runs(ws)
    labeled_now = int(data.labeled_mask.sum())
    this_report = Source("likewise report", generated, labeled=labeled_now)
    sources = {
        "data": data_source(ws, labeled_now),
        "models": models_source(comparison),
        "evaluation": evaluation_source(evaluation, ws.artifact("evaluation"), runs,
                                        labels_seq_now=ws.store.last_seq(), labeled_now=labeled_now),
        "tuning": tuning_source(ws, runs),
        "session": this_report, "classifier": this_report,
        "maps": maps_source(ws.artifact("maps"), reused, generated),
        "timeline": Source("likewise runs", generated),
    }
    name = data_name(ws)
    return ReportData(
        title=f"{name}: raw vs tuned similarity", workspace=str(ws.path), generated=generated,
        sources=sources, chance=chance, data_name=name,
        headline=headline_numbers(evaluation, session, heldout.describe(), options.budget),
        data=_data_section(ws, data), model_comparison=comparison, evaluation=evaluation, session=session,
        classification=classification, maps=maps, split=heldout.describe(), configuration=configuration,
        versions=versions(), timings=timings, figures=figures, notes=notes, timeline=timeline,
    )


def seeds(report: ReportData) -> dict[str, Any]:
    """Every seed behind the numbers."""
    evaluation_seeds = (report.evaluation or {}).get("config", {}).get("seeds")
    tuning = (report.configuration.get("tuning") or {}).get("config", {})
    return {"split, budget, held-out head, query, maps": report.split["seed"],
            "workspace head (likewise tune)": tuning.get("seed"),
            "evaluation (likewise evaluate)": evaluation_seeds}

