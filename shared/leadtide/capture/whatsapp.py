"""WhatsApp Cloud API webhook deliveries -> ingest commands.

A delivery is ``{"object": "whatsapp_business_account", "entry": [{"id": <WABA id>, "changes": [{"field":
"messages", "value": {"metadata": {"phone_number_id": ...}, "contacts": [...], "messages": [...],
"statuses": [...]}}]}]}``. One delivery may carry several entries, changes, messages and statuses, for
several business phone numbers; each ``phone_number_id`` is one Leadtide channel.

Only changes with ``field == "messages"`` are read; other fields (template status, account updates,
``smb_message_echoes`` ...) carry no lead traffic and are ignored.

Mapping decisions someone might otherwise undo:

- The sender's ``phone`` is the message's ``from`` exactly as Meta sends it (``"972544401243"``);
  ``identity.identity_keys`` normalises it. The name is the matching ``contacts[].profile.name``
  (matched on ``wa_id`` or ``user_id``, or the only contact when there is one).
- ``order`` and ``system`` messages have no MessageKind of their own: they become TEXT with a readable
  summary and ``raw_type`` ``order`` / ``system``.
- A WhatsApp Flow answer (``interactive.nfm_reply``) keeps its parsed ``response_json`` in
  ``form_fields``: it is a form the lead filled in.
- Statuses other than sent/delivered/read/failed (``deleted``, ``warning``, ...) are skipped.

Source: Meta for Developers, WhatsApp Cloud API, "Webhooks" -> messages webhook reference
(developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components,
developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from leadtide.capture.json_paths import (
    as_dict,
    as_list,
    opt_dict,
    opt_list,
    opt_str,
    req_str,
)
from leadtide.capture.timestamps import parse_timestamp
from leadtide.models.channels import ChannelRoute
from leadtide.models.common import ChannelType
from leadtide.models.errors import ChannelNotFoundError, MalformedPayloadError
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

WHATSAPP_OBJECT = "whatsapp_business_account"

_MEDIA_TYPES = frozenset({"image", "video", "audio", "voice", "document", "sticker"})


def _message_changes(payload: Any) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Yield ``(path of value, value, phone_number_id)`` for every ``field == "messages"`` change."""
    root = as_dict(payload, "payload")
    if root.get("object") != WHATSAPP_OBJECT:
        raise MalformedPayloadError(f"object must be {WHATSAPP_OBJECT!r}, got {root.get('object')!r}")
    for i, raw_entry in enumerate(as_list(root.get("entry"), "entry")):
        entry = as_dict(raw_entry, f"entry[{i}]")
        for j, raw_change in enumerate(as_list(entry.get("changes"), f"entry[{i}].changes")):
            path = f"entry[{i}].changes[{j}]"
            change = as_dict(raw_change, path)
            if req_str(change, "field", path) != "messages":
                continue
            value = as_dict(change.get("value"), f"{path}.value")
            metadata = as_dict(value.get("metadata"), f"{path}.value.metadata")
            yield f"{path}.value", value, req_str(metadata, "phone_number_id", f"{path}.value.metadata")


def whatsapp_routing_keys(payload: Any) -> set[str]:
    """Return the business phone number ids a WhatsApp Cloud API delivery is addressed to.

    Shape: the set of ``entry[].changes[].value.metadata.phone_number_id`` of changes whose ``field`` is
    ``"messages"``. Empty when the delivery only has other fields. The webhook looks each id up to find
    the channel (tenant and app secret) before parsing.

    Raises:
        MalformedPayloadError: (HTTP 400) the payload is not an object, ``object`` is not
            ``"whatsapp_business_account"``, ``entry``/``changes`` are not lists, or a messages change
            lacks ``value.metadata.phone_number_id``; the message names the path, e.g.
            ``"entry[0].changes[0].value.metadata.phone_number_id is missing"``.

    Source: developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components.
    """
    return {phone_number_id for _, _, phone_number_id in _message_changes(payload)}


def parse_whatsapp(
    payload: Any, routes: Mapping[str, ChannelRoute]
) -> list[InboundMessage | DeliveryStatusUpdate]:
    """Parse a WhatsApp Cloud API delivery into inbound messages and delivery status updates.

    ``routes`` maps each ``phone_number_id`` (see ``whatsapp_routing_keys``) to its channel. Output
    order: for each change, its ``messages[]`` then its ``statuses[]``.

    Messages, by ``type``: ``text`` -> TEXT; ``image``/``video``/``audio`` (voice notes too)/``document``/
    ``sticker`` -> MEDIA (text = caption); ``location`` -> LOCATION (``location`` = coordinates, name,
    address, url; text = "name, address", else "lat,lon"); ``contacts`` -> CONTACTS (text = names and phones);
    ``interactive`` (button_reply, list_reply, nfm_reply) and ``button`` (template quick reply, reply_type
    ``template_button``) -> INTERACTIVE (text = title); ``reaction`` -> REACTION (text = emoji, reply-to =
    reacted message); ``order``/``system`` -> TEXT summary; ``unsupported``/``unknown``/anything else ->
    UNSUPPORTED. ``context.id`` becomes ``reply_to_provider_message_id``, ``context.forwarded`` /
    ``frequently_forwarded`` ``forwarded``; ``referral`` (click-to-WhatsApp ad) an ``AdReferral``.
    ``occurred_at`` is the message ``timestamp`` (epoch seconds, a string) as aware UTC.

    Statuses: ``sent``/``delivered``/``read``/``failed`` -> DeliveryStatusUpdate with ``errors`` kept and
    ``recipient = SenderIdentity(phone=recipient_id)``; other status values are skipped.

    Raises:
        MalformedPayloadError: (HTTP 400) any shape problem ``whatsapp_routing_keys`` reports, or a
            message/status without ``id``, ``from`` (messages), ``timestamp``, ``type``/``status``, or
            whose type-specific object is missing or of the wrong shape; the message names the path,
            e.g. ``"entry[0].changes[0].value.messages[1].from is missing"``.
        ChannelNotFoundError: a routing key is absent from ``routes`` (the caller's contract is broken).

    Source: WhatsApp Cloud API messages webhook reference
    (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages).
    """
    commands: list[InboundMessage | DeliveryStatusUpdate] = []
    for path, value, phone_number_id in _message_changes(payload):
        route = routes.get(phone_number_id)
        if route is None:
            raise ChannelNotFoundError(f"no WhatsApp channel for phone_number_id {phone_number_id}")
        contacts = [
            as_dict(c, f"{path}.contacts[{n}]") for n, c in enumerate(opt_list(value, "contacts", path))
        ]
        for k, raw in enumerate(opt_list(value, "messages", path)):
            mpath = f"{path}.messages[{k}]"
            commands.append(_parse_message(as_dict(raw, mpath), mpath, route, contacts, f"{path}.contacts"))
        for k, raw in enumerate(opt_list(value, "statuses", path)):
            update = _parse_status(as_dict(raw, f"{path}.statuses[{k}]"), f"{path}.statuses[{k}]", route)
            if update is not None:
                commands.append(update)
    return commands


def _contact_index(contacts: list[dict[str, Any]], message: dict[str, Any]) -> int | None:
    """Index of the ``contacts[]`` entry of the message's sender (by wa_id/user_id, else the only one)."""
    sender_ids = {str(message[key]) for key in ("from", "from_user_id") if message.get(key)}
    for n, contact in enumerate(contacts):
        if {str(contact[key]) for key in ("wa_id", "user_id") if contact.get(key)} & sender_ids:
            return n
    return 0 if len(contacts) == 1 else None


def _parse_message(
    message: dict[str, Any],
    path: str,
    route: ChannelRoute,
    contacts: list[dict[str, Any]],
    contacts_path: str,
) -> InboundMessage:
    message_id = req_str(message, "id", path)
    sender_phone = req_str(message, "from", path)
    occurred_at = parse_timestamp(message.get("timestamp"), path=f"{path}.timestamp")
    raw_type = req_str(message, "type", path)

    name = None
    n = _contact_index(contacts, message)
    if n is not None:
        profile = opt_dict(contacts[n], "profile", f"{contacts_path}[{n}]")
        name = opt_str(profile, "name", f"{contacts_path}[{n}].profile") if profile else None
    sender = SenderIdentity(phone=sender_phone, name=name)

    reply_to = None
    forwarded = False
    context = opt_dict(message, "context", path)
    if context is not None:
        reply_to = opt_str(context, "id", f"{path}.context")
        forwarded = bool(context.get("forwarded") or context.get("frequently_forwarded"))

    referral = None
    raw_referral = opt_dict(message, "referral", path)
    if raw_referral is not None:
        rpath = f"{path}.referral"
        referral = AdReferral(
            source_type=opt_str(raw_referral, "source_type", rpath),
            source_id=opt_str(raw_referral, "source_id", rpath),
            source_url=opt_str(raw_referral, "source_url", rpath),
            headline=opt_str(raw_referral, "headline", rpath),
            body=opt_str(raw_referral, "body", rpath),
            ctwa_clid=opt_str(raw_referral, "ctwa_clid", rpath),
        )

    fields: dict[str, Any] = _content(message, raw_type, path)
    if "reply_to" in fields:
        reply_to = fields.pop("reply_to")
    return InboundMessage(
        tenant_id=route.tenant_id,
        channel_id=route.channel_id,
        channel_type=ChannelType.WHATSAPP,
        provider_message_id=message_id,
        occurred_at=occurred_at,
        sender=sender,
        reply_to_provider_message_id=reply_to,
        forwarded=forwarded,
        referral=referral,
        raw_type=raw_type,
        **fields,
    )


def _content(message: dict[str, Any], raw_type: str, path: str) -> dict[str, Any]:
    """Kind-specific InboundMessage fields (kind, text, media, interactive, form_fields, reply_to)."""
    if raw_type == "text":
        body = as_dict(message.get("text"), f"{path}.text")
        return {"kind": MessageKind.TEXT, "text": req_str(body, "body", f"{path}.text")}
    if raw_type in _MEDIA_TYPES:
        return _media(message, raw_type, path)
    if raw_type == "location":
        return _location(as_dict(message.get("location"), f"{path}.location"), f"{path}.location")
    if raw_type == "contacts":
        return _contacts(as_list(message.get("contacts"), f"{path}.contacts"), f"{path}.contacts")
    if raw_type == "interactive":
        return _interactive(as_dict(message.get("interactive"), f"{path}.interactive"), f"{path}.interactive")
    if raw_type == "button":
        button = as_dict(message.get("button"), f"{path}.button")
        title = opt_str(button, "text", f"{path}.button")
        reply = InteractiveReply(
            reply_type="template_button", reply_id=opt_str(button, "payload", f"{path}.button"), title=title
        )
        return {"kind": MessageKind.INTERACTIVE, "text": title, "interactive": reply}
    if raw_type == "reaction":
        reaction = as_dict(message.get("reaction"), f"{path}.reaction")
        return {
            "kind": MessageKind.REACTION,
            "text": opt_str(reaction, "emoji", f"{path}.reaction"),  # absent when the reaction is removed
            "reply_to": req_str(reaction, "message_id", f"{path}.reaction"),
        }
    if raw_type == "order":
        return {
            "kind": MessageKind.TEXT,
            "text": _order_text(as_dict(message.get("order"), f"{path}.order"), path),
        }
    if raw_type == "system":
        system = as_dict(message.get("system"), f"{path}.system")
        return {"kind": MessageKind.TEXT, "text": opt_str(system, "body", f"{path}.system")}
    # "unsupported", the older "unknown", and types newer than this parser (e.g. "request_welcome").
    return {"kind": MessageKind.UNSUPPORTED}


def _media(message: dict[str, Any], raw_type: str, path: str) -> dict[str, Any]:
    cpath = f"{path}.{raw_type}"
    content = as_dict(message.get(raw_type), cpath)
    caption = opt_str(content, "caption", cpath)
    media = Media(
        media_type="audio" if raw_type == "voice" else raw_type,
        provider_media_id=opt_str(content, "id", cpath),
        mime_type=opt_str(content, "mime_type", cpath),
        sha256=opt_str(content, "sha256", cpath),
        url=opt_str(content, "url", cpath),
        caption=caption,
        filename=opt_str(content, "filename", cpath),
    )
    return {"kind": MessageKind.MEDIA, "text": caption, "media": (media,)}


def _coordinate(location: dict[str, Any], key: str, path: str, bound: int) -> tuple[str, float]:
    """A coordinate as sent (for the text) and as a float in ``[-bound, bound]``."""
    value = location.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedPayloadError(
            f"{path}.{key} is missing" if value is None else f"{path}.{key} must be a number"
        )
    try:
        number = float(value)
    except ValueError:
        raise MalformedPayloadError(f"{path}.{key} must be a number, got {value!r}") from None
    if not -bound <= number <= bound:  # NaN fails too
        raise MalformedPayloadError(f"{path}.{key} must be a number from -{bound} to {bound}, got {value!r}")
    return str(value), number


def _location(location: dict[str, Any], path: str) -> dict[str, Any]:
    lat_text, latitude = _coordinate(location, "latitude", path, 90)
    lon_text, longitude = _coordinate(location, "longitude", path, 180)
    name, address = opt_str(location, "name", path), opt_str(location, "address", path)
    place = Location(
        latitude=latitude, longitude=longitude, name=name, address=address, url=opt_str(location, "url", path)
    )
    return {
        "kind": MessageKind.LOCATION,
        "text": ", ".join(p for p in (name, address) if p) or f"{lat_text},{lon_text}",
        "location": place,
    }


def _contacts(cards: list[Any], path: str) -> dict[str, Any]:
    described = []
    for n, raw in enumerate(cards):
        card = as_dict(raw, f"{path}[{n}]")
        name_obj = opt_dict(card, "name", f"{path}[{n}]") or {}
        npath = f"{path}[{n}].name"
        name = opt_str(name_obj, "formatted_name", npath) or " ".join(
            p for p in (opt_str(name_obj, "first_name", npath), opt_str(name_obj, "last_name", npath)) if p
        )
        phones = [
            phone
            for m, p in enumerate(opt_list(card, "phones", f"{path}[{n}]"))
            if (phone := opt_str(as_dict(p, f"{path}[{n}].phones[{m}]"), "phone", f"{path}[{n}].phones[{m}]"))
        ]
        described.append(f"{name or 'contact'} ({', '.join(phones)})" if phones else name or "contact")
    return {"kind": MessageKind.CONTACTS, "text": "; ".join(described) or None}


def _interactive(interactive: dict[str, Any], path: str) -> dict[str, Any]:
    reply_type = req_str(interactive, "type", path)
    body = as_dict(interactive.get(reply_type), f"{path}.{reply_type}")
    bpath = f"{path}.{reply_type}"
    if reply_type == "nfm_reply":
        # WhatsApp Flows: name is the flow ("flow", "address_message"), body the text shown,
        # response_json the answers.
        title = opt_str(body, "body", bpath)
        reply = InteractiveReply(reply_type=reply_type, reply_id=opt_str(body, "name", bpath), title=title)
        return {
            "kind": MessageKind.INTERACTIVE,
            "text": title,
            "interactive": reply,
            "form_fields": _flow_answers(opt_str(body, "response_json", bpath)),
        }
    title = opt_str(body, "title", bpath)
    reply = InteractiveReply(
        reply_type=reply_type,
        reply_id=opt_str(body, "id", bpath),
        title=title,
        description=opt_str(body, "description", bpath),
    )
    return {"kind": MessageKind.INTERACTIVE, "text": title, "interactive": reply}


def _flow_answers(response_json: str | None) -> dict[str, Any]:
    if response_json is None:
        return {}
    try:
        answers = json.loads(response_json)
    except ValueError:
        return {"response_json": response_json}
    return answers if isinstance(answers, dict) else {"response_json": response_json}


def _order_text(order: dict[str, Any], path: str) -> str:
    items = []
    for n, raw in enumerate(opt_list(order, "product_items", f"{path}.order")):
        ipath = f"{path}.order.product_items[{n}]"
        item = as_dict(raw, ipath)
        price = " ".join(
            p for p in (opt_str(item, "item_price", ipath), opt_str(item, "currency", ipath)) if p
        )
        product = opt_str(item, "product_retailer_id", ipath) or "item"
        quantity = opt_str(item, "quantity", ipath) or "1"
        items.append(f"{quantity} x {product}" + (f" ({price})" if price else ""))
    summary = "Order: " + (", ".join(items) if items else "no items")
    note = opt_str(order, "text", f"{path}.order")
    return f"{summary}\n{note}" if note else summary


def _parse_status(status: dict[str, Any], path: str, route: ChannelRoute) -> DeliveryStatusUpdate | None:
    value = req_str(status, "status", path)
    try:
        delivery_status = DeliveryStatus(value)
    except ValueError:
        return None  # "deleted", "warning", ...: nothing on the timeline changes
    message_id = req_str(status, "id", path)
    occurred_at = parse_timestamp(status.get("timestamp"), path=f"{path}.timestamp")
    if status.get("recipient_type") == "group":
        recipient = SenderIdentity()  # recipient_id is a group id, not a person's phone
    else:
        recipient = SenderIdentity(phone=req_str(status, "recipient_id", path))
    errors = tuple(as_dict(e, f"{path}.errors[{n}]") for n, e in enumerate(opt_list(status, "errors", path)))
    return DeliveryStatusUpdate(
        tenant_id=route.tenant_id,
        channel_id=route.channel_id,
        channel_type=ChannelType.WHATSAPP,
        provider_message_id=message_id,
        status=delivery_status,
        occurred_at=occurred_at,
        recipient=recipient,
        errors=errors,
    )
