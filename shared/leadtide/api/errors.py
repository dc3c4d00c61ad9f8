"""One JSON error shape for every 4xx answer, shared by the Api and Webhooks functions.

``{"error": {"code": "lead_not_found", "message": "...", "details": [{"field": ..., "problem": ...}]}}``
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from leadtide.models.bounded_json import MAX_BODY_BYTES
from leadtide.models.errors import LeadtideError, StorageUnavailableError
from leadtide.models.leads import ErrorResponse

JSON = "application/json"


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The error document as a dict."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response:
    """A Powertools response carrying the error document."""
    return Response(
        status_code=status, content_type=JSON, body=json.dumps(error_body(code, message, details))
    )


def domain_error_response(err: LeadtideError) -> Response:
    """Map a domain error to its status code and the error document."""
    return error_response(err.status_code, err.code, err.message, err.details)


RETRY_AFTER_SECONDS = 1
"""``Retry-After`` of a 503: the SDK has retried for about as long already; a client waits a moment more."""


def unavailable_response(err: StorageUnavailableError) -> Response:
    """503 ``storage_unavailable`` with ``Retry-After`` for a throttled or unreachable store (the request
    itself is fine; nothing was half-written: a refused write changes nothing, a transaction is all or
    nothing)."""
    response = error_response(err.status_code, err.code, err.message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def validation_error_response(err: RequestValidationError) -> Response:
    """Map Powertools/pydantic request validation errors: malformed JSON -> 400, bad values -> 422.

    Each pydantic error becomes ``{"field": "body.email", "problem": "value is not a valid email address"}``.
    """
    errors = err.errors()
    details = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body" or len(e.get("loc", ())) == 1),
            "problem": e.get("msg", "invalid"),
        }
        for e in errors
    ]
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "malformed_json", "request body is not valid JSON", details)
    names = ", ".join(d["field"] for d in details if d["field"]) or "request"
    return error_response(422, "validation_failed", f"invalid value for {names}", details)


def unsupported_media_type_response(content_type: str) -> Response:
    """415 for a JSON route called with another body type (Powertools raises
    ``RequestUnsupportedContentType``; this gives it the error document)."""
    problem = f"Content-Type {content_type or '(none)'} is not accepted; send application/json"
    return error_response(
        415, "unsupported_media_type", problem, [{"field": "content-type", "problem": problem}]
    )


def undecodable_body_response(body: str | None, is_base64: bool) -> Response | None:
    """400 ``malformed_json`` when the request body (base64-decoded when API Gateway encoded it) is not
    UTF-8 text, so no JSON can be read from it; None when it decodes (the error came from elsewhere)."""
    if not body:
        return None
    try:
        raw = base64.b64decode(body) if is_base64 else body.encode("utf-8", "surrogatepass")
        raw.decode("utf-8")
    except (UnicodeError, ValueError) as err:
        return error_response(
            400, "malformed_json", "request body is not UTF-8 text", [{"field": "body", "problem": str(err)}]
        )
    return None


def documented_errors(*codes: int) -> dict[int, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error status codes, all with :class:`ErrorResponse`."""
    descriptions = {
        400: "Malformed request (bad JSON, bad cursor or parameter)",
        401: "Missing or invalid credentials",
        403: "Not allowed for this role or lead",
        404: "Not found in this tenant",
        409: "Conflicts with an existing record",
        410: "Gone: the data the action needs is past its retention",
        413: f"The body is larger than the API accepts ({MAX_BODY_BYTES // (1024 * 1024)} MiB)",
        415: "The body is not application/json",
        422: "A value failed validation, or a query parameter is unknown",
        503: "The data store is throttled or unreachable; retry after Retry-After seconds",
    }
    return {c: {"description": descriptions[c], "content": {JSON: {"model": ErrorResponse}}} for c in codes}
