"""leadtide.capture.whatsapp: WhatsApp Cloud API deliveries -> InboundMessage / DeliveryStatusUpdate.

Real payloads come from ../shared/data/webhooks (pywa fixtures, see its SOURCES.md);
tests/events/whatsapp_*.json are synthetic payloads written from Meta's messages webhook reference
(developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/<type>)
for the message types the real data lacks.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leadtide.capture.whatsapp import parse_whatsapp, whatsapp_routing_keys
from leadtide.models.channels import ChannelRoute
from leadtide.models.common import ChannelType
from leadtide.models.errors import ChannelNotFoundError, MalformedPayloadError
from leadtide.models.messages import (
    AdReferral,
    DeliveryStatus,
    DeliveryStatusUpdate,
    Direction,
    InboundMessage,
    InteractiveReply,
    Location,
    Media,
    MessageKind,
    SenderIdentity,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"
PNID = "106540352242922"  # phone_number_id of the synthetic events
ROUTE = ChannelRoute(tenant_id="t-acme", channel_id="ch-wa-1", channel_type=ChannelType.WHATSAPP)


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def real(shared_data: Path, name: str) -> dict[str, Any]:
    return json.loads((shared_data / "webhooks" / name).read_text())


def parse_one(payload: dict[str, Any]) -> InboundMessage | DeliveryStatusUpdate:
    keys = whatsapp_routing_keys(payload)
    commands = parse_whatsapp(payload, {key: ROUTE for key in keys})
    assert len(commands) == 1, commands
    return commands[0]


def at(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


# -- real payloads ----------------------------------------------------------------------------------------


def test_real_text_message(shared_data: Path) -> None:
    # Given pywa's text fixture
    payload = real(shared_data, "whatsapp_cloud_text.json")
    # When it is routed and parsed
    keys = whatsapp_routing_keys(payload)
    message = parse_one(payload)
    # Then the routing key is the phone_number_id and the message carries sender, text and time
    assert keys == {"1122334455667"}
    assert message == InboundMessage(
        tenant_id="t-acme",
        channel_id="ch-wa-1",
        channel_type=ChannelType.WHATSAPP,
        provider_message_id="wamid.xyzxyz",
        occurred_at=at(1697043223),
        kind=MessageKind.TEXT,
        sender=SenderIdentity(phone="972987654321", name="Test Name"),
        text="Body Text",
        raw_type="text",
    )


def test_real_image_message_keeps_media_metadata(shared_data: Path) -> None:
    # Given pywa's image fixture (contacts[] also carries user_id / parent_user_id)
    payload = real(shared_data, "whatsapp_cloud_image.json")
    # When parsed
    message = parse_one(payload)
    # Then it is a MEDIA message with the media id, mime type and sha256
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.MEDIA
    assert message.occurred_at == at(1697043379)
    assert message.media == (
        Media(media_type="image", provider_media_id="65463453", mime_type="image/jpeg", sha256="4654+8g="),
    )
    assert message.text is None
    assert message.sender == SenderIdentity(phone="972987654321", name="Test Name")


def test_real_interactive_button_reply(shared_data: Path) -> None:
    # Given pywa's button_reply fixture, a reply to an earlier business message
    payload = real(shared_data, "whatsapp_cloud_interactive_button_reply.json")
    # When parsed
    message = parse_one(payload)
    # Then the reply id/title and the replied-to message are kept
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.INTERACTIVE
    assert message.interactive == InteractiveReply(
        reply_type="button_reply", reply_id="callback_data", title="title"
    )
    assert message.text == "title"
    assert message.reply_to_provider_message_id == "wamid.xyzxyz"
    assert message.forwarded is False
    assert message.raw_type == "interactive"


@pytest.mark.parametrize(
    ("name", "status", "epoch"),
    [
        ("whatsapp_cloud_status_delivered.json", DeliveryStatus.DELIVERED, 1698266945),
        ("whatsapp_cloud_status_read.json", DeliveryStatus.READ, 1689380458),
    ],
)
def test_real_statuses(shared_data: Path, name: str, status: DeliveryStatus, epoch: int) -> None:
    # Given pywa's status fixtures
    payload = real(shared_data, name)
    # When parsed
    update = parse_one(payload)
    # Then each becomes a DeliveryStatusUpdate addressed to the recipient's phone
    assert update == DeliveryStatusUpdate(
        tenant_id="t-acme",
        channel_id="ch-wa-1",
        channel_type=ChannelType.WHATSAPP,
        provider_message_id="wamid.xyzxyz",
        status=status,
        occurred_at=at(epoch),
        recipient=SenderIdentity(phone="972987654321"),
    )


def test_real_signed_delivery_body(shared_data: Path) -> None:
    # Given the raw bytes of pywa's signed delivery
    payload = json.loads((shared_data / "webhooks" / "meta_signed_delivery_pywa.body.json").read_bytes())
    # When routed and parsed
    keys = whatsapp_routing_keys(payload)
    message = parse_one(payload)
    # Then the message is read with its sender's wa_id and profile name
    assert keys == {"277321005464405"}
    assert isinstance(message, InboundMessage)
    assert message.text == "Hey there! I am using PyWa."
    assert message.sender == SenderIdentity(phone="972544401243", name="PyWa Tests")
    assert message.occurred_at == at(1730231903)


def test_real_leadgen_payload_is_not_whatsapp(shared_data: Path) -> None:
    # Given a Facebook Lead Ads (object=page) delivery posted to the WhatsApp endpoint
    payload = real(shared_data, "facebook_leadgen_webhook_docs.json")
    # When routed, Then it is rejected naming the object
    with pytest.raises(
        MalformedPayloadError, match=r"object must be 'whatsapp_business_account', got 'page'"
    ):
        whatsapp_routing_keys(payload)


def test_real_verification_handshake_query_is_not_a_delivery(shared_data: Path) -> None:
    # Given Meta's GET verification query (handled by the subscription check, never by the parser)
    handshake = real(shared_data, "meta_verification_handshake.json")
    # When its query is mistakenly parsed as a delivery, Then it is rejected as malformed, naming the object
    with pytest.raises(
        MalformedPayloadError, match=r"^object must be 'whatsapp_business_account', got None$"
    ):
        parse_whatsapp(handshake["request"]["query"], {})


# -- synthetic payloads for the other types -------------------------------------------------------------


def test_video_with_caption() -> None:
    # Given a video message with a caption
    message = parse_one(event("whatsapp_video.json"))
    # Then the caption is the text and the media is kept
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.MEDIA
    assert message.text == "Here is the kitchen we want redone"
    (media,) = message.media
    assert (media.media_type, media.provider_media_id, media.mime_type) == (
        "video",
        "1166846181421424",
        "video/mp4",
    )
    assert media.caption == "Here is the kitchen we want redone"


def test_voice_note_is_audio_media() -> None:
    # Given an audio message with voice=true
    message = parse_one(event("whatsapp_audio_voice.json"))
    # Then it is audio media with no text
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.MEDIA
    assert message.media[0].media_type == "audio"
    assert message.media[0].mime_type == "audio/ogg; codecs=opus"
    assert message.text is None


def test_document_keeps_filename_and_caption() -> None:
    # Given a document message
    message = parse_one(event("whatsapp_document.json"))
    # Then filename and caption are kept
    assert isinstance(message, InboundMessage)
    (media,) = message.media
    assert media.media_type == "document"
    assert media.filename == "floor-plan.pdf"
    assert media.caption == "Floor plan attached"
    assert message.text == "Floor plan attached"


def test_sticker() -> None:
    # Given a sticker message
    message = parse_one(event("whatsapp_sticker.json"))
    # Then it is sticker media
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.MEDIA
    assert message.media == (
        Media(
            media_type="sticker",
            provider_media_id="1399981987669543",
            mime_type="image/webp",
            sha256="c3RpY2tlci1zaGEyNTY=",
        ),
    )


def test_location_with_and_without_name() -> None:
    # Given two location messages: a named place and bare coordinates
    payload = event("whatsapp_location.json")
    # When parsed
    named, bare = parse_whatsapp(payload, {PNID: ROUTE})
    # Then the text is "name, address" or "lat,lon"
    assert isinstance(named, InboundMessage) and isinstance(bare, InboundMessage)
    assert named.kind == bare.kind == MessageKind.LOCATION
    assert named.text == "Meta Headquarters, 1 Hacker Way, Menlo Park, CA 94025"
    assert bare.text == "37.4851,-122.1483"
    assert bare.occurred_at == at(1749416390)
    # And the coordinates, name, address and url are kept for the timeline, as for Twilio locations
    assert named.location == Location(
        latitude=37.483872693672,
        longitude=-122.14900441942,
        name="Meta Headquarters",
        address="1 Hacker Way, Menlo Park, CA 94025",
        url="https://www.meta.com",
    )
    assert bare.location == Location(latitude=37.4851, longitude=-122.1483)


def test_contacts_summarised() -> None:
    # Given a message sharing two contact cards
    message = parse_one(event("whatsapp_contacts.json"))
    # Then the text lists the names and phones; the sender is still the person who shared them
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.CONTACTS
    assert message.text == "Barbara J. Johnson (+1 (940) 555-1234, +1 (650) 555-1234); Tom Ng"
    assert message.sender == SenderIdentity(phone="16505551234", name="Sheena Nelson")


def test_list_reply() -> None:
    # Given a list_reply interactive message
    message = parse_one(event("whatsapp_interactive_list_reply.json"))
    # Then id, title and description are kept
    assert isinstance(message, InboundMessage)
    assert message.interactive == InteractiveReply(
        reply_type="list_reply",
        reply_id="slot_tue_am",
        title="Tuesday morning",
        description="9:00-12:00, on-site visit",
    )
    assert message.text == "Tuesday morning"
    assert (
        message.reply_to_provider_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QzVGRkQ2MEVEQzk0NjE2RjAA"
    )


def test_template_quick_reply_button() -> None:
    # Given a type=button message (tap on a template's quick-reply button)
    message = parse_one(event("whatsapp_template_button.json"))
    # Then it is a template_button reply with the payload as id
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.INTERACTIVE
    assert message.interactive == InteractiveReply(
        reply_type="template_button", reply_id="BOOK_CALL", title="Yes, call me"
    )
    assert message.text == "Yes, call me"
    assert message.raw_type == "button"


def test_flow_answers_kept_as_form_fields() -> None:
    # Given a WhatsApp Flow answer (interactive.nfm_reply)
    message = parse_one(event("whatsapp_nfm_reply.json"))
    # Then the parsed response_json is in form_fields
    assert isinstance(message, InboundMessage)
    assert message.interactive == InteractiveReply(reply_type="nfm_reply", reply_id="flow", title="Sent")
    assert message.form_fields == {"flow_token": "lead-qualify-7", "budget": "10k-25k", "start": "next_month"}


def test_reply_with_context() -> None:
    # Given a text that replies to an earlier message
    message = parse_one(event("whatsapp_reply_with_context.json"))
    # Then the replied-to id is kept and it is not marked forwarded
    assert isinstance(message, InboundMessage)
    assert (
        message.reply_to_provider_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFRUQ5OTg4Nzc2NjU1NDQzMzIA"
    )
    assert message.forwarded is False
    assert message.text == "Does it come in another color?"


def test_forwarded_and_frequently_forwarded() -> None:
    # Given a forwarded text and a frequently-forwarded image
    forwarded, frequently = parse_whatsapp(event("whatsapp_forwarded.json"), {PNID: ROUTE})
    # Then both are marked forwarded and neither is a reply
    assert isinstance(forwarded, InboundMessage) and isinstance(frequently, InboundMessage)
    assert forwarded.forwarded is True and frequently.forwarded is True
    assert forwarded.reply_to_provider_message_id is None
    assert frequently.kind == MessageKind.MEDIA and frequently.text == "Spring sale!"


def test_click_to_whatsapp_referral() -> None:
    # Given the first message after a click-to-WhatsApp ad
    message = parse_one(event("whatsapp_referral_ctwa.json"))
    # Then the referral becomes an AdReferral with the click id
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


def test_reaction_and_reaction_removed() -> None:
    # Given a reaction and its removal (no emoji)
    added, removed = parse_whatsapp(event("whatsapp_reaction.json"), {PNID: ROUTE})
    # Then both are REACTION pointing at the reacted message; the removal has no text
    assert isinstance(added, InboundMessage) and isinstance(removed, InboundMessage)
    assert added.kind == removed.kind == MessageKind.REACTION
    assert added.text == "\U0001f44d"
    assert removed.text is None
    target = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3NkMA"
    assert added.reply_to_provider_message_id == removed.reply_to_provider_message_id == target


def test_order_summarised_as_text() -> None:
    # Given a catalog order
    message = parse_one(event("whatsapp_order.json"))
    # Then it is a TEXT summary with raw_type order
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.raw_type) == (MessageKind.TEXT, "order")
    assert (
        message.text
        == "Order: 12 x tile-white-30 (4.5 USD), 2 x grout-grey (9.99 USD)\nPlease deliver on Friday"
    )


def test_system_message_without_contacts() -> None:
    # Given a system message (no contacts[] array, per Meta's reference)
    message = parse_one(event("whatsapp_system.json"))
    # Then the body is the text and the sender has no name
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.raw_type) == (MessageKind.TEXT, "system")
    assert message.text == "User Sheena Nelson changed from 16505551234 to 16505559999"
    assert message.sender == SenderIdentity(phone="16505551234")


def test_unsupported_and_unknown_types() -> None:
    # Given an "unsupported" and a legacy "unknown" message
    unsupported, unknown = parse_whatsapp(event("whatsapp_unsupported.json"), {PNID: ROUTE})
    # Then both are UNSUPPORTED keeping the provider's type name
    assert isinstance(unsupported, InboundMessage) and isinstance(unknown, InboundMessage)
    assert (unsupported.kind, unsupported.raw_type) == (MessageKind.UNSUPPORTED, "unsupported")
    assert (unknown.kind, unknown.raw_type) == (MessageKind.UNSUPPORTED, "unknown")


def test_type_newer_than_parser_is_unsupported() -> None:
    # Given a message type this parser does not know
    payload = event("whatsapp_reply_with_context.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "request_welcome"
    del message["text"]
    # When parsed, Then it is kept as UNSUPPORTED rather than rejected
    parsed = parse_one(payload)
    assert isinstance(parsed, InboundMessage)
    assert (parsed.kind, parsed.raw_type) == (MessageKind.UNSUPPORTED, "request_welcome")


def test_failed_status_keeps_errors() -> None:
    # Given a failed status with an error
    update = parse_one(event("whatsapp_status_failed.json"))
    # Then status FAILED and the error dict is kept verbatim
    assert isinstance(update, DeliveryStatusUpdate)
    assert update.status == DeliveryStatus.FAILED
    assert update.recipient == SenderIdentity(phone="16505551234")
    assert len(update.errors) == 1
    assert update.errors[0]["code"] == 131047
    assert update.errors[0]["title"] == "Re-engagement message"


def test_batch_two_numbers_skips_other_fields_and_unknown_statuses() -> None:
    # Given a delivery for two business numbers with a template-status change and deleted/warning statuses
    payload = event("whatsapp_batch_two_numbers.json")
    second = ChannelRoute(tenant_id="t-other", channel_id="ch-wa-2", channel_type=ChannelType.WHATSAPP)
    # When routed and parsed
    keys = whatsapp_routing_keys(payload)
    commands = parse_whatsapp(payload, {PNID: ROUTE, "106540352242923": second})
    # Then each command goes to its own channel, senders get their own contact names, odd statuses are skipped
    assert keys == {PNID, "106540352242923"}
    assert [c.provider_message_id for c in commands] == ["wamid.BATCH-1", "wamid.BATCH-2", "wamid.BATCH-S1"]
    first, second_msg, status = commands
    assert isinstance(first, InboundMessage) and isinstance(second_msg, InboundMessage)
    assert first.sender == SenderIdentity(phone="34612345678", name="Ana Ruiz")
    assert second_msg.sender == SenderIdentity(phone="16505551234", name="Sheena Nelson")
    assert (first.channel_id, status.channel_id, status.tenant_id) == ("ch-wa-1", "ch-wa-2", "t-other")
    assert all(c.channel_type == ChannelType.WHATSAPP for c in commands)
    assert first.direction == Direction.INBOUND


def test_only_non_message_fields_gives_no_keys_and_no_commands() -> None:
    # Given a delivery whose only change is a template status update
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED"}}],
            }
        ],
    }
    # When routed and parsed, Then nothing is addressed and nothing is produced
    assert whatsapp_routing_keys(payload) == set()
    assert parse_whatsapp(payload, {}) == []


def test_sender_matched_by_user_id_when_no_wa_id() -> None:
    # Given a newer payload whose contact has only a business-scoped user_id, matched by from_user_id
    payload = event("whatsapp_reply_with_context.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [
        {"profile": {"name": "Someone Else"}, "user_id": "US.111"},
        {"profile": {"name": "Sheena N."}, "user_id": "US.13491208655302741918"},
    ]
    value["messages"][0]["from_user_id"] = "US.13491208655302741918"
    # When parsed, Then the matching contact's name is used
    message = parse_one(payload)
    assert isinstance(message, InboundMessage)
    assert message.sender == SenderIdentity(phone="16505551234", name="Sheena N.")


# -- malformed payloads ---------------------------------------------------------------------------------


def _text_payload() -> dict[str, Any]:
    return copy.deepcopy(event("whatsapp_reply_with_context.json"))


def _message(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([], "payload must be an object, got list"),
        ("{}", "payload must be an object, got str"),
        ({"entry": []}, "object must be 'whatsapp_business_account', got None"),
        ({"object": "whatsapp_business_account"}, "entry is missing"),
        ({"object": "whatsapp_business_account", "entry": {}}, "entry must be a list, got dict"),
        ({"object": "whatsapp_business_account", "entry": ["x"]}, "entry[0] must be an object, got str"),
        ({"object": "whatsapp_business_account", "entry": [{"id": "1"}]}, "entry[0].changes is missing"),
        (
            {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {}}]}]},
            "entry[0].changes[0].field is missing",
        ),
        (
            {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages"}]}]},
            "entry[0].changes[0].value is missing",
        ),
        (
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": {}}]}],
            },
            "entry[0].changes[0].value.metadata is missing",
        ),
        (
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {"changes": [{"field": "messages", "value": {"metadata": {"display_phone_number": "1"}}}]}
                ],
            },
            "entry[0].changes[0].value.metadata.phone_number_id is missing",
        ),
    ],
)
def test_malformed_envelope_names_the_path(payload: Any, problem: str) -> None:
    # Given a delivery with a broken envelope
    # When routed, Then MalformedPayloadError names the exact problem
    with pytest.raises(MalformedPayloadError) as exc_info:
        whatsapp_routing_keys(payload)
    assert exc_info.value.message == problem
    assert exc_info.value.status_code == 400


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda m: m.pop("id"), "entry[0].changes[0].value.messages[0].id is missing"),
        (lambda m: m.pop("from"), "entry[0].changes[0].value.messages[0].from is missing"),
        (lambda m: m.pop("timestamp"), "entry[0].changes[0].value.messages[0].timestamp is missing"),
        (
            lambda m: m.update(timestamp="yesterday"),
            "entry[0].changes[0].value.messages[0].timestamp is not a timestamp: 'yesterday'",
        ),
        (lambda m: m.pop("type"), "entry[0].changes[0].value.messages[0].type is missing"),
        (lambda m: m.pop("text"), "entry[0].changes[0].value.messages[0].text is missing"),
        (
            lambda m: m.update(text={"body": ["x"]}),
            "entry[0].changes[0].value.messages[0].text.body must be a string, got list",
        ),
        (
            lambda m: m.update(context="wamid.1"),
            "entry[0].changes[0].value.messages[0].context must be an object, got str",
        ),
        (
            lambda m: m.update(type="location", location={"longitude": 1.5}),
            "entry[0].changes[0].value.messages[0].location.latitude is missing",
        ),
        (
            lambda m: m.update(type="location", location={"latitude": "north", "longitude": 1.5}),
            "entry[0].changes[0].value.messages[0].location.latitude must be a number, got 'north'",
        ),
        (
            lambda m: m.update(type="location", location={"latitude": 12, "longitude": -181}),
            "entry[0].changes[0].value.messages[0].location.longitude must be a number from -180 to 180, "
            "got -181",
        ),
        (
            lambda m: m.update(type="interactive", interactive={"button_reply": {"id": "x"}}),
            "entry[0].changes[0].value.messages[0].interactive.type is missing",
        ),
        (
            lambda m: m.update(type="image", image="https://example.com/a.jpg"),
            "entry[0].changes[0].value.messages[0].image must be an object, got str",
        ),
        (
            lambda m: m.update(type="reaction", reaction={"emoji": "x"}),
            "entry[0].changes[0].value.messages[0].reaction.message_id is missing",
        ),
        (
            lambda m: m.update(type="contacts", contacts={"name": "x"}),
            "entry[0].changes[0].value.messages[0].contacts must be a list, got dict",
        ),
    ],
)
def test_malformed_message_names_the_path(mutate: Any, problem: str) -> None:
    # Given a message with one broken part
    payload = _text_payload()
    mutate(_message(payload))
    # When parsed, Then MalformedPayloadError names the exact path
    with pytest.raises(MalformedPayloadError) as exc_info:
        parse_whatsapp(payload, {PNID: ROUTE})
    assert exc_info.value.message == problem


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda s: s.pop("id"), "entry[0].changes[0].value.statuses[0].id is missing"),
        (lambda s: s.pop("status"), "entry[0].changes[0].value.statuses[0].status is missing"),
        (lambda s: s.pop("timestamp"), "entry[0].changes[0].value.statuses[0].timestamp is missing"),
        (lambda s: s.pop("recipient_id"), "entry[0].changes[0].value.statuses[0].recipient_id is missing"),
        (
            lambda s: s.update(errors={"code": 1}),
            "entry[0].changes[0].value.statuses[0].errors must be a list, got dict",
        ),
    ],
)
def test_malformed_status_names_the_path(mutate: Any, problem: str) -> None:
    # Given a status with one broken part
    payload = copy.deepcopy(event("whatsapp_status_failed.json"))
    mutate(payload["entry"][0]["changes"][0]["value"]["statuses"][0])
    # When parsed, Then MalformedPayloadError names the exact path
    with pytest.raises(MalformedPayloadError) as exc_info:
        parse_whatsapp(payload, {PNID: ROUTE})
    assert exc_info.value.message == problem


def test_contacts_not_a_list_is_malformed() -> None:
    # Given a value whose contacts is an object
    payload = _text_payload()
    payload["entry"][0]["changes"][0]["value"]["contacts"] = {"wa_id": "1"}
    # When parsed, Then the path is named
    with pytest.raises(
        MalformedPayloadError, match=r"^entry\[0\]\.changes\[0\]\.value\.contacts must be a list, got dict$"
    ):
        parse_whatsapp(payload, {PNID: ROUTE})


def test_missing_route_is_a_caller_error() -> None:
    # Given routes that lack the delivery's phone_number_id
    # When parsed, Then ChannelNotFoundError names the id
    with pytest.raises(ChannelNotFoundError, match=PNID):
        parse_whatsapp(_text_payload(), {"999": ROUTE})
