"""leadtide.capture.instagram: Instagram Messaging deliveries -> InboundMessage / MessageRetraction.

Real payloads come from ../shared/data/webhooks (chatwoot factories, see its SOURCES.md);
tests/events/instagram_*.json are synthetic payloads written from Meta's Instagram Messaging webhook reference
(developers.facebook.com/docs/messenger-platform/instagram/features/webhook) for events the real data lacks.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadtide.capture.instagram import instagram_routing_keys, parse_instagram
from leadtide.models.channels import ChannelRoute
from leadtide.models.common import ChannelType
from leadtide.models.errors import ChannelNotFoundError, MalformedPayloadError
from leadtide.models.messages import (
    AdReferral,
    Direction,
    InboundMessage,
    InteractiveReply,
    Media,
    MessageKind,
    MessageRetraction,
    SenderIdentity,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"
IGID = "17841405309211844"  # entry.id of the synthetic events (the business account)
USER = "1254459154682919"  # the lead's IGSID in the synthetic events
SYNTHETIC_TIME = datetime(2025, 6, 8, 20, 59, 43, 123000, tzinfo=UTC)  # 1749416383123 ms
ROUTE = ChannelRoute(tenant_id="t-acme", channel_id="ch-ig-1", channel_type=ChannelType.INSTAGRAM)


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def parse(payload: dict[str, Any]) -> list[InboundMessage | MessageRetraction]:
    return parse_instagram(payload, {key: ROUTE for key in instagram_routing_keys(payload)})


def parse_one(payload: dict[str, Any]) -> InboundMessage | MessageRetraction:
    commands = parse(payload)
    assert len(commands) == 1, commands
    return commands[0]


# -- real payloads ----------------------------------------------------------------------------------------


def test_real_dashboard_test_text(shared_data: Path) -> None:
    # Given Meta's App Dashboard test sample (entry.time in ms, timestamp a string of seconds)
    payload = json.loads(
        (shared_data / "webhooks" / "instagram_messaging_dashboard_test_text.json").read_text()
    )
    # When routed and parsed
    keys = instagram_routing_keys(payload)
    message = parse_one(payload)
    # Then entry.id routes and the message is a TEXT from the sender at 1527459824 s
    assert keys == {"0"}
    assert message == InboundMessage(
        tenant_id="t-acme",
        channel_id="ch-ig-1",
        channel_type=ChannelType.INSTAGRAM,
        provider_message_id="random_mid",
        occurred_at=datetime.fromtimestamp(1527459824, tz=UTC),
        kind=MessageKind.TEXT,
        sender=SenderIdentity(instagram_id="12334"),
        text="random_text",
        raw_type="text",
    )


def test_real_share_attachment_with_iso_timestamp(shared_data: Path) -> None:
    # Given chatwoot's share-attachment event (ISO-8601 timestamp with +0000)
    payload = json.loads((shared_data / "webhooks" / "instagram_messaging_share_attachment.json").read_text())
    # When routed and parsed
    keys = instagram_routing_keys(payload)
    message = parse_one(payload)
    # Then the share is MEDIA with its url and the time is read from the ISO string
    assert keys == {"instagram-message-id-1234"}
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.MEDIA
    assert message.media == (Media(media_type="share", url="https://www.example.com/test.jpeg"),)
    assert message.occurred_at == datetime(2021, 9, 8, 6, 34, 4, tzinfo=UTC)
    assert message.sender == SenderIdentity(instagram_id="Sender-id-1")
    assert message.provider_message_id == "message-id-1"
    assert message.raw_type == "share"


def test_real_whatsapp_payload_is_not_instagram(shared_data: Path) -> None:
    # Given a WhatsApp delivery posted to the Instagram endpoint
    payload = json.loads((shared_data / "webhooks" / "whatsapp_cloud_text.json").read_text())
    # When routed, Then it is rejected naming the object
    with pytest.raises(
        MalformedPayloadError, match=r"^object must be 'instagram', got 'whatsapp_business_account'$"
    ):
        instagram_routing_keys(payload)


# -- synthetic payloads -----------------------------------------------------------------------------------


def test_echo_is_outbound_and_the_lead_is_the_recipient() -> None:
    # Given an echo of the business's own message
    message = parse_one(event("instagram_echo.json"))
    # Then it is OUTBOUND on the lead's (recipient's) timeline
    assert isinstance(message, InboundMessage)
    assert message.direction == Direction.OUTBOUND
    assert message.sender == SenderIdentity(instagram_id=USER)
    assert message.text == "Thanks! A designer will call you tomorrow."
    assert message.occurred_at == SYNTHETIC_TIME


def test_unsend_becomes_retraction() -> None:
    # Given an is_deleted message (the user unsent it)
    command = parse_one(event("instagram_unsend.json"))
    # Then a MessageRetraction for that mid from the user
    assert isinstance(command, MessageRetraction)
    assert command.provider_message_id.startswith("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx")
    assert command.provider_message_id.endswith("NjU5MQZDZD")
    assert command.sender == SenderIdentity(instagram_id=USER)
    assert command.channel_type == ChannelType.INSTAGRAM
    assert command.occurred_at == SYNTHETIC_TIME


def test_story_reply() -> None:
    # Given a reply to the business's story
    message = parse_one(event("instagram_story_reply.json"))
    # Then STORY_REPLY with the story as the first media and the text kept
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.STORY_REPLY
    assert message.text == "Love this one! Is it available in oak?"
    assert message.media == (
        Media(
            media_type="story",
            provider_media_id="17966034866855530",
            url="https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17966034866855530&signature=abc",
        ),
    )
    assert message.reply_to_provider_message_id is None


def test_story_mention_is_media() -> None:
    # Given a story_mention attachment
    message = parse_one(event("instagram_story_mention.json"))
    # Then MEDIA of type story_mention with the CDN url
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.raw_type) == (MessageKind.MEDIA, "story_mention")
    assert (
        message.media[0].url
        == "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18034227112493712&signature=def"
    )


def test_quick_reply() -> None:
    # Given a quick-reply tap
    message = parse_one(event("instagram_quick_reply.json"))
    # Then INTERACTIVE quick_reply with the payload as id
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.INTERACTIVE
    assert message.interactive == InteractiveReply(
        reply_type="quick_reply", reply_id="PROJECT_KITCHEN", title="Kitchen"
    )
    assert message.text == "Kitchen"


def test_standby_messages_are_captured() -> None:
    # Given a standby event (another app owns the thread)
    payload = event("instagram_standby.json")
    # When routed and parsed
    keys = instagram_routing_keys(payload)
    message = parse_one(payload)
    # Then it is captured like a messaging event
    assert keys == {IGID}
    assert isinstance(message, InboundMessage)
    assert message.text == "Are you open on Saturdays?"
    assert message.direction == Direction.INBOUND


def test_read_reaction_edit_delivery_produce_nothing() -> None:
    # Given read, reaction, message_edit and delivery events
    payload = event("instagram_non_message_events.json")
    # When routed and parsed, Then the entry routes but no command is produced
    assert instagram_routing_keys(payload) == {IGID}
    assert parse(payload) == []


def test_postback() -> None:
    # Given an icebreaker/persistent-menu postback
    message = parse_one(event("instagram_postback.json"))
    # Then INTERACTIVE postback with the payload as id and the title as text
    assert isinstance(message, InboundMessage)
    assert message.kind == MessageKind.INTERACTIVE
    assert message.interactive == InteractiveReply(
        reply_type="postback", reply_id="GET_QUOTE", title="Get a quote"
    )
    assert message.text == "Get a quote"
    assert message.provider_message_id == "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOlBPU1RCQUNLMQZDZD"


def test_image_and_reel_attachments() -> None:
    # Given an image and an ig_reel in one message
    message = parse_one(event("instagram_attachments.json"))
    # Then two Media in order, the reel with its id and title
    assert isinstance(message, InboundMessage)
    image, reel = message.media
    assert (image.media_type, reel.media_type) == ("image", "ig_reel")
    assert reel.provider_media_id == "18034227112499999"
    assert reel.caption == "Before/after: 1970s kitchen"
    assert message.raw_type == "image"


def test_reply_to_message_with_seconds_string_timestamp() -> None:
    # Given a reply to an earlier message whose timestamp is a string of epoch seconds
    message = parse_one(event("instagram_reply_to_message.json"))
    # Then reply_to.mid is kept and the time is whole seconds
    assert isinstance(message, InboundMessage)
    assert message.reply_to_provider_message_id == "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOk9VVEJPVU5EMQZDZD"
    assert message.occurred_at == datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)


def test_ad_referral() -> None:
    # Given the first message after an Instagram ad click
    message = parse_one(event("instagram_ad_referral.json"))
    # Then the referral is an AdReferral of type ad
    assert isinstance(message, InboundMessage)
    assert message.referral == AdReferral(
        source_type="ad", source_id="120212345678900123", headline="Spring kitchen makeover"
    )


def test_missing_event_timestamp_falls_back_to_entry_time() -> None:
    # Given a message event without timestamp
    payload = copy.deepcopy(event("instagram_quick_reply.json"))
    del payload["entry"][0]["messaging"][0]["timestamp"]
    # When parsed, Then entry.time (ms) is used
    message = parse_one(payload)
    assert message.occurred_at == datetime(2025, 6, 8, 20, 59, 43, 623000, tzinfo=UTC)


def test_unsupported_message() -> None:
    # Given a message Meta flags is_unsupported
    payload = copy.deepcopy(event("instagram_standby.json"))
    payload["entry"][0]["standby"][0]["message"] = {"mid": "m-1", "is_unsupported": True}
    # When parsed, Then UNSUPPORTED
    message = parse_one(payload)
    assert isinstance(message, InboundMessage)
    assert (message.kind, message.raw_type) == (MessageKind.UNSUPPORTED, "unsupported")


def test_entries_without_messaging_are_not_routed() -> None:
    # Given an entry with only changes (e.g. comments)
    payload = {
        "object": "instagram",
        "entry": [{"id": "1", "time": 1, "changes": [{"field": "comments", "value": {}}]}],
    }
    # When routed and parsed, Then nothing
    assert instagram_routing_keys(payload) == set()
    assert parse_instagram(payload, {}) == []


# -- malformed payloads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (None, "payload is missing"),
        ([], "payload must be an object, got list"),
        ({"object": "page", "entry": []}, "object must be 'instagram', got 'page'"),
        ({"object": "instagram", "entry": "x"}, "entry must be a list, got str"),
        ({"object": "instagram", "entry": [{"messaging": []}]}, "entry[0].id is missing"),
        (
            {"object": "instagram", "entry": [{"id": "1", "messaging": {}}]},
            "entry[0].messaging must be a list, got dict",
        ),
        (
            {"object": "instagram", "entry": [{"id": "1", "standby": "x"}]},
            "entry[0].standby must be a list, got str",
        ),
    ],
)
def test_malformed_envelope_names_the_path(payload: Any, problem: str) -> None:
    # Given a delivery with a broken envelope
    # When routed, Then MalformedPayloadError names the problem
    with pytest.raises(MalformedPayloadError) as exc_info:
        instagram_routing_keys(payload)
    assert exc_info.value.message == problem


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda e: e.pop("sender"), "entry[0].messaging[0].sender is missing"),
        (lambda e: e["sender"].pop("id"), "entry[0].messaging[0].sender.id is missing"),
        (lambda e: e["message"].pop("mid"), "entry[0].messaging[0].message.mid is missing"),
        (lambda e: e.update(timestamp=True), "entry[0].messaging[0].timestamp is not a timestamp: True"),
        (lambda e: e.update(timestamp=-5), "entry[0].messaging[0].timestamp is not a timestamp: -5"),
        (lambda e: e.update(message="hi"), "entry[0].messaging[0].message must be an object, got str"),
        (
            lambda e: e["message"].update(attachments={"type": "image"}),
            "entry[0].messaging[0].message.attachments must be a list, got dict",
        ),
        (
            lambda e: e["message"].update(attachments=[{"payload": {"url": "https://x"}}]),
            "entry[0].messaging[0].message.attachments[0].type is missing",
        ),
        (
            lambda e: (e["message"].update(is_echo=True), e.pop("recipient")),
            "entry[0].messaging[0].recipient is missing",
        ),
    ],
)
def test_malformed_event_names_the_path(mutate: Any, problem: str) -> None:
    # Given a message event with one broken part
    payload = copy.deepcopy(event("instagram_quick_reply.json"))
    mutate(payload["entry"][0]["messaging"][0])
    # When parsed, Then MalformedPayloadError names the exact path
    with pytest.raises(MalformedPayloadError) as exc_info:
        parse(payload)
    assert exc_info.value.message == problem


def test_postback_without_mid_is_malformed() -> None:
    # Given a postback without mid
    payload = copy.deepcopy(event("instagram_postback.json"))
    del payload["entry"][0]["messaging"][0]["postback"]["mid"]
    # When parsed, Then the path is named
    with pytest.raises(
        MalformedPayloadError, match=r"^entry\[0\]\.messaging\[0\]\.postback\.mid is missing$"
    ):
        parse(payload)


def test_no_timestamp_anywhere_is_malformed() -> None:
    # Given a message event without timestamp in an entry without time
    payload = copy.deepcopy(event("instagram_quick_reply.json"))
    del payload["entry"][0]["messaging"][0]["timestamp"]
    del payload["entry"][0]["time"]
    # When parsed, Then the event's timestamp is named
    with pytest.raises(MalformedPayloadError, match=r"^entry\[0\]\.messaging\[0\]\.timestamp is missing$"):
        parse(payload)


def test_missing_route_is_a_caller_error() -> None:
    # Given routes that lack the entry id
    # When parsed, Then ChannelNotFoundError names the account id
    with pytest.raises(ChannelNotFoundError, match=IGID):
        parse_instagram(event("instagram_quick_reply.json"), {})


# -- timestamp shapes (leadtide.capture.timestamps, used by both Meta parsers) ---------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1749416383123, datetime(2025, 6, 8, 20, 59, 43, 123000, tzinfo=UTC)),  # epoch ms (number)
        ("1749416383", datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)),  # epoch s (string)
        (1749416383, datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)),  # epoch s (number)
        ("1749416383123", datetime(2025, 6, 8, 20, 59, 43, 123000, tzinfo=UTC)),  # epoch ms (string)
        ("2021-09-08T06:34:04+0000", datetime(2021, 9, 8, 6, 34, 4, tzinfo=UTC)),
        ("2021-09-08T08:34:04+02:00", datetime(2021, 9, 8, 6, 34, 4, tzinfo=UTC)),
        ("2021-09-08T06:34:04Z", datetime(2021, 9, 8, 6, 34, 4, tzinfo=UTC)),
        ("2021-09-08T06:34:04", datetime(2021, 9, 8, 6, 34, 4, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_event_timestamp_shapes(value: Any, expected: datetime) -> None:
    # Given a message event whose timestamp has one of Meta's shapes
    payload = copy.deepcopy(event("instagram_quick_reply.json"))
    payload["entry"][0]["messaging"][0]["timestamp"] = value
    # When parsed, Then occurred_at is that instant in UTC
    message = parse_one(payload)
    assert message.occurred_at == expected
    assert message.occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is not a timestamp: ''"),
        ("soon", "is not a timestamp: 'soon'"),
        (float("nan"), "is not a timestamp: nan"),
        ({"s": 1}, "is not a timestamp: {'s': 1}"),
        ("99999999999999999", "is not a timestamp: '99999999999999999'"),
        (9_999_999_999_999_999, "is out of range: 9999999999999999"),
    ],
)
def test_bad_event_timestamps(value: Any, problem: str) -> None:
    # Given a message event with an unusable timestamp
    payload = copy.deepcopy(event("instagram_quick_reply.json"))
    payload["entry"][0]["messaging"][0]["timestamp"] = value
    # When parsed, Then MalformedPayloadError names the path and the value
    with pytest.raises(MalformedPayloadError) as exc_info:
        parse(payload)
    assert exc_info.value.message == f"entry[0].messaging[0].timestamp {problem}"
