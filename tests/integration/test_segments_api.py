"""Segments over the template's routes: CRUD, background build, preview vs brute force, membership kept
current within one event hop (status, score, tags, list membership, deletion), segment events, tenants."""

import json

import boto3

from leadtide.conditions import compile_rules

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
REP = {"sub": "u-rep", "custom:tenant_id": "acme", "custom:role": "rep"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}


def _lead(stack, claims=ADMIN, **body):
    res = stack.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()


def _segment(stack, include, exclude=None, claims=ADMIN, name="seg"):
    body = {"name": name, "include": include}
    if exclude is not None:
        body["exclude"] = exclude
    res = stack.request("POST", "/segments", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()


def _members(stack, segment_id, claims=ADMIN):
    res = stack.request("GET", f"/segments/{segment_id}/leads", query={"limit": 100}, claims=claims)
    assert res.status == 200, res.text
    return {row["lead_id"] for row in res.json()["items"]}


def _get(stack, segment_id, claims=ADMIN):
    res = stack.request("GET", f"/segments/{segment_id}", claims=claims)
    assert res.status == 200, res.text
    return res.json()


def _capture_segment_events(stack):
    """Route segment.* events to a fresh queue, as an automation would subscribe to them."""
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="segment-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = (
        stack.resources.physical_name("LeadtideEventBus")
        if hasattr(stack.resources, "physical_name")
        else None
    )
    bus = bus or next(b for b in events.list_event_buses()["EventBuses"] if b["Name"] != "default")["Name"]
    events.put_rule(
        Name="segment-events",
        EventBusName=bus,
        EventPattern=json.dumps({"detail-type": ["segment.entered", "segment.exited"]}),
    )
    events.put_targets(Rule="segment-events", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    def read():
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for m in got:
                body = json.loads(m["Body"])
                out.append(
                    (body["detail-type"], body["detail"]["lead_id"], body["detail"]["data"]["segment_id"])
                )
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return read


def test_segment_builds_in_background_then_follows_lead_changes_within_one_hop(stack):
    # Given leads of two statuses and a segment of "Contacted leads not tagged spam"
    a = _lead(stack, email="a@example.com", status="Contacted", tags=["vip"])
    b = _lead(stack, email="b@example.com", status="New")
    c = _lead(stack, email="c@example.com", status="Contacted", tags=["spam"])
    stack.settle()
    read_events = _capture_segment_events(stack)
    seg = _segment(
        stack,
        {"all": [{"field": "status", "op": "eq", "value": "Contacted"}]},
        {"field": "tags", "op": "has_any", "value": ["SPAM"]},
    )
    assert seg["status"] == "building" and seg["version"] == 1 and seg["fields"] == ["status", "tags"]
    # When the jobs queue runs the build
    stack.settle()
    # Then the members are exactly the matching leads, the count agrees and the segment is ready
    got = _get(stack, seg["segment_id"])
    assert got["status"] == "ready" and got["count"] == 1
    assert _members(stack, seg["segment_id"]) == {a["lead_id"]}
    assert read_events() == []  # the initial build enrols silently

    # When b changes status (lead.updated -> scoring worker -> refresh), one settle later b is in
    assert (
        stack.request(
            "PATCH", f"/leads/{b['lead_id']}", json_body={"status": "Contacted"}, claims=ADMIN
        ).status
        == 200
    )
    stack.settle()
    assert _members(stack, seg["segment_id"]) == {a["lead_id"], b["lead_id"]}
    # and a gets the excluding tag: it leaves
    stack.request("PATCH", f"/leads/{a['lead_id']}", json_body={"tags": ["spam"]}, claims=ADMIN)
    stack.settle()
    assert _members(stack, seg["segment_id"]) == {b["lead_id"]}
    assert _get(stack, seg["segment_id"])["count"] == 1
    assert sorted(read_events()) == sorted(
        [
            ("segment.entered", b["lead_id"], seg["segment_id"]),
            ("segment.exited", a["lead_id"], seg["segment_id"]),
        ]
    )
    # Deleting a member takes it out of the segment too
    assert stack.request("DELETE", f"/leads/{b['lead_id']}", claims=ADMIN).status == 204
    stack.settle()
    assert _members(stack, seg["segment_id"]) == set()
    assert _get(stack, seg["segment_id"])["count"] == 0
    assert c["lead_id"] not in _members(stack, seg["segment_id"])


def test_score_based_segment_sees_the_new_score_in_the_same_hop(stack):
    # Given a segment of scored leads (score >= 0 means "has been scored")
    seg = _segment(stack, {"field": "score", "op": "gte", "value": 0})
    stack.settle()
    # When a lead is created (lead.created -> rescore -> refresh in the same worker call)
    lead = _lead(stack, email="s@example.com")
    stack.settle()
    # Then it is a member: the refresh ran after the score was stored
    assert _members(stack, seg["segment_id"]) == {lead["lead_id"]}


def test_list_membership_condition_follows_list_changes(stack):
    lead = _lead(stack, email="l@example.com")
    other = _lead(stack, email="m@example.com")
    lst = stack.request("POST", "/lists", json_body={"name": "Fair 2024"}, claims=ADMIN).json()
    seg = _segment(stack, {"field": "lists", "op": "in", "value": lst["list_id"]})
    stack.settle()
    assert _members(stack, seg["segment_id"]) == set()
    res = stack.request(
        "POST", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [lead["lead_id"]]}, claims=ADMIN
    )
    assert res.status == 200 and res.json()["added"] == 1
    stack.settle()
    assert _members(stack, seg["segment_id"]) == {lead["lead_id"]}
    stack.request(
        "DELETE", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [lead["lead_id"]]}, claims=ADMIN
    )
    stack.settle()
    assert _members(stack, seg["segment_id"]) == set()
    assert other["lead_id"] not in _members(stack, seg["segment_id"])


def test_rule_change_moves_version_and_rebuilds(stack):
    a = _lead(stack, email="a@example.com", company="Acme Corp")
    b = _lead(stack, email="b@example.com", company="Globex")
    seg = _segment(stack, {"field": "company", "op": "contains", "value": "acme"})
    stack.settle()
    assert _members(stack, seg["segment_id"]) == {a["lead_id"]}
    res = stack.request(
        "PATCH",
        f"/segments/{seg['segment_id']}",
        json_body={"include": {"field": "company", "op": "starts_with", "value": "glob"}},
        claims=ADMIN,
    )
    assert res.status == 200 and res.json()["version"] == 2 and res.json()["status"] == "building"
    stack.settle()
    assert _members(stack, seg["segment_id"]) == {b["lead_id"]}
    assert _get(stack, seg["segment_id"])["status"] == "ready"
    # rename only: same version
    res = stack.request("PATCH", f"/segments/{seg['segment_id']}", json_body={"name": "Globex"}, claims=ADMIN)
    assert res.json()["version"] == 2 and res.json()["name"] == "Globex"


def test_preview_matches_brute_force_and_respects_reps(stack):
    leads = [
        _lead(stack, email=f"p{i}@example.com", status=["New", "Contacted"][i % 2], company=f"Co {i}")
        for i in range(12)
    ]
    _lead(stack, claims=REP, email="rep@example.com", status="Contacted")
    rules = {
        "any": [
            {"field": "status", "op": "eq", "value": "Contacted"},
            {"field": "company", "op": "ends_with", "value": " 4"},
        ]
    }
    res = stack.request(
        "POST", "/segments/preview", json_body={"include": rules, "sample_size": 3}, claims=ADMIN
    )
    assert res.status == 200, res.text
    body = res.json()
    # brute force over the API's own lead rows
    all_rows = stack.request("GET", "/leads", query={"limit": 100}, claims=ADMIN).json()["items"]
    pred = compile_rules(rules)
    expected = sum(pred({"status": r["status"], "company": r["company"]}) for r in all_rows)
    assert body["count"] == expected == 8 and body["evaluated"] == 13 and len(body["sample"]) == 3
    assert len(leads) == 12
    # a rep only counts the leads it can see (unassigned + own)
    rep = stack.request("POST", "/segments/preview", json_body={"include": rules}, claims=REP).json()
    assert rep["count"] == 8 and rep["evaluated"] == 13  # every manual lead above is unassigned or the rep's


def test_validation_errors_name_the_node(stack):
    res = stack.request(
        "POST",
        "/segments",
        json_body={
            "name": "bad",
            "include": {
                "all": [
                    {"field": "status", "op": "eq", "value": "New"},
                    {"field": "company", "op": "gte", "value": 3},
                ]
            },
        },
        claims=ADMIN,
    )
    assert res.status == 422
    err = res.json()["error"]
    assert err["code"] == "invalid_condition"
    assert err["details"][0]["field"] == "include.all[1].op"
    assert "'gte' is not valid for text field 'company'" in err["message"]


def test_segments_are_tenant_isolated_and_reps_cannot_edit_others(stack):
    seg = _segment(stack, {"field": "status", "op": "eq", "value": "New"})
    assert stack.request("GET", f"/segments/{seg['segment_id']}", claims=OTHER).status == 404
    assert stack.request("GET", "/segments", claims=OTHER).json()["items"] == []
    assert stack.request("DELETE", f"/segments/{seg['segment_id']}", claims=OTHER).status == 404
    assert (
        stack.request("PATCH", f"/segments/{seg['segment_id']}", json_body={"name": "x"}, claims=REP).status
        == 403
    )
    assert stack.request("DELETE", f"/segments/{seg['segment_id']}", claims=ADMIN).status == 204
    assert stack.request("GET", f"/segments/{seg['segment_id']}", claims=ADMIN).status == 404


def test_nightly_rescore_re_evaluates_time_dependent_segments(stack):
    from datetime import UTC, datetime, timedelta

    from tests.integration.conftest import FakeContext, handler_of

    # Given a lead active now, in a "active in the last day" segment
    lead = _lead(stack, email="t@example.com")
    seg = _segment(stack, {"field": "last_activity_at", "op": "within_last", "value": {"days": 1}})
    stack.settle()
    assert _get(stack, seg["segment_id"])["time_dependent"] is True
    assert _members(stack, seg["segment_id"]) == {lead["lead_id"]}
    # When time passes with no event (the lead's last activity is now three days old)
    old = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    table = boto3.resource("dynamodb").Table(stack.resources.physical_name("LeadsTable"))
    table.update_item(
        Key={"pk": f"T#acme#L#{lead['lead_id']}", "sk": "PROFILE"},
        UpdateExpression="SET last_activity_at = :t",
        ExpressionAttributeValues={":t": old},
    )
    # and the nightly schedule fires
    handler_of("NightlyRescoreFunction")({"job": "nightly_rescore"}, FakeContext("NightlyRescoreFunction"))
    stack.settle()
    # Then the lead has left the segment
    assert _members(stack, seg["segment_id"]) == set()
