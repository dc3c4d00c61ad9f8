"""DynamoDB implementation of :class:`LeadRepository` (PynamoDB over the leads table)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor, read_filtered_page
from leadtide.dal.errors import CONDITION_REASON, cancellation_codes, condition_failed
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
from leadtide.dal.lead_profile import (
    PROFILE,
    activity_sort_key,
    identity_entry,
    last_activity_actions,
    last_activity_advances,
    lead_from_item,
    lead_item_values,
    owned_identity_keys,
    score_sort_key,
    search_text,
    stale_claim_cutoff,
)

# Kept importable from here for the import adapters (leadtide.dal.imports) and their tests, which read the
# stored-profile helpers through this module; new code imports them from leadtide.dal.lead_profile.
from leadtide.dal.lead_profile import STALE_CLAIM_SECONDS as STALE_CLAIM_SECONDS
from leadtide.dal.lead_profile import identity_entries_after as identity_entries_after
from leadtide.dal.lead_profile import identity_of_entry as identity_of_entry
from leadtide.dal.lead_profile import profile_keys as profile_keys
from leadtide.dal.lead_timeline import DynamoLeadTimeline
from leadtide.leads.ports import IdentityTakenError, LeadChanges, LeadRepository, MessageTextStore
from leadtide.models.auth import owner_visible
from leadtide.models.common import ChannelType, IdentityKind, iso, utc_now
from leadtide.models.errors import (
    ConflictError,
    DuplicateDeliveryError,
    ForbiddenError,
    LeadNotFoundError,
)
from leadtide.models.leads import Activity, DashboardSummary, Lead, LeadQuery

_lead_from_item = lead_from_item  # by its former private name, for the same readers

_INDEX_BY_SORT = {"created": "by_created", "last_activity": "by_activity", "score": "by_score"}
# Identity deletes in a lead delete's transaction (DynamoDB's limit is 100 items; the profile and the three
# dashboard counters take four); a lead owning more (a survivor of many merges) has the rest deleted right
# after, each on the same condition.
IDENTITY_DELETES_PER_TRANSACTION = 96
# Attempts of a write whose condition failed because of a concurrent change (read again, write again).
_ATTEMPTS = 4


_SENT_ORDER = {"check": 0, "delete": 1, "put": 2, "update": 3}


def _sent_order(ops: list[tuple[str, str]]) -> list[str]:
    """The labels of a transaction's items in the order PynamoDB's ``TransactWrite`` sends them (condition
    checks, deletes, puts, updates; each kind in the order added), which is the order of the
    ``CancellationReasons`` of a cancelled transaction. ``ops``: (kind, label) in the order added."""
    ranked = sorted(enumerate(ops), key=lambda entry: (_SENT_ORDER[entry[1][0]], entry[0]))
    return [label for _, (_, label) in ranked]


class DynamoLeadRepository(DynamoRepository, DynamoLeadTimeline, LeadRepository):
    """Leads over DynamoDB. Every multi-item change is one TransactWriteItems call.

    Item layout: see :mod:`leadtide.dal.items`. Counters (dashboard) are updated in the same transaction
    as the change that moves them, so they never drift. ``message_texts`` holds the whole texts of
    truncated message activities; deleting a lead deletes them too.
    """

    def __init__(self, connection: Any = None, *, message_texts: MessageTextStore | None = None):
        super().__init__(connection)
        self._message_texts = message_texts

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
        """See :meth:`LeadRepository.create_lead`. An identity item pointing at a lead whose profile no
        longer exists is free: it is claimed on condition that it still names that missing lead."""
        stale: dict[tuple[str, str], str] = {}
        for _attempt in range(_ATTEMPTS):
            try:
                return self._create_lead(lead, identities, activity, stale)
            except _DanglingIdentity as dangling:
                stale[dangling.key] = dangling.lead_id
        raise IdentityTakenError(*next(iter(stale)), None)

    def _create_lead(
        self,
        lead: Lead,
        identities: Sequence[tuple[IdentityKind, str]],
        activity: Activity | None,
        stale: dict[tuple[str, str], str],
    ) -> None:
        tenant = lead.tenant_id
        item = self._lead_item(lead)
        if identities:
            item.identity_keys = {identity_entry(kind, value) for kind, value in identities}
        with_ops: list[tuple[str, str]] = []
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.save(item, condition=LeadItem.pk.does_not_exist())
                with_ops.append(("put", "lead"))
                for kind, value in identities:
                    tx.save(
                        IdentityItem(identity_pk(tenant, kind, value), "IDENTITY", lead_id=lead.lead_id),
                        condition=_claim_condition((kind, value), None, stale),
                    )
                    with_ops.append(("put", f"identity:{kind}:{value}"))
                if activity is not None:
                    for op in self._activity_ops(tenant, activity):
                        tx.save(op, condition=op.__class__.pk.does_not_exist())
                        with_ops.append(
                            ("put", "marker" if isinstance(op, MessageMarkerItem) else "activity")
                        )
                for sk in ("total", f"status#{lead.status}", f"source#{lead.source_channel}"):
                    tx.update(CounterItem(stats_pk(tenant), sk), actions=[CounterItem.value.add(1)])
                    with_ops.append(("update", "counter"))
        except TransactWriteError as err:
            self._raise_for_cancellation(err, _sent_order(with_ops), tenant)
            raise

    def _raise_for_cancellation(self, err: TransactWriteError, ops: list[str], tenant: str) -> None:
        """Raise the error a cancelled transaction means (its first refused item decides).

        A refused identity claim whose item names a lead with no profile (or is gone already) raises
        :class:`_DanglingIdentity`: the caller claims it again on condition that it still names that lead.
        """
        for op, code in zip(ops, cancellation_codes(err), strict=False):
            if code != CONDITION_REASON:
                continue
            if op.startswith("identity:"):
                _, kind, value = op.split(":", 2)
                try:
                    identity = IdentityItem.get(
                        identity_pk(tenant, kind, value), "IDENTITY", consistent_read=True
                    )
                except DoesNotExist:
                    raise _DanglingIdentity((kind, value), None) from err
                owner = identity.lead_id
                fresh = identity.claimed_at is not None and identity.claimed_at >= stale_claim_cutoff()
                if not fresh and not self._lead_exists(tenant, owner):
                    raise _DanglingIdentity((kind, value), owner) from err
                # A live lead's, or an import's recent claim whose profile is being written.
                raise IdentityTakenError(kind, value, owner) from err
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
        """See :meth:`LeadRepository.append_activity` (``fill_fields`` uses ``if_not_exists``). New
        identities are added to the profile's ``identity_keys`` in the same transaction; one whose item
        names a lead that no longer exists is claimed (see :meth:`create_lead`)."""
        stale: dict[tuple[str, str], str] = {}
        for _attempt in range(_ATTEMPTS):
            try:
                return self._append_activity(
                    tenant_id,
                    activity,
                    touch_lead=touch_lead,
                    advance_clock=touch_lead,
                    fill_fields=fill_fields,
                    new_identities=new_identities,
                    stale=stale,
                )
            except _DanglingIdentity as dangling:
                stale[dangling.key] = dangling.lead_id
        raise IdentityTakenError(*next(iter(stale)), None)

    def _append_activity(
        self,
        tenant_id: str,
        activity: Activity,
        *,
        touch_lead: bool,
        advance_clock: bool,
        fill_fields: dict[str, Any] | None,
        new_identities: Sequence[tuple[IdentityKind, str]],
        stale: dict[tuple[str, str], str],
    ) -> None:
        """One transaction: the activity (+ marker), the profile's touch, the new identities. With
        ``advance_clock`` the touch also moves the last activity (:func:`last_activity_actions` on
        :func:`last_activity_advances`); when that condition refuses (the lead has later activity, or the
        message predates it) the transaction is sent again without the clock part, so the message still
        counts and still fills empty fields."""
        added: list[tuple[str, str]] = []
        claimed = {identity_entry(kind, value) for kind, value in new_identities}
        try:
            with TransactWrite(connection=self.connection) as tx:
                for op in self._activity_ops(tenant_id, activity):
                    tx.save(op, condition=op.__class__.pk.does_not_exist())
                    added.append(("put", "marker" if isinstance(op, MessageMarkerItem) else "activity"))
                lead_key = LeadItem(lead_pk(tenant_id, activity.lead_id), PROFILE)
                if touch_lead:
                    at = activity.occurred_at
                    actions: list[Action] = []
                    condition = LeadItem.pk.exists()
                    if advance_clock:
                        # Only forward: an older message redelivered late must not rewind the clock.
                        actions += last_activity_actions(activity.lead_id, at)
                        actions.append(LeadItem.updated_at.set(at))
                        if activity.type == "message" and activity.text:
                            actions.append(LeadItem.last_message_preview.set(activity.text[:160]))
                        condition = condition & last_activity_advances(at)
                    else:
                        # The profile still changes (count, filled fields): move the version writers
                        # compare (imports, deletes, backfills condition on updated_at).
                        actions.append(LeadItem.updated_at.set(utc_now()))
                    if activity.type == "message":
                        actions.append(LeadItem.message_count.add(1))
                    for name, value in (fill_fields or {}).items():
                        attr = getattr(LeadItem, name)
                        actions.append(attr.set(attr | value))
                    if claimed:
                        actions.append(LeadItem.identity_keys.add(claimed))
                    tx.update(lead_key, actions=actions, condition=condition)
                    added.append(("update", "lead-touch"))
                elif claimed:
                    tx.update(
                        lead_key,
                        actions=[LeadItem.identity_keys.add(claimed)],
                        condition=LeadItem.pk.exists(),
                    )
                    added.append(("update", "lead-exists"))
                else:
                    tx.condition_check(LeadItem, lead_key.pk, PROFILE, condition=LeadItem.pk.exists())
                    added.append(("check", "lead-exists"))
                for kind, value in new_identities:
                    tx.save(
                        IdentityItem(
                            identity_pk(tenant_id, kind, value), "IDENTITY", lead_id=activity.lead_id
                        ),
                        condition=_claim_condition((kind, value), None, stale),
                    )
                    added.append(("put", f"identity:{kind}:{value}"))
        except TransactWriteError as err:
            ops = _sent_order(added)
            codes = cancellation_codes(err)
            if "lead-touch" in ops and codes[ops.index("lead-touch")] == CONDITION_REASON:
                if not advance_clock or not self._lead_exists(tenant_id, activity.lead_id):
                    raise LeadNotFoundError("lead not found") from err
                # The lead has later activity already: store the entry and count it, clock unmoved.
                return self._append_activity(
                    tenant_id,
                    activity,
                    touch_lead=True,
                    advance_clock=False,
                    fill_fields=fill_fields,
                    new_identities=new_identities,
                    stale=stale,
                )
            self._raise_for_cancellation(err, ops, tenant_id)
            raise
        return None

    def _lead_exists(self, tenant_id: str, lead_id: str) -> bool:
        """Whether the profile exists (strongly consistent: it decides whether identities are stale)."""
        try:
            LeadItem.get(lead_pk(tenant_id, lead_id), PROFILE, attributes_to_get=["pk"], consistent_read=True)
        except DoesNotExist:
            return False
        return True

    # ------------------------------------------------------------------ reads
    def get_lead(self, tenant_id: str, lead_id: str) -> Lead:
        try:
            item = LeadItem.get(lead_pk(tenant_id, lead_id), PROFILE)
        except DoesNotExist:
            raise LeadNotFoundError(f"lead {lead_id} not found") from None
        return lead_from_item(item)

    def get_leads(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, Lead]:
        """Existing leads of ``lead_ids`` by id; BatchGetItem, 100 keys per call (PynamoDB retries the
        unprocessed keys)."""
        keys = [(lead_pk(tenant_id, lead_id), PROFILE) for lead_id in dict.fromkeys(lead_ids)]
        return {item.lead_id: lead_from_item(item) for item in LeadItem.batch_get(keys)}

    def query_leads(self, tenant_id: str, query: LeadQuery) -> tuple[list[Lead], str | None]:
        """See :meth:`LeadRepository.query_leads`. One Query of the sort's inbox index: the range of the
        sort field is the key condition, the other fields are a filter expression (:func:`_inbox_conditions`),
        ``query.condition`` is evaluated on each item read. A page reads at most
        :data:`~leadtide.dal.cursor.MAX_ITEMS_EVALUATED_PER_PAGE` items and may hold fewer than ``limit``
        leads with a cursor to go on (:func:`~leadtide.dal.cursor.read_filtered_page`). The cursor is bound
        to the sort, the order and the key range, so one replayed under another range is refused (400)
        rather than sent to DynamoDB, which refuses a start key outside the key condition."""
        range_condition, filter_condition, scope = _inbox_conditions(query)
        start_key = decode_cursor(query.cursor, scope=scope, tenant_prefix=f"T#{tenant_id}")
        selective = filter_condition is not None or query.condition is not None
        results = getattr(LeadItem, _INDEX_BY_SORT[query.sort]).query(
            tenant_list_pk(tenant_id),
            range_key_condition=range_condition,
            filter_condition=filter_condition,
            scan_index_forward=not query.descending,
            last_evaluated_key=start_key,
            page_size=max(query.limit, 100 if selective else query.limit),
        )
        key_names = ("pk", "sk", "list_pk", _index_range_key(query.sort))

        def pick(raw: dict[str, Any]) -> Lead | None:
            item = LeadItem.from_raw_data(raw)
            if query.condition is not None and not query.condition(item.attribute_values):
                return None
            return lead_from_item(item)

        leads, last_key = read_filtered_page(
            results.page_iter,
            limit=query.limit,
            pick=pick,
            key_of=lambda raw: {k: raw[k] for k in key_names},
            evaluated=lambda page: page.get("ScannedCount", 0),
        )
        return leads, encode_cursor(last_key, scope=scope)

    def dashboard(self, tenant_id: str, *, visible_to: str | None = None) -> DashboardSummary:
        """The tenant's counters (one Query of ``T#<t>#STATS``); with ``visible_to``, counted on request
        over the sparse condition index (``leads_by_condition_shard``: its 16 shards in parallel, entries
        projected to ``owner_id``, ``status``, ``source_channel``), keeping the leads
        :func:`~leadtide.models.auth.owner_visible` accepts: the counters are tenant-wide and per-owner
        counters would have to move with every owner change. Cost: one read of the tenant's index."""
        if visible_to is not None:
            return self._visible_dashboard(tenant_id, visible_to)
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

    def _visible_dashboard(self, tenant_id: str, visible_to: str) -> DashboardSummary:
        from leadtide.dal.segments import DynamoSegmentRepository  # the condition index reader

        by_status: dict[str, int] = {}
        by_source: dict[str, int] = {}
        total = 0
        reader = DynamoSegmentRepository(self._connection)
        for page in reader.read_condition_records(tenant_id, ("owner_id", "status", "source_channel")):
            for record in page.records:
                if not owner_visible(record.get("owner_id"), visible_to):
                    continue
                total += 1
                for counts, name in ((by_status, "status"), (by_source, "source_channel")):
                    if record.get(name):
                        counts[record[name]] = counts.get(record[name], 0) + 1
        return DashboardSummary(
            total_leads=total,
            by_status=dict(sorted(by_status.items())),
            by_source=dict(sorted(by_source.items())),
        )

    # ------------------------------------------------------------------ changes
    def update_lead(self, tenant_id: str, lead_id: str, changes: LeadChanges) -> Lead:
        """See :meth:`LeadRepository.update_lead`. Claimed identities join the profile's
        ``identity_keys`` in the same transaction (released ones leave it there too, or just after when
        the same update also claims: one update expression cannot both ADD to and DELETE from a set); an
        identity whose item names a lead that no longer exists is claimed (see :meth:`create_lead`)."""
        stale: dict[tuple[str, str], str] = {}
        for _attempt in range(_ATTEMPTS):
            try:
                updated = self._update_lead(tenant_id, lead_id, changes, stale)
            except _DanglingIdentity as dangling:
                stale[dangling.key] = dangling.lead_id
                continue
            released = {identity_entry(k, v) for k, v in changes.remove_identities}
            if released and changes.add_identities:
                # A key released here that is the lead's email/phone again by now is still found at delete
                # time (owned_identity_keys adds the contact fields), so this late DELETE is safe.
                try:
                    LeadItem(lead_pk(tenant_id, lead_id), PROFILE).update(
                        actions=[LeadItem.identity_keys.delete(released)],
                        condition=LeadItem.pk.exists(),  # deleted meanwhile: no key-only profile
                    )
                except UpdateError as err:
                    if not condition_failed(err):
                        raise
            return updated
        raise IdentityTakenError(*next(iter(stale)), None)

    def _update_lead(
        self, tenant_id: str, lead_id: str, changes: LeadChanges, stale: dict[tuple[str, str], str]
    ) -> Lead:
        added: list[tuple[str, str]] = []
        now_values = dict(changes.set)
        actions: list[Action] = []
        for name, value in now_values.items():
            attr = getattr(LeadItem, name)
            actions.append(attr.remove() if value is None else attr.set(value))
        current = self.get_lead(tenant_id, lead_id)
        merged = {**current.model_dump(), **now_values}
        actions.append(LeadItem.search_text.set(search_text(merged) or " "))
        if changes.add_identities:
            actions.append(
                LeadItem.identity_keys.add({identity_entry(k, v) for k, v in changes.add_identities})
            )
        elif changes.remove_identities:
            actions.append(
                LeadItem.identity_keys.delete({identity_entry(k, v) for k, v in changes.remove_identities})
            )
        condition = LeadItem.pk.exists()
        if changes.require_owner_in is not None:
            owner_cond = None
            for owner in changes.require_owner_in:
                c = LeadItem.owner_id.does_not_exist() if owner is None else LeadItem.owner_id == owner
                owner_cond = c if owner_cond is None else owner_cond | c
            condition = condition & owner_cond
        profile_op = "owner" if changes.require_owner_in is not None else "lead-exists"
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.update(
                    LeadItem(lead_pk(tenant_id, lead_id), PROFILE), actions=actions, condition=condition
                )
                added.append(("update", profile_op))
                for kind, value in changes.add_identities:
                    tx.save(
                        IdentityItem(identity_pk(tenant_id, kind, value), "IDENTITY", lead_id=lead_id),
                        condition=_claim_condition((kind, value), lead_id, stale),
                    )
                    added.append(("put", f"identity:{kind}:{value}"))
                for kind, value in changes.remove_identities:
                    tx.delete(
                        IdentityItem(identity_pk(tenant_id, kind, value), "IDENTITY"),
                        condition=IdentityItem.lead_id == lead_id,
                    )
                    added.append(("delete", "identity-remove"))
                if changes.new_status and changes.old_status and changes.new_status != changes.old_status:
                    for sk, delta in (
                        (f"status#{changes.old_status}", -1),
                        (f"status#{changes.new_status}", 1),
                    ):
                        tx.update(
                            CounterItem(stats_pk(tenant_id), sk), actions=[CounterItem.value.add(delta)]
                        )
                        added.append(("update", "counter"))
        except TransactWriteError as err:
            ops = _sent_order(added)
            codes = dict(zip(ops, cancellation_codes(err), strict=False))
            if codes.get(profile_op) == CONDITION_REASON and not self._lead_exists(tenant_id, lead_id):
                raise LeadNotFoundError(f"lead {lead_id} not found") from err
            self._raise_for_cancellation(err, ops, tenant_id)
            raise
        return self.get_lead(tenant_id, lead_id)

    def delete_lead(self, tenant_id: str, lead_id: str) -> Lead:
        """Delete the lead, every identity item pointing at it, its timeline, history and message markers.

        The identity items are those of :func:`owned_identity_keys` (the profile's ``identity_keys``: its
        own, its merged leads', imported unique custom fields; plus its contact fields) that still name
        this lead: one BatchGetItem reads them, no scan. One transaction deletes the profile (on condition
        that ``updated_at`` and ``identity_keys`` are still the ones read: a capture adding an identity
        to an older lead changes ``identity_keys`` only, so an identity claimed meanwhile is not missed), up to
        :data:`IDENTITY_DELETES_PER_TRANSACTION` identity items (each on condition that it still names
        this lead) and moves the counters; further identity items (a survivor of many merges) are deleted
        right after on the same condition. A crash in between leaves items naming a missing lead, which
        every claim path treats as free.

        Raises:
            LeadNotFoundError: no such lead.
            ConflictError: the lead kept changing while being deleted (retry).
        """
        pk = lead_pk(tenant_id, lead_id)
        for _attempt in range(_ATTEMPTS):
            try:
                item = LeadItem.get(pk, PROFILE)
            except DoesNotExist:
                raise LeadNotFoundError(f"lead {lead_id} not found") from None
            lead = lead_from_item(item)
            keys = owned_identity_keys(item)
            owners = self.lookup_identities(tenant_id, cast(list[tuple[IdentityKind, str]], keys))
            mine = [key for key in keys if owners.get(cast(tuple[IdentityKind, str], key)) == lead_id]
            now, later = mine[:IDENTITY_DELETES_PER_TRANSACTION], mine[IDENTITY_DELETES_PER_TRANSACTION:]
            try:
                with TransactWrite(connection=self.connection) as tx:
                    same_keys = (
                        LeadItem.identity_keys.does_not_exist()
                        if not item.identity_keys
                        else LeadItem.identity_keys == item.identity_keys
                    )
                    tx.delete(
                        LeadItem(pk, PROFILE),
                        condition=(LeadItem.updated_at == item.updated_at) & same_keys,
                    )
                    for kind, value in now:
                        tx.delete(
                            IdentityItem(identity_pk(tenant_id, kind, value), "IDENTITY"),
                            condition=IdentityItem.lead_id == lead_id,
                        )
                    for sk in ("total", f"status#{lead.status}", f"source#{lead.source_channel}"):
                        tx.update(CounterItem(stats_pk(tenant_id), sk), actions=[CounterItem.value.add(-1)])
            except TransactWriteError as err:
                if condition_failed(err):
                    continue  # the lead or one of its identities changed meanwhile: read again
                raise
            for kind, value in later:
                _delete_identity_if_owned(tenant_id, (kind, value), lead_id)
            break
        else:
            raise ConflictError(f"lead {lead_id} kept changing while being deleted; retry")
        # The profile is gone, so the rest is unreachable; remove it in batches (timeline, history, markers,
        # then the whole texts of truncated messages, which nothing can reach without the activity).
        texts: list[str] = []
        with ActivityItem.batch_write() as batch:
            for entry in ActivityItem.query(pk):
                if entry.sk.startswith("A#") and entry.provider_message_id:
                    doc = entry.doc or {}
                    if doc.get("channel"):
                        batch.delete(
                            MessageMarkerItem(
                                marker_pk(tenant_id, doc["channel"], entry.provider_message_id), "MESSAGE"
                            )
                        )
                    if doc.get("text_truncated") and doc.get("activity_id"):
                        texts.append(doc["activity_id"])
                batch.delete(ActivityItem(entry.pk, entry.sk))
        if texts and self._message_texts is not None:
            self._message_texts.delete(tenant_id, texts)
        return lead

    def message_lead(self, tenant_id: str, channel_type: ChannelType, provider_message_id: str) -> str | None:
        try:
            marker = MessageMarkerItem.get(marker_pk(tenant_id, channel_type, provider_message_id), "MESSAGE")
        except DoesNotExist:
            return None
        return marker.lead_id

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
            if cancellation_codes(err)[:1] == [CONDITION_REASON]:
                raise LeadNotFoundError(f"lead {lead_id} not found") from err
            raise

    def iter_lead_ids(self) -> Iterator[tuple[str, str]]:
        for item in LeadItem.scan(LeadItem.sk == PROFILE, attributes_to_get=["tenant_id", "lead_id"]):
            yield item.tenant_id, item.lead_id

    # ------------------------------------------------------------------ mapping
    @staticmethod
    def _lead_item(lead: Lead) -> LeadItem:
        return LeadItem(**lead_item_values(lead))


def _index_range_key(sort: str) -> str:
    return {"created": "created_sk", "last_activity": "activity_sk", "score": "score_sk"}[sort]


def _inbox_conditions(query: LeadQuery) -> tuple[Condition | None, Condition | None, str]:
    """The key condition, the filter expression and the cursor scope of an inbox query.

    A time range (created, last activity) on the sort's own field is the key condition and part of the
    scope; every other range and field (:func:`_field_filters`) joins the filter expression (None: none).
    Key bounds are the ``<iso>#<lead id>`` sort keys' text; an open bound reads as ``0000`` / ``9999``.
    """
    range_condition = None
    filters: list[Condition] = []
    scope = f"leads:{query.sort}:{'d' if query.descending else 'a'}"
    for attr, low, high, sort in (
        (LeadItem.created_sk, query.created_from, query.created_to, "created"),
        (LeadItem.activity_sk, query.last_activity_from, query.last_activity_to, "last_activity"),
    ):
        if low is None and high is None:
            continue
        lo = iso(low) if low else "0000"  # a key bound cannot be empty
        hi = (iso(high) if high else "9999") + "#~"
        if query.sort == sort:
            range_condition = attr.between(lo, hi)
            scope += f":{lo}:{hi}"
        else:
            filters.append(attr.between(lo, hi))
    filters += _field_filters(query)
    filter_condition = None
    for condition in filters:
        filter_condition = condition if filter_condition is None else filter_condition & condition
    return range_condition, filter_condition, scope


def _field_filters(query: LeadQuery) -> list[Condition]:
    """The filter expression's terms for an inbox query's fields (status, source, grade, owner, the rep
    rule's ``visible_to``, the search text), ANDed by the caller."""
    filters: list[Condition] = []
    if query.status:
        filters.append(LeadItem.status == query.status)
    if query.source_channel:
        filters.append(LeadItem.source_channel == query.source_channel)
    if query.grade:
        filters.append(LeadItem.grade == query.grade)
    if query.owner_id == "unassigned":
        filters.append(LeadItem.owner_id.does_not_exist())
    elif query.owner_id:
        filters.append(LeadItem.owner_id == query.owner_id)
    if query.visible_to:
        filters.append(LeadItem.owner_id.does_not_exist() | (LeadItem.owner_id == query.visible_to))
    if query.search:
        filters.append(LeadItem.search_text.contains(query.search.lower()))
    return filters


class _DanglingIdentity(Exception):
    """A claim was refused by an identity item naming a lead with no profile (``lead_id``), or by one that
    vanished meanwhile (``lead_id`` None): claim again on that condition."""

    def __init__(self, key: tuple[str, str], lead_id: str | None):
        super().__init__(f"identity {key[0]}:{key[1]} names missing lead {lead_id}")
        self.key = key
        self.lead_id = lead_id or ""


def _claim_condition(
    key: tuple[str, str], own_lead_id: str | None, stale: dict[tuple[str, str], str]
) -> Condition:
    """Condition of an identity claim: absent, or already ``own_lead_id``'s, or still naming the missing
    lead found for it (``stale``) and not claimed by an import within :data:`STALE_CLAIM_SECONDS`."""
    condition: Condition = IdentityItem.pk.does_not_exist()
    if own_lead_id is not None:
        condition = condition | (IdentityItem.lead_id == own_lead_id)
    if stale.get(key):
        condition = condition | (
            (IdentityItem.lead_id == stale[key])
            & (IdentityItem.claimed_at.does_not_exist() | (IdentityItem.claimed_at < stale_claim_cutoff()))
        )
    return condition


def _delete_identity_if_owned(tenant_id: str, key: tuple[str, str], lead_id: str) -> None:
    """Delete one identity item if it still names ``lead_id`` (else leave it: another lead's)."""
    try:
        IdentityItem(identity_pk(tenant_id, key[0], key[1]), "IDENTITY").delete(
            condition=IdentityItem.lead_id == lead_id
        )
    except DeleteError as err:
        if not condition_failed(err):
            raise
