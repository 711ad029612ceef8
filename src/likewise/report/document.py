"""The report as a list of sections of neutral blocks (text, tables, figures), rendered to HTML and Markdown.

One definition of what the report says; :mod:`.html` and :mod:`.markdown` only decide how it looks, so the
two files always agree.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Union

from likewise.report.content import ReportData, seeds
from likewise.report.provenance import Source


@dataclass
class Text:
    """A paragraph. Backticks mark code spans (the report's own commands) unless ``literal``: text that holds
    user data (record texts, ids, class names) is ``literal``, shown exactly as given, backticks included.
    Renderers escape both kinds."""

    text: str
    note: bool = False  # a side remark (smaller, muted)
    literal: bool = False
    kind: str = "text"  # "source": when and by which command; "flag": partial or out of date data


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    key: str  # into ReportData.figures
    alt: str
    caption: str = ""


@dataclass
class MapView:
    """The interactive maps (HTML only; the Markdown points to the HTML file)."""


@dataclass
class Code:
    text: str


@dataclass
class SideBySide:
    tables: list[Table]


Block = Union[Text, Table, Figure, MapView, Code, SideBySide]


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _mean(cell: Any) -> str:
    if not isinstance(cell, dict):
        return ""
    spread = f" ({100 * cell['min']:.1f}–{100 * cell['max']:.1f})" if cell.get("max", 0) > cell.get("min", 0) else ""
    return f"{100 * cell['mean']:.1f}{spread}"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source_blocks(source: Source | None) -> list[Block]:
    """The line saying when and by which command a section's numbers were computed, then its flags."""
    if source is None:
        return []
    return [Text(source.sentence(), note=True, kind="source")] + [Text(f, kind="flag") for f in source.flags]


def headline_section(r: ReportData) -> Section:
    """One sentence at the top: raw vs tuned on held-out records at the stated budget, what top_k means."""
    h = r.headline
    if not h:
        return Section("headline", "In one sentence", [Text("No held-out records to score raw vs tuned vectors "
                                                             "on: label more records, then `likewise report` again.")])
    k = h["k"]
    verb = "raises" if h["tuned"] > h["raw"] else ("keeps" if h["tuned"] == h["raw"] else "lowers")
    budget = "all labels" if str(h["budget"]) == "all" else f"budget {h['budget']}"
    seeds = f", mean of {h['seeds']} seeds" if h.get("seeds", 1) > 1 else ""
    tests = f"{h['test_records']:,} " if h.get("test_records") else ""
    by = ("`likewise evaluate`" if h["by"] == "evaluate" else "this report's held-out head")
    sentence = (f"On {tests}held-out records, tuning on {h['labels']:,} labeled records ({budget}{seeds}) {verb} "
                f"top_{k} — the share of a record's {k} nearest neighbours that are in its own class — from "
                f"{pct(h['raw'])} (raw vectors) to {pct(h['tuned'])} (tuned).")
    chance = r.chance.get("top_k")
    blocks: list[Block] = [Text(sentence, kind="headline")]
    note = f"Numbers from {by}"
    if chance is not None:
        note += f"; a random neighbour shares the query's class {pct(chance)} of the time (chance)"
    blocks.append(Text(note + ".", note=True))
    source = r.sources.get("evaluation") if h["by"] == "evaluate" else r.sources.get("session")
    blocks += [b for b in source_blocks(source) if getattr(b, "kind", "") == "flag"]
    tuning = r.sources.get("tuning")
    if tuning is not None:
        blocks += source_blocks(tuning)
    return Section("headline", "In one sentence", blocks)


def data_section(r: ReportData) -> Section:
    d = r.data
    source = d["source"].get("path") or d["source"].get("dataset") or "?"
    rows = [["records", f"{d['records']:,}"], ["labeled", f"{d['labeled']:,} ({d['manual']:,} manual, {d['weak']:,} weak)"],
            ["unlabeled", f"{d['unlabeled']:,}"], ["classes", f"{len(d['classes'])}"], ["source", str(source)],
            ["encoder", str(d["encoder"])]]
    if d["confidence_threshold"] is not None:
        rows.append(["confidence filter", f"weak labels kept when confidence > {d['confidence_threshold']}; "
                     f"{d['dropped_by_confidence']:,} dropped (kept unlabeled)"])
    if d["conflicts"]:
        rows.append(["conflicting manual labels", f"{d['conflicts']:,} (kept unlabeled)"])
    if d["empty_texts"] or d["truncated_texts"]:
        rows.append(["texts", f"{d['empty_texts']:,} empty (dropped), {d['truncated_texts']:,} cut"])
    classes = Table(["class", "labeled records", "share"],
                    [[c, f"{n:,}", pct(n / max(d["labeled"], 1))] for c, n in d["classes"].items()])
    return Section("data", "Data", source_blocks(r.sources.get("data")) + [Table(["", ""], rows), classes]
                   + [Text(n, note=True) for n in r.notes])


def models_section(r: ReportData) -> Section:
    comparison = r.model_comparison
    if not comparison:
        return Section("models", "Model comparison", [Text("Not run. `likewise compare-models -m default -m hashing` "
                                                            "ranks candidate encoders on your held-out labels.", note=True)])
    k = comparison.get("k", "k")
    rows = [[str(i + 1), s["model"], str(s["dim"]), pct(s["metrics"].get("top_k")), pct(s["metrics"].get("map_at_r")),
             pct(s["metrics"].get("precision_at_1")), "cached" if s.get("texts_per_s") is None else f"{s['texts_per_s']:,.0f}"]
            for i, s in enumerate(comparison.get("results", []))]
    return Section("models", "Model comparison", source_blocks(r.sources.get("models")) + [
        Table(["rank", "model", "dim", f"top_{k}", "MAP@R", "P@1", "texts/s"], rows,
              f"Pretrained encoders on {comparison['results'][0]['test_records']:,} held-out labeled records, no tuning."
              if comparison.get("results") else "")])


def evaluation_section(r: ReportData) -> Section:
    ev = r.evaluation
    if not ev:
        return Section("evaluation", "Raw vs tuned on held-out records", [
            Text("Not run yet: `likewise evaluate` trains each method on label budgets and scores it on held-out "
                 "records; run it and then `likewise report` again for the label-budget curve.", note=True)])
    config = ev.get("config", {})
    k = config.get("k", "k")
    columns = ["method", "budget", "labels", f"top_{k}", "MAP@R", "P@1", "logreg acc", "fit s"]
    rows = [[e["method"], str(e["budget"]), f"{e['train_records']:,}", _mean(e.get("top_k")), _mean(e.get("map_at_r")),
             _mean(e.get("precision_at_1")), _mean(e.get("logreg_accuracy")), f"{e['seconds']:.1f}"]
            for e in ev.get("summary", [])]
    from likewise.report.figures import budget_ticks

    seeds_run = config.get("seeds") or []
    several = len(seeds_run) > 1
    ticks = ", ".join(name for _, name in budget_ticks(ev.get("summary", [])))
    chance = r.chance
    chance_text = (f" The dashed line is chance: {pct(chance['top_k'])} for top_{k} (a random neighbour), "
                   f"{pct(chance['logreg_accuracy'])} for accuracy (always the largest class)." if chance else "")
    band = "the shaded band is the min–max over seeds" if several else "one seed, so no band"
    return Section("evaluation", "Raw vs tuned on held-out records", source_blocks(r.sources.get("evaluation")) + [
        Text(f"Each method trained on a label budget only and scored on the held-out "
             f"{100 * config.get('test_size', 0.4):.0f}% ({config.get('labeled_records', '?')} labeled records in all), "
             f"seed{'s' if several else ''} {', '.join(str(x) for x in seeds_run)}."),
        Figure("budget_curve", "held-out metrics vs labeled training records",
               f"Budgets (labeled training records): {ticks}. Mean over seeds; {band}.{chance_text}",
               ),
        Table(columns, rows, "Percent on held-out records, mean over seeds (min–max)." if several else
              "Percent on held-out records (one seed)."),
    ])


def _mark(hit: bool | None) -> str:
    return "·" if hit is None else ("✓" if hit else "✗")


def session_section(r: ReportData) -> Section:
    s = r.session
    tables = []
    from likewise.ops.search import describe_counts

    for which, side, rows in (("before tuning (raw)", "before", s.before), ("after tuning", "after", s.after)):
        tables.append(Table(["", "same class", "score", "label", "text"],
                            [[str(i + 1), _mark(n.hit), f"{n.score:.3f}", n.label or "unlabeled", _short(n.text, 120)]
                             for i, n in enumerate(rows)], f"{which}: {describe_counts(s.counts(side))}"))
    blocks: list[Block] = source_blocks(r.sources.get("session")) + [
        Text(f"Query ({s.query_role} record {s.query_id}, class {s.query_label or 'unlabeled'}): "
             f"“{_short(s.query_text, 300)}”", literal=True),
        SideBySide(tables),
        Text("✓ same class as the query, ✗ another class, · unlabeled (neither: shares are counted among the "
             "labeled neighbours, as `likewise session compare` counts them). \"After\" uses a head trained on the "
             "training records only; the query is a record it never saw.", note=True),
    ]
    if s.mean_hits_before is not None:
        blocks.append(Text(f"Over all {s.held_out_queries:,} held-out records as queries (among each other): "
                           f"{pct(s.mean_hits_before)} of the {s.k} nearest share the query's class before tuning, "
                           f"{pct(s.mean_hits_after)} after."))
    return Section("session", "A similarity session, before and after", blocks)


def weak_label_counts(c, thresholds=(0.7, 0.9)) -> str:
    """``744 with confidence > 0.7 (held-out precision 68.0% at that threshold), ...``: every count of weak
    labels with the precision the same classifier reached above that threshold on held-out records."""
    from likewise.ops.classify import held_out_precision

    parts = []
    for t in thresholds:
        precision = held_out_precision(c, t)
        where = f"held-out precision {pct(precision)}" if precision is not None else "no held-out record that sure"
        parts.append(f"{int((c.confidences > t).sum()):,} with confidence > {t:g} ({where})")
    return ", ".join(parts)


def classifier_section(r: ReportData) -> Section:
    c = r.classification
    split = c.config["split"]
    summary = Table(["vectors", "accuracy", "macro-F1", "train", "test"],
                    [[s.vectors, pct(s.accuracy), pct(s.macro_f1), f"{s.train_records:,}", f"{s.test_records:,}"]
                     for s in c.scores],
                    f"{c.config['classifier']}, trained on the training records (budget {split['budget']}), "
                    "scored on the held-out ones.")
    classes = list(c.scores[0].per_class)
    per_class = Table(["class"] + [f"{s.vectors} {m}" for s in c.scores for m in ("precision", "recall", "F1")] + ["support"],
                      [[k] + [pct(s.per_class[k][m]) for s in c.scores for m in ("precision", "recall", "f1")]
                       + [str(c.scores[0].per_class[k]["support"])] for k in classes])
    thresholds = Table(["confidence >"] + [f"{s.vectors} {m}" for s in c.scores for m in ("kept", "precision")],
                       [[f"{row['threshold']:.2f}"] + [v for s in c.scores for v in
                        (pct(s.thresholds[i]["kept"]), pct(s.thresholds[i]["precision"]))]
                        for i, row in enumerate(c.scores[0].thresholds)],
                       "How a confidence filter trades records for precision, on held-out records.")
    n = len(c.predicted)
    predicted = (f"{n:,} unlabeled records get a predicted label from a classifier on {c.predicted_with} vectors "
                 f"trained on all labeled records: {weak_label_counts(c)}. "
                 "Export them with `likewise classify -o weak_labels.json --format refinery`."
                 if n else "Every record is labeled: there is nothing to predict.")
    return Section("classifier", "Classifier", source_blocks(r.sources.get("classifier")) + [summary, Figure("confidence", "share kept and precision vs threshold"),
                                                thresholds, per_class, Text(predicted)])


def maps_section(r: ReportData) -> Section:
    m = r.maps
    rows = [[p.title, "yes" if p.supervised else "no", pct(p.knn_accuracy),
             "–" if p.silhouette is None else f"{p.silhouette:.3f}", f"{p.seconds:.1f}"] for p in m.panels]
    blocks: list[Block] = source_blocks(r.sources.get("maps")) + [
        Text(f"{m.describe()}. Scores: kNN accuracy (10 nearest, in 2D) and silhouette, on held-out records only; "
             f"chance (largest class) is {pct(m.chance)}."),
        Figure("maps", "2D maps of raw and tuned vectors, coloured by class"),
        Table(["map", "supervised", "kNN acc (2D)", "silhouette", "s"], rows),
    ]
    gain = m.supervised_gain()
    if gain:
        blocks.append(Text(f"The supervised map ({gain['map']}) gains {100 * gain['knn_accuracy']:+.1f} points of "
                           f"held-out kNN accuracy over {gain['baseline']}."))
    blocks += [Text(n, note=True, literal=True) for n in m.notes]  # may name a class
    blocks.append(MapView())
    return Section("maps", "2D maps", blocks)


def timeline_section(r: ReportData) -> Section:
    runs = r.timeline.get("runs", [])
    labels = r.timeline.get("labels", [])
    if not runs and not labels:
        return Section("timeline", "Labels and quality over time", [Text("No label events or runs logged yet.", note=True)])
    rows = [[str(run["id"]), run["time"][:19].replace("T", " "), run["author"], run["command"],
             f"{run['labeled']:,}" if run.get("labeled") is not None else "", run["summary"],
             "" if run.get("seconds") is None else f"{run['seconds']:.1f}"] for run in runs]
    now = labels[-1]["labeled"] if labels else 0
    return Section("timeline", "Labels and quality over time", source_blocks(r.sources.get("timeline")) + [
        Text(f"{now:,} records labeled now, after {labels[-1]['events'] if labels else 0:,} label events; "
             f"{len(runs)} logged run(s) (`likewise runs`)."),
        Figure("timeline", "labels over time and quality over the label count",
               "Tune: cross-validated top_k of the trained head vs the untouched vectors; evaluate: held-out top_k "
               "at its largest budget; classify: held-out accuracy."),
        Table(["run", "time (UTC)", "author", "command", "labels", "result", "seconds"], rows),
    ])


def config_section(r: ReportData) -> Section:
    timing = Table(["step", "seconds"], [[k, f"{v:.2f}"] for k, v in r.timings.items()]
                   + [["total", f"{sum(r.timings.values()):.2f}"]])
    return Section("configuration", "Configuration, versions, timings and seeds", [
        Table(["seed of", "value"], [[k, json.dumps(v)] for k, v in seeds(r).items()]),
        Table(["package", "version"], [[k, v] for k, v in r.versions.items()]),
        timing,
        Text(f"Held-out split: {r.split['train_records']:,} training and {r.split['test_records']:,} held-out labeled "
             f"records (test size {r.split['test_size']}, budget {r.split['budget']}); head trained in "
             f"{r.split['tune_seconds']:.1f} s."),
        Code(json.dumps(r.configuration, indent=2, sort_keys=True, default=str)),
    ])


def build_document(r: ReportData) -> list[Section]:
    return [headline_section(r), data_section(r), models_section(r), evaluation_section(r), session_section(r), classifier_section(r),
            maps_section(r), timeline_section(r), config_section(r)]
