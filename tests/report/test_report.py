from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import make_workspace

from likewise.errors import InputError
from likewise.report import ReportOptions, build_report, gather

SECTION_IDS = ["data", "models", "evaluation", "session", "classifier", "maps", "configuration"]


# -- asked for too early --------------------------------------------------------------------------------------------
def test_report_before_tuning_names_what_to_run_first(tmp_path):
    ws = make_workspace(tmp_path / "ws", tune=False, evaluate=False)
    with pytest.raises(InputError, match=r"nothing tuned yet; run `likewise tune` and `likewise evaluate`"):
        build_report(ws)
    assert not (tmp_path / "ws" / "report").exists()


def test_report_evaluated_but_not_tuned_asks_for_tune(tmp_path):
    ws = make_workspace(tmp_path / "ws", tune=False, evaluate=True)
    with pytest.raises(InputError, match=r"run `likewise tune` first") as info:
        build_report(ws)
    assert "likewise evaluate" not in str(info.value)


def test_report_without_evaluation_says_how_to_get_the_curve(tmp_path):
    ws = make_workspace(tmp_path / "ws", tune=True, evaluate=False)
    result = build_report(ws)
    page = Path(result.html).read_text(encoding="utf-8")
    assert "Not run yet" in page and "<code>likewise evaluate</code>" in page
    assert not any(f.endswith("budget_curve.png") for f in result.figures)
    assert "Not run yet" in Path(result.markdown).read_text(encoding="utf-8")


# -- the full report ---------------------------------------------------------------------------------------------------
def test_report_writes_one_self_contained_html_and_a_markdown_twin(built_report):
    result, ws = built_report
    html, md = Path(result.html), Path(result.markdown)
    assert html.parent == md.parent and md.name == "report.md"
    page = html.read_text(encoding="utf-8")
    for section in SECTION_IDS:
        assert f'<section id="{section}">' in page
    # self-contained: images are data URIs, no stylesheet, script or image comes from elsewhere
    assert re.findall(r'<img src="([^"]{0,22})', page) == ["data:image/png;base64,"] * 3
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page) and "@import" not in page
    # the Markdown twin has the same sections in the same order, and its figures exist beside it
    titles = re.findall(r"<h2>([^<]+)</h2>", page)
    assert re.findall(r"^## (.+)$", md.read_text(encoding="utf-8"), flags=re.M) == [t.replace("&amp;", "&") for t in titles]
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text(encoding="utf-8"))
    assert sorted(Path(p).name for p in linked) == ["budget_curve.png", "confidence.png", "maps.png"]
    for path in linked:
        assert (md.parent / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in html.parent.rglob("*") if p.name.endswith(".tmp")]
    assert ws.manifest["artifacts"]["report"]["html"] == str(html)


def test_report_numbers_agree_with_their_sources(built_report):
    result, ws = built_report
    page = Path(result.html).read_text(encoding="utf-8")
    h = result.headline
    assert f"{100 * h['raw_accuracy']:.1f}%" in page and f"{100 * h['tuned_accuracy']:.1f}%" in page
    for title, knn in h["maps"].items():
        assert 0 <= knn <= 1 and title.replace("·", "&middot;") in page.replace("·", "&middot;")
    assert "160 (160 manual, 0 weak)" in page
    assert "likewise" in page and "scikit-learn" in page  # versions
    assert h["unlabeled_predicted"] == 20
    assert set(result.timings) >= {"held-out head", "classifier", "maps", "render and write"}


def test_session_example_is_a_held_out_query_with_exact_neighbours(ready_workspace):
    report = gather(ready_workspace, ReportOptions(seed=3))
    s = report.session
    assert s.query_role == "held-out" and len(s.before) == len(s.after) == 10
    data = ready_workspace.load_records()
    raw = ready_workspace.load_vectors("raw").vectors
    q = data.ids.index(s.query_id)
    scores = raw @ raw[q]
    scores[q] = -np.inf
    naive = np.argsort(-scores, kind="stable")[:10]
    assert [n.id for n in s.before] == [data.ids[i] for i in naive]
    for n in s.before + s.after:
        label = data.labels[data.ids.index(n.id)]
        assert n.hit == (None if label is None else label == s.query_label)
    assert 0 <= s.mean_hits_before <= 1 and 0 <= s.mean_hits_after <= 1


def test_report_on_a_sample_of_a_larger_workspace(workspace_copy):
    from likewise.maps import sample_points

    outside = next(f"r{i:04d}" for i in range(180) if i not in set(sample_points(180, 120, seed=0).tolist()))
    report = gather(workspace_copy, ReportOptions(max_points=120, supervised=None, query_id=outside))
    assert report.session.query_id == outside  # an asked-for query is shown even when outside the sample
    assert len(report.maps.ids) == 121
    result = build_report(workspace_copy, options=ReportOptions(max_points=120, supervised=None))
    page = Path(result.html).read_text(encoding="utf-8")
    assert "random sample of 120" in page and "180 records" in page


def test_report_unknown_query_id(workspace_copy):
    with pytest.raises(InputError, match="no record with id 'nope'"):
        build_report(workspace_copy, options=ReportOptions(query_id="nope"))
