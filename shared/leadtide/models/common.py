"""Vocabulary shared by every bounded context: channels, statuses, grades, roles."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, StrictBool, StrictFloat, StrictInt


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


def bounds_problem(low: datetime | None, high: datetime | None, name: str) -> str | None:
    """``"<name>_from is after <name>_to"`` when both bounds of a time range (``created``, ``last_activity``,
    ``occurred``) are given in that (reversed) order, naive or aware; None otherwise. DynamoDB refuses a
    BETWEEN with reversed bounds."""
    if low and high and as_utc(low) > as_utc(high):
        return f"{name}_from is after {name}_to"
    return None


def created_bounds_problem(created_from: datetime | None, created_to: datetime | None) -> str | None:
    """:func:`bounds_problem` of the creation-time range (``created_from``/``created_to``)."""
    return bounds_problem(created_from, created_to, "created")


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


# ---------------------------------------------------------------------------------------------- record values
def to_epoch(value: Any) -> float | None:
    """A stored time value as epoch seconds: a datetime (naive = UTC), an ISO-8601 string (PynamoDB's
    ``...000000+0000`` form, ``Z``, or a date), or a number; None when absent or unreadable."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    return None


Flag = StrictBool
"""A JSON boolean in a request body: ``true``/``false`` only (pydantic's lax mode would read 0, 1, "yes"...)."""

Count = StrictInt
"""A JSON integer in a request body: refuses booleans, numeric strings and floats with a fraction."""

Number = StrictFloat
"""A JSON number in a request body (int or float; stored as float). Refuses booleans and numeric strings,
which pydantic's lax mode would read as 0/1 or parse: the OpenAPI document says ``number``, and a client
that sends ``false`` for a weight has made a mistake we name (422), not one we guess."""
