"""leadtide.capture.twilio: Twilio WhatsApp form parameters -> InboundMessage / DeliveryStatusUpdate.

Real params come from ../shared/data/webhooks (chatwoot spec, see its SOURCES.md);
tests/events/twilio_*.json are synthetic, with parameter names from Twilio's docs
(twilio.com/docs/messaging/guides/webhook-request,
twilio.com/docs/whatsapp/api, twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from leadtide.capture.twilio import parse_twilio, twilio_routing_key
from leadtide.models.channels import ChannelRoute
from leadtide.models.common import ChannelType
from leadtide.models.errors import MalformedPayloadError
from leadtide.models.messages import (
    AdReferral,
    DeliveryStatus,
    DeliveryStatusUpdate,
    InboundMessage,
    InteractiveReply,
    Location,
    Media,
    MessageKind,
    SenderIdentity,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"
ACCOUNT = "AC7b3f1c2d4e5f60718293a4b5c6d7e8f9"
ROUTE = ChannelRoute(tenant_id="t-acme", channel_id="ch-tw-1", channel_type=ChannelType.TWILIO)
RECEIVED = datetime(2025, 6, 8, 21, 0, 0, tzinfo=UTC)


def params(name: str) -> dict[str, str]:
    return json.loads((EVENTS / name).read_text())["params"]


def parse_one(p: dict[str, Any]) -> InboundMessage | DeliveryStatusUpdate:
    commands = parse_twilio(p, ROUTE, received_at=RECEIVED)
    assert len(commands) == 1, commands
    return commands[0]


# -- real params ------------------------------------------------------------------------------------------


def test_real_inbound_with_profile_name(shared_data: Path) -> None:
    # Given chatwoot's minimal inbound params (SmsSid only, no To)
    doc = json.loads((shared_data / "webhooks" / "twilio_whatsapp_inbound_profile_name.json").read_text())
    # When parsed
    message = parse_one(doc["params"])
    # Then the expected contact name and phone come out, with the receive time as occurred_at
    assert message == InboundMessage(
        tenant_id="t-acme",
        channel_id="ch-tw-1",
        channel_type=ChannelType.TWILIO,
        provider_message_id="SMxx",
        occurred_at=RECEIVED,
        kind=MessageKind.TEXT,
        sender=SenderIdentity(phone=doc["expected"]["contact_phone"], name=doc["expected"]["contact_name"]),
        text="Hello with profile name",
        raw_type="text",
    )


def test_real_inbound_without_to_cannot_be_routed(shared_data: Path) -> None:
    # Given the same minimal params, which lack To
    doc = json.loads((shared_data / "webhooks" / "twilio_whatsapp_inbound_profile_name.json").read_text())
    # When routed, Then the missing parameter is named
    with pytest.raises(MalformedPayloadError, match=r"^parameter To is missing$"):
        twilio_routing_key(doc["params"])


def test_real_voice_params_are_neither_message_nor_status(shared_data: Path) -> None:
    # Given the signature vector's params (a voice call: CallSid, Digits)
    doc = json.loads((shared_data / "webhooks" / "twilio_signature_basic.json").read_text())
    # When parsed as messaging, Then it is rejected saying what is expected
    with pytest.raises(
        MalformedPayloadError,
        match=r"^neither an inbound message \(Body, NumMedia, MessageType, Latitude/Longitude, "
        r"ButtonText/ButtonPayload or ListId/ListTitle\) nor a status callback \(MessageStatus\)$",
    ):
        parse_twilio(doc["params"], ROUTE, received_at=RECEIVED)


# -- routing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "twilio_whatsapp_inbound_media.json",
        "twilio_whatsapp_inbound_button.json",
        "twilio_whatsapp_inbound_referral.json",
        "twilio_whatsapp_inbound_location.json",
        "twilio_whatsapp_status_read.json",
        "twilio_whatsapp_status_undelivered.json",
    ],
)
def test_routing_key_is_the_business_number_both_ways(name: str) -> None:
    # Given inbound messages (business = To) and status callbacks (business = From)
    # When routed, Then every request maps to the same channel key
    assert twilio_routing_key(params(name)) == f"{ACCOUNT}:+14155238886"


def test_routing_key_of_received_status_uses_to() -> None:
    # Given a status callback about a message coming in to the business
    p = {
        "AccountSid": ACCOUNT,
        "MessageStatus": "received",
        "To": "whatsapp:+14155238886",
        "From": "whatsapp:+16505551234",
    }
    # When routed, Then To (the business) is used
    assert twilio_routing_key(p) == f"{ACCOUNT}:+14155238886"


def test_routing_key_normalises_to() -> None:
    # Given a To with spaces and no whatsapp: prefix
    p = {"AccountSid": ACCOUNT, "To": "+1 415 523 8886", "Body": "hi"}
    # When routed, Then it is E.164
    assert twilio_routing_key(p) == f"{ACCOUNT}:+14155238886"


@pytest.mark.parametrize(
    ("p", "problem"),
    [
        ({"To": "whatsapp:+14155238886", "Body": "x"}, "parameter AccountSid is missing"),
        ({"AccountSid": ACCOUNT, "From": "whatsapp:+16505551234", "Body": "x"}, "parameter To is missing"),
        (
            {"AccountSid": ACCOUNT, "MessageStatus": "sent", "To": "whatsapp:+16505551234"},
            "parameter From is missing",
        ),
        ({"AccountSid": "  ", "To": "whatsapp:+14155238886"}, "parameter AccountSid is missing"),
    ],
)
def test_routing_key_missing_parameter(p: dict[str, str], problem: str) -> None:
    # Given params without a needed parameter
    # When routed, Then MalformedPayloadError names it
    with pytest.raises(MalformedPayloadError) as exc_info:
        twilio_routing_key(p)
    assert exc_info.value.message == problem


def test_routing_key_junk_number() -> None:
    # Given a To that is not a phone number
    # When routed, Then the parameter is named
    with pytest.raises(
        MalformedPayloadError, match=r"^parameter To is not a phone number: 'sandbox' is not a valid"
    ):
        twilio_routing_key({"AccountSid": ACCOUNT, "To": "whatsapp:sandbox", "Body": "x"})


# -- inbound ----------------------------------------------------------------------------------------------


def test_inbound_media_with_caption() -> None:
    # Given an inbound message with two media items
    message = parse_one(params("twilio_whatsapp_inbound_media.json"))
    # Then MEDIA with both items in order, the body as text and the sender from From/ProfileName
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.MEDIA
    assert message.text == "Photos of the bathroom"
    assert message.sender == SenderIdentity(phone="+16505551234", name="Sheena Nelson")
    assert message.provider_message_id == "MM1f2e3d4c5b6a79880716253443526170"
    base = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1f2e3d4c5b6a79880716253443526170/Media/"
    assert message.media == (
        Media(
            media_type="image",
            provider_media_id="ME0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
            mime_type="image/jpeg",
            url=base + "ME0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
        ),
        Media(
            media_type="document",
            provider_media_id="ME9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            mime_type="application/pdf",
            url=base + "ME9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        ),
    )
    assert message.raw_type == "image"
    assert message.occurred_at == RECEIVED


def test_inbound_template_button() -> None:
    # Given a quick-reply button tap on a template
    message = parse_one(params("twilio_whatsapp_inbound_button.json"))
    # Then INTERACTIVE template_button with the payload, replying to the template message
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.INTERACTIVE
    assert message.interactive == InteractiveReply(
        reply_type="template_button", reply_id="BOOK_CALL", title="Yes, call me"
    )
    assert message.reply_to_provider_message_id == "MM3c4d5e6f708192a3b4c5d6e7f8091a2b"
    assert message.raw_type == "button"


def test_inbound_click_to_whatsapp_referral() -> None:
    # Given the first message after a click-to-WhatsApp ad
    message = parse_one(params("twilio_whatsapp_inbound_referral.json"))
    # Then the Referral* params become an AdReferral; Forwarded=false is not forwarded
    assert isinstance(message, InboundMessage)
    assert message.referral == AdReferral(
        source_type="ad",
        source_id="120226305854810726",
        source_url="https://fb.me/3cr4Wqqkv",
        headline="Kitchen makeover",
        body="Free quotes for kitchen renovations this spring.",
        ctwa_clid="ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-ZABDLQAAAA",
    )
    assert message.kind == MessageKind.TEXT
    assert message.forwarded is False


def test_inbound_location() -> None:
    # Given a shared location (empty Body)
    message = parse_one(params("twilio_whatsapp_inbound_location.json"))
    # Then LOCATION with "Label, Address" as text and the place kept whole for the timeline
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.LOCATION
    assert message.text == "Meta Headquarters, 1 Hacker Way, Menlo Park, CA 94025"
    assert message.location == Location(
        latitude=37.483872693672,
        longitude=-122.14900441942,
        name="Meta Headquarters",
        address="1 Hacker Way, Menlo Park, CA 94025",
    )
    assert message.raw_type == "location"


@pytest.mark.parametrize("dropped", [("Body",), ("Body", "NumMedia"), ("Body", "NumMedia", "MessageType")])
def test_inbound_location_without_body_is_still_a_message(dropped: tuple[str, ...]) -> None:
    # Given a shared location without Body (and without NumMedia / MessageType)
    p = params("twilio_whatsapp_inbound_location.json")
    for name in dropped:
        del p[name]
    # When routed and parsed, Then it is an inbound LOCATION from the lead to the business
    assert twilio_routing_key(p) == f"{ACCOUNT}:+14155238886"
    message = parse_one(p)
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.LOCATION
    assert message.sender.phone == "+16505551234"
    assert message.location is not None and message.location.latitude == 37.483872693672
    assert message.raw_type == "location"


def test_message_content_wins_over_a_message_status() -> None:
    # Given a location that also carries MessageStatus (a message parameter is present)
    p = params("twilio_whatsapp_inbound_location.json") | {"MessageStatus": "received"}
    del p["Body"]
    # When routed and parsed, Then it is still the lead's message (To is the business)
    assert twilio_routing_key(p) == f"{ACCOUNT}:+14155238886"
    message = parse_one(p)
    assert isinstance(message, InboundMessage) and message.kind == MessageKind.LOCATION


def test_status_callback_with_num_media_stays_a_status() -> None:
    # Given a status callback that also carries NumMedia (no message-only parameter), as handled before
    p = params("twilio_whatsapp_status_read.json") | {"NumMedia": "0"}
    # When parsed, Then it is a status update, routed by From
    assert twilio_routing_key(p) == f"{ACCOUNT}:+14155238886"
    update = parse_one(p)
    assert isinstance(update, DeliveryStatusUpdate) and update.status == DeliveryStatus.READ


def _inbound(message_type: str, **extra: str) -> dict[str, str]:
    base = {
        "AccountSid": ACCOUNT,
        "MessageSid": "MM" + "1" * 32,
        "From": "whatsapp:+16505551234",
        "To": "whatsapp:+14155238886",
        "ProfileName": "Sheena Nelson",
        "MessageType": message_type,
    }
    return base | extra


MEDIA_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM{'1' * 32}/Media/ME{'2' * 32}"


def _one_media(content_type: str, body: str = "") -> dict[str, str]:
    return {"Body": body, "NumMedia": "1", "MediaUrl0": MEDIA_URL, "MediaContentType0": content_type}


@pytest.mark.parametrize(
    ("p", "kind", "text", "media_type"),
    [
        (_inbound("text", Body="hello", NumMedia="0"), MessageKind.TEXT, "hello", None),
        (_inbound("image", **_one_media("image/jpeg", "look")), MessageKind.MEDIA, "look", "image"),
        (_inbound("video", **_one_media("video/mp4")), MessageKind.MEDIA, None, "video"),
        (_inbound("audio", **_one_media("audio/ogg; codecs=opus")), MessageKind.MEDIA, None, "audio"),
        (
            _inbound("document", **_one_media("application/pdf", "plan.pdf")),
            MessageKind.MEDIA,
            "plan.pdf",
            "document",
        ),
        (_inbound("document", **_one_media("image/jpeg")), MessageKind.MEDIA, None, "document"),
        (_inbound("sticker", **_one_media("image/webp")), MessageKind.MEDIA, None, "sticker"),
        (_inbound("video", Body="", NumMedia="1", MediaUrl0=MEDIA_URL), MessageKind.MEDIA, None, "video"),
        (_inbound("contacts", **_one_media("text/vcard")), MessageKind.CONTACTS, None, "contacts"),
        (_inbound("contacts", **_one_media("text/x-vcard")), MessageKind.CONTACTS, None, "contacts"),
    ],
)
def test_each_media_message_type(
    p: dict[str, str], kind: MessageKind, text: str | None, media_type: str | None
) -> None:
    # Given an inbound message of that MessageType
    message = parse_one(p)
    # Then its kind, text and media item (URL and content type kept) follow the type
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.text, message.raw_type) == (kind, text, p["MessageType"])
    if media_type is None:
        assert message.media == ()
    else:
        (item,) = message.media
        assert (item.media_type, item.url, item.mime_type) == (
            media_type,
            MEDIA_URL,
            p.get("MediaContentType0"),
        )
        assert item.provider_media_id == "ME" + "2" * 32


def test_a_vcard_without_message_type_is_contacts() -> None:
    # Given a vCard media item and no MessageType
    p = _inbound("contacts", **_one_media("text/vcard"))
    del p["MessageType"]
    # Then CONTACTS, typed from the content type
    message = parse_one(p)
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.raw_type, message.media[0].media_type) == (
        MessageKind.CONTACTS,
        "contacts",
        "contacts",
    )


@pytest.mark.parametrize(
    ("p", "reply"),
    [
        (
            _inbound("button", Body="Yes", ButtonText="Yes", ButtonPayload="YES"),
            InteractiveReply(reply_type="template_button", reply_id="YES", title="Yes"),
        ),
        (
            _inbound("interactive", ButtonText="Morning", ButtonPayload="slot_am"),
            InteractiveReply(reply_type="button_reply", reply_id="slot_am", title="Morning"),
        ),
        (
            _inbound("interactive", Body="Morning", ButtonPayload="slot_am"),
            InteractiveReply(reply_type="button_reply", reply_id="slot_am", title="Morning"),
        ),
        (
            _inbound("interactive", ListId="rooms_2", ListTitle="2 bedrooms"),
            InteractiveReply(reply_type="list_reply", reply_id="rooms_2", title="2 bedrooms"),
        ),
        (
            _inbound("interactive", Body="2 bedrooms", ListId="rooms_2"),
            InteractiveReply(reply_type="list_reply", reply_id="rooms_2", title="2 bedrooms"),
        ),
    ],
)
def test_button_and_interactive_replies(p: dict[str, str], reply: InteractiveReply) -> None:
    # Given a button or interactive reply (with or without Body)
    message = parse_one(p)
    # Then INTERACTIVE with the reply type Cloud API uses for the same tap, its id and title
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.interactive, message.text) == (MessageKind.INTERACTIVE, reply, reply.title)


def test_unknown_message_type_without_content_is_unsupported() -> None:
    # Given a MessageType this parser does not know and nothing else
    message = parse_one(_inbound("reaction"))
    # Then UNSUPPORTED, the type kept for the timeline
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.raw_type, message.text) == (MessageKind.UNSUPPORTED, "reaction", None)


def test_inbound_location_without_label_uses_coordinates() -> None:
    # Given a location without Label/Address
    p = params("twilio_whatsapp_inbound_location.json")
    del p["Label"], p["Address"]
    # When parsed, Then the text is "lat,lon"
    message = parse_one(p)
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.text) == (MessageKind.LOCATION, "37.483872693672,-122.14900441942")


def test_inbound_forwarded_flags() -> None:
    # Given an inbound text marked FrequentlyForwarded
    p = params("twilio_whatsapp_inbound_referral.json")
    p["FrequentlyForwarded"] = "true"
    # When parsed, Then forwarded is set
    message = parse_one(p)
    assert isinstance(message, InboundMessage) and message.forwarded is True


def test_inbound_empty_body_without_anything_is_unsupported() -> None:
    # Given an inbound message with an empty Body and no media
    p = {"MessageSid": "SM1", "From": "whatsapp:+16505551234", "Body": "", "NumMedia": "0"}
    # When parsed, Then UNSUPPORTED
    message = parse_one(p)
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.text) == (MessageKind.UNSUPPORTED, None)


def test_inbound_accepts_single_item_lists() -> None:
    # Given params parsed with parse_qs (values are one-item lists)
    p: dict[str, Any] = {k: [v] for k, v in params("twilio_whatsapp_inbound_referral.json").items()}
    # When parsed, Then values are unwrapped
    message = parse_one(p)
    assert isinstance(message, InboundMessage)
    assert message.text == "Hi, I saw your ad. How much for a small kitchen?"


def test_received_at_is_converted_to_utc() -> None:
    # Given a receive time in another zone
    local = datetime(2025, 6, 9, 0, 0, tzinfo=timezone(timedelta(hours=3)))
    # When parsed, Then occurred_at is the same instant in UTC
    (message,) = parse_twilio(params("twilio_whatsapp_inbound_referral.json"), ROUTE, received_at=local)
    assert message.occurred_at == datetime(2025, 6, 8, 21, 0, tzinfo=UTC)
    assert message.occurred_at.utcoffset() == timedelta(0)


# -- status callbacks -------------------------------------------------------------------------------------


def test_status_read() -> None:
    # Given a read status callback
    update = parse_one(params("twilio_whatsapp_status_read.json"))
    # Then READ for the message, recipient is To (the lead)
    assert update == DeliveryStatusUpdate(
        tenant_id="t-acme",
        channel_id="ch-tw-1",
        channel_type=ChannelType.TWILIO,
        provider_message_id="SM5e6f708192a3b4c5d6e7f8091a2b3c4d",
        status=DeliveryStatus.READ,
        occurred_at=RECEIVED,
        recipient=SenderIdentity(phone="+16505551234"),
    )


def test_status_undelivered_is_failed_with_error() -> None:
    # Given an undelivered status callback with ErrorCode/ErrorMessage
    update = parse_one(params("twilio_whatsapp_status_undelivered.json"))
    # Then FAILED with the error kept (code as int)
    assert isinstance(update, DeliveryStatusUpdate)
    assert update.status == DeliveryStatus.FAILED
    assert update.errors == (
        {
            "code": 63016,
            "message": "Failed to send freeform message because you are outside the allowed window.",
        },
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("failed", DeliveryStatus.FAILED),
        ("DELIVERED", DeliveryStatus.DELIVERED),
    ],
)
def test_status_values(status: str, expected: DeliveryStatus) -> None:
    # Given a status callback with that MessageStatus
    p = params("twilio_whatsapp_status_read.json") | {"MessageStatus": status}
    # When parsed, Then the mapped DeliveryStatus
    update = parse_one(p)
    assert isinstance(update, DeliveryStatusUpdate) and update.status == expected


@pytest.mark.parametrize(
    "status", ["queued", "accepted", "sending", "receiving", "received", "scheduled", "canceled"]
)
def test_intermediate_statuses_produce_nothing(status: str) -> None:
    # Given a status callback with an intermediate or unknown status
    p = params("twilio_whatsapp_status_read.json") | {"MessageStatus": status}
    # When parsed, Then no command
    assert parse_twilio(p, ROUTE, received_at=RECEIVED) == []


def test_status_with_non_numeric_error_code_keeps_it_as_text() -> None:
    # Given a failed status with a non-numeric ErrorCode and no ErrorMessage
    p = params("twilio_whatsapp_status_read.json") | {"MessageStatus": "failed", "ErrorCode": "X1"}
    # When parsed, Then the code is kept as given
    update = parse_one(p)
    assert isinstance(update, DeliveryStatusUpdate) and update.errors == ({"code": "X1"},)


# -- malformed --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"MessageSid": None, "SmsMessageSid": None, "SmsSid": None}, "parameter MessageSid is missing"),
        ({"From": None}, "parameter From is missing"),
        ({"NumMedia": "two"}, "parameter NumMedia must be an integer from 0 to 100, got 'two'"),
        ({"NumMedia": "-1"}, "parameter NumMedia must be an integer from 0 to 100, got '-1'"),
        ({"NumMedia": "3"}, "parameter MediaUrl2 is missing"),
        (
            {"Latitude": "north", "Longitude": "1"},
            "parameter Latitude must be a number from -90 to 90, got 'north'",
        ),
        (
            {"Latitude": "1", "Longitude": "180.5"},
            "parameter Longitude must be a number from -180 to 180, got '180.5'",
        ),
        (
            {"Latitude": "nan", "Longitude": "1"},
            "parameter Latitude must be a number from -90 to 90, got 'nan'",
        ),
        ({"Latitude": "1"}, "parameter Longitude is missing"),
        ({"Body": ["a", "b"]}, "parameter Body is sent 2 times; expected once"),
    ],
)
def test_malformed_inbound_names_the_parameter(change: dict[str, Any], problem: str) -> None:
    # Given inbound params with one broken parameter
    p: dict[str, Any] = dict(params("twilio_whatsapp_inbound_media.json"))
    for key, value in change.items():
        if value is None:
            p.pop(key, None)
        else:
            p[key] = value
    # When parsed, Then MalformedPayloadError names it
    with pytest.raises(MalformedPayloadError) as exc_info:
        parse_twilio(p, ROUTE, received_at=RECEIVED)
    assert exc_info.value.message.startswith(problem)


def test_malformed_status_without_recipient() -> None:
    # Given a delivered status callback without To
    p = params("twilio_whatsapp_status_read.json")
    del p["To"]
    # When parsed, Then To is named
    with pytest.raises(MalformedPayloadError, match=r"^parameter To is missing$"):
        parse_twilio(p, ROUTE, received_at=RECEIVED)


def test_naive_received_at_is_a_caller_error() -> None:
    # Given a naive receive time, When parsed, Then ValueError
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_twilio(params("twilio_whatsapp_inbound_media.json"), ROUTE, received_at=datetime(2025, 1, 1))
