"""Realistic record rows and a writer for every supported format (shared by the records tests)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

#: support tickets: quoted commas, a multi-line text, non-ASCII, padding, an empty text and two missing labels
TICKETS: list[dict[str, str | None]] = [
    {"id": "t-001", "title": "Refund not received", "text": "I returned the blender three weeks ago and still have no refund.", "label": "billing"},
    {"id": "t-002", "title": "App crashes on login", "text": "Since the 4.2 update the iOS app closes as soon as I tap 'Sign in'.", "label": "bug"},
    {"id": "t-003", "title": "Double charge", "text": "My card was charged twice for order #55812.", "label": "billing"},
    {"id": "t-004", "title": "Dark mode?", "text": "Would love a dark mode for the dashboard.", "label": "feature"},
    {"id": "t-005", "title": "Export to CSV", "text": 'Please add "CSV export" for invoices, credit notes, and receipts.', "label": "feature"},
    {"id": "t-006", "title": "Crash when uploading", "text": "Uploading a 20 MB photo crashes the Android app.\nSteps: open, tap +, choose photo.", "label": "bug"},
    {"id": "t-007", "title": "Café address", "text": "Straße and café names show as garbled characters 😕", "label": None},
    {"id": "t-008", "title": "Where is my invoice", "text": "   Can't find the invoice for March.\t ", "label": "billing"},
    {"id": "t-009", "title": "", "text": "  ", "label": "bug"},
    {"id": "t-010", "title": "Feature: SSO", "text": "We need SAML single sign-on for our team.", "label": ""},
]

WRITABLE = ("csv", "tsv", "jsonl", "json", "parquet")
EXTENSIONS = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "json": ".json", "parquet": ".parquet"}


def write_rows(path: Path, rows: list[dict], fmt: str, line_end: str = "\n") -> Path:
    """Write ``rows`` to ``path`` the way common tools do (pandas for delimited files, json for JSON).

    pandas quotes a field only for the characters of its line ending: with the default "\n" a bare "\r" in a
    text is written unquoted (and reads back as a line break); ``line_end="\r\n"`` quotes it.
    """
    if fmt == "csv":
        pd.DataFrame(rows).to_csv(path, index=False, lineterminator=line_end)
    elif fmt == "tsv":
        pd.DataFrame(rows).to_csv(path, index=False, sep="\t", lineterminator=line_end)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif fmt in ("json", "refinery"):
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    elif fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        raise ValueError(fmt)
    return path
