"""Every repository path named in the docs, and in comments and strings of the code, exists.

Scanned: README.md, docs/*.md, bench/*.md, and the comments and string literals (docstrings included) of
every .py file under src/ and bench/. A path is a token that starts with a top folder of the repository
(``src/``, ``bench/``, ``docs/``, ``tests/``, ``scripts/``), e.g. ``bench/RESULTS.md`` or
``src/likewise/tuning/``; globs (``bench/*.md``) must match something. A bare Markdown file name
(``RESULTS.md``) must name a file of the repository, unless it is a file likewise writes for the user.
"""
from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_FOLDERS = ("src", "bench", "docs", "tests", "scripts")
PATH = re.compile(r"(?<![\w./~-])((?:%s)/[\w.*/-]*)" % "|".join(TOP_FOLDERS))
BARE_MD = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")
WRITTEN_FOR_THE_USER = {"MODEL_CARD.md", "report.md"}  # outputs likewise writes, not files of the repository

# Stale paths in files whose owners have yet to fix them: (file, path). Remove an entry once fixed (the
# second test below fails to say so); never add one for a file you can edit, fix the path instead.
KNOWN_STALE: set[tuple[str, str]] = set()


def _documents() -> list[Path]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "bench").glob("*.md"))]
    code = [*sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "bench").glob("*.py"))]
    return [p for p in docs + code if p.is_file()]


def _prose(path: Path) -> str:
    """A Markdown file whole; of a Python file, its comments and string literals."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return text
    parts = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING):
            parts.append(token.string)
        elif token.type == getattr(tokenize, "FSTRING_MIDDLE", None):  # Python 3.12+: f-string text
            parts.append(token.string)
    return "\n".join(parts)


def paths_in(text: str) -> list[str]:
    """The repository paths a text names (trailing sentence punctuation dropped)."""
    return [match.group(1).rstrip(".,:;)") for match in PATH.finditer(text)]


def _exists(name: str) -> bool:
    if any(ch in name for ch in "*?["):
        return any(ROOT.glob(name))
    return (ROOT / name).exists()


def mentioned_paths() -> dict[tuple[str, str], bool]:
    """(file, path named in it) -> whether the path exists."""
    repo_md = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts and "egg-info" not in str(p)}
    found: dict[tuple[str, str], bool] = {}
    for doc in _documents():
        prose = _prose(doc)
        where = doc.relative_to(ROOT).as_posix()
        for name in paths_in(prose):
            found[(where, name)] = _exists(name)
        for match in BARE_MD.finditer(prose):
            name = match.group(1)
            if name not in WRITTEN_FOR_THE_USER:
                found.setdefault((where, name), name in repo_md)
    return found


def test_the_scan_finds_paths_and_would_catch_a_stale_one() -> None:
    found = mentioned_paths()
    assert found[("README.md", "bench/RESULTS.md")] is True
    assert any(where.startswith("src/") for where, _ in found)  # docstrings are scanned
    assert paths_in("see bench/results_old.md, or (src/likewise/x.py).") == ["bench/results_old.md",
                                                                             "src/likewise/x.py"]
    assert not _exists("bench/results_old.md") and _exists("bench/*.md") and _exists("src/likewise/")
    assert paths_in("https://example.org/docs/x.md and ./tests/x") == []  # URLs and ./ paths are not scanned
    assert _prose(ROOT / "src/likewise/tuning/tuner.py").count("bench/RESULTS.md") >= 3


def test_every_path_named_in_docs_and_comments_exists() -> None:
    stale = sorted(key for key, ok in mentioned_paths().items() if not ok and key not in KNOWN_STALE)
    assert not stale, "paths that do not exist (file, path): " + "; ".join(f"{w}: {p}" for w, p in stale)


def test_known_stale_paths_are_still_there() -> None:
    found = mentioned_paths()
    fixed = sorted(key for key in KNOWN_STALE if found.get(key, True))
    if fixed:
        pytest.fail("fixed, so delete from KNOWN_STALE in tests/test_docs_paths.py: "
                    + "; ".join(f"{w}: {p}" for w, p in fixed))
