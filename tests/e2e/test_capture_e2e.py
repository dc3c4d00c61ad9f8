"""End to end over HTTP: the local runtime (moto's server + the template's routes, queues, rule and
schedule) driven as a client would drive the deployed API."""

import json

import pytest
import requests

from leadtide.capture.signatures import meta_signature
from leadtide_local.stack import LocalStack

SECRET = "e2e-app-secret-0123456789"


@pytest.fixture(scope="module")
def local():
    with LocalStack.start(port=0, background_workers=False) as stack:
        yield stack


@pytest.fixture(scope="module")
def admin(local):
    headers = {"authorization": f"Bearer {local.token('e2e-tenant', 'admin', 'boss')}"}
    res = requests.post(
        f"{local.base_url}/channels",
        headers=headers,
        timeout=30,
        json={
            "type": "whatsapp",
            "phone_number_id": "1122334455667",
            "verify_token": "e2e-verify-token",
            "app_secret": SECRET,
        },
    )
    assert res.status_code == 201, res.text
    assert SECRET not in res.text
    return headers


def _send(local, body: bytes, signature: str) -> requests.Response:
    return requests.post(
        f"{local.base_url}/webhooks/whatsapp",
        data=body,
        timeout=30,
        headers={"content-type": "application/json", "x-hub-signature-256": signature},
    )


def test_signed_delivery_twice_and_a_tampered_copy(local, admin, shared_data):
    body = (shared_data / "webhooks" / "whatsapp_cloud_text.json").read_bytes()
    # A tampered copy first: 401 and nothing stored
    tampered = body.replace(b"Body Text", b"Body Tex!")
    res = _send(local, tampered, meta_signature(body, SECRET))
    assert res.status_code == 401 and res.json()["error"]["code"] == "invalid_signature"
    local.drain(timeout=30)
    assert requests.get(f"{local.base_url}/leads", headers=admin, timeout=30).json()["items"] == []
    # The genuine delivery, twice
    for _ in range(2):
        assert _send(local, body, meta_signature(body, SECRET)).status_code == 200
    local.drain(timeout=30)
    leads = requests.get(f"{local.base_url}/leads", headers=admin, timeout=30).json()["items"]
    assert [(lead["phone"], lead["source_channel"]) for lead in leads] == [("+972987654321", "whatsapp")]
    lead_id = leads[0]["lead_id"]
    acts = requests.get(f"{local.base_url}/leads/{lead_id}/activities", headers=admin, timeout=30).json()[
        "items"
    ]
    assert len(acts) == 1 and acts[0]["text"] == "Body Text"
    lead = requests.get(f"{local.base_url}/leads/{lead_id}", headers=admin, timeout=30).json()
    assert lead["grade"] in {"hot", "warm", "cold"} and lead["score_breakdown"]


def test_gateway_behaviour_unauthorized_and_unknown_routes(local):
    assert requests.get(f"{local.base_url}/leads", timeout=30).status_code == 401
    bad = requests.get(f"{local.base_url}/leads", headers={"authorization": "Bearer not.a.jwt"}, timeout=30)
    assert bad.status_code == 401
    assert requests.get(f"{local.base_url}/nope", timeout=30).status_code == 404
    assert (
        requests.get(f"{local.base_url}/openapi.json", timeout=30).json()["info"]["title"] == "Leadtide API"
    )


def test_nightly_schedule_fans_out_and_rescoring_keeps_scores(local, admin, shared_data):
    body = (shared_data / "webhooks" / "whatsapp_cloud_text.json").read_bytes()
    assert _send(local, body, meta_signature(body, SECRET)).status_code == 200
    local.drain(timeout=30)
    result = local.fire_schedule("Nightly")
    assert result["queued"] >= 1
    local.drain(timeout=30)
    leads = requests.get(f"{local.base_url}/leads", headers=admin, timeout=30).json()["items"]
    assert all(lead["score"] is not None for lead in leads)
    assert local.dead_letters("ScoringDeadLetterQueue") == []


def test_malformed_json_never_gets_a_5xx(local, admin):
    for body in (
        b"",
        b"{",
        b"[1,2]",
        b'{"object": "whatsapp_business_account", "entry": "x"}',
        "é".encode("latin-1"),
    ):
        res = _send(local, body, "sha256=" + "0" * 64)
        assert 400 <= res.status_code < 500, (body, res.status_code, res.text)
    res = requests.post(
        f"{local.base_url}/leads",
        data=b"{oops",
        timeout=30,
        headers={**admin, "content-type": "application/json"},
    )
    assert res.status_code == 400 and json.loads(res.text)["error"]["code"] == "malformed_json"


def test_a_one_megabyte_signed_text_over_http_ends_as_a_lead_with_its_whole_text(local, admin, shared_data):
    # Given a signed WhatsApp text of 1,000,000 characters from a new sender
    delivery = json.loads((shared_data / "webhooks" / "whatsapp_cloud_text.json").read_text())
    message = delivery["entry"][0]["changes"][0]["value"]["messages"][0]
    text = "long " + "m" * 999_995
    message.update({"from": "15550009999", "id": "wamid.e2e-large", "text": {"body": text}})
    delivery["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "15550009999"
    body = json.dumps(delivery).encode()
    # When it is delivered over HTTP and the workers drain the queues
    res = _send(local, body, meta_signature(body, SECRET))
    assert res.status_code == 200 and res.json()["queued"] == 1, res.text
    local.drain(timeout=60)
    # Then the lead exists, the activity holds the start of the text, and the whole text downloads
    leads = requests.get(f"{local.base_url}/leads", headers=admin, timeout=30).json()["items"]
    (lead,) = [lead for lead in leads if lead["phone"] == "+15550009999"]
    url = f"{local.base_url}/leads/{lead['lead_id']}/activities"
    (activity,) = requests.get(url, headers=admin, timeout=30).json()["items"]
    assert (
        activity["text_truncated"]
        and activity["text_length"] == len(text)
        and text.startswith(activity["text"])
    )
    answer = requests.get(f"{url}/{activity['activity_id']}/text", headers=admin, timeout=30).json()
    assert requests.get(answer["text_url"], timeout=60).text == text
    assert local.dead_letters("IngestDeadLetterQueue") == []
    # And a body over API Gateway's 10 MB is refused by the gateway itself
    huge = requests.post(
        f"{local.base_url}/webhooks/whatsapp",
        data=b"x" * (10 * 1024 * 1024 + 1),
        timeout=60,
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
