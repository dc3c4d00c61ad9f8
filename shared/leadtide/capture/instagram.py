"""Instagram Messaging webhook deliveries -> ingest commands.

A delivery is ``{"object": "instagram", "entry": [{"id": <IG professional account id>, "time": ...,
"messaging": [<event>...], "standby": [<event>...]}]}``; an event is ``{"sender": {"id"}, "recipient":
{"id"}, "timestamp": ..., "message" | "postback" | "read" | "reaction" | "message_edit" | ...: {...}}``.
``entry[].id`` is the business's Instagram account: one Leadtide channel.

Decisions someone might otherwise undo:

- **Standby events are captured like messaging events.** ``standby[]`` holds what the user sent while
  another app (an inbox tool, a bot) owns the thread under the Handover Protocol. They are still the
  lead's own words to the business, and a CRM that dropped them would miss exactly the conversations
  a human agent handles elsewhere. Redelivery through both lists is harmless: the ``mid`` is the
  idempotency key.
- ``message.is_echo`` (the business's own message, sent from the app or another tool) becomes an
  OUTBOUND message whose ``sender`` is the *lead*, i.e. the event's recipient.
- ``message.is_deleted`` (the user unsent a message) becomes a ``MessageRetraction``.
- ``read``, ``delivery``, ``reaction`` (without a message), ``message_edit``, ``optin`` and standalone
  ``referral`` events carry nothing Leadtide records yet and produce no command.
- Timestamps come as epoch milliseconds (numbers), epoch seconds (strings, in the App Dashboard test
  sample) or ISO-8601 (older samples); all are accepted. An event without ``timestamp`` falls back to
  ``entry[].time``.

Source: Meta for Developers, Instagram Platform -> Messaging API -> Webhooks
(developers.facebook.com/docs/instagram-platform/webhooks,
developers.facebook.com/docs/messenger-platform/instagram/features/webhook) and Handover Protocol
(developers.facebook.com/docs/messenger-platform/handover-protocol).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from leadtide.capture.json_paths import (
    as_dict,
    as_list,
    opt_dict,
    opt_str,
    req_str,
)
from leadtide.capture.timestamps import parse_timestamp
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

INSTAGRAM_OBJECT = "instagram"
_EVENT_LISTS = ("messaging", "standby")
# Payload keys that carry a provider id of the attached item (reels, posts, generic).
_ATTACHMENT_ID_KEYS = ("reel_video_id", "ig_post_media_id", "id")


def _entries(payload: Any) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Yield ``(path, entry, entry id)`` for entries that carry ``messaging`` or ``standby`` lists."""
    root = as_dict(payload, "payload")
    if root.get("object") != INSTAGRAM_OBJECT:
        raise MalformedPayloadError(f"object must be {INSTAGRAM_OBJECT!r}, got {root.get('object')!r}")
    for i, raw_entry in enumerate(as_list(root.get("entry"), "entry")):
        path = f"entry[{i}]"
        entry = as_dict(raw_entry, path)
        present = [key for key in _EVENT_LISTS if entry.get(key) is not None]
        for key in present:
            as_list(entry[key], f"{path}.{key}")
        if present:
            yield path, entry, req_str(entry, "id", path)


def instagram_routing_keys(payload: Any) -> set[str]:
    """Return the Instagram account ids a delivery is addressed to.

    Shape: the set of ``entry[].id`` (as strings) of entries that have a ``messaging`` or ``standby``
    list. Entries with only ``changes`` (comments, mentions) are not messaging traffic and are left out.

    Raises:
        MalformedPayloadError: (HTTP 400) the payload is not an object, ``object`` is not
            ``"instagram"``, ``entry`` is not a list, an entry is not an object, ``messaging``/``standby``
            is not a list, or such an entry has no ``id``; the message names the path, e.g.
            ``"entry[0].id is missing"``.

    Source: developers.facebook.com/docs/instagram-platform/webhooks.
    """
    return {entry_id for _, _, entry_id in _entries(payload)}


def parse_instagram(
    payload: Any, routes: Mapping[str, ChannelRoute]
) -> list[InboundMessage | MessageRetraction]:
    """Parse an Instagram Messaging delivery into inbound messages and retractions.

    ``routes`` maps each ``entry[].id`` (see ``instagram_routing_keys``) to its channel. Events of
    ``messaging[]`` then ``standby[]`` of each entry, in order:

    - ``message`` with ``is_deleted`` -> ``MessageRetraction`` (``provider_message_id`` = ``mid``);
    - ``message`` -> ``InboundMessage``: ``reply_to.story`` -> STORY_REPLY with
      ``Media(media_type="story", provider_media_id=story.id, url=story.url)`` first;
      ``quick_reply.payload`` -> INTERACTIVE ``InteractiveReply("quick_reply", reply_id=payload,
      title=text)``; ``attachments[]`` (image, video, audio, file, share, story_mention, ig_reel, reel,
      ig_post, ...) -> MEDIA, one ``Media(media_type=type, url=payload.url)`` each; ``text`` -> TEXT;
      ``is_unsupported`` or nothing readable -> UNSUPPORTED. ``reply_to.mid`` ->
      ``reply_to_provider_message_id``; ``referral`` -> ``AdReferral``. ``is_echo`` -> OUTBOUND with the
      recipient as the lead;
    - ``postback`` -> INTERACTIVE ``InteractiveReply("postback", reply_id=payload, title=title)``;
    - everything else (read, delivery, reaction, message_edit, ...) -> nothing.

    The lead is ``SenderIdentity(instagram_id=sender.id)`` (recipient.id for echoes).

    Raises:
        MalformedPayloadError: (HTTP 400) any shape problem ``instagram_routing_keys`` reports, or a
            message/postback event without ``sender.id`` (``recipient.id`` for echoes), ``mid`` or a
            usable ``timestamp``; the message names the path, e.g.
            ``"entry[0].messaging[0].message.mid is missing"``.
        ChannelNotFoundError: a routing key is absent from ``routes`` (the caller's contract is broken).

    Source: developers.facebook.com/docs/messenger-platform/instagram/features/webhook.
    """
    commands: list[InboundMessage | MessageRetraction] = []
    for path, entry, entry_id in _entries(payload):
        route = routes.get(entry_id)
        if route is None:
            raise ChannelNotFoundError(f"no Instagram channel for account id {entry_id}")
        for key in _EVENT_LISTS:
            for k, raw in enumerate(entry.get(key) or []):
                epath = f"{path}.{key}[{k}]"
                command = _parse_event(as_dict(raw, epath), epath, route, entry.get("time"), f"{path}.time")
                if command is not None:
                    commands.append(command)
    return commands


def _parse_event(
    event: dict[str, Any], path: str, route: ChannelRoute, entry_time: Any, entry_time_path: str
) -> InboundMessage | MessageRetraction | None:
    message = opt_dict(event, "message", path)
    postback = opt_dict(event, "postback", path)
    if message is None and postback is None:
        return None  # read, delivery, reaction, message_edit, optin, standalone referral

    sender_id = req_str(as_dict(event.get("sender"), f"{path}.sender"), "id", f"{path}.sender")
    if "timestamp" in event:
        occurred_at = parse_timestamp(event["timestamp"], path=f"{path}.timestamp")
    elif entry_time is not None:
        occurred_at = parse_timestamp(entry_time, path=entry_time_path)
    else:
        raise MalformedPayloadError(f"{path}.timestamp is missing")
    common: dict[str, Any] = {
        "tenant_id": route.tenant_id,
        "channel_id": route.channel_id,
        "channel_type": ChannelType.INSTAGRAM,
        "occurred_at": occurred_at,
    }

    if message is None:
        assert postback is not None
        ppath = f"{path}.postback"
        title = opt_str(postback, "title", ppath)
        return InboundMessage(
            **common,
            provider_message_id=req_str(postback, "mid", ppath),
            sender=SenderIdentity(instagram_id=sender_id),
            kind=MessageKind.INTERACTIVE,
            text=title,
            interactive=InteractiveReply(
                reply_type="postback", reply_id=opt_str(postback, "payload", ppath), title=title
            ),
            referral=_referral(opt_dict(postback, "referral", ppath), f"{ppath}.referral"),
            raw_type="postback",
        )

    mpath = f"{path}.message"
    mid = req_str(message, "mid", mpath)
    if message.get("is_deleted"):
        return MessageRetraction(
            **common, provider_message_id=mid, sender=SenderIdentity(instagram_id=sender_id)
        )

    direction = Direction.INBOUND
    lead_id = sender_id
    if message.get("is_echo"):
        direction = Direction.OUTBOUND
        lead_id = req_str(as_dict(event.get("recipient"), f"{path}.recipient"), "id", f"{path}.recipient")

    text = opt_str(message, "text", mpath)
    media = _attachments(message, mpath)
    reply_to = None
    interactive = None
    raw_reply_to = opt_dict(message, "reply_to", mpath)
    story = opt_dict(raw_reply_to, "story", f"{mpath}.reply_to") if raw_reply_to else None
    if raw_reply_to is not None:
        reply_to = opt_str(raw_reply_to, "mid", f"{mpath}.reply_to")
    quick_reply = opt_dict(message, "quick_reply", mpath)

    if story is not None:
        spath = f"{mpath}.reply_to.story"
        story_media = Media(
            media_type="story",
            provider_media_id=opt_str(story, "id", spath),
            url=opt_str(story, "url", spath),
        )
        kind, raw_type, media = MessageKind.STORY_REPLY, "story_reply", (story_media, *media)
    elif quick_reply is not None:
        interactive = InteractiveReply(
            reply_type="quick_reply",
            reply_id=opt_str(quick_reply, "payload", f"{mpath}.quick_reply"),
            title=text,
        )
        kind, raw_type = MessageKind.INTERACTIVE, "quick_reply"
    elif message.get("is_unsupported"):
        kind, raw_type = MessageKind.UNSUPPORTED, "unsupported"
    elif media:
        kind, raw_type = MessageKind.MEDIA, media[0].media_type
    elif text is not None:
        kind, raw_type = MessageKind.TEXT, "text"
    else:
        kind, raw_type = MessageKind.UNSUPPORTED, "unknown"

    return InboundMessage(
        **common,
        provider_message_id=mid,
        direction=direction,
        sender=SenderIdentity(instagram_id=lead_id),
        kind=kind,
        text=text,
        media=media,
        interactive=interactive,
        reply_to_provider_message_id=reply_to,
        referral=_referral(opt_dict(message, "referral", mpath), f"{mpath}.referral"),
        raw_type=raw_type,
    )


def _attachments(message: dict[str, Any], path: str) -> tuple[Media, ...]:
    raw = message.get("attachments")
    if raw is None:
        return ()
    media = []
    for n, item in enumerate(as_list(raw, f"{path}.attachments")):
        apath = f"{path}.attachments[{n}]"
        attachment = as_dict(item, apath)
        payload = opt_dict(attachment, "payload", apath) or {}
        ppath = f"{apath}.payload"
        provider_id = next((v for k in _ATTACHMENT_ID_KEYS if (v := opt_str(payload, k, ppath))), None)
        media.append(
            Media(
                media_type=req_str(attachment, "type", apath),
                provider_media_id=provider_id,
                url=opt_str(payload, "url", ppath),
                caption=opt_str(payload, "title", ppath),
            )
        )
    return tuple(media)


def _referral(referral: dict[str, Any] | None, path: str) -> AdReferral | None:
    """``{"ref", "ad_id", "source": "ADS", "type": "OPEN_THREAD", "ads_context_data": {"ad_title", ...}}``."""
    if referral is None:
        return None
    source = opt_str(referral, "source", path)
    context = opt_dict(referral, "ads_context_data", path) or {}
    return AdReferral(
        source_type="ad" if source and source.upper() == "ADS" else (source.lower() if source else None),
        source_id=opt_str(referral, "ad_id", path) or opt_str(referral, "ref", path),
        headline=opt_str(context, "ad_title", f"{path}.ads_context_data"),
    )
