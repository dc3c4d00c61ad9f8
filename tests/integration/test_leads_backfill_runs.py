"""Backfill run records over the API on the local stack (moto): ``POST /admin/backfill`` answers 202 with the
run's status URL; once the jobs queue has run every step, ``GET /admin/backfill/{run_id}`` shows the run
completed with the totals of the pages the job computed, each counted once (a step redelivered after it
was recorded counts nothing: the DynamoDB condition on ``steps``); ``GET /admin/backfill`` lists the
tenant's runs newest first in pages; managers get 403, another tenant 404."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pytest

from leadtide.dal.backfill_runs import DynamoBackfillRunRepository
from leadtide.leads.backfill import LeadBackfillService
from leadtide.leads.ports import BackfillCounts
from leadtide.models.backfill import BackfillRunRecord
from leadtide.wiring import get_wiring
from tests.integration.test_leads_backfill import ADMIN, MANAGER, OTHER, _create, _strip


def _start(stack, claims=ADMIN) -> dict[str, Any]:
    res = stack.request("POST", "/admin/backfill", claims=claims)
    assert res.status == 202, res.text
    return dict(res.json())


def _run(stack, run_id: str, claims=ADMIN) -> dict[str, Any]:
    res = stack.request("GET", f"/admin/backfill/{run_id}", claims=claims)
    assert res.status == 200, res.text
    return dict(res.json())


def test_a_run_completes_with_the_totals_the_job_computed(stack, monkeypatch):
    # Given 5 leads of which 3 are stripped of their derived attributes, and 2 profiles per step
    ids = [_create(stack, email=f"l{i}@acme.example", company="Acme") for i in range(5)]
    stack.settle()
    for lead_id in ids[:3]:
        _strip("t1", lead_id)
    monkeypatch.setattr("leadtide.leads.backfill.PAGE_SIZE", 2)
    pages: list[BackfillCounts] = []
    real_step = LeadBackfillService.step

    def spy(self, *args, **kwargs):
        counts, cursor = real_step(self, *args, **kwargs)
        pages.append(counts)
        return counts, cursor

    monkeypatch.setattr(LeadBackfillService, "step", spy)
    # When an admin starts a backfill
    accepted = _start(stack)
    run_id = accepted["run_id"]
    assert accepted["status_url"] == f"/admin/backfill/{run_id}"
    assert accepted["run"]["status"] == "running" and accepted["run"]["steps"] == 0
    queued = _run(stack, run_id)
    assert (queued["status"], queued["steps"], queued["scanned"]) == ("running", 0, 0)
    stack.settle()
    # Then the run is completed with the sum of the pages' counts
    run = _run(stack, run_id)
    total = BackfillCounts()
    for page in pages:
        total = total.add(page)
    assert len(pages) == 3  # 2 + 2 + 1 profiles
    assert run["status"] == "completed" and run["steps"] == 3 and run["error"] is None
    assert run["finished_at"] is not None and run["started_by"] == ADMIN["sub"]
    assert {k: run[k] for k in asdict(total)} == asdict(total)
    assert (run["scanned"], run["updated"], run["up_to_date"]) == (5, 3, 2)
    for name in ("cond_pk", "cond_sk", "search_text", "identity_keys"):
        assert run["attributes"][name] == 3
    # and a second run finds everything up to date
    second = _start(stack)["run_id"]
    stack.settle()
    again = _run(stack, second)
    assert again["status"] == "completed"
    assert (again["scanned"], again["updated"], again["up_to_date"]) == (5, 0, 5)
    assert again["attributes"] == {}


def test_runs_list_newest_first_in_pages(stack):
    _create(stack, email="only@acme.example")
    ids = []
    for _ in range(3):
        ids.append(_start(stack)["run_id"])
        stack.settle()
    res = stack.request("GET", "/admin/backfill", query={"limit": 2}, claims=ADMIN)
    assert res.status == 200, res.text
    first = res.json()
    assert [r["run_id"] for r in first["items"]] == ids[::-1][:2]
    assert all(r["status"] == "completed" and r["scanned"] == 1 for r in first["items"])
    res = stack.request("GET", "/admin/backfill", query={"cursor": first["next_cursor"]}, claims=ADMIN)
    assert res.status == 200, res.text
    assert [r["run_id"] for r in res.json()["items"]] == ids[:1]
    assert res.json()["next_cursor"] is None
    # a malformed cursor, or one from another tenant, is a 400; limit is 1-100
    bad = stack.request("GET", "/admin/backfill", query={"cursor": "garbage"}, claims=ADMIN)
    assert bad.status == 400, bad.text
    foreign = stack.request("GET", "/admin/backfill", query={"cursor": first["next_cursor"]}, claims=OTHER)
    assert foreign.status == 400, foreign.text
    assert stack.request("GET", "/admin/backfill", query={"limit": 101}, claims=ADMIN).status == 422
    # another tenant has no runs
    other = stack.request("GET", "/admin/backfill", claims=OTHER)
    assert other.status == 200 and other.json()["items"] == []


@pytest.mark.parametrize("claims", [MANAGER, {**MANAGER, "custom:role": "rep"}])
def test_only_admins_read_runs(stack, claims):
    run_id = _start(stack)["run_id"]
    for path in (f"/admin/backfill/{run_id}", "/admin/backfill"):
        res = stack.request("GET", path, claims=claims)
        assert res.status == 403, res.text
        assert res.json()["error"]["code"] == "admin_only"


def test_another_tenants_run_and_unknown_runs_are_404(stack):
    run_id = _start(stack)["run_id"]
    for path, claims in (
        (f"/admin/backfill/{run_id}", OTHER),
        (f"/admin/backfill/{'0' * 32}", ADMIN),
        ("/admin/backfill/not-a-run", ADMIN),
    ):
        res = stack.request("GET", path, claims=claims)
        assert res.status == 404, res.text
        assert res.json()["error"]["code"] == "backfill_run_not_found"


def test_a_step_recorded_twice_counts_once_in_dynamodb(stack):
    # Given a running run (written by the DynamoDB repository itself)
    repo = get_wiring().backfill_run_repository
    assert isinstance(repo, DynamoBackfillRunRepository)
    now = datetime(2025, 3, 1, tzinfo=UTC)
    record = BackfillRunRecord(
        tenant_id="t1", run_id="1" * 32, status="running", started_by="u", started_at=now
    )
    repo.create(record)
    page = BackfillCounts(scanned=3, updated=2, up_to_date=1, attributes={"cond_pk": 2, "identity_keys": 1})
    # When step 1 is recorded twice (SQS redelivery), then step 3 before step 2, then step 2 as the last
    assert repo.record_step("t1", record.run_id, step=1, counts=page, cursor="c1", finished_at=None)
    assert not repo.record_step("t1", record.run_id, step=1, counts=page, cursor="c1", finished_at=None)
    assert not repo.record_step("t1", record.run_id, step=3, counts=page, cursor=None, finished_at=now)
    last = BackfillCounts(scanned=1, skipped_concurrent=1, attributes={"cond_pk": 5})
    assert repo.record_step("t1", record.run_id, step=2, counts=last, cursor=None, finished_at=now)
    # Then each step counted once, the map entries summed, and the run completed
    run = repo.get("t1", record.run_id)
    assert (run.status, run.steps, run.cursor, run.finished_at) == ("completed", 2, None, now)
    assert (run.scanned, run.updated, run.up_to_date, run.skipped_concurrent) == (4, 2, 1, 1)
    assert run.attributes == {"cond_pk": 7, "identity_keys": 1}
    # and a completed run neither counts nor fails any more
    assert not repo.record_step("t1", record.run_id, step=3, counts=page, cursor=None, finished_at=now)
    assert not repo.fail("t1", record.run_id, error="late", finished_at=now)
    assert repo.get("t1", record.run_id).status == "completed"
