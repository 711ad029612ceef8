"""The server's in-memory copy of a workspace's records and vectors, so a keystroke never rebuilds an index.

:class:`Space` holds the record ids and texts, the raw vectors and the *current* vectors (tuned when the
workspace has current tuned vectors, else raw: :meth:`Workspace.resolve_kind`), with a ``version`` that
grows each time they are replaced (a retrain of this server, or another command's commit seen by
:meth:`Space.sync`). Arrays are replaced, never changed in place, so a request that read them keeps a
consistent set. Free-text queries are encoded with the workspace's model (loaded once) and, for tuned
vectors, passed through the workspace's head, as :func:`likewise.ops.search.text_query_vector` does.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likewise.errors import InputError
from likewise.workspace import Workspace


@dataclass(frozen=True)
class Vectors:
    """One consistent set: current vectors, which kind they are, their content id and version."""

    current: np.ndarray
    kind: str
    content: str
    version: int
    head: Any = None  # the Tuner that made tuned vectors from raw ones (None for raw or a tuned encoder)
    _first_pass: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        from likewise.first_pass import OnSecondQuery

        object.__setattr__(self, "_first_pass", OnSecondQuery(self.current))

    def first_pass(self):
        """The int8 first pass of ``current`` for one query (:mod:`likewise.first_pass`: same results, a
        quarter of the memory read), from the second query of these vectors on when they are many; else None."""
        return self._first_pass.get()


class Space:
    """Records and vectors of ``ws`` in memory."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._lock = threading.RLock()
        self._encoder: Any = None
        self._generation = -1
        self._version = 0
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.row: dict[str, int] = {}
        self.raw = np.zeros((0, 0), np.float32)
        self.raw_content = ""
        self.vectors = Vectors(self.raw, "raw", "", 0)
        self.sync(force=True)

    @property
    def size(self) -> int:
        return len(self.ids)

    def sync(self, *, force: bool = False) -> bool:
        """Re-read the manifest; reload what another command changed. True when the vectors changed."""
        with self._lock:
            self.ws.reload()
            if not force and self.ws.generation == self._generation:
                return False
            self._generation = self.ws.generation
            ids = self.ws.record_ids()
            raw_info = self.ws.vectors_info("raw")
            if raw_info is None:
                raise InputError(f"workspace {self.ws.path} has no vectors yet; run `likewise embed DATA` first")
            if ids != self.ids or raw_info["content"] != self.raw_content:
                data = self.ws.records()
                self.ids, self.texts = list(data.ids), list(data.texts)
                self.row = {rid: i for i, rid in enumerate(self.ids)}
                self.raw = np.ascontiguousarray(self.ws.vectors("raw").vectors, dtype=np.float32)
                self.raw_content = raw_info["content"]
            kind = self.ws.resolve_kind("auto")
            content = (self.ws.vectors_info(kind) or {}).get("content", "")  # type: ignore[arg-type]
            if content == self.vectors.content and kind == self.vectors.kind:
                return False
            if kind == "raw":
                self._set(self.raw, "raw", content, None)
            else:
                tuned = self.ws.vectors("tuned")
                head = self.ws.head() if self.ws.artifact("head") else None
                self._set(np.ascontiguousarray(tuned.vectors, dtype=np.float32), "tuned", content, head)
            return True

    def _set(self, current: np.ndarray, kind: str, content: str, head: Any) -> None:
        self._version += 1
        self.vectors = Vectors(current, kind, content, self._version, head)

    def replace(self, tuned: np.ndarray, content: str, head: Any) -> Vectors:
        """Switch to tuned vectors this process just committed (no re-read from disk)."""
        with self._lock:
            self.ws.reload()
            self._generation = self.ws.generation
            self._set(np.ascontiguousarray(tuned, dtype=np.float32), "tuned", content, head)
            return self.vectors

    # -- queries -------------------------------------------------------------------------------------------
    def rows_of(self, ids: list[str]) -> list[int]:
        unknown = [rid for rid in ids if rid not in self.row]
        if unknown:
            shown = ", ".join(repr(r) for r in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            raise InputError(f"{len(unknown)} record id(s) are not in the workspace: {shown}")
        return [self.row[rid] for rid in ids]

    def text_vector(self, text: str, vectors: Vectors) -> np.ndarray:
        """``text`` encoded with the workspace's model, through the head for tuned vectors (1-d)."""
        if not text.strip():
            raise InputError("the query text is empty")
        if vectors.kind == "tuned" and vectors.head is None:
            # tuned by a fine-tuned encoder: the library's own path (loads that model per query)
            from likewise.ops.search import text_query_vector

            return np.asarray(text_query_vector(self.ws, text, "tuned")[0], np.float32).reshape(-1)
        raw = self._model().embed([text])
        if vectors.kind == "tuned":
            raw = vectors.head.transform(raw)
        return np.asarray(raw, np.float32).reshape(-1)

    def _model(self):
        with self._lock:
            if self._encoder is None:
                from likewise.encoders import get_encoder

                spec = (self.ws.encoder_info() or {}).get("spec")
                if not spec:
                    raise InputError("this workspace's vectors were brought by the user (no model), so free text "
                                     "cannot be encoded; search by record id instead")
                encoder = get_encoder(spec["model"], runtime=spec.get("runtime", "auto"),
                                      precision=spec.get("precision", "fp32"))
                raw_encoder = (self.ws.vectors_info("raw") or {}).get("encoder")
                if encoder.identity != raw_encoder:
                    raise InputError(f"the workspace's raw vectors come from {raw_encoder!r} but its model now loads "
                                     f"as {encoder.identity!r}; run `likewise embed` again")
                self._encoder = encoder
            return self._encoder
