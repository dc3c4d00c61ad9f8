"""Static lists: named sets of leads that change only when someone adds or removes leads.

Access rule: lists belong to the tenant; every role may use them. Reps only add, remove and see leads
they can see (their own and unassigned ones); renaming and deleting a list is for admins, managers and
the list's creator. Every membership change publishes ``lead.list_membership_changed`` for the lead, so
segments with ``lists`` conditions re-evaluate it within one event hop.

A filter add matching more than :data:`SYNC_FILTER_LEADS` leads answers with what it added so far and a
list job (``GET /lists/{list_id}/jobs/{job_id}``), then continues on the jobs queue as a chain of
``lists.add_by_filter`` steps of up to :data:`JOB_STEP_LEADS` leads, each queued by the one before. The job
record keeps the totals, the inbox cursor of the next step and the last step applied; a step records its
counts with an UpdateItem conditioned on that step number (the house pattern of bulk actions' chunk
markers), so an SQS redelivery counts nothing twice and only re-queues the next step if it is missing. A
domain error (the list deleted meanwhile, a stale cursor) fails the job at once with its message; any
other error is retried by SQS and fails the job on the :data:`MAX_STEP_ATTEMPTS`-th attempt.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadtide.capture.identity import normalize_email, normalize_phone
from leadtide.leads.filters import lead_query
from leadtide.leads.ports import LeadRepository
from leadtide.lists.models import (
    AddResult,
    LeadFilter,
    ListImportRequest,
    ListImportResult,
    ListJob,
    ListJobPage,
    ListJobRecord,
    RemoveResult,
    StaticList,
    StaticListCollection,
    StaticListCreate,
    StaticListUpdate,
)
from leadtide.lists.ports import LeadRef, ListJobRepository, ListRepository
from leadtide.models.auth import Principal
from leadtide.models.common import IdentityKind, Role, iso, utc_now
from leadtide.models.errors import (
    ForbiddenError,
    LeadNotFoundError,
    LeadtideError,
    ListJobNotFoundError,
    ListNotFoundError,
    UnprocessableError,
)
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.exports import time_ordered_id
from leadtide.models.leads import LEAD_ID_PATTERN, LeadPage
from leadtide.ports import EventPublisher

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring


if TYPE_CHECKING:
    from leadtide.customfields.service import CustomFieldService

log = logging.getLogger(__name__)

ADD_BY_FILTER_JOB = "lists.add_by_filter"
PURGE_JOB = "lists.purge"
SYNC_FILTER_LEADS = 500  # a filter add matching more continues on the jobs queue
JOB_STEP_LEADS = 5000  # leads per background step
FILTER_PAGE_LEADS = 100  # leads per inbox query page of a filter add
MAX_STEP_ATTEMPTS = 3  # failed attempts of one step before its job fails (the queue's maxReceiveCount)
SYNC_PURGE_MEMBERS = 200  # a deleted list with more members is emptied in the background
MAX_IMPORT_ROWS = 20_000
EMAIL_HEADERS = {"email", "e-mail", "email address", "e-mail address", "mail", "correo", "email_address"}
PHONE_HEADERS = {
    "phone",
    "phone number",
    "phone_number",
    "mobile",
    "mobile phone",
    "cell",
    "telephone",
    "tel",
    "whatsapp",
    "telefono",
    "teléfono",
}
_LEAD_ID = re.compile(LEAD_ID_PATTERN)


def _valid_lead_id(lead_id: str) -> bool:
    return bool(_LEAD_ID.match(lead_id))


@dataclass
class _Tally:
    added: int = 0
    already: int = 0


class ListService:
    """Static-list use cases over a :class:`ListRepository`, the lead repository (filters, identities)
    and the event publisher. ``enqueue`` queues background job steps (``leadtide.jobs.enqueue_jobs``);
    ``jobs`` keeps the progress of background filter adds (without both, a filter add runs to the end
    synchronously)."""

    def __init__(
        self,
        lists: ListRepository,
        leads: LeadRepository,
        events: EventPublisher,
        *,
        enqueue: Callable[[Sequence[Mapping[str, Any]]], None] | None = None,
        jobs: ListJobRepository | None = None,
        default_region: str = "US",
        custom_fields: CustomFieldService | None = None,
    ):
        self._lists = lists
        self._leads = leads
        self._events = events
        self._enqueue = enqueue
        self._jobs = jobs
        self._region = default_region
        self._custom_fields = custom_fields

    # ------------------------------------------------------------------ lists
    def create_list(self, principal: Principal, request: StaticListCreate) -> StaticList:
        """Create an empty list owned by the tenant (any role)."""
        now = utc_now()
        static_list = StaticList(
            list_id=uuid.uuid4().hex,
            name=request.name,
            description=request.description,
            count=0,
            created_by=principal.user_id,
            created_at=now,
            updated_at=now,
        )
        self._lists.create_list(principal.tenant_id, static_list)
        return static_list

    def list_lists(self, principal: Principal) -> StaticListCollection:
        """Every list of the tenant, most recently updated first; ``count`` as :meth:`get_list`."""
        items = sorted(self._lists.list_lists(principal.tenant_id), key=lambda s: s.updated_at, reverse=True)
        return StaticListCollection(items=self._counted_for(principal, items))

    def get_list(self, principal: Principal, list_id: str) -> StaticList:
        """The list; its ``count`` is the members the caller may see (a rep: their own and unassigned
        leads, as the member pages show them; admins and managers: every member). Raises
        ListNotFoundError (404)."""
        return self._counted_for(principal, [self._lists.get_list(principal.tenant_id, list_id)])[0]

    def _counted_for(self, principal: Principal, lists: list[StaticList]) -> list[StaticList]:
        """``lists`` with ``count`` over what ``principal`` may see: the stored counts for admins and
        managers, counted on request for a rep (:meth:`ListRepository.visible_member_counts`)."""
        if principal.visible_to is None or not lists:
            return lists
        counts = self._lists.visible_member_counts(principal.tenant_id, principal.visible_to)
        return [s.model_copy(update={"count": counts.get(s.list_id, 0)}) for s in lists]

    def update_list(self, principal: Principal, list_id: str, request: StaticListUpdate) -> StaticList:
        """Rename or re-describe. Raises ListNotFoundError (404), ForbiddenError (403: a rep, not creator)."""
        current = self._check_manage(principal, list_id)
        changes = request.model_dump(exclude_unset=True)
        if "name" in changes and changes["name"] is None:
            raise UnprocessableError(
                "name cannot be null", details=[{"field": "name", "problem": "required"}]
            )
        if not changes:
            return self._counted_for(principal, [current])[0]
        updated = self._lists.update_list(principal.tenant_id, list_id, changes=changes, updated_at=utc_now())
        return self._counted_for(principal, [updated])[0]

    def delete_list(self, principal: Principal, list_id: str) -> bool:
        """Delete the list; its memberships are removed now when few, else in the background.

        Returns True when memberships are still being removed in the background.
        Raises ListNotFoundError (404), ForbiddenError (403).
        """
        current = self._check_manage(principal, list_id)
        self._lists.delete_list(principal.tenant_id, list_id)
        if current.count > SYNC_PURGE_MEMBERS and self._enqueue is not None:
            self._enqueue([{"kind": PURGE_JOB, "tenant_id": principal.tenant_id, "list_id": list_id}])
            return True
        self.purge(principal.tenant_id, list_id)
        return False

    def purge(self, tenant_id: str, list_id: str, *, limit: int | None = None) -> int:
        """Remove memberships of a deleted list (idempotent); returns how many were removed."""
        removed: list[str] = []
        for lead_id in self._lists.iter_member_ids(tenant_id, list_id):
            if self._lists.remove_member(tenant_id, list_id, lead_id, adjust_count=False):
                removed.append(lead_id)
            if limit is not None and len(removed) >= limit:
                break
        self._publish_changes(tenant_id, list_id, removed, "removed")
        return len(removed)

    def _check_manage(self, principal: Principal, list_id: str) -> StaticList:
        current = self._lists.get_list(principal.tenant_id, list_id)
        if not principal.sees_all_leads and current.created_by != principal.user_id:
            raise ForbiddenError("only admins, managers and the list's creator change or delete a list")
        return current

    # ------------------------------------------------------------------ members
    def add_leads(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> AddResult:
        """Add leads by id. Leads that do not exist or that a rep may not see are reported, not added.

        Raises:
            ListNotFoundError (404).
        """
        self._lists.get_list(principal.tenant_id, list_id)
        result = AddResult()
        wanted = list(dict.fromkeys(lead_ids))
        valid = [lead_id for lead_id in wanted if _valid_lead_id(lead_id)]
        refs = self._lists.lead_refs(principal.tenant_id, valid) if valid else {}
        to_add: list[str] = []
        for lead_id in wanted:
            ref = refs.get(lead_id)
            if ref is None:
                result.not_found.append(lead_id)
            elif not principal.can_see(ref.owner_id):
                result.not_visible.append(lead_id)
            elif list_id in ref.list_ids:
                result.already_members += 1
            else:
                to_add.append(lead_id)
        tally = self._add(principal.tenant_id, list_id, to_add, added_by=principal.user_id)
        result.added = tally.added
        result.already_members += tally.already
        return result

    def _add(self, tenant_id: str, list_id: str, lead_ids: Sequence[str], *, added_by: str | None) -> _Tally:
        tally = _Tally()
        added: list[str] = []
        for lead_id in lead_ids:
            try:
                if self._lists.add_member(tenant_id, list_id, lead_id, added_at=utc_now(), added_by=added_by):
                    added.append(lead_id)
                else:
                    tally.already += 1
            except LeadNotFoundError:
                continue  # deleted meanwhile
        tally.added = len(added)
        self._publish_changes(tenant_id, list_id, added, "added")
        return tally

    def add_by_filter(
        self, principal: Principal, list_id: str, lead_filter: LeadFilter, *, cursor: str | None = None
    ) -> AddResult:
        """Add every lead matching the filters of ``GET /leads`` (reps: only leads they can see).

        Up to :data:`SYNC_FILTER_LEADS` leads are added now; the rest continues on the jobs queue
        (``queued: true`` and ``job_id``, see :meth:`get_job`); the counts answered are those of the
        synchronous part.

        Raises:
            ListNotFoundError (404), InvalidRequestError (400: bad cursor).
        """
        self._lists.get_list(principal.tenant_id, list_id)
        result = AddResult()
        cursor = self._add_filter_pages(principal, list_id, lead_filter, cursor, SYNC_FILTER_LEADS, result)
        if cursor is not None:
            if self._enqueue is None or self._jobs is None:
                while cursor is not None:
                    cursor = self._add_filter_pages(
                        principal, list_id, lead_filter, cursor, JOB_STEP_LEADS, result
                    )
            else:
                result.job_id = self._start_job(principal, list_id, lead_filter, cursor, result).job_id
                result.queued = True
        return result

    # ------------------------------------------------------------------ background filter adds
    def _start_job(
        self, principal: Principal, list_id: str, lead_filter: LeadFilter, cursor: str, sync: AddResult
    ) -> ListJobRecord:
        """Store a running job holding the synchronous part's counts, and queue its first step."""
        assert self._jobs is not None and self._enqueue is not None
        record = ListJobRecord(
            tenant_id=principal.tenant_id,
            job_id=time_ordered_id(),
            list_id=list_id,
            status="running",
            filter=lead_filter.model_dump(mode="json", exclude_none=True),
            added=sync.added,
            already_members=sync.already_members,
            steps=0,
            created_by=principal.user_id,
            created_role=str(principal.role),
            created_at=utc_now(),
            cursor=cursor,
        )
        self._jobs.create(record)
        try:
            self._queue_step(record, 1)
        except Exception:  # undo and re-raise: no job stays "running" without a queued step
            self._jobs.fail(
                record.tenant_id,
                list_id,
                record.job_id,
                error="the rest of the add could not be queued; add by the same filter again",
                finished_at=utc_now(),
            )
            raise
        return record

    def _queue_step(self, record: ListJobRecord, step: int) -> None:
        assert self._jobs is not None and self._enqueue is not None
        self._enqueue([_step_message(record, step)])
        self._jobs.mark_queued(record.tenant_id, record.list_id, record.job_id, step)

    def get_job(self, principal: Principal, list_id: str, job_id: str) -> ListJob:
        """A background filter add of the list: status, totals so far, error (admins and managers: any
        job; reps: the jobs they started - another user's counts and filter cover leads they may not see).

        Raises:
            ListNotFoundError (404: the list is not in the caller's tenant, or was deleted),
            ListJobNotFoundError (404), ForbiddenError (403: a rep and another user's job).
        """
        self._lists.get_list(principal.tenant_id, list_id)
        if self._jobs is None:
            raise ListJobNotFoundError(f"list job {job_id} not found")
        record = self._jobs.get(principal.tenant_id, list_id, job_id)
        if principal.visible_to is not None and record.created_by != principal.user_id:
            raise ForbiddenError("reps see only the list jobs they started", code="not_list_job_owner")
        return record.view()

    def list_jobs(
        self, principal: Principal, list_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> ListJobPage:
        """The list's background filter adds, newest first, ``limit`` (1-100) per page (reps: only the jobs
        they started, as :meth:`get_job`).

        Raises:
            ListNotFoundError (404): the list is not in the caller's tenant, or was deleted.
            InvalidRequestError (400): ``cursor`` is malformed or from another list.
        """
        self._lists.get_list(principal.tenant_id, list_id)
        if self._jobs is None:
            return ListJobPage(items=[])
        records, next_cursor = self._jobs.list_jobs(
            principal.tenant_id, list_id, limit=max(1, min(limit, 100)), cursor=cursor
        )
        if principal.visible_to is not None:  # a rep: the jobs they started (see get_job)
            records = [r for r in records if r.created_by == principal.user_id]
        return ListJobPage(items=[r.view() for r in records], next_cursor=next_cursor)

    def run_job_step(self, tenant_id: str, list_id: str, job_id: str, step: int) -> None:
        """Job step ``lists.add_by_filter`` number ``step`` (1, 2, ...) of a list job.

        Adds up to :data:`JOB_STEP_LEADS` more matching leads from the job's cursor, then records the
        step's counts (once: conditioned on the job's last applied step being ``step - 1``) and queues
        step ``step + 1``, or completes the job when the filter has no more leads. A redelivered step
        that was already applied adds and counts nothing; it only queues the next step when that was
        never queued (the first delivery stopped in between).

        Raises:
            whatever a step fails with except domain errors, after counting the attempt (SQS retries it;
            the :data:`MAX_STEP_ATTEMPTS`-th attempt also fails the job). Domain errors (a deleted list,
            a stale cursor) fail the job with their message and are not raised.
        """
        assert self._jobs is not None
        try:
            record = self._jobs.get(tenant_id, list_id, job_id)
        except ListJobNotFoundError:
            log.warning("list job %s not found; step %s dropped", job_id, step)
            return
        if record.status != "running":
            return
        if record.steps >= step:  # redelivered after it was applied
            if record.steps == step and record.cursor is not None and record.queued_step <= step:
                self._queue_step(record, step + 1)
            return
        if record.steps < step - 1:  # cannot happen: a step is queued only once the one before is recorded
            log.warning("list job %s: step %s arrived before step %s was recorded", job_id, step, step - 1)
            return
        principal = Principal(tenant_id=tenant_id, user_id=record.created_by, role=Role(record.created_role))
        result = AddResult()
        try:
            self._lists.get_list(tenant_id, list_id)
            lead_filter = LeadFilter.model_validate(record.filter)
            cursor = self._add_filter_pages(
                principal, list_id, lead_filter, record.cursor, JOB_STEP_LEADS, result
            )
        except LeadtideError as err:
            self._jobs.fail(tenant_id, list_id, job_id, error=err.message, finished_at=utc_now())
            return
        except Exception:  # job step boundary: count the attempt (fail the job on the last), re-raise
            attempts = self._jobs.note_attempt(tenant_id, list_id, job_id)
            if attempts >= MAX_STEP_ATTEMPTS:
                self._jobs.fail(
                    tenant_id,
                    list_id,
                    job_id,
                    error=f"step {step} failed {attempts} times; leads added before it stay in the list",
                    finished_at=utc_now(),
                )
            raise
        applied = self._jobs.record_step(
            tenant_id,
            list_id,
            job_id,
            step=step,
            added=result.added,
            already_members=result.already_members,
            cursor=cursor,
            finished_at=utc_now() if cursor is None else None,
        )
        if applied and cursor is not None:
            self._queue_step(record.model_copy(update={"steps": step, "cursor": cursor}), step + 1)

    def _add_filter_pages(
        self,
        principal: Principal,
        list_id: str,
        lead_filter: LeadFilter,
        cursor: str | None,
        budget: int,
        result: AddResult,
    ) -> str | None:
        seen = 0
        while True:
            query = lead_query(
                principal,
                lead_filter,
                custom_fields=self._custom_fields,
                sort="created",
                descending=True,
                limit=min(FILTER_PAGE_LEADS, budget - seen),
                cursor=cursor,
            )
            page = self._leads.query_leads(principal.tenant_id, query)
            leads, cursor = page
            ids = [lead.lead_id for lead in leads if principal.can_see(lead.owner_id)]
            refs = self._lists.lead_refs(principal.tenant_id, ids) if ids else {}
            fresh = [i for i in ids if i in refs and list_id not in refs[i].list_ids]
            result.already_members += len(ids) - len(fresh)
            tally = self._add(principal.tenant_id, list_id, fresh, added_by=principal.user_id)
            result.added += tally.added
            result.already_members += tally.already
            seen += len(leads)
            if cursor is None or seen >= budget:
                return cursor

    def remove_leads(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> RemoveResult:
        """Remove leads by id (reps: only leads they can see). Raises ListNotFoundError (404)."""
        self._lists.get_list(principal.tenant_id, list_id)
        result = RemoveResult()
        wanted = [lead_id for lead_id in dict.fromkeys(lead_ids) if _valid_lead_id(lead_id)]
        result.not_members = len(set(lead_ids)) - len(wanted)
        refs = self._lists.lead_refs(principal.tenant_id, wanted) if wanted else {}
        removed: list[str] = []
        for lead_id in wanted:
            ref = refs.get(lead_id)
            if ref is not None and not principal.can_see(ref.owner_id):
                result.not_visible.append(lead_id)
                continue
            if self._lists.remove_member(principal.tenant_id, list_id, lead_id):
                removed.append(lead_id)
            else:
                result.not_members += 1
        result.removed = len(removed)
        self._publish_changes(principal.tenant_id, list_id, removed, "removed")
        return result

    def list_leads(self, principal: Principal, list_id: str, *, limit: int, cursor: str | None) -> LeadPage:
        """One page of the list's leads, newest added first; reps see only the leads they can see, the page
        filled up to ``limit`` of them. Raises ListNotFoundError, InvalidRequestError."""
        self._lists.get_list(principal.tenant_id, list_id)
        ids, next_cursor = self._lists.page_members(
            principal.tenant_id, list_id, limit=limit, cursor=cursor, visible_to=principal.visible_to
        )
        rows = self._lists.lead_summaries(principal.tenant_id, ids)
        return LeadPage(items=[r for r in rows if principal.can_see(r.owner_id)], next_cursor=next_cursor)

    def import_csv(self, principal: Principal, list_id: str, request: ListImportRequest) -> ListImportResult:
        """Add the leads whose email or phone appears in a CSV (normalised as capture does: lower-case
        email, E.164 phone with the tenant's default region).

        Raises:
            ListNotFoundError (404); UnprocessableError (422): unreadable CSV, ``column`` not in the
            header, more than 20,000 rows.
        """
        self._lists.get_list(principal.tenant_id, list_id)
        rows = _read_csv(request.csv, request.column)
        keyed: list[list[tuple[IdentityKind, str]]] = []
        invalid = 0
        for values in rows:
            keys = [k for k in (self._identity(v, kind) for v, kind in values) if k is not None]
            keyed.append(keys)
            invalid += not keys
        unique = list(dict.fromkeys(k for keys in keyed for k in keys))
        found: dict[tuple[IdentityKind, str], str] = {}
        for start in range(0, len(unique), 100):
            found.update(self._leads.lookup_identities(principal.tenant_id, unique[start : start + 100]))
        if principal.visible_to is not None:
            # A rep's CSV matches only leads the rep may see: the others count as unmatched, so the answer
            # never tells which emails or phones another rep's leads have.
            owners = list(dict.fromkeys(found.values()))
            refs: dict[str, LeadRef] = {}
            for start in range(0, len(owners), 100):
                refs.update(self._lists.lead_refs(principal.tenant_id, owners[start : start + 100]))
            found = {
                key: lead_id
                for key, lead_id in found.items()
                if lead_id in refs and principal.can_see(refs[lead_id].owner_id)
            }
        matched_ids: list[str] = []
        unmatched_values: list[str] = []
        matched = unmatched = 0
        for keys in keyed:
            hits = [found[k] for k in keys if k in found]
            if hits:
                matched += 1
                matched_ids.append(hits[0])
            elif keys:
                unmatched += 1
                if len(unmatched_values) < 50:
                    unmatched_values.append(keys[0][1])
        added = self.add_leads(principal, list_id, list(dict.fromkeys(matched_ids)))
        return ListImportResult(
            rows=len(rows),
            matched=matched,
            unmatched=unmatched,
            invalid=invalid,
            added=added.added,
            already_members=added.already_members,
            not_visible=len(added.not_visible),
            unmatched_values=unmatched_values,
        )

    def _identity(self, raw: str, kind: str | None) -> tuple[IdentityKind, str] | None:
        raw = raw.strip()
        if not raw:
            return None
        guess = kind or ("email" if "@" in raw else "phone")
        try:
            if guess == "email":
                return ("email", normalize_email(raw))
            return ("phone", normalize_phone(raw, default_region=self._region, strict=True))
        except UnprocessableError:
            return None

    # ------------------------------------------------------------------ service API for other areas
    def iter_lead_ids(self, tenant_id: str, list_id: str) -> Iterator[str]:
        """Every member of a list (any order). Raises ListNotFoundError."""
        self._lists.get_list(tenant_id, list_id)
        yield from self._lists.iter_member_ids(tenant_id, list_id)

    def move_memberships(self, tenant_id: str, from_lead_id: str, to_lead_id: str) -> int:
        """Put ``to_lead_id`` in every list ``from_lead_id`` is in, and take ``from_lead_id`` out (merge).

        Returns the number of lists the surviving lead joined.
        """
        joined = 0
        for list_id in self._lists_of(tenant_id, from_lead_id):
            try:
                if self._lists.add_member(tenant_id, list_id, to_lead_id, added_at=utc_now(), added_by=None):
                    joined += 1
                    self._publish_changes(tenant_id, list_id, [to_lead_id], "added")
            except (ListNotFoundError, LeadNotFoundError):
                pass
            if self._lists.remove_member(tenant_id, list_id, from_lead_id):
                self._publish_changes(tenant_id, list_id, [from_lead_id], "removed")
        return joined

    def remove_lead_everywhere(self, tenant_id: str, lead_id: str) -> int:
        """Take a lead out of every list (deletion); returns how many memberships were removed."""
        removed = 0
        for list_id in self._lists_of(tenant_id, lead_id):
            removed += self._lists.remove_member(tenant_id, list_id, lead_id)
        return removed

    def _lists_of(self, tenant_id: str, lead_id: str) -> list[str]:
        ref = self._lists.lead_refs(tenant_id, [lead_id]).get(lead_id)
        if ref is not None:
            return sorted(ref.list_ids)
        # The lead is gone with its list_ids: look for its membership item in every list.
        every = [s.list_id for s in self._lists.list_lists(tenant_id)]
        return sorted(self._lists.lists_with_member(tenant_id, lead_id, every)) if every else []

    def _publish_changes(self, tenant_id: str, list_id: str, lead_ids: Sequence[str], change: str) -> None:
        if not lead_ids:
            return
        at = iso(utc_now())
        self._events.publish(
            [
                LeadEvent(
                    type=LeadEventType.LIST_MEMBERSHIP_CHANGED,
                    tenant_id=tenant_id,
                    lead_id=lead_id,
                    occurred_at=at,
                    data={"list_id": list_id, "change": change},
                )
                for lead_id in lead_ids
            ]
        )


def _step_message(record: ListJobRecord, step: int) -> dict[str, Any]:
    """The jobs-queue message of a list job's step (the filter and cursor are read from the job)."""
    return {
        "kind": ADD_BY_FILTER_JOB,
        "tenant_id": record.tenant_id,
        "list_id": record.list_id,
        "job_id": record.job_id,
        "step": step,
    }


def _filter_job(principal: Principal, list_id: str, f: LeadFilter, cursor: str) -> dict[str, Any]:
    """A step message from before list jobs (no ``job_id``): the filter and cursor travel in it."""
    return {
        "kind": ADD_BY_FILTER_JOB,
        "tenant_id": principal.tenant_id,
        "user_id": principal.user_id,
        "role": str(principal.role),
        "list_id": list_id,
        "filter": f.model_dump(mode="json", exclude_none=True),
        "cursor": cursor,
    }


def _read_csv(text: str, column: str | None) -> list[list[tuple[str, str | None]]]:
    """Rows of (value, kind) pairs: kind from the header ("email"/"phone"), or None to guess per cell."""
    try:
        table = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    except csv.Error as err:
        raise UnprocessableError(
            f"the CSV cannot be read: {err}", details=[{"field": "csv", "problem": str(err)}]
        ) from None
    if len(table) > MAX_IMPORT_ROWS + 1:
        raise UnprocessableError(
            f"at most {MAX_IMPORT_ROWS} rows per import",
            details=[{"field": "csv", "problem": f"{len(table)} rows"}],
        )
    if not table:
        return []
    header = [cell.strip().casefold() for cell in table[0]]
    columns: dict[int, str | None] = {}
    if column is not None:
        wanted = column.strip().casefold()
        if wanted not in header:
            raise UnprocessableError(
                f"column {column!r} is not in the CSV header",
                details=[{"field": "column", "problem": f"header has {', '.join(table[0])}"}],
            )
        index = header.index(wanted)
        columns[index] = "email" if wanted in EMAIL_HEADERS else "phone" if wanted in PHONE_HEADERS else None
    else:
        for index, name in enumerate(header):
            if name in EMAIL_HEADERS:
                columns[index] = "email"
            elif name in PHONE_HEADERS:
                columns[index] = "phone"
    if columns:
        return [[(row[i], kind) for i, kind in columns.items() if i < len(row)] for row in table[1:]]
    return [[(cell, None) for cell in row] for row in table]


def run_add_by_filter(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue step ``lists.add_by_filter``: add the next leads matching a filter, then queue the rest.

    ``{"tenant_id", "list_id", "job_id", "step"}`` runs :meth:`ListService.run_job_step`; a message without
    ``job_id`` (queued before list jobs existed) carries its filter and cursor and continues untracked.
    """
    if "job_id" in message:
        wiring.list_service.run_job_step(
            str(message["tenant_id"]), str(message["list_id"]), str(message["job_id"]), int(message["step"])
        )
        return
    principal = Principal(
        tenant_id=message["tenant_id"], user_id=message["user_id"], role=Role(message["role"])
    )
    service = wiring.list_service
    try:
        service.get_list(principal, message["list_id"])
    except ListNotFoundError:
        log.info("list %s deleted before the filter add finished", message["list_id"])
        return
    f = LeadFilter.model_validate(message["filter"])
    result = AddResult()
    cursor = service._add_filter_pages(
        principal, message["list_id"], f, message.get("cursor"), JOB_STEP_LEADS, result
    )
    if cursor is not None and service._enqueue is not None:
        service._enqueue([_filter_job(principal, message["list_id"], f, cursor)])


def run_purge(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue step ``lists.purge``: remove the memberships of a deleted list, a step at a time."""
    service = wiring.list_service
    removed = service.purge(message["tenant_id"], message["list_id"], limit=JOB_STEP_LEADS)
    if removed >= JOB_STEP_LEADS and service._enqueue is not None:
        service._enqueue(
            [{"kind": PURGE_JOB, "tenant_id": message["tenant_id"], "list_id": message["list_id"]}]
        )
