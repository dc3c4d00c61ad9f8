"""Bulk actions: the action record, its progress counters and the per-chunk done markers.

Records: pk=``T#<tenant>#BULK``, sk=``<bulk_action_id>`` (time-ordered). Chunk markers:
pk=``T#<tenant>#BULK#<bulk_action_id>``, sk=``C#<index>``. A chunk's marker is put (if it does not exist)
in the same TransactWriteItems as the ADD to the action's counters, so a redelivered chunk step can never
count twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadtide.bulk.ports import BulkActionRepository
from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.errors import condition_failed, refused_by_condition
from leadtide.dal.exports import pack_selection, query_newest_first, unpack_selection
from leadtide.dal.items import BulkActionItem, BulkChunkItem
from leadtide.models.bulk import BulkActionRecord, ChunkOutcome, LeadOutcome
from leadtide.models.errors import BulkActionNotFoundError

_COUNTERS = ("total", "chunks", "processed", "succeeded", "failed", "skipped", "status", "attempts")


def bulk_pk(tenant_id: str) -> str:
    """Partition key of the tenant's bulk-action records."""
    return f"T#{tenant_id}#BULK"


def chunks_pk(tenant_id: str, bulk_action_id: str) -> str:
    """Partition key of one bulk action's chunk markers."""
    return f"T#{tenant_id}#BULK#{bulk_action_id}"


def chunk_sk(index: int) -> str:
    """Sort key of chunk ``index`` (zero-padded so markers read in order)."""
    return f"C#{index:06d}"


class DynamoBulkActionRepository(DynamoRepository, BulkActionRepository):
    """Bulk actions over DynamoDB."""

    def create(self, record: BulkActionRecord) -> None:
        doc, packed = pack_selection(record.model_dump(mode="json", exclude=set(_COUNTERS)))
        BulkActionItem(
            bulk_pk(record.tenant_id),
            record.bulk_action_id,
            status=record.status,
            requested_by=record.requested_by,
            attempts=record.attempts,
            processed=0,
            succeeded=0,
            failed=0,
            skipped=0,
            doc=doc,
            lead_ids=packed,
        ).save(condition=BulkActionItem.pk.does_not_exist())

    def get(self, tenant_id: str, bulk_action_id: str) -> BulkActionRecord:
        try:
            item = BulkActionItem.get(bulk_pk(tenant_id), bulk_action_id, consistent_read=True)
        except DoesNotExist:
            raise BulkActionNotFoundError(f"bulk action {bulk_action_id} not found") from None
        return _record(item)

    def list(
        self, tenant_id: str, *, requested_by: str | None, limit: int, cursor: str | None
    ) -> tuple[list[BulkActionRecord], str | None]:
        start = decode_cursor(cursor, scope="bulk", tenant_prefix=f"T#{tenant_id}")
        items, last = query_newest_first(BulkActionItem, bulk_pk(tenant_id), requested_by, limit, start)
        return [_record(i) for i in items], encode_cursor(last, scope="bulk")

    def update(self, record: BulkActionRecord, *, expect_status: Iterable[str], **changes: Any) -> bool:
        updated = record.model_copy(update=changes)
        doc, _ = pack_selection(updated.model_dump(mode="json", exclude=set(_COUNTERS)))
        actions: list[Action] = [BulkActionItem.doc.set(doc)]
        if "status" in changes:
            actions.append(BulkActionItem.status.set(changes["status"]))
        if "attempts" in changes:
            actions.append(BulkActionItem.attempts.set(changes["attempts"]))
        try:
            BulkActionItem(bulk_pk(record.tenant_id), record.bulk_action_id).update(
                actions=actions, condition=BulkActionItem.status.is_in(*list(expect_status))
            )
        except UpdateError as err:
            if condition_failed(err):
                return False
            raise
        return True

    def set_plan(self, tenant_id: str, bulk_action_id: str, *, total: int, chunks: int) -> BulkActionRecord:
        try:
            BulkActionItem(bulk_pk(tenant_id), bulk_action_id).update(
                actions=[
                    BulkActionItem.total.set(total),
                    BulkActionItem.chunks.set(chunks),
                    BulkActionItem.status.set("running"),
                ],
                condition=BulkActionItem.pk.exists()
                & BulkActionItem.total.does_not_exist()
                & (BulkActionItem.status == "queued"),
            )
        except UpdateError as err:
            if not condition_failed(err):
                raise
        return self.get(tenant_id, bulk_action_id)

    def record_chunk(self, tenant_id: str, bulk_action_id: str, index: int, outcome: ChunkOutcome) -> bool:
        marker = BulkChunkItem(
            chunks_pk(tenant_id, bulk_action_id),
            chunk_sk(index),
            succeeded=outcome.succeeded,
            failed=outcome.failed,
            skipped=outcome.skipped,
            outcomes=[[o.lead_id, o.outcome, o.reason] for o in outcome.outcomes],
        )
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.save(marker, condition=BulkChunkItem.pk.does_not_exist())
                tx.update(
                    BulkActionItem(bulk_pk(tenant_id), bulk_action_id),
                    actions=[
                        BulkActionItem.processed.add(outcome.processed),
                        BulkActionItem.succeeded.add(outcome.succeeded),
                        BulkActionItem.failed.add(outcome.failed),
                        BulkActionItem.skipped.add(outcome.skipped),
                    ],
                    condition=BulkActionItem.pk.exists(),
                )
        except TransactWriteError as err:
            refused = [*refused_by_condition(err), False, False]
            if refused[0]:
                return False
            if refused[1]:
                raise BulkActionNotFoundError(f"bulk action {bulk_action_id} not found") from err
            raise
        return True

    def iter_outcomes(self, tenant_id: str, bulk_action_id: str) -> Iterator[LeadOutcome]:
        for item in BulkChunkItem.query(chunks_pk(tenant_id, bulk_action_id)):
            for lead_id, outcome, reason in item.outcomes or []:
                yield LeadOutcome(lead_id=lead_id, outcome=outcome, reason=reason)


def _record(item: BulkActionItem) -> BulkActionRecord:
    values = unpack_selection(dict(item.doc or {}), item.lead_ids)
    for name in ("processed", "succeeded", "failed", "skipped", "attempts"):
        values[name] = int(getattr(item, name) or 0)
    for name in ("total", "chunks"):
        value = getattr(item, name)
        values[name] = int(value) if value is not None else None
    values["status"] = item.status
    return BulkActionRecord.model_validate(values)
