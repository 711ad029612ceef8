"""Getting the raw bytes of a record file: a path, or ``-`` for standard input; compressed files unpacked."""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from likewise.errors import InputError

#: suffix -> (name, decompress); a compressed file's format comes from the suffix before it (data.csv.gz -> csv)
COMPRESSIONS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    ".gz": ("gzip", gzip.decompress),
    ".bz2": ("bzip2", bz2.decompress),
    ".xz": ("xz", lzma.decompress),
}

STDIN = "-"


@dataclass(frozen=True)
class RawSource:
    """The bytes of one input and what is known about it before parsing."""

    data: bytes
    #: how messages name the input: the path as given, or "<stdin>"
    name: str
    #: the file's extension after removing a compression suffix (".csv"), "" for stdin
    suffix: str


def read_source(path: str | Path, *, stdin: BinaryIO | None = None) -> RawSource:
    """Read all bytes of ``path`` (``"-"``: standard input, or ``stdin`` when given), unpacking .gz/.bz2/.xz.

    Raises :class:`InputError` for a missing path, a folder, an unreadable file or a corrupt compressed file.
    """
    if str(path) == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        return RawSource(data=stream.read(), name="<stdin>", suffix="")
    path = Path(path)
    if not path.exists():
        where = path.resolve().parent if not path.is_absolute() else path.parent
        raise InputError(
            f"no such file: '{path}' (looked in {where}; current folder {os.getcwd()}); check the path"
        )
    if path.is_dir():
        raise InputError(f"'{path}' is a folder, not a file; give the path of a .csv, .tsv, .jsonl, .json or .parquet file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read '{path}': {exc.strerror}; check its permissions") from exc
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in COMPRESSIONS:
        kind, decompress = COMPRESSIONS[suffix]
        try:
            data = decompress(data)
        except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            raise InputError(f"'{path}' is not a valid {kind} file ({exc}); re-create it or unpack it first") from exc
        suffix = suffixes[-2] if len(suffixes) > 1 else ""
    return RawSource(data=data, name=str(path), suffix=suffix)
