"""DynamoDB implementation of :class:`leadtide.tracking.ports.TrackingStore`.

A lead's events are written in TransactWriteItems of up to 45 events: a condition check that the lead
exists, the engagement record (optimistic ``version``), and per event its marker
(``T#<tenant>#EV#<event_id>``, must not exist) and timeline activity. A duplicate marker cancels the
transaction; the cancellation reasons name which events were duplicates, and the rest is written again.
Then one conditional UpdateItem moves the lead's ``last_activity_at`` (and the ``activity_sk`` the inbox
sorts by) forward to the newest stored event, never back (``updated_at`` is left alone: the profile
itself did not change), and in the same call copies the engagement record's activity summary
(``last_engaged``/``engaged_counts``/``engaged_version``, :mod:`leadtide.dal.engagement`) onto the
profile unless a later version is already there. When that call's condition fails (an older event, or a
newer writer got there first), the two parts are retried as separate conditional updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.engagement import engaged_actions, newer_engagement, store_engaged
from leadtide.dal.errors import CONDITION_REASON, cancellation_codes, condition_failed
from leadtide.dal.items import (
    ActivityItem,
    ApiKeyItem,
    EngagementItem,
    LeadItem,
    TrackedEventMarkerItem,
    lead_pk,
)
from leadtide.dal.lead_profile import (
    PROFILE,
    activity_sort_key,
    last_activity_actions,
    last_activity_advances,
    touch_last_activity,
)
from leadtide.dal.scoring_models import ENGAGEMENT
from leadtide.models.errors import ApiKeyNotFoundError, ConflictError, LeadNotFoundError
from leadtide.models.tracking import ApiKey
from leadtide.scoring.ports import Occurrence, merge_occurrences
from leadtide.tracking.ports import EventToRecord, StoredApiKey, TrackingStore

EVENTS_PER_TRANSACTION = 45  # 2 items each + lead check + engagement record <= 100
_RETRIES = 8


def event_marker_pk(tenant_id: str, event_id: str) -> str:
    """Partition key of a tracked event's idempotency marker."""
    return f"T#{tenant_id}#EV#{event_id}"


def api_key_pk(key_id: str) -> str:
    """Partition key of an API key's lookup entry."""
    return f"K#{key_id}"


class DynamoTrackingStore(DynamoRepository, TrackingStore):
    """Tracked events and API keys over the leads table."""

    def record_events(self, tenant_id: str, lead_id: str, events: Sequence[EventToRecord]) -> list[bool]:
        stored: dict[str, bool] = {}
        for start in range(0, len(events), EVENTS_PER_TRANSACTION):
            chunk = list(events[start : start + EVENTS_PER_TRANSACTION])
            stored.update(self._record_chunk(tenant_id, lead_id, chunk))
        return [stored.get(e.event_id, False) for e in events]

    def _record_chunk(self, tenant_id: str, lead_id: str, chunk: list[EventToRecord]) -> dict[str, bool]:
        pk = lead_pk(tenant_id, lead_id)
        result: dict[str, bool] = {}
        pending = list(chunk)
        current: EngagementItem | None = None
        for _ in range(_RETRIES):
            if not pending:
                if current is not None:
                    # Every event was stored already (a redelivery): the profile update that followed the
                    # first delivery may have been lost; it is conditional, so repeating it is a no-op.
                    self._touch_lead(
                        tenant_id,
                        lead_id,
                        max(e.occurred_at for e in chunk),
                        engagement=(
                            dict(current.occ or {}),
                            dict(current.counts or {}),
                            int(current.version or 0),
                        ),
                    )
                return result
            try:
                current = EngagementItem.get(pk, ENGAGEMENT, consistent_read=True)
            except DoesNotExist:
                current = None
            occ: dict[str, Any] = dict(current.occ or {}) if current else {}
            counts: dict[str, Any] = dict(current.counts or {}) if current else {}
            merge_occurrences(
                occ, counts, [Occurrence(e.event_type, e.occurred_at, f"ev:{e.event_id}") for e in pending]
            )
            version = int(current.version or 0) if current else 0
            last = max(e.occurred_at for e in pending)
            if current and current.last_event_at and current.last_event_at > last:
                last = current.last_event_at
            ops: list[str] = []
            try:
                with TransactWrite(connection=self.connection) as tx:
                    tx.condition_check(LeadItem, pk, PROFILE, condition=LeadItem.pk.exists())
                    ops.append("lead")
                    tx.save(
                        EngagementItem(
                            pk, ENGAGEMENT, occ=occ, counts=counts, last_event_at=last, version=version + 1
                        ),
                        condition=(
                            EngagementItem.version == version
                            if current
                            else EngagementItem.pk.does_not_exist()
                        ),
                    )
                    ops.append("engagement")
                    for e in pending:
                        sk = activity_sort_key(e.activity)
                        tx.save(
                            TrackedEventMarkerItem(
                                event_marker_pk(tenant_id, e.event_id),
                                "EVENT",
                                lead_id=lead_id,
                                activity_sk=sk,
                            ),
                            condition=TrackedEventMarkerItem.pk.does_not_exist(),
                        )
                        ops.append(f"marker:{e.event_id}")
                        tx.save(
                            ActivityItem(
                                pk, sk, doc=e.activity.model_dump(mode="json", exclude_defaults=True)
                            ),
                            condition=ActivityItem.pk.does_not_exist(),
                        )
                        ops.append("activity")
            except TransactWriteError as err:
                reasons = cancellation_codes(err)
                if reasons[:1] == [CONDITION_REASON]:
                    raise LeadNotFoundError(f"lead {lead_id} not found") from err
                duplicates = {
                    op.split(":", 1)[1]
                    for op, code in zip(ops, reasons, strict=False)
                    if op.startswith("marker:") and code == CONDITION_REASON
                }
                if not duplicates and not condition_failed(err):
                    raise  # throttling or a conflict with another transaction: let the caller retry
                for event_id in duplicates:
                    result[event_id] = False
                pending = [e for e in pending if e.event_id not in duplicates]
                continue  # duplicates removed and/or the engagement record moved: try again
            for e in pending:
                result[e.event_id] = True
            self._touch_lead(
                tenant_id,
                lead_id,
                max(e.occurred_at for e in pending),
                engagement=(occ, counts, version + 1),
            )
            return result
        raise ConflictError("the lead's engagement record kept changing; retry", code="engagement_conflict")

    def _touch_lead(
        self,
        tenant_id: str,
        lead_id: str,
        at: datetime,
        engagement: tuple[dict[str, Any], dict[str, Any], int] | None = None,
    ) -> None:
        """Move the lead's last activity forward to ``at`` (no-op when it is already later or the lead is
        gone: the events are stored either way) and, with ``engagement`` = ``(occ, counts, version)`` of
        the record just written, copy its activity summary onto the profile unless a version at least as
        new is there. One UpdateItem; when its condition fails, each part is tried alone (two more).
        The clock part is the lead repository's conditional max (:func:`last_activity_actions` on
        :func:`last_activity_advances`), the one every interaction uses."""
        pk = lead_pk(tenant_id, lead_id)
        actions: list[Action] = last_activity_actions(lead_id, at)
        later = last_activity_advances(at)
        if engagement is not None:
            occ, counts, version = engagement
            try:
                LeadItem(pk, PROFILE).update(
                    actions=[*actions, *engaged_actions(occ, counts, version)],
                    condition=LeadItem.pk.exists() & later & newer_engagement(version),
                )
                return
            except UpdateError as err:
                if not condition_failed(err):
                    raise
            store_engaged(pk, occ, counts, version)  # one of the two conditions failed: each alone
        touch_last_activity(tenant_id, lead_id, at)

    # ------------------------------------------------------------------ API keys
    def create_api_key(self, tenant_id: str, key: ApiKey, key_hash: str) -> None:
        values: dict[str, Any] = {
            "key_id": key.key_id,
            "tenant_id": tenant_id,
            "name": key.name,
            "key_hash": key_hash,
            "prefix": key.prefix,
            "created_by": key.created_by,
            "created_at": key.created_at,
        }
        with TransactWrite(connection=self.connection) as tx:
            tx.save(
                ApiKeyItem(api_key_pk(key.key_id), "APIKEY", **values),
                condition=ApiKeyItem.pk.does_not_exist(),
            )
            tx.save(ApiKeyItem(f"T#{tenant_id}#APIKEYS", f"K#{key.key_id}", **values))

    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        """The listing entries (one Query), with ``last_used_at`` from the lookup entries (one
        BatchGetItem per 100 keys): uses are recorded where authentication reads, so it costs no second
        write."""
        listed = list(ApiKeyItem.query(f"T#{tenant_id}#APIKEYS", ApiKeyItem.sk.startswith("K#")))
        used = {
            item.key_id: item.last_used_at
            for item in ApiKeyItem.batch_get(
                [(api_key_pk(i.key_id), "APIKEY") for i in listed],
                attributes_to_get=["pk", "sk", "key_id", "last_used_at"],
            )
        }
        keys = [
            ApiKey(
                key_id=i.key_id,
                name=i.name,
                prefix=i.prefix,
                created_by=i.created_by,
                created_at=i.created_at,
                revoked_at=i.revoked_at,
                last_used_at=used.get(i.key_id) or i.last_used_at,
            )
            for i in listed
        ]
        return sorted(keys, key=lambda k: k.created_at, reverse=True)

    def revoke_api_key(self, tenant_id: str, key_id: str, at: datetime) -> None:
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.update(
                    ApiKeyItem(f"T#{tenant_id}#APIKEYS", f"K#{key_id}"),
                    actions=[ApiKeyItem.revoked_at.set(at)],
                    condition=ApiKeyItem.pk.exists(),
                )
                tx.update(
                    ApiKeyItem(api_key_pk(key_id), "APIKEY"),
                    actions=[ApiKeyItem.revoked_at.set(at)],
                    condition=ApiKeyItem.tenant_id == tenant_id,
                )
        except TransactWriteError as err:
            if condition_failed(err):  # no such key in this tenant
                raise ApiKeyNotFoundError(f"API key {key_id} not found") from err
            raise

    def find_api_key(self, key_id: str) -> StoredApiKey | None:
        try:
            item = ApiKeyItem.get(api_key_pk(key_id), "APIKEY")
        except DoesNotExist:
            return None
        return StoredApiKey(item.tenant_id, item.key_hash, item.revoked_at, item.last_used_at)

    def record_api_key_use(self, key_id: str, at: datetime, *, unless_since: datetime) -> bool:
        """UpdateItem of the lookup entry: ``SET last_used_at = :at`` on condition ``attribute_exists(pk)
        AND (attribute_not_exists(last_used_at) OR last_used_at <= :since)``."""
        try:
            ApiKeyItem(api_key_pk(key_id), "APIKEY").update(
                actions=[ApiKeyItem.last_used_at.set(at)],
                condition=ApiKeyItem.pk.exists()
                & (ApiKeyItem.last_used_at.does_not_exist() | (ApiKeyItem.last_used_at <= unless_since)),
            )
        except UpdateError as err:
            if not condition_failed(err):
                raise
            return False
        return True
