"""Opaque pagination cursors: DynamoDB's LastEvaluatedKey, tied to the tenant and the query it came from;
and the bounded read of one page of a filtered Query (:func:`read_filtered_page`)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from leadtide.models.bounded_json import load_json
from leadtide.models.errors import InvalidRequestError

T = TypeVar("T")

MAX_ITEMS_EVALUATED_PER_PAGE = 2000
"""A filtered page reads at most this many items before it returns what it has (with a cursor): an
interactive request stays bounded however selective the filter."""


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


def read_filtered_page(
    pages: Iterable[dict[str, Any]],
    *,
    limit: int,
    pick: Callable[[dict[str, Any]], T | None],
    key_of: Callable[[dict[str, Any]], dict[str, Any]],
    evaluated: Callable[[dict[str, Any]], int],
    budget: int = MAX_ITEMS_EVALUATED_PER_PAGE,
) -> tuple[list[T], dict[str, Any] | None]:
    """One page of results from a Query's raw pages (``ResultIterator.page_iter``).

    ``pick`` turns a raw item into a result, or None to skip it (a filter tested in code); reading stops at
    ``limit`` results, or once ``evaluated`` (items DynamoDB read per page: ``ScannedCount`` with a filter
    expression, else the page's item count) reaches ``budget``, or at the end of the Query.

    Returns:
        The results and the key to go on from (for :func:`encode_cursor`): ``key_of`` the last result when
        the page stopped at ``limit`` with items left to read, the last page's ``LastEvaluatedKey`` when it
        stopped on the budget, None at the end of the Query (also when the last result is its last item).
    """
    found: list[T] = []
    read = 0
    for page in pages:
        read += evaluated(page)
        items = page.get("Items", [])
        for n, raw in enumerate(items):
            result = pick(raw)
            if result is None:
                continue
            found.append(result)
            if len(found) == limit:
                more = n + 1 < len(items) or bool(page.get("LastEvaluatedKey"))
                return found, key_of(raw) if more else None
        last_key = page.get("LastEvaluatedKey")
        if last_key is None or read >= budget:
            return found, last_key
    return found, None
