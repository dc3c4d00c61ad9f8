"""The timeline half of the DynamoDB lead repository (:class:`~leadtide.dal.leads.DynamoLeadRepository`
inherits it): reading a lead's activities, and the delivery statuses and retractions of its messages, kept
on each message's marker (``T#<tenant>#MSG#<channel>#<provider message id>``) and on its timeline entry.
Writing entries is the repository's (they go in the same transactions as the profile changes)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from leadtide.dal.base import StorageAdapter
from leadtide.dal.cursor import decode_cursor, encode_cursor, read_filtered_page
from leadtide.dal.errors import condition_failed
from leadtide.dal.items import ActivityItem, LeadItem, MessageMarkerItem, lead_pk, marker_pk
from leadtide.dal.lead_profile import PROFILE, activity_from_item
from leadtide.models.common import ChannelType, iso
from leadtide.models.errors import LeadNotFoundError
from leadtide.models.leads import Activity
from leadtide.models.messages import DeliveryStatus

_STATUS_RANK = {DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2, DeliveryStatus.READ: 3}


class DynamoLeadTimeline(StorageAdapter):
    """Timeline reads, delivery statuses and retractions of :class:`~leadtide.leads.ports.LeadRepository`
    over DynamoDB (PynamoDB ``ActivityItem`` and ``MessageMarkerItem``)."""

    def list_activities(
        self,
        tenant_id: str,
        lead_id: str,
        *,
        limit: int,
        cursor: str | None,
        types: Collection[str] = (),
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> tuple[list[Activity], str | None]:
        """See :meth:`LeadRepository.list_activities`. The time range is the Query's key condition (sort
        keys are ``A#<iso>#<id>``); ``types`` is tested on each entry read, at most
        :data:`~leadtide.dal.cursor.MAX_ITEMS_EVALUATED_PER_PAGE` per page (fewer than ``limit`` entries
        with a cursor then; :func:`~leadtide.dal.cursor.read_filtered_page`). The cursor is bound to the
        lead and the time range."""
        pk = lead_pk(tenant_id, lead_id)
        scope = f"activities:{lead_id}"
        key_condition: Condition
        if occurred_from is None and occurred_to is None:
            key_condition = ActivityItem.sk.startswith("A#")
        else:
            lo = f"A#{iso(occurred_from)}" if occurred_from else "A#"
            hi = f"A#{iso(occurred_to)}#~" if occurred_to else "A#~"
            key_condition = ActivityItem.sk.between(lo, hi)
            scope += f":{lo}:{hi}"
        start_key = decode_cursor(cursor, scope=scope, tenant_prefix=f"T#{tenant_id}")
        if start_key is None:
            _require_lead(tenant_id, lead_id)  # 404 for an unknown lead rather than an empty page
        wanted = frozenset(str(t) for t in types)
        results = ActivityItem.query(
            pk,
            key_condition,
            last_evaluated_key=start_key,
            page_size=max(limit, 100) if wanted else limit,
        )

        def pick(raw: dict[str, Any]) -> Activity | None:
            item = ActivityItem.from_raw_data(raw)
            if wanted and (item.doc or {}).get("type") not in wanted:
                return None
            return activity_from_item(item)

        activities, last_key = read_filtered_page(
            results.page_iter,
            limit=limit,
            pick=pick,
            key_of=lambda raw: {"pk": raw["pk"], "sk": raw["sk"]},
            evaluated=lambda page: len(page.get("Items", [])),
        )
        return activities, encode_cursor(last_key, scope=scope)

    def recent_activities(self, tenant_id: str, lead_id: str, *, since: datetime) -> list[Activity]:
        """See :meth:`LeadRepository.recent_activities`: one Query of the entries since ``since``."""
        results = ActivityItem.query(
            lead_pk(tenant_id, lead_id), ActivityItem.sk.between(f"A#{iso(since)}", "A#~")
        )
        return [activity_from_item(item) for item in results]

    def record_delivery_status(
        self,
        tenant_id: str,
        channel_type: ChannelType,
        provider_message_id: str,
        status: DeliveryStatus,
        occurred_at: datetime,
        errors: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """See :meth:`LeadRepository.record_delivery_status`. The message marker keeps every status in
        ``status_history`` and the latest that advances (sent < delivered < read; failed always) as
        ``delivery_status``; the timeline entry gets the same, on condition that it still exists."""
        key = marker_pk(tenant_id, channel_type, provider_message_id)
        try:
            marker = MessageMarkerItem.get(key, "MESSAGE")
        except DoesNotExist:
            marker = None
        entry = {"status": str(status), "at": iso(occurred_at)}
        advance = marker is None or _advances(marker.delivery_status, status)
        actions: list[Action] = [
            MessageMarkerItem.status_history.set(
                MessageMarkerItem.status_history.append([entry])
                if marker is not None and marker.status_history is not None
                else [entry]
            )
        ]
        if advance:
            actions += [
                MessageMarkerItem.delivery_status.set(str(status)),
                MessageMarkerItem.delivery_status_at.set(occurred_at),
            ]
            if errors:
                actions.append(MessageMarkerItem.delivery_errors.set(list(errors)))
        MessageMarkerItem(key, "MESSAGE").update(actions=actions)
        if marker is not None and marker.lead_id and marker.activity_sk and advance:
            try:
                ActivityItem(lead_pk(tenant_id, marker.lead_id), marker.activity_sk).update(
                    actions=[
                        ActivityItem.delivery_status.set(str(status)),
                        ActivityItem.delivery_status_at.set(occurred_at),
                    ],
                    condition=ActivityItem.pk.exists(),
                )
            except UpdateError as err:
                if not condition_failed(err):
                    raise
                return True  # the timeline entry is gone (its lead was deleted): the marker has the status
        return marker is not None and marker.lead_id is not None

    def retract_message(self, tenant_id: str, channel_type: ChannelType, provider_message_id: str) -> bool:
        """See :meth:`LeadRepository.retract_message`: the marker and the timeline entry are flagged."""
        try:
            marker = MessageMarkerItem.get(marker_pk(tenant_id, channel_type, provider_message_id), "MESSAGE")
        except DoesNotExist:
            return False
        marker.update(actions=[MessageMarkerItem.retracted.set(True)])
        if marker.lead_id and marker.activity_sk:
            ActivityItem(lead_pk(tenant_id, marker.lead_id), marker.activity_sk).update(
                actions=[ActivityItem.retracted.set(True)]
            )
        return True


def _require_lead(tenant_id: str, lead_id: str) -> None:
    """Raise :class:`LeadNotFoundError` unless the lead's profile exists (reads only its key)."""
    try:
        LeadItem.get(lead_pk(tenant_id, lead_id), PROFILE, attributes_to_get=["pk"])
    except DoesNotExist:
        raise LeadNotFoundError(f"lead {lead_id} not found") from None


def _advances(current: str | None, new: DeliveryStatus) -> bool:
    """Whether ``new`` replaces the ``current`` delivery status (forward only; failed always wins)."""
    if new == DeliveryStatus.FAILED or current is None:
        return True
    if current == DeliveryStatus.FAILED:
        return False
    return _STATUS_RANK.get(new, 0) > _STATUS_RANK.get(DeliveryStatus(current), 0)
