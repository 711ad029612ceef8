"""Embedding cache keyed by encoder identity and a hash of the normalised text, shared by all workspaces.

Where: ``--cache DIR``, else ``$LIKEWISE_CACHE``, else the platform's user cache folder (for example
``~/.cache/likewise/embeddings``), so a second workspace on the same texts encodes nothing.

Layout: ``<folder>/<encoder key>/identity.txt`` and shards ``shard-<uuid>.safetensors``, each holding
``keys`` (n, 16) uint8 — the xxh3-128 of the normalised text — and ``vectors`` (n, dim) float32, with the
sha256 of both in the shard's metadata. A shard is written to a temporary file and renamed, so an
interrupted run leaves only complete shards; a shard that cannot be read or whose checksum does not match
is ignored (and counted) and its texts encoded again, never trusted. Another encoder identity is another
folder, so a different model never gets stale vectors. Many small shards are merged by
:meth:`EmbeddingCache.compact`, which deletes only the shards it merged (other processes may be adding
shards to the same folder at the same time).
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xxhash
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from likewise.atomic import atomic_write, atomic_write_bytes

_SPACES = re.compile(r"\s+")
KEY_BYTES = 16
COMPACT_AFTER = 32
CACHE_ENV = "LIKEWISE_CACHE"


def default_cache_dir() -> Path:
    """``$LIKEWISE_CACHE``, else the user cache folder of this platform (``.../likewise/embeddings``)."""
    folder = os.environ.get(CACHE_ENV)
    if folder:
        return Path(folder)
    import platformdirs

    return Path(platformdirs.user_cache_dir("likewise", appauthor=False)) / "embeddings"


def shard_checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    """sha256 over a shard's keys and vectors (stored in the shard, checked on every read)."""
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
class _Table:
    """One encoder's cached vectors in memory: keys as two uint64 halves, looked up through a hash index."""

    rows: dict[bytes, int] = field(default_factory=dict)
    blocks: list[np.ndarray] = field(default_factory=list)
    key_blocks: list[np.ndarray] = field(default_factory=list)
    size: int = 0
    shards: int = 0
    ignored_shards: int = 0
    files: set[str] = field(default_factory=set)  # shard names this table holds (loaded or written)
    dim: int | None = None
    _stacked: np.ndarray | None = None
    _keys: np.ndarray | None = None
    _index: object | None = None

    def vectors(self) -> np.ndarray:
        if self._stacked is None or self._stacked.shape[0] != self.size:
            self._stacked = np.concatenate(self.blocks) if self.blocks else np.empty((0, self.dim or 0), np.float32)
            self.blocks = [self._stacked]
        return self._stacked

    def keys(self) -> np.ndarray:
        """(size, 16) uint8 keys in row order."""
        if self._keys is None or self._keys.shape[0] != self.size:
            self._keys = np.concatenate(self.key_blocks) if self.key_blocks else np.empty((0, KEY_BYTES), np.uint8)
            self.key_blocks = [self._keys]
        return self._keys

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key, -1 where absent. A pandas hash index over the first 64 bits, then the other 64
        bits compared, so the lookup is exact and vectorised (>100k keys/s)."""
        import pandas as pd

        if self.size == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        if self._index is None or len(self._index) != self.size:
            self._index = pd.Index(self.keys().view(np.uint64)[:, 0])
        halves = np.ascontiguousarray(keys).view(np.uint64)
        if not self._index.is_unique:  # two texts share 64 bits: astronomically rare, take the slow exact path
            return np.fromiter((self.rows.get(k, -1) for k in map(bytes, keys)), dtype=np.int64, count=len(keys))
        pos = self._index.get_indexer(halves[:, 0]).astype(np.int64)
        hit = pos >= 0
        stored = self.keys().view(np.uint64)
        hit[hit] = stored[pos[hit], 1] == halves[hit, 1]
        pos[~hit] = -1
        return pos

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        fresh = []
        for i, key in enumerate(keys):
            kb = key.tobytes()
            if kb not in self.rows:
                self.rows[kb] = self.size + len(fresh)
                fresh.append(i)
        if fresh:
            self.blocks.append(vectors[fresh])
            self.key_blocks.append(np.ascontiguousarray(keys[fresh], dtype=np.uint8))
            self.size += len(fresh)
        self.dim = vectors.shape[1]


class EmbeddingCache:
    """Vectors by (encoder identity, text). Loads an encoder's shards on first use."""

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
        for shard in sorted(folder.glob("shard-*.safetensors")) if folder.is_dir() else []:
            try:
                with safe_open(shard, framework="numpy") as f:
                    expected = (f.metadata() or {}).get("sha256")
                data = load_file(shard)
                keys, vectors = data["keys"], data["vectors"]
                if keys.shape != (vectors.shape[0], KEY_BYTES) or keys.dtype != np.uint8 or vectors.dtype != np.float32:
                    raise ValueError("unexpected shapes")
                if expected != shard_checksum(keys, vectors):
                    raise ValueError("checksum mismatch")
            except FileNotFoundError:
                continue  # merged away by another process's compaction meanwhile: its records are in the new shard
            except (SafetensorError, KeyError, ValueError, OSError):
                table.ignored_shards += 1
                continue
            table.add(keys, vectors)
            table.shards += 1
            table.files.add(shard.name)
        self._tables[identity] = table
        return table

    def __len__(self) -> int:
        return sum(t.size for t in self._tables.values())

    def count(self, identity: str) -> int:
        return self._table(identity).size

    def lookup(self, identity: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (found mask (n,), vectors (n_found, dim)) for the keys that are cached, in key order."""
        table = self._table(identity)
        positions = table.positions(keys)
        found = positions >= 0
        if not found.any():
            return found, np.empty((0, table.dim or 0), np.float32)
        return found, table.vectors()[positions[found]]

    def add(self, identity: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Store vectors (n, dim) float32 under keys (n, 16); written as one new shard, atomically."""
        if len(keys) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        keys = np.ascontiguousarray(keys, dtype=np.uint8)
        folder = self._dir(identity)
        folder.mkdir(parents=True, exist_ok=True)
        ident_file = folder / "identity.txt"
        if not ident_file.exists():
            atomic_write_bytes(ident_file, identity.encode())
        table = self._table(identity)
        written = self._write_shard(folder, keys, vectors, identity)
        table.add(keys, vectors)
        table.shards += 1
        table.files.add(written.name)
        if table.shards > COMPACT_AFTER:
            self.compact(identity)

    def _write_shard(self, folder: Path, keys: np.ndarray, vectors: np.ndarray, identity: str) -> Path:
        target = folder / f"shard-{uuid.uuid4().hex}.safetensors"
        metadata = {"identity": identity, "sha256": shard_checksum(keys, vectors)}
        atomic_write(target, lambda tmp: save_file({"keys": keys, "vectors": vectors}, tmp, metadata=metadata))
        return target

    def compact(self, identity: str) -> None:
        """Merge an encoder's shards into one (new shard written first, old ones removed after)."""
        table = self._table(identity)
        folder = self._dir(identity)
        old = sorted(table.files)
        if len(old) <= 1:
            return
        new = self._write_shard(folder, table.keys(), table.vectors(), identity)
        for name in old:
            (folder / name).unlink(missing_ok=True)
        table.files = {new.name}
        table.shards = 1

    def ignored_shards(self, identity: str) -> int:
        return self._table(identity).ignored_shards



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
