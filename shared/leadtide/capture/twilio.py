"""Twilio Messaging webhooks for WhatsApp (``application/x-www-form-urlencoded``) -> ingest commands.

Twilio POSTs one message per request: an inbound message to the sender's "A message comes in" URL, or
a status callback for a message the business sent. A channel is one Twilio account and WhatsApp
sender, so the routing key is ``"{AccountSid}:{business number in E.164}"``.

Which parameter is the business number depends on the direction: ``To`` for an inbound message,
``From`` for a status callback of an outbound message (there ``To`` is the lead). ``twilio_routing_key``
handles both, so one lookup finds the channel for every request Twilio makes.

Which request is which: a status callback has ``MessageStatus`` and none of the parameters only a
message carries (``Body``, ``Latitude``/``Longitude``, ``ButtonText``/``ButtonPayload``,
``ListId``/``ListTitle``); anything else carrying one of those, ``NumMedia`` or ``MessageType`` is an
inbound message. Twilio sends ``Body`` and ``NumMedia`` with most inbound messages, but a shared location
or a reply button may come without them, and it is still a message from the lead.

The message's content follows what the request carries, ``MessageType`` refining it (the same kinds and
activity fields as ``leadtide.capture.whatsapp`` gives the Cloud API's types):

=============================  ===========================================================================
``MessageType``                InboundMessage
=============================  ===========================================================================
``text``                       TEXT, ``text`` = ``Body``
``image`` ``video`` ``audio``  MEDIA, one ``Media`` per ``MediaUrl{N}`` with its URL and
``document`` ``sticker``       ``MediaContentType{N}`` (``media_type`` from the content type; ``sticker`` /
                               ``document`` as the MessageType says), ``text`` = ``Body`` (the caption)
``contacts``                   CONTACTS; the vCard is a ``text/vcard`` media item (``media_type``
                               ``contacts``) to fetch from its URL
``location``                   LOCATION, ``location`` = ``Latitude``, ``Longitude``, ``Label`` (name),
                               ``Address``; ``text`` = "Label, Address", else "lat,lon"
``button``                     INTERACTIVE ``template_button`` (a template's quick reply): ``reply_id`` =
                               ``ButtonPayload``, ``title`` = ``ButtonText``
``interactive``                INTERACTIVE ``button_reply`` (``ButtonText``/``ButtonPayload``) or
                               ``list_reply`` (``ListId``/``ListTitle``)
other or absent                the same, from the parameters present; nothing usable -> UNSUPPORTED
=============================  ===========================================================================

Twilio sends no event time: ``occurred_at`` is when Leadtide received the request.

Source: Twilio Docs, "Messaging webhooks" -> "Twilio's request to your incoming message webhook URL"
(twilio.com/docs/messaging/guides/webhook-request), "WhatsApp" -> "Receive WhatsApp messages"
(location, button and click-to-WhatsApp ``Referral*`` parameters; twilio.com/docs/whatsapp/api), and
"Outbound message status in status callbacks"
(twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from leadtide.capture.identity import InvalidPhoneError, normalize_phone
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

_STATUS_MAP = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.FAILED,
}
# Statuses of a message coming *in* to the business: the business number is To, as for inbound messages.
_INBOUND_STATUSES = frozenset({"receiving", "received"})
_MESSAGE_ID_PARAMS = ("MessageSid", "SmsMessageSid", "SmsSid")
# Parameters only an inbound message carries: their presence means "a message", even beside MessageStatus.
_MESSAGE_ONLY_PARAMS = ("Body", "Latitude", "Longitude", "ButtonText", "ButtonPayload", "ListId", "ListTitle")
# ... and these too mark an inbound message when there is no MessageStatus.
_INBOUND_PARAMS = (*_MESSAGE_ONLY_PARAMS, "NumMedia", "MessageType")
_MEDIA_MESSAGE_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
_VCARD_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory"})
_MAX_MEDIA = 100
_REFERRAL_PARAMS = (
    "ReferralSourceUrl",
    "ReferralSourceId",
    "ReferralSourceType",
    "ReferralHeadline",
    "ReferralBody",
    "ReferralCtwaClid",
)


def _get(params: Mapping[str, Any], name: str) -> str | None:
    """A parameter's value; ``None`` when absent or empty. A one-item list (``parse_qs``) is unwrapped."""
    value = params.get(name)
    if isinstance(value, list | tuple):
        if len(value) > 1:
            raise MalformedPayloadError(f"parameter {name} is sent {len(value)} times; expected once")
        value = value[0] if value else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayloadError(f"parameter {name} must be a string, got {type(value).__name__}")
    return value.strip() or None


def _require(params: Mapping[str, Any], name: str) -> str:
    value = _get(params, name)
    if value is None:
        raise MalformedPayloadError(f"parameter {name} is missing")
    return value


def _strip_channel(address: str) -> str:
    return address[9:] if address[:9].lower() == "whatsapp:" else address


def _is_status_callback(params: Mapping[str, Any]) -> bool:
    """``MessageStatus`` and no parameter only a message carries (see the module docstring)."""
    return _get(params, "MessageStatus") is not None and not any(n in params for n in _MESSAGE_ONLY_PARAMS)


def twilio_routing_key(params: Mapping[str, str]) -> str:
    """Return ``"{AccountSid}:{business number}"`` for a Twilio Messaging webhook request.

    The business number is ``To`` for inbound messages (and ``received``/``receiving`` status
    callbacks) and ``From`` for status callbacks of outbound messages, with the ``whatsapp:`` prefix
    removed and normalised to E.164 (``normalize_phone(strict=False)``), e.g.
    ``"AC0123...:+14155238886"``.

    Raises:
        MalformedPayloadError: (HTTP 400) ``AccountSid`` or the needed ``To``/``From`` parameter is
            missing, or that parameter is not a phone number; the message names the parameter.

    Source: twilio.com/docs/messaging/guides/webhook-request (``AccountSid``, ``To``, ``From``).
    """
    account_sid = _require(params, "AccountSid")
    status = (_get(params, "MessageStatus") or "").lower()
    name = "From" if _is_status_callback(params) and status not in _INBOUND_STATUSES else "To"
    raw = _require(params, name)
    try:
        number = normalize_phone(_strip_channel(raw), strict=False)
    except InvalidPhoneError as exc:
        raise MalformedPayloadError(f"parameter {name} is not a phone number: {exc.message}") from exc
    return f"{account_sid}:{number}"


def parse_twilio(
    params: Mapping[str, str], route: ChannelRoute, *, received_at: datetime
) -> list[InboundMessage | DeliveryStatusUpdate]:
    """Parse one Twilio WhatsApp webhook request into zero or one command.

    Status callback (``MessageStatus`` present, no ``Body``): ``sent``/``delivered``/``read`` ->
    DeliveryStatusUpdate; ``failed``/``undelivered`` -> FAILED with ``errors=({"code": ErrorCode,
    "message": ErrorMessage},)`` when Twilio gives an ``ErrorCode``; ``queued``/``accepted``/``sending``/
    ``receiving``/``received`` and other values -> ``[]``. The recipient is ``To``.

    Inbound message (any of ``Body``, ``NumMedia``, ``MessageType``, ``Latitude``/``Longitude``,
    ``ButtonText``/``ButtonPayload``, ``ListId``/``ListTitle``): id from ``MessageSid``/
    ``SmsMessageSid``/``SmsSid``; ``SenderIdentity(phone=From without "whatsapp:", name=ProfileName)``;
    kind by precedence ``Latitude``/``Longitude`` -> LOCATION (``location`` = coordinates, ``Label`` as
    name, ``Address``; text ``Label, Address`` else ``"lat,lon"``), ``ListId``/``ListTitle`` ->
    INTERACTIVE ``list_reply``, ``ButtonText``/``ButtonPayload`` -> INTERACTIVE ``template_button``
    (``button_reply`` when ``MessageType`` is ``interactive``), ``NumMedia`` > 0 -> CONTACTS when
    ``MessageType`` is ``contacts`` or every item is a vCard, else MEDIA (``MediaUrl{N}``/
    ``MediaContentType{N}``; text = ``Body``), ``Body`` -> TEXT, else UNSUPPORTED (the table in the
    module docstring). ``Referral*`` -> ``AdReferral``; ``OriginalRepliedMessageSid`` -> reply-to;
    ``Forwarded``/``FrequentlyForwarded`` -> ``forwarded``. ``raw_type`` is Twilio's ``MessageType``
    when sent.

    ``occurred_at`` is ``received_at`` (Twilio sends no timestamp); it must be timezone-aware.

    Raises:
        MalformedPayloadError: (HTTP 400) neither kind of request, no message id, no ``From`` (inbound) /
            ``To`` (status), ``NumMedia`` not a non-negative integer, a ``MediaUrl{N}`` missing, or
            ``Latitude``/``Longitude`` one without the other, not numbers or out of range (-90..90,
            -180..180); the message names the parameter.
        ValueError: ``received_at`` is naive.

    Source: twilio.com/docs/messaging/guides/webhook-request; twilio.com/docs/whatsapp/api;
    twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks.
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    occurred_at = received_at.astimezone(UTC)
    common: dict[str, Any] = {
        "tenant_id": route.tenant_id,
        "channel_id": route.channel_id,
        "channel_type": ChannelType.TWILIO,
        "occurred_at": occurred_at,
    }
    if _is_status_callback(params):
        update = _status(params, common)
        return [update] if update is not None else []
    if not any(name in params for name in _INBOUND_PARAMS):
        raise MalformedPayloadError(
            "neither an inbound message (Body, NumMedia, MessageType, Latitude/Longitude, "
            "ButtonText/ButtonPayload or ListId/ListTitle) nor a status callback (MessageStatus)"
        )
    return [_inbound(params, common)]


def _message_id(params: Mapping[str, Any]) -> str:
    for name in _MESSAGE_ID_PARAMS:
        value = _get(params, name)
        if value is not None:
            return value
    raise MalformedPayloadError("parameter MessageSid is missing (nor SmsMessageSid or SmsSid given)")


def _status(params: Mapping[str, Any], common: dict[str, Any]) -> DeliveryStatusUpdate | None:
    status = _STATUS_MAP.get((_get(params, "MessageStatus") or "").lower())
    if status is None:
        return None
    errors: tuple[dict[str, Any], ...] = ()
    code = _get(params, "ErrorCode")
    if code is not None:
        error: dict[str, Any] = {"code": int(code) if code.isdigit() else code}
        message = _get(params, "ErrorMessage")
        if message is not None:
            error["message"] = message
        errors = (error,)
    return DeliveryStatusUpdate(
        **common,
        provider_message_id=_message_id(params),
        status=status,
        recipient=SenderIdentity(phone=_strip_channel(_require(params, "To"))),
        errors=errors,
    )


def _coordinate(params: Mapping[str, Any], name: str, bound: int) -> tuple[str, float]:
    """A coordinate parameter as sent and as a float in ``[-bound, bound]``."""
    value = _require(params, name)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not -bound <= number <= bound:  # NaN fails too
        raise MalformedPayloadError(
            f"parameter {name} must be a number from -{bound} to {bound}, got {value[:32]!r}"
        )
    return value, number


def _location(params: Mapping[str, Any]) -> tuple[Location, str]:
    """The shared location and its timeline text ("Label, Address", else "lat,lon" as sent)."""
    lat_text, latitude = _coordinate(params, "Latitude", 90)
    lon_text, longitude = _coordinate(params, "Longitude", 180)
    name, address = _get(params, "Label"), _get(params, "Address")
    location = Location(latitude=latitude, longitude=longitude, name=name, address=address)
    return location, ", ".join(p for p in (name, address) if p) or f"{lat_text},{lon_text}"


def _media_type(content_type: str | None, message_type: str | None) -> str:
    """``media_type`` of one item: ``contacts`` for a vCard; ``sticker``/``document`` when the MessageType
    says so (a sticker is an image/webp, a document may be any file, an image sent as a file too); else
    the content type's ``image``/``video``/``audio``; without a content type the MessageType's; else
    ``document``."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _VCARD_TYPES or message_type == "contacts":
        return "contacts"
    if message_type in ("document", "sticker"):
        return message_type
    major = mime.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    return message_type if not mime and message_type in _MEDIA_MESSAGE_TYPES else "document"


def _media(params: Mapping[str, Any], message_type: str | None) -> tuple[Media, ...]:
    raw = _get(params, "NumMedia") or "0"
    if not raw.isdigit() or int(raw) > _MAX_MEDIA:
        raise MalformedPayloadError(
            f"parameter NumMedia must be an integer from 0 to {_MAX_MEDIA}, got {raw[:16]!r}"
        )
    media = []
    for n in range(int(raw)):
        url = _require(params, f"MediaUrl{n}")
        content_type = _get(params, f"MediaContentType{n}")
        last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        media.append(
            Media(
                media_type=_media_type(content_type, message_type),
                provider_media_id=last if last.startswith("ME") else None,
                mime_type=content_type,
                url=url,
            )
        )
    return tuple(media)


def _referral(params: Mapping[str, Any]) -> AdReferral | None:
    values = {name: _get(params, name) for name in _REFERRAL_PARAMS}
    if not any(values.values()):
        return None
    return AdReferral(
        source_url=values["ReferralSourceUrl"],
        source_id=values["ReferralSourceId"],
        source_type=values["ReferralSourceType"],
        headline=values["ReferralHeadline"],
        body=values["ReferralBody"],
        ctwa_clid=values["ReferralCtwaClid"],
    )


def _flag(params: Mapping[str, Any], name: str) -> bool:
    return (_get(params, name) or "").lower() == "true"


def _content(params: Mapping[str, Any], message_type: str | None) -> dict[str, Any]:
    """Kind-specific InboundMessage fields (kind, text, media, interactive, location) and the derived
    ``raw_type`` for a request without ``MessageType``."""
    body = _get(params, "Body")
    media = _media(params, message_type)
    if _get(params, "Latitude") is not None or _get(params, "Longitude") is not None:
        location, text = _location(params)
        return {"kind": MessageKind.LOCATION, "text": text, "location": location, "raw_type": "location"}
    list_id, list_title = _get(params, "ListId"), _get(params, "ListTitle")
    if list_id is not None or list_title is not None:
        title = list_title or body
        reply = InteractiveReply(reply_type="list_reply", reply_id=list_id, title=title)
        return {
            "kind": MessageKind.INTERACTIVE,
            "text": title,
            "interactive": reply,
            "raw_type": "interactive",
        }
    button_text, button_payload = _get(params, "ButtonText"), _get(params, "ButtonPayload")
    if button_text is not None or button_payload is not None:
        title = button_text or body
        # MessageType "button": a template's quick reply (Cloud API type "button"); "interactive": a reply
        # button of a session message (Cloud API interactive.button_reply).
        reply_type = "button_reply" if message_type == "interactive" else "template_button"
        reply = InteractiveReply(reply_type=reply_type, reply_id=button_payload, title=title)
        return {"kind": MessageKind.INTERACTIVE, "text": title, "interactive": reply, "raw_type": "button"}
    if media:
        if all(m.media_type == "contacts" for m in media):
            return {"kind": MessageKind.CONTACTS, "text": body, "media": media, "raw_type": "contacts"}
        return {"kind": MessageKind.MEDIA, "text": body, "media": media, "raw_type": media[0].media_type}
    if body is not None:
        return {"kind": MessageKind.TEXT, "text": body, "raw_type": "text"}
    return {"kind": MessageKind.UNSUPPORTED, "raw_type": "unknown"}


def _inbound(params: Mapping[str, Any], common: dict[str, Any]) -> InboundMessage:
    message_id = _message_id(params)
    sender = SenderIdentity(phone=_strip_channel(_require(params, "From")), name=_get(params, "ProfileName"))
    raw_type = _get(params, "MessageType")
    fields = _content(params, raw_type.lower() if raw_type else None)
    derived_type = fields.pop("raw_type")
    return InboundMessage(
        **common,
        provider_message_id=message_id,
        sender=sender,
        reply_to_provider_message_id=_get(params, "OriginalRepliedMessageSid"),
        forwarded=_flag(params, "Forwarded") or _flag(params, "FrequentlyForwarded"),
        referral=_referral(params),
        raw_type=raw_type or derived_type,
        **fields,
    )
