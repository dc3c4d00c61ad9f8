"""DynamoDB implementation of :class:`LeadRepository` (PynamoDB over the leads table)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.items import (
    ActivityItem,
    CounterItem,
    IdentityItem,
    LeadItem,
    MessageMarkerItem,
    ScoreHistoryItem,
    identity_pk,
    lead_pk,
    marker_pk,
    stats_pk,
    tenant_list_pk,
)
from leadtide.dal.ports import IdentityKind, IdentityTakenError, LeadChanges, LeadRepository
from leadtide.models.common import ChannelType, iso
from leadtide.models.errors import DuplicateDeliveryError, ForbiddenError, LeadNotFoundError
from leadtide.models.leads import Activity, DashboardSummary, Lead, LeadQuery
from leadtide.models.messages import DeliveryStatus

PROFILE = "PROFILE"
_STATUS_RANK = {DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2, DeliveryStatus.READ: 3}
# A filtered inbox page reads at most this many items before it returns what it has (with a cursor):
# an interactive request stays bounded however selective the filter.
MAX_ITEMS_EVALUATED_PER_PAGE = 2000
_INDEX_BY_SORT = {"created": "by_created", "last_activity": "by_activity", "score": "by_score"}
_SEARCHED_FIELDS = ("name", "first_name", "last_name", "email", "phone", "company", "instagram_id")
UNSCORED_SK = "-01"


def search_text(values: dict[str, Any]) -> str:
    """The lower-cased text ``GET /leads?q=`` matches against (name, email, phone, company, ...)."""
    return " ".join(str(values[f]).lower() for f in _SEARCHED_FIELDS if values.get(f))


def score_sort_key(score: int | None, lead_id: str) -> str:
    """Sort key of the by-score index: zero-padded score, unscored leads first (``-01``)."""
    return f"{UNSCORED_SK if score is None else f'{score:03d}'}#{lead_id}"


def _reason_codes(err: TransactWriteError) -> list[str | None]:
    return [r.code if r is not None else None for r in err.cancellation_reasons]


class DynamoLeadRepository(DynamoRepository, LeadRepository):
    """Leads over DynamoDB. Every multi-item change is one TransactWriteItems call.

    Item layout: see :mod:`leadtide.dal.items`. Counters (dashboard) are updated in the same transaction
    as the change that moves them, so they never drift.
    """

    # ------------------------------------------------------------------ identities and capture
    def lookup_identities(
        self, tenant_id: str, keys: Sequence[tuple[IdentityKind, str]]
    ) -> dict[tuple[IdentityKind, str], str]:
        """Map each existing identity key to its lead id (one GetItem, or one BatchGetItem for several)."""
        if not keys:
            return {}
        if len(keys) == 1:
            kind, value = keys[0]
            try:
                item = IdentityItem.get(identity_pk(tenant_id, kind, value), "IDENTITY")
            except DoesNotExist:
                return {}
            return {keys[0]: item.lead_id}
        by_pk = {identity_pk(tenant_id, k, v): (k, v) for k, v in keys}
        found: dict[tuple[IdentityKind, str], str] = {}
        for item in IdentityItem.batch_get([(pk, "IDENTITY") for pk in by_pk]):
            found[by_pk[item.pk]] = item.lead_id
        return found

    def create_lead(
        self,
        lead: Lead,
        identities: Sequence[tuple[IdentityKind, str]],
        activity: Activity | None = None,
    ) -> None:
        tenant = lead.tenant_id
        item = self._lead_item(lead)
        with_ops: list[str] = []
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.save(item, condition=LeadItem.pk.does_not_exist())
                with_ops.append("lead")
                for kind, value in identities:
                    tx.save(
                        IdentityItem(identity_pk(tenant, kind, value), "IDENTITY", lead_id=lead.lead_id),
                        condition=IdentityItem.pk.does_not_exist(),
                    )
                    with_ops.append(f"identity:{kind}:{value}")
                if activity is not None:
                    for op in self._activity_ops(tenant, activity):
                        tx.save(op, condition=op.__class__.pk.does_not_exist())
                        with_ops.append("marker" if isinstance(op, MessageMarkerItem) else "activity")
                for sk in ("total", f"status#{lead.status}", f"source#{lead.source_channel}"):
                    tx.update(CounterItem(stats_pk(tenant), sk), actions=[CounterItem.value.add(1)])
                    with_ops.append("counter")
        except TransactWriteError as err:
            self._raise_for_cancellation(err, with_ops, tenant)
            raise

    def _raise_for_cancellation(self, err: TransactWriteError, ops: list[str], tenant: str) -> None:
        for op, code in zip(ops, _reason_codes(err), strict=False):
            if code != "ConditionalCheckFailed":
                continue
            if op.startswith("identity:"):
                _, kind, value = op.split(":", 2)
                owner = self.lookup_identities(tenant, [(kind, value)])  # type: ignore[list-item]
                raise IdentityTakenError(kind, value, next(iter(owner.values()), None)) from err
            if op == "marker":
                raise DuplicateDeliveryError("message already captured") from err
            if op == "lead-exists":
                raise LeadNotFoundError("lead not found") from err
            if op == "owner":
                raise ForbiddenError("lead is owned by another user") from err

    def _activity_ops(self, tenant_id: str, activity: Activity) -> list[Any]:
        sk = activity_sort_key(activity)
        doc = activity.model_dump(mode="json", exclude_defaults=True)
        ops: list[Any] = [
            ActivityItem(
                lead_pk(tenant_id, activity.lead_id),
                sk,
                doc=doc,
                provider_message_id=activity.provider_message_id,
            )
        ]
        if activity.provider_message_id and activity.channel:
            ops.insert(
                0,
                MessageMarkerItem(
                    marker_pk(tenant_id, activity.channel, activity.provider_message_id),
                    "MESSAGE",
                    lead_id=activity.lead_id,
                    activity_sk=sk,
                ),
            )
        return ops

    def append_activity(
        self,
        tenant_id: str,
        activity: Activity,
        *,
        touch_lead: bool,
        fill_fields: dict[str, Any] | None = None,
        new_identities: Sequence[tuple[IdentityKind, str]] = (),
    ) -> None:
        """See :meth:`LeadRepository.append_activity` (``fill_fields`` uses ``if_not_exists``)."""
        ops: list[str] = []
        try:
            with TransactWrite(connection=self.connection) as tx:
                for op in self._activity_ops(tenant_id, activity):
                    tx.save(op, condition=op.__class__.pk.does_not_exist())
                    ops.append("marker" if isinstance(op, MessageMarkerItem) else "activity")
                lead_key = LeadItem(lead_pk(tenant_id, activity.lead_id), PROFILE)
                if touch_lead:
                    at = activity.occurred_at
                    actions: list[Action] = [
                        LeadItem.last_activity_at.set(at),
                        LeadItem.activity_sk.set(f"{iso(at)}#{activity.lead_id}"),
                        LeadItem.updated_at.set(at),
                    ]
                    if activity.type == "message":
                        actions.append(LeadItem.message_count.add(1))
                        if activity.text:
                            actions.append(LeadItem.last_message_preview.set(activity.text[:160]))
                    for name, value in (fill_fields or {}).items():
                        attr = getattr(LeadItem, name)
                        actions.append(attr.set(attr | value))
                    # Only move last activity forward: an older message redelivered late must not rewind it.
                    condition = LeadItem.pk.exists() & (
                        LeadItem.last_activity_at.does_not_exist() | (LeadItem.last_activity_at <= at)
                    )
                    tx.update(lead_key, actions=actions, condition=condition)
                    ops.append("lead-touch")
                else:
                    tx.condition_check(LeadItem, lead_key.pk, PROFILE, condition=LeadItem.pk.exists())
                    ops.append("lead-exists")
                for kind, value in new_identities:
                    tx.save(
                        IdentityItem(
                            identity_pk(tenant_id, kind, value), "IDENTITY", lead_id=activity.lead_id
                        ),
                        condition=IdentityItem.pk.does_not_exist(),
                    )
                    ops.append(f"identity:{kind}:{value}")
        except TransactWriteError as err:
            codes = _reason_codes(err)
            if "lead-touch" in ops and codes[ops.index("lead-touch")] == "ConditionalCheckFailed":
                if not self._lead_exists(tenant_id, activity.lead_id):
                    raise LeadNotFoundError("lead not found") from err
                # The lead has newer activity already: store the entry without moving the lead's clock.
                return self.append_activity(
                    tenant_id, activity, touch_lead=False, new_identities=new_identities
                )
            self._raise_for_cancellation(err, ops, tenant_id)
            raise
        return None

    def _lead_exists(self, tenant_id: str, lead_id: str) -> bool:
        try:
            LeadItem.get(lead_pk(tenant_id, lead_id), PROFILE, attributes_to_get=["pk"])
        except DoesNotExist:
            return False
        return True

    # ------------------------------------------------------------------ reads
    def get_lead(self, tenant_id: str, lead_id: str) -> Lead:
        try:
            item = LeadItem.get(lead_pk(tenant_id, lead_id), PROFILE)
        except DoesNotExist:
            raise LeadNotFoundError(f"lead {lead_id} not found") from None
        return _lead_from_item(item)

    def get_leads(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, Lead]:
        """Existing leads of ``lead_ids`` by id; BatchGetItem, 100 keys per call (PynamoDB retries the
        unprocessed keys)."""
        keys = [(lead_pk(tenant_id, lead_id), PROFILE) for lead_id in dict.fromkeys(lead_ids)]
        return {item.lead_id: _lead_from_item(item) for item in LeadItem.batch_get(keys)}

    def query_leads(self, tenant_id: str, query: LeadQuery) -> tuple[list[Lead], str | None]:
        scope = f"leads:{query.sort}:{'d' if query.descending else 'a'}"
        start_key = decode_cursor(query.cursor, scope=scope, tenant_prefix=f"T#{tenant_id}")
        index = getattr(LeadItem, _INDEX_BY_SORT[query.sort])
        range_cond = None
        filt: list[Condition] = []
        if query.created_from or query.created_to:
            lo = iso(query.created_from) if query.created_from else ""
            hi = (iso(query.created_to) if query.created_to else "9999") + "#~"
            if query.sort == "created":
                range_cond = LeadItem.created_sk.between(lo, hi)
            else:
                filt.append(LeadItem.created_sk.between(lo, hi))
        if query.status:
            filt.append(LeadItem.status == query.status)
        if query.source_channel:
            filt.append(LeadItem.source_channel == query.source_channel)
        if query.grade:
            filt.append(LeadItem.grade == query.grade)
        if query.owner_id == "unassigned":
            filt.append(LeadItem.owner_id.does_not_exist())
        elif query.owner_id:
            filt.append(LeadItem.owner_id == query.owner_id)
        if query.visible_to:
            filt.append(LeadItem.owner_id.does_not_exist() | (LeadItem.owner_id == query.visible_to))
        if query.search:
            filt.append(LeadItem.search_text.contains(query.search.lower()))
        filter_condition = None
        for cond in filt:
            filter_condition = cond if filter_condition is None else filter_condition & cond
        results = index.query(
            tenant_list_pk(tenant_id),
            range_key_condition=range_cond,
            filter_condition=filter_condition,
            scan_index_forward=not query.descending,
            last_evaluated_key=start_key,
            page_size=max(query.limit, 100 if filter_condition is not None else query.limit),
        )
        leads: list[Lead] = []
        evaluated = 0
        last_key: dict[str, Any] | None = None
        key_names = ("pk", "sk", "list_pk", _index_range_key(query.sort))
        for page in results.page_iter:
            evaluated += page.get("ScannedCount", 0)
            items = page.get("Items", [])
            for n, raw in enumerate(items):
                leads.append(_lead_from_item(LeadItem.from_raw_data(raw)))
                if len(leads) == query.limit:
                    more_on_page = n + 1 < len(items)
                    if more_on_page or page.get("LastEvaluatedKey"):
                        last_key = {k: raw[k] for k in key_names}
                    return leads, encode_cursor(last_key, scope=scope)
            last_key = page.get("LastEvaluatedKey")
            if last_key is None or evaluated >= MAX_ITEMS_EVALUATED_PER_PAGE:
                break
        return leads, encode_cursor(last_key, scope=scope)

    def list_activities(
        self, tenant_id: str, lead_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[Activity], str | None]:
        pk = lead_pk(tenant_id, lead_id)
        start_key = decode_cursor(cursor, scope=f"activities:{lead_id}", tenant_prefix=f"T#{tenant_id}")
        if start_key is None:
            self.get_lead(tenant_id, lead_id)  # 404 for an unknown lead rather than an empty page
        results = ActivityItem.query(
            pk, ActivityItem.sk.startswith("A#"), last_evaluated_key=start_key, limit=limit, page_size=limit
        )
        activities = [_activity_from_item(item) for item in results]
        return activities, encode_cursor(results.last_evaluated_key, scope=f"activities:{lead_id}")

    def recent_activities(self, tenant_id: str, lead_id: str, *, since: datetime) -> list[Activity]:
        results = ActivityItem.query(
            lead_pk(tenant_id, lead_id), ActivityItem.sk.between(f"A#{iso(since)}", "A#~")
        )
        return [_activity_from_item(item) for item in results]

    def dashboard(self, tenant_id: str) -> DashboardSummary:
        total, by_status, by_source = 0, {}, {}
        for item in CounterItem.query(stats_pk(tenant_id)):
            count = int(item.value or 0)
            if item.sk == "total":
                total = count
            elif item.sk.startswith("status#") and count:
                by_status[item.sk.removeprefix("status#")] = count
            elif item.sk.startswith("source#") and count:
                by_source[item.sk.removeprefix("source#")] = count
        return DashboardSummary(total_leads=total, by_status=by_status, by_source=by_source)

    # ------------------------------------------------------------------ changes
    def update_lead(self, tenant_id: str, lead_id: str, changes: LeadChanges) -> Lead:
        ops: list[str] = []
        now_values = dict(changes.set)
        actions: list[Action] = []
        for name, value in now_values.items():
            attr = getattr(LeadItem, name)
            actions.append(attr.remove() if value is None else attr.set(value))
        current = self.get_lead(tenant_id, lead_id)
        merged = {**current.model_dump(), **now_values}
        actions.append(LeadItem.search_text.set(search_text(merged) or " "))
        condition = LeadItem.pk.exists()
        if changes.require_owner_in is not None:
            owner_cond = None
            for owner in changes.require_owner_in:
                c = LeadItem.owner_id.does_not_exist() if owner is None else LeadItem.owner_id == owner
                owner_cond = c if owner_cond is None else owner_cond | c
            condition = condition & owner_cond
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.update(
                    LeadItem(lead_pk(tenant_id, lead_id), PROFILE), actions=actions, condition=condition
                )
                ops.append("owner" if changes.require_owner_in is not None else "lead-exists")
                for kind, value in changes.add_identities:
                    tx.save(
                        IdentityItem(identity_pk(tenant_id, kind, value), "IDENTITY", lead_id=lead_id),
                        condition=IdentityItem.pk.does_not_exist() | (IdentityItem.lead_id == lead_id),
                    )
                    ops.append(f"identity:{kind}:{value}")
                for kind, value in changes.remove_identities:
                    tx.delete(
                        IdentityItem(identity_pk(tenant_id, kind, value), "IDENTITY"),
                        condition=IdentityItem.lead_id == lead_id,
                    )
                    ops.append("identity-remove")
                if changes.new_status and changes.old_status and changes.new_status != changes.old_status:
                    for sk, delta in (
                        (f"status#{changes.old_status}", -1),
                        (f"status#{changes.new_status}", 1),
                    ):
                        tx.update(
                            CounterItem(stats_pk(tenant_id), sk), actions=[CounterItem.value.add(delta)]
                        )
                        ops.append("counter")
        except TransactWriteError as err:
            codes = _reason_codes(err)
            if (
                ops
                and codes
                and codes[0] == "ConditionalCheckFailed"
                and not self._lead_exists(tenant_id, lead_id)
            ):
                raise LeadNotFoundError(f"lead {lead_id} not found") from err
            self._raise_for_cancellation(err, ops, tenant_id)
            raise
        return self.get_lead(tenant_id, lead_id)

    def delete_lead(self, tenant_id: str, lead_id: str) -> Lead:
        lead = self.get_lead(tenant_id, lead_id)
        pk = lead_pk(tenant_id, lead_id)
        identities = [(k, v) for k, v in lead_identities(lead)]
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.delete(LeadItem(pk, PROFILE), condition=LeadItem.pk.exists())
                for kind, value in identities:
                    tx.delete(
                        IdentityItem(identity_pk(tenant_id, kind, value), "IDENTITY"),
                        condition=IdentityItem.pk.does_not_exist() | (IdentityItem.lead_id == lead_id),
                    )
                for sk in ("total", f"status#{lead.status}", f"source#{lead.source_channel}"):
                    tx.update(CounterItem(stats_pk(tenant_id), sk), actions=[CounterItem.value.add(-1)])
        except TransactWriteError as err:
            if _reason_codes(err)[:1] == ["ConditionalCheckFailed"]:
                raise LeadNotFoundError(f"lead {lead_id} not found") from err
            raise
        # The profile is gone, so the rest is unreachable; remove it in batches (timeline, history, markers).
        with ActivityItem.batch_write() as batch:
            for item in ActivityItem.query(pk):
                if item.sk.startswith("A#") and item.provider_message_id:
                    doc = item.doc or {}
                    if doc.get("channel"):
                        batch.delete(
                            MessageMarkerItem(
                                marker_pk(tenant_id, doc["channel"], item.provider_message_id), "MESSAGE"
                            )
                        )
                batch.delete(ActivityItem(item.pk, item.sk))
        return lead

    def record_delivery_status(
        self,
        tenant_id: str,
        channel_type: ChannelType,
        provider_message_id: str,
        status: DeliveryStatus,
        occurred_at: datetime,
        errors: Sequence[dict[str, Any]] = (),
    ) -> bool:
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
            except Exception:
                return True
        return marker is not None and marker.lead_id is not None

    def retract_message(self, tenant_id: str, channel_type: ChannelType, provider_message_id: str) -> bool:
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

    def save_score(
        self,
        tenant_id: str,
        lead_id: str,
        *,
        score: int,
        grade: str,
        breakdown: list[dict[str, Any]],
        scored_at: datetime,
        cause: str,
        previous_score: int | None,
        previous_grade: str | None,
    ) -> None:
        pk = lead_pk(tenant_id, lead_id)
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.update(
                    LeadItem(pk, PROFILE),
                    actions=[
                        LeadItem.score.set(score),
                        LeadItem.grade.set(grade),
                        LeadItem.score_breakdown.set(breakdown),
                        LeadItem.scored_at.set(scored_at),
                        LeadItem.score_sk.set(score_sort_key(score, lead_id)),
                    ],
                    condition=LeadItem.pk.exists(),
                )
                tx.save(
                    ScoreHistoryItem(
                        pk,
                        f"S#{iso(scored_at)}",
                        score=score,
                        grade=grade,
                        previous_score=previous_score,
                        previous_grade=previous_grade,
                        cause=cause,
                        breakdown=breakdown,
                        scored_at=scored_at,
                    )
                )
        except TransactWriteError as err:
            if _reason_codes(err)[:1] == ["ConditionalCheckFailed"]:
                raise LeadNotFoundError(f"lead {lead_id} not found") from err
            raise

    def iter_lead_ids(self) -> Iterator[tuple[str, str]]:
        for item in LeadItem.scan(LeadItem.sk == PROFILE, attributes_to_get=["tenant_id", "lead_id"]):
            yield item.tenant_id, item.lead_id

    # ------------------------------------------------------------------ mapping
    @staticmethod
    def _lead_item(lead: Lead) -> LeadItem:
        values = lead.model_dump(mode="python", exclude_none=True)
        values["referral"] = (
            lead.referral.model_dump(mode="json", exclude_none=True) if lead.referral else None
        )
        values["score_breakdown"] = [f.model_dump(mode="json") for f in lead.score_breakdown]
        values["source_channel"] = str(lead.source_channel)
        values["status"] = str(lead.status)
        if lead.grade:
            values["grade"] = str(lead.grade)
        return LeadItem(
            lead_pk(lead.tenant_id, lead.lead_id),
            PROFILE,
            list_pk=tenant_list_pk(lead.tenant_id),
            created_sk=f"{iso(lead.created_at)}#{lead.lead_id}",
            activity_sk=f"{iso(lead.last_activity_at)}#{lead.lead_id}",
            score_sk=score_sort_key(lead.score, lead.lead_id),
            search_text=search_text(values) or " ",
            **{k: v for k, v in values.items() if v is not None},
        )


def _index_range_key(sort: str) -> str:
    return {"created": "created_sk", "last_activity": "activity_sk", "score": "score_sk"}[sort]


def _advances(current: str | None, new: DeliveryStatus) -> bool:
    if new == DeliveryStatus.FAILED or current is None:
        return True
    if current == DeliveryStatus.FAILED:
        return False
    return _STATUS_RANK.get(new, 0) > _STATUS_RANK.get(DeliveryStatus(current), 0)


def activity_sort_key(activity: Activity) -> str:
    """Sort key of a timeline entry: chronological, unique by activity id."""
    return f"A#{iso(activity.occurred_at)}#{activity.activity_id}"


def lead_identities(lead: Lead) -> list[tuple[IdentityKind, str]]:
    """The identity keys a lead owns, from its stored (already normalised) contact fields."""
    keys: list[tuple[IdentityKind, str]] = []
    if lead.phone:
        keys.append(("phone", lead.phone))
    if lead.email:
        keys.append(("email", lead.email))
    if lead.instagram_id:
        keys.append(("instagram", lead.instagram_id))
    return keys


def _lead_from_item(item: LeadItem) -> Lead:
    values = dict(item.attribute_values)
    values["score_breakdown"] = values.get("score_breakdown") or []
    values["custom_fields"] = values.get("custom_fields") or {}
    values["tags"] = values.get("tags") or []
    if values.get("score") is not None:
        values["score"] = int(values["score"])
    values["message_count"] = int(values.get("message_count") or 0)
    return Lead.model_validate(values)


def _activity_from_item(item: ActivityItem) -> Activity:
    doc = dict(item.doc or {})
    if item.delivery_status:
        doc["delivery_status"] = item.delivery_status
    if item.retracted:
        doc["retracted"] = True
    return Activity.model_validate(doc)
