"""Behavioural event tracking (``POST /events``, ``POST /track/events``) and integration API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadtide.models.scoring import EVENT_TYPE_PATTERN, INTENT_EVENT_PREFIX

MAX_EVENTS_PER_REQUEST = 500
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$"
MAX_PROPERTIES_BYTES = 4096


class LeadRef(BaseModel):
    """Which lead an event is about: its ``lead_id``, or an ``email`` / ``phone`` it is known by."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lead_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _one(self) -> LeadRef:
        if not (self.lead_id or self.email or self.phone):
            raise ValueError("lead needs a lead_id, email or phone")
        return self


class TrackedEventIn(BaseModel):
    """One behaviour event. ``event_id`` is the sender's id: sending it again is a no-op (per tenant).
    ``type`` is a built-in event type (email_opened, page_viewed, ...) or a custom one
    (``[a-z][a-z0-9_.]*``; it scores only in models that declare it); ``intent.*`` types are reserved
    (Leadtide derives them from message text). ``occurred_at`` needs a time zone.
    ``properties`` (up to 4 KB of JSON) are kept on the timeline."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    type: str = Field(pattern=EVENT_TYPE_PATTERN)
    lead: LeadRef
    occurred_at: datetime
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _not_derived(cls, v: str) -> str:
        if v.startswith(INTENT_EVENT_PREFIX):
            raise ValueError(
                f"{INTENT_EVENT_PREFIX}* event types are derived by Leadtide from message text and cannot be tracked"
            )
        return v

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("occurred_at needs a time zone (e.g. 2026-05-01T10:00:00Z)")
        return v

    @field_validator("properties")
    @classmethod
    def _small(cls, v: dict[str, Any]) -> dict[str, Any]:
        import json

        if len(json.dumps(v, default=str)) > MAX_PROPERTIES_BYTES:
            raise ValueError(f"properties must be at most {MAX_PROPERTIES_BYTES} bytes of JSON")
        return v


class TrackEventsRequest(BaseModel):
    """Body of ``POST /events``: ``{"events": [...]}`` with 1-500 events, or one event object on its own."""

    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)


class RejectedEvent(BaseModel):
    """An event that was not recorded: its position in the request, id (when readable) and why."""

    index: int
    event_id: str | None = None
    reason: str


class TrackEventsResult(BaseModel):
    """Per-event outcome of ``POST /events`` (a 207-style body with HTTP 200): ``accepted`` events joined
    the timeline, ``duplicates`` had been recorded before (same event_id), ``rejected`` name the problem."""

    accepted: int
    duplicates: int
    rejected: list[RejectedEvent] = Field(default_factory=list)


class ApiKeyCreate(BaseModel):
    """Body of ``POST /api-keys``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, description="what the key is for, e.g. 'Mailchimp sync'")


class ApiKey(BaseModel):
    """An integration API key as listed (the secret itself is never shown again)."""

    key_id: str
    name: str
    prefix: str = Field(description="the first characters of the key, to recognise it")
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class ApiKeyCreated(ApiKey):
    """``POST /api-keys`` answer: includes the full ``key`` once. Send it as ``Authorization: Bearer <key>``
    or ``X-Api-Key: <key>`` to ``POST /track/events``."""

    key: str


class ApiKeyList(BaseModel):
    """The tenant's API keys, newest first."""

    items: list[ApiKey]
