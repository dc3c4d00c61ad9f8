"""Backfill run records (``GET /admin/backfill/{run_id}``): a run's totals accumulate step by step from the
pages the job computed, each step counted once under SQS redelivery; the last page completes the run; an
invalid cursor or a step failing on every attempt fails it; a missing next step is re-queued by the
redelivery; old-style messages (no step, totals in the message) still run, log only; reading runs is for
admins of the run's tenant."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadtide.leads.backfill import BACKFILL_JOB, MAX_STEP_ATTEMPTS, LeadBackfillService, run_backfill_with
from leadtide.leads.ports import BackfillCounts, BackfillRunRepository
from leadtide.models.auth import Principal
from leadtide.models.backfill import BackfillRunRecord
from leadtide.models.common import Role
from leadtide.models.errors import BackfillRunNotFoundError, ForbiddenError, InvalidRequestError
from tests.bulk_fakes import FlakyEnqueue
from tests.unit.test_leads_backfill import FakeBackfillStore

ADMIN = Principal("t1", "boss", Role.ADMIN)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class FakeRunRepository(BackfillRunRepository):
    """Runs by (tenant, run_id), with the conditions of the DynamoDB repository."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], BackfillRunRecord] = {}

    def _get(self, tenant_id: str, run_id: str) -> BackfillRunRecord:
        try:
            return self.runs[(tenant_id, run_id)]
        except KeyError:
            raise BackfillRunNotFoundError(f"backfill run {run_id} not found") from None

    def create(self, record):
        assert (record.tenant_id, record.run_id) not in self.runs
        self.runs[(record.tenant_id, record.run_id)] = record.model_copy(deep=True)

    def get(self, tenant_id, run_id):
        return self._get(tenant_id, run_id).model_copy(deep=True)

    def list(self, tenant_id, *, limit, cursor):
        mine = sorted((r for (t, _), r in self.runs.items() if t == tenant_id), key=lambda r: r.run_id)[::-1]
        if cursor is not None and not cursor.isdigit():
            raise InvalidRequestError("cursor is not valid for this query")
        start = int(cursor or 0)
        page = mine[start : start + limit]
        nxt = str(start + limit) if start + limit < len(mine) else None
        return [r.model_copy(deep=True) for r in page], nxt

    def record_step(self, tenant_id, run_id, *, step, counts, cursor, finished_at):
        run = self._get(tenant_id, run_id)
        if run.status != "running" or run.steps != step - 1:
            return False
        total = BackfillCounts.from_dict(run.model_dump()).add(counts)
        update: dict[str, Any] = {**asdict(total), "steps": step, "cursor": cursor, "attempts": 0}
        if finished_at is not None:
            update |= {"status": "completed", "finished_at": finished_at}
        self.runs[(tenant_id, run_id)] = run.model_copy(update=update)
        return True

    def mark_queued(self, tenant_id, run_id, step):
        run = self._get(tenant_id, run_id)
        run.queued_step = max(run.queued_step, step)

    def note_attempt(self, tenant_id, run_id):
        run = self._get(tenant_id, run_id)
        run.attempts += 1
        return run.attempts

    def fail(self, tenant_id, run_id, *, error, finished_at):
        run = self._get(tenant_id, run_id)
        if run.status != "running":
            return False
        self.runs[(tenant_id, run_id)] = run.model_copy(
            update={"status": "failed", "error": error, "finished_at": finished_at, "cursor": None}
        )
        return True


class Env:
    def __init__(self, profiles: int = 7, lacking: set[int] | None = None) -> None:
        self.store = FakeBackfillStore()
        lacking = {i for i in range(profiles) if i % 2 == 0} if lacking is None else lacking
        for i in range(profiles):
            fresh = _fresh(i)
            stored = {"search_text": fresh["search_text"]} if i in lacking else dict(fresh)
            self.store.add(f"{i:032d}", stored=stored, fresh=fresh)
        self.runs = FakeRunRepository()
        self.queue = FlakyEnqueue()
        self.clock = iter(T0 + timedelta(minutes=n) for n in range(1000))
        self.service = LeadBackfillService(
            self.store, runs=self.runs, enqueue=self.queue, clock=lambda: next(self.clock)
        )

    def settle(self) -> int:
        ran = 0
        while self.queue.messages:
            message = self.queue.messages.pop(0)
            assert message["kind"] == BACKFILL_JOB
            run_backfill_with(self.service, message)
            ran += 1
        return ran


def _fresh(i: int) -> dict[str, str]:
    return {"cond_pk": f"T#t1#COND#{i:02d}", "cond_sk": f"{i:032d}", "search_text": f"lead {i}"}


@pytest.fixture
def env() -> Env:
    return Env()


def test_start_stores_a_running_run_before_queueing_step_one(env):
    accepted = env.service.start(ADMIN, page_size=3)
    run = env.runs.get("t1", accepted.run_id)
    assert (run.status, run.steps, run.scanned, run.started_by) == ("running", 0, 0, "boss")
    assert accepted.status_url == f"/admin/backfill/{accepted.run_id}"
    assert accepted.run.status == "running" and accepted.run.run_id == accepted.run_id
    assert env.queue.messages == [
        {"kind": BACKFILL_JOB, "tenant_id": "t1", "run_id": accepted.run_id, "step": 1, "page_size": 3}
    ]
    assert "totals" not in env.queue.messages[0] and "cursor" not in env.queue.messages[0]


def test_run_ids_sort_by_start_time():
    env = Env(profiles=0)
    ids = [env.service.start(ADMIN).run_id for _ in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5 and all(len(i) == 32 for i in ids)


def test_totals_accumulate_per_page_and_the_last_page_completes_the_run(env, caplog):
    accepted = env.service.start(ADMIN, page_size=3)
    env.service.run_step("t1", accepted.run_id, 1, page_size=3)
    env.queue.messages.pop(0)
    after_one = env.service.get_run(ADMIN, accepted.run_id)
    assert (after_one.status, after_one.steps, after_one.scanned) == ("running", 1, 3)
    assert (after_one.updated, after_one.up_to_date) == (2, 1)  # profiles 0 and 2 lack the index keys
    with caplog.at_level(logging.INFO, logger="leadtide.leads.backfill"):
        assert env.settle() == 2  # 3 + 3 + 1 profiles
    run = env.service.get_run(ADMIN, accepted.run_id)
    lacking = [i for i in range(7) if i % 2 == 0]
    assert run.status == "completed" and run.steps == 3 and run.error is None
    assert run.finished_at is not None and run.finished_at > run.started_at
    assert (run.scanned, run.updated, run.up_to_date, run.skipped_concurrent) == (7, len(lacking), 3, 0)
    assert run.attributes == {"cond_pk": len(lacking), "cond_sk": len(lacking)}
    assert len(env.store.writes) == len(lacking)
    summary = [r.getMessage() for r in caplog.records if "done" in r.getMessage()]
    assert len(summary) == 1 and "scanned=7 updated=4 up_to_date=3" in summary[0]


def test_a_redelivered_step_counts_nothing_and_queues_no_duplicate(env):
    run_id = env.service.start(ADMIN, page_size=3).run_id
    step_one = env.queue.messages.pop(0)
    run_backfill_with(env.service, step_one)
    before = env.runs.get("t1", run_id)
    assert len(env.queue.messages) == 1  # step 2
    run_backfill_with(env.service, step_one)  # SQS delivers step 1 again
    after = env.runs.get("t1", run_id)
    assert (after.scanned, after.updated, after.steps, after.attributes) == (
        before.scanned,
        before.updated,
        1,
        before.attributes,
    )
    assert [m["step"] for m in env.queue.messages] == [2]
    env.settle()
    run = env.runs.get("t1", run_id)
    assert (run.status, run.scanned, run.updated) == ("completed", 7, 4)
    run_backfill_with(env.service, step_one)  # a late redelivery after completion changes nothing
    assert env.runs.get("t1", run_id) == run


def test_a_redelivered_last_step_does_not_count_twice():
    env = Env(profiles=2, lacking={0, 1})
    run_id = env.service.start(ADMIN).run_id
    message = env.queue.messages.pop(0)
    run_backfill_with(env.service, message)
    # the profiles are up to date now; a redelivery must not add 2 more "up_to_date" nor 2 more "scanned"
    run_backfill_with(env.service, message)
    run = env.runs.get("t1", run_id)
    assert (run.status, run.steps, run.scanned, run.updated, run.up_to_date) == ("completed", 1, 2, 2, 0)
    assert env.queue.messages == []


def test_a_step_that_stopped_before_queueing_the_next_queues_it_on_redelivery(env):
    run_id = env.service.start(ADMIN, page_size=3).run_id
    step_one = env.queue.messages.pop(0)
    env.queue.fail_on = {env.queue.calls + 1}
    with pytest.raises(RuntimeError):
        run_backfill_with(env.service, step_one)
    assert env.runs.get("t1", run_id).steps == 1 and env.queue.messages == []
    run_backfill_with(env.service, step_one)  # redelivered: counts nothing, queues step 2
    assert [m["step"] for m in env.queue.messages] == [2]
    env.settle()
    run = env.runs.get("t1", run_id)
    assert (run.status, run.scanned, run.updated) == ("completed", 7, 4)


def test_an_invalid_cursor_fails_the_run_with_the_reason(env):
    run_id = env.service.start(ADMIN, page_size=3).run_id
    run_backfill_with(env.service, env.queue.messages.pop(0))
    env.runs.runs[("t1", run_id)].cursor = "not-a-cursor"
    real_page = env.store.page_profiles

    def strict_page(tenant_id, *, limit, cursor):
        if cursor is not None and not cursor.isdigit():
            raise InvalidRequestError("cursor is not valid for this query")
        return real_page(tenant_id, limit=limit, cursor=cursor)

    env.store.page_profiles = strict_page  # type: ignore[method-assign]
    env.settle()
    run = env.service.get_run(ADMIN, run_id)
    assert run.status == "failed" and run.finished_at is not None
    assert run.error is not None and "cursor" in run.error
    assert (run.steps, run.scanned) == (1, 3)  # the first page stays counted
    assert env.queue.messages == []


def test_a_step_failing_on_every_attempt_fails_the_run_on_the_last_attempt(env):
    run_id = env.service.start(ADMIN).run_id
    message = env.queue.messages.pop(0)

    def broken(*args, **kwargs):
        raise ConnectionError("DynamoDB is unavailable")

    env.store.page_profiles = broken  # type: ignore[method-assign]
    for attempt in range(1, MAX_STEP_ATTEMPTS + 1):
        with pytest.raises(ConnectionError):
            run_backfill_with(env.service, message)
        assert env.runs.get("t1", run_id).status == ("failed" if attempt == MAX_STEP_ATTEMPTS else "running")
    assert "failed 3 times" in (env.runs.get("t1", run_id).error or "")


def test_a_run_that_cannot_be_queued_is_failed_and_the_error_raised(env):
    env.queue.fail_on = {1}
    with pytest.raises(RuntimeError):
        env.service.start(ADMIN)
    (run,) = env.runs.runs.values()
    assert run.status == "failed" and "could not be queued" in (run.error or "")


def test_a_step_of_a_missing_run_is_dropped(env):
    run_backfill_with(env.service, {"kind": BACKFILL_JOB, "tenant_id": "t1", "run_id": "f" * 32, "step": 1})
    assert env.store.writes == [] and env.queue.messages == []


def test_old_style_messages_still_run_log_only(env, caplog):
    # Given a step queued by the old code: no step number, cursor and totals in the message, no record
    old = {"kind": BACKFILL_JOB, "tenant_id": "t1", "run_id": "a" * 32, "page_size": 3}
    old["totals"] = {"scanned": 10, "updated": 5, "up_to_date": 5, "attributes": {"cond_pk": 5}}
    with caplog.at_level(logging.INFO, logger="leadtide.leads.backfill"):
        run_backfill_with(env.service, old)
        follow = env.queue.messages[0]
        assert "step" not in follow and follow["cursor"] and follow["totals"]["scanned"] == 13
        env.settle()
    assert env.runs.runs == {}  # no record appears
    assert len(env.store.writes) == 4
    summary = [r.getMessage() for r in caplog.records if "done" in r.getMessage()]
    assert len(summary) == 1 and "scanned=17 updated=9 up_to_date=8" in summary[0]


def test_old_style_message_with_an_invalid_cursor_stops_quietly(env):
    def strict_page(tenant_id, *, limit, cursor):
        raise InvalidRequestError("cursor is not valid for this query")

    env.store.page_profiles = strict_page  # type: ignore[method-assign]
    run_backfill_with(env.service, {"kind": BACKFILL_JOB, "tenant_id": "t1", "cursor": "x"})
    assert env.queue.messages == [] and env.runs.runs == {}


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP])
def test_only_admins_read_runs(env, role):
    run_id = env.service.start(ADMIN).run_id
    with pytest.raises(ForbiddenError):
        env.service.get_run(Principal("t1", "u", role), run_id)
    with pytest.raises(ForbiddenError):
        env.service.list_runs(Principal("t1", "u", role))


def test_runs_are_read_only_in_their_tenant(env):
    run_id = env.service.start(ADMIN).run_id
    with pytest.raises(BackfillRunNotFoundError):
        env.service.get_run(Principal("t2", "boss", Role.ADMIN), run_id)
    with pytest.raises(BackfillRunNotFoundError):
        env.service.get_run(ADMIN, "not-an-id")
    assert env.service.list_runs(Principal("t2", "boss", Role.ADMIN)).items == []


def test_runs_list_newest_first_in_pages():
    env = Env(profiles=0)
    ids = [env.service.start(ADMIN).run_id for _ in range(5)]
    first = env.service.list_runs(ADMIN, limit=2)
    assert [r.run_id for r in first.items] == ids[::-1][:2] and first.next_cursor
    rest = env.service.list_runs(ADMIN, limit=10, cursor=first.next_cursor)
    assert [r.run_id for r in rest.items] == ids[::-1][2:] and rest.next_cursor is None
