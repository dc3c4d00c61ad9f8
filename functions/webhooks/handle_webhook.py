"""Webhooks function: public endpoints for WhatsApp Cloud API, Instagram, Twilio and web forms.

Each delivery is verified (signature or form validation), turned into ingest commands and queued; the
answer goes back as soon as it is queued. Unverifiable deliveries get 401/403 and nothing is stored;
malformed ones get 400 with a JSON error naming the problem.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadtide.api.errors import JSON, domain_error_response, error_response, unavailable_response
from leadtide.models.bounded_json import MAX_BODY_BYTES, MAX_DELIVERY_BYTES, check_size
from leadtide.models.common import ChannelType
from leadtide.models.errors import (
    LeadtideError,
    MalformedPayloadError,
    NotFoundError,
    StorageUnavailableError,
)
from leadtide.models.text import loads_valid_text
from leadtide.observability import logger, metrics, traced
from leadtide.settings import get_settings
from leadtide.wiring import get_wiring

app = APIGatewayHttpResolver()
_FORM_ID = re.compile(r"^[0-9a-f]{32}$")
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@app.exception_handler(LeadtideError)
def _domain_error(err: LeadtideError) -> Response:
    if err.status_code >= 400:
        logger.info("webhook rejected", extra={"code": err.code, "status": err.status_code})
    return domain_error_response(err)


@app.exception_handler(StorageUnavailableError)
def _storage_unavailable(err: StorageUnavailableError) -> Response:
    # 503: the provider delivers the webhook again later (as for any 5xx).
    logger.warning("storage unavailable", extra={"cause_code": err.cause_code})
    return unavailable_response(err)


def _raw_body(max_bytes: int) -> bytes:
    """The request body as received; 413 above ``max_bytes`` (checked before decoding anything)."""
    event = app.current_event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        check_size(len(body) // 4 * 3, max_bytes)  # base64: 3 bytes per 4 characters
        try:
            return base64.b64decode(body)
        except ValueError:
            raise MalformedPayloadError("body is not valid base64") from None
    raw = body.encode("utf-8", "surrogatepass")  # a lone surrogate: not UTF-8, a 400 later
    check_size(len(raw), max_bytes)
    return raw


def _text_body(max_bytes: int = MAX_BODY_BYTES) -> str:
    try:
        return _raw_body(max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPayloadError("body is not UTF-8 text") from None


MAX_FORM_FIELDS = 1000
"""Most ``name=value`` pairs read from a form-encoded body: Twilio sends a few dozen (ten media at most),
a web form at most 50 fields plus attribution; a million tiny pairs would only cost memory."""


def _form_pairs(text: str) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of a form-encoded body in order, blank values kept; 400 above
    :data:`MAX_FORM_FIELDS`."""
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise MalformedPayloadError(
            f"the form has more than {MAX_FORM_FIELDS} fields",
            details=[{"field": "body", "problem": f"more than {MAX_FORM_FIELDS} name=value pairs"}],
        ) from None


def _header(name: str) -> str | None:
    return app.current_event.headers.get(name.lower())


def _accepted(count: int) -> Response:
    metrics.add_metric(name="WebhookCommandsQueued", unit="Count", value=count)
    return Response(
        status_code=200, content_type=JSON, body=json.dumps({"status": "queued", "queued": count})
    )


# ---------------------------------------------------------------------------------------------- Meta
def _verify(channel_type: ChannelType) -> Response:
    params = app.current_event.query_string_parameters or {}
    challenge = get_wiring().webhook_receiver.verify_subscription(channel_type, params)
    return Response(status_code=200, content_type="text/plain", body=challenge)


@app.get("/webhooks/whatsapp")
def verify_whatsapp() -> Response:
    """Meta's verification handshake for WhatsApp: echo hub.challenge for a known verify token, else 403."""
    return _verify(ChannelType.WHATSAPP)


@app.get("/webhooks/instagram")
def verify_instagram() -> Response:
    """Meta's verification handshake for Instagram: echo hub.challenge for a known verify token, else 403."""
    return _verify(ChannelType.INSTAGRAM)


@app.post("/webhooks/whatsapp")
def receive_whatsapp() -> Response:
    """A WhatsApp Cloud API delivery: verify X-Hub-Signature-256, parse, queue; 200 once queued."""
    count = get_wiring().webhook_receiver.receive_meta(
        ChannelType.WHATSAPP, _raw_body(MAX_DELIVERY_BYTES), _header("x-hub-signature-256")
    )
    return _accepted(count)


@app.post("/webhooks/instagram")
def receive_instagram() -> Response:
    """An Instagram Messaging delivery: verify X-Hub-Signature-256, parse, queue; 200 once queued."""
    count = get_wiring().webhook_receiver.receive_meta(
        ChannelType.INSTAGRAM, _raw_body(MAX_DELIVERY_BYTES), _header("x-hub-signature-256")
    )
    return _accepted(count)


# ---------------------------------------------------------------------------------------------- Twilio
def _public_url() -> str:
    """The exact URL the caller requested (Twilio signs it): PUBLIC_BASE_URL, else scheme + Host."""
    event = app.current_event
    path = event.get("rawPath") or event.path
    query = event.get("rawQueryString") or ""
    base = get_settings().public_base_url.rstrip("/")
    if not base:
        proto = (_header("x-forwarded-proto") or "https").split(",")[0].strip()
        host = _header("host") or event.request_context.domain_name
        base = f"{proto}://{host}"
    return f"{base}{path}" + (f"?{query}" if query else "")


@app.post("/webhooks/twilio")
def receive_twilio() -> Response:
    """A Twilio WhatsApp delivery (form-encoded): verify X-Twilio-Signature over the exact URL, parse, queue;
    empty TwiML."""
    content_type = (_header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise MalformedPayloadError("Twilio webhooks must be application/x-www-form-urlencoded")
    params = _form_pairs(_text_body())
    count = get_wiring().webhook_receiver.receive_twilio(_public_url(), params, _header("x-twilio-signature"))
    metrics.add_metric(name="WebhookCommandsQueued", unit="Count", value=count)
    return Response(status_code=200, content_type="text/xml", body=_EMPTY_TWIML)


# ---------------------------------------------------------------------------------------------- forms
@app.post("/forms/<form_id>/submissions")
def submit_form(form_id: str) -> Response:
    """A web-form submission (JSON or urlencoded): validate against the form, queue; 201 (also for honeypot
    hits)."""
    if not _FORM_ID.match(form_id):
        raise NotFoundError(f"form {form_id} not found", code="form_not_found")
    content_type = (_header("content-type") or "").split(";")[0].strip().lower()
    text = _text_body()
    if content_type == "application/json":
        # bounded (400 too deep / number too large); a lone surrogate is a 422 naming the field
        fields = loads_valid_text(text)
        if not isinstance(fields, dict):
            raise MalformedPayloadError("body must be a JSON object of field names to values")
    elif content_type == "application/x-www-form-urlencoded":
        grouped: dict[str, list[str]] = {}
        for key, value in _form_pairs(text):
            grouped.setdefault(key, []).append(value)
        fields = {k: v[0] if len(v) == 1 else v for k, v in grouped.items()}
    else:
        raise MalformedPayloadError("send the form as application/json or application/x-www-form-urlencoded")
    submission_id, _stored = get_wiring().webhook_receiver.submit_form(form_id, fields)
    # A honeypot hit gets the same answer as a person, so bots learn nothing.
    return Response(
        status_code=201,
        content_type=JSON,
        body=json.dumps({"submission_id": submission_id, "status": "received"}),
    )


@app.not_found
def _not_found(_: Exception) -> Response:
    return error_response(404, "not_found", "no such endpoint")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """API Gateway HTTP API (payload 2.0) entry point for the public webhook routes."""
    return app.resolve(event, context)
