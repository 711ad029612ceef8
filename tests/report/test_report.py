from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import make_workspace

from likewise.errors import InputError
from likewise.report import ReportOptions, build_report, gather
from likewise.workspace import Workspace

SECTION_IDS = ["data", "models", "evaluation", "session", "classifier", "maps", "timeline", "configuration"]


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
    assert re.findall(r'<img src="([^"]{0,22})', page) == ["data:image/png;base64,"] * 4
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page) and "@import" not in page
    # the Markdown twin has the same sections in the same order, and its figures exist beside it
    titles = re.findall(r"<h2>([^<]+)</h2>", page)
    assert re.findall(r"^## (.+)$", md.read_text(encoding="utf-8"), flags=re.M) == [t.replace("&amp;", "&") for t in titles]
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text(encoding="utf-8"))
    assert sorted(Path(p).name for p in linked) == ["budget_curve.png", "confidence.png", "maps.png", "timeline.png"]
    for path in linked:
        assert (md.parent / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in html.parent.rglob("*") if p.name.endswith(".tmp")]
    assert Workspace.open(ws.path).artifact("report")["html"] == str(html)


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
    data = ready_workspace.records()
    raw = ready_workspace.vectors("raw").vectors
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


# -- hostile user text ------------------------------------------------------------------------------------------------
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<!--<script>", "</script>",
           "a | b\n| c | d |", "`code` *bold* [link](http://x) ~~gone~~ $x$"]
HOSTILE_CLASS = "sp|ort <b>x</b>"  # a class name with a pipe and a tag
HOSTILE_ID = "<img src=y onerror=alert(2)>"


def hostile_dataset():
    from report_fixtures import topic_dataset

    from likewise.records import Dataset

    base = topic_dataset()
    texts = [f"{HOSTILE[i // 3 % len(HOSTILE)]} {t}" if i % 3 == 0 else t for i, t in enumerate(base.texts)]
    texts[0] = " ".join(HOSTILE) + " " + texts[0]  # the session's query: every hostile string is shown
    labels = [HOSTILE_CLASS if lab == "sport" else lab for lab in base.labels]
    ids = [HOSTILE_ID if i == 0 else rid for i, rid in enumerate(base.ids)]
    return Dataset.from_lists(texts, labels, ids=ids)


def _script_elements(page: str) -> list[str]:
    """The contents of the page's <script> elements, the way an HTML parser splits them."""
    from html.parser import HTMLParser

    class Scripts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.scripts, self.inside = [], False

        def handle_starttag(self, tag, attrs):
            if tag == "script":
                self.inside = True
                self.scripts.append("")

        def handle_endtag(self, tag):
            if tag == "script":
                self.inside = False

        def handle_data(self, data):
            if self.inside:
                self.scripts[-1] += data

    parser = Scripts()
    parser.feed(page)
    return parser.scripts


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    ws = make_workspace(tmp_path_factory.mktemp("hostile") / "ws", data=hostile_dataset())
    result = build_report(ws, options=ReportOptions(query_id=HOSTILE_ID))
    return result, Path(result.markdown).read_text(encoding="utf-8"), Path(result.html).read_text(encoding="utf-8")


def test_markdown_report_escapes_record_texts_ids_and_class_names(hostile_report):
    markdown_it = pytest.importorskip("markdown_it")
    _, md, _ = hostile_report
    assert "<" not in md  # no raw HTML at all: every < from the data is an entity
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and "&lt;!--&lt;script&gt;" in md
    assert "sp\\|ort &lt;b&gt;x&lt;/b&gt;" in md  # the class name, its pipe escaped
    # every table keeps its columns: unescaped pipes per row equal the header's
    for table in re.findall(r"(?:^\|.*\|$\n?)+", md, flags=re.M):
        counts = {len(re.findall(r"(?<!\\)\|", row)) for row in table.strip().splitlines()}
        assert len(counts) == 1, table
    # rendered as GitHub would: the hostile strings come out as text, never as elements or links
    html = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)
    for tag in ("<script", "<!--", "<b>", "<del", "<s>", 'href="http://x"'):
        assert tag not in html, tag
    # the only elements with attributes are the report's own figures and its link to the HTML page
    images = re.findall(r"<img ([^>]*)>", html)
    assert len(images) == 4 and all(re.fullmatch(r'src="report-figures/\w+\.png" alt="[^"<>]*" /', a) for a in images)
    assert re.findall(r"<a ([^>]*)>", html) == ['href="report.html"']
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "sp|ort &lt;b&gt;x&lt;/b&gt;" in html
    assert "`code` *bold* [link](http://x) ~~gone~~ $x$" in html  # Markdown syntax in texts stays literal


def test_html_report_and_map_data_survive_hostile_texts(hostile_report):
    import html
    import json

    _, _, page = hostile_report
    for raw in HOSTILE[:3] + [HOSTILE_CLASS, HOSTILE_ID]:
        assert raw not in page, raw
    assert page.count("<script") == page.count("</script>") == 2
    scripts = _script_elements(page)
    assert len(scripts) == 2  # the map data and the drawing code: no text closed or opened one
    data = json.loads(scripts[0])
    assert "<" not in scripts[0] and ">" not in scripts[0] and "&" not in scripts[0]
    assert HOSTILE_CLASS in data["classes"] and HOSTILE_ID in data["ids"]
    assert any(t.startswith("<!--<script>") for t in data["texts"])
    assert f"record {html.escape(HOSTILE_ID)}, class {html.escape(HOSTILE_CLASS)}" in page  # the session's query


def test_script_json_escapes_what_could_end_or_confuse_a_script_element():
    import json

    from likewise.report.mapview import script_json

    data = {"texts": ["</script>", "<!--<script>", "a & b > c", "line\u2028sep\u2029end", "ok"]}
    out = script_json(data)
    assert json.loads(out) == data
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in out
    assert "\\u003c/script\\u003e" in out and "\\u003c!--\\u003cscript\\u003e" in out


def test_md_text_escapes_html_and_markdown():
    from likewise.report.markdown import md_text

    assert md_text("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md_text("a|b\nc\r\nd") == "a\\|b c d"
    assert md_text("# title") == "\\# title" and md_text("- item") == "\\- item" and md_text("1. x") == "1\\. x"
    assert md_text("*a* _b_ `c` [d](e) ~f~ $g$ \\") == "\\*a\\* \\_b\\_ \\`c\\` \\[d\\](e) \\~f\\~ \\$g\\$ \\\\"
    assert md_text("AT&T 2024 fine") == "AT&amp;T 2024 fine"


def test_timeline_shows_the_logged_runs_and_labels_over_time(built_report):
    from likewise.ops.runs import list_runs

    result, ws = built_report
    page = Path(result.html).read_text(encoding="utf-8")
    section = page[page.index('<section id="timeline">'):page.index('<section id="configuration">')]
    runs = list_runs(ws)
    assert runs and all(f"<td>{r.command}</td>" in section for r in runs)
    labeled = ws.info()["labels"]["labeled"]
    assert f"{labeled:,} records labeled now" in section
