"""Make the README's screenshots: the report's first screen (headless Chromium) and a session search in a
terminal (tmux capture-pane, rendered as a terminal would show it).

    python docs/img/screenshots.py WORKSPACE RECORD_ID

WORKSPACE must be tuned and evaluated (its report is written again); needs chromium, playwright and tmux.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def terminal_capture(command: str, width: int = 110, height: int = 24) -> str:
    session = f"likewise-shot-{int(time.time())}"
    likewise = shutil.which("likewise") or str(Path(sys.executable).with_name("likewise"))
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
                    f"PATH={Path(likewise).parent}:$PATH; clear; echo '$ {command}'; {command}; sleep 60"], check=True)
    try:
        time.sleep(12)
        return subprocess.run(["tmux", "capture-pane", "-e", "-p", "-t", session], capture_output=True, text=True,
                              check=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def main(workspace: str, record_id: str) -> None:
    from playwright.sync_api import sync_playwright
    from rich.console import Console
    from rich.text import Text

    from likewise.report import build_report
    from likewise.workspace import Workspace

    report = build_report(Workspace.open(workspace))
    ansi = terminal_capture(f"likewise session -w {workspace} --from {record_id} --size 200")
    console = Console(record=True, width=110, file=open("/dev/null", "w"), force_terminal=True)
    console.print(Text.from_ansi(ansi.rstrip()))
    page_html = Path(tempfile.mkdtemp()) / "terminal.html"
    from rich.terminal_theme import MONOKAI

    page_html.write_text(console.export_html(theme=MONOKAI, inline_styles=True), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(Path(report.html).as_uri())
        page.screenshot(path=str(HERE / "report-first-screen.png"))
        page = browser.new_page(viewport={"width": 1000, "height": 420})
        page.goto(page_html.as_uri())
        page.screenshot(path=str(HERE / "session-search.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
