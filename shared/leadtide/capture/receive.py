"""Receive provider deliveries: verify them, parse them into ingest commands, queue them (Webhooks logic).

The webhook answers as soon as the delivery is verified and queued; the Ingest worker does the rest.
Sources: Meta Graph API webhooks (verification requests, X-Hub-Signature-256 payload validation),
https://developers.facebook.com/docs/graph-api/webhooks/getting-started ; Twilio webhook security,
https://www.twilio.com/docs/usage/webhooks/webhooks-security .
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

from leadtide.capture.instagram import instagram_routing_keys, parse_instagram
from leadtide.capture.ports import DeliveryStore
from leadtide.capture.signatures import (
    check_meta_signature_shape,
    verify_meta_signature,
    verify_twilio_signature,
)
from leadtide.capture.twilio import parse_twilio, twilio_routing_key
from leadtide.capture.web_form import parse_form_submission
from leadtide.capture.whatsapp import parse_whatsapp, whatsapp_routing_keys
from leadtide.channels.ports import ChannelRepository
from leadtide.channels.routing import ChannelRouter
from leadtide.channels.verify_tokens import verify_token_hash
from leadtide.models.bounded_json import MAX_DELIVERY_BYTES, load_json
from leadtide.models.channels import ChannelRoute
from leadtide.models.common import ChannelType, utc_now
from leadtide.models.errors import (
    ForbiddenError,
    InvalidSignatureError,
    LeadtideError,
    MalformedPayloadError,
    NotFoundError,
)
from leadtide.models.messages import (
    CLAIM_CHECK_BYTES,
    DeliveryContext,
    DeliveryStatusUpdate,
    InboundMessage,
    IngestEnvelope,
    MessageRetraction,
    StoredDelivery,
)
from leadtide.models.text import replace_invalid_text
from leadtide.ports import CommandQueue, SecretStore

log = logging.getLogger(__name__)

_META_TYPES = (ChannelType.WHATSAPP, ChannelType.INSTAGRAM)
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
IngestCommandType = InboundMessage | DeliveryStatusUpdate | MessageRetraction


class WebhookReceiver:
    """Verifies and queues deliveries for every public endpoint of the Webhooks function.

    A delivery is queued as one message per command; one too large for that (above
    :data:`~leadtide.models.messages.CLAIM_CHECK_BYTES`, body or messages) is stored whole in
    ``deliveries`` and queued as one claim check (:class:`~leadtide.models.messages.StoredDelivery`), which
    :class:`StoredDeliveryReader` turns back into the same commands in the Ingest worker.
    """

    def __init__(
        self,
        channels: ChannelRepository,
        secrets: SecretStore,
        ingest_queue: CommandQueue,
        *,
        deliveries: DeliveryStore | None = None,
        default_region: str = "US",
    ):
        self._channels = channels
        self._secrets = secrets
        self._router = ChannelRouter(channels, secrets)
        self._queue = ingest_queue
        self._deliveries = deliveries
        self._region = default_region

    # ------------------------------------------------------------------ Meta
    def verify_subscription(self, channel_type: ChannelType, params: Mapping[str, str]) -> str:
        """Answer Meta's GET verification request; return ``hub.challenge`` to echo as plain text.

        Raises:
            MalformedPayloadError: hub.mode / hub.challenge / hub.verify_token missing or hub.mode wrong.
            ForbiddenError: no channel of this type has that verify token (Meta expects 403).
        """
        mode = params.get("hub.mode")
        challenge = params.get("hub.challenge")
        token = params.get("hub.verify_token")
        if mode != "subscribe":
            raise ForbiddenError("hub.mode must be 'subscribe'", code="verification_failed")
        if not challenge or not token:
            raise ForbiddenError(
                "hub.challenge and hub.verify_token are required", code="verification_failed"
            )
        route = self._channels.find_route_by_verify_token(channel_type, verify_token_hash(token))
        if route is None or not route.secret_name:
            raise ForbiddenError("verify token does not match any channel", code="verification_failed")
        expected = self._secrets.get(route.secret_name).get("verify_token", "")
        if not hmac.compare_digest(expected.encode(), token.encode()):
            raise ForbiddenError("verify token does not match any channel", code="verification_failed")
        return challenge

    def receive_meta(self, channel_type: ChannelType, raw_body: bytes, signature: str | None) -> int:
        """Verify and queue a WhatsApp Cloud API or Instagram delivery; return the number of commands queued.

        Raises:
            InvalidSignatureError (401): X-Hub-Signature-256 missing or not ``sha256=`` + 64 hex digits
                (checked before the body is read), or verified by no channel's secret.
            PayloadTooLargeError (413): more than ``MAX_DELIVERY_BYTES`` (API Gateway's own limit).
            MalformedJsonError (400): not UTF-8 JSON, or beyond the bounds of
                :func:`leadtide.models.bounded_json.load_json` (too deep, a number too large).
            MalformedPayloadError (400): not the provider's shape.
            ForbiddenError (403): the payload names an account no channel is connected to.

        Order: the signature header's shape; then one bounded decode, only to read which accounts the
        delivery names (Meta signs with the app secret of the channel the payload names, so the secret
        to check cannot be known before); then the signature over the raw bytes, by the claims on those
        accounts (``leadtide.channels.routing``); only a verified payload is parsed into commands,
        queued, and activates a pending channel.
        """
        if channel_type not in _META_TYPES:
            raise ValueError(channel_type)
        check_meta_signature_shape(signature)
        # a signed delivery is kept, so lone surrogates become U+FFFD (account ids included)
        payload = replace_invalid_text(load_json(raw_body, max_bytes=MAX_DELIVERY_BYTES))
        keys_of = whatsapp_routing_keys if channel_type == ChannelType.WHATSAPP else instagram_routing_keys
        with _shape_errors_as_400(channel_type):
            keys = set(keys_of(payload))
        routes = self._router.resolve(
            channel_type,
            keys,
            "app_secret",
            lambda app_secret: verify_meta_signature(raw_body, signature, app_secret),
        )
        commands = _meta_commands(channel_type, payload, routes)
        context = DeliveryContext(
            channel_type=channel_type, received_at=utc_now(), routes=routes, content_type=JSON_TYPE
        )
        self._enqueue(commands, context, raw_body)
        self._router.activate(routes)  # a pending channel this delivery proved is now active
        return len(commands)

    # ------------------------------------------------------------------ Twilio
    def receive_twilio(self, url: str, params: Sequence[tuple[str, str]], signature: str | None) -> int:
        """Verify and queue a Twilio (WhatsApp) webhook; ``url`` is the exact URL Twilio requested.

        Raises:
            MalformedPayloadError (400), InvalidSignatureError (401), ForbiddenError (403) as for Meta.
        """
        if not signature:
            raise InvalidSignatureError("X-Twilio-Signature header is missing")
        flat = dict(params)
        routes = self._router.resolve(
            ChannelType.TWILIO,
            {twilio_routing_key(flat)},
            "auth_token",
            lambda auth_token: verify_twilio_signature(url, list(params), signature, auth_token),
        )
        context = DeliveryContext(
            channel_type=ChannelType.TWILIO, received_at=utc_now(), routes=routes, content_type=FORM_TYPE
        )
        commands = _twilio_commands(flat, context)
        self._enqueue(commands, context, urlencode(list(params)).encode("utf-8"))
        self._router.activate(routes)  # a pending channel this delivery proved is now active
        return len(commands)

    # ------------------------------------------------------------------ forms
    def submit_form(self, form_id: str, fields: Mapping[str, Any]) -> tuple[str, bool]:
        """Validate and queue a web-form submission; return (submission id, accepted).

        ``accepted`` is False for a honeypot hit: the bot gets the same 201, nothing is stored.

        Raises:
            NotFoundError (404): no such form.
            UnprocessableError (422): a field fails validation (details name each field).
        """
        route = self._channels.find_route(ChannelType.WEB_FORM, form_id)
        if route is None:
            raise NotFoundError(f"form {form_id} not found", code="form_not_found")
        submission_id = f"sub_{uuid.uuid4().hex}"
        context = DeliveryContext(
            channel_type=ChannelType.WEB_FORM,
            received_at=utc_now(),
            routes={form_id: route},
            content_type=JSON_TYPE,
            submission_id=submission_id,
        )
        commands = _form_commands(fields, context, self._region)
        if not commands:
            log.info("form %s: honeypot filled, submission discarded", form_id)
            return submission_id, False
        self._enqueue(commands, context, json.dumps(fields).encode("utf-8"))
        return submission_id, True

    # ------------------------------------------------------------------ helpers
    def _enqueue(self, commands: Sequence[IngestCommandType], context: DeliveryContext, body: bytes) -> None:
        """Queue one message per command; or, when the body or those messages exceed
        :data:`CLAIM_CHECK_BYTES`, store the whole delivery and queue one claim check naming it."""
        if not commands:
            return
        messages = [IngestEnvelope(command=c).model_dump_json() for c in commands]
        if len(body) <= CLAIM_CHECK_BYTES and sum(len(m.encode()) for m in messages) <= CLAIM_CHECK_BYTES:
            self._queue.send(messages)
            return
        if self._deliveries is None:
            raise RuntimeError("a delivery store is needed to queue large deliveries")
        data = context.model_dump_json().encode("utf-8") + b"\n" + body
        stored = StoredDelivery(
            key=self._deliveries.put(context.channel_type, data),
            channel_type=context.channel_type,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
        )
        log.info(
            "%s delivery of %d bytes stored for the ingest worker at %s",
            stored.channel_type,
            stored.size,
            stored.key,
        )
        self._queue.send([IngestEnvelope(delivery=stored).model_dump_json()])


class StoredDeliveryReader:
    """The Ingest worker's side of the claim check: fetch a stored delivery and parse it into commands,
    with the same parsers and the same verified routes as the webhook that stored it."""

    def __init__(self, deliveries: DeliveryStore, *, default_region: str = "US"):
        self._deliveries = deliveries
        self._region = default_region

    def commands(self, stored: StoredDelivery) -> list[IngestCommandType]:
        """The commands of a stored delivery, in the order the webhook would have queued them.

        Raises:
            KeyError: the object is gone (the queue redelivers, then dead-letters the claim check).
            ValueError: the object is not what the claim check describes (size or SHA-256 differ).
            MalformedPayloadError: the body no longer parses (a parser changed since it was stored).
        """
        data = self._deliveries.get(stored.key)
        head, newline, body = data.partition(b"\n")
        if not newline or len(body) != stored.size or hashlib.sha256(body).hexdigest() != stored.sha256:
            raise ValueError(f"stored delivery {stored.key} does not match its claim check")
        context = DeliveryContext.model_validate_json(head)
        if context.channel_type in _META_TYPES:
            payload = replace_invalid_text(load_json(body, max_bytes=MAX_DELIVERY_BYTES))
            return _meta_commands(context.channel_type, payload, context.routes)
        if context.channel_type == ChannelType.TWILIO:
            return _twilio_commands(dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)), context)
        return _form_commands(load_json(body, max_bytes=MAX_DELIVERY_BYTES), context, self._region)


# -------------------------------------------------------------------------- one parser per channel
def _meta_commands(
    channel_type: ChannelType, payload: Any, routes: Mapping[str, ChannelRoute]
) -> list[IngestCommandType]:
    parse = parse_whatsapp if channel_type == ChannelType.WHATSAPP else parse_instagram
    with _shape_errors_as_400(channel_type):
        return list(parse(payload, routes))


def _twilio_commands(flat: Mapping[str, str], context: DeliveryContext) -> list[IngestCommandType]:
    (only,) = context.routes.values()
    with _shape_errors_as_400(ChannelType.TWILIO):
        return list(parse_twilio(dict(flat), only, received_at=context.received_at))


def _form_commands(
    fields: Mapping[str, Any], context: DeliveryContext, default_region: str
) -> list[IngestCommandType]:
    (route,) = context.routes.values()
    message = parse_form_submission(
        fields,
        route,
        submission_id=context.submission_id or "",
        received_at=context.received_at,
        default_region=default_region,
    )
    return [] if message is None else [message]


@contextmanager
def _shape_errors_as_400(channel_type: ChannelType) -> Iterator[None]:
    """A payload odd enough to trip a parser is the sender's problem (400), never a 5xx."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as err:
        if isinstance(err, LeadtideError):
            raise
        raise MalformedPayloadError(f"unexpected {channel_type} payload shape: {err!r}") from None
