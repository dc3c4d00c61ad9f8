"""Twilio Messaging webhooks for WhatsApp (``application/x-www-form-urlencoded``) -> ingest commands.

Twilio POSTs one message per request: an inbound message to the sender's "A message comes in" URL, or
a status callback for a message the business sent. A channel is one Twilio account and WhatsApp
sender, so the routing key is ``"{AccountSid}:{business number in E.164}"``.

Which parameter is the business number depends on the direction: ``To`` for an inbound message,
``From`` for a status callback of an outbound message (there ``To`` is the lead). ``twilio_routing_key``
handles both, so one lookup finds the channel for every request Twilio makes.

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
    return _get(params, "MessageStatus") is not None and "Body" not in params


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

    Inbound message (``Body`` or ``NumMedia`` present): id from ``MessageSid``/``SmsMessageSid``/
    ``SmsSid``; ``SenderIdentity(phone=From without "whatsapp:", name=ProfileName)``; kind by precedence
    ``Latitude``/``Longitude`` -> LOCATION (text ``Label, Address`` else ``"lat,lon"``),
    ``ButtonText``/``ButtonPayload`` -> INTERACTIVE ``template_button``, ``NumMedia`` > 0 -> MEDIA
    (``MediaUrl{N}``/``MediaContentType{N}``), ``Body`` -> TEXT, else UNSUPPORTED. ``Referral*`` ->
    ``AdReferral``; ``OriginalRepliedMessageSid`` -> reply-to; ``Forwarded``/``FrequentlyForwarded`` ->
    ``forwarded``. ``raw_type`` is Twilio's ``MessageType`` when sent.

    ``occurred_at`` is ``received_at`` (Twilio sends no timestamp); it must be timezone-aware.

    Raises:
        MalformedPayloadError: (HTTP 400) neither kind of request, no message id, no ``From`` (inbound) /
            ``To`` (status), ``NumMedia`` not a non-negative integer, a ``MediaUrl{N}`` missing, or
            ``Latitude``/``Longitude`` not numbers; the message names the parameter.
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
    if "Body" not in params and "NumMedia" not in params:
        raise MalformedPayloadError(
            "neither an inbound message (Body or NumMedia) nor a status callback (MessageStatus)"
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


def _number(params: Mapping[str, Any], name: str) -> str:
    value = _require(params, name)
    try:
        ok = math.isfinite(float(value))
    except ValueError:
        ok = False
    if not ok:
        raise MalformedPayloadError(f"parameter {name} must be a number, got {value[:32]!r}")
    return value


def _media_type(content_type: str | None) -> str:
    major = (content_type or "").split("/", 1)[0].lower()
    return major if major in ("image", "video", "audio") else "document"


def _media(params: Mapping[str, Any]) -> tuple[Media, ...]:
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
                media_type=_media_type(content_type),
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


def _inbound(params: Mapping[str, Any], common: dict[str, Any]) -> InboundMessage:
    message_id = _message_id(params)
    sender = SenderIdentity(phone=_strip_channel(_require(params, "From")), name=_get(params, "ProfileName"))
    body = _get(params, "Body")
    media = _media(params)
    interactive = None
    text: str | None
    button_text, button_payload = _get(params, "ButtonText"), _get(params, "ButtonPayload")

    if _get(params, "Latitude") is not None or _get(params, "Longitude") is not None:
        latitude, longitude = _number(params, "Latitude"), _number(params, "Longitude")
        described = [p for p in (_get(params, "Label"), _get(params, "Address")) if p]
        kind, text, derived_type = (
            MessageKind.LOCATION,
            ", ".join(described) or f"{latitude},{longitude}",
            "location",
        )
    elif button_text is not None or button_payload is not None:
        title = button_text or body
        interactive = InteractiveReply(reply_type="template_button", reply_id=button_payload, title=title)
        kind, text, derived_type = MessageKind.INTERACTIVE, title, "button"
    elif media:
        kind, text, derived_type = MessageKind.MEDIA, body, media[0].media_type
    elif body is not None:
        kind, text, derived_type = MessageKind.TEXT, body, "text"
    else:
        kind, text, derived_type = MessageKind.UNSUPPORTED, None, "unknown"

    return InboundMessage(
        **common,
        provider_message_id=message_id,
        sender=sender,
        kind=kind,
        text=text,
        media=media,
        interactive=interactive,
        reply_to_provider_message_id=_get(params, "OriginalRepliedMessageSid"),
        forwarded=_flag(params, "Forwarded") or _flag(params, "FrequentlyForwarded"),
        referral=_referral(params),
        raw_type=_get(params, "MessageType") or derived_type,
    )
