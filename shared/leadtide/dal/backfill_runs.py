"""DynamoDB implementation of :class:`leadtide.leads.backfill.BackfillRunRepository`.

Item (see leadtide.dal.items and docs/data-model.md): ``pk=T#<t>#BACKFILL, sk=<run_id>`` (time-ordered hex
id, so a descending Query lists the tenant's runs newest first), with the counters as top-level numbers and
``attribute_counts`` as a map (attribute name -> profiles written). Each step is one UpdateItem that ADDs its
counts (``SET attribute_counts.#n = if_not_exists(attribute_counts.#n, 0) + :n`` for the map entries:
DynamoDB's ADD takes top-level attributes only) and moves ``steps`` forward, conditioned on
``status = running AND steps = <step - 1>``: a redelivered step fails the condition and counts nothing.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist

from leadtide.dal import stepped_jobs
from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.errors import condition_failed
from leadtide.dal.exports import query_newest_first
from leadtide.dal.items import BackfillRunItem
from leadtide.leads.ports import BackfillCounts, BackfillRunRepository
from leadtide.models.backfill import BackfillRunRecord
from leadtide.models.errors import BackfillRunNotFoundError

_SCOPE = "backfill_runs"


def backfill_runs_pk(tenant_id: str) -> str:
    """Partition of the tenant's backfill runs."""
    return f"T#{tenant_id}#BACKFILL"


def _key(tenant_id: str, run_id: str) -> tuple[str, str]:
    return backfill_runs_pk(tenant_id), run_id


def _not_found(run_id: str) -> BackfillRunNotFoundError:
    return BackfillRunNotFoundError(f"backfill run {run_id} not found")


def _record(tenant_id: str, item: BackfillRunItem) -> BackfillRunRecord:
    raw = item.attribute_counts
    counts: dict[str, Any] = raw.as_dict() if isinstance(raw, MapAttribute) else dict(raw or {})
    return BackfillRunRecord(
        tenant_id=tenant_id,
        run_id=item.run_id,
        status=item.status,
        scanned=int(item.scanned or 0),
        updated=int(item.updated or 0),
        up_to_date=int(item.up_to_date or 0),
        skipped_concurrent=int(item.skipped_concurrent or 0),
        unreadable=int(item.unreadable or 0),
        attributes={str(name): int(n) for name, n in counts.items()},
        steps=int(item.steps or 0),
        queued_step=int(item.queued_step or 0),
        attempts=int(item.attempts or 0),
        cursor=item.cursor,
        started_by=item.started_by,
        started_at=item.started_at,
        finished_at=item.finished_at,
        error=item.error,
    )


class DynamoBackfillRunRepository(DynamoRepository, BackfillRunRepository):
    """Backfill runs over the leads table."""

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("dynamodb")

    def create(self, record: BackfillRunRecord) -> None:
        BackfillRunItem(
            backfill_runs_pk(record.tenant_id),
            record.run_id,
            run_id=record.run_id,
            status=record.status,
            scanned=record.scanned,
            updated=record.updated,
            up_to_date=record.up_to_date,
            skipped_concurrent=record.skipped_concurrent,
            unreadable=record.unreadable,
            attribute_counts=dict(record.attributes),
            steps=record.steps,
            queued_step=record.queued_step,
            attempts=record.attempts,
            cursor=record.cursor,
            started_by=record.started_by,
            started_at=record.started_at,
            finished_at=record.finished_at,
            error=record.error,
        ).save(condition=BackfillRunItem.pk.does_not_exist())

    def get(self, tenant_id: str, run_id: str) -> BackfillRunRecord:
        try:
            item = BackfillRunItem.get(backfill_runs_pk(tenant_id), run_id, consistent_read=True)
        except DoesNotExist:
            raise _not_found(run_id) from None
        return _record(tenant_id, item)

    def list(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[BackfillRunRecord], str | None]:
        start = decode_cursor(cursor, scope=_SCOPE, tenant_prefix=f"T#{tenant_id}")
        items, last = query_newest_first(BackfillRunItem, backfill_runs_pk(tenant_id), None, limit, start)
        return [_record(tenant_id, i) for i in items], encode_cursor(last, scope=_SCOPE)

    def record_step(
        self,
        tenant_id: str,
        run_id: str,
        *,
        step: int,
        counts: BackfillCounts,
        cursor: str | None,
        finished_at: datetime | None,
    ) -> bool:
        """One UpdateItem (low-level: the map entries' names are data); see the module docstring."""
        from botocore.exceptions import ClientError

        names: dict[str, str] = {"#status": "status", "#steps": "steps"}
        values: dict[str, Any] = {
            ":running": {"S": "running"},
            ":prev": {"N": str(step - 1)},
            ":step": {"N": str(step)},
            ":zero": {"N": "0"},
        }
        adds = []
        for field in ("scanned", "updated", "up_to_date", "skipped_concurrent", "unreadable"):
            names[f"#{field}"] = field
            values[f":{field}"] = {"N": str(int(getattr(counts, field)))}
            adds.append(f"#{field} :{field}")
        sets = ["#steps = :step", "attempts = :zero"]
        if counts.attributes:  # DynamoDB refuses names the expression does not use
            names["#ac"] = "attribute_counts"
        for n, (name, count) in enumerate(sorted(counts.attributes.items())):
            names[f"#n{n}"] = name
            values[f":n{n}"] = {"N": str(int(count))}
            sets.append(f"#ac.#n{n} = if_not_exists(#ac.#n{n}, :zero) + :n{n}")
        removes = []
        if cursor is not None:
            values[":cursor"] = {"S": cursor}
            sets.append("#cursor = :cursor")
        else:
            removes.append("#cursor")
        names["#cursor"] = "cursor"
        if finished_at is not None:
            values[":completed"] = {"S": "completed"}
            values[":finished"] = {"S": BackfillRunItem.finished_at.serialize(finished_at)}
            sets += ["#status = :completed", "finished_at = :finished"]
        expression = "SET " + ", ".join(sets) + " ADD " + ", ".join(adds)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self._client.update_item(
                TableName=BackfillRunItem.Meta.table_name,
                Key={"pk": {"S": backfill_runs_pk(tenant_id)}, "sk": {"S": run_id}},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk) AND #status = :running AND #steps = :prev",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as err:
            if not condition_failed(err):
                raise
            self.get(tenant_id, run_id)  # raises BackfillRunNotFoundError when the run is gone
            return False
        return True

    def mark_queued(self, tenant_id: str, run_id: str, step: int) -> None:
        stepped_jobs.mark_queued(BackfillRunItem, _key(tenant_id, run_id), step, lambda: _not_found(run_id))

    def note_attempt(self, tenant_id: str, run_id: str) -> int:
        return stepped_jobs.note_attempt(BackfillRunItem, _key(tenant_id, run_id), lambda: _not_found(run_id))

    def fail(self, tenant_id: str, run_id: str, *, error: str, finished_at: datetime) -> bool:
        return stepped_jobs.fail(
            BackfillRunItem,
            _key(tenant_id, run_id),
            error=error,
            finished_at=finished_at,
            not_found=lambda: _not_found(run_id),
        )
