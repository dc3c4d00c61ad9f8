"""Every WhatsApp ``MessageType`` Twilio delivers, through the real webhook handler (signed with
X-Twilio-Signature), the ingest queue and worker, to a lead with the right timeline activity.

Parameter names and shapes: Twilio Docs, "Twilio's request to your incoming message webhook URL"
(twilio.com/docs/messaging/guides/webhook-request: ``MessageType``, ``Body``, ``NumMedia``,
``MediaUrl{N}``/``MediaContentType{N}``, ``Latitude``/``Longitude``/``Address``/``Label``,
``ButtonText``/``ButtonPayload``, ``ProfileName``, ``WaId``). The location and vCard contact shapes
(empty ``Body``; ``MessageType=contacts`` as a ``text/vcard`` media item) follow captured Twilio WhatsApp
deliveries. The values are made up.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from leadtide.capture.signatures import twilio_signature

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
ACCOUNT = "AC" + "c" * 32
AUTH_TOKEN = "k" * 32
BUSINESS = "whatsapp:+14155238886"
LEAD = "whatsapp:+16505551234"
URL = "https://api.example.com/webhooks/twilio"
SID = "MM" + "4" * 32
MEDIA_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{SID}/Media/ME" + "5" * 32


def _connect(stack) -> None:
    res = stack.request(
        "POST",
        "/channels",
        json_body={
            "type": "twilio",
            "account_sid": ACCOUNT,
            "auth_token": AUTH_TOKEN,
            "phone_number": BUSINESS,
        },
        claims=ADMIN,
    )
    assert res.status == 201, res.text


def _inbound(message_type: str | None, **extra: str) -> list[tuple[str, str]]:
    """The parameters of a real inbound WhatsApp request (without ``Body``/``NumMedia`` unless given)."""
    params = {
        "SmsMessageSid": SID,
        "ProfileName": "Ana Souza",
        "SmsSid": SID,
        "WaId": "16505551234",
        "SmsStatus": "received",
        "To": BUSINESS,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": SID,
        "AccountSid": ACCOUNT,
        "From": LEAD,
        "ApiVersion": "2010-04-01",
    }
    if message_type is not None:
        params["MessageType"] = message_type
    return list((params | extra).items())


def _media(content_type: str, body: str = "") -> dict[str, str]:
    return {"Body": body, "NumMedia": "1", "MediaUrl0": MEDIA_URL, "MediaContentType0": content_type}


def _picked(actual: Any, expected: Any) -> Any:
    """``actual`` cut down to the keys ``expected`` names (recursively; lists item by item)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {key: _picked(actual.get(key), value) for key, value in expected.items()}
    if isinstance(expected, list) and isinstance(actual, list) and len(actual) == len(expected):
        return [_picked(a, e) for a, e in zip(actual, expected, strict=True)]
    return actual


def _post(stack, params: list[tuple[str, str]]):
    return stack.request(
        "POST",
        "/webhooks/twilio",
        body=urlencode(params),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(URL, params, AUTH_TOKEN),
        },
    )


def _media_item(media_type: str, mime_type: str) -> list[dict[str, Any]]:
    return [
        {
            "media_type": media_type,
            "provider_media_id": "ME" + "5" * 32,
            "mime_type": mime_type,
            "url": MEDIA_URL,
        }
    ]


CASES: list[tuple[str, list[tuple[str, str]], dict[str, Any]]] = [
    (
        "text",
        _inbound("text", Body="Hi, do you deliver to Porto?", NumMedia="0"),
        {"kind": "text", "raw_type": "text", "text": "Hi, do you deliver to Porto?"},
    ),
    (
        "image",
        _inbound("image", **_media("image/jpeg", body="The kitchen today")),
        {
            "kind": "media",
            "raw_type": "image",
            "text": "The kitchen today",
            "media": _media_item("image", "image/jpeg"),
        },
    ),
    (
        "video",
        _inbound("video", **_media("video/mp4")),
        {"kind": "media", "raw_type": "video", "text": None, "media": _media_item("video", "video/mp4")},
    ),
    (
        "audio",
        _inbound("audio", **_media("audio/ogg")),
        {"kind": "media", "raw_type": "audio", "text": None, "media": _media_item("audio", "audio/ogg")},
    ),
    (
        "document",
        _inbound("document", **_media("application/pdf", body="floor-plan.pdf")),
        {
            "kind": "media",
            "raw_type": "document",
            "text": "floor-plan.pdf",
            "media": _media_item("document", "application/pdf"),
        },
    ),
    (
        "document sent as a file (an image content type)",
        _inbound("document", **_media("image/png")),
        {"kind": "media", "raw_type": "document", "media": _media_item("document", "image/png")},
    ),
    (
        "sticker",
        _inbound("sticker", **_media("image/webp")),
        {"kind": "media", "raw_type": "sticker", "text": None, "media": _media_item("sticker", "image/webp")},
    ),
    (
        "contacts (a vCard)",
        _inbound("contacts", **_media("text/vcard")),
        {"kind": "contacts", "raw_type": "contacts", "media": _media_item("contacts", "text/vcard")},
    ),
    (
        "location without Body or NumMedia",
        _inbound(
            "location",
            Latitude="37.483872693672",
            Longitude="-122.14900441942",
            Address="1 Hacker Way, Menlo Park, CA 94025",
            Label="Meta Headquarters",
        ),
        {
            "kind": "location",
            "raw_type": "location",
            "text": "Meta Headquarters, 1 Hacker Way, Menlo Park, CA 94025",
            "location": {
                "latitude": 37.483872693672,
                "longitude": -122.14900441942,
                "name": "Meta Headquarters",
                "address": "1 Hacker Way, Menlo Park, CA 94025",
            },
        },
    ),
    (
        "location pin (coordinates only, empty Body)",
        _inbound("location", Body="", NumMedia="0", Latitude="25.018766403198", Longitude="-77.395950317383"),
        {
            "kind": "location",
            "text": "25.018766403198,-77.395950317383",
            "location": {"latitude": 25.018766403198, "longitude": -77.395950317383},
        },
    ),
    (
        "button (template quick reply)",
        _inbound(
            "button", Body="Yes, call me", NumMedia="0", ButtonText="Yes, call me", ButtonPayload="BOOK_CALL"
        ),
        {
            "kind": "interactive",
            "raw_type": "button",
            "text": "Yes, call me",
            "interactive": {
                "reply_type": "template_button",
                "reply_id": "BOOK_CALL",
                "title": "Yes, call me",
            },
        },
    ),
    (
        "interactive reply button without Body",
        _inbound("interactive", ButtonText="Morning", ButtonPayload="slot_am"),
        {
            "kind": "interactive",
            "raw_type": "interactive",
            "text": "Morning",
            "interactive": {"reply_type": "button_reply", "reply_id": "slot_am", "title": "Morning"},
        },
    ),
    (
        "interactive list reply",
        _inbound("interactive", Body="2 bedrooms", NumMedia="0", ListId="rooms_2", ListTitle="2 bedrooms"),
        {
            "kind": "interactive",
            "raw_type": "interactive",
            "text": "2 bedrooms",
            "interactive": {"reply_type": "list_reply", "reply_id": "rooms_2", "title": "2 bedrooms"},
        },
    ),
]


@pytest.mark.parametrize(("params", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_message_type_creates_the_lead_with_its_activity(
    stack, params: list[tuple[str, str]], expected: dict[str, Any]
) -> None:
    # Given a connected Twilio WhatsApp sender
    _connect(stack)
    # When Twilio delivers one inbound message of that type, signed
    res = _post(stack, params)
    # Then it is accepted, and once the queues settle the sender is a lead with the message on its timeline
    assert res.status == 200, res.text
    stack.settle()
    (lead,) = stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    assert (lead["phone"], lead["name"], lead["source_channel"]) == ("+16505551234", "Ana Souza", "twilio")
    (activity,) = stack.request("GET", f"/leads/{lead['lead_id']}/activities", claims=ADMIN).json()["items"]
    assert activity["type"] == "message" and activity["provider_message_id"] == SID
    assert _picked(activity, expected) == expected


def test_a_second_message_type_appends_to_the_same_lead(stack) -> None:
    # Given a lead who wrote a text
    _connect(stack)
    assert _post(stack, CASES[0][1]).status == 200
    # When the same sender shares a location (a new MessageSid, no Body)
    location = [
        (k, "SM" + "6" * 32 if k in ("MessageSid", "SmsSid", "SmsMessageSid") else v) for k, v in CASES[8][1]
    ]
    assert _post(stack, location).status == 200
    stack.settle()
    # Then the lead's timeline holds both, the location with its coordinates and address
    (lead,) = stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    acts = stack.request("GET", f"/leads/{lead['lead_id']}/activities", claims=ADMIN).json()["items"]
    assert [a["kind"] for a in acts] == ["text", "location"]
    assert acts[1]["location"]["address"] == "1 Hacker Way, Menlo Park, CA 94025"
    assert lead["message_count"] == 2


def test_status_callback_is_still_a_status_and_creates_no_lead(stack) -> None:
    # Given a status callback of a message the business sent (From is the business, no message content)
    _connect(stack)
    params = [
        ("ChannelPrefix", "whatsapp"),
        ("ApiVersion", "2010-04-01"),
        ("MessageStatus", "read"),
        ("SmsSid", "SM" + "7" * 32),
        ("SmsStatus", "read"),
        ("To", LEAD),
        ("From", BUSINESS),
        ("MessageSid", "SM" + "7" * 32),
        ("AccountSid", ACCOUNT),
    ]
    # When delivered, signed, Then it is accepted and no lead (nor activity) appears
    res = _post(stack, params)
    assert res.status == 200, res.text
    stack.settle()
    assert stack.request("GET", "/leads", claims=ADMIN).json()["items"] == []


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"Latitude": "91", "Longitude": "0"}, "parameter Latitude must be a number from -90 to 90"),
        ({"Latitude": "north", "Longitude": "0"}, "parameter Latitude must be a number from -90 to 90"),
        ({"Latitude": "10"}, "parameter Longitude is missing"),
    ],
)
def test_a_broken_location_is_a_400_naming_the_parameter(stack, extra: dict[str, str], problem: str) -> None:
    # Given a signed location whose coordinates are broken
    _connect(stack)
    res = _post(stack, _inbound("location", **extra))
    # Then 400 naming the parameter, and nothing is stored
    assert res.status == 400
    assert res.json()["error"]["message"].startswith(problem)
    stack.settle()
    assert stack.request("GET", "/leads", claims=ADMIN).json()["items"] == []
