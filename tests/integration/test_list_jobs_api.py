"""List jobs over the template's routes and the jobs queue: a filter add past the synchronous limit answers
202 with a job, the Jobs worker finishes it, ``GET /lists/{list_id}/jobs/{job_id}`` follows it and
``GET /lists/{list_id}/jobs`` lists them; a redelivered step counts once; a deleted list fails the job;
tenants are isolated.

The synchronous limit and the step size are lowered so that ten leads take the background path."""

import math

import pytest

from leadtide.lists import service as lists_service
from leadtide.wiring import get_wiring

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
REP = {"sub": "u-rep", "custom:tenant_id": "acme", "custom:role": "rep"}
MANAGER = {"sub": "u-mgr", "custom:tenant_id": "acme", "custom:role": "manager"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}
SYNC, STEP = 3, 2


@pytest.fixture(autouse=True)
def _small_steps(monkeypatch):
    monkeypatch.setattr(lists_service, "SYNC_FILTER_LEADS", SYNC)
    monkeypatch.setattr(lists_service, "JOB_STEP_LEADS", STEP)


def _lead(stack, **body):
    res = stack.request("POST", "/leads", json_body=body, claims=ADMIN)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _list(stack, claims=ADMIN):
    res = stack.request("POST", "/lists", json_body={"name": "Fair"}, claims=claims)
    assert res.status == 201, res.text
    return res.json()["list_id"]


def _job(stack, list_id, job_id, claims=ADMIN):
    return stack.request("GET", f"/lists/{list_id}/jobs/{job_id}", claims=claims)


def _members(stack, list_id):
    res = stack.request("GET", f"/lists/{list_id}/leads", query={"limit": 100}, claims=ADMIN)
    assert res.status == 200, res.text
    return {row["lead_id"] for row in res.json()["items"]}


def _filter_add(stack, list_id, status="Contacted"):
    return stack.request(
        "POST", f"/lists/{list_id}/leads", json_body={"filter": {"status": status}}, claims=ADMIN
    )


def test_a_queued_filter_add_is_followed_to_completion(stack):
    # Given 8 leads matching the filter (one of them already in the list) and 2 that do not match
    matching = [_lead(stack, email=f"m{i}@example.com", status="Contacted") for i in range(8)]
    for i in range(2):
        _lead(stack, email=f"n{i}@example.com", status="New")
    list_id = _list(stack)
    assert (
        stack.request(
            "POST", f"/lists/{list_id}/leads", json_body={"lead_ids": [matching[0]]}, claims=ADMIN
        ).status
        == 200
    )

    # When the filter add goes past the synchronous limit
    res = _filter_add(stack, list_id)

    # Then 202 with the synchronous part's counts and a job that is running
    assert res.status == 202, res.text
    body = res.json()
    assert body["queued"] is True and body["job_id"]
    assert body["added"] + body["already_members"] == SYNC
    job = _job(stack, list_id, body["job_id"])
    assert job.status == 200, job.text
    running = job.json()
    assert running["status"] == "running" and running["steps"] == 0 and running["finished_at"] is None
    assert (running["added"], running["already_members"]) == (body["added"], body["already_members"])
    assert running["created_by"] == "u-admin" and running["filter"] == {"status": "Contacted"}

    # When the Jobs worker runs every step
    stack.settle()

    # Then the job is completed with the totals of the whole add, and the list holds every matching lead
    done = _job(stack, list_id, body["job_id"]).json()
    assert done["status"] == "completed" and done["finished_at"] and done["error"] is None
    assert (done["added"], done["already_members"]) == (7, 1)
    assert done["steps"] >= math.ceil((8 - SYNC) / STEP)
    assert stack.request("GET", f"/lists/{list_id}", claims=ADMIN).json()["count"] == 8
    assert _members(stack, list_id) == set(matching)

    # A rep of the tenant may not read the admin's job (its counts cover leads the rep may not see);
    # another tenant and unknown ids get 404
    refused = _job(stack, list_id, body["job_id"], claims=REP)
    assert refused.status == 403 and refused.json()["error"]["code"] == "not_list_job_owner"
    other = _job(stack, list_id, body["job_id"], claims=OTHER)
    assert other.status == 404 and other.json()["error"]["code"] == "list_not_found"
    unknown = _job(stack, list_id, "0" * 32)
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "list_job_not_found"
    assert _job(stack, list_id, "not-an-id").status == 404
    # another list of the same tenant does not expose the job
    assert _job(stack, _list(stack), body["job_id"]).status == 404


def test_a_redelivered_step_is_counted_once(stack):
    for i in range(7):
        _lead(stack, email=f"m{i}@example.com", status="Contacted")
    list_id = _list(stack)
    job_id = _filter_add(stack, list_id).json()["job_id"]
    stack.settle()
    done = _job(stack, list_id, job_id).json()
    assert (done["status"], done["added"]) == ("completed", 7)

    # Given every step of the job delivered once more (as SQS may)
    get_wiring().enqueue_jobs(
        [
            {
                "kind": "lists.add_by_filter",
                "tenant_id": "acme",
                "list_id": list_id,
                "job_id": job_id,
                "step": n,
            }
            for n in range(1, done["steps"] + 1)
        ]
    )
    stack.settle()

    # Then nothing moves
    assert _job(stack, list_id, job_id).json() == done
    assert stack.request("GET", f"/lists/{list_id}", claims=ADMIN).json()["count"] == 7

    # And the store itself refuses a step already applied (the UpdateItem's condition)
    jobs = get_wiring().list_job_repository
    applied = jobs.record_step(
        "acme", list_id, job_id, step=done["steps"], added=5, already_members=5, cursor=None, finished_at=None
    )
    assert applied is False
    assert jobs.get("acme", list_id, job_id).added == 7


def test_record_step_moves_counters_atomically_in_order(stack):
    for i in range(7):
        _lead(stack, email=f"m{i}@example.com", status="Contacted")
    list_id = _list(stack)
    job_id = _filter_add(stack, list_id).json()["job_id"]
    jobs = get_wiring().list_job_repository
    start = jobs.get("acme", list_id, job_id)
    assert start.status == "running" and start.cursor and start.queued_step == 1

    # step 2 cannot be recorded before step 1; step 1 is recorded once
    args = {"added": 2, "already_members": 1, "cursor": "next", "finished_at": None}
    assert jobs.record_step("acme", list_id, job_id, step=2, **args) is False
    assert jobs.record_step("acme", list_id, job_id, step=1, **args) is True
    assert jobs.record_step("acme", list_id, job_id, step=1, **args) is False
    after = jobs.get("acme", list_id, job_id)
    assert (after.added, after.already_members, after.steps, after.cursor) == (
        start.added + 2,
        start.already_members + 1,
        1,
        "next",
    )


def test_a_list_deleted_meanwhile_fails_the_job(stack):
    for i in range(7):
        _lead(stack, email=f"m{i}@example.com", status="Contacted")
    list_id = _list(stack)
    job_id = _filter_add(stack, list_id).json()["job_id"]
    assert stack.request("DELETE", f"/lists/{list_id}", claims=ADMIN).status == 204

    stack.settle()

    stored = get_wiring().list_job_repository.get("acme", list_id, job_id)
    assert stored.status == "failed" and stored.error == f"list {list_id} not found"
    assert stored.finished_at is not None
    assert _job(stack, list_id, job_id).status == 404  # like the list itself
    assert stack.queue_depth("JobsQueue") == 0


def test_a_lists_jobs_are_listed_newest_first_in_pages(stack):
    # Given three filter adds to one list that each went to the background, and a second list
    for i in range(5):
        _lead(stack, email=f"p{i}@example.com", status="Contacted")
        _lead(stack, email=f"q{i}@example.com", status="Follow-up")
    list_id, other_list = _list(stack), _list(stack)
    job_ids = []
    for status in ("Contacted", "Follow-up", "Contacted"):
        res = _filter_add(stack, list_id, status)
        assert res.status == 202, res.text
        job_ids.append(res.json()["job_id"])
    stack.settle()
    path = f"/lists/{list_id}/jobs"

    # When the list's jobs are read two at a time
    first = stack.request("GET", path, query={"limit": 2}, claims=MANAGER)
    assert first.status == 200, first.text
    second = stack.request(
        "GET", path, query={"limit": 2, "cursor": first.json()["next_cursor"]}, claims=MANAGER
    )

    # Then newest first, each as GET /lists/{list_id}/jobs/{job_id} shows it, and the pages end
    items = first.json()["items"] + second.json()["items"]
    assert [j["job_id"] for j in items] == job_ids[::-1]
    assert items == [_job(stack, list_id, j).json() for j in job_ids[::-1]]
    assert [j["status"] for j in items] == ["completed"] * 3
    assert second.json()["next_cursor"] is None
    # A rep sees none of them (the admin started them)
    assert stack.request("GET", path, claims=REP).json()["items"] == []
    # Another list has none; another tenant gets 404; a cursor from elsewhere or garbage gets 400
    assert stack.request("GET", f"/lists/{other_list}/jobs", claims=ADMIN).json() == {
        "items": [],
        "next_cursor": None,
    }
    other = stack.request("GET", path, claims=OTHER)
    assert (other.status, other.json()["error"]["code"]) == (404, "list_not_found")
    cursor = first.json()["next_cursor"]
    for target, bad_cursor in ((path, "garbage"), (f"/lists/{other_list}/jobs", cursor)):
        bad = stack.request("GET", target, query={"cursor": bad_cursor}, claims=ADMIN)
        assert bad.status == 400, bad.text
