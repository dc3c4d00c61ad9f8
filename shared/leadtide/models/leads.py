"""Leads, their timeline (activities) and the API's request/response shapes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadtide.models.common import ChannelType, Grade, LeadStatus, created_bounds_problem
from leadtide.models.errors import UnprocessableError
from leadtide.models.messages import (
    AdReferral,
    DeliveryStatus,
    Direction,
    InteractiveReply,
    Media,
    MessageKind,
)
from leadtide.models.scoring import GradeOverride, PredictionFactor

LEAD_ID_PATTERN = r"^[0-9a-f]{32}$"


class ScoreFactor(BaseModel):
    """One contribution to a lead score: ``points`` (may be negative) from ``factor`` because of ``detail``."""

    factor: str = Field(description="machine name, e.g. 'engagement.inbound_messages', 'intent.pricing'")
    label: str = Field(description="plain-language name shown to users")
    points: float
    detail: str | None = None


class Lead(BaseModel):
    """A lead as stored and as ``GET /leads/{lead_id}`` returns it.

    ``score`` is 0-100 (None until first scored); ``grade`` derives from it. ``phone`` is E.164,
    ``email`` lower-case, ``instagram_id`` the Instagram-scoped user id. Times are UTC.
    """

    model_config = ConfigDict(extra="ignore")

    lead_id: str
    tenant_id: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    instagram_id: str | None = None
    company: str | None = None
    job_title: str | None = None
    source_channel: ChannelType
    source_channel_id: str | None = None
    referral: AdReferral | None = None
    status: LeadStatus = LeadStatus.NEW
    owner_id: str | None = None
    score: int | None = None
    grade: Grade | None = None
    score_breakdown: list[ScoreFactor] = Field(default_factory=list)
    scored_at: datetime | None = None
    tags: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    message_count: int = 0
    last_message_preview: str | None = None
    import_id: str | None = Field(default=None, description="the import that created the lead, if any")
    # Scoring models (leadtide.scoring): ``grade`` is the displayed grade (a manual override wins);
    # ``computed_grade`` is what the scores say. Fit and engagement are the rules engine's group totals,
    # ``conversion_probability`` the predictive model's (0..1) with its explanation.
    computed_grade: Grade | None = None
    fit_score: float | None = None
    engagement_score: float | None = None
    conversion_probability: float | None = None
    prediction_factors: list[PredictionFactor] = Field(default_factory=list)
    prediction_model_version: str | None = None
    scoring_model_id: str | None = None
    grade_override: GradeOverride | None = None
    # Read-only activity summary by behaviour event type (leadtide.dal.engagement), what the condition
    # fields activity.<type> / activity_count.<type> read; null until the lead's first tracked event or
    # captured message.
    last_engaged: dict[str, str] | None = Field(
        default=None,
        description="event type -> ISO-8601 UTC instant of the lead's latest occurrence of it (read-only)",
    )
    engaged_counts: dict[str, int] | None = Field(
        default=None, description="event type -> how many times the lead did it, all time (read-only)"
    )
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime


class LeadSummary(BaseModel):
    """A row of the lead inbox (``GET /leads``)."""

    lead_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    instagram_id: str | None = None
    company: str | None = None
    source_channel: ChannelType
    status: LeadStatus
    owner_id: str | None = None
    score: int | None = None
    grade: Grade | None = None
    tags: list[str] = Field(default_factory=list)
    message_count: int = 0
    last_message_preview: str | None = None
    created_at: datetime
    last_activity_at: datetime


class LeadPage(BaseModel):
    """One page of leads; pass ``next_cursor`` back as ``cursor`` for the next page (null: no more)."""

    items: list[LeadSummary]
    next_cursor: str | None = None


_TAG = re.compile(r"^[\w][\w .:/&+-]{0,49}$")


def _validate_tags(tags: list[str]) -> list[str]:
    """Check each tag (1-50 chars: letters, digits, space . : / & + -) and drop repeats, keeping order."""
    bad = [t for t in tags if not _TAG.match(t)]
    if bad:
        raise ValueError(f"invalid tags {bad}: 1-50 chars of letters, digits, space . : / & + -")
    return list(dict.fromkeys(tags))


class LeadCreate(BaseModel):
    """Body of ``POST /leads``: a lead entered by hand. Needs an email or a phone to identify the lead."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320, description="checked and lower-cased on save")
    phone: str | None = Field(default=None, max_length=40, description="any format; stored as E.164")
    company: str | None = Field(default=None, max_length=200)
    job_title: str | None = Field(default=None, max_length=200)
    status: LeadStatus = LeadStatus.NEW
    owner_id: str | None = Field(default=None, max_length=128)
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(
        default_factory=dict,
        max_length=200,
        description="values of the tenant's custom fields by key (see /custom-fields); checked and converted",
    )

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return _validate_tags(v)


class LeadUpdate(BaseModel):
    """Body of ``PATCH /leads/{lead_id}``: only the fields present change; ``null`` clears a field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    job_title: str | None = Field(default=None, max_length=200)
    status: LeadStatus | None = None
    owner_id: str | None = Field(default=None, max_length=128)
    tags: list[str] | None = Field(default=None, max_length=50)
    custom_fields: dict[str, Any] | None = Field(
        default=None,
        max_length=200,
        description="custom field values to change by key; other keys keep their values, null clears one",
    )

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _validate_tags(v)


class ActivityType(StrEnum):
    """Kinds of timeline entries."""

    MESSAGE = "message"
    NOTE = "note"
    STATUS_CHANGE = "status_change"
    OWNER_CHANGE = "owner_change"
    TRACKED_EVENT = "tracked_event"  # a behaviour event from POST /events (raw_type = event type)
    GRADE_OVERRIDE = "grade_override"  # a grade set or cleared by hand (data: grade, reason)
    MERGED = "merged"  # other leads merged into this one (data: merge_id, merged leads' ids and names)


class Activity(BaseModel):
    """One entry on a lead's timeline (messages in and out, notes, status changes), oldest first."""

    activity_id: str
    lead_id: str
    type: ActivityType
    occurred_at: datetime
    channel: ChannelType | None = None
    channel_id: str | None = None
    direction: Direction | None = None
    kind: MessageKind | None = None
    raw_type: str | None = None
    text: str | None = None
    media: list[Media] = Field(default_factory=list)
    interactive: InteractiveReply | None = None
    referral: AdReferral | None = None
    reply_to_provider_message_id: str | None = None
    forwarded: bool = False
    form_fields: dict[str, Any] = Field(default_factory=dict)
    provider_message_id: str | None = None
    delivery_status: DeliveryStatus | None = None
    retracted: bool = False
    author_id: str | None = None
    data: dict[str, Any] = Field(
        default_factory=dict, description="type-specific extra data (e.g. old/new status)"
    )


class ActivityPage(BaseModel):
    """One page of a lead's timeline, oldest first."""

    items: list[Activity]
    next_cursor: str | None = None


class NoteCreate(BaseModel):
    """Body of ``POST /leads/{lead_id}/notes``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=10000)


class DashboardSummary(BaseModel):
    """``GET /dashboard/summary``: lead counts for the tenant (kept as counters, updated with each change)."""

    total_leads: int
    by_status: dict[str, int]
    by_source: dict[str, int]


class ErrorDetail(BaseModel):
    """One problem in a request: the field (dotted path) and what is wrong with it."""

    model_config = ConfigDict(extra="allow")

    field: str | None = None
    problem: str | None = None


class ErrorBody(BaseModel):
    """The error object inside every 4xx response."""

    code: str = Field(description="stable snake_case code, e.g. 'lead_not_found'")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one JSON shape of every 4xx answer a Leadtide function gives: ``{"error": {...}}``.

    API Gateway's own answers, given before any function runs, have :class:`GatewayError`'s shape."""

    error: ErrorBody


class GatewayError(BaseModel):
    """API Gateway's own answer, given before any Leadtide function runs: ``{"message": "Unauthorized"}``.

    An HTTP API answers 401 ``Unauthorized`` when its JWT authorizer refuses the token, 404 ``Not Found``
    when no route matches, 413 ``Request Entity Too Large`` over its 10 MB payload limit and 429
    ``Too Many Requests`` when throttled; HTTP APIs cannot customise these bodies (unlike REST APIs'
    gateway responses). Source: API Gateway developer guide, "Control access to HTTP APIs with JWT
    authorizers" and "Quotas for configuring and running an HTTP API"."""

    message: str = Field(description="API Gateway's reason, e.g. `Unauthorized` or `Not Found`")


SortField = Literal["created", "last_activity", "score"]


@dataclass(frozen=True)
class LeadQuery:
    """Filters, order and page of ``GET /leads``.

    ``owner_id`` may be a user id or the literal ``"unassigned"``; ``visible_to`` restricts the result to
    leads owned by that user or unassigned (the rep rule). ``search`` matches name, email, phone or company
    (case-insensitive substring). ``created_from``/``created_to`` are inclusive bounds.

    Raises:
        UnprocessableError (422): ``created_from`` is after ``created_to``.
    """

    status: str | None = None
    source_channel: str | None = None
    owner_id: str | None = None
    grade: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    search: str | None = None
    sort: SortField = "created"
    descending: bool = True
    limit: int = 25
    cursor: str | None = None
    visible_to: str | None = None

    def __post_init__(self) -> None:
        problem = created_bounds_problem(self.created_from, self.created_to)
        if problem:
            raise UnprocessableError(problem, details=[{"field": "created_from", "problem": problem}])
