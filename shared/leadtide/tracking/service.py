"""Behavioural event tracking and integration API keys.

``track`` validates each event on its own (one bad event never rejects its neighbours), resolves the lead
by id, email or phone (normalised as capture does), records events idempotently by ``event_id`` per tenant,
and publishes one ``lead.event_tracked`` per lead so the Scoring worker re-scores it one queue hop later.

Unknown leads are *rejected* per event (reason ``lead_not_found``), not created: behaviour events arrive
from email tools and websites about contacts that may never have become leads, and creating leads belongs
to capture and imports (with their identity normalisation, de-duplication and dashboards).

API keys (``lt_live_<16 hex key id>_<43 chars of secret>``): only SHA-256(key) is stored; the lookup is by
key id, the hash compared in constant time (:func:`hmac.compare_digest`); revoked keys are refused. A
key's ``last_used_at`` is recorded on successful use at a resolution of :data:`LAST_USED_RESOLUTION`: the
lookup that authenticates already reads the stamp, so a key used again within the minute costs no write,
and the write itself is conditional (concurrent uses write once). Recording is bookkeeping: when it fails
the request is still authenticated (logged).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from leadtide.capture.identity import normalize_email, normalize_phone
from leadtide.leads.ports import LeadRepository
from leadtide.models.auth import Principal
from leadtide.models.common import IdentityKind, Role, iso, utc_now
from leadtide.models.errors import (
    ForbiddenError,
    LeadNotFoundError,
    LeadtideError,
    StorageUnavailableError,
    UnauthenticatedError,
    UnprocessableError,
)
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.leads import Activity, ActivityType
from leadtide.models.tracking import (
    MAX_EVENTS_PER_REQUEST,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    RejectedEvent,
    TrackedEventIn,
    TrackEventsResult,
)
from leadtide.ports import EventPublisher
from leadtide.tracking.ports import EventToRecord, StoredApiKey, TrackingStore

log = logging.getLogger(__name__)

API_KEY_PREFIX = "lt_live_"
_KEY_ID_LEN = 16
MAX_FUTURE_SKEW = timedelta(minutes=5)
EVENTS_PER_PUBLISHED_DETAIL = 50
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""A key's ``last_used_at`` is written at most once per this interval (cheap authentication)."""


def hash_api_key(key: str) -> str:
    """Hex SHA-256 of an API key (what is stored)."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The key id inside a well-formed key, or None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    rest = key[len(API_KEY_PREFIX) :]
    key_id = rest[:_KEY_ID_LEN]
    if (
        len(rest) < _KEY_ID_LEN + 2
        or rest[_KEY_ID_LEN] != "_"
        or any(c not in "0123456789abcdef" for c in key_id)
    ):
        return None
    return key_id


def events_of(body: Any) -> list[Any]:
    """The events of a request body: ``{"events": [...]}`` or one event object.

    Raises:
        UnprocessableError (422): not an object, no events, or more than 500.
    """
    if not isinstance(body, Mapping):
        raise UnprocessableError(
            'body must be an event object or {"events": [...]}',
            details=[{"field": "body", "problem": "not an object"}],
        )
    if "events" not in body:
        return [body]
    events = body["events"]
    if set(body) != {"events"}:
        extra = sorted(set(body) - {"events"})
        raise UnprocessableError(
            "unexpected fields beside events", details=[{"field": f, "problem": "unexpected"} for f in extra]
        )
    if not isinstance(events, list) or not events:
        raise UnprocessableError(
            "events must be a non-empty list", details=[{"field": "events", "problem": "empty or not a list"}]
        )
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise UnprocessableError(
            f"at most {MAX_EVENTS_PER_REQUEST} events per request (got {len(events)})",
            details=[{"field": "events", "problem": f"more than {MAX_EVENTS_PER_REQUEST}"}],
        )
    return events


class TrackingService:
    """Records behaviour events and manages API keys."""

    def __init__(
        self,
        leads: LeadRepository,
        store: TrackingStore,
        events: EventPublisher,
        *,
        default_region: str = "US",
    ):
        self._leads = leads
        self._store = store
        self._events = events
        self._region = default_region

    # ------------------------------------------------------------------ events
    def track_as(self, principal: Principal, body: Any) -> TrackEventsResult:
        """``POST /events`` with a user token: admins and managers (integrations use API keys)."""
        if principal.role == Role.REP:
            raise ForbiddenError("only admins and managers record tracking events")
        return self.track(principal.tenant_id, body)

    def track(self, tenant_id: str, body: Any) -> TrackEventsResult:
        """Record the events of ``body`` for ``tenant_id`` (see the module docstring).

        Raises:
            UnprocessableError (422): the body as a whole is unusable (see :func:`events_of`).
        """
        raw_events = events_of(body)
        rejected: list[RejectedEvent] = []
        valid: list[tuple[int, TrackedEventIn]] = []
        seen: set[str] = set()
        duplicates = 0
        now = utc_now()
        for index, raw in enumerate(raw_events):
            event_id = raw.get("event_id") if isinstance(raw, Mapping) else None
            try:
                event = TrackedEventIn.model_validate(raw)
            except ValidationError as err:
                first = err.errors()[0]
                path = ".".join(str(p) for p in first["loc"]) or "event"
                rejected.append(
                    RejectedEvent(
                        index=index, event_id=_str_or_none(event_id), reason=f"{path}: {first['msg']}"
                    )
                )
                continue
            if event.occurred_at > now + MAX_FUTURE_SKEW:
                rejected.append(
                    RejectedEvent(index=index, event_id=event.event_id, reason="occurred_at is in the future")
                )
                continue
            if event.event_id in seen:
                duplicates += 1
                continue
            seen.add(event.event_id)
            valid.append((index, event))
        lead_of = self._resolve_leads(tenant_id, valid, rejected)
        by_lead: dict[str, list[tuple[int, TrackedEventIn]]] = {}
        for index, event in valid:
            lead_id = lead_of.get(index)
            if lead_id is not None:
                by_lead.setdefault(lead_id, []).append((index, event))
        accepted = 0
        published: list[LeadEvent] = []
        for lead_id, items in by_lead.items():
            records = [
                EventToRecord(
                    event_id=e.event_id,
                    event_type=e.type,
                    occurred_at=e.occurred_at,
                    activity=Activity(
                        activity_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{e.event_id}").hex,
                        lead_id=lead_id,
                        type=ActivityType.TRACKED_EVENT,
                        occurred_at=e.occurred_at,
                        raw_type=e.type,
                        data={"event_id": e.event_id, "event_type": e.type, "properties": e.properties},
                    ),
                )
                for _, e in items
            ]
            try:
                stored = self._store.record_events(tenant_id, lead_id, records)
            except LeadNotFoundError:
                rejected.extend(
                    RejectedEvent(index=i, event_id=e.event_id, reason="lead_not_found") for i, e in items
                )
                continue
            new = [e for (_, e), ok in zip(items, stored, strict=True) if ok]
            accepted += len(new)
            duplicates += len(items) - len(new)
            for start in range(0, len(new), EVENTS_PER_PUBLISHED_DETAIL):
                part = sorted(new[start : start + EVENTS_PER_PUBLISHED_DETAIL], key=lambda e: e.occurred_at)
                published.append(
                    LeadEvent(
                        type=LeadEventType.EVENT_TRACKED,
                        tenant_id=tenant_id,
                        lead_id=lead_id,
                        occurred_at=iso(part[-1].occurred_at),
                        data={
                            "events": [
                                {"event_id": e.event_id, "type": e.type, "occurred_at": iso(e.occurred_at)}
                                for e in part
                            ]
                        },
                    )
                )
        if published:
            self._events.publish(published)
        rejected.sort(key=lambda r: r.index)
        return TrackEventsResult(accepted=accepted, duplicates=duplicates, rejected=rejected)

    def _resolve_leads(
        self,
        tenant_id: str,
        valid: Sequence[tuple[int, TrackedEventIn]],
        rejected: list[RejectedEvent],
    ) -> dict[int, str]:
        """Map event index -> lead id; events whose lead cannot be identified are rejected."""
        keys_of: dict[int, list[tuple[IdentityKind, str]]] = {}
        lead_of: dict[int, str] = {}
        wanted: set[tuple[IdentityKind, str]] = set()
        for index, event in valid:
            ref = event.lead
            if ref.lead_id:
                lead_of[index] = ref.lead_id
                continue
            keys: list[tuple[IdentityKind, str]] = []
            try:
                if ref.email:
                    keys.append(("email", normalize_email(ref.email)))
                if ref.phone:
                    keys.append(
                        ("phone", normalize_phone(ref.phone, default_region=self._region, strict=True))
                    )
            except LeadtideError as err:
                rejected.append(
                    RejectedEvent(index=index, event_id=event.event_id, reason=f"lead: {err.message}")
                )
                continue
            keys_of[index] = keys
            wanted.update(keys)
        found: dict[tuple[IdentityKind, str], str] = {}
        ordered = sorted(wanted)
        for start in range(0, len(ordered), 100):
            found.update(self._leads.lookup_identities(tenant_id, ordered[start : start + 100]))
        for index, keys in keys_of.items():
            lead_id = next((found[k] for k in keys if k in found), None)
            if lead_id is None:
                event = dict(valid)[index]
                rejected.append(RejectedEvent(index=index, event_id=event.event_id, reason="lead_not_found"))
            else:
                lead_of[index] = lead_id
        return lead_of

    # ------------------------------------------------------------------ API keys
    def create_api_key(self, principal: Principal, request: ApiKeyCreate) -> ApiKeyCreated:
        """Create a key (admins). The full key is in the answer only."""
        _require_admin(principal)
        key_id = secrets.token_hex(_KEY_ID_LEN // 2)
        key = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(
            key_id=key_id,
            name=request.name,
            prefix=key[: len(API_KEY_PREFIX) + _KEY_ID_LEN],
            created_by=principal.user_id,
            created_at=utc_now(),
        )
        self._store.create_api_key(principal.tenant_id, record, hash_api_key(key))
        return ApiKeyCreated(**record.model_dump(), key=key)

    def list_api_keys(self, principal: Principal) -> ApiKeyList:
        """The tenant's keys without secrets (admins)."""
        _require_admin(principal)
        return ApiKeyList(items=self._store.list_api_keys(principal.tenant_id))

    def revoke_api_key(self, principal: Principal, key_id: str) -> None:
        """Revoke a key (admins): it is refused from now on. Raises ApiKeyNotFoundError."""
        _require_admin(principal)
        self._store.revoke_api_key(principal.tenant_id, key_id, utc_now())

    def authenticate(self, headers: Mapping[str, str]) -> str:
        """The tenant of the API key in ``Authorization: Bearer <key>`` or ``X-Api-Key``.

        Raises:
            UnauthenticatedError (401): no key, malformed, unknown, wrong secret or revoked.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        key = (lowered.get("x-api-key") or "").strip()
        auth = (lowered.get("authorization") or "").strip()
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            raise UnauthenticatedError(
                "send an API key as 'Authorization: Bearer lt_live_...' or 'X-Api-Key'"
            )
        key_id = key_id_of(key)
        found = self._store.find_api_key(key_id) if key_id else None
        # Compare even when the key is unknown, so timing does not tell unknown ids from wrong secrets.
        expected = found.key_hash if found else hash_api_key("unknown")
        if not hmac.compare_digest(hash_api_key(key), expected) or found is None or key_id is None:
            raise UnauthenticatedError("invalid API key", code="invalid_api_key")
        if found.revoked_at is not None:
            raise UnauthenticatedError("this API key was revoked", code="api_key_revoked")
        self._record_use(key_id, found)
        return found.tenant_id

    def _record_use(self, key_id: str, found: StoredApiKey) -> None:
        """Stamp the key's use unless it was stamped within :data:`LAST_USED_RESOLUTION`."""
        now = utc_now()
        since = now - LAST_USED_RESOLUTION
        if found.last_used_at is not None and found.last_used_at > since:
            return
        try:
            self._store.record_api_key_use(key_id, now, unless_since=since)
        except StorageUnavailableError:  # bookkeeping: a throttled write must not refuse a valid key
            log.warning("could not record the use of API key %s", key_id, exc_info=True)


def _require_admin(principal: Principal) -> None:
    if principal.role != Role.ADMIN:
        raise ForbiddenError("only admins manage API keys")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
