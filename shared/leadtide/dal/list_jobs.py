"""DynamoDB implementation of :class:`leadtide.lists.ports.ListJobRepository`.

Item (see leadtide.dal.items and docs/data-model.md): ``pk=T#<t>#LISTJOBS, sk=<list_id>#<job_id>``, with
the counters as top-level numbers. Each background step is one UpdateItem that ADDs its counts and moves
``steps`` forward, conditioned on ``status = running AND steps = <step - 1>``: a redelivered step fails
the condition and counts nothing. The jobs live outside the list's membership partition
(``T#<t>#LIST#<list_id>``), whose Query must only ever return members.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from leadtide.dal import stepped_jobs
from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.items import ListJobItem
from leadtide.lists.models import ListJobRecord
from leadtide.lists.ports import ListJobRepository
from leadtide.models.errors import ListJobNotFoundError


def list_jobs_pk(tenant_id: str) -> str:
    """Partition of the tenant's list jobs."""
    return f"T#{tenant_id}#LISTJOBS"


def list_job_sk(list_id: str, job_id: str) -> str:
    """Sort key of a list job: the list id first, so one list's jobs are a ``begins_with`` Query."""
    return f"{list_id}#{job_id}"


def _key(tenant_id: str, list_id: str, job_id: str) -> tuple[str, str]:
    return list_jobs_pk(tenant_id), list_job_sk(list_id, job_id)


def _not_found(job_id: str) -> ListJobNotFoundError:
    return ListJobNotFoundError(f"list job {job_id} not found")


def _record(tenant_id: str, item: ListJobItem) -> ListJobRecord:
    return ListJobRecord(
        tenant_id=tenant_id,
        job_id=item.job_id,
        list_id=item.list_id,
        kind=item.kind,
        status=item.status,
        filter=dict(item.lead_filter or {}),
        added=int(item.added or 0),
        already_members=int(item.already_members or 0),
        steps=int(item.steps or 0),
        queued_step=int(item.queued_step or 0),
        attempts=int(item.attempts or 0),
        cursor=item.cursor,
        created_by=item.created_by,
        created_role=item.created_role,
        created_at=item.created_at,
        finished_at=item.finished_at,
        error=item.error,
    )


class DynamoListJobRepository(DynamoRepository, ListJobRepository):
    """List jobs over the leads table."""

    def create(self, record: ListJobRecord) -> None:
        ListJobItem(
            list_jobs_pk(record.tenant_id),
            list_job_sk(record.list_id, record.job_id),
            list_id=record.list_id,
            job_id=record.job_id,
            kind=record.kind,
            status=record.status,
            lead_filter=record.filter,
            added=record.added,
            already_members=record.already_members,
            steps=record.steps,
            queued_step=record.queued_step,
            attempts=record.attempts,
            cursor=record.cursor,
            created_by=record.created_by,
            created_role=record.created_role,
            created_at=record.created_at,
            finished_at=record.finished_at,
            error=record.error,
        ).save(condition=ListJobItem.pk.does_not_exist())

    def get(self, tenant_id: str, list_id: str, job_id: str) -> ListJobRecord:
        try:
            item = ListJobItem.get(
                list_jobs_pk(tenant_id), list_job_sk(list_id, job_id), consistent_read=True
            )
        except DoesNotExist:
            raise _not_found(job_id) from None
        return _record(tenant_id, item)

    def list_jobs(
        self, tenant_id: str, list_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ListJobRecord], str | None]:
        scope = f"list_jobs:{list_id}"
        start = decode_cursor(cursor, scope=scope, tenant_prefix=f"T#{tenant_id}")
        results = ListJobItem.query(
            list_jobs_pk(tenant_id),
            ListJobItem.sk.startswith(list_job_sk(list_id, "")),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=start,
        )
        records = [_record(tenant_id, item) for item in results]
        return records, encode_cursor(results.last_evaluated_key, scope=scope)

    def record_step(
        self,
        tenant_id: str,
        list_id: str,
        job_id: str,
        *,
        step: int,
        added: int,
        already_members: int,
        cursor: str | None,
        finished_at: datetime | None,
    ) -> bool:
        actions: list[Any] = [
            ListJobItem.added.add(added),
            ListJobItem.already_members.add(already_members),
            ListJobItem.steps.set(step),
            ListJobItem.attempts.set(0),
            ListJobItem.cursor.set(cursor) if cursor is not None else ListJobItem.cursor.remove(),
        ]
        if finished_at is not None:
            actions += [ListJobItem.status.set("completed"), ListJobItem.finished_at.set(finished_at)]
        return stepped_jobs.update_if(
            ListJobItem,
            _key(tenant_id, list_id, job_id),
            actions,
            (ListJobItem.status == "running") & (ListJobItem.steps == step - 1),
            lambda: _not_found(job_id),
        )

    def mark_queued(self, tenant_id: str, list_id: str, job_id: str, step: int) -> None:
        stepped_jobs.mark_queued(
            ListJobItem, _key(tenant_id, list_id, job_id), step, lambda: _not_found(job_id)
        )

    def note_attempt(self, tenant_id: str, list_id: str, job_id: str) -> int:
        return stepped_jobs.note_attempt(
            ListJobItem, _key(tenant_id, list_id, job_id), lambda: _not_found(job_id)
        )

    def fail(self, tenant_id: str, list_id: str, job_id: str, *, error: str, finished_at: datetime) -> bool:
        return stepped_jobs.fail(
            ListJobItem,
            _key(tenant_id, list_id, job_id),
            error=error,
            finished_at=finished_at,
            not_found=lambda: _not_found(job_id),
        )
