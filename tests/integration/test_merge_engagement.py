"""Behaviour engagement across a lead merge, through the API against the real dal in moto: the merged
lead's tracked events (its engagement record) fold into the survivor's, so rule-based scores and segment
activity conditions count them one settle later; a redelivered finish step does not count them twice; undo
puts both records back exactly (or keeps on the survivor what arrived after the merge, and says so)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from leadtide.settings import get_settings
from leadtide.wiring import get_wiring

OPEN = {"id": "eng.open", "label": "Opened", "event_type": "email_opened", "points": 5}
REPLY = {"id": "eng.reply", "label": "Replied", "event_type": "email_replied", "points": 10}
OPENED_5 = {"field": "activity_count.email_opened", "op": "gte", "value": 5}


@pytest.fixture
def admin(stack):
    return stack.claims("t1", "admin", "boss")


def _lead(stack, admin, email) -> str:
    res = stack.request("POST", "/leads", json_body={"email": email}, claims=admin)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _events(stack, admin, lead_id, *events) -> None:
    body = {
        "events": [
            {"event_id": eid, "type": type_, "lead": {"lead_id": lead_id}, "occurred_at": at.isoformat()}
            for eid, type_, at in events
        ]
    }
    res = stack.request("POST", "/events", json_body=body, claims=admin)
    assert res.status == 200 and res.json()["accepted"] == len(events), res.text


def _activate_model(stack, admin) -> None:
    res = stack.request(
        "POST",
        "/scoring-models",
        json_body={"name": "Behaviour", "decay": None, "behaviour_rules": [OPEN, REPLY]},
        claims=admin,
    )
    assert res.status == 201, res.text
    res = stack.request("POST", f"/scoring-models/{res.json()['model_id']}/activate", claims=admin)
    assert res.status == 200, res.text


def _segment(stack, admin) -> str:
    res = stack.request(
        "POST", "/segments", json_body={"name": "opened 5+", "include": OPENED_5}, claims=admin
    )
    assert res.status == 201, res.text
    return res.json()["segment_id"]


def _members(stack, admin, segment_id) -> set[str]:
    res = stack.request("GET", f"/segments/{segment_id}/leads", query={"limit": 100}, claims=admin)
    assert res.status == 200, res.text
    return {row["lead_id"] for row in res.json()["items"]}


def _table():
    return boto3.resource("dynamodb").Table(get_settings().leads_table)


def _engagement(lead_id: str) -> dict | None:
    return (
        _table()
        .get_item(Key={"pk": f"T#t1#L#{lead_id}", "sk": "ENGAGEMENT"}, ConsistentRead=True)
        .get("Item")
    )


def _summary(lead_id: str) -> dict:
    item = _table().get_item(Key={"pk": f"T#t1#L#{lead_id}", "sk": "PROFILE"}, ConsistentRead=True)["Item"]
    return {k: item.get(k) for k in ("last_engaged", "engaged_counts", "engaged_version")}


def _parked(merge_id: str) -> list[dict]:
    return _table().query(
        KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": f"T#t1#MERGE#{merge_id}"}
    )["Items"]


def _merge(stack, admin, survivor, merged) -> str:
    res = stack.request(
        "POST", "/leads/merge", json_body={"survivor_id": survivor, "merged_ids": [merged]}, claims=admin
    )
    assert res.status == 200 and res.json()["status"] == "completed", res.text
    return res.json()["merge_id"]


def _get(stack, admin, lead_id) -> dict:
    res = stack.request("GET", f"/leads/{lead_id}", claims=admin)
    assert res.status == 200, res.text
    return res.json()


def _add(*counts: dict[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


def test_merge_folds_engagement_into_score_and_segments_and_undo_restores_both(stack, admin):
    # Given a behaviour scoring model, a segment of leads with 5+ opens, and two leads with tracked events
    now = datetime.now(UTC)
    _activate_model(stack, admin)
    seg = _segment(stack, admin)
    survivor = _lead(stack, admin, "ana@acme.com")
    dup = _lead(stack, admin, "ana.silva@gmail.com")
    _events(
        stack,
        admin,
        survivor,
        ("s-o1", "email_opened", now - timedelta(days=3)),
        ("s-o2", "email_opened", now - timedelta(days=1)),
        ("s-r1", "email_replied", now - timedelta(hours=5)),
    )
    _events(
        stack,
        admin,
        dup,
        ("d-o1", "email_opened", now - timedelta(days=4)),
        ("d-o2", "email_opened", now - timedelta(days=2)),
        ("d-o3", "email_opened", now - timedelta(hours=1)),
        ("d-r1", "email_replied", now - timedelta(hours=2)),
    )
    stack.settle()
    s_before, d_before = _get(stack, admin, survivor), _get(stack, admin, dup)
    assert s_before["score"] == 2 * 5 + 10 and d_before["score"] == 3 * 5 + 10
    assert _members(stack, admin, seg) == set()  # 2 and 3 opens: neither has 5
    eng_before = {lead: _engagement(lead) for lead in (survivor, dup)}
    summary_before = {lead: _summary(lead) for lead in (survivor, dup)}
    assert all(eng_before.values())

    # When the duplicate is merged into the survivor and the events settle
    merge_id = _merge(stack, admin, survivor, dup)
    stack.settle()

    # Then the survivor's engagement record is the union of both, its counts the sums
    merged_eng = _engagement(survivor)
    assert _engagement(dup) is None
    want_ids = {
        t: sorted(e[1] for rec in eng_before.values() for e in json.loads(rec["occ"]).get(t, []))
        for t in ("email_opened", "email_replied")
    }
    got = _get(stack, admin, survivor)
    assert got["engaged_counts"] == _add(s_before["engaged_counts"], d_before["engaged_counts"])
    assert got["engaged_counts"] == {"email_opened": 5, "email_replied": 2}
    stored_occ = json.loads(merged_eng["occ"])  # a JSONAttribute: a string in DynamoDB
    assert {t: sorted(e[1] for e in entries) for t, entries in stored_occ.items()} == want_ids
    assert all([e[0] for e in entries] == sorted(e[0] for e in entries) for entries in stored_occ.values())
    assert got["last_engaged"]["email_opened"] == d_before["last_engaged"]["email_opened"]
    # and the score, re-scored within one hop of the merge, includes the merged lead's behaviour points
    assert got["score"] == s_before["score"] + d_before["score"]
    history = stack.request("GET", f"/leads/{survivor}/score-history", claims=admin).json()["items"]
    assert history[0]["cause"] == "profile changed: merged" and history[0]["score"] == got["score"]
    # and the activity_count segment sees the combined count
    assert _members(stack, admin, seg) == {survivor}

    # When the merge is undone and the events settle
    res = stack.request("POST", f"/merges/{merge_id}/undo", claims=admin)
    assert res.status == 200, res.text
    stack.settle()
    # Then both engagement records are back exactly, with their profile summaries, and nothing is parked
    assert {lead: _engagement(lead) for lead in (survivor, dup)} == eng_before
    assert {lead: _summary(lead) for lead in (survivor, dup)} == summary_before
    assert _parked(merge_id) == []
    assert _get(stack, admin, survivor)["score"] == s_before["score"]
    assert _get(stack, admin, dup)["score"] == d_before["score"]
    assert _members(stack, admin, seg) == set()
    notes = stack.request("GET", f"/merges/{merge_id}", claims=admin).json()["undo_notes"]
    assert not any("behaviour events" in n for n in notes)


def test_a_redelivered_engagement_step_does_not_count_twice(stack, admin, monkeypatch):
    from leadtide.duplicates.merge import run_finish_job
    from leadtide.models.auth import Principal
    from leadtide.models.common import Role
    from leadtide.models.duplicates import MergeRequest

    now = datetime.now(UTC)
    survivor = _lead(stack, admin, "bo@acme.com")
    dup = _lead(stack, admin, "bo.li@gmail.com")
    _events(stack, admin, survivor, ("a1", "email_clicked", now - timedelta(hours=3)))
    _events(
        stack,
        admin,
        dup,
        ("b1", "email_clicked", now - timedelta(hours=2)),
        ("b2", "email_clicked", now - timedelta(hours=1)),
    )
    stack.settle()
    service = get_wiring().merge_service
    engagement = service._engagement
    real_fold = engagement.fold

    def fold_then_die(*args):
        real_fold(*args)  # the fold transaction commits, then the Lambda times out
        raise TimeoutError("Lambda timed out")

    # Given a merge whose finish step died right after folding the engagement record
    monkeypatch.setattr(engagement, "fold", fold_then_die)
    principal = Principal(tenant_id="t1", user_id="boss", role=Role.ADMIN)
    with pytest.raises(TimeoutError):
        service.merge(principal, MergeRequest(survivor_id=survivor, merged_ids=[dup]))
    merge_id = stack.request("GET", "/merges", claims=admin).json()["items"][0]["merge_id"]
    assert stack.request("GET", f"/merges/{merge_id}", claims=admin).json()["status"] == "moving"
    folded = _engagement(survivor)
    assert _get(stack, admin, survivor)["engaged_counts"] == {"email_clicked": 3}

    # When the step is redelivered (the jobs-queue kind), and the fold is run once more by hand
    monkeypatch.setattr(engagement, "fold", real_fold)
    run_finish_job({"kind": "merges.finish", "tenant_id": "t1", "merge_id": merge_id}, get_wiring())
    assert real_fold("t1", merge_id, survivor, dup) is False
    stack.settle()

    # Then the merge completes with every occurrence counted once and the record written once
    assert stack.request("GET", f"/merges/{merge_id}", claims=admin).json()["status"] == "completed"
    assert _engagement(survivor) == folded
    got = _get(stack, admin, survivor)
    assert got["engaged_counts"] == {"email_clicked": 3}
    assert int(_summary(survivor)["engaged_version"]) == int(folded["version"])


def test_undo_keeps_events_that_reached_the_survivor_after_the_merge(stack, admin):
    now = datetime.now(UTC)
    survivor = _lead(stack, admin, "cy@acme.com")
    dup = _lead(stack, admin, "cy.one@gmail.com")
    _events(stack, admin, survivor, ("c1", "email_opened", now - timedelta(days=2)))
    _events(stack, admin, dup, ("c2", "email_opened", now - timedelta(days=1)), ("c3", "form_submitted", now))
    stack.settle()
    dup_before = _engagement(dup)
    merge_id = _merge(stack, admin, survivor, dup)
    # When a reply is tracked on the survivor after the merge, then the merge is undone
    _events(stack, admin, survivor, ("c4", "email_replied", now + timedelta(minutes=1)))
    res = stack.request("POST", f"/merges/{merge_id}/undo", claims=admin)
    assert res.status == 200, res.text
    stack.settle()
    # Then the merged lead's record is back exactly, and the survivor keeps its own events plus the reply
    assert _engagement(dup) == dup_before
    assert _get(stack, admin, dup)["engaged_counts"] == {"email_opened": 1, "form_submitted": 1}
    assert _get(stack, admin, survivor)["engaged_counts"] == {"email_opened": 1, "email_replied": 1}
    assert _parked(merge_id) == []
    notes = stack.request("GET", f"/merges/{merge_id}", claims=admin).json()["undo_notes"]
    assert any("behaviour events recorded on the survivor after the merge" in n for n in notes)


def test_undo_without_engagement_to_fold_keeps_the_survivor_summary_current(stack, admin):
    # Given a survivor with tracked events and a duplicate without any
    now = datetime.now(UTC)
    survivor = _lead(stack, admin, "di@acme.com")
    dup = _lead(stack, admin, "di.ho@gmail.com")
    _events(stack, admin, survivor, ("e1", "email_opened", now - timedelta(days=1)))
    stack.settle()
    merge_id = _merge(stack, admin, survivor, dup)
    assert _parked(merge_id) == []  # nothing to fold, nothing kept
    # When a click reaches the survivor after the merge, then the merge is undone
    _events(stack, admin, survivor, ("e2", "email_clicked", now))
    assert stack.request("POST", f"/merges/{merge_id}/undo", claims=admin).status == 200
    stack.settle()
    # Then the survivor's summary (restored from the before-image) still shows the click
    assert _get(stack, admin, survivor)["engaged_counts"] == {"email_opened": 1, "email_clicked": 1}
    assert _engagement(dup) is None and not _get(stack, admin, dup)["engaged_counts"]


def test_a_fold_that_keeps_losing_races_finishes_on_the_jobs_queue(stack, admin, monkeypatch):
    from leadtide.models.errors import ConflictError

    now = datetime.now(UTC)
    survivor = _lead(stack, admin, "eve@acme.com")
    dup = _lead(stack, admin, "eve.ng@gmail.com")
    _events(stack, admin, survivor, ("f1", "email_opened", now - timedelta(hours=2)))
    _events(stack, admin, dup, ("f2", "email_opened", now - timedelta(hours=1)))
    stack.settle()
    engagement = get_wiring().merge_service._engagement
    real_fold, failures = engagement.fold, []

    def busy_once(*args):
        if not failures:
            failures.append(args)
            raise ConflictError("the survivor's engagement record kept changing; retry")
        return real_fold(*args)

    monkeypatch.setattr(engagement, "fold", busy_once)
    # When the fold loses its races during the request, the merge still answers 200 (it is committed)
    res = stack.request(
        "POST", "/leads/merge", json_body={"survivor_id": survivor, "merged_ids": [dup]}, claims=admin
    )
    assert res.status == 200 and res.json()["status"] == "moving", res.text
    # Then the jobs queue finishes it, with the engagement folded
    stack.settle()
    merge_id = res.json()["merge_id"]
    assert stack.request("GET", f"/merges/{merge_id}", claims=admin).json()["status"] == "completed"
    assert _get(stack, admin, survivor)["engaged_counts"] == {"email_opened": 2}
