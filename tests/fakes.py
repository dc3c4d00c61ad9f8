"""In-memory fakes of the data-access ports, for unit tests of the logic layer (no AWS, no network).

They keep the same contracts as the DynamoDB implementations: conditional identity creation, idempotent
message markers, forward-only delivery statuses, counters moved with the change that moves them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from leadtide.capture.ports import DeliveryStore
from leadtide.channels.ports import ChannelRepository
from leadtide.leads.ports import IdentityTakenError, LeadChanges, LeadRepository, MessageTextStore, StoredText
from leadtide.models.auth import owner_visible
from leadtide.models.channels import Channel, ChannelRoute, ChannelStatus
from leadtide.models.common import ChannelType, IdentityKind, utc_now
from leadtide.models.errors import (
    ChannelConflictError,
    ChannelNotFoundError,
    DuplicateDeliveryError,
    ForbiddenError,
    InvalidRequestError,
    LeadNotFoundError,
)
from leadtide.models.events import LeadEvent
from leadtide.models.leads import Activity, DashboardSummary, Lead, LeadQuery
from leadtide.models.messages import DeliveryStatus
from leadtide.ports import CommandQueue, EventPublisher, SecretStore

_RANK = {"sent": 1, "delivered": 2, "read": 3}


class FakeLeadRepository(LeadRepository):
    def __init__(self) -> None:
        self.leads: dict[tuple[str, str], Lead] = {}
        self.identities: dict[tuple[str, str, str], str] = {}
        self.activities: dict[tuple[str, str], list[Activity]] = {}
        self.markers: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.counters: dict[tuple[str, str], int] = {}
        self.score_history: list[dict[str, Any]] = []
        self.calls: list[str] = []

    # identities / capture
    def lookup_identities(self, tenant_id, keys):
        self.calls.append("lookup_identities")
        return {k: self.identities[(tenant_id, *k)] for k in keys if (tenant_id, *k) in self.identities}

    def _count(self, tenant: str, key: str, delta: int) -> None:
        self.counters[(tenant, key)] = self.counters.get((tenant, key), 0) + delta

    def create_lead(self, lead, identities, activity=None):
        self.calls.append("create_lead")
        t = lead.tenant_id
        for kind, value in identities:
            if (t, kind, value) in self.identities:
                raise IdentityTakenError(kind, value, self.identities[(t, kind, value)])
        if (
            activity
            and activity.provider_message_id
            and (t, str(activity.channel), activity.provider_message_id) in self.markers
        ):
            raise DuplicateDeliveryError("message already captured")
        self.leads[(t, lead.lead_id)] = lead
        for kind, value in identities:
            self.identities[(t, kind, value)] = lead.lead_id
        self.activities[(t, lead.lead_id)] = []
        if activity:
            self._store_activity(t, activity)
        for key in ("total", f"status#{lead.status}", f"source#{lead.source_channel}"):
            self._count(t, key, 1)

    def _store_activity(self, tenant: str, activity: Activity) -> None:
        if activity.provider_message_id and activity.channel:
            self.markers[(tenant, str(activity.channel), activity.provider_message_id)] = {
                "lead_id": activity.lead_id,
                "activity_id": activity.activity_id,
            }
        self.activities[(tenant, activity.lead_id)].append(activity)
        self.activities[(tenant, activity.lead_id)].sort(key=lambda a: (a.occurred_at, a.activity_id))

    def append_activity(self, tenant_id, activity, *, touch_lead, fill_fields=None, new_identities=()):
        self.calls.append("append_activity")
        key = (tenant_id, activity.lead_id)
        if key not in self.leads:
            raise LeadNotFoundError("lead not found")
        if (
            activity.provider_message_id
            and (tenant_id, str(activity.channel), activity.provider_message_id) in self.markers
        ):
            raise DuplicateDeliveryError("message already captured")
        for kind, value in new_identities:
            if (tenant_id, kind, value) in self.identities:
                raise IdentityTakenError(kind, value, self.identities[(tenant_id, kind, value)])
        self._store_activity(tenant_id, activity)
        for kind, value in new_identities:
            self.identities[(tenant_id, kind, value)] = activity.lead_id
        lead = self.leads[key]
        if touch_lead:
            at = activity.occurred_at
            updates: dict[str, Any] = {"updated_at": utc_now()}
            if lead.last_activity_at <= at and lead.created_at <= at:  # the dal's last_activity_advances
                updates = {"last_activity_at": at, "updated_at": at}
                if activity.type == "message" and activity.text:
                    updates["last_message_preview"] = activity.text[:160]
            if activity.type == "message":
                updates["message_count"] = lead.message_count + 1
            for name, value in (fill_fields or {}).items():
                if getattr(lead, name) is None:
                    updates[name] = value
            self.leads[key] = lead.model_copy(update=updates)

    # reads
    def get_lead(self, tenant_id, lead_id):
        try:
            return self.leads[(tenant_id, lead_id)]
        except KeyError:
            raise LeadNotFoundError(f"lead {lead_id} not found") from None

    def query_leads(self, tenant_id, query: LeadQuery):
        rows = [lead for (t, _), lead in self.leads.items() if t == tenant_id]

        sort_key = {
            "created": lambda lead: (lead.created_at, lead.lead_id),
            "last_activity": lambda lead: (lead.last_activity_at, lead.lead_id),
            "score": lambda lead: (-1 if lead.score is None else lead.score, lead.lead_id),
        }[query.sort]
        rows = sorted(
            (lead for lead in rows if _matches(lead, query)), key=sort_key, reverse=query.descending
        )
        start = 0
        if query.cursor:
            try:
                data = json.loads(base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4)))
                start = int(data["offset"])
                assert data["tenant"] == tenant_id
            except (ValueError, KeyError, TypeError, AssertionError):
                raise InvalidRequestError("cursor is not valid for this query") from None
        page = rows[start : start + query.limit]
        more = start + query.limit < len(rows)
        cursor = (
            base64.urlsafe_b64encode(
                json.dumps({"offset": start + query.limit, "tenant": tenant_id}).encode()
            )
            .decode()
            .rstrip("=")
            if more
            else None
        )
        return page, cursor

    def list_activities(
        self, tenant_id, lead_id, *, limit, cursor, types=(), occurred_from=None, occurred_to=None
    ):
        self.get_lead(tenant_id, lead_id)
        items = [
            a
            for a in self.activities.get((tenant_id, lead_id), [])
            if (not types or a.type in types)
            and (occurred_from is None or a.occurred_at >= occurred_from)
            and (occurred_to is None or a.occurred_at <= occurred_to)
        ]
        start = int(cursor) if cursor else 0
        more = start + limit < len(items)
        return items[start : start + limit], str(start + limit) if more else None

    def recent_activities(self, tenant_id, lead_id, *, since: datetime):
        return [a for a in self.activities.get((tenant_id, lead_id), []) if a.occurred_at >= since]

    def dashboard(self, tenant_id, *, visible_to=None):
        if visible_to is not None:
            leads = [
                lead
                for (t, _), lead in self.leads.items()
                if t == tenant_id and owner_visible(lead.owner_id, visible_to)
            ]
            by_status: dict[str, int] = {}
            by_source: dict[str, int] = {}
            for lead in leads:
                by_status[str(lead.status)] = by_status.get(str(lead.status), 0) + 1
                by_source[str(lead.source_channel)] = by_source.get(str(lead.source_channel), 0) + 1
            return DashboardSummary(total_leads=len(leads), by_status=by_status, by_source=by_source)
        total = self.counters.get((tenant_id, "total"), 0)
        by_status = {
            k.removeprefix("status#"): v
            for (t, k), v in self.counters.items()
            if t == tenant_id and k.startswith("status#") and v
        }
        by_source = {
            k.removeprefix("source#"): v
            for (t, k), v in self.counters.items()
            if t == tenant_id and k.startswith("source#") and v
        }
        return DashboardSummary(total_leads=total, by_status=by_status, by_source=by_source)

    # changes
    def update_lead(self, tenant_id, lead_id, changes: LeadChanges):
        lead = self.get_lead(tenant_id, lead_id)
        if changes.require_owner_in is not None and lead.owner_id not in changes.require_owner_in:
            raise ForbiddenError("lead is owned by another user")
        for kind, value in changes.add_identities:
            owner = self.identities.get((tenant_id, kind, value))
            if owner not in (None, lead_id):
                raise IdentityTakenError(kind, value, owner)
        for kind, value in changes.add_identities:
            self.identities[(tenant_id, kind, value)] = lead_id
        for kind, value in changes.remove_identities:
            self.identities.pop((tenant_id, kind, value), None)
        if changes.new_status and changes.old_status and changes.new_status != changes.old_status:
            self._count(tenant_id, f"status#{changes.old_status}", -1)
            self._count(tenant_id, f"status#{changes.new_status}", 1)
        updated = Lead.model_validate({**lead.model_dump(), **changes.set})
        self.leads[(tenant_id, lead_id)] = updated
        return updated

    def delete_lead(self, tenant_id, lead_id):
        lead = self.get_lead(tenant_id, lead_id)
        del self.leads[(tenant_id, lead_id)]
        self.activities.pop((tenant_id, lead_id), None)
        for key in [k for k, v in self.identities.items() if k[0] == tenant_id and v == lead_id]:
            del self.identities[key]
        for key in ("total", f"status#{lead.status}", f"source#{lead.source_channel}"):
            self._count(tenant_id, key, -1)
        return lead

    def record_delivery_status(
        self, tenant_id, channel_type, provider_message_id, status, occurred_at, errors=()
    ):
        key = (tenant_id, str(channel_type), provider_message_id)
        marker = self.markers.setdefault(key, {})
        current = marker.get("status")
        if (
            status == DeliveryStatus.FAILED
            or current is None
            or (current != "failed" and _RANK.get(str(status), 0) > _RANK.get(current, 0))
        ):
            marker["status"] = str(status)
        return "lead_id" in marker

    def message_lead(self, tenant_id, channel_type, provider_message_id):
        return self.markers.get((tenant_id, str(channel_type), provider_message_id), {}).get("lead_id")

    def retract_message(self, tenant_id, channel_type, provider_message_id):
        marker = self.markers.get((tenant_id, str(channel_type), provider_message_id))
        if not marker or "lead_id" not in marker:
            return False
        marker["retracted"] = True
        for a in self.activities.get((tenant_id, marker["lead_id"]), []):
            if a.activity_id == marker["activity_id"]:
                a.retracted = True
        return True

    def save_score(
        self, tenant_id, lead_id, *, score, grade, breakdown, scored_at, cause, previous_score, previous_grade
    ):
        lead = self.get_lead(tenant_id, lead_id)
        self.leads[(tenant_id, lead_id)] = Lead.model_validate(
            {
                **lead.model_dump(),
                "score": score,
                "grade": grade,
                "score_breakdown": breakdown,
                "scored_at": scored_at,
            }
        )
        self.score_history.append(
            {
                "tenant_id": tenant_id,
                "lead_id": lead_id,
                "score": score,
                "grade": grade,
                "cause": cause,
                "previous_score": previous_score,
            }
        )

    def iter_lead_ids(self) -> Iterator[tuple[str, str]]:
        yield from list(self.leads)


class FakeChannelRepository(ChannelRepository):
    """Channels in memory with the DynamoDB repository's rules: a web form has its route; a provider channel
    is its tenant's claim on the account (one per tenant; other tenants' claims do not conflict)."""

    def __init__(self) -> None:
        self.channels: dict[tuple[str, str], tuple[Channel, str, str | None, str | None]] = {}
        self.routes: dict[tuple[str, str], ChannelRoute] = {}
        self.claims: dict[tuple[str, str], dict[str, ChannelRoute]] = {}
        self.tokens: dict[tuple[str, str], ChannelRoute] = {}

    def create(self, tenant_id, channel, route_key, route, verify_token_hash):
        where = (str(channel.type), route_key)
        if channel.type == ChannelType.WEB_FORM and where in self.routes:
            raise ChannelConflictError("already connected")
        if channel.type != ChannelType.WEB_FORM and tenant_id in self.claims.get(where, {}):
            raise ChannelConflictError("already connected to a channel of this tenant")
        if verify_token_hash and (str(channel.type), verify_token_hash) in self.tokens:
            raise ChannelConflictError("verify_token already used")
        self.channels[(tenant_id, channel.channel_id)] = (
            channel,
            route_key,
            verify_token_hash,
            route.secret_name,
        )
        if channel.type == ChannelType.WEB_FORM:
            self.routes[where] = route
        else:
            self.claims.setdefault(where, {})[tenant_id] = route
        if verify_token_hash:
            self.tokens[(str(channel.type), verify_token_hash)] = route

    def list(self, tenant_id):
        return [c for (t, _), (c, *_rest) in self.channels.items() if t == tenant_id]

    def get(self, tenant_id, channel_id):
        try:
            return self.channels[(tenant_id, channel_id)]
        except KeyError:
            raise ChannelNotFoundError(f"channel {channel_id} not found") from None

    def delete(self, tenant_id, channel_id):
        channel, route_key, token_hash, _ = self.get(tenant_id, channel_id)
        del self.channels[(tenant_id, channel_id)]
        self.routes.pop((str(channel.type), route_key), None)
        self.claims.get((str(channel.type), route_key), {}).pop(tenant_id, None)
        if token_hash:
            self.tokens.pop((str(channel.type), token_hash), None)

    def find_route(self, channel_type: ChannelType, route_key: str):
        return self.routes.get((str(channel_type), route_key))

    def find_claims(self, channel_type, route_key):
        claims = list(self.claims.get((str(channel_type), route_key), {}).values())
        active = sorted((c for c in claims if c.status == ChannelStatus.ACTIVE), key=lambda c: c.activated_at)
        pending = sorted((c for c in claims if c.status != ChannelStatus.ACTIVE), key=lambda c: c.claimed_at)
        return [c.model_copy() for c in active + pending]

    def activate(self, claim, now):
        stored = self.claims.get((str(claim.channel_type), claim.route_key), {}).get(claim.tenant_id)
        if stored is None or stored.channel_id != claim.channel_id or stored.status != ChannelStatus.PENDING:
            return False
        self.claims[(str(claim.channel_type), claim.route_key)][claim.tenant_id] = stored.model_copy(
            update={"status": ChannelStatus.ACTIVE, "activated_at": now}
        )
        key = (claim.tenant_id, claim.channel_id)
        channel, *rest = self.channels[key]
        self.channels[key] = (
            channel.model_copy(update={"status": ChannelStatus.ACTIVE, "activated_at": now}),
            *rest,
        )
        return True

    def find_route_by_verify_token(self, channel_type, token_hash):
        return self.tokens.get((str(channel_type), token_hash))


class FakeSecretStore(SecretStore):
    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, str]] = {}
        self.deleted: list[str] = []

    def put(self, name, value, tags):
        self.secrets[name] = dict(value)
        return name

    def get(self, name):
        return self.secrets[name]

    def delete(self, name):
        self.secrets.pop(name, None)
        self.deleted.append(name)


class FakeEventPublisher(EventPublisher):
    def __init__(self) -> None:
        self.events: list[LeadEvent] = []

    def publish(self, events: Sequence[LeadEvent]) -> None:
        self.events.extend(events)

    def types(self) -> list[str]:
        return [str(e.type) for e in self.events]


class FakeQueue(CommandQueue):
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, bodies: Sequence[str]) -> None:
        self.bodies.extend(bodies)

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(b) for b in self.bodies]


class FakeDeliveryStore(DeliveryStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, channel_type, data):
        key = f"deliveries/{channel_type}/2026-05-01/{len(self.objects):032x}"
        self.objects[key] = data
        return key

    def get(self, key):
        return self.objects[key]


class FakeMessageTextStore(MessageTextStore):
    def __init__(self) -> None:
        self.texts: dict[tuple[str, str], tuple[str, StoredText]] = {}
        self.puts = 0

    def put(self, tenant_id, activity_id, text, *, channel_type, provider_message_id):
        self.puts += 1
        self.texts[(tenant_id, activity_id)] = (
            text,
            StoredText(channel_type, provider_message_id, len(text)),
        )

    def find(self, tenant_id, activity_id):
        found = self.texts.get((tenant_id, activity_id))
        return found[1] if found else None

    def presigned_get(self, tenant_id, activity_id, *, expires_in):
        return f"https://texts.example/{tenant_id}/{activity_id}?expires={expires_in}"

    def delete(self, tenant_id, activity_ids):
        for activity_id in activity_ids:
            self.texts.pop((tenant_id, activity_id), None)


def identity(kind: IdentityKind, value: str) -> tuple[IdentityKind, str]:
    """Readable identity keys in tests."""
    return (kind, value)


def _matches(lead: Lead, query: LeadQuery) -> bool:
    """Whether ``lead`` passes the inbox filters of ``query`` (as the DynamoDB filter expression would)."""
    if query.status and lead.status != query.status:
        return False
    if query.source_channel and lead.source_channel != query.source_channel:
        return False
    if query.grade and lead.grade != query.grade:
        return False
    if query.owner_id == "unassigned" and lead.owner_id is not None:
        return False
    if query.owner_id not in (None, "unassigned") and lead.owner_id != query.owner_id:
        return False
    if query.visible_to and lead.owner_id not in (None, query.visible_to):
        return False
    if not _in_ranges(lead, query):
        return False
    if query.condition is not None and not query.condition(lead.model_dump()):
        return False
    if query.search:
        text = " ".join(str(v).lower() for v in (lead.name, lead.email, lead.phone, lead.company) if v)
        if query.search.lower() not in text:
            return False
    return True


def _in_ranges(lead: Lead, query: LeadQuery) -> bool:
    """Whether the lead's creation and last activity lie within the query's (inclusive) ranges."""
    return (
        (query.created_from is None or lead.created_at >= query.created_from)
        and (query.created_to is None or lead.created_at <= query.created_to)
        and (query.last_activity_from is None or lead.last_activity_at >= query.last_activity_from)
        and (query.last_activity_to is None or lead.last_activity_at <= query.last_activity_to)
    )
