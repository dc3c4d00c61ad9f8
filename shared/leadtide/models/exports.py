"""Exports of leads to CSV, XLSX or JSON Lines files: requests, stored records and API responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadtide.models.common import ChannelType, Grade, IsoDateTime, LeadStatus, created_bounds_problem
from leadtide.models.selection import LeadSelection, selection_of

ExportFormat = Literal["csv", "xlsx", "json"]
JobStatus = Literal["queued", "running", "completed", "failed"]

_FILTER_FIELDS = ("status", "source", "owner", "grade", "created_from", "created_to", "q")


def _deprecated_filter(name: str) -> dict[str, Any]:
    """Field options of a top-level filter of ``POST /exports`` (deprecated: ``selection.filter.<name>``)."""
    return {
        "default": None,
        "description": f"deprecated: use selection.filter.{name}",
        "json_schema_extra": {"deprecated": True},
    }


class ExportCreate(BaseModel):
    """Body of ``POST /exports``.

    ``selection`` names the leads, in the selection shape of ``POST /bulk-actions`` and
    ``POST /lists/{list_id}/leads``: exactly one of ``lead_ids``, ``list_id``, ``segment_id`` or ``filter``
    (the ``GET /leads`` filters); without it, every lead the caller can see is exported. ``fields`` picks
    and orders the columns (lead field names, or custom field keys); by default every lead field and then
    every custom field, each in its own column headed by its label.

    Deprecated: the filters status, source, owner, grade, created_from, created_to and q at the top level
    (the shape before selections) are still accepted and mean ``selection.filter``; give one or the other.
    Newer filters (tag, custom_field, last_activity_*) exist only in ``selection.filter``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    format: ExportFormat = Field(description="csv (UTF-8 with BOM), xlsx, or json (JSON Lines)")
    selection: LeadSelection | None = Field(
        default=None, description="the leads to export (default: every lead the caller can see)"
    )
    fields: list[str] | None = Field(default=None, min_length=1, max_length=200)
    status: LeadStatus | None = Field(**_deprecated_filter("status"))
    source: ChannelType | None = Field(**_deprecated_filter("source"))
    owner: str | None = Field(min_length=1, max_length=128, **_deprecated_filter("owner"))
    grade: Grade | None = Field(**_deprecated_filter("grade"))
    created_from: IsoDateTime | None = Field(**_deprecated_filter("created_from"))
    created_to: IsoDateTime | None = Field(**_deprecated_filter("created_to"))
    q: str | None = Field(max_length=100, **_deprecated_filter("q"))

    @model_validator(mode="after")
    def _selection_or_filters(self) -> ExportCreate:
        filters = [name for name in _FILTER_FIELDS if getattr(self, name) is not None]
        if self.selection is not None and filters:
            raise ValueError(f"give a selection or filters, not both (filters given: {', '.join(filters)})")
        problem = created_bounds_problem(self.created_from, self.created_to)
        if problem:
            raise ValueError(problem)
        if self.selection is not None:
            self._resolved = self.selection
        else:  # deprecated top-level filters: read as the filter selection they mean, here (a 422)
            values = {name: getattr(self, name) for name in _FILTER_FIELDS if getattr(self, name) is not None}
            self._resolved = selection_of(filter=values)
        return self

    def resolved_selection(self) -> LeadSelection:
        """The selection to export: ``selection`` itself, or the top-level filters as a filter selection."""
        assert self._resolved is not None  # set by the model validator
        return self._resolved


class ExportRecord(BaseModel):
    """An export as stored (one item per export; see docs/data-model.md). Times are UTC.

    ``requested_by``/``requested_role`` are the caller's user id and role: the background step applies the
    same visibility rule (reps: own and unassigned leads) as the request would have.
    """

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    export_id: str
    format: ExportFormat
    fields: list[str] | None = None
    selection: dict[str, Any]
    requested_by: str
    requested_role: str
    status: JobStatus = "queued"
    rows: int = 0
    attempts: int = 0
    object_key: str | None = None
    error: str | None = None
    bulk_action_id: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None


class ExportDownload(BaseModel):
    """A short-lived presigned S3 GET URL of the finished file."""

    url: str
    expires_at: datetime


class Export(BaseModel):
    """``GET /exports/{export_id}``: progress of an export and, once completed, where to download it."""

    export_id: str
    status: JobStatus
    format: ExportFormat
    rows: int = Field(description="leads written so far (all of them once completed)")
    selection: dict[str, Any] = Field(description="what was selected (explicit ids are counted)")
    fields: list[str] | None = None
    requested_by: str
    created_at: datetime
    completed_at: datetime | None = None
    file_expires_at: datetime | None = Field(
        default=None, description="when the finished file is deleted (7 days after completion)"
    )
    download: ExportDownload | None = Field(
        default=None, description="present when completed and the file is still kept"
    )
    error: str | None = Field(default=None, description="why the export failed")


class ExportList(BaseModel):
    """``GET /exports``: the tenant's exports, newest first (reps see their own)."""

    items: list[Export]
    next_cursor: str | None = None


_last_stamp = 0


def time_ordered_id() -> str:
    """A new 32-hex-character id that sorts by creation time: 56 bits of microseconds since the epoch
    (strictly increasing within a process), then 72 random bits. A tenant's exports and bulk actions
    therefore list newest first straight from the sort key."""
    import secrets
    import time

    global _last_stamp
    stamp = max(time.time_ns() // 1000, _last_stamp + 1)
    _last_stamp = stamp
    return f"{stamp:014x}{secrets.token_hex(9)}"
