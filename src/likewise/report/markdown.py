"""The report's Markdown twin: the same sections as the HTML, figures as PNG files in a folder beside it."""
from __future__ import annotations

from likewise.report.content import ReportData
from likewise.report.document import Block, Code, Figure, MapView, Section, SideBySide, Table, Text, build_document


def _escape(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> str:
    columns = [c or " " for c in t.columns]
    lines = [f"*{t.caption}*", ""] if t.caption else []
    lines.append("| " + " | ".join(_escape(c) for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(_escape(v) for v in row) + " |" for row in t.rows]
    return "\n".join(lines)


def _block(block: Block, report: ReportData, figures_dir: str, html_name: str) -> str:
    if isinstance(block, Text):
        return f"*{block.text}*" if block.note else block.text
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, SideBySide):
        return "\n\n".join(_table(t) for t in block.tables)
    if isinstance(block, Figure):
        if block.key not in report.figures:
            return ""
        caption = f"\n\n*{block.caption}*" if block.caption else ""
        return f"![{block.alt}]({figures_dir}/{block.key}.png){caption}"
    if isinstance(block, MapView):
        return f"Interactive maps (hover for texts): open [{html_name}]({html_name})."
    if isinstance(block, Code):
        return f"```json\n{block.text}\n```"
    raise TypeError(f"unknown block {type(block).__name__}")


def render_markdown(report: ReportData, *, figures_dir: str, html_name: str,
                    sections: list[Section] | None = None) -> str:
    """Markdown with images linked from ``figures_dir`` (relative to the Markdown file)."""
    sections = sections or build_document(report)
    out = [f"# {report.title}", "",
           f"Workspace `{report.workspace}` · generated {report.generated} · likewise {report.versions.get('likewise', '?')}",
           ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            text = _block(b, report, figures_dir, html_name)
            if text:
                out += [text, ""]
    return "\n".join(out).rstrip() + "\n"
