"""A lead's ``last_activity_at`` (docs/data-model.md, "Last activity"): the latest interaction of any kind -
messages both ways, form submissions, tracked behaviour events - never before ``created_at`` and never
moving back, whichever path writes it (capture, tracking, merge), against the real dal in moto."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from leadtide.capture.signatures import meta_signature
from leadtide.dal.tracking import DynamoTrackingStore
from leadtide.models.common import ChannelType
from leadtide.models.leads import Activity, ActivityType, Lead
from leadtide.models.messages import Direction, MessageKind
from leadtide.wiring import get_wiring

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
APP_SECRET = "0123456789abcdef0123456789abcdef"
PHONE_NUMBER_ID = "1122334455667"


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _whatsapp_text(wamid: str, text: str, at: datetime) -> bytes:
    """A WhatsApp Cloud API text delivery from +972987654321 stamped ``at`` (seconds, as Meta sends)."""
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [{"profile": {"name": "Dana"}, "wa_id": "972987654321"}],
                                "messages": [
                                    {
                                        "from": "972987654321",
                                        "id": wamid,
                                        "timestamp": str(int(at.timestamp())),
                                        "type": "text",
                                        "text": {"body": text},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


@pytest.fixture
def whatsapp(stack):
    res = stack.request(
        "POST",
        "/channels",
        json_body={
            "type": "whatsapp",
            "phone_number_id": PHONE_NUMBER_ID,
            "verify_token": "verify-123456",
            "app_secret": APP_SECRET,
        },
        claims=ADMIN,
    )
    assert res.status == 201, res.text

    def send(wamid: str, text: str, at: datetime) -> None:
        payload = _whatsapp_text(wamid, text, at)
        res = stack.request(
            "POST",
            "/webhooks/whatsapp",
            body=payload,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": meta_signature(payload, APP_SECRET),
            },
        )
        assert res.status == 200, res.text
        stack.settle()

    return send


def _only_lead(stack) -> dict:
    items = stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    assert len(items) == 1
    return stack.request("GET", f"/leads/{items[0]['lead_id']}", claims=ADMIN).json()


def test_a_whatsapp_lead_is_never_last_active_before_it_was_created(stack, shared_data):
    # Given the real WhatsApp delivery (its message is stamped years before today)
    payload = (shared_data / "webhooks" / "whatsapp_cloud_text.json").read_bytes()
    stack.request(
        "POST",
        "/channels",
        json_body={
            "type": "whatsapp",
            "phone_number_id": PHONE_NUMBER_ID,
            "verify_token": "verify-123456",
            "app_secret": APP_SECRET,
        },
        claims=ADMIN,
    )
    stamped = json.loads(payload)["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"]
    # When it creates a lead
    res = stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=payload,
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": meta_signature(payload, APP_SECRET),
        },
    )
    assert res.status == 200, res.text
    stack.settle()
    lead = _only_lead(stack)
    # Then the lead came in with that message: created and last active at its time, never active before
    sent = datetime.fromtimestamp(int(stamped), UTC)
    assert _when(lead["last_activity_at"]) >= _when(lead["created_at"])
    assert _when(lead["created_at"]) == _when(lead["last_activity_at"]) == sent
    timeline = stack.request("GET", f"/leads/{lead['lead_id']}/activities", claims=ADMIN).json()["items"]
    assert _when(timeline[0]["occurred_at"]) == sent
    # and the inbox row says the same
    row = stack.request("GET", "/leads", query={"sort": "last_activity"}, claims=ADMIN).json()["items"][0]
    assert row["last_activity_at"] == lead["last_activity_at"]


def test_tracked_opens_and_meetings_move_a_whatsapp_lead_forward(stack, whatsapp):
    now = datetime.now(UTC).replace(microsecond=0)
    whatsapp("wamid.first", "Hi, I need a quote", now - timedelta(minutes=5))
    lead = _only_lead(stack)
    for n, (kind, minutes) in enumerate((("email_opened", 2), ("meeting_booked", 1))):
        at = now - timedelta(minutes=minutes)
        body = {"event_id": f"ev-{n}", "type": kind, "lead": {"lead_id": lead["lead_id"]}}
        body["occurred_at"] = at.isoformat()
        res = stack.request("POST", "/events", json_body=body, claims=ADMIN)
        assert res.json()["accepted"] == 1, res.text
        got = stack.request("GET", f"/leads/{lead['lead_id']}", claims=ADMIN).json()
        assert _when(got["last_activity_at"]) == at, kind
    # an open older than the lead (replayed from an email tool) joins the timeline, never rewinds the clock
    old = {"event_id": "ev-old", "type": "email_opened", "lead": {"lead_id": lead["lead_id"]}}
    old["occurred_at"] = (now - timedelta(days=30)).isoformat()
    assert stack.request("POST", "/events", json_body=old, claims=ADMIN).json()["accepted"] == 1
    got = stack.request("GET", f"/leads/{lead['lead_id']}", claims=ADMIN).json()
    assert _when(got["last_activity_at"]) == now - timedelta(minutes=1)
    assert _when(got["created_at"]) == now - timedelta(minutes=5)


def test_a_late_older_message_counts_without_rewinding_the_clock(stack, whatsapp):
    now = datetime.now(UTC).replace(microsecond=0)
    whatsapp("wamid.a", "first", now - timedelta(minutes=10))
    whatsapp("wamid.c", "third", now - timedelta(minutes=1))
    # When a message stamped between the two arrives last (a provider retry)
    whatsapp("wamid.b", "second", now - timedelta(minutes=5))
    lead = _only_lead(stack)
    # Then it is counted and on the timeline, and the clock and preview stay with the latest message
    assert lead["message_count"] == 3
    assert _when(lead["created_at"]) == now - timedelta(minutes=10)
    assert _when(lead["last_activity_at"]) == now - timedelta(minutes=1)
    assert lead["last_message_preview"] == "third"
    timeline = stack.request("GET", f"/leads/{lead['lead_id']}/activities", claims=ADMIN).json()["items"]
    assert [a["text"] for a in timeline] == ["first", "second", "third"]


def test_outbound_messages_are_interactions_too(stack):
    # Given a lead with an inbound message, then an outbound one (an Instagram echo) the business sent later
    repo = get_wiring().lead_repository
    t0 = datetime.now(UTC) - timedelta(hours=2)
    lead = _lead(t0)
    repo.create_lead(lead, [("instagram", "ig-1")])
    sent = t0 + timedelta(hours=1)
    repo.append_activity(lead.tenant_id, _message(lead, sent, Direction.OUTBOUND, "ig.out"), touch_lead=True)
    # Then the outbound message moved the clock
    assert repo.get_lead(lead.tenant_id, lead.lead_id).last_activity_at == sent


def _lead(at: datetime, **values) -> Lead:
    return Lead(
        lead_id=uuid.uuid4().hex,
        tenant_id="acme",
        source_channel=ChannelType.INSTAGRAM,
        created_at=at,
        updated_at=at,
        last_activity_at=at,
        **values,
    )


def _message(lead: Lead, at: datetime, direction: Direction, mid: str) -> Activity:
    return Activity(
        activity_id=uuid.uuid4().hex,
        lead_id=lead.lead_id,
        type=ActivityType.MESSAGE,
        occurred_at=at,
        channel=ChannelType.INSTAGRAM,
        direction=direction,
        kind=MessageKind.TEXT,
        text="hello",
        provider_message_id=mid,
    )


def test_a_merge_never_rewinds_a_clock_a_tracked_event_moved_meanwhile(stack, monkeypatch):
    # Given two duplicate leads, the merged one more recently active than the survivor
    repo = get_wiring().lead_repository
    t0 = datetime.now(UTC) - timedelta(days=2)
    survivor = _lead(t0, email="ana@acme.com", name="Ana")
    other = _lead(t0, email="ana.silva@acme.com", name="Ana Silva", last_message_preview="x")
    repo.create_lead(survivor, [("email", "ana@acme.com")])
    repo.create_lead(other, [("email", "ana.silva@acme.com")])
    repo.append_activity(
        "acme", _message(other, t0 + timedelta(hours=1), Direction.INBOUND, "ig.1"), touch_lead=True
    )
    # and a tracked event on the survivor that lands after the merge read both leads, before it commits
    from leadtide.dal.duplicates import DynamoMergeStore
    from leadtide.tracking.ports import EventToRecord

    event_at = datetime.now(UTC) - timedelta(minutes=1)
    original = DynamoMergeStore.commit
    fired = []

    def commit_after_an_event(self, commit):
        if not fired:
            fired.append(True)
            DynamoTrackingStore().record_events(
                "acme",
                survivor.lead_id,
                [
                    EventToRecord(
                        event_id="race-1",
                        event_type="email_opened",
                        occurred_at=event_at,
                        activity=Activity(
                            activity_id=uuid.uuid4().hex,
                            lead_id=survivor.lead_id,
                            type=ActivityType.TRACKED_EVENT,
                            occurred_at=event_at,
                            raw_type="email_opened",
                        ),
                    )
                ],
            )
        return original(self, commit)

    monkeypatch.setattr(DynamoMergeStore, "commit", commit_after_an_event)
    # When the merge commits
    res = stack.request(
        "POST",
        "/leads/merge",
        json_body={"survivor_id": survivor.lead_id, "merged_ids": [other.lead_id]},
        claims=ADMIN,
    )
    # Then it is refused as a concurrent change (nothing rewound), and merging again keeps the event's time
    assert res.status == 409, res.text
    assert repo.get_lead("acme", survivor.lead_id).last_activity_at == event_at
    res = stack.request(
        "POST",
        "/leads/merge",
        json_body={"survivor_id": survivor.lead_id, "merged_ids": [other.lead_id]},
        claims=ADMIN,
    )
    assert res.status == 200, res.text
    assert _when(res.json()["survivor"]["last_activity_at"]) == event_at
