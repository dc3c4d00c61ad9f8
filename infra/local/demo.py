"""``make demo``: the main job end to end on the local stack, from real provider deliveries to scored leads.

Steps: start the local stack (moto's server + the template's HTTP API), connect one channel of each kind
over the API as an admin (WhatsApp, Instagram and Twilio channels start ``pending``), replay the documented
WhatsApp Cloud API, Instagram and Twilio sample deliveries (signed with the demo channels' secrets; the
pywa delivery with its own, real signature: each channel's first signed delivery is captured and makes it
``active``), submit the web form, let the queues deliver (ingest -> lead events -> scoring), then print
the leads and exit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from leadtide.capture.signatures import meta_signature, twilio_signature
from leadtide_local.stack import LocalStack

DATA = Path(__file__).parent / "demo_data"
TENANT = "sunny-coast-surf"
WHATSAPP_SECRET = "demo-whatsapp-app-secret-0001"
INSTAGRAM_SECRET = "demo-instagram-app-secret-001"
TWILIO_TOKEN = "demo-twilio-auth-token-000001"
TWILIO_SID = "AC" + "d" * 32
TWILIO_NUMBER = "+14155238886"


class DemoError(RuntimeError):
    """A step of the demo got an unexpected answer (the message says which)."""


def _check(response: requests.Response, expected: int, what: str) -> Any:
    if response.status_code != expected:
        raise DemoError(
            f"{what}: expected HTTP {expected}, got {response.status_code}: {response.text[:300]}"
        )
    return (
        response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    )


def _post_meta(base: str, channel: str, body: bytes, signature: str, what: str) -> None:
    response = requests.post(
        f"{base}/webhooks/{channel}",
        data=body,
        timeout=30,
        headers={"content-type": "application/json", "x-hub-signature-256": signature},
    )
    _check(response, 200, what)
    print(f"  delivered  {what:55} -> {response.status_code} queued {response.json()['queued']}")


def run(stack: LocalStack) -> list[dict[str, Any]]:
    """Run the demo against a started stack; return the leads as ``GET /leads`` lists them."""
    base = stack.base_url
    admin = {"authorization": f"Bearer {stack.token(TENANT, 'admin', 'owner-1')}"}

    print("1. Connecting channels as an admin of", TENANT)
    pywa = json.loads((DATA / "meta_signed_delivery_pywa.json").read_text())
    channels = [
        {
            "type": "whatsapp",
            "name": "Front desk WhatsApp",
            "phone_number_id": "1122334455667",
            "verify_token": "surf-verify-token",
            "app_secret": WHATSAPP_SECRET,
        },
        {
            "type": "whatsapp",
            "name": "Bookings WhatsApp",
            "phone_number_id": "277321005464405",
            "verify_token": "surf-verify-token-2",
            "app_secret": pywa["app_secret"],
        },
        {
            "type": "instagram",
            "name": "@sunnycoastsurf",
            "account_id": "0",
            "verify_token": "surf-ig-verify",
            "app_secret": INSTAGRAM_SECRET,
        },
        {
            "type": "twilio",
            "name": "Twilio WhatsApp",
            "account_sid": TWILIO_SID,
            "auth_token": TWILIO_TOKEN,
            "phone_number": f"whatsapp:{TWILIO_NUMBER}",
        },
        {
            "type": "web_form",
            "name": "Summer camp enquiry",
            "fields": [
                {"name": "name", "label": "Your name", "required": True},
                {"name": "email", "type": "email", "required": True},
                {"name": "phone", "type": "phone"},
                {"name": "message", "type": "textarea"},
            ],
        },
    ]
    form_id = None
    for body in channels:
        created = _check(
            requests.post(f"{base}/channels", json=body, headers=admin, timeout=30),
            201,
            f"connect {body['type']}",
        )
        form_id = created.get("form_id") or form_id
        print(
            f"  connected  {body['type']:10} {created.get('name') or '':22} {created['status']:8} "
            f"webhook {created['webhook_path']}"
        )

    print("2. Meta's verification handshake")
    handshake = requests.get(
        f"{base}/webhooks/whatsapp",
        timeout=30,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": "surf-verify-token",
        },
    )
    _check(handshake, 200, "handshake")
    print(f"  GET /webhooks/whatsapp?hub.mode=subscribe... -> {handshake.status_code} body {handshake.text}")

    print("3. Replaying real provider deliveries")
    for name in (
        "whatsapp_cloud_text.json",
        "whatsapp_cloud_image.json",
        "whatsapp_cloud_interactive_button_reply.json",
        "whatsapp_cloud_status_read.json",
    ):
        body = (DATA / name).read_bytes()
        _post_meta(base, "whatsapp", body, meta_signature(body, WHATSAPP_SECRET), f"WhatsApp {name}")
    raw = (DATA / "meta_signed_delivery_pywa.body.json").read_bytes()
    _post_meta(
        base, "whatsapp", raw, pywa["headers"]["X-Hub-Signature-256"], "WhatsApp real signed delivery (pywa)"
    )
    _post_meta(base, "whatsapp", raw, pywa["headers"]["X-Hub-Signature-256"], "  ...the same delivery again")
    tampered = raw.replace(b"PyWa.", b"PyWa!")
    rejected = requests.post(
        f"{base}/webhooks/whatsapp",
        data=tampered,
        timeout=30,
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": pywa["headers"]["X-Hub-Signature-256"],
        },
    )
    _check(rejected, 401, "tampered delivery")
    print(
        f"  rejected   {'  ...a tampered copy':55} -> {rejected.status_code} {rejected.json()['error']['code']}"
    )
    body = (DATA / "instagram_messaging_dashboard_test_text.json").read_bytes()
    _post_meta(
        base, "instagram", body, meta_signature(body, INSTAGRAM_SECRET), "Instagram dashboard test message"
    )

    sample = json.loads((DATA / "twilio_whatsapp_inbound_profile_name.json").read_text())["params"]
    params = {
        **sample,
        "AccountSid": TWILIO_SID,
        "From": f"whatsapp:{sample['From']}",
        "To": f"whatsapp:{TWILIO_NUMBER}",
        "MessageSid": "SM" + "e" * 32,
        "NumMedia": "0",
        "WaId": sample["From"].lstrip("+"),
    }
    params.pop("MessagingServiceSid", None)
    url = f"{base}/webhooks/twilio"
    response = requests.post(
        url,
        data=urlencode(params),
        timeout=30,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(url, params, TWILIO_TOKEN),
        },
    )
    _check(response, 200, "Twilio delivery")
    print(f"  delivered  {'Twilio WhatsApp inbound (ProfileName)':55} -> {response.status_code}")

    listed = _check(requests.get(f"{base}/channels", headers=admin, timeout=30), 200, "list channels")
    print("  channel status after the first signed deliveries:")
    for channel in listed["items"]:
        print(f"    {channel['type']:10} {channel.get('name') or '':22} {channel['status']}")
    pending = [c["name"] for c in listed["items"] if c["status"] != "active"]
    if pending:
        raise DemoError(f"channels still pending after their signed deliveries: {pending}")

    print("4. A web-form submission")
    submission = {
        "name": "Maya Okafor",
        "email": "maya.okafor@example.org",
        "phone": "+44 20 7946 0958",
        "message": "Hi! How much is the July surf camp for two kids? We'd like to book this week.",
    }
    _check(requests.post(f"{base}/forms/{form_id}/submissions", json=submission, timeout=30), 201, "form")
    print(f"  submitted  form {form_id} -> 201")

    print("5. Delivering queued work (ingest -> lead events -> scoring)")
    delivered = stack.drain(timeout=60)
    print("  " + ", ".join(f"{fn}: {n}" for fn, n in sorted(delivered.items()) if n))

    leads = _check(
        requests.get(f"{base}/leads", params={"sort": "score"}, headers=admin, timeout=30), 200, "list leads"
    )["items"]
    summary = _check(requests.get(f"{base}/dashboard/summary", headers=admin, timeout=30), 200, "dashboard")
    print(f"\nLeads of {TENANT} ({summary['total_leads']} total; by source {summary['by_source']})\n")
    print(
        f"{'name':18} {'channel':10} {'contact':24} {'status':8} {'score':>5} {'grade':5} {'msgs':>4}  last message"
    )
    for lead in leads:
        contact = lead.get("phone") or lead.get("email") or f"ig:{lead.get('instagram_id')}"
        print(
            f"{(lead.get('name') or '-')[:18]:18} {lead['source_channel']:10} {contact[:24]:24} "
            f"{lead['status']:8} {lead['score'] if lead['score'] is not None else '-':>5} "
            f"{lead.get('grade') or '-':5} {lead['message_count']:>4}  {(lead.get('last_message_preview') or '')[:40]}"
        )
    top = leads[0]
    detail = _check(requests.get(f"{base}/leads/{top['lead_id']}", headers=admin, timeout=30), 200, "lead")
    print(f"\nWhy {detail.get('name')} is {detail['grade']} ({detail['score']}):")
    for factor in detail["score_breakdown"]:
        print(
            f"  {factor['points']:+6.1f}  {factor['label']}"
            + (f" - {factor['detail']}" if factor.get("detail") else "")
        )
    return leads


def main() -> int:
    """Entry point of ``leadtide demo``; exit code 0 when every step answered as expected."""
    with LocalStack.start(port=0, background_workers=False) as stack:
        print(f"Local stack: API {stack.base_url}, moto {stack.moto_endpoint}\n")
        try:
            leads = run(stack)
        except DemoError as err:
            print(f"demo failed: {err}", file=sys.stderr)
            return 1
    channels = {lead["source_channel"] for lead in leads}
    missing = {"whatsapp", "instagram", "twilio", "web_form"} - channels
    if missing:
        print(f"demo failed: no lead captured from {sorted(missing)}", file=sys.stderr)
        return 1
    print("\nDone: every channel captured, scored and graded. Next: `leadtide local serve` (see README).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
