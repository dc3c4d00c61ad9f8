"""Backfill of lead profiles' derived attributes (jobs-queue kind ``leads.backfill``).

Lead profiles gained derived attributes over time - the sparse condition index's ``cond_pk``/``cond_sk``
(``leads_by_condition_shard``, segment previews), ``search_text``, the inbox sort keys, and
``identity_keys`` (the identity items a lead owns, which delete removes). Every writer sets them now
(``leadtide.dal.lead_profile.lead_item_values``/``profile_keys``), but profiles written before an attribute existed
lack it: they are invisible to the condition index, and their delete falls back to the contact fields'
identity keys. This job brings one tenant's profiles up to date.

One step reads one page of the tenant's profiles (``leads_by_created``, newest first; never a table Scan),
compares each with what a fresh write of the same lead stores (:func:`plan_profile`), and writes only the
missing or stale attributes, one conditional UpdateItem per profile, on condition that the profile is
unchanged since read (``updated_at`` and the attributes each written value derives from): a concurrent edit
wins, the profile counts as ``skipped_concurrent`` and the next run fixes it. ``identity_keys`` gains only
keys whose identity item already names the lead (one BatchGetItem per page); no identity is ever claimed.

Each run has a record (:class:`BackfillRunRepository`; DynamoDB ``T#<tenant>#BACKFILL``/``<run_id>``,
``GET /admin/backfill/{run_id}``), created by :meth:`LeadBackfillService.start` before the first step is
queued; it is the source of truth for the run's totals. Steps are numbered (1, 2, ...; the number travels in
the message ``{kind, tenant_id, run_id, step, page_size?}``, the cursor is read from the record). A step
records its page's counts in one conditional write that adds them and moves ``steps`` forward, on condition
that the run is ``running`` and ``steps`` = the step - 1 (the house pattern of list jobs), then queues the
next step, or, on the last page, marks the run ``completed`` in that same write. So a redelivered step
counts nothing twice (its page is up to date anyway and writes no profile) and only re-queues the next step
when the first delivery stopped before queuing it. An invalid cursor fails the run at once (``failed``,
``error``); any other error is retried by SQS and fails the run on the :data:`MAX_STEP_ATTEMPTS`-th attempt.
Each page's counts and the run's summary are also logged. Messages queued before run records existed (no
``step``) still run as then: cursor and running ``totals`` in the message, log only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadtide.leads.ports import (
    BackfillCounts,
    BackfillRunRepository,
    IdentityKey,
    ProfileBackfillStore,
    ProfilePatch,
    StoredProfile,
)
from leadtide.models.auth import Principal
from leadtide.models.backfill import BackfillAccepted, BackfillRun, BackfillRunList, BackfillRunRecord
from leadtide.models.common import Role, utc_now
from leadtide.models.errors import BackfillRunNotFoundError, ForbiddenError, InvalidRequestError
from leadtide.models.exports import time_ordered_id

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

log = logging.getLogger(__name__)

BACKFILL_JOB = "leads.backfill"
PAGE_SIZE = 100
"""Profiles one step reads (one Query page) and may write (one UpdateItem each): well inside the Jobs
worker's timeout."""
MAX_PAGE_SIZE = 500
MAX_STEP_ATTEMPTS = 3
"""Failed attempts of one step before its run fails (the jobs queue's maxReceiveCount: the next failure
would send the step to the dead-letter queue and leave the run ``running`` for ever)."""
MAX_LIST_LIMIT = 100
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def plan_profile(profile: StoredProfile, owners: Mapping[IdentityKey, str]) -> ProfilePatch | None:
    """What a profile lacks: every derived attribute whose stored value is missing or differs from what a
    fresh write stores, and every candidate identity key whose item names this lead (``owners``: key ->
    lead id) but is not in ``identity_keys``. None when the profile is up to date."""
    changed = {name: value for name, value in profile.fresh.items() if profile.stored.get(name) != value}
    owned = {key for key in profile.candidates if owners.get(key) == profile.lead_id}
    missing = frozenset(owned - profile.identity_keys)
    if not changed and not missing:
        return None
    return ProfilePatch(lead_id=profile.lead_id, set=changed, add_identities=missing)


class LeadBackfillService:
    """Runs backfill steps over a :class:`ProfileBackfillStore` and keeps each run's record in ``runs``
    (None: no records, log only); ``enqueue`` queues job steps (None: run the next step inline, as unit
    tests do); ``clock`` gives the current time (aware UTC)."""

    def __init__(
        self,
        store: ProfileBackfillStore,
        *,
        runs: BackfillRunRepository | None = None,
        enqueue: Callable[[Sequence[Mapping[str, Any]]], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self._store = store
        self._runs = runs
        self._enqueue = enqueue
        self._clock = clock

    def start(self, principal: Principal, *, page_size: int | None = None) -> BackfillAccepted:
        """Store a ``running`` run record and queue the first step of a backfill of the caller's tenant
        (admins only). ``page_size``: profiles per step (default :data:`PAGE_SIZE`). When the first step
        cannot be queued, the run is marked ``failed`` and the error raised.

        Raises:
            ForbiddenError (403): the caller is not an admin.
        """
        if principal.role != Role.ADMIN:
            raise ForbiddenError("only admins start a backfill", code="admin_only")
        record = BackfillRunRecord(
            tenant_id=principal.tenant_id,
            run_id=time_ordered_id(),
            status="running",
            started_by=principal.user_id,
            started_at=self._clock(),
        )
        extra = {"page_size": page_size} if page_size else {}
        if self._runs is None:  # no records: the steps only log (as before run records existed)
            message = {"kind": BACKFILL_JOB, "tenant_id": record.tenant_id, "run_id": record.run_id, **extra}
            if self._enqueue is None:
                run_backfill_with(self, message)
            else:
                self._enqueue([message])
        else:
            self._runs.create(record)
            try:
                self._queue_step(record.tenant_id, record.run_id, 1, extra)
            except Exception:  # undo and re-raise: no run stays "running" without a queued step
                self._runs.fail(
                    record.tenant_id,
                    record.run_id,
                    error="the first step could not be queued; start the backfill again",
                    finished_at=self._clock(),
                )
                raise
        log.info("backfill %s of tenant %s queued", record.run_id, principal.tenant_id)
        return BackfillAccepted(
            tenant_id=principal.tenant_id,
            run_id=record.run_id,
            kind=BACKFILL_JOB,
            status_url=f"/admin/backfill/{record.run_id}",
            run=record.view(),
        )

    def get_run(self, principal: Principal, run_id: str) -> BackfillRun:
        """One run of the caller's tenant with its totals so far (admins only).

        Raises:
            ForbiddenError (403): the caller is not an admin.
            BackfillRunNotFoundError (404): no such run in the caller's tenant.
        """
        _require_admin(principal)
        if self._runs is None or not _RUN_ID.fullmatch(run_id):
            raise BackfillRunNotFoundError(f"backfill run {run_id} not found")
        return self._runs.get(principal.tenant_id, run_id).view()

    def list_runs(
        self, principal: Principal, *, limit: int = 20, cursor: str | None = None
    ) -> BackfillRunList:
        """One page of the caller's tenant's runs, newest first (admins only); ``limit`` 1-100.

        Raises:
            ForbiddenError (403): the caller is not an admin.
            InvalidRequestError (400): malformed cursor, or one from another tenant or query.
        """
        _require_admin(principal)
        if self._runs is None:
            return BackfillRunList(items=[])
        records, next_cursor = self._runs.list(
            principal.tenant_id, limit=max(1, min(limit, MAX_LIST_LIMIT)), cursor=cursor
        )
        return BackfillRunList(items=[r.view() for r in records], next_cursor=next_cursor)

    def _queue_step(self, tenant_id: str, run_id: str, step: int, extra: Mapping[str, Any]) -> None:
        assert self._runs is not None
        message = {"kind": BACKFILL_JOB, "tenant_id": tenant_id, "run_id": run_id, "step": step, **extra}
        if self._enqueue is None:
            self._runs.mark_queued(tenant_id, run_id, step)
            run_backfill_with(self, message)
        else:
            self._enqueue([message])
            self._runs.mark_queued(tenant_id, run_id, step)

    def run_step(self, tenant_id: str, run_id: str, step: int, *, page_size: int | None = None) -> None:
        """Step number ``step`` (1, 2, ...) of a recorded run: backfill the page at the run's cursor, record
        its counts once (conditioned on the run's last applied step being ``step - 1``; the last page also
        completes the run) and queue step ``step + 1``. A redelivered step that was already applied counts
        nothing; it only queues the next step when that was never queued. A step for a missing or finished
        run is dropped (logged).

        Raises:
            whatever the page fails with except an invalid cursor, after counting the attempt (SQS retries
            it; the :data:`MAX_STEP_ATTEMPTS`-th attempt also fails the run). An invalid cursor fails the
            run with its message and is not raised.
        """
        assert self._runs is not None
        extra = {"page_size": page_size} if page_size else {}
        try:
            record = self._runs.get(tenant_id, run_id)
        except BackfillRunNotFoundError:
            log.warning("backfill %s of tenant %s not found; step %s dropped", run_id, tenant_id, step)
            return
        if record.status != "running":
            log.info(
                "backfill %s of tenant %s is %s; step %s dropped", run_id, tenant_id, record.status, step
            )
            return
        if record.steps >= step:  # redelivered after it was applied
            if record.steps == step and record.cursor is not None and record.queued_step <= step:
                self._queue_step(tenant_id, run_id, step + 1, extra)
            return
        if record.steps < step - 1:  # cannot happen: a step is queued only once the one before is recorded
            log.warning("backfill %s: step %s arrived before step %s was recorded", run_id, step, step - 1)
            return
        try:
            counts, next_cursor = self.step(tenant_id, cursor=record.cursor, page_size=page_size or PAGE_SIZE)
        except InvalidRequestError as err:
            log.error("backfill %s of tenant %s: invalid cursor; run failed", run_id, tenant_id)
            self._runs.fail(
                tenant_id,
                run_id,
                error=f"step {step}: {err.message}; start the backfill again",
                finished_at=self._clock(),
            )
            return
        except Exception:  # job step boundary: count the attempt (fail the run on the last), re-raise
            attempts = self._runs.note_attempt(tenant_id, run_id)
            if attempts >= MAX_STEP_ATTEMPTS:
                self._runs.fail(
                    tenant_id,
                    run_id,
                    error=f"step {step} failed {attempts} times; profiles updated before it stay updated",
                    finished_at=self._clock(),
                )
            raise
        _log_page(run_id, tenant_id, counts)
        applied = self._runs.record_step(
            tenant_id,
            run_id,
            step=step,
            counts=counts,
            cursor=next_cursor,
            finished_at=self._clock() if next_cursor is None else None,
        )
        if not applied:
            log.info("backfill %s: step %s was already recorded; counted once", run_id, step)
            return
        if next_cursor is None:
            _log_summary(run_id, tenant_id, BackfillCounts.from_dict(record.model_dump()).add(counts))
            return
        self._queue_step(tenant_id, run_id, step + 1, extra)

    def step(
        self, tenant_id: str, *, cursor: str | None, page_size: int = PAGE_SIZE
    ) -> tuple[BackfillCounts, str | None]:
        """Backfill one page of ``tenant_id``'s profiles: (counts of this page, cursor of the next page or
        None when done).

        Raises:
            InvalidRequestError: malformed cursor.
        """
        profiles, unreadable, next_cursor = self._store.page_profiles(
            tenant_id, limit=max(1, min(page_size, MAX_PAGE_SIZE)), cursor=cursor
        )
        counts = BackfillCounts(scanned=len(profiles) + unreadable, unreadable=unreadable)
        keys = list(dict.fromkeys(key for p in profiles for key in p.candidates))
        owners = self._store.identity_owners(tenant_id, keys) if keys else {}
        for profile in profiles:
            patch = plan_profile(profile, owners)
            if patch is None:
                counts.up_to_date += 1
                continue
            if not self._store.apply(tenant_id, profile, patch):
                counts.skipped_concurrent += 1
                continue
            counts.updated += 1
            for name in _written_names(patch):
                counts.attributes[name] = counts.attributes.get(name, 0) + 1
        return counts, next_cursor


def _written_names(patch: ProfilePatch) -> Iterable[str]:
    yield from patch.set
    if patch.add_identities:
        yield "identity_keys"


def _require_admin(principal: Principal) -> None:
    if principal.role != Role.ADMIN:
        raise ForbiddenError("only admins read backfill runs", code="admin_only")


def _log_page(run_id: Any, tenant_id: str, counts: BackfillCounts) -> None:
    log.info(
        "backfill %s of tenant %s: page scanned=%d updated=%d up_to_date=%d skipped_concurrent=%d "
        "unreadable=%d attributes=%s",
        run_id,
        tenant_id,
        counts.scanned,
        counts.updated,
        counts.up_to_date,
        counts.skipped_concurrent,
        counts.unreadable,
        counts.attributes,
    )


def _log_summary(run_id: Any, tenant_id: str, totals: BackfillCounts) -> None:
    log.info(
        "backfill %s of tenant %s done: scanned=%d updated=%d up_to_date=%d skipped_concurrent=%d "
        "unreadable=%d attributes=%s",
        run_id,
        tenant_id,
        totals.scanned,
        totals.updated,
        totals.up_to_date,
        totals.skipped_concurrent,
        totals.unreadable,
        totals.attributes,
    )


def run_backfill_with(service: LeadBackfillService, message: Mapping[str, Any]) -> None:
    """Run one ``leads.backfill`` step.

    ``{tenant_id, run_id, step, page_size?}`` (queued since run records exist) runs
    :meth:`LeadBackfillService.run_step`. A message without ``step`` (queued before, or by a service
    without run records) carries ``cursor?`` and the running ``totals?``: it backfills its page, then
    queues the next one with the new cursor and totals, or logs the summary after the last page; an
    invalid cursor stops it (logged).

    Raises:
        ValueError: the message has no tenant_id (redelivery cannot fix it; it ends in the DLQ).
    """
    tenant_id = message.get("tenant_id")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ValueError("leads.backfill step without tenant_id")
    page_size = message.get("page_size")
    size = page_size if isinstance(page_size, int) and page_size > 0 else None
    step, run_id = message.get("step"), message.get("run_id")
    if service._runs is not None and isinstance(step, int) and step >= 1 and isinstance(run_id, str):
        service.run_step(tenant_id, run_id, step, page_size=size)
        return
    cursor = message.get("cursor")
    try:
        counts, next_cursor = service.step(
            tenant_id, cursor=cursor if isinstance(cursor, str) else None, page_size=size or PAGE_SIZE
        )
    except InvalidRequestError:
        log.error("backfill %s of tenant %s: invalid cursor; run stopped", run_id, tenant_id)
        return
    totals = BackfillCounts.from_dict(message.get("totals")).add(counts)
    _log_page(run_id, tenant_id, counts)
    if next_cursor is None:
        _log_summary(run_id, tenant_id, totals)
        return
    follow = {**message, "cursor": next_cursor, "totals": asdict(totals)}
    if service._enqueue is None:
        run_backfill_with(service, follow)
    else:
        service._enqueue([follow])


def run_backfill(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue step ``leads.backfill`` (see :func:`run_backfill_with`)."""
    run_backfill_with(wiring.backfill_service, message)
