"""Large verified deliveries are never lost: a body (or its queue messages) above CLAIM_CHECK_BYTES is
stored whole in S3 and the ingest queue carries a claim check; a text longer than an activity keeps is
truncated on the activity and kept whole beside it, downloadable through
``GET /leads/{lead_id}/activities/{activity_id}/text``. No DynamoDB item or SQS message outgrows its limit,
nothing reaches the dead-letter queue."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import boto3
import pytest
import requests

from leadtide.capture.signatures import meta_signature, twilio_signature
from leadtide.models.leads import ACTIVITY_TEXT_MAX_CHARS
from leadtide.models.messages import CLAIM_CHECK_BYTES
from tests.conftest import REPO_ROOT

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
APP_SECRET = "0123456789abcdef0123456789abcdef"
PHONE_NUMBER_ID = "1122334455667"
DEMO_DATA = REPO_ROOT / "infra" / "local" / "demo_data"


def _whatsapp(stack):
    body = {
        "type": "whatsapp",
        "phone_number_id": PHONE_NUMBER_ID,
        "verify_token": "verify-123456",
        "app_secret": APP_SECRET,
    }
    assert stack.request("POST", "/channels", json_body=body, claims=ADMIN).status == 201


def _text_delivery(texts: list[tuple[str, str, str]]) -> bytes:
    """A signed-to-be WhatsApp delivery (the demo text's shape) with one message per (sender, id, text)."""
    delivery = json.loads((DEMO_DATA / "whatsapp_cloud_text.json").read_text())
    value = delivery["entry"][0]["changes"][0]["value"]
    template = value["messages"][0]
    value["contacts"] = [{"profile": {"name": f"Sender {s}"}, "wa_id": s} for s, _, _ in texts]
    value["messages"] = [{**template, "from": s, "id": i, "text": {"body": t}} for s, i, t in texts]
    return json.dumps(delivery, ensure_ascii=False).encode("utf-8")


def _post_signed(stack, payload: bytes):
    return stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=payload,
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": meta_signature(payload, APP_SECRET),
        },
    )


def _lead_by_phone(stack, phone: str) -> dict:
    leads = [
        lead
        for lead in stack.request("GET", "/leads", claims=ADMIN).json()["items"]
        if lead["phone"] == phone
    ]
    assert len(leads) == 1, leads
    return leads[0]


def _activities(stack, lead_id: str) -> list[dict]:
    return stack.request("GET", f"/leads/{lead_id}/activities", claims=ADMIN).json()["items"]


def _whole_text(stack, lead_id: str, activity: dict, claims=ADMIN) -> str:
    res = stack.request("GET", f"/leads/{lead_id}/activities/{activity['activity_id']}/text", claims=claims)
    assert res.status == 200, res.text
    answer = res.json()
    assert (answer["activity_id"], answer["lead_id"]) == (activity["activity_id"], lead_id)
    download = requests.get(answer["text_url"], timeout=30)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/plain")
    text = download.content.decode("utf-8")
    assert answer["length"] == len(text) == activity["text_length"]
    return text


def _assert_nothing_lost(stack) -> None:
    assert stack.queue_depth("IngestQueue") == 0
    assert stack.queue_depth("IngestDeadLetterQueue") == 0


def _queued_bodies(stack) -> list[str]:
    sqs = boto3.client("sqs")
    url = stack.resources.queues["IngestQueue"].url
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return [m["Body"] for m in messages]


@pytest.mark.parametrize("size", [450_000, 1_000_000, 5_000_000])
def test_a_large_signed_whatsapp_text_ends_as_a_lead_with_its_whole_text(stack, size):
    # Given a connected number and a signed text of `size` characters (non-ASCII at both ends)
    _whatsapp(stack)
    text = "é" + "x" * (size - 2) + "🌊"
    payload = _text_delivery([("15550001111", "wamid.large", text)])
    # When Meta delivers it
    res = _post_signed(stack, payload)
    # Then it is accepted and queued as one small claim check naming the stored delivery
    assert res.status == 200 and res.json()["queued"] == 1, res.text
    (queued,) = _queued_bodies(stack)
    assert len(queued) < 2_000 and json.loads(queued)["delivery"]["size"] == len(payload)
    stack.settle()
    # And the ingest worker made the lead, with the text truncated on the activity and kept whole
    lead = _lead_by_phone(stack, "+15550001111")
    (activity,) = _activities(stack, lead["lead_id"])
    assert activity["text_truncated"] is True and activity["text_length"] == size
    assert activity["text"] == text[:ACTIVITY_TEXT_MAX_CHARS]
    assert lead["last_message_preview"] == text[:160]
    assert _whole_text(stack, lead["lead_id"], activity) == text
    _assert_nothing_lost(stack)
    # And a redelivery of the same delivery adds nothing
    assert _post_signed(stack, payload).status == 200
    stack.settle()
    assert len(_activities(stack, lead["lead_id"])) == 1
    _assert_nothing_lost(stack)


def test_many_medium_messages_travel_by_claim_check_and_short_ones_do_not(stack):
    # Given a delivery whose messages each fit an activity but together exceed the claim-check threshold
    _whatsapp(stack)
    count = 12
    texts = [(f"1555000{i:04d}", f"wamid.m{i}", f"message {i} " + "y" * 14_000) for i in range(count)]
    payload = _text_delivery(texts)
    assert len(payload) > CLAIM_CHECK_BYTES
    assert _post_signed(stack, payload).json()["queued"] == count
    assert len(_queued_bodies(stack)) == 1  # one claim check, not twelve messages
    # And a short delivery is queued as before, one command per message
    short = _text_delivery([("15559990000", "wamid.short", "hello")])
    assert _post_signed(stack, short).status == 200
    stack.settle()
    for i in range(count):
        lead = _lead_by_phone(stack, f"+1555000{i:04d}")
        (activity,) = _activities(stack, lead["lead_id"])
        assert activity["text"] == texts[i][2] and activity["text_truncated"] is False
    (short_activity,) = _activities(stack, _lead_by_phone(stack, "+15559990000")["lead_id"])
    assert short_activity["text"] == "hello"
    _assert_nothing_lost(stack)


def test_a_large_twilio_delivery_and_a_large_form_submission_are_kept_too(stack):
    # Given a Twilio channel and a form of long text areas
    token = "t" * 32
    twilio = {
        "type": "twilio",
        "account_sid": "AC" + "b" * 32,
        "auth_token": token,
        "phone_number": "whatsapp:+14155238886",
    }
    assert stack.request("POST", "/channels", json_body=twilio, claims=ADMIN).status == 201
    fields = [{"name": "email", "type": "email", "required": True}] + [
        {"name": f"part{i}", "type": "textarea", "max_length": 10_000} for i in range(20)
    ]
    form = stack.request(
        "POST", "/channels", json_body={"type": "web_form", "name": "Brief", "fields": fields}, claims=ADMIN
    ).json()
    # When Twilio delivers a 300 KB body and the form receives 20 full text areas (200 KB)
    body_text = "z" * 300_000
    params = [
        ("AccountSid", "AC" + "b" * 32),
        ("From", "whatsapp:+14158675309"),
        ("To", "whatsapp:+14155238886"),
        ("Body", body_text),
        ("MessageSid", "SM" + "3" * 32),
        ("NumMedia", "0"),
    ]
    url = "https://api.example.com/webhooks/twilio"
    res = stack.request(
        "POST",
        "/webhooks/twilio",
        body=urlencode(params),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(url, params, token),
        },
    )
    assert res.status == 200, res.text
    answers = {"email": "brief@example.org", **{f"part{i}": chr(97 + i) * 10_000 for i in range(20)}}
    sub = stack.request("POST", f"/forms/{form['form_id']}/submissions", json_body=answers)
    assert sub.status == 201, sub.text
    assert len(_queued_bodies(stack)) == 2  # two claim checks
    stack.settle()
    # Then both are captured: the Twilio text truncated and whole beside it, every form answer kept
    lead = _lead_by_phone(stack, "+14158675309")
    (activity,) = _activities(stack, lead["lead_id"])
    assert activity["text_truncated"] and _whole_text(stack, lead["lead_id"], activity) == body_text
    (form_lead,) = [
        lead
        for lead in stack.request("GET", "/leads", claims=ADMIN).json()["items"]
        if lead["email"] == "brief@example.org"
    ]
    (submission,) = _activities(stack, form_lead["lead_id"])
    assert submission["form_fields"] == answers
    _assert_nothing_lost(stack)


def test_the_whole_text_follows_its_lead_and_is_refused_to_anyone_else(stack):
    # Given a lead whose message was truncated, and another lead with a short message
    _whatsapp(stack)
    text = "w" * (ACTIVITY_TEXT_MAX_CHARS + 1)
    payload = _text_delivery([("15550001111", "wamid.long", text), ("15550002222", "wamid.other", "hi")])
    assert _post_signed(stack, payload).status == 200
    stack.settle()
    long_lead = _lead_by_phone(stack, "+15550001111")
    other = _lead_by_phone(stack, "+15550002222")
    (long_activity,) = _activities(stack, long_lead["lead_id"])
    (short_activity,) = _activities(stack, other["lead_id"])
    assert long_activity["text_truncated"] and long_activity["text_length"] == len(text)
    # When the whole text is asked for through the wrong lead, for a short message, or by a rep
    wrong_lead = stack.request(
        "GET", f"/leads/{other['lead_id']}/activities/{long_activity['activity_id']}/text", claims=ADMIN
    )
    short = stack.request(
        "GET", f"/leads/{other['lead_id']}/activities/{short_activity['activity_id']}/text", claims=ADMIN
    )
    assign = stack.request(
        "PATCH", f"/leads/{long_lead['lead_id']}", json_body={"owner_id": "u-ron"}, claims=ADMIN
    )
    assert assign.status == 200, assign.text
    rep = stack.request(
        "GET",
        f"/leads/{long_lead['lead_id']}/activities/{long_activity['activity_id']}/text",
        claims=stack.claims("acme", "rep", "u-dana"),
    )
    # Then 404 text_not_found (the activity is not on that lead / has all its text) and 403 for the rep
    assert (wrong_lead.status, wrong_lead.json()["error"]["code"]) == (404, "text_not_found")
    assert (short.status, short.json()["error"]["code"]) == (404, "text_not_found")
    assert rep.status == 403, rep.text
    # When the long lead is merged into the other, the text is reached through the survivor
    merged = stack.request(
        "POST",
        "/leads/merge",
        json_body={"survivor_id": other["lead_id"], "merged_ids": [long_lead["lead_id"]]},
        claims=ADMIN,
    )
    assert merged.status == 200, merged.text
    stack.settle()
    moved = [a for a in _activities(stack, other["lead_id"]) if a.get("text_truncated")]
    assert [a["activity_id"] for a in moved] == [long_activity["activity_id"]]
    assert _whole_text(stack, other["lead_id"], moved[0]) == text
    # When the survivor is deleted, its stored whole texts go with it
    assert stack.request("DELETE", f"/leads/{other['lead_id']}", claims=ADMIN).status == 204
    s3 = boto3.client("s3")
    bucket = stack.resources.buckets["ArtifactsBucket"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="message-texts/").get("KeyCount", 0) == 0
