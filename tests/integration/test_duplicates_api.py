"""Duplicate detection end to end: scan on demand (202 + job), list pairs with both leads, dismiss (kept
dismissed by a rescan), the scheduled fan-out over tenants, permissions and tenant isolation."""

from __future__ import annotations

from tests.integration.conftest import FakeContext, handler_of


def _lead(stack, claims, **body):
    res = stack.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _seed(stack, claims):
    ids = {
        "ana": _lead(
            stack, claims, first_name="Ana", last_name="Souza", email="ana@acme.com", company="Acme"
        ),
        "ana2": _lead(
            stack, claims, first_name="Ana", last_name="Sousa", email="asousa@acme.com", company="ACME Inc"
        ),
        "john": _lead(stack, claims, first_name="John", last_name="Smith", phone="+14155550101"),
        "john2": _lead(stack, claims, name="Smith John", email="john.smith@gmail.com", phone="+14155550199"),
        "maria": _lead(stack, claims, first_name="Maria", last_name="Garcia", email="mg@x.com"),
        "maria2": _lead(stack, claims, first_name="Maria", last_name="Lopez", email="ml@y.com"),
    }
    return ids


def test_scan_list_dismiss_and_rescan(stack):
    admin = stack.claims("t1", "admin")
    ids = _seed(stack, admin)
    # When a scan is requested
    res = stack.request("POST", "/duplicates/scan", claims=admin)
    assert res.status == 202 and res.json() == {"status": "queued", "tenant_id": "t1"}
    assert stack.request("GET", "/duplicates", claims=admin).json()["items"] == []  # not run yet
    stack.settle()
    # Then the two planted pairs are listed, best first, with both leads and the reasons
    page = stack.request("GET", "/duplicates", claims=admin).json()
    got = {frozenset((p["lead_a"], p["lead_b"])): p for p in page["items"]}
    assert set(got) == {frozenset((ids["ana"], ids["ana2"])), frozenset((ids["john"], ids["john2"]))}
    scores = [p["score"] for p in page["items"]]
    assert scores == sorted(scores, reverse=True)
    ana = got[frozenset((ids["ana"], ids["ana2"]))]
    assert "same company" in ana["reasons"] and "same email domain (acme.com)" in ana["reasons"]
    assert {ana["lead_a_summary"]["lead_id"], ana["lead_b_summary"]["lead_id"]} == {ids["ana"], ids["ana2"]}
    # min_score filters
    high = stack.request("GET", "/duplicates", query={"min_score": ana["score"]}, claims=admin).json()[
        "items"
    ]
    assert all(p["score"] >= ana["score"] for p in high) and ana["pair_id"] in {p["pair_id"] for p in high}

    # When a pair is dismissed and the tenant rescanned
    res = stack.request("POST", f"/duplicates/{ana['pair_id']}/dismiss", claims=admin)
    assert res.status == 200 and res.json()["status"] == "dismissed"
    stack.request("POST", "/duplicates/scan", claims=admin)
    stack.settle()
    # Then it stays dismissed, listed under status=dismissed only
    open_ids = {p["pair_id"] for p in stack.request("GET", "/duplicates", claims=admin).json()["items"]}
    assert ana["pair_id"] not in open_ids and len(open_ids) == 1
    dismissed = stack.request("GET", "/duplicates", query={"status": "dismissed"}, claims=admin).json()[
        "items"
    ]
    assert [p["pair_id"] for p in dismissed] == [ana["pair_id"]]

    # and pages follow the cursor
    first = stack.request(
        "GET", "/duplicates", query={"limit": 1, "status": "dismissed"}, claims=admin
    ).json()
    assert len(first["items"]) == 1


def test_schedule_fans_out_one_scan_per_tenant(stack):
    _seed(stack, stack.claims("t1", "admin"))
    _lead(stack, stack.claims("t2", "admin"), name="Zed Zulu", email="z1@z.com")
    _lead(stack, stack.claims("t2", "admin"), name="Zed Zulu", email="z2@zz.com")
    # When the scheduler invokes the jobs worker with the schedule's Input
    result = handler_of("JobsWorkerFunction")(
        {"kind": "duplicates.scan_all"}, FakeContext("JobsWorkerFunction")
    )
    assert result == {"ran": "duplicates.scan_all"}
    stack.settle()
    # Then each tenant got its own pairs, and sees only its own
    t1 = stack.request("GET", "/duplicates", claims=stack.claims("t1", "admin")).json()["items"]
    t2 = stack.request("GET", "/duplicates", claims=stack.claims("t2", "admin")).json()["items"]
    assert len(t1) == 2 and len(t2) == 1
    assert {p["pair_id"] for p in t1}.isdisjoint({p["pair_id"] for p in t2})
    # and another tenant's pair cannot be dismissed (404, nothing leaks)
    res = stack.request("POST", f"/duplicates/{t1[0]['pair_id']}/dismiss", claims=stack.claims("t2", "admin"))
    assert res.status == 404


def test_reps_cannot_scan_and_only_see_their_pairs(stack):
    admin = stack.claims("t1", "admin")
    _seed(stack, admin)
    rep = stack.claims("t1", "rep", "rep-1")
    assert stack.request("POST", "/duplicates/scan", claims=rep).status == 403
    stack.request("POST", "/duplicates/scan", claims=admin)
    stack.settle()
    # unassigned leads are visible to reps, so the rep sees the pairs; assign one lead away and it vanishes
    pairs = stack.request("GET", "/duplicates", claims=rep).json()["items"]
    assert len(pairs) == 2
    lead = pairs[0]["lead_a"]
    assert (
        stack.request("PATCH", f"/leads/{lead}", json_body={"owner_id": "rep-2"}, claims=admin).status == 200
    )
    assert len(stack.request("GET", "/duplicates", claims=rep).json()["items"]) == 1
    assert stack.request("POST", f"/duplicates/{pairs[0]['pair_id']}/dismiss", claims=rep).status == 403
    assert stack.request("POST", "/duplicates/nope/dismiss", claims=admin).status == 404
    assert stack.request("GET", "/duplicates", query={"cursor": "garbage"}, claims=admin).status == 400
