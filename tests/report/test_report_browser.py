"""The report opened in a real headless Chromium: no console errors, every image and map drawn, no network.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the ``playwright`` Python package; Playwright's
own browser download is not used. The screenshot is kept in ``test-artifacts/`` (gitignored).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (apt-get install -y chromium)"),
]




def _open(browser, path: Path):
    """Open ``path`` with every request outside the file refused and recorded, console errors collected."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith("file://") and r.request.url.split("#")[0] == path.as_uri():
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('canvas[data-points-drawn]').length > 0")
    return page, errors, requests


def test_report_renders_in_chromium(browser, built_report):
    result, _ = built_report
    page, errors, requests = _open(browser, Path(result.html))
    assert errors == [] and requests == []
    images = page.evaluate("Array.from(document.images).map(i => [i.dataset.figure, i.complete, i.naturalWidth])")
    assert sorted(i[0] for i in images) == ["budget_curve", "confidence", "maps", "timeline"]
    assert all(complete and width > 100 for _, complete, width in images)
    drawn = page.evaluate("Array.from(document.querySelectorAll('canvas[data-points-drawn]'))"
                          ".map(c => Number(c.getAttribute('data-points-drawn')))")
    assert len(drawn) == 3 and all(n == 180 for n in drawn)
    # the canvas really holds colour: some pixel of the first map is neither white nor transparent
    inked = page.evaluate("""(() => { const c = document.querySelector('canvas[data-points-drawn]');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 250 || d[i + 1] < 250)) n++; return n; })()""")
    assert inked > 100
    tables = page.evaluate("Array.from(document.querySelectorAll('section table')).map(t => t.closest('section').id)")
    for section in ("data", "evaluation", "session", "classifier", "maps", "configuration"):
        assert section in tables
    # hovering a point shows its text and label
    overlay = page.locator(".lw-stack canvas:nth-child(2)").first  # the top canvas takes the mouse
    shown = ""
    for x in range(40, 400, 40):
        for y in range(40, 360, 40):
            overlay.hover(position={"x": x, "y": y})
            shown = page.evaluate("(() => { const t = document.querySelector('.lw-tip');"
                                  " return t.style.display === 'block' ? t.textContent : ''; })()")
            if shown:
                break
        if shown:
            break
    assert shown.startswith("r0") and "item" in shown
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    page.close()


def test_map_page_renders_in_chromium(browser, workspace_copy):
    from likewise.ops.maps import map_workspace

    result, written = map_workspace(workspace_copy, projections=["pca"], supervised="head2d")
    page, errors, requests = _open(browser, Path(written["html"]))
    assert errors == [] and requests == []
    drawn = page.evaluate("Array.from(document.querySelectorAll('canvas[data-points-drawn]'))"
                          ".map(c => Number(c.getAttribute('data-points-drawn')))")
    assert drawn == [180] * len(result.panels)
    legend = page.locator(".lw-legend span").all_text_contents()
    assert legend == ["food", "sport", "tech", "travel", "unlabeled"]
    page.locator(".lw-legend span").first.click()  # hide a class: fewer points drawn
    hidden = page.evaluate("Number(document.querySelector('canvas[data-points-drawn]').getAttribute('data-points-drawn'))")
    assert hidden == 180 - 40
    page.screenshot(path=str(ARTIFACTS / "maps.png"), full_page=True)
    page.close()
