"""Vocabulary shared by every bounded context: channels, statuses, grades, roles."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator


class ChannelType(StrEnum):
    """Where a lead or message came from."""

    WHATSAPP = "whatsapp"  # WhatsApp Cloud API (Meta)
    INSTAGRAM = "instagram"  # Instagram Messaging API (Meta)
    TWILIO = "twilio"  # WhatsApp through Twilio's Messaging API
    WEB_FORM = "web_form"  # Leadtide-hosted form endpoint
    MANUAL = "manual"  # created by a user over the API
    IMPORT = "import"  # created by a file import (POST /imports)


class LeadStatus(StrEnum):
    """The sales team's working status of a lead."""

    NEW = "New"
    CONTACTED = "Contacted"
    FOLLOW_UP = "Follow-up"
    CONVERTED = "Converted"
    LOST = "Lost"


class Grade(StrEnum):
    """Lead grade derived from the lead score (hot >= 50, warm 20-49, cold 0-19 by default)."""

    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class Role(StrEnum):
    """A user's role within a tenant, from the ``custom:role`` token claim."""

    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"


IdentityKind = Literal["phone", "email", "instagram"]
"""Kinds of identity key a lead is found by: E.164 phone, lower-cased email, Instagram-scoped id."""


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_8601_only(value: Any) -> Any:
    """Refuse a number (or a numeric string) where a date-time is wanted; pass anything else to pydantic."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO-8601 date-time such as 2024-05-01T09:30:00Z, not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601_only)]
"""A date-time a client sends: an ISO-8601 string (``2024-05-01``, ``2024-05-01T09:30:00Z``), as the OpenAPI
document's ``format: date-time`` says. Pydantic alone also reads a number, or a numeric string, as Unix
seconds (``created_to=0.5`` was 1970-01-01T00:00:00.5Z); this type refuses it (a 422 naming the field).
Use it for every date-time in a request (query parameter or body field)."""


def utc_now() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(ts: datetime) -> datetime:
    """``ts`` as an aware UTC datetime; a naive datetime is taken to be UTC (as API clients mean it)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def created_bounds_problem(created_from: datetime | None, created_to: datetime | None) -> str | None:
    """``"created_from is after created_to"`` when both creation-time bounds are given in that (reversed)
    order, naive or aware; None otherwise. DynamoDB refuses a BETWEEN with reversed bounds."""
    if created_from and created_to and as_utc(created_from) > as_utc(created_to):
        return "created_from is after created_to"
    return None


def iso(ts: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC with millisecond precision and a ``Z`` suffix.

    The fixed width makes the strings sort chronologically, which DynamoDB sort keys rely on. A naive
    datetime is taken to be UTC.
    """
    ts = as_utc(ts)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def display_name(first: str | None, last: str | None) -> str | None:
    """``"First Last"`` from the parts present, or None when both are empty."""
    return " ".join(p for p in (first, last) if p) or None
