"""``likewise map``: 2D maps of raw and tuned vectors."""
from __future__ import annotations

import click

from likewise.cli.options import map_options, parse_budget, split_options, supervised_choice, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, share, stdout, table, wants_json
from likewise.maps import DEFAULT_PROJECTIONS


@click.command("map")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Interactive HTML page (default: <workspace>/maps/maps.html).")
@click.option("--png", type=click.Path(dir_okay=False), default=None, help="Static PNG (default: <workspace>/maps/maps.png).")
@map_options
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
    start = "UMAP (the first run compiles, ~20 s)" if "umap" in projections else "reading the workspace"
    with progress_bar(quiet, start) as progress:
        result, written = map_workspace(ws, html=out, png=png, projections=list(projections) or list(DEFAULT_PROJECTIONS),
                                        supervised=supervised_choice(supervised), max_points=max_points, seed=seed,
                                        test_size=test_size, budget=parse_budget(budget), progress=progress)
    if wants_json(as_json):
        print_json({**result.to_dict(), "written": written})
        return
    for line in result.notes:
        note(line, quiet=quiet)
    render_maps(result)
    note(f"Wrote {written['html']} and {written['png']}", quiet=quiet)


def render_maps(result, console=None) -> None:
    console = console or stdout
    rows = [[p.title, share(p.knn_accuracy), "" if p.silhouette is None else f"{p.silhouette:.3f}", f"{p.seconds:.1f}"]
            for p in result.panels]
    console.print(table(f"Separation on held-out records ({result.describe()})",
                        ["map", "kNN accuracy (2D)", "silhouette", "seconds"], rows))
    gain = result.supervised_gain()
    if gain:
        console.print(f"Supervised map: {100 * gain['knn_accuracy']:+.1f} points of kNN accuracy over "
                      f"{gain['baseline']} (chance {share(result.chance)}).", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(map_command)
