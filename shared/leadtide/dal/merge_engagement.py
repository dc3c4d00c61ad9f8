"""DynamoDB implementation of :class:`leadtide.duplicates.ports.MergeEngagement`: behaviour engagement
records (``sk=ENGAGEMENT``) folded into a merge's survivor, and separated again by its undo.

Fold (one merged lead, one TransactWriteItems): the survivor's profile must exist; the survivor's record
is replaced by the union (:func:`leadtide.duplicates.engagement.combine_engagement`) under its optimistic
``version`` (the same protocol as :mod:`leadtide.dal.tracking` and
:meth:`leadtide.dal.scoring_models.DynamoScoringStore.record_occurrences`); the merged lead's record is
deleted (condition: its version unchanged) and copied to ``pk=T#<tenant>#MERGE#<merge_id>, sk=E#<lead_id>``
(must not exist); the survivor's record as it was before the first fold is copied the same way (the
first fold creates it, later folds move its ``folded_version``/``folded_counts`` on). The deleted record
is the idempotency marker: a redelivered fold finds nothing to fold and only repeats the conditional
profile summary write (:func:`leadtide.dal.engagement.store_engaged`). No writer can recreate the merged
lead's record afterwards: both writers check, in their transaction, that the lead's profile exists, and
the merge deleted it.

Restore (undo): the survivor first (its "what arrived since the merge" needs the merged copies), each in
one transaction with the deletion of its copy, then each merged lead; last, the survivor profile's summary
is re-synced with its record (undo restored the profile's before-image, summary included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.engagement import store_engaged
from leadtide.dal.errors import condition_failed, refused_by_condition
from leadtide.dal.items import EngagementItem, LeadItem, MergeEngagementItem, lead_pk
from leadtide.dal.lead_profile import PROFILE
from leadtide.dal.scoring_models import ENGAGEMENT
from leadtide.duplicates.ports import EngagementRecord, MergeEngagement
from leadtide.models.errors import ConflictError

_RETRIES = 8
SURVIVOR, MERGED = "survivor", "merged"


def merge_engagement_pk(tenant_id: str, merge_id: str) -> str:
    """Partition of the engagement records a merge keeps for undo."""
    return f"T#{tenant_id}#MERGE#{merge_id}"


def _record(item: EngagementItem | MergeEngagementItem) -> EngagementRecord:
    return EngagementRecord(
        occ={t: [list(e) for e in entries] for t, entries in (item.occ or {}).items()},
        counts={t: int(n) for t, n in (item.counts or {}).items()},
        last_event_at=item.last_event_at,
        version=int(item.version or 0),
    )


def _engagement(pk: str) -> EngagementItem | None:
    try:
        return EngagementItem.get(pk, ENGAGEMENT, consistent_read=True)
    except DoesNotExist:
        return None


def _copy(park: str, lead_id: str) -> MergeEngagementItem | None:
    try:
        return MergeEngagementItem.get(park, f"E#{lead_id}", consistent_read=True)
    except DoesNotExist:
        return None


def _item(pk: str, record: EngagementRecord) -> EngagementItem:
    return EngagementItem(
        pk,
        ENGAGEMENT,
        occ=record.occ,
        counts=record.counts,
        last_event_at=record.last_event_at,
        version=record.version,
    )


def _expected(current: EngagementItem | None) -> Any:
    """The optimistic-lock condition on a record read as ``current`` (None: it must still be absent)."""
    if current is None:
        return EngagementItem.pk.does_not_exist()
    return EngagementItem.version == int(current.version or 0)


def _conflict(err: TransactWriteError) -> list[bool]:
    """Which items of the cancelled transaction their condition refused; raises ``err`` when none was
    (throttling, a conflicting transaction...: the caller's retry - the queue - handles it)."""
    if not condition_failed(err):
        raise err
    return refused_by_condition(err)


Combine = Callable[[EngagementRecord | None, EngagementRecord], EngagementRecord]
Separate = Callable[..., EngagementRecord]


class DynamoMergeEngagement(DynamoRepository, MergeEngagement):
    """Engagement records across merges, over the leads table (see the module docstring).

    Args:
        combine: the union rule (:func:`leadtide.duplicates.engagement.combine_engagement`).
        separate: the undo rule (:func:`leadtide.duplicates.engagement.separate_engagement`).
        The rules are the logic layer's; this adapter applies them inside its optimistic write loop.
    """

    def __init__(self, *, combine: Combine, separate: Separate, connection: Any = None):
        super().__init__(connection)
        self._combine = combine
        self._separate = separate

    def fold(self, tenant_id: str, merge_id: str, survivor_id: str, merged_id: str) -> bool:
        survivor_pk, merged_pk = lead_pk(tenant_id, survivor_id), lead_pk(tenant_id, merged_id)
        park = merge_engagement_pk(tenant_id, merge_id)
        for _ in range(_RETRIES):
            merged = _engagement(merged_pk)
            current = _engagement(survivor_pk)
            if merged is None:
                # Nothing to fold, or folded already (a redelivery): the summary write that followed may
                # have been lost; it is conditional on the version, so repeating it is harmless.
                if current is not None:
                    store_engaged(survivor_pk, current.occ or {}, current.counts or {}, int(current.version))
                return False
            before = _record(current) if current is not None else None
            combined = self._combine(before, _record(merged))
            survivor_copy = _copy(park, survivor_id)
            try:
                with TransactWrite(connection=self.connection) as tx:
                    tx.condition_check(LeadItem, survivor_pk, PROFILE, condition=LeadItem.pk.exists())
                    tx.save(_item(survivor_pk, combined), condition=_expected(current))
                    tx.delete(
                        EngagementItem(merged_pk, ENGAGEMENT),
                        condition=EngagementItem.version == int(merged.version or 0),
                    )
                    tx.save(
                        MergeEngagementItem(
                            park,
                            f"E#{merged_id}",
                            role=MERGED,
                            occ=merged.occ,
                            counts=merged.counts,
                            last_event_at=merged.last_event_at,
                            version=int(merged.version or 0),
                        ),
                        condition=MergeEngagementItem.pk.does_not_exist(),
                    )
                    if survivor_copy is None:
                        tx.save(
                            MergeEngagementItem(
                                park,
                                f"E#{survivor_id}",
                                role=SURVIVOR,
                                occ=current.occ if current is not None else None,
                                counts=current.counts if current is not None else None,
                                last_event_at=current.last_event_at if current is not None else None,
                                version=int(current.version or 0) if current is not None else None,
                                folded_version=combined.version,
                                folded_counts=combined.counts,
                            ),
                            condition=MergeEngagementItem.pk.does_not_exist(),
                        )
                    else:
                        tx.update(
                            MergeEngagementItem(park, f"E#{survivor_id}"),
                            actions=[
                                MergeEngagementItem.folded_version.set(combined.version),
                                MergeEngagementItem.folded_counts.set(combined.counts),
                            ],
                            condition=MergeEngagementItem.folded_version
                            == int(survivor_copy.folded_version or 0),
                        )
            except TransactWriteError as err:
                if _conflict(err)[:1] == [True]:
                    return False  # the survivor is gone (deleted since the merge): nothing to fold into
                continue  # a writer moved a record meanwhile: read again and fold again
            store_engaged(survivor_pk, combined.occ, combined.counts, combined.version)
            return True
        raise ConflictError(
            "the survivor's engagement record kept changing; retry", code="engagement_conflict"
        )

    def restore(self, tenant_id: str, merge_id: str, survivor_id: str, merged_ids: Sequence[str]) -> bool:
        park = merge_engagement_pk(tenant_id, merge_id)
        copies = {
            item.sk[2:]: item
            for item in MergeEngagementItem.query(
                park, MergeEngagementItem.sk.startswith("E#"), consistent_read=True
            )
        }
        kept = False
        survivor_copy = copies.get(survivor_id)
        if survivor_copy is not None and survivor_copy.role == SURVIVOR:
            merged = [_record(copies[m]) for m in merged_ids if m in copies]
            kept = self._restore_survivor(tenant_id, park, survivor_id, merged)
        for lead_id in merged_ids:
            if lead_id in copies:
                self._restore_merged(tenant_id, park, lead_id)
        # Undo put the survivor's profile back from its before-image, activity summary included; events
        # that reached it since (with nothing folded, its record was left as it is) must show again.
        # Conditional on the version: a no-op when the summary is current.
        pk = lead_pk(tenant_id, survivor_id)
        current = _engagement(pk)
        if current is not None:
            store_engaged(pk, current.occ or {}, current.counts or {}, int(current.version or 0))
        return kept

    def _restore_survivor(
        self, tenant_id: str, park: str, survivor_id: str, merged: list[EngagementRecord]
    ) -> bool:
        pk = lead_pk(tenant_id, survivor_id)
        for _ in range(_RETRIES):
            copy = _copy(park, survivor_id)
            if copy is None:
                return False  # restored already (a redelivery)
            current = _engagement(pk)
            folded = int(copy.folded_version or 0)
            exact = current is None or int(current.version or 0) == folded
            target: EngagementRecord | None
            if exact:
                target = _record(copy) if copy.version is not None else None
            else:
                assert current is not None
                target = self._separate(
                    _record(copy) if copy.version is not None else None,
                    merged,
                    {t: int(n) for t, n in (copy.folded_counts or {}).items()},
                    _record(current),
                )
            try:
                with TransactWrite(connection=self.connection) as tx:
                    if target is not None:
                        tx.save(_item(pk, target), condition=_expected(current))
                    elif current is not None:
                        tx.delete(EngagementItem(pk, ENGAGEMENT), condition=_expected(current))
                    tx.delete(
                        MergeEngagementItem(park, f"E#{survivor_id}"),
                        condition=MergeEngagementItem.pk.exists(),
                    )
            except TransactWriteError as err:
                _conflict(err)
                continue
            if target is not None:
                store_engaged(pk, target.occ, target.counts, target.version)
            return not exact
        raise ConflictError(
            "the survivor's engagement record kept changing; retry", code="engagement_conflict"
        )

    def _restore_merged(self, tenant_id: str, park: str, lead_id: str) -> None:
        pk = lead_pk(tenant_id, lead_id)
        for _ in range(_RETRIES):
            copy = _copy(park, lead_id)
            if copy is None:
                return  # restored already (a redelivery)
            current = _engagement(pk)
            # Normally absent (the merge deleted it); events tracked between the undo's profile restore
            # and this step recreate it: keep both.
            target = _record(copy) if current is None else self._combine(_record(current), _record(copy))
            try:
                with TransactWrite(connection=self.connection) as tx:
                    tx.save(_item(pk, target), condition=_expected(current))
                    tx.delete(
                        MergeEngagementItem(park, f"E#{lead_id}"), condition=MergeEngagementItem.pk.exists()
                    )
            except TransactWriteError as err:
                _conflict(err)
                continue
            store_engaged(pk, target.occ, target.counts, target.version)
            return
        raise ConflictError(
            "a restored lead's engagement record kept changing; retry", code="engagement_conflict"
        )
