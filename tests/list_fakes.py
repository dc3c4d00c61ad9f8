"""In-memory fakes of the static-list ports (leadtide.lists.ports), with the DynamoDB contracts: a member
is added once, the count moves with each change, a job step is recorded only when it follows the last
applied step."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from leadtide.lists.models import ListJobRecord, StaticList
from leadtide.lists.ports import LeadRef, ListJobRepository, ListRepository
from leadtide.models.auth import owner_visible
from leadtide.models.errors import (
    InvalidRequestError,
    LeadNotFoundError,
    ListJobNotFoundError,
    ListNotFoundError,
)
from leadtide.models.leads import LeadSummary
from tests.fakes import FakeLeadRepository


class FakeListRepository(ListRepository):
    """Lists and memberships over a :class:`FakeLeadRepository` (its leads are the lead profiles)."""

    def __init__(self, leads: FakeLeadRepository) -> None:
        self.leads = leads
        self.lists: dict[tuple[str, str], StaticList] = {}
        self.members: dict[tuple[str, str], dict[str, datetime]] = {}
        self.fail_add_after: int | None = None  # raise RuntimeError once this many members were added
        self.adds = 0

    def create_list(self, tenant_id, static_list):
        self.lists[(tenant_id, static_list.list_id)] = static_list
        self.members[(tenant_id, static_list.list_id)] = {}

    def list_lists(self, tenant_id):
        return [v for (t, _), v in self.lists.items() if t == tenant_id]

    def get_list(self, tenant_id, list_id):
        try:
            found = self.lists[(tenant_id, list_id)]
        except KeyError:
            raise ListNotFoundError(f"list {list_id} not found") from None
        return found.model_copy(update={"count": len(self.members[(tenant_id, list_id)])})

    def update_list(self, tenant_id, list_id, *, changes, updated_at):
        current = self.get_list(tenant_id, list_id)
        self.lists[(tenant_id, list_id)] = current.model_copy(update={**changes, "updated_at": updated_at})
        return self.get_list(tenant_id, list_id)

    def delete_list(self, tenant_id, list_id):
        self.get_list(tenant_id, list_id)
        del self.lists[(tenant_id, list_id)]

    def add_member(self, tenant_id, list_id, lead_id, *, added_at, added_by):
        if self.fail_add_after is not None and self.adds >= self.fail_add_after:
            raise RuntimeError("DynamoDB throttled the transaction")
        self.get_list(tenant_id, list_id)
        if (tenant_id, lead_id) not in self.leads.leads:
            raise LeadNotFoundError(f"lead {lead_id} not found")
        members = self.members[(tenant_id, list_id)]
        if lead_id in members:
            return False
        members[lead_id] = added_at
        self.adds += 1
        return True

    def remove_member(self, tenant_id, list_id, lead_id, *, adjust_count=True):
        return self.members.get((tenant_id, list_id), {}).pop(lead_id, None) is not None

    def page_members(self, tenant_id, list_id, *, limit, cursor, visible_to=None):
        ids = sorted(self.members[(tenant_id, list_id)], key=self.members[(tenant_id, list_id)].get)[::-1]
        if visible_to is not None:
            refs = self.lead_refs(tenant_id, ids)
            ids = [i for i in ids if i in refs and owner_visible(refs[i].owner_id, visible_to)]
        return ids[:limit], None

    def iter_member_ids(self, tenant_id, list_id) -> Iterator[str]:
        yield from list(self.members.get((tenant_id, list_id), {}))

    def lists_with_member(self, tenant_id, lead_id, list_ids):
        return {i for i in list_ids if lead_id in self.members.get((tenant_id, i), {})}

    def lead_refs(self, tenant_id, lead_ids: Sequence[str]):
        refs = {}
        for lead_id in lead_ids:
            lead = self.leads.leads.get((tenant_id, lead_id))
            if lead is not None:
                in_lists = frozenset(
                    i for (t, i), m in self.members.items() if t == tenant_id and lead_id in m
                )
                refs[lead_id] = LeadRef(lead_id, lead.owner_id, in_lists)
        return refs

    def lead_summaries(self, tenant_id, lead_ids):
        return [
            LeadSummary.model_validate(self.leads.leads[(tenant_id, i)].model_dump())
            for i in lead_ids
            if (tenant_id, i) in self.leads.leads
        ]


class FakeListJobRepository(ListJobRepository):
    """List jobs in a dict; ``record_step`` keeps the conditional contract of the DynamoDB version."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str, str], ListJobRecord] = {}

    def _key(self, tenant_id: str, list_id: str, job_id: str) -> tuple[str, str, str]:
        if (tenant_id, list_id, job_id) not in self.jobs:
            raise ListJobNotFoundError(f"list job {job_id} not found")
        return (tenant_id, list_id, job_id)

    def _set(self, key: tuple[str, str, str], **changes) -> None:
        self.jobs[key] = self.jobs[key].model_copy(update=changes)

    def create(self, record):
        key = (record.tenant_id, record.list_id, record.job_id)
        assert key not in self.jobs
        self.jobs[key] = record.model_copy()

    def get(self, tenant_id, list_id, job_id):
        return self.jobs[self._key(tenant_id, list_id, job_id)].model_copy()

    def list_jobs(self, tenant_id, list_id, *, limit, cursor):
        """Newest first by job id (time-ordered); the cursor is the last job id of the page."""
        ids = sorted((j for (t, i, j) in self.jobs if (t, i) == (tenant_id, list_id)), reverse=True)
        if cursor is not None:
            if cursor not in ids:
                raise InvalidRequestError("cursor is not valid for this query")
            ids = ids[ids.index(cursor) + 1 :]
        page = ids[:limit]
        more = len(ids) > limit
        return [self.jobs[(tenant_id, list_id, j)].model_copy() for j in page], page[-1] if more else None

    def record_step(self, tenant_id, list_id, job_id, *, step, added, already_members, cursor, finished_at):
        key = self._key(tenant_id, list_id, job_id)
        job = self.jobs[key]
        if job.status != "running" or job.steps != step - 1:
            return False
        changes = {
            "added": job.added + added,
            "already_members": job.already_members + already_members,
            "steps": step,
            "attempts": 0,
            "cursor": cursor,
        }
        if finished_at is not None:
            changes.update(status="completed", finished_at=finished_at)
        self._set(key, **changes)
        return True

    def mark_queued(self, tenant_id, list_id, job_id, step):
        key = self._key(tenant_id, list_id, job_id)
        if self.jobs[key].queued_step < step:
            self._set(key, queued_step=step)

    def note_attempt(self, tenant_id, list_id, job_id):
        key = self._key(tenant_id, list_id, job_id)
        self._set(key, attempts=self.jobs[key].attempts + 1)
        return self.jobs[key].attempts

    def fail(self, tenant_id, list_id, job_id, *, error, finished_at):
        key = self._key(tenant_id, list_id, job_id)
        if self.jobs[key].status != "running":
            return False
        self._set(key, status="failed", error=error, finished_at=finished_at, cursor=None)
        return True
