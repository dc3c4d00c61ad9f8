"""Leads, their timeline (activities) and the API's request/response shapes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadtide.models.common import (
    ChannelType,
    Grade,
    LeadStatus,
    as_utc,
    bounds_problem,
)
from leadtide.models.errors import UnprocessableError
from leadtide.models.lead_scores import GradeOverride, PredictionFactor
from leadtide.models.messages import (
    AdReferral,
    DeliveryStatus,
    Direction,
    InteractiveReply,
    Location,
    Media,
    MessageKind,
)

LEAD_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_PAGE_SIZE = 100
"""The largest page of leads or activities one API request returns."""


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
    last_activity_at: datetime = Field(
        description=(
            "the latest interaction with the lead - a message either way (WhatsApp, Instagram, SMS, a form "
            "submission) or a tracked behaviour event - and never before created_at (a lead with no "
            "interaction yet shows its creation time); notes, edits, status, owner and grade changes and "
            "imports do not move it, a merge keeps the latest of the merged leads' (docs/data-model.md, "
            "'Last activity')"
        )
    )

    @model_validator(mode="after")
    def _active_since_creation(self) -> Lead:
        """``last_activity_at`` = max(``created_at``, latest interaction): a lead created from a message
        stamped before its creation (a provider's timestamp, a delayed delivery) starts at creation. Every
        writer builds the stored profile from this model, so the floor holds on creation; the clock
        update (``leadtide.dal.lead_profile.last_activity_advances``) keeps it afterwards."""
        if as_utc(self.last_activity_at) < as_utc(self.created_at):
            self.last_activity_at = self.created_at
        return self


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


def validate_tags(tags: list[str]) -> list[str]:
    """Check each tag (1-50 chars: letters, digits, space . : / & + -) and drop repeats, keeping order.

    Raises:
        ValueError: naming the invalid tags (pydantic validators turn it into a 422).
    """
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
        return validate_tags(v)


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
        return None if v is None else validate_tags(v)


class ActivityType(StrEnum):
    """Kinds of timeline entries."""

    MESSAGE = "message"
    NOTE = "note"
    STATUS_CHANGE = "status_change"
    OWNER_CHANGE = "owner_change"
    TRACKED_EVENT = "tracked_event"  # a behaviour event from POST /events (raw_type = event type)
    GRADE_OVERRIDE = "grade_override"  # a grade set or cleared by hand (data: grade, reason)
    MERGED = "merged"  # other leads merged into this one (data: merge_id, merged leads' ids and names)


ACTIVITY_TEXT_MAX_CHARS = 16_384
"""Longest message text kept on a timeline activity, in characters: four times WhatsApp's 4,096-character
limit, and at most about 200 KB however the item is encoded (DynamoDB items hold 400 KB). Longer texts are
kept whole beside the activity (``text_truncated``)."""


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
    text_truncated: bool = Field(
        default=False,
        description="the message text was longer than an activity keeps: `text` is its first "
        f"{ACTIVITY_TEXT_MAX_CHARS} characters and `GET /leads/{{lead_id}}/activities/{{activity_id}}/text` "
        "gives the whole text",
    )
    text_length: int | None = Field(
        default=None, description="length of the whole message text in characters (when truncated)"
    )
    media: list[Media] = Field(default_factory=list)
    interactive: InteractiveReply | None = None
    location: Location | None = None
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


class ActivityText(BaseModel):
    """``GET /leads/{lead_id}/activities/{activity_id}/text``: where to download a truncated message's
    whole text (UTF-8 ``text/plain``)."""

    activity_id: str
    lead_id: str
    length: int = Field(description="characters")
    text_url: str = Field(description="presigned GET URL of the whole text (text/plain; charset=utf-8)")
    expires_at: datetime


class ActivityPage(BaseModel):
    """One page of a lead's timeline, oldest first."""

    items: list[Activity]
    next_cursor: str | None = None


class NoteCreate(BaseModel):
    """Body of ``POST /leads/{lead_id}/notes``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=10000)


class DashboardSummary(BaseModel):
    """``GET /dashboard/summary``: lead counts over what the caller may see - the tenant's for admins and
    managers (kept as counters, updated with each change), a rep's own and unassigned leads for a rep
    (counted on request)."""

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


LeadPredicate = Callable[[Mapping[str, Any]], bool]
"""A test of a stored lead profile record (attribute name -> value, as ``LeadItem`` holds it): a compiled
condition of :mod:`leadtide.conditions`."""


@dataclass(frozen=True)
class LeadQuery:
    """Filters, order and page of ``GET /leads`` as the repository runs them.

    ``owner_id`` may be a user id or the literal ``"unassigned"``; ``visible_to`` restricts the result to
    leads owned by that user or unassigned (the rep rule). ``search`` matches name, email, phone or company
    (case-insensitive substring). ``created_from``/``created_to`` and ``last_activity_from``/
    ``last_activity_to`` are inclusive bounds of ``created_at`` and ``last_activity_at``. ``condition``
    (tags, custom fields: built by :func:`leadtide.leads.filters.lead_query`) is evaluated on each profile
    read; only leads it accepts are returned.

    Raises:
        UnprocessableError (422): a ``*_from`` bound is after its ``*_to``.
    """

    status: str | None = None
    source_channel: str | None = None
    owner_id: str | None = None
    grade: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    last_activity_from: datetime | None = None
    last_activity_to: datetime | None = None
    search: str | None = None
    condition: LeadPredicate | None = None
    sort: SortField = "created"
    descending: bool = True
    limit: int = 25
    cursor: str | None = None
    visible_to: str | None = None

    def __post_init__(self) -> None:
        for name in ("created", "last_activity"):
            problem = bounds_problem(getattr(self, f"{name}_from"), getattr(self, f"{name}_to"), name)
            if problem:
                raise UnprocessableError(problem, details=[{"field": f"{name}_from", "problem": problem}])
