"""``likewise classify``, ``likewise map`` and ``likewise report``: see the tuned space and share it."""
from __future__ import annotations

import click

from likewise.cli.options import workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, stdout, table, wants_json


def _budget(value: str) -> int | str:
    if value == "all":
        return "all"
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter(f"{value!r} is not a positive number or 'all'")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def split_options(function):
    """--seed, --test-size and --budget: the evaluation's held-out split."""
    function = click.option("--budget", default="all", show_default=True,
                            help="Labeled training records (stratified from the training pool), or 'all'.")(function)
    function = click.option("--test-size", type=float, default=0.4, show_default=True,
                            help="Share of labeled records held out (as in `likewise evaluate`).")(function)
    function = click.option("--seed", type=int, default=0, show_default=True,
                            help="Seed of the held-out split, the budget and the held-out head.")(function)
    return function


def _supervised(value: str) -> str | None:
    return None if value == "none" else value


@click.command("classify")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Write every record with its label; predictions carry a confidence (.csv, .jsonl, .json = refinery).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "refinery"]), default=None,
              help="Export format (default: from the extension).")
@click.option("--attribute", default="text", show_default=True, help="Refinery export: the text attribute's name.")
@click.option("--task", default="likewise", show_default=True, help="Refinery export: the labeling task's name.")
@click.option("--min-confidence", type=float, default=None,
              help="Export only predictions with a confidence above this (default: all, so you can filter later).")
@click.option("--predictions-only", is_flag=True, help="Export the predicted records only, not the labeled ones.")
@click.option("--predict-with", type=click.Choice(["auto", "raw", "tuned"]), default="auto", show_default=True,
              help="Vectors for the predictions; auto = those with the better held-out accuracy.")
@click.option("--C", "C", type=float, default=10.0, show_default=True, help="Inverse regularisation of the classifier.")
@split_options
@workspace_option
@json_option
@quiet_option
def classify_command(out, fmt, attribute, task, min_confidence, predictions_only, predict_with, C, seed, test_size,
                     budget, workspace, as_json, quiet) -> None:
    """Train a classifier on raw vs tuned vectors, score it on held-out records, label the unlabeled ones.

    A logistic regression is trained on the labeled records of the evaluation's split and scored on the
    held-out ones (accuracy, macro-F1, per class, and how a confidence threshold trades records for
    precision). The tuned vectors for that score come from a head trained on the training records only, so
    nothing leaks. Then every unlabeled record gets a predicted label and a confidence, exported as weak
    labels that `likewise embed` (or refinery) reads back with a confidence filter.

    \b
    Example:
      likewise classify
      likewise classify -o weak_labels.csv
      likewise classify -o weak_labels.json --format refinery --task topic --min-confidence 0.7
      likewise embed weak_labels.csv --label-column label --confidence-column confidence --min-confidence 0.7 -w ws2
    """
    from likewise.ops.classify import classify_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    with progress_bar(quiet) as progress:
        result = classify_workspace(ws, export=out, export_format=fmt, attribute=attribute, task=task,
                                    min_confidence=min_confidence, include_labeled=not predictions_only,
                                    seed=seed, test_size=test_size, budget=_budget(budget), C=C,
                                    predict_with=predict_with, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    c = result.classification
    split = c.config["split"]
    stdout.print(table(f"Classifier on {split['test_records']:,} held-out records (trained on {split['train_records']:,})",
                       ["vectors", "accuracy", "macro-F1"], [[s.vectors, _pct(s.accuracy), _pct(s.macro_f1)] for s in c.scores]))
    rows = [[f"> {row['threshold']:.2f}"] + [v for s in c.scores for v in (_pct(s.thresholds[i]["kept"]),
                                                                          _pct(s.thresholds[i]["precision"]))]
            for i, row in enumerate(c.scores[0].thresholds)]
    stdout.print(table("Confidence filter on held-out records (% kept, % correct among them)",
                       ["confidence"] + [f"{s.vectors} {m}" for s in c.scores for m in ("kept", "precision")], rows))
    above = result.weak.predicted_count(0.7)
    stdout.print(f"{len(c.predicted):,} unlabeled records predicted with {c.predicted_with} vectors; {above:,} with "
                 "confidence > 0.7.", highlight=False)
    if result.export:
        note(f"Wrote {result.export['records']:,} records ({result.export['predicted']:,} predicted) to "
             f"{result.export['path']} ({result.export['format']}).", quiet=quiet)


@click.command("map")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Interactive HTML page (default: <workspace>/maps/maps.html).")
@click.option("--png", type=click.Path(dir_okay=False), default=None, help="Static PNG (default: <workspace>/maps/maps.png).")
@click.option("-p", "--projection", "projections", multiple=True, type=click.Choice(["pca", "umap"]),
              help="Unsupervised projection, repeatable (default: pca and umap; umap needs likewise[umap]).")
@click.option("--supervised", type=click.Choice(["umap_supervised", "head2d", "none"]), default="umap_supervised",
              show_default=True, help="Supervised map, fitted on the training records' labels only.")
@click.option("--max-points", type=int, default=20_000, show_default=True,
              help="Larger datasets are shown as a random sample of this size.")
@split_options
@workspace_option
@json_option
@quiet_option
def map_command(out, png, projections, supervised, max_points, seed, test_size, budget, workspace, as_json,
                quiet) -> None:
    """Draw 2D maps of raw and tuned vectors side by side, coloured by class, with separation scores.

    Every map is scored on held-out records only (kNN accuracy in 2D and silhouette); unlabeled records
    are grey. The supervised map sees the labels of the training records only, so its gain is honest.
    Writes a PNG and a self-contained interactive HTML page (hover a point to read its text).

    \b
    Example:
      likewise map
      likewise map -p pca --supervised head2d -o maps.html --png maps.png
      likewise map --max-points 5000 --budget 100
    """
    from likewise.ops.maps import map_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    with progress_bar(quiet) as progress:
        result, written = map_workspace(ws, html=out, png=png, projections=list(projections) or ["pca", "umap"],
                                        supervised=_supervised(supervised), max_points=max_points, seed=seed,
                                        test_size=test_size, budget=_budget(budget), progress=progress)
    if wants_json(as_json):
        print_json({**result.to_dict(), "written": written})
        return
    for line in result.notes:
        note(line, quiet=quiet)
    rows = [[p.title, _pct(p.knn_accuracy), "" if p.silhouette is None else f"{p.silhouette:.3f}", f"{p.seconds:.1f}"]
            for p in result.panels]
    stdout.print(table(f"Separation on held-out records ({result.describe()})",
                       ["map", "kNN acc (2D)", "silhouette", "s"], rows))
    gain = result.supervised_gain()
    if gain:
        stdout.print(f"Supervised map: {100 * gain['knn_accuracy']:+.1f} points of kNN accuracy over {gain['baseline']}"
                     f" (chance {_pct(result.chance)}).", highlight=False)
    note(f"Wrote {written['html']} and {written['png']}", quiet=quiet)


@click.command("report")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file (default: <workspace>/report/report.html); the Markdown twin is written beside it.")
@click.option("-p", "--projection", "projections", multiple=True, type=click.Choice(["pca", "umap"]),
              help="Unsupervised map projection, repeatable (default: pca; umap is slower and needs likewise[umap]).")
@click.option("--supervised", type=click.Choice(["head2d", "umap_supervised", "none"]), default="head2d",
              show_default=True, help="Supervised map, fitted on the training records' labels only.")
@click.option("--max-points", type=int, default=20_000, show_default=True,
              help="Larger datasets are reported on a random sample of this size.")
@click.option("--query", "query_id", default=None, help="Record id for the before/after example (default: a held-out record).")
@split_options
@workspace_option
@json_option
@quiet_option
def report_command(out, projections, supervised, max_points, query_id, seed, test_size, budget, workspace, as_json,
                   quiet) -> None:
    """Write one self-contained HTML report (and a Markdown twin) a team can publish.

    The data and labels, the model comparison, raw vs tuned held-out metrics with the label-budget curve,
    a similarity search before and after tuning, the classifier, the 2D maps, and the exact configuration,
    versions, timings and seeds. The HTML opens without a network (images and scripts are inline). Run
    `likewise tune` (and `likewise evaluate` for the curve) first.

    \b
    Example:
      likewise report
      likewise report -o team-report.html --budget 100
      likewise report -p pca -p umap --supervised umap_supervised --query bbc-0042
    """
    from likewise.report import ReportOptions, build_report
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    options = ReportOptions(seed=seed, test_size=test_size, budget=_budget(budget),
                            projections=tuple(projections) or ("pca",), supervised=_supervised(supervised),
                            max_points=max_points, query_id=query_id)
    with progress_bar(quiet) as progress:
        result = build_report(ws, out=out, options=options, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    h = result.headline
    rows = [[kind, _pct(h.get(f"{kind}_accuracy")), _pct(h.get(f"{kind}_macro_f1"))] for kind in ("raw", "tuned")]
    stdout.print(table("Classifier on held-out records", ["vectors", "accuracy", "macro-F1"], rows))
    stdout.print(f"Wrote {result.html} and {result.markdown} in {result.seconds:.1f} s.", highlight=False)


def register(group: click.Group) -> None:
    for command in (classify_command, map_command, report_command):
        group.add_command(command)
