"""``likewise map`` on a workspace: raw and tuned 2D maps as a PNG and an interactive page."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from likewise.atomic import atomic_write_bytes, atomic_write_text
from likewise.maps import MapResult, make_maps
from likewise.progress import Progress, no_progress
from likewise.workspace import Workspace

MAPS_DIR = "maps"


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

    Returns the result and the paths written; the scores are stored (artifact ``maps``).
    """
    from likewise.ops.classify import workspace_tuner_options
    from likewise.report.figures import maps_png
    from likewise.report.mapview import map_page

    data = ws.records()
    raw = ws.vectors("raw")
    options.setdefault("tuned", ws.has_vectors("tuned") and not ws.stale_reason("tuned"))
    result = make_maps(raw.vectors, data.labels, ids=data.ids, texts=data.texts, heldout=heldout,
                       tuner_options=workspace_tuner_options(ws), progress=progress, **options)
    png_path = Path(png) if png else ws.out_path(MAPS_DIR, "maps.png")
    html_path = Path(html) if html else ws.out_path(MAPS_DIR, "maps.html")
    atomic_write_bytes(png_path, maps_png(result), create_folder=png is None)
    atomic_write_text(html_path, map_page(result, title=f"likewise maps: {ws.path.name}"), create_folder=html is None)
    written = {"png": str(png_path), "html": str(html_path)}
    with ws.writing("map"):
        ws.record_artifact("maps", {"ref": ws.put_json(result.to_dict()), **written})
    return result, written
