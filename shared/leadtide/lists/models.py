"""Static lists: request and response shapes of ``/lists``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadtide.models.selection import (
    LeadFilter,  # the GET /leads filters, shared with exports and bulk actions
)

MAX_IDS_PER_REQUEST = 1000
MAX_CSV_BYTES = 1_000_000


class StaticList(BaseModel):
    """A static list: a named set of leads that changes only when someone adds or removes leads."""

    list_id: str
    name: str
    description: str | None = None
    count: int = Field(
        description="number of leads in the list the caller may see (a rep: their own and unassigned ones)"
    )
    created_by: str
    created_at: datetime
    updated_at: datetime


class StaticListCollection(BaseModel):
    """``GET /lists``: every static list of the tenant, most recently updated first."""

    items: list[StaticList]


class StaticListCreate(BaseModel):
    """Body of ``POST /lists``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)


class StaticListUpdate(BaseModel):
    """Body of ``PATCH /lists/{list_id}``: rename or describe."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)


class ListLeadsAdd(BaseModel):
    """Body of ``POST /lists/{list_id}/leads``: ``lead_ids`` or a ``filter``, not both."""

    model_config = ConfigDict(extra="forbid")

    lead_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_IDS_PER_REQUEST)
    filter: LeadFilter | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ListLeadsAdd:
        if (self.lead_ids is None) == (self.filter is None):
            raise ValueError("send either lead_ids or filter")
        return self


class ListLeadsRemove(BaseModel):
    """Body of ``DELETE /lists/{list_id}/leads``."""

    model_config = ConfigDict(extra="forbid")

    lead_ids: list[str] = Field(min_length=1, max_length=MAX_IDS_PER_REQUEST)


class AddResult(BaseModel):
    """Outcome of adding leads to a list. ``queued``: the rest continues in the background (jobs queue)."""

    added: int = 0
    already_members: int = 0
    not_found: list[str] = Field(default_factory=list, description="ids of leads that do not exist")
    not_visible: list[str] = Field(
        default_factory=list, description="ids of leads the caller (a rep) may not see; not added"
    )
    queued: bool = False
    job_id: str | None = Field(
        default=None,
        description="with queued: the background job finishing the add; GET /lists/{list_id}/jobs/{job_id}",
    )


ListJobStatus = Literal["running", "completed", "failed"]
ListJobKind = Literal["add_by_filter"]


class ListJob(BaseModel):
    """``GET /lists/{list_id}/jobs/{job_id}``: a filter add that continues in the background.

    ``added`` and ``already_members`` are totals of the whole add, the part answered synchronously (the
    202) included; they grow after each background step (up to 5,000 leads per step). ``status`` is
    ``running`` until the last step, then ``completed``; ``failed`` with ``error`` when a step cannot go on
    (the list was deleted, or a step failed three times); leads added before that stay in the list.
    """

    job_id: str
    list_id: str
    kind: ListJobKind = "add_by_filter"
    status: ListJobStatus
    filter: dict[str, Any] = Field(description="the filters of the add, as sent")
    added: int = Field(description="leads added to the list so far")
    already_members: int = Field(description="matching leads that were already in the list")
    steps: int = Field(description="background steps applied so far")
    created_by: str
    created_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class ListJobPage(BaseModel):
    """``GET /lists/{list_id}/jobs``: one page of a list's background jobs, newest first."""

    items: list[ListJob]
    next_cursor: str | None = Field(
        default=None, description="pass as cursor for the next page; null at the end"
    )


class ListJobRecord(ListJob):
    """A list job as stored (not an API shape): the requester's role (steps act with it), the inbox cursor
    where the next step starts, the step last applied (``steps``) and the step last queued, and the failed
    attempts of the current step."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    created_role: str
    cursor: str | None = None
    queued_step: int = 0
    attempts: int = 0

    def view(self) -> ListJob:
        """The public shape."""
        return ListJob.model_validate(self.model_dump(include=set(ListJob.model_fields)))


class RemoveResult(BaseModel):
    """Outcome of removing leads from a list."""

    removed: int = 0
    not_members: int = 0
    not_visible: list[str] = Field(default_factory=list)


class ListImportRequest(BaseModel):
    """Body of ``POST /lists/{list_id}/imports``: CSV text (at most 1 MB) of emails and/or phone numbers.

    With a header row, the columns named like ``email``/``e-mail`` and ``phone``/``mobile``/``whatsapp``
    are read (or only ``column`` when given); without one, every cell is read as an email when it has an
    ``@`` and as a phone number otherwise.
    """

    model_config = ConfigDict(extra="forbid")

    csv: str = Field(min_length=1, max_length=MAX_CSV_BYTES)
    column: str | None = Field(default=None, max_length=100, description="header of the one column to read")


class ListImportResult(BaseModel):
    """Outcome of a CSV import into a list: rows read, leads matched by identity (email/phone), added."""

    rows: int
    matched: int = Field(description="rows whose email or phone belongs to a lead")
    unmatched: int = Field(description="rows with valid values that match no lead")
    invalid: int = Field(description="rows with no valid email or phone")
    added: int
    already_members: int
    not_visible: int = 0
    unmatched_values: list[str] = Field(default_factory=list, description="up to 50 unmatched values")
