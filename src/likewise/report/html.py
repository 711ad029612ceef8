"""The report as ONE self-contained HTML file: inline CSS and script, images as data URIs, no network."""
from __future__ import annotations

import base64
import html

from likewise.report.content import ReportData
from likewise.report.document import Block, Code, Figure, MapView, Section, SideBySide, Table, Text, build_document
from likewise.report.mapview import MAP_CSS, map_fragment

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;margin:0;background:#fafafa}
main{max-width:1320px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:20px;margin:36px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
nav a{margin-right:14px;color:#0b5cad;text-decoration:none}.meta{color:#666;font-size:13px}
table{border-collapse:collapse;margin:10px 0 16px;font-size:13.5px;background:#fff}
th,td{border:1px solid #e1e1e1;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f2f2f2}
caption{caption-side:top;text-align:left;color:#444;font-size:13px;padding:4px 0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666;font-size:13px}.side{display:flex;gap:18px;flex-wrap:wrap}.side table{max-width:640px}
img{max-width:100%;height:auto;border:1px solid #eee;background:#fff}
figure{margin:12px 0}figcaption{color:#555;font-size:13px}
pre{background:#f4f4f4;padding:12px;overflow:auto;font-size:12px;max-height:420px;border:1px solid #e5e5e5}
.headline{font-size:18px;line-height:1.45;margin:14px 0 4px;max-width:980px}
.source{margin:-4px 0 8px}.flag{background:#fff4d6;border-left:4px solid #d9a400;padding:6px 10px;margin:8px 0}
.hit{color:#1a7f37;font-weight:600}.miss{color:#c62828;font-weight:600}
"""


def _cell(value: str, header: bool = False) -> str:
    tag = "th" if header else "td"
    css = ""
    if not header:
        stripped = value.replace("%", "").replace(",", "").replace("+", "").replace("–", "").strip()
        if stripped.replace(".", "", 1).lstrip("-").isdigit():
            css = ' class="num"'
        elif value == "✓":
            css = ' class="hit"'
        elif value == "✗":
            css = ' class="miss"'
    return f"<{tag}{css}>{html.escape(value)}</{tag}>"


def _table(t: Table) -> str:
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    head = "" if not any(t.columns) else "<thead><tr>" + "".join(_cell(c, True) for c in t.columns) + "</tr></thead>"
    body = "".join("<tr>" + "".join(_cell(str(v)) for v in row) + "</tr>" for row in t.rows)
    return f"<table>{caption}{head}<tbody>{body}</tbody></table>"


def _inline_code(text: str) -> str:
    """Escape, then show `backticked` spans as code."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _block(block: Block, report: ReportData) -> str:
    if isinstance(block, Text):
        body = html.escape(block.text) if block.literal else _inline_code(block.text)
        css = " ".join(c for c in ("note" if block.note else "", block.kind if block.kind != "text" else "") if c)
        return f'<p class="{css}">{body}</p>' if css else f"<p>{body}</p>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, SideBySide):
        return '<div class="side">' + "".join(_table(t) for t in block.tables) + "</div>"
    if isinstance(block, Figure):
        png = report.figures.get(block.key)
        if png is None:
            return ""
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        caption = f"<figcaption>{html.escape(block.caption)}</figcaption>" if block.caption else ""
        return f'<figure><img src="{uri}" alt="{html.escape(block.alt)}" data-figure="{block.key}">{caption}</figure>'
    if isinstance(block, MapView):
        return ("<h3>Interactive maps</h3><p class=\"note\">Hover a point for its text and label (it is ringed on "
                "every map); click a class to hide it.</p>" + map_fragment(report.maps))
    if isinstance(block, Code):
        return f"<pre>{html.escape(block.text)}</pre>"
    raise TypeError(f"unknown block {type(block).__name__}")


def _section(section: Section, report: ReportData) -> str:
    body = "\n".join(_block(b, report) for b in section.blocks)
    return f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>\n{body}\n</section>'


def render_html(report: ReportData, sections: list[Section] | None = None) -> str:
    sections = sections or build_document(report)
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(report.title)}</title>
<style>{CSS}{MAP_CSS}</style></head>
<body><main>
<h1>{html.escape(report.title)}</h1>
<p class="meta">Workspace {html.escape(report.workspace)} · generated {html.escape(report.generated.replace('T', ' ')[:16])} UTC ·
likewise {html.escape(report.versions.get('likewise', '?'))} · self-contained: opens without a network</p>
<nav>{nav}</nav>
{''.join(_section(s, report) for s in sections)}
</main></body></html>
"""
