"""Opaque pagination cursors: DynamoDB's LastEvaluatedKey, tied to the tenant and the query it came from."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from leadtide.models.bounded_json import load_json
from leadtide.models.errors import InvalidRequestError


def encode_cursor(last_evaluated_key: dict[str, Any] | None, *, scope: str) -> str | None:
    """Encode a LastEvaluatedKey (DynamoDB JSON) as URL-safe base64 text, or None at the end of results.

    ``scope`` names the query (e.g. ``leads:created``) so the cursor cannot be replayed on another.
    """
    if not last_evaluated_key:
        return None
    raw = json.dumps({"s": scope, "k": last_evaluated_key}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, scope: str, tenant_prefix: str) -> dict[str, Any] | None:
    """Decode a cursor made by :func:`encode_cursor` for the same scope and tenant.

    Every string key value must start with ``tenant_prefix`` (``T#<tenant>``), so a cursor edited to point
    into another tenant's partition is refused.

    Raises:
        InvalidRequestError: malformed, from another query, or from another tenant.
    """
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = load_json(base64.urlsafe_b64decode(padded.encode()))  # bounded: a client's text
        key = data["k"]
        ok = data.get("s") == scope and isinstance(key, dict) and key
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        ok = False
    if not ok:
        raise InvalidRequestError("cursor is not valid for this query", details=[{"field": "cursor"}])
    for name, value in key.items():
        text = value.get("S") if isinstance(value, dict) else None
        if not isinstance(text, str) or (name in ("pk", "list_pk") and not _belongs(text, tenant_prefix)):
            raise InvalidRequestError("cursor is not valid for this query", details=[{"field": "cursor"}])
    return key


def _belongs(value: str, tenant_prefix: str) -> bool:
    return value == tenant_prefix or value.startswith(tenant_prefix + "#")
