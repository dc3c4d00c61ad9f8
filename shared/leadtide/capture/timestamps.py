"""Provider timestamps -> aware UTC datetimes.

Meta sends time in three shapes: epoch seconds as a string (WhatsApp ``timestamp``, Instagram's App
Dashboard test sample), epoch milliseconds as a JSON number (Instagram ``messaging[].timestamp`` and
``entry[].time``), and ISO-8601 with a ``+0000`` offset (older Instagram samples).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from leadtide.models.errors import MalformedPayloadError

_NUMBER = re.compile(r"^\d{1,16}(\.\d{1,9})?$")
# Epoch values at or above this are read as milliseconds: 1e11 s is the year 5138, 1e11 ms is March 1973.
_MILLISECONDS_FROM = 100_000_000_000
# datetime's range ends at 9999-12-31; anything past this is not a real event time.
_MAX_EPOCH_SECONDS = 253_402_300_799


def parse_timestamp(value: Any, *, path: str) -> datetime:
    """Parse a provider timestamp into an aware UTC ``datetime``.

    Accepted: a non-negative int/float or digit string of epoch seconds or epoch milliseconds (values
    >= 1e11 are milliseconds), or an ISO-8601 string (``2021-09-08T06:34:04+0000``,
    ``...Z``, ``...+02:00``; without an offset it is taken as UTC).

    Raises:
        MalformedPayloadError: the value is missing, a bool, negative, out of range or unparseable; the
            message names ``path``, e.g. ``"entry[0].messaging[0].timestamp is not a timestamp: 'abc'"``.

    Source: WhatsApp Cloud API webhooks (``timestamp``: "Unix timestamp", a string); Instagram Messaging
    webhooks (``timestamp``: milliseconds). developers.facebook.com/docs/whatsapp/cloud-api/webhooks,
    developers.facebook.com/docs/messenger-platform/instagram/features/webhook.
    """
    if value is None:
        raise MalformedPayloadError(f"{path} is missing")
    seconds: float | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            seconds = float(text)
        elif text:
            parsed = _parse_iso(text)
            if parsed is not None:
                return parsed
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise MalformedPayloadError(f"{path} is not a timestamp: {_shown(value)}")
    if seconds >= _MILLISECONDS_FROM:
        seconds /= 1000.0
    if seconds > _MAX_EPOCH_SECONDS:
        raise MalformedPayloadError(f"{path} is out of range: {_shown(value)}")
    return datetime.fromtimestamp(seconds, tz=UTC)


def _parse_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 66 else text[:63] + "..."
