"""Static lists: request and response shapes of ``/lists``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from pydantic.json_schema import JsonDict

from leadtide.models.selection import (  # the GET /leads filters and selections, shared with exports and bulk actions
    LeadFilter,
    LeadSelection,
    selection_of,
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


_DEPRECATED: JsonDict = {"deprecated": True}
"""JSON-schema mark of a field kept for a deprecation period (OpenAPI ``deprecated: true``)."""


class ListLeadsAdd(BaseModel):
    """Body of ``POST /lists/{list_id}/leads``: ``{"selection": {"lead_ids": [...]}}`` (up to 1,000 ids) or
    ``{"selection": {"filter": {...}}}`` (the ``GET /leads`` filters): the selection shape of exports and
    bulk actions. A list's or segment's members are added with ``POST /bulk-actions`` (``add_to_list``).

    Deprecated: the same ``lead_ids`` or ``filter`` at the top level (the shape before selections), still
    accepted; give one spelling, not both.
    """

    model_config = ConfigDict(extra="forbid")

    selection: LeadSelection | None = Field(
        default=None, description="the leads to add: lead_ids (up to 1,000) or filter"
    )
    lead_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IDS_PER_REQUEST,
        description="deprecated: use selection.lead_ids",
        json_schema_extra=_DEPRECATED,
    )
    filter: LeadFilter | None = Field(
        default=None, description="deprecated: use selection.filter", json_schema_extra=_DEPRECATED
    )
    _resolved: LeadSelection | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_of(self) -> ListLeadsAdd:
        old = [name for name in ("lead_ids", "filter") if getattr(self, name) is not None]
        if self.selection is not None and old:
            raise ValueError(f"give selection or the deprecated {' / '.join(old)}, not both")
        if self.selection is None and len(old) != 1:
            raise ValueError("give selection: {lead_ids: [...]} or {filter: {...}}")
        if self.selection is not None:
            _check_addable(self.selection)
            self._resolved = self.selection
        elif self.lead_ids is not None:  # deprecated spelling: read as the selection it means, here (a 422)
            self._resolved = selection_of(lead_ids=self.lead_ids)
        else:
            self._resolved = selection_of(filter=self.filter)
        return self

    def resolved_selection(self) -> LeadSelection:
        """The selection to add, whichever spelling was sent (``kind`` is ``lead_ids`` or ``filter``)."""
        assert self._resolved is not None  # set by the model validator
        return self._resolved


def _check_addable(selection: LeadSelection) -> None:
    if selection.list_id is not None or selection.segment_id is not None:
        raise ValueError(
            f"a list adds leads by selection.lead_ids or selection.filter; to add a "
            f"{'list' if selection.list_id else 'segment'}'s leads use POST /bulk-actions with "
            '"action": "add_to_list"'
        )
    _check_id_count(selection, "use selection.filter, or POST /bulk-actions")


def _check_id_count(selection: LeadSelection, hint: str) -> None:
    if selection.lead_ids is not None and len(selection.lead_ids) > MAX_IDS_PER_REQUEST:
        raise ValueError(f"at most {MAX_IDS_PER_REQUEST} lead_ids per request ({hint})")


class ListLeadsRemove(BaseModel):
    """Body of ``DELETE /lists/{list_id}/leads``: ``{"selection": {"lead_ids": [...]}}`` (up to 1,000).

    Deprecated: ``lead_ids`` at the top level, still accepted; give one spelling, not both.
    """

    model_config = ConfigDict(extra="forbid")

    selection: LeadSelection | None = Field(default=None, description="the leads to remove: lead_ids")
    lead_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IDS_PER_REQUEST,
        description="deprecated: use selection.lead_ids",
        json_schema_extra=_DEPRECATED,
    )

    @model_validator(mode="after")
    def _one_of(self) -> ListLeadsRemove:
        if (self.selection is None) == (self.lead_ids is None):
            raise ValueError("give selection: {lead_ids: [...]} (or the deprecated lead_ids), not both")
        if self.selection is not None:
            if self.selection.lead_ids is None:
                raise ValueError(f"a list removes leads by selection.lead_ids, not {self.selection.kind}")
            _check_id_count(self.selection, 'use POST /bulk-actions with "action": "remove_from_list"')
        return self

    @property
    def ids(self) -> list[str]:
        """The lead ids to remove, whichever spelling was sent."""
        ids = self.selection.lead_ids if self.selection is not None else self.lead_ids
        assert ids is not None
        return ids


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
