"""DynamoDB implementation of :class:`leadtide.segments.ports.SegmentRepository`.

Items (see leadtide.dal.items and docs/data-model.md):

* segment ``pk=T#<t>#SEGMENTS, sk=SEG#<segment_id>``: rules, ``version``, ``status``, ``member_count``;
* membership ``pk=T#<t>#SEG#<segment_id>, sk=L#<lead_id>``, in the ``leads_by_created`` index under its own
  partition (``created_sk`` = the lead's ``<created iso>#<lead_id>``): members page like the inbox;
* the lead profile's ``segment_ids`` string set.

Evaluation reads lead profiles through ``leads_by_created`` (partition ``T#<t>``) with a
ProjectionExpression of only the attributes the rules use, and turns DynamoDB's JSON into plain values
without building model objects (a 100k-lead preview would otherwise spend seconds on object creation).

Previews read the sparse, sharded ``leads_by_condition_shard`` index instead when the rules only name
projected attributes (:data:`leadtide.dal.items.CONDITION_INDEX_ATTRIBUTES`): its 16 partitions
(``T#<t>#COND#00``..``15``) are queried in parallel threads, and each index entry carries only the condition
attributes (~3x smaller than the profile), so DynamoDB's 1 MB pages hold ~3x more leads and the pages of
different shards are read at the same time (docs/decisions.md, docs/benchmarks.md ``bench:segments``).
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.errors import condition_failed, refused_by_condition
from leadtide.dal.items import (
    CONDITION_INDEX_ATTRIBUTES,
    CONDITION_SHARDS,
    LeadItem,
    SegmentItem,
    SegmentMemberItem,
    condition_pk,
    lead_pk,
    tenant_list_pk,
)
from leadtide.dal.lead_profile import PROFILE
from leadtide.dal.lists import lead_summaries, member_sk, page_index_partition
from leadtide.models.common import iso
from leadtide.models.errors import SegmentNotFoundError
from leadtide.models.leads import LeadSummary
from leadtide.segments.models import Segment, SegmentStatus
from leadtide.segments.ports import RecordPage, SegmentRepository, StaleSegmentError

CONDITION_INDEX = "leads_by_condition_shard"
_DONE = object()


def segments_pk(tenant_id: str) -> str:
    """Partition of the tenant's segment items."""
    return f"T#{tenant_id}#SEGMENTS"


def segment_sk(segment_id: str) -> str:
    """Sort key of a segment item."""
    return f"SEG#{segment_id}"


def segment_members_pk(tenant_id: str, segment_id: str) -> str:
    """Partition of a segment's membership items (and their index partition)."""
    return f"T#{tenant_id}#SEG#{segment_id}"


def plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value (``{"S": "x"}``, ``{"N": "1"}``, ``{"SS": [...]}`` ...) as a plain value."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        return int(raw) if raw.lstrip("-").isdigit() else float(Decimal(raw))
    if kind == "SS":
        return set(raw)
    if kind == "L":
        return [plain(v) for v in raw]
    if kind == "M":
        return {k: plain(v) for k, v in raw.items()}
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "NS":
        return {float(Decimal(v)) for v in raw}
    return raw


def condition_records(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Condition-index entries (DynamoDB JSON, projected) as lead records: plain values, ``lead_id`` taken
    from the index sort key ``cond_sk``."""
    records = []
    for raw in items:
        record = {}
        for name, value in raw.items():
            text = value.get("S")  # most condition attributes are strings: skip plain()'s dispatch
            record[name] = text if text is not None else plain(value)
        record["lead_id"] = record.pop("cond_sk")
        records.append(record)
    return records


def _created_sk(created_at: Any, lead_id: str) -> str:
    if isinstance(created_at, datetime):
        return f"{iso(created_at)}#{lead_id}"
    from leadtide.models.common import to_epoch

    epoch = to_epoch(created_at)
    if epoch is None:
        return f"0000#{lead_id}"
    from datetime import UTC

    return f"{iso(datetime.fromtimestamp(epoch, UTC))}#{lead_id}"


class DynamoSegmentRepository(DynamoRepository, SegmentRepository):
    """Segments over the leads table."""

    def create(self, tenant_id: str, segment: Segment) -> None:
        SegmentItem(
            segments_pk(tenant_id),
            segment_sk(segment.segment_id),
            segment_id=segment.segment_id,
            name=segment.name,
            description=segment.description,
            include=segment.include,
            exclude=segment.exclude,
            version=segment.version,
            status=str(segment.status),
            time_dependent=segment.time_dependent,
            member_count=0,
            created_by=segment.created_by,
            created_at=segment.created_at,
            updated_at=segment.updated_at,
        ).save(condition=SegmentItem.pk.does_not_exist())

    def list_segments(self, tenant_id: str) -> list[Segment]:
        return [_segment(item) for item in SegmentItem.query(segments_pk(tenant_id), consistent_read=True)]

    def get(self, tenant_id: str, segment_id: str) -> Segment:
        try:
            item = SegmentItem.get(segments_pk(tenant_id), segment_sk(segment_id), consistent_read=True)
        except DoesNotExist:
            raise SegmentNotFoundError(f"segment {segment_id} not found") from None
        return _segment(item)

    def update(
        self,
        tenant_id: str,
        segment_id: str,
        changes: dict[str, Any],
        *,
        new_rules: bool,
        updated_at: datetime,
    ) -> Segment:
        actions: list[Any] = [SegmentItem.updated_at.set(updated_at)]
        for name, value in changes.items():
            attr = getattr(SegmentItem, name)
            actions.append(attr.remove() if value is None else attr.set(value))
        if new_rules:
            actions += [SegmentItem.version.add(1), SegmentItem.status.set(str(SegmentStatus.BUILDING))]
        try:
            SegmentItem(segments_pk(tenant_id), segment_sk(segment_id)).update(
                actions=actions, condition=SegmentItem.pk.exists()
            )
        except UpdateError as err:
            if condition_failed(err):
                raise SegmentNotFoundError(f"segment {segment_id} not found") from None
            raise
        return self.get(tenant_id, segment_id)

    def delete(self, tenant_id: str, segment_id: str) -> None:
        try:
            SegmentItem(segments_pk(tenant_id), segment_sk(segment_id)).delete(
                condition=SegmentItem.pk.exists()
            )
        except DeleteError as err:
            if condition_failed(err):
                raise SegmentNotFoundError(f"segment {segment_id} not found") from None
            raise

    def mark_ready(self, tenant_id: str, segment_id: str, version: int, built_at: datetime) -> bool:
        try:
            SegmentItem(segments_pk(tenant_id), segment_sk(segment_id)).update(
                actions=[
                    SegmentItem.status.set(str(SegmentStatus.READY)),
                    SegmentItem.built_at.set(built_at),
                ],
                condition=SegmentItem.version == version,
            )
        except UpdateError as err:
            if condition_failed(err):
                return False
            raise
        return True

    # ------------------------------------------------------------------ lead records
    def lead_record(self, tenant_id: str, lead_id: str) -> dict[str, Any] | None:
        try:
            item = LeadItem.get(lead_pk(tenant_id, lead_id), PROFILE, consistent_read=True)
        except DoesNotExist:
            return None
        return dict(item.attribute_values)

    def read_lead_records(
        self, tenant_id: str, attributes: Iterable[str], *, start_key: dict[str, Any] | None = None
    ) -> Iterator[RecordPage]:
        names = sorted({*attributes, "lead_id"})
        results = LeadItem.by_created.query(
            tenant_list_pk(tenant_id),
            scan_index_forward=False,
            last_evaluated_key=start_key,
            attributes_to_get=names,
        )
        for page in results.page_iter:
            items = page.get("Items", [])
            records = [{name: plain(value) for name, value in raw.items()} for raw in items]
            yield RecordPage(
                records=records,
                next_key=page.get("LastEvaluatedKey"),
                bytes_returned=len(json.dumps(items, separators=(",", ":"))),
            )

    @property
    def condition_attributes(self) -> frozenset[str]:
        return frozenset(CONDITION_INDEX_ATTRIBUTES) | {"lead_id"}

    @cached_property
    def _client(self) -> Any:
        """A low-level DynamoDB client with one pooled connection per shard (boto3 imported on first use)."""
        import boto3
        from botocore.config import Config

        return boto3.client("dynamodb", config=Config(max_pool_connections=CONDITION_SHARDS + 2))

    def read_condition_records(self, tenant_id: str, attributes: Iterable[str]) -> Iterator[RecordPage]:
        """Every lead of the tenant from the condition index: the 16 shards are queried in parallel threads
        (one thread per shard, each following its own LastEvaluatedKey), pages are yielded as they arrive,
        in no particular order. ``extra["shard"]`` names the shard of each page.

        Raises:
            ValueError: an attribute is not projected into the index (use :meth:`read_lead_records`).
            botocore ClientError: a Query failed (re-raised here after the other shards stop).
        """
        names = sorted({*attributes} - {"lead_id"})
        missing = set(names) - set(CONDITION_INDEX_ATTRIBUTES)
        if missing:
            raise ValueError(f"not in the condition index: {sorted(missing)}")
        aliases = {f"#a{i}": name for i, name in enumerate(["cond_sk", *names])}
        base = {  # names as #placeholders: "name" and "status" are DynamoDB reserved words
            "TableName": LeadItem.Meta.table_name,
            "IndexName": CONDITION_INDEX,
            "KeyConditionExpression": "#pk = :p",
            "ProjectionExpression": ", ".join(aliases),
            "ExpressionAttributeNames": {**aliases, "#pk": "cond_pk"},
        }
        client = self._client  # created here, once: botocore client creation is not thread-safe
        pages: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def read_shard(shard: int) -> None:
            params = {**base, "ExpressionAttributeValues": {":p": {"S": condition_pk(tenant_id, shard)}}}
            try:
                while not stop.is_set():
                    page = client.query(**params)
                    items = page.get("Items", [])
                    records = condition_records(items)
                    next_key = page.get("LastEvaluatedKey")
                    pages.put(
                        RecordPage(
                            records=records,
                            next_key=next_key,
                            bytes_returned=len(json.dumps(items, separators=(",", ":"))),
                            extra={"shard": shard},
                        )
                    )
                    if not next_key:
                        break
                    params["ExclusiveStartKey"] = next_key
            except BaseException as err:  # handed to the consumer, which re-raises it
                pages.put(err)
            finally:
                pages.put(_DONE)

        with ThreadPoolExecutor(max_workers=CONDITION_SHARDS, thread_name_prefix="cond-shard") as pool:
            for shard in range(CONDITION_SHARDS):
                pool.submit(read_shard, shard)
            running = CONDITION_SHARDS
            try:
                while running:
                    got = pages.get()
                    if got is _DONE:
                        running -= 1
                    elif isinstance(got, BaseException):
                        raise got
                    else:
                        yield got
            finally:
                stop.set()

    # ------------------------------------------------------------------ memberships
    def enter(
        self, tenant_id: str, segment_id: str, version: int, lead_id: str, *, created_at: Any, at: datetime
    ) -> bool:
        pk = segment_members_pk(tenant_id, segment_id)
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.update(
                    SegmentItem(segments_pk(tenant_id), segment_sk(segment_id)),
                    actions=[SegmentItem.member_count.add(1)],
                    condition=SegmentItem.version == version,
                )
                tx.save(
                    SegmentMemberItem(
                        pk,
                        member_sk(lead_id),
                        list_pk=pk,
                        created_sk=_created_sk(created_at, lead_id),
                        lead_id=lead_id,
                        entered_at=at,
                        version=version,
                    ),
                    condition=SegmentMemberItem.pk.does_not_exist(),
                )
                tx.update(
                    LeadItem(lead_pk(tenant_id, lead_id), PROFILE),
                    actions=[LeadItem.segment_ids.add({segment_id})],
                    condition=LeadItem.pk.exists(),
                )
        except TransactWriteError as err:
            failed = [*refused_by_condition(err), False, False, False]
            if failed[0]:
                raise StaleSegmentError(segment_id) from None
            if failed[1] and not failed[2]:
                # Already a member: make sure the lead's set says so too.
                self._remember(tenant_id, segment_id, lead_id)
            if failed[1] or failed[2]:
                return False
            raise
        return True

    def exit(self, tenant_id: str, segment_id: str, lead_id: str, *, version: int | None) -> bool:
        return self._exit(tenant_id, segment_id, lead_id, version=version, count=True, touch_lead=True)

    def _exit(
        self,
        tenant_id: str,
        segment_id: str,
        lead_id: str,
        *,
        version: int | None,
        count: bool,
        touch_lead: bool,
    ) -> bool:
        ops: list[str] = []
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.delete(
                    SegmentMemberItem(segment_members_pk(tenant_id, segment_id), member_sk(lead_id)),
                    condition=SegmentMemberItem.pk.exists(),
                )
                ops.append("member")
                if touch_lead:
                    tx.update(
                        LeadItem(lead_pk(tenant_id, lead_id), PROFILE),
                        actions=[LeadItem.segment_ids.delete({segment_id})],
                        condition=LeadItem.pk.exists(),
                    )
                    ops.append("lead")
                if count:
                    tx.update(
                        SegmentItem(segments_pk(tenant_id), segment_sk(segment_id)),
                        actions=[SegmentItem.member_count.add(-1)],
                        condition=SegmentItem.pk.exists()
                        if version is None
                        else SegmentItem.version == version,
                    )
                    ops.append("segment")
        except TransactWriteError as err:
            failed = {op for op, refused in zip(ops, refused_by_condition(err), strict=False) if refused}
            if "member" in failed:
                # Not a member: still make sure the lead's set does not claim otherwise.
                if touch_lead and "lead" not in failed:
                    self._forget(tenant_id, segment_id, lead_id)
                return False
            if "segment" in failed and version is not None:
                raise StaleSegmentError(segment_id) from None
            if failed:
                return self._exit(
                    tenant_id,
                    segment_id,
                    lead_id,
                    version=version,
                    count=count and "segment" not in failed,
                    touch_lead=touch_lead and "lead" not in failed,
                )
            raise
        return True

    def _forget(self, tenant_id: str, segment_id: str, lead_id: str) -> None:
        with contextlib.suppress(UpdateError):
            LeadItem(lead_pk(tenant_id, lead_id), PROFILE).update(
                actions=[LeadItem.segment_ids.delete({segment_id})], condition=LeadItem.pk.exists()
            )

    def _remember(self, tenant_id: str, segment_id: str, lead_id: str) -> None:
        with contextlib.suppress(UpdateError):
            LeadItem(lead_pk(tenant_id, lead_id), PROFILE).update(
                actions=[LeadItem.segment_ids.add({segment_id})], condition=LeadItem.pk.exists()
            )

    def memberships_of(self, tenant_id: str, segment_ids: Sequence[str], lead_id: str) -> set[str]:
        keys = [(segment_members_pk(tenant_id, s), member_sk(lead_id)) for s in segment_ids]
        if not keys:
            return set()
        prefix = f"T#{tenant_id}#SEG#"
        return {
            item.pk[len(prefix) :] for item in SegmentMemberItem.batch_get(keys, attributes_to_get=["pk"])
        }

    def page_members(
        self,
        tenant_id: str,
        segment_id: str,
        *,
        limit: int,
        cursor: str | None,
        visible_to: str | None = None,
    ) -> tuple[list[str], str | None]:
        return page_index_partition(
            segment_members_pk(tenant_id, segment_id),
            tenant_id=tenant_id,
            scope=f"segment:{segment_id}",
            limit=limit,
            cursor=cursor,
            visible_to=visible_to,
        )

    def iter_member_ids(self, tenant_id: str, segment_id: str) -> Iterator[str]:
        for item in SegmentMemberItem.query(
            segment_members_pk(tenant_id, segment_id), attributes_to_get=["lead_id"]
        ):
            yield item.lead_id

    def lead_summaries(self, tenant_id: str, lead_ids: Sequence[str]) -> list[LeadSummary]:
        return lead_summaries(tenant_id, lead_ids)


def _segment(item: SegmentItem) -> Segment:
    return Segment(
        segment_id=item.segment_id,
        name=item.name,
        description=item.description,
        include=item.include,
        exclude=item.exclude,
        version=int(item.version),
        status=SegmentStatus(item.status),
        count=int(item.member_count or 0),
        time_dependent=bool(item.time_dependent),
        fields=[],
        created_by=item.created_by,
        created_at=item.created_at,
        updated_at=item.updated_at,
        built_at=item.built_at,
    )
