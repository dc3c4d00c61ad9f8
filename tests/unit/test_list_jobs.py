"""List jobs: a filter add past the synchronous limit is followed as a job whose counters accumulate step by
step, count each step once under redelivery, complete on the last step and fail with the reason."""

import math

import pytest

from leadtide.lists import service as lists_service
from leadtide.lists.models import LeadFilter, StaticListCreate
from leadtide.lists.service import ADD_BY_FILTER_JOB, MAX_STEP_ATTEMPTS, ListService
from leadtide.models.auth import Principal
from leadtide.models.common import LeadStatus, Role
from leadtide.models.errors import ForbiddenError, ListJobNotFoundError, ListNotFoundError
from tests.bulk_fakes import FlakyEnqueue, add_lead
from tests.list_fakes import FakeListJobRepository, FakeListRepository

ADMIN = Principal("t1", "boss", Role.ADMIN)
OTHER_TENANT = Principal("t2", "boss", Role.ADMIN)
SYNC, STEP = 3, 2
CONTACTED = LeadFilter(status=LeadStatus.CONTACTED)


class Env:
    def __init__(self, repo, events):
        self.repo = repo
        self.lists = FakeListRepository(repo)
        self.jobs = FakeListJobRepository()
        self.queue = FlakyEnqueue()
        self.service = ListService(self.lists, repo, events, enqueue=self.queue, jobs=self.jobs)
        self.list_id = self.service.create_list(ADMIN, StaticListCreate(name="Fair")).list_id

    def job(self, job_id):
        return self.service.get_job(ADMIN, self.list_id, job_id)

    def run(self, message):
        self.service.run_job_step(
            message["tenant_id"], message["list_id"], message["job_id"], message["step"]
        )

    def settle(self) -> int:
        """Run every queued step until none is left; returns how many ran."""
        ran = 0
        while self.queue.messages:
            for message in self.queue.take(ADD_BY_FILTER_JOB):
                self.run(message)
                ran += 1
        return ran


@pytest.fixture
def env(repo, events, monkeypatch):
    monkeypatch.setattr(lists_service, "SYNC_FILTER_LEADS", SYNC)
    monkeypatch.setattr(lists_service, "JOB_STEP_LEADS", STEP)
    return Env(repo, events)


def _contacted(env, count, start=0):
    return [add_lead(env.repo, n=start + i, status=LeadStatus.CONTACTED).lead_id for i in range(count)]


def test_small_filter_add_answers_at_once_without_a_job(env):
    ids = _contacted(env, SYNC)
    add_lead(env.repo, n=50, status=LeadStatus.NEW)

    result = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED)

    assert (result.added, result.queued, result.job_id) == (SYNC, False, None)
    assert set(env.lists.members[("t1", env.list_id)]) == set(ids)
    assert env.queue.messages == [] and env.jobs.jobs == {}


def test_counts_accumulate_over_steps_and_the_last_step_completes_the_job(env):
    # Given 8 matching leads (one already in the list) and 2 that do not match
    ids = _contacted(env, 8)
    add_lead(env.repo, n=100, status=LeadStatus.NEW)
    add_lead(env.repo, n=101, status=LeadStatus.LOST)
    env.service.add_leads(ADMIN, env.list_id, [ids[0]])  # ids[0] is the oldest: met in the last step

    # When the filter add goes past the synchronous limit
    result = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED)

    # Then the answer holds the synchronous part and a running job holding the same counts
    assert result.queued and result.job_id
    assert (result.added, result.already_members) == (SYNC, 0)
    job = env.job(result.job_id)
    assert (job.status, job.added, job.already_members, job.steps, job.finished_at) == (
        "running",
        SYNC,
        0,
        0,
        None,
    )
    assert job.created_by == "boss" and job.filter == {"status": "Contacted"}
    assert [m["step"] for m in env.queue.messages] == [1]

    # When the first step runs, its counts are added to the job
    env.run(env.queue.take(ADD_BY_FILTER_JOB)[0])
    job = env.job(result.job_id)
    assert (job.status, job.added, job.steps) == ("running", SYNC + STEP, 1)

    # When every remaining step runs, the job completes with the totals of the whole add
    ran = env.settle()
    job = env.job(result.job_id)
    assert job.status == "completed" and job.finished_at is not None and job.error is None
    assert (job.added, job.already_members) == (7, 1)
    assert job.steps == 1 + ran == math.ceil((8 - SYNC) / STEP)
    assert set(env.lists.members[("t1", env.list_id)]) == set(ids)
    assert env.service.get_list(ADMIN, env.list_id).count == 8


def test_a_redelivered_step_counts_nothing_and_queues_no_duplicate(env):
    _contacted(env, 9)
    job_id = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED).job_id
    first = env.queue.take(ADD_BY_FILTER_JOB)[0]
    env.run(first)
    after_first = env.job(job_id)
    queued = list(env.queue.messages)

    env.run(first)  # SQS delivers step 1 again

    assert env.job(job_id) == after_first
    assert env.queue.messages == queued  # no second copy of step 2
    env.settle()
    env.run(first)  # even after the job completed
    job = env.job(job_id)
    assert (job.status, job.added, job.already_members) == ("completed", 9, 0)
    assert env.queue.messages == []


def test_a_step_that_stopped_before_queueing_the_next_queues_it_on_redelivery(env):
    _contacted(env, 9)
    job_id = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED).job_id
    first = env.queue.take(ADD_BY_FILTER_JOB)[0]
    env.queue.fail_on = {env.queue.calls + 1}  # the next enqueue (step 2) fails

    with pytest.raises(RuntimeError):
        env.run(first)
    recorded = env.job(job_id)
    assert (recorded.steps, recorded.added) == (1, SYNC + STEP)
    assert env.queue.messages == []

    env.run(first)  # redelivered: nothing is added or counted again, step 2 is queued
    assert env.job(job_id) == recorded
    assert [m["step"] for m in env.queue.messages] == [2]
    env.settle()
    job = env.job(job_id)
    assert (job.status, job.added, job.already_members) == ("completed", 9, 0)


def test_a_deleted_list_fails_the_job_with_the_reason(env):
    _contacted(env, 8)
    job_id = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED).job_id
    env.lists.delete_list("t1", env.list_id)

    env.settle()  # does not raise: retrying cannot help

    job = env.jobs.get("t1", env.list_id, job_id)
    assert job.status == "failed" and job.finished_at is not None
    assert job.error == f"list {env.list_id} not found"
    assert job.added == SYNC and env.queue.messages == []


def test_a_step_failing_on_every_attempt_fails_the_job_on_the_last_attempt(env):
    _contacted(env, 8)
    job_id = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED).job_id
    step = env.queue.take(ADD_BY_FILTER_JOB)[0]
    env.lists.fail_add_after = env.lists.adds  # DynamoDB keeps refusing

    for attempt in range(1, MAX_STEP_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            env.run(step)
        job = env.job(job_id)
        assert job.status == ("failed" if attempt == MAX_STEP_ATTEMPTS else "running")

    assert job.error == f"step 1 failed {MAX_STEP_ATTEMPTS} times; leads added before it stay in the list"
    assert job.added == SYNC
    env.run(step)  # a delivery after the failure does nothing
    assert env.job(job_id) == job


def test_a_step_that_recovers_resets_its_attempts(env):
    _contacted(env, 8)
    job_id = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED).job_id
    step = env.queue.take(ADD_BY_FILTER_JOB)[0]
    env.lists.fail_add_after = env.lists.adds
    with pytest.raises(RuntimeError):
        env.run(step)
    assert env.jobs.get("t1", env.list_id, job_id).attempts == 1

    env.lists.fail_add_after = None
    env.run(step)
    env.settle()

    stored = env.jobs.get("t1", env.list_id, job_id)
    assert (stored.status, stored.attempts, stored.added) == ("completed", 0, 8)


def test_a_job_is_read_only_through_its_tenant_and_list(env):
    _contacted(env, 8)
    job_id = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED).job_id
    other_list = env.service.create_list(ADMIN, StaticListCreate(name="Other")).list_id

    with pytest.raises(ListNotFoundError):
        env.service.get_job(OTHER_TENANT, env.list_id, job_id)
    with pytest.raises(ListJobNotFoundError):
        env.service.get_job(ADMIN, other_list, job_id)
    with pytest.raises(ListJobNotFoundError):
        env.service.get_job(ADMIN, env.list_id, "0" * 32)
    # a rep reads the jobs they started, not another user's (its counts cover leads the rep may not see)
    rep = Principal("t1", "rep-a", Role.REP)
    with pytest.raises(ForbiddenError):
        env.service.get_job(rep, env.list_id, job_id)
    assert env.service.list_jobs(rep, env.list_id).items == []
    mine = env.service.add_by_filter(rep, env.list_id, CONTACTED).job_id
    assert mine is not None and env.service.get_job(rep, env.list_id, mine).job_id == mine
    assert [j.job_id for j in env.service.list_jobs(rep, env.list_id).items] == [mine]


def test_a_job_that_cannot_be_queued_is_failed_and_the_error_raised(env):
    _contacted(env, 8)
    env.queue.fail_on = {env.queue.calls + 1}

    with pytest.raises(RuntimeError):
        env.service.add_by_filter(ADMIN, env.list_id, CONTACTED)

    (job,) = env.jobs.jobs.values()
    assert job.status == "failed" and "could not be queued" in (job.error or "")


def test_a_deleted_lists_jobs_are_not_listed(env):
    _contacted(env, 8)
    job_id = env.service.add_by_filter(ADMIN, env.list_id, CONTACTED).job_id
    assert [j.job_id for j in env.service.list_jobs(ADMIN, env.list_id).items] == [job_id]
    env.service.delete_list(ADMIN, env.list_id)
    with pytest.raises(ListNotFoundError):
        env.service.list_jobs(ADMIN, env.list_id)
