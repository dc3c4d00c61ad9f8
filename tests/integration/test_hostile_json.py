"""Hostile JSON on every public body (web forms, ``/track/events``, the Meta webhooks) and the API: nesting
~1,000 deep, 5,000-digit integers, out-of-range floats and NaN get a 400 (too large: 413) in the one error
shape, never a 5xx, and nothing is queued; the Meta signature header is checked before the body is read
(leadtide.models.bounded_json)."""

from __future__ import annotations

import base64
import json

import pytest

from leadtide.capture.signatures import meta_signature
from leadtide.models.bounded_json import MAX_BODY_BYTES, MAX_DELIVERY_BYTES

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
APP_SECRET = "0123456789abcdef0123456789abcdef"
PHONE_NUMBER_ID = "1122334455667"
IG_ACCOUNT = "17841400000000001"
JSON_HEADERS = {"content-type": "application/json"}


def _whatsapp_with(value: bytes) -> bytes:
    """A WhatsApp delivery addressed to the connected number, with ``value`` inside a message."""
    return (
        b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",'
        b' "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "'
        + PHONE_NUMBER_ID.encode()
        + b'"}, "messages": [{"from": "15550001111", "id": "wamid.1", "timestamp": "1697043223",'
        b' "type": "text", "text": {"body": "hi"}, "x": ' + value + b"}]}}]}]}"
    )


HOSTILE = {
    "deep_arrays": b"[" * 1000 + b"]" * 1000,
    "deep_objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "deep_unterminated": b"[" * 5000,
    "int_5000_digits": b"9" * 5000,
    "negative_int_5000_digits": b"-" + b"1" * 5000,
    "float_out_of_range": b"1e999",
    "nan": b"NaN",
}


def _body(kind: str, value: bytes) -> bytes:
    return value if kind.startswith("deep") else b'{"email": "a@example.com", "n": ' + value + b"}"


def _bad_json(res) -> dict:
    assert res.status == 400, res.text
    error = res.json()["error"]
    assert error["code"] == "malformed_json", error
    assert error["message"] and error["details"][0]["field"] == "body", error
    return error


@pytest.fixture
def channels(stack):
    for body in (
        {
            "type": "whatsapp",
            "phone_number_id": PHONE_NUMBER_ID,
            "verify_token": "verify-123456",
            "app_secret": APP_SECRET,
        },
        {
            "type": "instagram",
            "account_id": IG_ACCOUNT,
            "verify_token": "verify-123456",
            "app_secret": APP_SECRET,
        },
    ):
        assert stack.request("POST", "/channels", json_body=body, claims=ADMIN).status == 201
    form = stack.request(
        "POST",
        "/channels",
        json_body={"type": "web_form", "name": "Quote", "fields": [{"name": "email", "type": "email"}]},
        claims=ADMIN,
    )
    assert form.status == 201, form.text
    key = stack.request("POST", "/api-keys", json_body={"name": "site"}, claims=ADMIN).json()["key"]
    return {"form_id": form.json()["form_id"], "api_key": key}


def test_public_bodies_beyond_the_bounds_are_a_400_and_queue_nothing(stack, channels):
    for kind, value in HOSTILE.items():
        body = _body(kind, value)
        # Given a web form and an API key, When each public JSON endpoint receives the hostile body
        form = stack.request(
            "POST", f"/forms/{channels['form_id']}/submissions", body=body, headers=JSON_HEADERS
        )
        track = stack.request(
            "POST", "/track/events", body=body, headers={**JSON_HEADERS, "x-api-key": channels["api_key"]}
        )
        # Then a 400 malformed_json naming the body, and nothing is queued or stored
        for res in (form, track):
            _bad_json(res)
    assert stack.queue_depth("IngestQueue") == 0


@pytest.mark.parametrize("path", ["/webhooks/whatsapp", "/webhooks/instagram"])
def test_meta_deliveries_beyond_the_bounds_are_a_400_signed_or_not(stack, channels, path):
    for kind, value in HOSTILE.items():
        body = _whatsapp_with(value) if not kind.startswith("deep") else value
        for signature in (meta_signature(body, APP_SECRET), "sha256=" + "0" * 64):
            res = stack.request(
                "POST", path, body=body, headers={**JSON_HEADERS, "x-hub-signature-256": signature}
            )
            _bad_json(res)
    assert stack.queue_depth("IngestQueue") == 0


def test_api_bodies_beyond_the_bounds_are_a_400(stack):
    for kind, value in HOSTILE.items():
        body = _body(kind, value)
        for method, path in (("POST", "/leads"), ("POST", "/segments/preview"), ("POST", "/events")):
            _bad_json(stack.request(method, path, body=body, headers=JSON_HEADERS, claims=ADMIN))
    assert stack.request("GET", "/leads", claims=ADMIN).json()["items"] == []


def test_a_deep_cursor_is_a_400(stack):
    cursor = base64.urlsafe_b64encode(b"[" * 1500).decode().rstrip("=")  # within the 2,048 characters
    res = stack.request("GET", "/leads", query={"cursor": cursor}, claims=ADMIN)
    assert res.status == 400 and res.json()["error"]["details"] == [{"field": "cursor"}], res.text


def test_a_malformed_signature_header_is_refused_before_the_body_is_read(stack, channels):
    # Given a hostile body whose signature header cannot be a signature at all
    for header in ("sha256=00", "sha1=" + "0" * 40, "0" * 64, "sha256=" + "g" * 64):
        res = stack.request(
            "POST",
            "/webhooks/whatsapp",
            body=HOSTILE["deep_arrays"],
            headers={**JSON_HEADERS, "x-hub-signature-256": header},
        )
        # Then 401: the body was never decoded (a decode would have said 400)
        assert res.status == 401 and res.json()["error"]["code"] == "invalid_signature", (header, res.text)


def test_a_wrongly_signed_delivery_is_a_401_before_its_shape_is_parsed(stack, channels):
    # Given a delivery to a connected number whose message part is not WhatsApp's shape at all
    body = _whatsapp_with(b"1").replace(b'"messages": [', b'"messages": [7, ')
    wrong = stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=body,
        headers={**JSON_HEADERS, "x-hub-signature-256": meta_signature(body, "x" * 32)},
    )
    # Then the unverified delivery is refused as unverified (401), not parsed (which says 400)
    assert wrong.status == 401, wrong.text
    signed = stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=body,
        headers={**JSON_HEADERS, "x-hub-signature-256": meta_signature(body, APP_SECRET)},
    )
    assert signed.status == 400 and signed.json()["error"]["code"] == "malformed_payload", signed.text


def test_bodies_larger_than_accepted_are_a_413(stack, channels):
    # Given bodies one byte over the limit of their endpoint
    big = b'{"email": "a@example.com", "x": "' + b"a" * MAX_BODY_BYTES + b'"}'
    form = stack.request("POST", f"/forms/{channels['form_id']}/submissions", body=big, headers=JSON_HEADERS)
    urlencoded = stack.request(
        "POST",
        f"/forms/{channels['form_id']}/submissions",
        body=b"email=a%40example.com&x=" + b"a" * MAX_BODY_BYTES,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    track = stack.request(
        "POST", "/track/events", body=big, headers={**JSON_HEADERS, "x-api-key": channels["api_key"]}
    )
    lead = stack.request("POST", "/leads", body=big, headers=JSON_HEADERS, claims=ADMIN)
    delivery = _whatsapp_with(b'"' + b"a" * MAX_DELIVERY_BYTES + b'"')
    meta = stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=delivery,
        headers={**JSON_HEADERS, "x-hub-signature-256": meta_signature(delivery, APP_SECRET)},
    )
    # Then 413 payload_too_large in the error shape, and nothing is queued
    for res in (form, urlencoded, track, lead, meta):
        assert res.status == 413, res.text[:300]
        assert res.json()["error"]["code"] == "payload_too_large"
    assert stack.queue_depth("IngestQueue") == 0


def test_bodies_within_the_bounds_still_work(stack, channels):
    # A document exactly at the depth limit and a 100-character number are accepted
    from leadtide.models.bounded_json import MAX_DEPTH

    nested = json.dumps({"email": "a@example.com", "tags": []})
    assert stack.request("POST", "/leads", body=nested, headers=JSON_HEADERS, claims=ADMIN).status == 201
    at_limit = b'{"email": "b@example.com", "x": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    res = stack.request(
        "POST", f"/forms/{channels['form_id']}/submissions", body=at_limit, headers=JSON_HEADERS
    )
    assert res.status == 422 and res.json()["error"]["details"][0]["field"] == "x", res.text  # not a field
    body = _whatsapp_with(b"1" * 100)
    ok = stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=body,
        headers={**JSON_HEADERS, "x-hub-signature-256": meta_signature(body, APP_SECRET)},
    )
    assert ok.status == 200 and ok.json()["queued"] == 1, ok.text


def test_form_bodies_with_too_many_pairs_are_a_400(stack, channels):
    # Given form-encoded bodies of a million-ish tiny pairs (Twilio's and the form's are flat, but not free)
    many = "&".join(f"k{i}=" for i in range(5_000))
    form = stack.request(
        "POST",
        f"/forms/{channels['form_id']}/submissions",
        body=many,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    twilio = stack.request(
        "POST",
        "/webhooks/twilio",
        body=many,
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "x" * 28},
    )
    # Then 400 naming the body, nothing queued
    for res in (form, twilio):
        assert res.status == 400 and res.json()["error"]["details"][0]["field"] == "body", res.text
    assert stack.queue_depth("IngestQueue") == 0
