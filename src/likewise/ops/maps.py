"""``likewise map`` on a workspace: raw and tuned 2D maps as a PNG and an interactive page.

The maps are stored with what they were drawn from (the vectors' content, the labels' sequence number and
the options), so ``likewise report`` shows the maps ``likewise map`` drew for the same vectors and labels
instead of drawing them again (:func:`stored_maps`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from likewise.atomic import atomic_write_bytes, atomic_write_text
from likewise.maps import DEFAULT_MAX_POINTS, DEFAULT_PROJECTIONS, DEFAULT_SUPERVISED, MapResult, make_maps
from likewise.progress import Progress, no_progress
from likewise.workspace import Workspace

MAPS_DIR = "maps"


def maps_key(ws: Workspace, *, tuned: bool, projections, supervised: str | None, max_points: int, seed: int,
             test_size: float, budget: int | str) -> dict[str, Any]:
    """What a set of maps depends on: equal keys, equal maps."""
    return {"raw": (ws.vectors_info("raw") or {}).get("content"),
            "tuned": (ws.vectors_info("tuned") or {}).get("content") if tuned else None,
            "labels_seq": ws.store.last_seq(), "projections": list(projections), "supervised": supervised,
            "max_points": int(max_points), "seed": int(seed), "test_size": float(test_size), "budget": str(budget)}


def stored_maps(ws: Workspace, key: dict[str, Any]) -> MapResult | None:
    """The maps ``likewise map`` stored for exactly ``key``, or None (none yet, other vectors, labels or options)."""
    entry = ws.artifact("maps")
    if not entry or entry.get("key") != key:
        return None
    data = ws.artifact_json("maps")
    if not data or "points" not in data:
        return None
    return MapResult.from_dict(data, ws.records().texts)


def map_workspace(
    ws: Workspace,
    *,
    html: str | None = None,
    png: str | None = None,
    heldout=None,
    progress: Progress = no_progress,
    **options: Any,
) -> tuple[MapResult, dict[str, str]]:
    """:func:`make_maps` on a workspace (tuned maps when ``likewise tune`` ran), written as a PNG and an
    interactive HTML page (default: ``maps/maps.png`` and ``maps/maps.html`` in the workspace).

    Returns the result and the paths written; the maps are stored (artifact ``maps``) for the report.
    """
    from likewise.ops.classify import workspace_tuner_options
    from likewise.report.figures import maps_png
    from likewise.report.mapview import map_page

    data = ws.records()
    raw = ws.vectors("raw")
    options.setdefault("tuned", ws.has_vectors("tuned") and not ws.stale_reason("tuned"))
    options.setdefault("projections", DEFAULT_PROJECTIONS)
    options.setdefault("supervised", DEFAULT_SUPERVISED)
    key = maps_key(ws, tuned=options["tuned"], projections=options["projections"], supervised=options["supervised"],
                   max_points=options.get("max_points", DEFAULT_MAX_POINTS), seed=options.get("seed", 0),
                   test_size=options.get("test_size", 0.4), budget=options.get("budget", "all"))
    result = make_maps(raw.vectors, data.labels, ids=data.ids, texts=data.texts, heldout=heldout,
                       tuner_options=workspace_tuner_options(ws), progress=progress, **options)
    png_path = Path(png) if png else ws.out_path(MAPS_DIR, "maps.png")
    html_path = Path(html) if html else ws.out_path(MAPS_DIR, "maps.html")
    title = f"likewise maps: {data_name(ws)}"
    atomic_write_bytes(png_path, maps_png(result), create_folder=png is None)
    atomic_write_text(html_path, map_page(result, title=title), create_folder=html is None)
    written = {"png": str(png_path), "html": str(html_path)}
    with ws.writing("map"):
        ws.record_artifact("maps", {"ref": ws.put_json(result.to_dict(points=heldout is None)), "key": key, **written})
    return result, written


def data_name(ws: Workspace) -> str:
    """What the data is called, for titles: the bundled dataset's name or the records file's name."""
    source = (ws.records_info() or {}).get("source", {})
    if source.get("dataset"):
        return str(source["dataset"])
    path = str(source.get("path") or "")
    if path.startswith("bundled:"):
        return path.split(":", 1)[1]
    if path and path != "-":
        return Path(path).name
    return ws.path.name
