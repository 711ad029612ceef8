"""The report's Markdown twin: the same sections as the HTML, figures as PNG files in a folder beside it.

Every string is escaped for Markdown (:func:`md_text`): record texts, ids and class names come from the
user's data, and a record reading ``<script>`` or ``| x |`` must show as those characters, not become HTML
or a table cell. Only the report's own code spans (backticks in a non-literal :class:`Text`) stay code.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from likewise.report.content import ReportData
from likewise.report.document import Block, Code, Figure, MapView, Section, SideBySide, Table, Text, build_document
from likewise.report.mapview import html_safe_json

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN = set("\\`*_[]|~$")  # inline syntax, GitHub's included: ~strike~, $math$, |table cells|
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x0b\x0c\x85]")
_BLOCK_START = re.compile(r"^(\s*)([-+=#]|\d+)([.)]?)")  # a list, heading, rule or numbered list at line start


def md_text(value: object) -> str:
    """``value`` as literal Markdown text on one line: HTML special characters as entities, Markdown
    punctuation backslash-escaped, line breaks as spaces (a table row or a paragraph stays one).

    >>> print(md_text("<b>a|b</b>\\n# *c*"))
    &lt;b&gt;a\\|b&lt;/b&gt; # \\*c\\*
    """
    text = _LINE_BREAKS.sub(" ", str(value))
    text = "".join(_HTML.get(ch) or (f"\\{ch}" if ch in _MARKDOWN else ch) for ch in text)
    return _BLOCK_START.sub(_escape_block_start, text, count=1)


def _escape_block_start(m: re.Match[str]) -> str:
    space, mark, dot = m.groups()
    if mark.isdigit():  # "1." or "1)" starts a numbered list: escape the punctuation (a backslash-digit is literal)
        return f"{space}{mark}\\{dot}" if dot else m.group(0)
    return f"{space}\\{mark}{dot}"


def _inline(text: str) -> str:
    """The report's own text: backticked spans are code (their content is never user data), the rest escaped."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: nothing is code
        return md_text(text)
    return "".join(f"`{p}`" if i % 2 else md_text(p) for i, p in enumerate(parts))


def _text(block: Text) -> str:
    body = md_text(block.text) if block.literal else _inline(block.text)
    if block.kind == "flag" and body:
        return f"> **Note:** {body}"
    if block.kind == "headline" and body:
        return f"**{body}**"
    return f"*{body}*" if block.note and body else body


def _fence(text: str) -> str:
    """A fenced JSON block whose fence is longer than any run of backticks inside (so nothing closes it),
    with ``<``, ``>`` and ``&`` as JSON escapes (a viewer that ignores the fence still shows no HTML)."""
    text = html_safe_json(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}json\n{text}\n{fence}"


def _link(path: str) -> str:
    return quote(path, safe="/")


def _table(t: Table) -> str:
    columns = [c or " " for c in t.columns]
    lines = [f"*{md_text(t.caption)}*", ""] if t.caption else []
    lines.append("| " + " | ".join(md_text(c) for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in t.rows]
    return "\n".join(lines)


def _block(block: Block, report: ReportData, figures_dir: str, html_name: str) -> str:
    if isinstance(block, Text):
        return _text(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, SideBySide):
        return "\n\n".join(_table(t) for t in block.tables)
    if isinstance(block, Figure):
        if block.key not in report.figures:
            return ""
        caption = f"\n\n*{md_text(block.caption)}*" if block.caption else ""
        return f"![{md_text(block.alt)}]({_link(f'{figures_dir}/{block.key}.png')}){caption}"
    if isinstance(block, MapView):
        return f"Interactive maps (hover for texts): open [{md_text(html_name)}]({_link(html_name)})."
    if isinstance(block, Code):
        return _fence(block.text)
    raise TypeError(f"unknown block {type(block).__name__}")


def render_markdown(report: ReportData, *, figures_dir: str, html_name: str,
                    sections: list[Section] | None = None) -> str:
    """Markdown with images linked from ``figures_dir`` (relative to the Markdown file)."""
    sections = sections or build_document(report)
    out = [f"# {md_text(report.title)}", "",
           f"Workspace {md_text(report.workspace)} · generated {md_text(report.generated)} · "
           f"likewise {md_text(report.versions.get('likewise', '?'))}",
           ""]
    for s in sections:
        out += [f"## {md_text(s.title)}", ""]
        for b in s.blocks:
            text = _block(b, report, figures_dir, html_name)
            if text:
                out += [text, ""]
    return "\n".join(out).rstrip() + "\n"
