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


class MalformedJsonError(MalformedPayloadError, ValueError):
    """A JSON body that cannot be decoded within bounds: not UTF-8, not JSON, nested too deeply, a number
    too long or out of range (HTTP 400, code ``malformed_json``; see :mod:`leadtide.models.bounded_json`).

    Also a ``ValueError``, as ``json.JSONDecodeError`` is, for code that treats that as "not valid"."""

    code = "malformed_json"


class PayloadTooLargeError(LeadtideError, ValueError):
    """The request body is larger than the endpoint accepts (HTTP 413, code ``payload_too_large``)."""

    status_code = 413
    code = "payload_too_large"


class InvalidRequestError(LeadtideError):
    """A query parameter, cursor or field value is not acceptable (HTTP 400)."""

    status_code = 400
    code = "invalid_request"


class UnprocessableError(LeadtideError):
    """The request is well-formed but a value fails validation (HTTP 422)."""

    status_code = 422
    code = "validation_failed"


class UnknownQueryParameterError(UnprocessableError):
    """The request carries a query parameter its route does not declare (HTTP 422); ``details`` lists
    ``{"field": "query.<name>", "problem": "unknown query parameter"}`` for each one."""

    code = "unknown_query_parameter"


class InvalidTextError(UnprocessableError):
    """A string of the request is not valid Unicode text: it holds a lone UTF-16 surrogate (HTTP 422).

    ``details`` names each field (``custom_fields.note``); see :mod:`leadtide.models.text`.
    """

    code = "invalid_text"


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


class ExportNotFoundError(NotFoundError):
    """No export with that id in the tenant (HTTP 404)."""

    code = "export_not_found"


class BulkActionNotFoundError(NotFoundError):
    """No bulk action with that id in the tenant (HTTP 404)."""

    code = "bulk_action_not_found"


class ScoringModelNotFoundError(NotFoundError):
    """No scoring model with that id in the tenant (HTTP 404)."""

    code = "scoring_model_not_found"


class ApiKeyNotFoundError(NotFoundError):
    """No API key with that id in the tenant (HTTP 404)."""

    code = "api_key_not_found"


class ConflictError(LeadtideError):
    """The request conflicts with stored state (HTTP 409)."""

    status_code = 409
    code = "conflict"


class DuplicateLeadError(ConflictError):
    """A lead with the same identity (email, phone, Instagram id) already exists (HTTP 409).

    ``details`` carries ``[{"field": <identity kind>, "value": ..., "lead_id": <existing lead id>}]`` when the
    caller may see that lead, else only ``[{"field": <identity kind>, "problem": "already taken"}]``.
    """

    code = "duplicate_lead"


class ChannelConflictError(ConflictError):
    """The caller's own tenant already has a channel on the provider account, or the verify token is taken
    (HTTP 409)."""

    code = "channel_conflict"


class ChannelUnavailableError(ConflictError):
    """The provider account cannot be connected (HTTP 409). Deliberately says nothing more: in particular
    never whether, or which, other tenant holds a connection to it."""

    code = "channel_unavailable"


class ModelVersionNotFoundError(NotFoundError):
    """No model version with that id in the tenant's registry (HTTP 404)."""

    code = "model_version_not_found"


class PromotionRefusedError(ConflictError):
    """A model version may not be promoted or set as challenger in its current state, or it is not measurably
    better than the champion on the same held-out outcomes (HTTP 409; ``details`` carry the comparison)."""

    code = "promotion_refused"


class NotEnoughOutcomesError(UnprocessableError):
    """The tenant has too few converted/lost leads to train a model (HTTP 422; ``details`` give the counts,
    what is needed and whether the starter model is available)."""

    code = "not_enough_outcomes"


class InsufficientTrainingDataError(UnprocessableError):
    """Too few converted or lost leads to train and evaluate a scoring model (HTTP 422; raised by
    ``leadtide.ml.training``; ``details`` give ``{"field": "converted"|"lost", "count", "needed"}``)."""

    code = "insufficient_training_data"


class ImportNotFoundError(NotFoundError):
    """No import (or saved import mapping) with that id/name in the tenant (HTTP 404)."""

    code = "import_not_found"


class ImportStateError(ConflictError):
    """The import is not in a state that allows the action (e.g. start while processing, rollback before it
    finished) (HTTP 409; the message names the current status)."""

    code = "import_state_conflict"


class ImportDataExpiredError(LeadtideError):
    """The import's files needed for the action (the upload, rollback before-images, error report) are
    past their retention (IMPORT_RETENTION_DAYS in leadtide.imports.service) (HTTP 410; the message names
    the date; codes ``upload_expired``, ``rollback_expired``, ``error_report_expired``)."""

    status_code = 410
    code = "import_data_expired"


class CustomFieldNotFoundError(NotFoundError):
    """No custom field with that key in the tenant (HTTP 404)."""

    code = "custom_field_not_found"


class ListNotFoundError(NotFoundError):
    """No static list with that id in the tenant (HTTP 404)."""

    code = "list_not_found"


class ListJobNotFoundError(NotFoundError):
    """No background job with that id on that static list in the tenant (HTTP 404)."""

    code = "list_job_not_found"


class BackfillRunNotFoundError(NotFoundError):
    """No profile backfill run with that id in the tenant (HTTP 404)."""

    code = "backfill_run_not_found"


class SegmentNotFoundError(NotFoundError):
    """No segment with that id in the tenant (HTTP 404)."""

    code = "segment_not_found"


class DuplicatePairNotFoundError(NotFoundError):
    """No candidate duplicate pair with that id in the tenant (HTTP 404)."""

    code = "duplicate_pair_not_found"


class MergeNotFoundError(NotFoundError):
    """No lead merge with that id in the tenant (HTTP 404)."""

    code = "merge_not_found"


class MergeConflictError(ConflictError):
    """A merge or its undo cannot proceed without losing data, or is in the wrong state (HTTP 409; the
    message and ``details`` say why, e.g. the survivor's fields changed since the merge)."""

    code = "merge_conflict"


class DuplicateDeliveryError(LeadtideError):
    """The provider message was already captured (idempotent redelivery). Not an HTTP error: ingest skips it."""

    status_code = 200
    code = "duplicate_delivery"


class StorageUnavailableError(Exception):
    """A service behind the dal (DynamoDB, S3; SQS, EventBridge, Secrets Manager) throttled the call or
    failed transiently, after the SDK's own retries: nothing is wrong with the request, and the same call is
    expected to succeed a little later.

    The dal raises it in place of the botocore/PynamoDB error (:mod:`leadtide.dal.errors`); the API answers
    503 ``storage_unavailable`` with ``Retry-After``; a queue worker lets it fail the message, so SQS
    delivers it again.

    Deliberately not a :class:`LeadtideError`: those say the request (or one item of a job) is wrong and
    are recorded as that item's final failure (a bulk action's lead, a list job's step); a transient error
    must propagate and be retried instead.

    Attributes:
        code: ``storage_unavailable`` (the API's error code).
        cause_code: the SDK's error code (``ProvisionedThroughputExceededException``, ``SlowDown``, a
            transaction's ``ThrottlingError`` reason, ...) or the botocore exception's class name.
    """

    status_code = 503
    code = "storage_unavailable"

    def __init__(self, message: str, *, cause_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.cause_code = cause_code
