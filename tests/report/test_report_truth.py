"""The report tells the truth, read from the rendered page in a real headless Chromium: the headline, every
section dated with its command, the before/after counts equal to `likewise session compare`'s, the budgets
as ticks, and partial runs (one seed, a dropped budget, one compared model, older labels) flagged."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from likewise.records import Dataset

FAST_TUNER = {"epochs": 3, "k": 5, "patience": 2, "seed": 0}
TOPICS = ["sport", "tech", "food", "travel"]


def varied_dataset(per_class: int = 45, unlabeled: int = 40, seed: int = 0) -> Dataset:
    """Texts of a few topic words among many distinct filler words (full-rank hashing vectors)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(per_class * len(TOPICS) + unlabeled):
        topic = TOPICS[i % len(TOPICS)]
        words = [f"{topic}{j}" for j in rng.integers(0, 12, 3)] + [f"w{j}" for j in rng.integers(0, 400, 9)]
        texts.append(" ".join(words))
        labels.append(topic if i < per_class * len(TOPICS) else None)
    return Dataset.from_lists(texts, labels, ids=[f"r{i:04d}" for i in range(len(texts))])


def make(path, *, seeds=(0, 1), budgets=(40, "all")):
    from likewise.encoders import HashingEncoder
    from likewise.ops.embed import embed_into_workspace
    from likewise.ops.evaluate import evaluate_workspace
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(path, create=True)
    embed_into_workspace(ws, varied_dataset(), HashingEncoder(dim=24), source={"path": "reviews.csv"})
    tune_workspace(ws, tuner_options=dict(FAST_TUNER))
    evaluate_workspace(ws, methods=["raw", "likewise"], budgets=list(budgets), seeds=list(seeds), k=10)
    return Workspace.open(path)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    from likewise.report import build_report

    ws = make(tmp_path_factory.mktemp("truth") / "ws")
    return build_report(ws), ws




def _page(browser, html: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(Path(html).as_uri(), wait_until="load")
    return page


def _text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_headline_names_the_data_and_states_raw_vs_tuned(browser, full):
    result, ws = full
    page = _page(browser, result.html)
    assert page.locator("h1").inner_text() == "reviews.csv: raw vs tuned similarity"
    headline = _text(page, "#headline .headline")
    ev = ws.artifact_json("evaluation")
    cell = {(str(e["budget"]), e["method"]): e for e in ev["summary"]}
    raw, tuned = cell[("all", "raw")], cell[("all", "likewise")]
    assert f"{100 * raw['top_k']['mean']:.1f}% (raw vectors)" in headline
    assert f"{100 * tuned['top_k']['mean']:.1f}% (tuned)" in headline
    assert f"tuning on {tuned['train_records']:,} labeled records" in headline
    assert "top_10 — the share of a record's 10 nearest neighbours that are in its own class" in headline
    # the headline comes first: it is on the first screen
    assert page.locator("#headline").bounding_box()["y"] < 1000


def test_every_section_says_when_and_by_which_command(browser, full):
    result, ws = full
    page = _page(browser, result.html)
    sources = page.evaluate("""Array.from(document.querySelectorAll('section')).map(s =>
        [s.id, (s.querySelector('p.source') || {}).textContent || ''])""")
    dated = {sid: text for sid, text in sources}
    for sid, command in (("data", "likewise embed reviews.csv"), ("evaluation", "likewise evaluate --budgets 40,all "
                         "--seeds 0,1 -k 10"), ("session", "likewise report"), ("classifier", "likewise report"),
                         ("maps", "likewise report"), ("timeline", "likewise runs")):
        assert dated[sid].startswith(f"Computed by {command}"), (sid, dated[sid])
        assert " UTC" in dated[sid]
    written = ws.artifact("evaluation")["written"][:16].replace("T", " ")
    assert written in dated["evaluation"]
    # nothing flagged on a full run
    assert page.locator("p.flag").count() == 0


def test_before_after_counts_equal_session_compare(browser, full):
    from likewise.ops.search import compare_session

    result, ws = full
    page = _page(browser, result.html)
    captions = page.evaluate("Array.from(document.querySelectorAll('#session caption')).map(c => c.textContent)")
    query = page.evaluate("document.querySelector('#session p:not(.source)').textContent")
    query_id = query.split("record ")[1].split(",")[0]
    raw = compare_session(ws, query_id, size=10).results["raw"]
    assert captions[0] == (f"before tuning (raw): {raw['same_class']} of {raw['labeled']} labeled in the query's "
                           f"class, {raw['unlabeled']} unlabeled")
    marks = page.evaluate("Array.from(document.querySelectorAll('#session table')[0].querySelectorAll('tbody tr'))"
                          ".map(r => r.children[1].textContent)")
    assert marks.count("✓") == raw["same_class"] and marks.count("·") == raw["unlabeled"]


def test_budget_curve_has_the_budgets_as_ticks_and_chance(browser, full):
    from likewise.report.figures import budget_curve_figure

    result, ws = full
    page = _page(browser, result.html)
    caption = _text(page, "#evaluation figcaption")
    ev = ws.artifact_json("evaluation")
    n_all = max(e["train_records"] for e in ev["summary"])
    assert f"Budgets (labeled training records): 40, all = {n_all}" in caption
    assert "min–max over seeds" in caption and "chance" in caption
    fig = budget_curve_figure(ev["summary"], k=10, chance={"top_k": 0.25, "logreg_accuracy": 0.25})
    ax = fig.axes[0]
    assert [t.get_text().strip() for t in ax.get_xticklabels()] == ["40", f"all = {n_all}"]
    assert ax.get_ylim()[0] <= 25 and any(line.get_label().startswith("chance") for line in ax.get_lines())


def test_partial_and_older_runs_are_flagged(browser, tmp_path):
    from likewise.ops.labels import label_records
    from likewise.report import build_report
    from likewise.workspace import Workspace

    ws = make(tmp_path / "ws", seeds=(0,), budgets=(40, 500))
    with ws.writing("compare-models"):
        ws.record_artifact("model_comparison", {"k": 10, "results": [
            {"model": "hashing", "dim": 24, "metrics": {"top_k": 0.5}, "texts_per_s": None, "test_records": 72}]})
    label_records(ws, {"r0180": "sport"})
    result = build_report(Workspace.open(tmp_path / "ws"))
    page = _page(browser, result.html)
    flags = page.evaluate("Array.from(document.querySelectorAll('p.flag')).map(p => [p.closest('section').id, p.textContent])")
    by_section = {}
    for sid, text in flags:
        by_section.setdefault(sid, []).append(text)
    evaluation = " ".join(by_section["evaluation"])
    assert "one seed (0)" in evaluation
    assert "budget 500 has no result" in evaluation
    assert "Out of date" in evaluation
    assert "only 1 model was compared" in " ".join(by_section["models"])
    assert any("Out of date" in f for f in result.flags)
    # the curve's caption does not promise a band for one seed
    assert "one seed, so no band" in _text(page, "#evaluation figcaption")


def test_a_class_never_takes_a_method_colour():
    from likewise.report.figures import CHANCE_COLOR, GREY, METHOD_COLORS, class_colors

    colors = class_colors([f"c{i}" for i in range(60)])
    assert len(set(colors.values())) == 60
    assert not set(colors.values()) & {GREY, CHANCE_COLOR, *METHOD_COLORS.values()}


def test_report_reuses_the_maps_that_map_drew(tmp_path):
    from likewise.ops.maps import map_workspace
    from likewise.report import build_report
    from likewise.workspace import Workspace

    ws = make(tmp_path / "ws")
    drawn, _ = map_workspace(ws, seed=0)
    result = build_report(Workspace.open(tmp_path / "ws"))
    assert any("reused" in step for step in result.timings)
    html = Path(result.html).read_text(encoding="utf-8")
    assert "Computed by <code>likewise map</code>" in html
    assert [p.title for p in drawn.panels] == [m for m in result.headline["maps"]]
