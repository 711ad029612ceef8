"""The workspace: records, labels, vectors, heads, indexes and runs in one folder that never tears.

See :mod:`likewise.workspace.core` (the folder, its manifest and the writer protocol),
:mod:`likewise.workspace.labelstore` (labels, the run log, sessions in SQLite),
:mod:`likewise.workspace.lock` (one writer at a time) and :mod:`likewise.workspace.objects`
(content-addressed files).
"""
from __future__ import annotations

from likewise.workspace.core import (
    DEFAULT_WORKSPACE,
    MANIFEST,
    SCHEMA_VERSION,
    VECTOR_KINDS,
    WORKSPACE_ENV,
    StaleVectorsError,
    VectorKind,
    Vectors,
    Workspace,
    default_workspace_path,
    now_iso,
)
from likewise.workspace.labelstore import LabelInput, LabelState, LabelStore
from likewise.workspace.lock import WorkspaceBusyError
from likewise.workspace.objects import CorruptObjectError

__all__ = [
    "DEFAULT_WORKSPACE", "MANIFEST", "SCHEMA_VERSION", "VECTOR_KINDS", "WORKSPACE_ENV", "CorruptObjectError",
    "LabelInput", "LabelState", "LabelStore", "StaleVectorsError", "VectorKind", "Vectors", "Workspace",
    "WorkspaceBusyError", "default_workspace_path", "now_iso",
]
