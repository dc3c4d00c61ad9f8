"""API shapes of the lead-profile backfill (``POST /admin/backfill``; logic in ``leadtide.leads.backfill``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class BackfillAccepted(BaseModel):
    """``POST /admin/backfill``: a backfill of the caller's tenant was queued (jobs queue, one step per
    page of profiles; the workers log each page's counts and the run's summary under ``run_id``)."""

    status: Literal["queued"] = "queued"
    tenant_id: str
    run_id: str = Field(description="id of this run in the jobs worker's logs (32 hex characters)")
    kind: str = Field(description="the jobs-queue kind that runs it (leads.backfill)")
