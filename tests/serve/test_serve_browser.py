"""The page in a real headless Chromium (Debian's, driven by Playwright; no browser download).

A labeler opens a session on BBC News embedded with the real MiniLM, labels with the keyboard (one Shift
bulk action included), retrains, sees the rest re-ranked, reloads and finds every label; hostile record texts
and class names render as text; a browser without the token gets nothing. Screenshots go to test-artifacts/;
with ``LIKEWISE_DOCS_IMAGES=1`` the session and map screenshots also replace docs/img/serve-session.png and
docs/img/serve-map.png (the pictures docs/serve.md shows).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from serve_helpers import CHROMIUM, HOSTILE, ROOT, artifact, make_workspace

CLASSES = ["business", "entertainment", "politics", "sports", "tech"]
ROW_H = 92

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (apt-get install -y chromium)"),
]




@pytest.fixture(scope="module")
def minilm_ws(tmp_path_factory, bbc_small):
    from likewise.encoders import get_encoder

    return make_workspace(tmp_path_factory.mktemp("browser") / "ws", bbc_small, get_encoder("default", runtime="torch"))


def _page(browser, server, *, bypass_csp: bool = False, author: str | None = "ann"):
    """A page that may only talk to ``server``; console errors and outside requests are collected."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=bypass_csp)
    if author:
        context.add_init_script(f"localStorage.setItem('likewise.author', {author!r})")
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith(server.base) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page, errors, outside


def _docs_image(name: str, png: bytes) -> None:
    if os.environ.get("LIKEWISE_DOCS_IMAGES") == "1":
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        (ROOT / "docs" / "img" / name).write_bytes(png)


def _press(page, key: str, times: int = 1) -> None:
    for _ in range(times):
        page.keyboard.press(key)


def _wait(page, js: str, timeout: float = 60_000) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => {js}", timeout=timeout)
    except PlaywrightTimeout:
        page.screenshot(path=str(artifact("serve-failure.png")))
        state = page.evaluate("() => [location.hash, document.getElementById('toast').textContent, "
                              "document.getElementById('jobs').textContent]")
        raise AssertionError(f"waited {timeout / 1000:g} s for {js}; page at {state[0]}, last message "
                             f"{state[1]!r}, jobs {state[2]!r}") from None


def _focus_to(page, position: int) -> None:
    here = int(page.evaluate("() => Number(document.getElementById('rows').dataset.focus)"))
    _press(page, "j" if position > here else "k", abs(position - here))
    _wait(page, f"document.getElementById('rows').dataset.focus === '{position}'")


def _label(page, truth, position: int, *, shift: bool = False) -> None:
    """Focus ``position`` and press its true class's digit (with Shift: the bulk action)."""
    _focus_to(page, position)
    rid = page.get_attribute(f".row[data-position='{position}']", "data-id")
    digit = CLASSES.index(truth[rid]) + 1
    page.keyboard.press(f"Shift+Digit{digit}" if shift else f"Digit{digit}")
    _wait(page, f"document.querySelector(\".row[data-position='{position}']\")?.dataset.label === {truth[rid]!r} "
                f"|| document.getElementById('rows').dataset.focus !== '{position}'")


def _open_from_search(page, text: str) -> str:
    page.keyboard.press("/")
    page.fill("#find-query", text)
    page.evaluate("() => document.getElementById('find-results').replaceChildren()")  # wait for these results
    page.keyboard.press("Enter")
    page.wait_for_selector("#find-results li")
    page.keyboard.press("Enter")
    page.wait_for_selector(".row[data-position='1']")
    _wait(page, "location.hash.startsWith('#session/')")
    return page.evaluate("() => document.getElementById('rows').dataset.session")


def _session_rows(server, session_id: str) -> list[dict]:
    with server.client() as c:
        return c.get(f"/api/sessions/{session_id}", params={"limit": 1001}).json()["rows"]


def _dom_labels(page, n: int) -> dict[str, str | None]:
    """Every row's label as the page shows it (scrolling through the virtual list)."""
    seen: dict[str, str | None] = {}
    for top in range(0, n * ROW_H, 6 * ROW_H):
        page.evaluate(f"() => {{ document.getElementById('rows').scrollTop = {top}; }}")
        page.wait_for_timeout(60)
        for rid, label in page.evaluate("() => Array.from(document.querySelectorAll('.row[data-id]'))"
                                        ".map(r => [r.dataset.id, r.dataset.label])"):
            seen[rid] = label or None
    return seen


def test_a_labeler_session_with_the_keyboard_retrain_and_reload(browser, serve, minilm_ws, bbc_small):
    truth = bbc_small.truth
    server = serve(minilm_ws, "--retrain-every", "1000")
    page, errors, outside = _page(browser, server)
    page.goto(server.url)
    _wait(page, "document.body.dataset.ready === '1'")
    assert page.url == f"{server.base}/#find" or page.url.startswith(f"{server.base}/")  # the token left the URL
    assert "token=" not in page.url
    # a first session on another topic; the classes are added from the page (n), in key order 1-5
    first = True
    for query in ("football match goal striker", "software computer internet users"):
        _open_from_search(page, query)
        if first:
            for name in CLASSES:
                page.keyboard.press("n")
                page.fill("#dialog-name", name)
                page.keyboard.press("Enter")
                page.wait_for_selector(f".palette [data-class='{name}']")
            first = False
        _label(page, truth, 0)
        _wait(page, "document.getElementById('rows').dataset.reranked === '1'")  # leaning toward its class
        for position in range(1, 8):  # one key per record
            _label(page, truth, position)

    # the main session: a business start record and its 100 most similar unlabeled records
    session = _open_from_search(page, "company shares profits market investors")
    _label(page, truth, 0)  # the start record first: the unlabeled rest then leans toward its class
    _wait(page, "document.getElementById('rows').dataset.reranked === '1'")
    rows = _session_rows(server, session)
    ids = [r["id"] for r in rows]
    start_class = truth[ids[0]]
    for position in range(1, 10):
        _label(page, truth, position)
    other = next(p for p in range(20, 60) if truth[ids[p]] != start_class)
    _label(page, truth, other)  # a record of another class further down: the bulk action stops there
    _focus_to(page, 10)
    page.keyboard.press(f"Shift+Digit{CLASSES.index(start_class) + 1}")  # one key labels rows 10 .. other-1
    _wait(page, f"Number(document.getElementById('rows').dataset.focus) === {other}")
    assert [r["label"] for r in _session_rows(server, session)[10:other]] == [start_class] * (other - 10)
    for position in range(10, other):  # correct what the bulk action got wrong
        if truth[ids[position]] != start_class:
            _label(page, truth, position)
    expected = sum(truth[i] == start_class for i in ids[1:other + 1]) / other
    _wait(page, f"document.getElementById('meter').dataset.labeled === '{other}' && "
                f"Math.abs(Number(document.getElementById('meter').dataset.purity) - {expected}) < 1e-3")
    wrong = sum(truth[i] != start_class for i in ids[10:other])
    _wait(page, f"document.getElementById('meter').dataset.actions === '{10 + 1 + 1 + wrong}'")  # one key per action
    page.screenshot(path=str(artifact("serve-session-before-retrain.png")))

    # retrain on a key; the unlabeled rest is re-ranked, labeled rows stay
    page.keyboard.press("r")
    _wait(page, "document.getElementById('rows').dataset.reranked === '2'", timeout=120_000)
    _wait(page, "document.querySelector('[data-last-retrain]') !== null")
    retrain_text = page.text_content("#retrain")
    assert "cross-validated" in retrain_text and "→" in retrain_text
    after = _session_rows(server, session)
    new_ids = [r["id"] for r in after]
    assert new_ids[: other + 1] == ids[: other + 1]
    assert new_ids[other + 1:] != ids[other + 1:] and all(r["label"] is None for r in after[other + 1:])
    page.evaluate("() => { document.getElementById('rows').scrollTop = 0; }")
    page.wait_for_timeout(200)
    _docs_image("serve-session.png", page.screenshot(path=str(artifact("serve-session.png"))))

    # reload: every label is there, on the page and in the store
    given = {r["id"]: r["label"] for r in after if r["label"] is not None}
    assert len(given) == other + 1 and all(given[i] == truth[i] for i in given)
    page.reload()
    page.wait_for_selector(".row[data-position='1']")
    shown = _dom_labels(page, len(new_ids))
    assert {i: shown[i] for i in given} == given
    assert sum(v is not None for v in shown.values()) == len(given)

    # the map: raw and tuned panels; a click on a point opens its session
    page.goto(f"{server.base}/#map")
    _wait(page, "Number(document.getElementById('map-canvas').dataset.pointsDrawn) === 279", timeout=120_000)
    tabs = page.evaluate("() => Array.from(document.querySelectorAll('#map-tabs button')).map(b => b.textContent)")
    assert any(t.startswith("raw") for t in tabs) and any(t.startswith("tuned") for t in tabs)
    page.click("#map-tabs button >> nth=1")
    page.wait_for_timeout(200)
    _docs_image("serve-map.png", page.screenshot(path=str(artifact("serve-map.png"))))
    box = page.locator("#map-canvas").bounding_box()
    page.mouse.move(box["x"] + 120, box["y"] + 120)
    page.mouse.down()
    for x, y in ((700, 120), (700, 520), (120, 520), (121, 121)):
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()
    page.wait_for_selector("#map-selection:not([hidden])")
    assert "point(s) in the lasso" in page.text_content("#map-selected")
    page.click("#map-open")
    _wait(page, "location.hash.startsWith('#session/') && document.querySelector(\".row[data-position='1']\")")
    page.goto(f"{server.base}/#progress")
    _wait(page, "Number(document.getElementById('chart-quality').dataset.points) >= 2")
    page.screenshot(path=str(artifact("serve-progress.png")))
    assert errors == [] and outside == []


def test_hostile_texts_and_class_names_render_as_text(browser, serve, minilm_ws, bbc_small):
    server = serve(minilm_ws, "--no-auto-retrain")
    text_of = dict(zip(bbc_small.ids, bbc_small.texts))
    hostile_ids = [i for i in bbc_small.ids if text_of[i].startswith(tuple(HOSTILE))]
    assert len(hostile_ids) == 3
    evil_class = '<img src=x onerror="window.__pwned = \'class\'"><!--<script>'
    with server.client() as c:
        c.post("/api/classes", json={"name": evil_class})
        c.post("/api/labels", json={"labels": [{"id": hostile_ids[1], "label": evil_class}], "author": "<b>eve</b>"})
        session = c.post("/api/sessions", json={"ids": hostile_ids + bbc_small.ids[:5]}).json()
    # without the page's CSP as a safety net: what keeps these inert is that the page only writes text
    page, errors, outside = _page(browser, server, bypass_csp=True, author="<img src=x onerror=alert(1)>")
    page.goto(server.url)
    page.goto(f"{server.base}/#session/{session['id']}")
    page.wait_for_selector(".row[data-position='7']")
    rows = page.evaluate("() => Array.from(document.querySelectorAll('.row[data-id]'))"
                         ".map(r => [r.dataset.id, r.querySelector('.text').textContent, r.dataset.label])")
    assert {rid for rid, _, _ in rows} >= set(hostile_ids)
    for rid, text, label in rows:
        assert text == text_of[rid]  # exactly the characters of the record, markup included
    assert dict((rid, label) for rid, _, label in rows)[hostile_ids[1]] == evil_class
    _focus_to(page, [r[0] for r in rows].index(hostile_ids[1]))
    detail = page.text_content("#detail")
    assert "by <b>eve</b>" in detail and text_of[hostile_ids[1]] in detail
    page.keyboard.press("Digit1")  # label with the hostile class from the keyboard
    page.wait_for_timeout(300)
    chips = page.evaluate("() => Array.from(document.querySelectorAll('.chip .name')).map(n => n.textContent)")
    assert evil_class in chips
    assert page.text_content("#author-button") == "you: <img src=x onerror=alert(1)>"
    page.keyboard.press("/")
    page.fill("#find-query", hostile_ids[2])
    page.select_option("#find-mode", "id")
    page.click("#find-search")
    page.wait_for_selector("#find-results li")
    page.uncheck("#find-unlabeled")
    page.evaluate("() => document.getElementById('find-results').replaceChildren()")
    page.click("#find-browse")  # records in order: the hostile ones are among the first 50
    page.wait_for_selector("#find-results li")
    texts = page.evaluate("() => Array.from(document.querySelectorAll('#find-results .text')).map(t => t.textContent)")
    assert set(texts) <= set(text_of.values()) and all(text_of[i] in texts for i in hostile_ids)
    injected = page.evaluate("() => document.querySelectorAll('main img, main script, header img, header script').length")
    assert injected == 0 and page.evaluate("() => window.__pwned") is None
    page.screenshot(path=str(artifact("serve-hostile.png")))
    assert outside == [] and not [e for e in errors if "pwned" in e]


def test_a_page_without_the_token_gets_nothing(browser, serve, minilm_ws):
    server = serve(minilm_ws, "--no-auto-retrain")
    page, errors, outside = _page(browser, server, author=None)
    response = page.goto(f"{server.base}/")
    assert response.status == 401
    assert "token" in page.text_content("body") and page.query_selector("#rows") is None
    for path in ("/static/js/main.js", "/api/info", "/#session"):
        assert page.goto(f"{server.base}{path}").status == 401
    wrong = page.goto(f"{server.base}/?token=not-the-token")
    assert wrong.status == 401
    assert page.context.cookies() == []
