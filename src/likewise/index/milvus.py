"""Milvus backend through ``pymilvus.MilvusClient`` (extra ``milvus``): one code path for every deployment.

Where the index lives is only the URI:

* Milvus Lite, a local file: ``MilvusIndex.create("./likewise.db", ...)`` (package ``milvus-lite``);
* a Milvus standalone server: ``"http://127.0.0.1:19530"``;
* an existing cluster or Zilliz Cloud: its URI plus ``token`` (``"user:password"`` or an API key).

Pointing likewise at an existing cluster needs nothing on the cluster side but a database user allowed to
create collections and aliases: ``MilvusIndex.create(uri, collection_name("reviews", "tuned"),
dimension=384, encoder_id=..., token="user:password")``. See docs/milvus.md.

Layout: a record is ``id`` (VARCHAR primary key), ``vector`` (FLOAT_VECTOR, inner product on unit vectors =
cosine), ``label`` (VARCHAR, "" = unlabeled) and ``text`` (VARCHAR, cut to 65,535 bytes: it is a display
payload). The name likewise searches (for example ``likewise_reviews_tuned``) is an *alias*; the data
sits in a physical collection ``<alias>__<8 hex>``. Its property ``likewise.index`` holds likewise's
metadata (dimension, encoder id, vector kind), checked on every query.
:meth:`MilvusIndex.rebuild_and_switch` writes a new physical collection completely, checks its row count,
then moves the alias in one step and drops the old collection, so a search never sees a half-written
index. Reads use Strong consistency by default, so a search sees every write that returned before it; on
a server that costs up to one time tick (200 ms by default) per call, which ``consistency="Bounded"``
avoids for read-mostly serving (writes then show up within the server's staleness bound, a few seconds).

Writes go in batches (``batch_size``); a write of more than one batch is flushed at the end, so the
records move from the growing segment (searched slowly, by brute force) to sealed, indexed segments, while
small updates stay searchable at once without a flush. A batch failing for a transient reason
(connection, rate limit) is retried ``retries`` times with backoff, then raises
:class:`~likewise.errors.LikewiseError`. An unreachable server, a missing collection or a collection
likewise did not make raise :class:`~likewise.errors.InputError`.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import numpy as np

from likewise.errors import InputError, LikewiseError, MissingExtraError
from likewise.index.base import Filter, Hit, Index, IndexMeta, Payload, rank_hits
from likewise.progress import Progress, no_progress

METADATA_FORMAT = "likewise.milvus-index"
METADATA_VERSION = 1
METADATA_PROPERTY = "likewise.index"  # collection property holding the metadata JSON
MAX_K = 16_384  # Milvus's limit on neighbours per query
ID_MAX_BYTES = 512
LABEL_MAX_BYTES = 512
TEXT_MAX_BYTES = 65_535
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
_TRANSIENT_CODES = {2, 8}  # cannot connect; rate limited
LITE_CONNECT_ATTEMPTS = 3  # tries to open a Milvus Lite file (its local server can refuse a first connection)
T = TypeVar("T")


def _pymilvus():
    try:
        import pymilvus
    except ImportError as exc:
        raise MissingExtraError("The Milvus index backend", "milvus", "pymilvus") from exc
    return pymilvus


def collection_name(workspace: str, vector_kind: str) -> str:
    """The alias likewise uses for a workspace's vectors of one kind, e.g. ``likewise_reviews_tuned``."""
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", workspace).strip("_") or "workspace"
    return f"likewise_{slug}_{vector_kind}"[:200]


def filter_expression(filter: Filter | None, exclude_ids: frozenset[str] = frozenset()) -> str:
    """A Milvus boolean expression for a :class:`Filter` and ids to leave out ("" when there is none)."""
    quote = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731 - double quotes, escaped
    parts = []
    if filter is not None:
        if filter.unlabeled_only:
            parts.append('label == ""')
        if filter.label_eq is not None:
            parts.append(f"label == {quote(filter.label_eq)}")
        if filter.label_ne is not None:
            parts.append(f"label != {quote(filter.label_ne)}")
        if filter.ids_in is not None:
            parts.append(f"id in [{', '.join(quote(i) for i in sorted(filter.ids_in))}]")
    if exclude_ids:
        parts.append(f"id not in [{', '.join(quote(i) for i in sorted(exclude_ids))}]")
    return " and ".join(parts)


def _cut(text: str | None, limit: int) -> str:
    data = (text or "").encode("utf-8")
    return data[:limit].decode("utf-8", "ignore") if len(data) > limit else (text or "")


class MilvusIndex(Index):
    """Records in a Milvus collection (Lite file, standalone server or cluster), addressed by an alias.

    Open an existing index with ``MilvusIndex(uri, name)``; make a new one with :meth:`create`.
    """

    def __init__(
        self,
        uri: str,
        name: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 1000,
        retries: int = 3,
        search_params: dict[str, Any] | None = None,
        consistency: str = "Strong",
    ) -> None:
        if consistency not in CONSISTENCY_LEVELS:
            raise InputError(f"unknown consistency {consistency!r}; choose one of {', '.join(CONSISTENCY_LEVELS)}")
        self.uri, self.name, self.consistency = uri, name, consistency
        self.batch_size, self.retries = int(batch_size), int(retries)
        self.search_params = search_params or {}
        if self.batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        self._client = _connect(uri, token, timeout)
        self.meta = self._read_metadata(name)

    @classmethod
    def create(
        cls,
        uri: str,
        name: str,
        *,
        dimension: int,
        encoder_id: str,
        vector_kind: str = "raw",
        token: str | None = None,
        timeout: float = 30.0,
        index_type: str = "FLAT",
        index_params: dict[str, Any] | None = None,
        **options: Any,
    ) -> MilvusIndex:
        """Make an empty index called ``name`` (an alias over a new physical collection) and open it.

        ``index_type`` is Milvus's vector index: "FLAT" (exact, the default), "HNSW", "IVF_FLAT" or
        "AUTOINDEX" (clusters); ``index_params`` are its build parameters (e.g. ``{"M": 32}``).
        """
        meta = IndexMeta(dimension, encoder_id, vector_kind)
        _check_name(name)
        client = _connect(uri, token, timeout)
        if _call(uri, "check the collection", lambda: client.has_collection(name), retries=1):
            raise InputError(
                f"a collection or alias {name!r} already exists at {uri}; open it with MilvusIndex(uri, name) "
                f"or replace its contents with rebuild_and_switch"
            )
        physical = _create_physical(client, uri, name, meta, index_type, index_params)
        _call(uri, "create the alias", lambda: client.create_alias(physical, name), retries=1)
        return cls(uri, name, token=token, timeout=timeout, **options)

    # -- backend methods ----------------------------------------------------------------------------------
    def count(self) -> int:
        rows = self._do("count records", lambda: self._client.query(
            self.name, filter="", output_fields=["count(*)"], consistency_level=self.consistency))
        return int(rows[0]["count(*)"])

    def _upsert(self, ids: list[str], vectors: np.ndarray, payloads: list[Payload]) -> None:
        self._write(self.name, ids, vectors, payloads, no_progress)
        if len(ids) > self.batch_size:  # a bulk write: seal it into indexed segments (growing ones search slowly)
            self._do("flush", lambda: self._client.flush(self.name))

    def _write(
        self, target: str, ids: list[str], vectors: np.ndarray, payloads: list[Payload], progress: Progress
    ) -> None:
        for what, values, limit in (("record ids", ids, ID_MAX_BYTES),
                                    ("labels", [p.label or "" for p in payloads], LABEL_MAX_BYTES)):
            long = [v for v in values if len(v.encode("utf-8")) > limit]
            if long:
                raise InputError(f"{len(long)} {what} are longer than Milvus's {limit} bytes "
                                 f"(first: {long[0][:40]!r}...); shorten them")
        for start in range(0, len(ids), self.batch_size):
            stop = min(start + self.batch_size, len(ids))
            rows = [
                {"id": ids[j], "vector": vectors[j], "label": payloads[j].label or "",
                 "text": _cut(payloads[j].text, TEXT_MAX_BYTES)}
                for j in range(start, stop)
            ]
            self._do(f"write records {start}-{stop - 1}", lambda: self._client.upsert(target, rows))
            progress(stop, len(ids), "writing to Milvus")

    def _delete(self, ids: list[str]) -> int:
        rows = self._do("read records", lambda: self._client.query(
            self.name, filter=filter_expression(Filter(ids_in=frozenset(ids))), output_fields=["id"],
            consistency_level=self.consistency))
        present = [str(r["id"]) for r in rows]
        if present:
            expression = filter_expression(Filter(ids_in=frozenset(present)))
            self._do("delete records", lambda: self._client.delete(self.name, filter=expression))
        return len(present)

    def _search(
        self, vectors: np.ndarray, k: int, filter: Filter | None, exclude_ids: frozenset[str]
    ) -> list[list[Hit]]:
        if k > MAX_K:
            raise InputError(f"Milvus returns at most {MAX_K} neighbours per query; asked for k={k}")
        if len(vectors) == 0 or (filter is not None and filter.ids_in is not None and not filter.ids_in):
            return [[] for _ in range(len(vectors))]
        expression = filter_expression(filter, exclude_ids)
        results = self._do("search", lambda: self._client.search(
            self.name, data=list(vectors), limit=k, filter=expression, output_fields=["label", "text"],
            search_params={"metric_type": "IP", "params": self.search_params},
            consistency_level=self.consistency,
        ))
        return [
            rank_hits((Hit(str(r["id"]), float(r["distance"]), r["entity"].get("label") or None,
                           r["entity"].get("text") or None) for r in row), k)
            for row in results
        ]

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        rows = self._do("read records", lambda: self._client.query(
            self.name, filter=filter_expression(Filter(ids_in=frozenset(ids))), output_fields=["vector"],
            consistency_level=self.consistency))
        return {str(r["id"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}

    # -- rebuild behind the alias -------------------------------------------------------------------------
    def rebuild_and_switch(
        self,
        ids: list[str],
        vectors: np.ndarray,
        payloads: list[Payload] | None = None,
        *,
        encoder_id: str | None = None,
        index_type: str = "FLAT",
        index_params: dict[str, Any] | None = None,
        progress: Progress = no_progress,
    ) -> None:
        """Replace the whole index: write a new collection, then point the alias at it only once complete.

        Searches keep answering from the old collection until the switch; if writing fails the new
        collection is dropped and the index stays as it was. ``encoder_id`` (default: unchanged) and the
        vectors' dimension may differ from the old index (for example after re-tuning).
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        dimension = vectors.shape[1] if vectors.ndim == 2 else self.dimension
        meta = IndexMeta(dimension, encoder_id or self.encoder_id, self.vector_kind)
        ids, vectors, payloads = meta.check_records(ids, vectors, payloads)
        physical = _create_physical(self._client, self.uri, self.name, meta, index_type, index_params)
        try:
            self._write(physical, ids, vectors, payloads, progress)
            self._do("flush the new collection", lambda: self._client.flush(physical))
            rows = self._do("count the new collection",
                            lambda: self._client.query(physical, filter="", output_fields=["count(*)"]))
            written = int(rows[0]["count(*)"])
            if written != len(ids):
                raise LikewiseError(f"Milvus at {self.uri} holds {written} of {len(ids)} records written to "
                                    f"{physical}; the index was left unchanged, run the rebuild again")
        except BaseException:
            self._client.drop_collection(physical)
            raise
        old = self._physical()
        self._do("switch the alias", lambda: self._client.alter_alias(physical, self.name))
        if old and old != physical:
            self._do("drop the old collection", lambda: self._client.drop_collection(old))
        self.meta = meta

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------------------------------------
    def _physical(self) -> str | None:
        described = self._do("describe the alias", lambda: self._client.describe_alias(self.name))
        return described.get("collection_name") if described else None

    def _read_metadata(self, name: str) -> IndexMeta:
        _check_name(name)
        if not self._do("check the collection", lambda: self._client.has_collection(name)):
            raise InputError(
                f"no collection or alias {name!r} at {self.uri}; build it with `likewise index --backend milvus` "
                f"(MilvusIndex.create in Python)"
            )
        described = self._do("describe the collection", lambda: self._client.describe_collection(name))
        try:
            meta = json.loads((described.get("properties") or {}).get(METADATA_PROPERTY) or "")
            if meta.get("format") != METADATA_FORMAT:
                raise ValueError("not likewise metadata")
            return IndexMeta(int(meta["dimension"]), str(meta["encoder_id"]), str(meta["vector_kind"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f"collection {name!r} at {self.uri} was not made by likewise (its description has no likewise "
                f"metadata); pick another name or rebuild it with `likewise index --backend milvus`"
            ) from exc

    def _do(self, what: str, action: Callable[[], T]) -> T:
        return _call(self.uri, what, action, retries=self.retries)


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise InputError(
            f"invalid Milvus collection name {name!r}: use letters, digits and _ (not starting with a digit, at "
            f"most 200 characters); collection_name(workspace, kind) makes one"
        )


def _connect(uri: str, token: str | None, timeout: float) -> Any:
    pymilvus = _pymilvus()
    if "://" not in uri and not uri.endswith(".db"):
        raise InputError(f"Milvus URI {uri!r} is neither a server URI (http://host:19530) nor a Milvus Lite file "
                         f"ending in .db")
    # Milvus Lite runs its own local server, whose gRPC end can refuse a fresh client's first connection
    # ("too_many_pings" GOAWAY, seen once in a CI run): a Lite file gets two more tries; a server URI none
    attempts = LITE_CONNECT_ATTEMPTS if uri.endswith(".db") else 1
    for attempt in range(attempts):
        try:
            return pymilvus.MilvusClient(uri=uri, token=token or "", timeout=timeout)
        except pymilvus.MilvusException as exc:
            if attempt + 1 < attempts:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise InputError(
                f"cannot reach Milvus at {uri}: {exc.message}; start the server (or check the URI and token)"
            ) from exc
        except (OSError, RuntimeError) as exc:
            raise InputError(f"cannot open Milvus Lite at {uri}: {exc}; check the path is a writable .db file") from exc
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _call(uri: str, what: str, action: Callable[[], T], *, retries: int) -> T:
    """Run one Milvus call; transient failures are retried with backoff, others raise at once."""
    pymilvus = _pymilvus()
    for attempt in range(retries + 1):
        try:
            return action()
        except pymilvus.MilvusException as exc:
            transient = exc.code in _TRANSIENT_CODES or isinstance(
                exc, (pymilvus.exceptions.ConnectError, pymilvus.exceptions.MilvusUnavailableException))
            if transient and attempt < retries:
                time.sleep(0.5 * 2**attempt)
                continue
            if exc.code == 100:
                raise InputError(f"Milvus at {uri}: {exc.message}; build the index with `likewise index "
                                 f"--backend milvus`") from exc
            tries = f" after {attempt + 1} tries" if attempt else ""
            raise LikewiseError(f"Milvus at {uri} could not {what}{tries}: {exc.message}") from exc
    raise AssertionError("unreachable")


def _create_physical(
    client: Any, uri: str, name: str, meta: IndexMeta, index_type: str, index_params: dict[str, Any] | None
) -> str:
    pymilvus = _pymilvus()
    DataType = pymilvus.DataType
    physical = f"{name}__{uuid.uuid4().hex[:8]}"
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX_BYTES)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=meta.dimension)
    schema.add_field("label", DataType.VARCHAR, max_length=LABEL_MAX_BYTES)
    schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
    params = client.prepare_index_params()
    params.add_index("vector", index_type=index_type, metric_type="IP", params=index_params or {})
    _call(uri, "create a collection", lambda: client.create_collection(
        physical, schema=schema, index_params=params, consistency_level="Strong",
        properties={METADATA_PROPERTY: json.dumps(
            {"format": METADATA_FORMAT, "version": METADATA_VERSION, **asdict(meta)})},
    ), retries=1)
    return physical
