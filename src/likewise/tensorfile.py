"""safetensors files written and read in blocks, so a large matrix is never held twice (once as bytes).

The layout is safetensors' own (8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, the data), so the reference library reads what is written here and the
other way round. The embedding cache's shards and the exact index's vectors file use these two functions;
each caller streams its data after the header and hashes it on the way.
"""
from __future__ import annotations

import json
from typing import BinaryIO

DTYPE_BYTES = {"U8": 1, "F32": 4}
MAX_HEADER = 100_000_000  # safetensors' own limit on the header


def header_bytes(tensors: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str] | None = None) -> bytes:
    """The length prefix and JSON header for (name, dtype, shape) tensors stored in this order, back to
    back; padded with spaces to 8 bytes, as safetensors writes it. Its length depends on the metadata's
    lengths only, so a checksum of fixed width can be filled in after the data is written."""
    entries: dict[str, object] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, dtype, shape in tensors:
        size = DTYPE_BYTES[dtype]
        for extent in shape:
            size *= int(extent)
        entries[name] = {"dtype": dtype, "shape": [int(x) for x in shape], "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(entries, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def read_header(f: BinaryIO, size: int) -> tuple[dict, int]:
    """(header dict, byte offset where the data starts) of a safetensors file of ``size`` bytes, read from
    its start; ValueError when it is not one (truncated, oversized, not a JSON object)."""
    head = f.read(8)
    if len(head) != 8:
        raise ValueError("truncated header")
    length = int.from_bytes(head, "little")
    if length > min(size - 8, MAX_HEADER):
        raise ValueError("header length out of range")
    header = json.loads(f.read(length))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header, 8 + length


def tensor_range(header: dict, name: str, dtype: str, ndim: int) -> tuple[tuple[int, ...], int, int]:
    """(shape, start, end) of one tensor, checked against its dtype and shape; ValueError otherwise."""
    entry = header.get(name)
    if not isinstance(entry, dict) or entry.get("dtype") != dtype or len(entry.get("shape", ())) != ndim:
        raise ValueError(f"tensor {name!r} missing or not {dtype} with {ndim} dimensions")
    shape = tuple(int(x) for x in entry["shape"])
    start, end = (int(x) for x in entry["data_offsets"])
    size = DTYPE_BYTES[dtype]
    for extent in shape:
        size *= extent
    if min(shape, default=0) < 0 or end - start != size or start < 0:
        raise ValueError(f"tensor {name!r}: byte range does not match its shape")
    return shape, start, end
