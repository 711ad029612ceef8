"""Request bodies of the HTTP API (pydantic models: the OpenAPI schema documents them)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from likewise.serve.sessions import MAX_LASSO, MAX_SESSION

RecordId = Field(min_length=1, max_length=1000)
Name = Field(min_length=1, max_length=200)
Author = Field(min_length=1, max_length=80, description="Who gives the label (one name per browser)")
Key = Field(default=None, min_length=1, max_length=100,
            description="Idempotency key of this request: a retry with the same key writes nothing twice")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelItem(Strict):
    id: str = RecordId
    label: str | None = Field(default=None, max_length=200, description="The class; null removes the label")
    expected: str | None = Field(default=None, max_length=200,
                                 description="The label the client last saw (null: unlabeled); a different current "
                                             "label by another author is reported as a conflict")
    only_unlabeled: bool = Field(default=False, description="Leave the record alone if it has a label by now")


class LabelsRequest(Strict):
    labels: list[LabelItem] = Field(min_length=1, max_length=20_000)
    author: str = Author
    key: str | None = Key
    session: str | None = Field(default=None, max_length=100)


class AuthorRequest(Strict):
    author: str = Author


class SessionRequest(Strict):
    start_id: str | None = Field(default=None, min_length=1, max_length=1000, description="The start record")
    ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_LASSO,
                                  description="A set of records instead (a lasso on the map)")
    size: int = Field(default=100, ge=1, le=MAX_SESSION, description="How many similar records")
    unlabeled_only: bool = True
    label: str | None = Field(default=None, max_length=200, description="Only records currently labeled so")
    source: Literal["manual", "imported", "weak", "predicted", "none"] | None = None
    author: str | None = Field(default=None, max_length=80)


class RerankRequest(Strict):
    skipped: list[str] = Field(default_factory=list, max_length=MAX_LASSO,
                               description="Rows the labeler skipped: they stay where they are")


class BulkRequest(Strict):
    position: int = Field(ge=0, description="The focused row (0 = the start record)")
    label: str = Name
    author: str = Author
    key: str | None = Key
    skipped: list[str] = Field(default_factory=list, max_length=MAX_LASSO)


class ClassRequest(Strict):
    name: str = Name


class RenameRequest(Strict):
    old: str = Name
    new: str = Name
    author: str = Author


class DeleteClassRequest(Strict):
    name: str = Name
    author: str = Author


class SettingsRequest(Strict):
    retrain_every: int | None = Field(default=None, ge=1, le=100_000, description="New labels between retrains")
    auto_retrain: bool | None = None


class JobRequest(Strict):
    author: str | None = Field(default=None, max_length=80)


class MapRequest(Strict):
    author: str | None = Field(default=None, max_length=80)
    projections: list[Literal["pca", "umap"]] = Field(default_factory=lambda: ["pca"], min_length=1, max_length=2)
    supervised: Literal["head2d", "umap_supervised", "none"] = "head2d"
    max_points: int = Field(default=20_000, ge=10, le=100_000)
