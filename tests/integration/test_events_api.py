"""Behaviour tracking through the template's routes: POST /events (JWT) and POST /track/events (API key),
idempotency, re-scoring within one queue hop, API-key lifecycle, tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

OPEN = {"id": "eng.open", "label": "Opened", "event_type": "email_opened", "points": 5}
MEETING = {"id": "eng.meeting", "label": "Meeting", "event_type": "meeting_booked", "points": 30}
WHEN = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def _setup(stack, tenant="t1", email="ann@acme.io") -> str:
    admin = stack.claims(tenant, "admin")
    lead = stack.request("POST", "/leads", json_body={"email": email}, claims=admin)
    assert lead.status == 201, lead.text
    model = stack.request(
        "POST",
        "/scoring-models",
        json_body={"name": "Engagement", "decay": None, "behaviour_rules": [OPEN, MEETING]},
        claims=admin,
    ).json()
    stack.request("POST", f"/scoring-models/{model['model_id']}/activate", claims=admin)
    stack.settle()
    return lead.json()["lead_id"]


def _event(event_id: str, type_: str = "email_opened", **lead) -> dict:
    return {
        "event_id": event_id,
        "type": type_,
        "lead": lead or {"email": "ann@acme.io"},
        "occurred_at": WHEN,
    }


def test_events_join_the_timeline_once_and_rescore_within_one_hop(stack):
    lead_id = _setup(stack)
    admin = stack.claims("t1", "admin")
    body = {"events": [_event("e1"), _event("e2", "meeting_booked"), _event("e3", lead_id="f" * 32)]}
    first = stack.request("POST", "/events", json_body=body, claims=admin)
    assert first.status == 200, first.text
    assert first.json()["accepted"] == 2 and first.json()["rejected"] == [
        {"index": 2, "event_id": "e3", "reason": "lead_not_found"}
    ]
    again = stack.request("POST", "/events", json_body=body, claims=admin).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    delivered = stack.settle()
    assert delivered.get("ScoringWorkerFunction", 0) >= 1
    lead = stack.request("GET", f"/leads/{lead_id}", claims=admin).json()
    assert lead["score"] == 35 and lead["engagement_score"] == 35
    timeline = stack.request("GET", f"/leads/{lead_id}/activities", claims=admin).json()["items"]
    assert sorted(a["raw_type"] for a in timeline if a["type"] == "tracked_event") == [
        "email_opened",
        "meeting_booked",
    ]
    history = stack.request("GET", f"/leads/{lead_id}/score-history", claims=admin).json()["items"]
    assert history[0]["cause"] == "event: email_opened, meeting_booked" and history[0]["cause_event_id"] in (
        "e1",
        "e2",
    )


def test_tracked_events_move_last_activity_forward_only(stack):
    lead_id = _setup(stack)
    admin = stack.claims("t1", "admin")
    created = stack.request("GET", f"/leads/{lead_id}", claims=admin).json()["last_activity_at"]
    # a newer event moves the lead's last activity (what the inbox sorts by) to its time
    newer = {**_event("n1"), "occurred_at": datetime.now(UTC).isoformat()}
    assert (
        stack.request("POST", "/events", json_body={"events": [newer]}, claims=admin).json()["accepted"] == 1
    )
    touched = stack.request("GET", f"/leads/{lead_id}", claims=admin).json()["last_activity_at"]
    assert datetime.fromisoformat(touched) == datetime.fromisoformat(newer["occurred_at"])
    assert datetime.fromisoformat(touched) > datetime.fromisoformat(created)
    inbox = stack.request("GET", "/leads?sort=last_activity", claims=admin).json()["items"]
    assert inbox[0]["lead_id"] == lead_id
    # an older event is stored but never moves it back
    older = {**_event("n0"), "occurred_at": (datetime.now(UTC) - timedelta(days=3)).isoformat()}
    assert (
        stack.request("POST", "/events", json_body={"events": [older]}, claims=admin).json()["accepted"] == 1
    )
    assert stack.request("GET", f"/leads/{lead_id}", claims=admin).json()["last_activity_at"] == touched


def test_api_key_route_valid_revoked_and_other_tenant(stack):
    lead_id = _setup(stack)
    _setup(stack, tenant="t2", email="bob@beta.io")
    admin = stack.claims("t1", "admin")
    created = stack.request("POST", "/api-keys", json_body={"name": "Website"}, claims=admin)
    assert created.status == 201
    key = created.json()["key"]
    ok = stack.request(
        "POST", "/track/events", json_body=_event("k1"), headers={"authorization": f"Bearer {key}"}
    )
    assert ok.status == 200 and ok.json()["accepted"] == 1
    # the key is t1's: a t2 lead is unknown to it
    cross = stack.request(
        "POST", "/track/events", json_body=_event("k2", email="bob@beta.io"), headers={"x-api-key": key}
    )
    assert cross.json()["rejected"][0]["reason"] == "lead_not_found"
    assert stack.request("POST", "/track/events", json_body=_event("k3")).status == 401
    assert stack.request("GET", "/api-keys", claims=stack.claims("t2", "admin")).json()["items"] == []
    listed = stack.request("GET", "/api-keys", claims=admin).json()["items"]
    assert "key" not in listed[0] and listed[0]["prefix"] == key[:24]
    key_id = created.json()["key_id"]
    assert stack.request("DELETE", f"/api-keys/{key_id}", claims=stack.claims("t2", "admin")).status == 404
    assert stack.request("DELETE", f"/api-keys/{key_id}", claims=admin).status == 204
    revoked = stack.request("POST", "/track/events", json_body=_event("k4"), headers={"x-api-key": key})
    assert revoked.status == 401 and revoked.json()["error"]["code"] == "api_key_revoked"
    stack.settle()
    assert stack.request("GET", f"/leads/{lead_id}", claims=admin).json()["score"] == 5


def test_bodies_over_500_or_unusable_are_422(stack):
    admin = stack.claims("t1", "admin")
    too_many = {"events": [_event(f"e{i}") for i in range(501)]}
    assert stack.request("POST", "/events", json_body=too_many, claims=admin).status == 422
    assert stack.request("POST", "/events", json_body={"events": []}, claims=admin).status == 422
    assert stack.request("POST", "/events", json_body=[1, 2], claims=admin).status == 422
    assert (
        stack.request("POST", "/events", json_body=_event("x"), claims=stack.claims("t1", "rep")).status
        == 403
    )


def test_api_key_use_is_stamped_at_most_once_a_minute(stack):
    import boto3

    from leadtide.settings import get_settings

    _setup(stack)
    admin = stack.claims("t1", "admin")
    created = stack.request("POST", "/api-keys", json_body={"name": "Website"}, claims=admin).json()
    key, key_id = created["key"], created["key_id"]
    assert stack.request("GET", "/api-keys", claims=admin).json()["items"][0]["last_used_at"] is None
    # When the key is used
    before = datetime.now(UTC)
    assert (
        stack.request("POST", "/track/events", json_body=_event("u1"), headers={"x-api-key": key}).status
        == 200
    )
    # Then the listing shows when
    first = stack.request("GET", "/api-keys", claims=admin).json()["items"][0]["last_used_at"]
    assert first is not None and before <= datetime.fromisoformat(first) <= datetime.now(UTC)
    # and a second use within the minute writes nothing (auth stays one read)
    table = boto3.resource("dynamodb").Table(get_settings().leads_table)
    stamped = table.get_item(Key={"pk": f"K#{key_id}", "sk": "APIKEY"})["Item"]["last_used_at"]
    assert (
        stack.request("POST", "/track/events", json_body=_event("u2"), headers={"x-api-key": key}).status
        == 200
    )
    assert table.get_item(Key={"pk": f"K#{key_id}", "sk": "APIKEY"})["Item"]["last_used_at"] == stamped
    # When the stamp is over a minute old, the next use moves it
    old = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    table.update_item(
        Key={"pk": f"K#{key_id}", "sk": "APIKEY"},
        UpdateExpression="SET last_used_at = :t",
        ExpressionAttributeValues={":t": old},
    )
    assert (
        stack.request("POST", "/track/events", json_body=_event("u3"), headers={"x-api-key": key}).status
        == 200
    )
    latest = stack.request("GET", "/api-keys", claims=admin).json()["items"][0]["last_used_at"]
    assert datetime.fromisoformat(latest) > datetime.fromisoformat(first)
    # and a refused key (wrong secret) stamps nothing
    table.update_item(
        Key={"pk": f"K#{key_id}", "sk": "APIKEY"},
        UpdateExpression="SET last_used_at = :t",
        ExpressionAttributeValues={":t": old},
    )
    wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    assert (
        stack.request("POST", "/track/events", json_body=_event("u4"), headers={"x-api-key": wrong}).status
        == 401
    )
    assert table.get_item(Key={"pk": f"K#{key_id}", "sk": "APIKEY"})["Item"]["last_used_at"] == old
