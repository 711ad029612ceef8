"""File formats: the registry, detection from the extension or the content, and parsing bytes into a table.

Every parser returns a :class:`pandas.DataFrame` whose delimited-text cells are literal strings (no type
guessing: an id ``007`` stays ``"007"``), and raises :class:`InputError` with the parser's one-line reason
when the bytes are not valid for the format. Text formats are decoded strictly as UTF-8 first, so an encoding
problem is reported with its byte offset and line rather than as a parser error.
"""
from __future__ import annotations

import codecs
import difflib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from likewise.errors import InputError
from likewise.records.source import COMPRESSIONS, STDIN

Parser = Callable[[bytes, str], pd.DataFrame]


@dataclass(frozen=True)
class Format:
    """One readable format: its name, the extensions that select it, and its parser ``parse(data, name)``."""

    name: str
    extensions: tuple[str, ...]
    description: str
    parse: Parser


def check_utf8(data: bytes, name: str) -> bytes:
    """``data`` without a UTF-8 byte-order mark, after checking that it decodes strictly as UTF-8.

    Raises :class:`InputError` naming the byte offset, line and column of the first undecodable byte.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{name} is UTF-16 encoded; re-save it as UTF-8")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            f"{name} is not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start} "
            f"(line {line}, column {column}) cannot be decoded; re-save the file as UTF-8 "
            f"(for example: iconv -f cp1252 -t utf-8 in.csv > out.csv)"
        ) from exc
    return data


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` decoded strictly as UTF-8 (see :func:`check_utf8`)."""
    return check_utf8(data, name).decode("utf-8")


def _parse_delimited(data: bytes, name: str, sep: str, kind: str) -> pd.DataFrame:
    data = check_utf8(data, name)
    try:
        # header=None so a row with too many fields is an error instead of silently becoming the index;
        # bytes, not a str, because pandas parses a byte buffer several times faster
        raw = pd.read_csv(io.BytesIO(data), sep=sep, header=None, dtype=str, na_filter=False, encoding="utf-8")
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{name} is empty: no header line; it needs a header row naming the columns") from exc
    except pd.errors.ParserError as exc:
        reason = str(exc).strip().removeprefix("Error tokenizing data. C error: ").strip()
        raise InputError(
            f"{name} is not valid {kind}: {reason}; quote fields that contain the separator or line breaks"
        ) from exc
    header = [str(c).strip() for c in raw.iloc[0]]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise InputError(f"{name}: column name(s) {', '.join(map(repr, repeated))} appear more than once; rename them")
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = header
    return frame


def parse_csv(data: bytes, name: str) -> pd.DataFrame:
    """Comma-separated values with a header row."""
    return _parse_delimited(data, name, ",", "CSV")


def parse_tsv(data: bytes, name: str) -> pd.DataFrame:
    """Tab-separated values with a header row."""
    return _parse_delimited(data, name, "\t", "TSV")


def _frame_from_objects(items: list[object], name: str, where: Callable[[int], str]) -> pd.DataFrame:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(
                f"{name}: {where(i)} is a JSON {type(item).__name__}, expected an object like "
                '{"id": "1", "text": "...", "label": "..."}'
            )
    return pd.DataFrame.from_records(items)


def parse_json(data: bytes, name: str) -> pd.DataFrame:
    """A JSON list of objects, one per record."""
    text = decode_utf8(data, name)
    if not text.strip():
        raise InputError(f"{name} is empty (0 records); it needs a JSON list of objects")
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name} is not valid JSON: {exc}; fix the file or re-export it") from exc
    if not isinstance(items, list):
        found = f"an object with keys {', '.join(list(items)[:5])}" if isinstance(items, dict) else type(items).__name__
        raise InputError(
            f"{name}: expected a JSON list of objects (one per record), found {found}; "
            "for one object per line use a .jsonl file"
        )
    return _frame_from_objects(items, name, lambda i: f"item {i}")


def parse_jsonl(data: bytes, name: str) -> pd.DataFrame:
    """JSON lines: one object per line; blank lines are skipped."""
    text = decode_utf8(data, name)
    items: list[object] = []
    lines: list[int] = []
    # split on "\n" only: str.splitlines would also split inside texts at U+2028, U+0085 and the like
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name} is not valid JSON lines: line {number}: {exc.msg} (column {exc.colno}); "
                "each line must be one complete JSON object"
            ) from exc
        lines.append(number)
    return _frame_from_objects(items, name, lambda i: f"line {lines[i]}")


def parse_parquet(data: bytes, name: str) -> pd.DataFrame:
    """Apache Parquet, read with pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{name} is not a valid Parquet file: {reason}; re-export it") from exc
    return table.to_pandas()


FORMATS: dict[str, Format] = {
    "csv": Format("csv", (".csv",), "comma-separated values with a header row", parse_csv),
    "tsv": Format("tsv", (".tsv", ".tab"), "tab-separated values with a header row", parse_tsv),
    "jsonl": Format("jsonl", (".jsonl", ".ndjson"), "JSON lines, one object per record", parse_jsonl),
    "json": Format("json", (".json",), "a JSON list of objects", parse_json),
    "parquet": Format("parquet", (".parquet", ".pq"), "Apache Parquet", parse_parquet),
    "refinery": Format(
        "refinery",
        (),
        "Kern refinery record export (JSON list; detected from a .json's <attribute>__<task>__MANUAL columns)",
        parse_json,
    ),
}


def supported_extensions() -> list[str]:
    return [ext for fmt in FORMATS.values() for ext in fmt.extensions]


def check_format_name(name: str) -> Format:
    """The registered format called ``name``, or an :class:`InputError` listing the valid names."""
    if name in FORMATS:
        return FORMATS[name]
    close = difflib.get_close_matches(name.lower(), list(FORMATS), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise InputError(f"unknown format '{name}'; {hint}choose one of: {', '.join(FORMATS)}")


def detect_format(path: str | Path) -> str:
    """The format name selected by ``path``'s extension (a trailing .gz/.bz2/.xz is looked through).

    A ``.json`` file is reported as ``"json"``; :func:`likewise.records.load_records` promotes it to
    ``"refinery"`` once it sees refinery label columns. Standard input (``"-"``) has no extension: pass the
    format, or let ``load_records`` sniff the content (:func:`sniff_format`).
    """
    if str(path) == STDIN:
        raise InputError(
            "reading standard input: the format cannot be told from an extension; "
            f"give --format (one of {', '.join(FORMATS)})"
        )
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    for fmt in FORMATS.values():
        if suffix in fmt.extensions:
            return fmt.name
    shown = f"extension '{suffix}'" if suffix else "no extension"
    raise InputError(
        f"cannot tell the format of '{path}' ({shown}); supported extensions: "
        f"{', '.join(supported_extensions())}; or give --format (one of {', '.join(FORMATS)})"
    )


def sniff_format(data: bytes) -> str:
    """Guess the format from content (used for standard input): Parquet magic, JSON list, JSON lines, TSV, CSV."""
    if data.startswith(b"PAR1"):
        return "parquet"
    head = data[:65536].removeprefix(codecs.BOM_UTF8).lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    if b"\x00" in head:
        raise InputError(
            f"cannot tell the format of binary input; give --format (one of {', '.join(FORMATS)})"
        )
    first_line = head.split(b"\n", 1)[0]
    return "tsv" if first_line.count(b"\t") > first_line.count(b",") else "csv"
