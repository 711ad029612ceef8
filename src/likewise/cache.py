"""Embedding cache keyed by encoder identity and a hash of the normalised text, shared by all workspaces.

Where: ``--cache DIR``, else ``$LIKEWISE_CACHE``, else the platform's user cache folder (for example
``~/.cache/likewise/embeddings``), so a second workspace on the same texts encodes nothing.

Layout: ``<folder>/<encoder key>/identity.txt`` and shards ``shard-<uuid>.safetensors``, each holding
``keys`` (n, 16) uint8 — the xxh3-128 of the normalised text — and ``vectors`` (n, dim) float32, with the
sha256 of both in the shard's metadata. A shard is written to a temporary file and renamed, so an
interrupted run leaves only complete shards; a shard that cannot be read or whose checksum does not match
is ignored (and counted) and its texts encoded again, never trusted. Another encoder identity is another
folder, so a different model never gets stale vectors.

Memory: a cache holds only each shard's keys (16 bytes a record, sorted for lookup) and an open file; the
vectors stay on disk and a lookup copies out just the rows it needs. A shard's sha256 is checked once, when
it is opened (shards are never modified in place, and an open file stays readable even after another
process's compaction unlinks it). Shards of about the same size are merged (``COMPACT_FANOUT`` of a size
tier into one), so the shard count stays small and each vector is rewritten only a few times;
:meth:`EmbeddingCache.compact` merges all of them. A merge streams the vectors in blocks and deletes only
the shards it merged (other processes may be adding shards to the same folder at the same time).
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import xxhash

from likewise.atomic import atomic_write, atomic_write_bytes
from likewise.errors import InputError
from likewise.tensorfile import header_bytes, read_header, tensor_range

_SPACES = re.compile(r"\s+")
KEY_BYTES = 16
COMPACT_FANOUT = 8  # shards of one size tier merged into one
MERGE_BLOCK = 65_536  # vectors read and written at a time by a merge
CACHE_ENV = "LIKEWISE_CACHE"


def default_cache_dir() -> Path:
    """``$LIKEWISE_CACHE``, else the user cache folder of this platform (``.../likewise/embeddings``)."""
    folder = os.environ.get(CACHE_ENV)
    if folder:
        return Path(folder)
    import platformdirs

    return Path(platformdirs.user_cache_dir("likewise", appauthor=False)) / "embeddings"


def shard_checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    """sha256 over a shard's keys, then its vectors (stored in the shard, checked when a shard is opened)."""
    return hashlib.sha256(np.ascontiguousarray(keys).tobytes() + np.ascontiguousarray(vectors).tobytes()).hexdigest()


def normalize_text(text: str) -> str:
    """The text as it is encoded and hashed: Unicode NFC, whitespace runs collapsed to one space, stripped."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def text_keys(texts: list[str]) -> np.ndarray:
    """(n, 16) uint8 keys: xxh3-128 digests of the already-normalised texts."""
    digest = b"".join(xxhash.xxh3_128_digest(t.encode("utf-8", "surrogatepass")) for t in texts)
    return np.frombuffer(digest, dtype=np.uint8).reshape(len(texts), KEY_BYTES)


def encoder_key(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


@dataclass
class _Shard:
    """One verified shard: its keys (sorted, as 16-byte strings) in memory, its vectors left on disk.

    The file stays open, so a shard that another process compacts away (unlinks) meanwhile stays readable.
    Shards are never modified in place (written to a temporary file and renamed), so the sha256 checked
    when the shard was opened holds for every later read.
    """

    name: str
    file: BinaryIO
    keys: np.ndarray  # (m,) |S16, sorted: the keys this shard answers for (not held by an earlier shard)
    rows: np.ndarray  # (m,) row in the file of each key in ``keys``
    count: int  # rows in the file
    dim: int
    vectors_offset: int  # byte offset of the (count, dim) float32 vectors in the file

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of these file rows, copied out of a mapping that is dropped again (so the pages it
        touched do not stay in the process's memory)."""
        if len(rows) == 0:
            return np.empty((0, self.dim), np.float32)
        mapped = np.memmap(self.file, dtype="<f4", mode="r", offset=self.vectors_offset, shape=(self.count, self.dim))
        try:
            return np.array(mapped[rows], dtype=np.float32)
        finally:
            del mapped

    def live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys (m, 16) uint8, file rows (m,)) this shard answers for, in file order (for sequential reads)."""
        order = np.argsort(self.rows, kind="stable")
        return self.keys[order].view(np.uint8).reshape(-1, KEY_BYTES), self.rows[order]

    def close(self) -> None:
        self.file.close()


def _tier(rows: int) -> int:
    """Size tier of a shard: the whole number of times COMPACT_FANOUT divides into its row count."""
    tier = 0
    while rows >= COMPACT_FANOUT:
        rows //= COMPACT_FANOUT
        tier += 1
    return tier


def _as_s16(keys: np.ndarray) -> np.ndarray:
    """(n, 16) uint8 -> (n,) |S16: one fixed-width byte string per key, compared as raw bytes (memcmp)."""
    return np.ascontiguousarray(keys, dtype=np.uint8).view("S16").reshape(-1)


def _open_shard(path: Path) -> _Shard:
    """Open and verify a shard (layout, dtypes, shapes, sha256 over keys then vectors, read in blocks so
    the vectors never sit in memory). Raises ValueError/OSError on anything wrong."""
    f = open(path, "rb")
    try:
        size = os.fstat(f.fileno()).st_size
        header, base = read_header(f, size)
        expected = (header.get("__metadata__") or {}).get("sha256")
        (count, key_bytes), k0, k1 = tensor_range(header, "keys", "U8", 2)
        (rows, dim), v0, v1 = tensor_range(header, "vectors", "F32", 2)
        if key_bytes != KEY_BYTES or rows != count:
            raise ValueError("unexpected shapes")
        if base + max(k1, v1) != size:
            raise ValueError("data offsets do not match the file size")
        digest = hashlib.sha256()
        f.seek(base + k0)
        raw_keys = f.read(k1 - k0)
        if len(raw_keys) != k1 - k0:
            raise ValueError("truncated keys")
        digest.update(raw_keys)
        f.seek(base + v0)
        left = v1 - v0
        buffer = bytearray(min(left, 1 << 24))
        while left:
            got = f.readinto(memoryview(buffer)[: min(left, len(buffer))])
            if not got:
                raise ValueError("truncated vectors")
            digest.update(memoryview(buffer)[:got])
            left -= got
        if expected != digest.hexdigest():
            raise ValueError("checksum mismatch")
    except BaseException:
        f.close()
        raise
    keys = np.frombuffer(raw_keys, dtype="S16")
    order = np.argsort(keys, kind="stable")
    return _Shard(path.name, f, keys[order], order.astype(np.int64), count, dim, base + v0)


def _write_shard(target: Path, identity: str, keys: np.ndarray, vector_blocks: Iterable[np.ndarray], dim: int) -> None:
    """Write keys (n, 16) and the vectors (streamed in blocks, n rows in all) as one safetensors shard,
    atomically, hashing while writing (keys, then vectors; the sha256 goes into the header, whose length
    does not depend on its value, once the data is written), so a merge never holds all vectors at once."""
    count = len(keys)

    def header(sha: str) -> bytes:
        return header_bytes([("keys", "U8", (count, KEY_BYTES)), ("vectors", "F32", (count, dim))],
                            {"identity": identity, "sha256": sha})

    def write(tmp: str) -> None:
        digest = hashlib.sha256()
        written = 0
        with open(tmp, "wb") as out:
            out.write(header("0" * 64))
            data = np.ascontiguousarray(keys, dtype=np.uint8)
            digest.update(data)
            out.write(data)
            for block in vector_blocks:
                data = np.ascontiguousarray(block, dtype="<f4")
                if data.ndim != 2 or data.shape[1] != dim:
                    raise ValueError(f"vector block of shape {data.shape}, expected (m, {dim})")
                digest.update(data)
                out.write(data)
                written += len(data)
            if written != count:
                raise ValueError(f"{written} vectors for {count} keys")
            out.seek(0)
            out.write(header(digest.hexdigest()))

    atomic_write(target, write)


@dataclass
class _Table:
    """One encoder's cache: the verified shards, their keys in memory, their vectors on disk."""

    shards: list[_Shard] = field(default_factory=list)
    ignored_shards: int = 0
    dim: int | None = None

    @property
    def size(self) -> int:
        return sum(len(s.keys) for s in self.shards)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard number, file row) of each key; shard -1 where absent. Exact on all 128 bits."""
        probe = _as_s16(keys)
        shard_of = np.full(len(probe), -1, dtype=np.int64)
        row_of = np.zeros(len(probe), dtype=np.int64)
        for number, shard in enumerate(self.shards):
            todo = np.flatnonzero(shard_of < 0)
            if len(todo) == 0 or len(shard.keys) == 0:
                continue
            pos = np.minimum(np.searchsorted(shard.keys, probe[todo]), len(shard.keys) - 1)
            hit = shard.keys[pos] == probe[todo]
            shard_of[todo[hit]] = number
            row_of[todo[hit]] = shard.rows[pos[hit]]
        return shard_of, row_of

    def attach(self, shard: _Shard) -> None:
        """Add a verified shard; keys an earlier shard already answers for stay with that one."""
        if len(shard.keys):
            held, _ = self.find(shard.keys.view(np.uint8).reshape(-1, KEY_BYTES))
            fresh = held < 0
            if not fresh.all():
                shard.keys, shard.rows = shard.keys[fresh], shard.rows[fresh]
        self.shards.append(shard)
        self.dim = shard.dim


class EmbeddingCache:
    """Vectors by (encoder identity, text). Opens an encoder's shards on first use; holds only their keys."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._tables: dict[str, _Table] = {}

    def _dir(self, identity: str) -> Path:
        return self.folder / encoder_key(identity)

    def _table(self, identity: str) -> _Table:
        if identity in self._tables:
            return self._tables[identity]
        table = _Table()
        folder = self._dir(identity)
        for path in sorted(folder.glob("shard-*.safetensors")) if folder.is_dir() else []:
            try:
                shard = _open_shard(path)
            except FileNotFoundError:
                continue  # merged away by another process's compaction meanwhile: its records are in the new shard
            except (KeyError, TypeError, AttributeError, ValueError, OSError):  # unreadable, damaged, not a shard
                table.ignored_shards += 1
                continue
            if table.dim is not None and shard.dim != table.dim:  # cannot come from this identity's encoder
                shard.close()
                table.ignored_shards += 1
                continue
            table.attach(shard)
        self._tables[identity] = table
        return table

    def __len__(self) -> int:
        return sum(t.size for t in self._tables.values())

    def count(self, identity: str) -> int:
        return self._table(identity).size

    def lookup(self, identity: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (found mask (n,), vectors (n_found, dim)) for the keys that are cached, in key order."""
        table = self._table(identity)
        shard_of, row_of = table.find(keys)
        found = shard_of >= 0
        out = np.empty((int(found.sum()), table.dim or 0), np.float32)
        slot = np.cumsum(found) - 1  # where each found key goes in ``out``
        for number in np.unique(shard_of[found]):
            mine = np.flatnonzero(shard_of == number)
            order = np.argsort(row_of[mine], kind="stable")  # read in file order
            out[slot[mine[order]]] = table.shards[number].read(row_of[mine[order]])
        return found, out

    def add(self, identity: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Store vectors (n, dim) float32 under keys (n, 16): the keys not yet cached are written as one new
        shard, atomically; the vectors are not kept in memory."""
        if len(keys) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        keys = np.ascontiguousarray(keys, dtype=np.uint8)
        table = self._table(identity)
        if vectors.ndim != 2 or len(vectors) != len(keys) or (table.dim is not None and vectors.shape[1] != table.dim):
            raise InputError(f"cache add got {len(keys)} keys and vectors of shape {vectors.shape}, but this encoder's "
                             f"cached vectors have dimension {table.dim}; pass one vector of that size per key")
        held, _ = table.find(keys)
        _, first = np.unique(_as_s16(keys), return_index=True)
        fresh = np.sort(first[held[first] < 0])
        if len(fresh) == 0:
            return
        folder = self._dir(identity)
        folder.mkdir(parents=True, exist_ok=True)
        ident_file = folder / "identity.txt"
        if not ident_file.exists():
            atomic_write_bytes(ident_file, identity.encode())
        table.attach(self._write_and_open(folder, identity, keys[fresh], [vectors[fresh]], vectors.shape[1]))
        self._merge_tiers(identity)

    def _write_and_open(self, folder: Path, identity: str, keys: np.ndarray, blocks: Iterable[np.ndarray],
                        dim: int) -> _Shard:
        target = folder / f"shard-{uuid.uuid4().hex}.safetensors"
        _write_shard(target, identity, keys, blocks, dim)
        return _open_shard(target)

    def _merge_tiers(self, identity: str) -> None:
        """Size-tiered compaction: when COMPACT_FANOUT shards of about the same size (the same power of
        COMPACT_FANOUT rows) exist, merge them into one. The shard count stays logarithmic in the records
        and each vector is rewritten only a few times (merging everything each time would be quadratic)."""
        table = self._table(identity)
        while True:
            tiers: dict[int, list[_Shard]] = {}
            for shard in table.shards:
                tiers.setdefault(_tier(len(shard.keys)), []).append(shard)
            full = [group for group in tiers.values() if len(group) >= COMPACT_FANOUT]
            if not full:
                return
            self._merge(identity, full[0])

    def compact(self, identity: str) -> None:
        """Merge all of an encoder's shards this cache holds into one (new shard written first, the merged
        ones removed after; shards other processes add meanwhile are left alone)."""
        table = self._table(identity)
        if len(table.shards) > 1:
            self._merge(identity, list(table.shards))

    def _merge(self, identity: str, group: list[_Shard]) -> None:
        table = self._table(identity)
        parts = [shard.live_rows() for shard in group]
        keys = np.concatenate([k for k, _ in parts]) if parts else np.empty((0, KEY_BYTES), np.uint8)
        blocks = (shard.read(rows[lo : lo + MERGE_BLOCK])
                  for shard, (_, rows) in zip(group, parts) for lo in range(0, len(rows), MERGE_BLOCK))
        folder = self._dir(identity)
        merged = self._write_and_open(folder, identity, keys, blocks, table.dim or 0)
        for shard in group:
            shard.close()  # closed first: some systems cannot delete a file this process holds open
            (folder / shard.name).unlink(missing_ok=True)
        keep = [s for s in table.shards if s not in group]
        table.shards = []
        for shard in [merged, *keep]:  # the merged shard holds no key twice and none another shard holds
            table.attach(shard)

    def ignored_shards(self, identity: str) -> int:
        return self._table(identity).ignored_shards

    def close(self) -> None:
        """Close the open shard files (the cache stays usable: it reopens them on the next use)."""
        for table in self._tables.values():
            for shard in table.shards:
                shard.close()
        self._tables.clear()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class CacheInfo:
    """What the cache folder holds, per encoder."""

    folder: str
    encoders: list[dict]
    shards: int
    bytes: int

    def to_dict(self) -> dict:
        return {"folder": self.folder, "encoders": self.encoders, "shards": self.shards, "bytes": self.bytes}


def cache_info(folder: str | Path) -> CacheInfo:
    """Encoders, shards and bytes in a cache folder (nothing is loaded)."""
    folder = Path(folder)
    encoders = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        shards = list(sub.glob("shard-*.safetensors"))
        ident = sub / "identity.txt"
        encoders.append({"identity": ident.read_text(encoding="utf-8", errors="replace") if ident.exists() else "?",
                         "shards": len(shards), "bytes": sum(p.stat().st_size for p in shards)})
    return CacheInfo(str(folder), encoders, sum(e["shards"] for e in encoders), sum(e["bytes"] for e in encoders))


def clear_cache(folder: str | Path, *, identity: str | None = None) -> CacheInfo:
    """Delete the cached vectors (of one encoder identity, or all); returns what was deleted."""
    import shutil

    folder = Path(folder)
    before = cache_info(folder)
    targets = [folder / encoder_key(identity)] if identity else [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    removed = [e for e in before.encoders if identity is None or e["identity"] == identity]
    for target in targets:
        shutil.rmtree(target, ignore_errors=True)
    return CacheInfo(str(folder), removed, sum(e["shards"] for e in removed), sum(e["bytes"] for e in removed))
