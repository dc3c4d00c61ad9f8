"""Typed domain errors. The API maps each to one HTTP status (see functions/api and functions/webhooks)."""

from __future__ import annotations

from typing import Any


class LeadtideError(Exception):
    """Base of every domain error.

    Attributes:
        code: machine-readable snake_case error code, stable across releases.
        message: human-readable sentence naming the problem.
        details: optional list of ``{"field": ..., "problem": ...}`` dicts or extra context.
    """

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code:
            self.code = code


class MalformedPayloadError(LeadtideError):
    """The request body cannot be parsed or lacks a required part (HTTP 400)."""

    status_code = 400
    code = "malformed_payload"


class InvalidRequestError(LeadtideError):
    """A query parameter, cursor or field value is not acceptable (HTTP 400)."""

    status_code = 400
    code = "invalid_request"


class UnprocessableError(LeadtideError):
    """The request is well-formed but a value fails validation (HTTP 422)."""

    status_code = 422
    code = "validation_failed"


class UnauthenticatedError(LeadtideError):
    """No verifiable identity: missing claims, bad signature on a webhook (HTTP 401)."""

    status_code = 401
    code = "unauthenticated"


class InvalidSignatureError(UnauthenticatedError):
    """A webhook's signature header is missing or does not match the body (HTTP 401)."""

    code = "invalid_signature"


class ForbiddenError(LeadtideError):
    """The caller is known but its role or ownership does not allow the action (HTTP 403)."""

    status_code = 403
    code = "forbidden"


class NotFoundError(LeadtideError):
    """The resource does not exist in the caller's tenant (HTTP 404)."""

    status_code = 404
    code = "not_found"


class LeadNotFoundError(NotFoundError):
    """No lead with that id in the tenant (HTTP 404)."""

    code = "lead_not_found"


class ChannelNotFoundError(NotFoundError):
    """No channel with that id (or routing key) in the tenant (HTTP 404)."""

    code = "channel_not_found"


class ConflictError(LeadtideError):
    """The request conflicts with stored state (HTTP 409)."""

    status_code = 409
    code = "conflict"


class DuplicateLeadError(ConflictError):
    """A lead with the same identity (email, phone, Instagram id) already exists (HTTP 409).

    ``details`` carries ``[{"field": <identity kind>, "lead_id": <existing lead id>}]``.
    """

    code = "duplicate_lead"


class ChannelConflictError(ConflictError):
    """Another channel already owns the provider account (phone number id, Instagram id, ...) (HTTP 409)."""

    code = "channel_conflict"


class DuplicateDeliveryError(LeadtideError):
    """The provider message was already captured (idempotent redelivery). Not an HTTP error: ingest skips it."""

    status_code = 200
    code = "duplicate_delivery"
