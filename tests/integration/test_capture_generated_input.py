"""Generated deliveries through the whole capture path: signed WhatsApp Cloud API webhooks whose message
parts vary in type and content (the shape Meta documents, with values of every kind and parts missing or
extra), and web-form submissions of arbitrary text. The webhook must answer 200 or a 4xx in the error
document, and whatever it queued must be processed by the Ingest and Scoring workers without a message
ending in a dead-letter queue (800 examples each ran clean when this was written; 40 in CI)."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadtide.capture.signatures import meta_signature
from tests.integration.test_capture_flow import QUOTE_FORM

ADMIN = {"sub": "u-gen", "custom:tenant_id": "gen", "custom:role": "admin"}
APP_SECRET = "0123456789abcdef0123456789abcdef"
PHONE_NUMBER_ID = "1122334455667"
GENERATED = settings(
    max_examples=int(os.environ.get("LEADTIDE_GENERATED_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DEAD_LETTER_QUEUES = ("IngestDeadLetterQueue", "ScoringDeadLetterQueue", "JobsDeadLetterQueue")

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=5,
)
WA_IDS = st.one_of(st.from_regex(r"\A[1-9][0-9]{7,14}\Z"), st.text(max_size=20), st.integers())
TIMESTAMPS = st.one_of(
    st.integers(min_value=0, max_value=2**40).map(str), st.integers(), st.text(max_size=12)
)
PARTS = {
    "text": st.fixed_dictionaries({"body": st.text(max_size=200)}),
    "image": st.fixed_dictionaries({"id": st.text(max_size=20), "mime_type": st.text(max_size=20)}),
    "button": st.fixed_dictionaries({"payload": st.text(max_size=20), "text": st.text(max_size=20)}),
    "interactive": st.fixed_dictionaries(
        {"type": st.sampled_from(["button_reply", "list_reply", "x"]), "button_reply": ANY_JSON}
    ),
    "location": st.fixed_dictionaries({"latitude": ANY_JSON, "longitude": ANY_JSON}),
    "unsupported": ANY_JSON,
}


@st.composite
def _whatsapp_message(draw) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(PARTS)))
    message: dict[str, Any] = {
        "from": draw(WA_IDS),
        "id": draw(st.one_of(st.from_regex(r"\Awamid\.[A-Za-z0-9]{4,30}\Z"), st.text(max_size=10))),
        "timestamp": draw(TIMESTAMPS),
        "type": kind,
        kind: draw(PARTS[kind]),
    }
    for key in draw(st.lists(st.sampled_from(["from", "id", "timestamp", "type"]), max_size=1)):
        del message[key]
    if draw(st.booleans()):
        message["context"] = draw(ANY_JSON)
    return message


@st.composite
def _whatsapp_delivery(draw) -> dict[str, Any]:
    messages = draw(st.lists(_whatsapp_message(), min_size=1, max_size=3))
    contacts = [
        {"profile": {"name": draw(st.one_of(st.text(max_size=40), ANY_JSON))}, "wa_id": m.get("from")}
        for m in messages
    ]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": contacts,
        "messages": messages,
    }
    if draw(st.booleans()):
        value["statuses"] = draw(st.lists(ANY_JSON, max_size=2))
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}],
    }


def _no_dead_letters(stack) -> None:
    stack.settle()
    depths = {queue: stack.queue_depth(queue) for queue in DEAD_LETTER_QUEUES}
    assert set(depths.values()) == {0}, depths


@GENERATED
@given(delivery=_whatsapp_delivery())
def test_generated_signed_whatsapp_deliveries_are_answered_and_processed(stack, delivery):
    if not stack.request("GET", "/channels", claims=ADMIN).json()["items"]:
        connected = stack.request(
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
        assert connected.status == 201, connected.text
    payload = json.dumps(delivery).encode()
    response = stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=payload,
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": meta_signature(payload, APP_SECRET),
        },
    )
    assert response.status < 500, response.text
    if response.status >= 400:
        assert response.json()["error"]["code"], response.text
    _no_dead_letters(stack)


@GENERATED
@given(
    submission=st.dictionaries(
        st.sampled_from(["name", "email", "phone", "message", "x"]),
        st.one_of(st.text(max_size=80), st.emails(), ANY_JSON),
        max_size=5,
    )
)
def test_generated_form_submissions_are_answered_and_processed(stack, submission):
    forms = [
        c for c in stack.request("GET", "/channels", claims=ADMIN).json()["items"] if c["type"] == "web_form"
    ]
    if not forms:
        created = stack.request(
            "POST",
            "/channels",
            json_body=QUOTE_FORM,
            claims=ADMIN,
        )
        assert created.status == 201, created.text
        form_id = created.json()["form_id"]
    else:
        form_id = forms[0]["form_id"]
    response = stack.request("POST", f"/forms/{form_id}/submissions", json_body=submission)
    assert response.status < 500, response.text
    if response.status >= 400:
        assert response.json()["error"]["code"], response.text
    _no_dead_letters(stack)
