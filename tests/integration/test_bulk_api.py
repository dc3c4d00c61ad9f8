"""Bulk actions end to end over the template's routes and the jobs worker (moto): each kind with its
side effects (timeline, events, dashboard counters), partial success, chunk redelivery, isolation."""

import pytest

from leadtide.jobs.dispatch import run_job
from leadtide.wiring import Wiring

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
REP = {"sub": "u-rep", "custom:tenant_id": "acme", "custom:role": "rep"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}
MISSING = "f" * 32


def _lead(stack, claims=ADMIN, **body):
    res = stack.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _bulk(stack, claims=ADMIN, **body):
    res = stack.request("POST", "/bulk-actions", json_body=body, claims=claims)
    assert res.status == 202, res.text
    return res.json()


def _get(stack, bulk_action_id, claims=ADMIN):
    res = stack.request("GET", f"/bulk-actions/{bulk_action_id}", claims=claims)
    assert res.status == 200, res.text
    return res.json()


@pytest.fixture
def team(stack):
    return {
        "admin1": _lead(stack, name="Ana", email="ana@example.com", tags=["old"]),
        "admin2": _lead(stack, name="Bea", email="bea@example.com", owner_id="u-other-rep"),
        "rep1": _lead(stack, REP, name="Caio", email="caio@example.com"),
        "free": _lead(stack, name="Duda", email="duda@example.com"),
        "globex": _lead(stack, OTHER, name="Globex", email="g@example.com"),
    }


def test_set_status_like_patch(stack, team):
    ids = [team["admin1"], team["rep1"], team["free"]]
    action = _bulk(stack, selection={"lead_ids": ids}, action="set_status", params={"status": "Contacted"})
    assert action["status"] == "queued"
    stack.settle()
    done = _get(stack, action["bulk_action_id"])
    assert {k: done[k] for k in ("status", "total", "processed", "succeeded", "failed", "skipped")} == {
        "status": "completed",
        "total": 3,
        "processed": 3,
        "succeeded": 3,
        "failed": 0,
        "skipped": 0,
    }
    for lead_id in ids:
        lead = stack.request("GET", f"/leads/{lead_id}", claims=ADMIN).json()
        assert lead["status"] == "Contacted"
        timeline = stack.request("GET", f"/leads/{lead_id}/activities", claims=ADMIN).json()["items"]
        assert [a["type"] for a in timeline] == ["status_change"]
    summary = stack.request("GET", "/dashboard/summary", claims=ADMIN).json()
    assert summary["by_status"] == {"New": 1, "Contacted": 3}


def test_partial_success_for_a_rep(stack, team):
    ids = [team["rep1"], team["free"], team["admin2"], MISSING, team["globex"]]
    action = _bulk(stack, REP, selection={"lead_ids": ids}, action="add_tags", params={"tags": ["spring"]})
    stack.settle()
    done = _get(stack, action["bulk_action_id"], REP)
    assert (done["total"], done["succeeded"], done["failed"], done["skipped"]) == (5, 2, 1, 2)
    failures = {(f["lead_id"], f["outcome"], f["reason"]) for f in done["report"]["failures"]}
    assert failures == {
        (team["admin2"], "failed", "forbidden"),
        (MISSING, "skipped", "not found"),
        (team["globex"], "skipped", "not found"),
    }
    assert stack.request("GET", f"/leads/{team['rep1']}", claims=ADMIN).json()["tags"] == ["spring"]
    assert stack.request("GET", f"/leads/{team['admin2']}", claims=ADMIN).json()["tags"] == []
    assert stack.request("GET", f"/leads/{team['globex']}", claims=OTHER).json()["tags"] == []


def test_set_owner_remove_tags_and_delete_by_filter(stack, team):
    _bulk(stack, selection={"lead_ids": [team["free"]]}, action="set_owner", params={"owner_id": "u-rep"})
    _bulk(stack, selection={"filter": {"q": "ana"}}, action="remove_tags", params={"tags": ["old"]})
    stack.settle()
    assert stack.request("GET", f"/leads/{team['free']}", claims=ADMIN).json()["owner_id"] == "u-rep"
    assert stack.request("GET", f"/leads/{team['admin1']}", claims=ADMIN).json()["tags"] == []
    # delete everything owned by u-rep (rep1 and, now, free)
    action = _bulk(stack, selection={"filter": {"owner": "u-rep"}}, action="delete")
    stack.settle()
    done = _get(stack, action["bulk_action_id"])
    assert (done["status"], done["succeeded"]) == ("completed", 2)
    assert stack.request("GET", f"/leads/{team['free']}", claims=ADMIN).status == 404
    assert stack.request("GET", "/dashboard/summary", claims=ADMIN).json()["total_leads"] == 2
    # the email is free again: the identities went with the lead
    _lead(stack, name="Caio again", email="caio@example.com")


def test_export_action_produces_an_export(stack, team):
    action = _bulk(stack, selection={"lead_ids": [team["admin1"]]}, action="export", params={"format": "csv"})
    assert action["export_id"]
    stack.settle()
    done = _get(stack, action["bulk_action_id"])
    assert done["status"] == "completed" and done["total"] == 1 and done["download"]["url"]
    export = stack.request("GET", f"/exports/{action['export_id']}", claims=ADMIN).json()
    assert export["status"] == "completed" and export["rows"] == 1


def test_a_redelivered_chunk_step_changes_no_count(stack, team, monkeypatch):
    # Given: a planned action whose chunk steps we deliver by hand
    action = _bulk(
        stack,
        selection={"lead_ids": [team["admin1"], team["free"]]},
        action="set_status",
        params={"status": "Lost"},
    )
    captured: list[dict] = []
    wiring = Wiring(enqueue_jobs=captured.extend)
    run_job({"kind": "bulk.plan", "tenant_id": "acme", "bulk_action_id": action["bulk_action_id"]}, wiring)
    (chunk,) = [m for m in captured if m["kind"] == "bulk.chunk"]
    # When: the same step runs twice (SQS redelivery)
    run_job(chunk, wiring)
    first = _get(stack, action["bulk_action_id"])
    run_job(chunk, wiring)
    second = _get(stack, action["bulk_action_id"])
    # Then: counts, status and timeline are unchanged by the second run
    assert first == second
    assert (second["status"], second["processed"], second["succeeded"]) == ("completed", 2, 2)
    timeline = stack.request("GET", f"/leads/{team['free']}/activities", claims=ADMIN).json()["items"]
    assert [a["type"] for a in timeline] == ["status_change"]


def test_up_front_refusals(stack, team):
    everyone = {"filter": {}}
    cases = [
        (REP, {"selection": everyone, "action": "delete"}, 403),
        (REP, {"selection": everyone, "action": "set_owner", "params": {"owner_id": "u-admin"}}, 403),
        (ADMIN, {"selection": everyone, "action": "set_status", "params": {"status": "Won"}}, 422),
        (ADMIN, {"selection": everyone, "action": "set_owner", "params": {"owner_id": 7}}, 422),
        (ADMIN, {"selection": everyone, "action": "add_tags", "params": {"tags": []}}, 422),
        (ADMIN, {"selection": everyone, "action": "add_to_list", "params": {"list_id": "nope"}}, 404),
        (ADMIN, {"selection": {}, "action": "delete"}, 422),
        (ADMIN, {"selection": everyone, "action": "archive"}, 422),
    ]
    for claims, body, status in cases:
        res = stack.request("POST", "/bulk-actions", json_body=body, claims=claims)
        assert res.status == status, (body, res.text)
        assert res.json()["error"]["message"]
    assert stack.queue_depth("JobsQueue") == 0


def test_history_and_tenant_isolation(stack, team):
    action = _bulk(stack, selection={"lead_ids": [team["admin1"]]}, action="add_tags", params={"tags": ["x"]})
    stack.settle()
    assert stack.request("GET", f"/bulk-actions/{action['bulk_action_id']}", claims=OTHER).status == 404
    assert stack.request("GET", "/bulk-actions", claims=OTHER).json()["items"] == []
    assert stack.request("GET", f"/bulk-actions/{action['bulk_action_id']}", claims=REP).status == 403
    listed = stack.request("GET", "/bulk-actions", claims=ADMIN).json()["items"]
    assert [a["bulk_action_id"] for a in listed] == [action["bulk_action_id"]]
    assert listed[0]["report"] is None and listed[0]["status"] == "completed"
    # a globex admin's bulk action cannot touch acme's leads
    other = _bulk(stack, OTHER, selection={"lead_ids": [team["admin1"]]}, action="delete")
    stack.settle()
    assert _get(stack, other["bulk_action_id"], OTHER)["skipped"] == 1
    assert stack.request("GET", f"/leads/{team['admin1']}", claims=ADMIN).status == 200


def test_ten_thousand_ids_fit_one_request(stack, team):
    # Given: the largest explicit selection (10,000 ids), all but two of them unknown
    ids = [f"{i:032x}" for i in range(9_998)] + [team["admin1"], team["free"]]
    # When: both an export and a bulk action of it run
    export = stack.request(
        "POST", "/exports", json_body={"format": "csv", "selection": {"lead_ids": ids}}, claims=ADMIN
    )
    assert export.status == 202, export.text
    action = _bulk(stack, selection={"lead_ids": ids}, action="add_tags", params={"tags": ["bulk"]})
    stack.settle()
    # Then: the export has the two real leads; the action processed 20 chunks and lists 1,000 skips inline,
    # all 9,998 in the downloadable CSV
    done = stack.request("GET", f"/exports/{export.json()['export_id']}", claims=ADMIN).json()
    assert (done["status"], done["rows"]) == ("completed", 2)
    result = _get(stack, action["bulk_action_id"])
    assert (result["status"], result["total"], result["succeeded"], result["skipped"]) == (
        "completed",
        10_000,
        2,
        9_998,
    )
    assert result["selection"] == {"lead_ids": 10_000}
    assert len(result["report"]["failures"]) == 1000 and result["report"]["truncated"]
    import requests

    failures = requests.get(result["report"]["download"]["url"], timeout=10).content.decode("utf-8-sig")
    assert len(failures.strip().splitlines()) == 9_998 + 1
    assert stack.request("GET", f"/leads/{team['free']}", claims=ADMIN).json()["tags"] == ["bulk"]
