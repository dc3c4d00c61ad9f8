"""Activity-type conditions end to end: tracked events (POST /events) and captured messages (a web form)
denormalise the lead's engagement summary onto its profile, and segments over ``activity.<type>`` /
``activity_count.<type>`` follow within one event hop; preview agrees; tenants are isolated; the profile
summary never regresses to an older engagement version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadtide.conditions import compile_rules
from leadtide.wiring import get_wiring

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}
REPLIED_14D = {"field": "activity.email_replied", "op": "within_last", "value": {"days": 14}}


def _lead(stack, email, claims=ADMIN):
    res = stack.request("POST", "/leads", json_body={"email": email}, claims=claims)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _segment(stack, include, claims=ADMIN):
    res = stack.request(
        "POST", "/segments", json_body={"name": "activity", "include": include}, claims=claims
    )
    assert res.status == 201, res.text
    return res.json()


def _members(stack, segment_id, claims=ADMIN):
    res = stack.request("GET", f"/segments/{segment_id}/leads", query={"limit": 100}, claims=claims)
    assert res.status == 200, res.text
    return {row["lead_id"] for row in res.json()["items"]}


def _events(stack, lead_id, *events, claims=ADMIN):
    body = {
        "events": [
            {"event_id": eid, "type": type_, "lead": {"lead_id": lead_id}, "occurred_at": at.isoformat()}
            for eid, type_, at in events
        ]
    }
    res = stack.request("POST", "/events", json_body=body, claims=claims)
    assert res.status == 200, res.text
    assert res.json()["accepted"] == len(events), res.text


def _preview(stack, include, claims=ADMIN):
    res = stack.request(
        "POST", "/segments/preview", json_body={"include": include, "sample_size": 10}, claims=claims
    )
    assert res.status == 200, res.text
    body = res.json()
    return body["count"], {row["lead_id"] for row in body["sample"]}


def test_replied_in_the_last_14_days_follows_tracked_events_within_one_hop(stack):
    now = datetime.now(UTC)
    recent, old, opener, never = (
        _lead(stack, f"{n}@example.com") for n in ("recent", "old", "opener", "never")
    )
    foreign = _lead(stack, "recent@example.com", claims=OTHER)  # same person, another tenant
    replied = _segment(stack, REPLIED_14D)
    opened_twice = _segment(stack, {"field": "activity_count.email_opened", "op": "gte", "value": 2})
    no_meeting = _segment(stack, {"field": "activity.meeting_booked", "op": "is_empty"})
    other_replied = _segment(stack, REPLIED_14D, claims=OTHER)
    stack.settle()
    assert _members(stack, replied["segment_id"]) == set()
    assert _members(stack, no_meeting["segment_id"]) == {recent, old, opener, never}

    # When replies (one recent, one 30 days old), opens and a meeting are tracked
    _events(stack, recent, ("r1", "email_replied", now - timedelta(hours=2)), ("m1", "meeting_booked", now))
    _events(stack, old, ("r2", "email_replied", now - timedelta(days=30)))
    _events(stack, opener, ("o1", "email_opened", now - timedelta(days=1)), ("o2", "email_opened", now))
    _events(stack, foreign, ("x1", "email_replied", now), claims=OTHER)
    stack.settle()  # lead.event_tracked -> Scoring worker -> segment refresh

    # Then each segment holds exactly the leads whose activity matches, one settle later
    assert _members(stack, replied["segment_id"]) == {recent}
    assert _members(stack, opened_twice["segment_id"]) == {opener}
    assert _members(stack, no_meeting["segment_id"]) == {old, opener, never}
    assert _members(stack, other_replied["segment_id"], claims=OTHER) == {foreign}
    # and the preview agrees with the stored membership
    assert _preview(stack, REPLIED_14D) == (1, {recent})
    assert _preview(stack, REPLIED_14D, claims=OTHER) == (1, {foreign})
    # "replied ever" includes the old reply
    ever = {"field": "activity.email_replied", "op": "is_not_empty"}
    assert _preview(stack, ever) == (2, {recent, old})

    # The lead API exposes the summary read-only
    lead = stack.request("GET", f"/leads/{old}", claims=ADMIN).json()
    assert set(lead["last_engaged"]) == {"email_replied"} and lead["engaged_counts"] == {"email_replied": 1}
    replied_at = datetime.fromisoformat(lead["last_engaged"]["email_replied"])
    assert abs(replied_at - (now - timedelta(days=30))) < timedelta(milliseconds=2)
    # an older event did not move last_activity_at back (the touch's own rule), yet its type was recorded
    assert datetime.fromisoformat(lead["last_activity_at"]) > replied_at

    # When the 30-day-old replier replies again now (newer than its last activity: the single combined
    # update moves both), it joins in the same hop
    later = datetime.now(UTC)
    _events(stack, old, ("r3", "email_replied", later))
    stack.settle()
    assert _members(stack, replied["segment_id"]) == {recent, old}
    got = stack.request("GET", f"/leads/{old}", claims=ADMIN).json()
    assert got["engaged_counts"] == {"email_replied": 2}
    assert abs(datetime.fromisoformat(got["last_engaged"]["email_replied"]) - later) < timedelta(
        milliseconds=2
    )
    assert abs(datetime.fromisoformat(got["last_activity_at"]) - later) < timedelta(milliseconds=2)


def test_activity_rules_are_validated_with_the_node_path(stack):
    res = stack.request(
        "POST",
        "/segments/preview",
        json_body={"include": {"all": [REPLIED_14D, {"field": "activity.Email Replied", "op": "is_empty"}]}},
        claims=ADMIN,
    )
    assert res.status == 422
    err = res.json()["error"]
    assert err["code"] == "invalid_condition" and err["details"][0]["field"] == "include.all[1].field"
    assert "'Email Replied' is not an event type" in err["details"][0]["problem"]
    bad_op = stack.request(
        "POST",
        "/segments",
        json_body={"name": "x", "include": {"field": "activity.email_opened", "op": "gte", "value": 1}},
        claims=ADMIN,
    )
    assert bad_op.status == 422 and bad_op.json()["error"]["details"][0]["field"] == "include.op"
    # a custom event type the tracking API accepts is fine
    assert _preview(stack, {"field": "activity.webinar.attended", "op": "is_not_empty"}) == (0, set())


def test_captured_messages_count_as_activity(stack):
    # Given a web form and a segment of leads who submitted a form in the last 7 days
    form = stack.request(
        "POST",
        "/channels",
        json_body={
            "type": "web_form",
            "name": "Quote",
            "fields": [{"name": "email", "type": "email", "required": True}],
        },
        claims=ADMIN,
    )
    assert form.status == 201, form.text
    seg = _segment(stack, {"field": "activity.form_submitted", "op": "within_last", "value": {"days": 7}})
    manual = _lead(stack, "manual@example.com")
    stack.settle()
    # When a visitor submits the form (lead.message_received -> record occurrence -> refresh)
    sub = stack.request(
        "POST", f"/forms/{form.json()['form_id']}/submissions", json_body={"email": "kim@example.org"}
    )
    assert sub.status == 201, sub.text
    stack.settle()
    # Then the submitter is a member, the hand-entered lead is not
    rows = stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    kim = next(r["lead_id"] for r in rows if r["email"] == "kim@example.org")
    assert _members(stack, seg["segment_id"]) == {kim}
    assert manual not in _members(stack, seg["segment_id"])
    lead = stack.request("GET", f"/leads/{kim}", claims=ADMIN).json()
    assert lead["engaged_counts"] == {"form_submitted": 1}


def test_a_late_writer_never_regresses_the_profile_summary(stack):
    from leadtide.dal.engagement import store_engaged
    from leadtide.dal.items import LeadItem
    from leadtide.scoring.ports import Occurrence

    lead_id = _lead(stack, "race@example.com")
    pk = f"T#acme#L#{lead_id}"
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    store = get_wiring().scoring_store
    assert store.record_occurrences("acme", lead_id, [Occurrence("email_opened", t0, "ev:a")]) == 1
    assert store.record_occurrences("acme", lead_id, [Occurrence("email_clicked", t0, "ev:b")]) == 1
    item = LeadItem.get(pk, "PROFILE", consistent_read=True)
    assert item.engaged_version == 2 and set(item.last_engaged) == {"email_opened", "email_clicked"}
    # A writer still holding version 1 (it lost the race) is refused and changes nothing
    stale_occ = {"email_opened": [[t0.timestamp(), "ev:a"]]}
    assert store_engaged(pk, stale_occ, {"email_opened": 1}, 1) is False
    again = LeadItem.get(pk, "PROFILE", consistent_read=True)
    assert again.engaged_version == 2 and set(again.last_engaged) == {"email_opened", "email_clicked"}
    # The record's own rule agrees with a brute-force evaluation of the stored profile
    rule = compile_rules({"field": "activity.email_clicked", "op": "after", "value": "2024-04-30"})
    assert rule(dict(again.attribute_values)) is True
    # A deleted lead is not resurrected by a late summary write
    assert stack.request("DELETE", f"/leads/{lead_id}", claims=ADMIN).status == 204
    assert store_engaged(pk, stale_occ, {"email_opened": 1}, 9) is False
    assert LeadItem.count(pk, LeadItem.sk == "PROFILE") == 0
