"""``likewise report``: one self-contained HTML report and its Markdown twin."""
from __future__ import annotations

import click

from likewise.cli.options import map_options, parse_budget, split_options, supervised_choice, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, stdout, wants_json
from likewise.maps import DEFAULT_PROJECTIONS


@click.command("report")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file (default: <workspace>/report/report.html); the Markdown twin is written beside it.")
@map_options
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
    options = ReportOptions(seed=seed, test_size=test_size, budget=parse_budget(budget),
                            projections=tuple(projections) or DEFAULT_PROJECTIONS, supervised=supervised_choice(supervised),
                            max_points=max_points, query_id=query_id)
    with progress_bar(quiet, "reading the workspace") as progress:
        result = build_report(ws, out=out, options=options, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    render_report(result)


def render_report(result, console=None) -> None:
    """The report's headline sentence and flags, then where it was written."""
    console = console or stdout
    if result.summary:
        console.print(result.summary, highlight=False)
    for flag in result.flags:
        note(f"Note: {flag}")
    console.print(f"Wrote {result.html} and {result.markdown} in {result.seconds:.1f} s.", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(report_command)
