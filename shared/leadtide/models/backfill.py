"""API shapes of the lead-profile backfill (``/admin/backfill``; logic in ``leadtide.leads.backfill``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BackfillRunStatus = Literal["running", "completed", "failed"]


class BackfillRun(BaseModel):
    """``GET /admin/backfill/{run_id}``: one backfill run of the tenant's lead profiles and its totals.

    The counts are totals over the steps applied so far (one step per page of profiles; each page is
    counted once, even when the jobs queue delivers its step twice). ``status`` is ``running`` until the
    last page, then ``completed``; ``failed`` with ``error`` when a step cannot go on (an invalid cursor,
    or a step failing three times); profiles updated before that stay updated.
    """

    run_id: str = Field(description="32 hex characters, time-ordered (runs list newest first)")
    status: BackfillRunStatus
    scanned: int = Field(default=0, description="profiles read (unreadable items included)")
    updated: int = Field(default=0, description="profiles written (missing or stale attributes)")
    up_to_date: int = Field(default=0, description="profiles that needed nothing")
    skipped_concurrent: int = Field(
        default=0, description="profiles changed between read and write: left alone, fixed by the next run"
    )
    unreadable: int = Field(default=0, description="items that do not parse as a lead (left alone)")
    attributes: dict[str, int] = Field(
        default_factory=dict, description="derived attribute -> profiles it was written to"
    )
    steps: int = Field(default=0, description="pages (jobs-queue steps) applied so far")
    started_by: str = Field(description="user id of the admin who started the run")
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class BackfillRunRecord(BackfillRun):
    """A run as stored (not an API shape): its tenant, where the next step starts (``cursor``, None on the
    first page and once completed), the last step queued and the failed attempts of the current step."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    cursor: str | None = None
    queued_step: int = 0
    attempts: int = 0

    def view(self) -> BackfillRun:
        """The public shape."""
        return BackfillRun.model_validate(self.model_dump(include=set(BackfillRun.model_fields)))


class BackfillRunList(BaseModel):
    """``GET /admin/backfill``: the tenant's backfill runs, newest first."""

    items: list[BackfillRun]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class BackfillAccepted(BaseModel):
    """``POST /admin/backfill``: a backfill of the caller's tenant was queued (jobs queue, one step per
    page of profiles). Follow it at ``status_url`` (``GET /admin/backfill/{run_id}``); the workers also log
    each page's counts and the run's summary under ``run_id``."""

    status: Literal["queued"] = "queued"
    tenant_id: str
    run_id: str = Field(description="id of this run (32 hex characters, time-ordered)")
    kind: str = Field(description="the jobs-queue kind that runs it (leads.backfill)")
    status_url: str = Field(description="path of the run's progress: /admin/backfill/{run_id}")
    run: BackfillRun = Field(description="the run as stored when queued (status running, counts 0)")
