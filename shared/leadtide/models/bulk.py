"""Bulk actions on a selection of leads: requests, stored records, progress and partial-success reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadtide.models.exports import ExportDownload, ExportFormat, JobStatus
from leadtide.models.selection import LeadSelection

BulkActionKind = Literal[
    "set_status",
    "set_owner",
    "add_tags",
    "remove_tags",
    "add_to_list",
    "remove_from_list",
    "export",
    "delete",
]
OutcomeKind = Literal["failed", "skipped"]

MAX_INLINE_FAILURES = 1000
"""Failed and skipped leads listed inline in ``GET /bulk-actions/{id}``; all of them go to a CSV beyond."""


class BulkActionCreate(BaseModel):
    """Body of ``POST /bulk-actions``. ``params`` by action:

    - ``set_status``: ``{"status": "Contacted"}`` (a lead status)
    - ``set_owner``: ``{"owner_id": "<user id>"}`` (``null`` unassigns)
    - ``add_tags`` / ``remove_tags``: ``{"tags": ["vip", ...]}`` (1-50 tags)
    - ``add_to_list`` / ``remove_from_list``: ``{"list_id": "<static list id>"}``
    - ``export``: ``{"format": "csv"|"xlsx"|"json", "fields": [...]}`` (fields optional)
    - ``delete``: ``{}`` (admins and managers only)
    """

    model_config = ConfigDict(extra="forbid")

    selection: LeadSelection
    action: BulkActionKind
    params: dict[str, Any] = Field(default_factory=dict)


class BulkActionRecord(BaseModel):
    """A bulk action as stored. Counters move once per chunk, atomically with the chunk's done marker."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    bulk_action_id: str
    action: BulkActionKind
    params: dict[str, Any] = Field(default_factory=dict)
    selection: dict[str, Any]
    requested_by: str
    requested_role: str
    status: JobStatus = "queued"
    attempts: int = 0
    total: int | None = None
    chunks: int | None = None
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    export_id: str | None = None
    failures_key: str | None = None
    error: str | None = None
    created_at: datetime
    completed_at: datetime | None = None


class LeadOutcome(BaseModel):
    """One lead the action did not change: ``failed`` (e.g. ``forbidden``) or ``skipped`` (``not found``)."""

    lead_id: str
    outcome: OutcomeKind
    reason: str


class ChunkOutcome(BaseModel):
    """What one chunk did: counts, and the leads that failed or were skipped."""

    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    outcomes: list[LeadOutcome] = Field(default_factory=list)

    @property
    def processed(self) -> int:
        """Leads handled by the chunk, whatever their outcome."""
        return self.succeeded + self.failed + self.skipped


class BulkActionReport(BaseModel):
    """The partial-success report: the first 1,000 failed/skipped leads inline, and a CSV of all of them
    (``lead_id,outcome,reason``) when there are more."""

    failures: list[LeadOutcome]
    truncated: bool = Field(description="more failures than listed; download the CSV for all")
    download: ExportDownload | None = None


class BulkAction(BaseModel):
    """``GET /bulk-actions/{bulk_action_id}``: progress and the partial-success report.

    ``total`` is known once the selection is resolved (null before). For ``export`` actions, ``export_id``
    names the export (see ``GET /exports/{export_id}``) and ``download`` is its file once completed.
    """

    bulk_action_id: str
    action: BulkActionKind
    params: dict[str, Any]
    selection: dict[str, Any]
    status: JobStatus
    total: int | None = None
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    requested_by: str
    created_at: datetime
    completed_at: datetime | None = None
    error: str | None = None
    export_id: str | None = None
    export_format: ExportFormat | None = None
    download: ExportDownload | None = None
    report: BulkActionReport | None = Field(default=None, description="in GET by id, not in listings")


class BulkActionList(BaseModel):
    """``GET /bulk-actions``: the tenant's bulk actions, newest first (reps see their own)."""

    items: list[BulkAction]
    next_cursor: str | None = None
