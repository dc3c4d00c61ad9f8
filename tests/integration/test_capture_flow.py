"""Webhooks -> ingest queue -> Ingest worker -> leads table -> rule -> Scoring worker, under moto."""

import json

import pytest

from leadtide.capture.signatures import meta_signature, twilio_signature

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
APP_SECRET = "0123456789abcdef0123456789abcdef"
ZERO_SIGNATURE = "sha256=" + "0" * 64  # well formed, matches nothing
QUOTE_FORM = {
    "type": "web_form",
    "name": "Quote",
    "fields": [
        {"name": "name", "required": True},
        {"name": "email", "type": "email", "required": True},
        {"name": "phone", "type": "phone"},
        {"name": "message", "type": "textarea"},
    ],
}


def _connect(stack, body):
    res = stack.request("POST", "/channels", json_body=body, claims=ADMIN)
    assert res.status == 201, res.text
    return res.json()


def _whatsapp(stack):
    return _connect(
        stack,
        {
            "type": "whatsapp",
            "phone_number_id": "1122334455667",
            "verify_token": "verify-123456",
            "app_secret": APP_SECRET,
        },
    )


def _signed(stack, path, payload: bytes, secret=APP_SECRET):
    return stack.request(
        "POST",
        path,
        body=payload,
        headers={"content-type": "application/json", "x-hub-signature-256": meta_signature(payload, secret)},
    )


def test_signed_whatsapp_text_becomes_a_scored_lead_once(stack, shared_data):
    _whatsapp(stack)
    payload = (shared_data / "webhooks" / "whatsapp_cloud_text.json").read_bytes()
    # When the same signed delivery arrives twice
    for _ in range(2):
        res = _signed(stack, "/webhooks/whatsapp", payload)
        assert res.status == 200 and res.json()["queued"] == 1
    stack.settle()
    # Then one lead with one activity, scored and graded
    page = stack.request("GET", "/leads", claims=ADMIN).json()
    assert len(page["items"]) == 1
    lead = page["items"][0]
    assert (lead["phone"], lead["name"], lead["source_channel"]) == ("+972987654321", "Test Name", "whatsapp")
    assert lead["score"] is not None and lead["grade"] in ("hot", "warm", "cold")
    acts = stack.request("GET", f"/leads/{lead['lead_id']}/activities", claims=ADMIN).json()["items"]
    assert [a["provider_message_id"] for a in acts] == ["wamid.xyzxyz"]
    full = stack.request("GET", f"/leads/{lead['lead_id']}", claims=ADMIN).json()
    assert full["score_breakdown"] and full["message_count"] == 1
    assert stack.queue_depth("IngestDeadLetterQueue") == 0


def test_tampered_delivery_gets_401_and_creates_nothing(stack, shared_data):
    _whatsapp(stack)
    payload = (shared_data / "webhooks" / "whatsapp_cloud_text.json").read_bytes()
    signature = meta_signature(payload, APP_SECRET)
    res = stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=payload.replace(b"Body Text", b"Body Texx"),
        headers={"content-type": "application/json", "x-hub-signature-256": signature},
    )
    assert res.status == 401 and res.json()["error"]["code"] == "invalid_signature"
    assert stack.queue_depth("IngestQueue") == 0
    assert stack.request("GET", "/leads", claims=ADMIN).json()["items"] == []


def test_statuses_media_and_buttons_from_real_payloads(stack, shared_data):
    _whatsapp(stack)
    for name in (
        "whatsapp_cloud_text.json",
        "whatsapp_cloud_image.json",
        "whatsapp_cloud_interactive_button_reply.json",
        "whatsapp_cloud_status_delivered.json",
        "whatsapp_cloud_status_read.json",
    ):
        payload = (shared_data / "webhooks" / name).read_bytes()
        assert _signed(stack, "/webhooks/whatsapp", payload).status == 200
    stack.settle()
    (lead,) = stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    acts = stack.request("GET", f"/leads/{lead['lead_id']}/activities", claims=ADMIN).json()["items"]
    # The image and the button reply reuse the text's message id in the fixtures (wamid.xyzxyz): the
    # provider id is the idempotency key, so they count once. Statuses update the captured message.
    assert len(acts) == 1
    assert acts[0]["delivery_status"] == "read"


def test_meta_handshake_over_http(stack):
    _whatsapp(stack)
    ok = stack.request(
        "GET",
        "/webhooks/whatsapp",
        query={"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "verify-123456"},
    )
    assert (ok.status, ok.text, ok.headers["content-type"]) == (200, "1158201444", "text/plain")
    bad = stack.request(
        "GET",
        "/webhooks/whatsapp",
        query={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "nope"},
    )
    assert bad.status == 403


def test_instagram_messages_and_echoes(stack, shared_data):
    _connect(
        stack,
        {"type": "instagram", "account_id": "0", "verify_token": "ig-verify-123", "app_secret": APP_SECRET},
    )
    payload = (shared_data / "webhooks" / "instagram_messaging_dashboard_test_text.json").read_bytes()
    assert _signed(stack, "/webhooks/instagram", payload).status == 200
    echo = json.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": "0",
                    "time": 1,
                    "messaging": [
                        {
                            "sender": {"id": "23245"},
                            "recipient": {"id": "99999"},
                            "timestamp": 1700000000000,
                            "message": {"mid": "echo-1", "text": "Thanks!", "is_echo": True},
                        }
                    ],
                }
            ],
        }
    ).encode()
    assert _signed(stack, "/webhooks/instagram", echo).status == 200
    stack.settle()
    (lead,) = stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    assert (lead["instagram_id"], lead["source_channel"]) == ("12334", "instagram")


def test_twilio_and_web_form(stack):
    _connect(
        stack,
        {
            "type": "twilio",
            "account_sid": "AC" + "b" * 32,
            "auth_token": "t" * 32,
            "phone_number": "whatsapp:+14155238886",
        },
    )
    params = [
        ("AccountSid", "AC" + "b" * 32),
        ("From", "whatsapp:+14158675309"),
        ("To", "whatsapp:+14155238886"),
        ("Body", "Do you have rooms this weekend? How much?"),
        ("MessageSid", "SM" + "2" * 32),
        ("ProfileName", "Sam"),
        ("NumMedia", "0"),
        ("WaId", "14158675309"),
    ]
    url = "https://api.example.com/webhooks/twilio"
    from urllib.parse import urlencode

    body = urlencode(params)
    ok = stack.request(
        "POST",
        "/webhooks/twilio",
        body=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(url, params, "t" * 32),
        },
    )
    assert ok.status == 200 and "<Response>" in ok.text
    bad = stack.request(
        "POST",
        "/webhooks/twilio",
        body=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(url + "x", params, "t" * 32),
        },
    )
    assert bad.status == 401
    form = _connect(
        stack,
        QUOTE_FORM,
    )
    sub = stack.request(
        "POST",
        f"/forms/{form['form_id']}/submissions",
        json_body={
            "name": "Kim Lee",
            "email": "kim@example.org",
            "phone": "+1 415 555 2671",
            "message": "Please send a quote for 20 people",
        },
    )
    assert sub.status == 201
    bad_form = stack.request("POST", f"/forms/{form['form_id']}/submissions", json_body={"email": "x"})
    assert bad_form.status == 422 and {d["field"] for d in bad_form.json()["error"]["details"]} >= {
        "name",
        "email",
    }
    stack.settle()
    leads = {
        lead["source_channel"]: lead for lead in stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    }
    assert leads["twilio"]["phone"] == "+14158675309" and leads["twilio"]["name"] == "Sam"
    assert leads["web_form"]["email"] == "kim@example.org"
    summary = stack.request("GET", "/dashboard/summary", claims=ADMIN).json()
    assert summary == {"total_leads": 2, "by_status": {"New": 2}, "by_source": {"twilio": 1, "web_form": 1}}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/webhooks/whatsapp", b"{not json", {"x-hub-signature-256": ZERO_SIGNATURE}, 400),
        (
            "/webhooks/whatsapp",
            b'{"object": "page", "entry": []}',
            {"x-hub-signature-256": ZERO_SIGNATURE},
            400,
        ),
        ("/webhooks/whatsapp", b'{"object": "whatsapp_business_account"}', {}, 401),
        ("/webhooks/instagram", b"[]", {"x-hub-signature-256": ZERO_SIGNATURE}, 400),
        ("/webhooks/twilio", b"a=b", {"content-type": "text/plain", "x-twilio-signature": "x"}, 400),
        (
            "/webhooks/twilio",
            b"Body=hi",
            {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "x"},
            400,
        ),
        ("/forms/" + "a" * 32 + "/submissions", b"{}", {"content-type": "application/json"}, 404),
        ("/forms/not-a-form/submissions", b"{}", {"content-type": "application/json"}, 404),
        ("/forms/" + "a" * 32 + "/submissions", b"<xml/>", {"content-type": "text/xml"}, 400),
    ],
)
def test_bad_webhook_input_gets_a_clear_4xx(stack, path, body, headers, status):
    res = stack.request("POST", path, body=body, headers=headers)
    assert res.status == status, res.text
    assert res.json()["error"]["message"]
    assert stack.queue_depth("IngestQueue") == 0


def test_poison_message_goes_to_the_dead_letter_queue(stack):
    import boto3

    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=stack.resources.queues["IngestQueue"].url, MessageBody='{"command": {"type": "?"}}'
    )
    for _ in range(6):
        stack.deliver("IngestQueue", "IngestWorkerFunction", max_rounds=1)
    assert stack.queue_depth("IngestQueue") == 0
    assert stack.queue_depth("IngestDeadLetterQueue") == 1


def test_channel_secrets_are_never_stored_in_dynamodb_returned_or_logged(stack, capsys, caplog):
    import boto3

    caplog.set_level("DEBUG")
    channel = _whatsapp(stack)
    listed = stack.request("GET", "/channels", claims=ADMIN)
    stored = boto3.client("dynamodb").scan(TableName=stack.resources.tables["ChannelsTable"])["Items"]
    out = capsys.readouterr()
    for text in (json.dumps(channel), listed.text, json.dumps(stored), out.out, out.err, caplog.text):
        assert APP_SECRET not in text and "verify-123456" not in text
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=f"leadtide/dev/acme/channels/{channel['channel_id']}"
    )
    assert json.loads(secret["SecretString"]) == {"app_secret": APP_SECRET, "verify_token": "verify-123456"}
    assert stack.request("DELETE", f"/channels/{channel['channel_id']}", claims=ADMIN).status == 204
    assert stack.request("GET", "/channels", claims=ADMIN).json() == {"items": []}
