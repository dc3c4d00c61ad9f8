"""What a failed DynamoDB or S3 call means, asked in one place by every adapter of the dal.

PynamoDB wraps botocore's ``ClientError`` (its ``cause``) in ``PutError``/``UpdateError``/``DeleteError``/
``TransactWriteError``/``GetError``/...; the raw clients (S3, a few DynamoDB calls) raise ``ClientError``
itself. Two questions are asked of such an error:

* :func:`condition_failed`: was a write refused because its condition did not hold? A single item's write
  then fails with the error code ``ConditionalCheckFailedException``; a transaction is cancelled
  (``TransactionCanceledException``) with the reason ``ConditionalCheckFailed`` on each refused item
  (:func:`cancellation_codes`, one entry per item in the order sent; None for an item that was fine). An
  adapter catches exactly that and says what it means (not found, conflict, ``False``); every other error
  propagates.
* :func:`storage_unavailable`: did the store throttle or fail transiently? Botocore has retried such a call
  already (its standard retry mode); :class:`~leadtide.dal.base.StorageAdapter` turns what still fails
  into :class:`~leadtide.models.errors.StorageUnavailableError`. Throttled and transient are what
  botocore's own standard retry mode counts as such (``botocore.retries.standard``: throttling codes,
  ``RequestTimeout``, connection and HTTP client errors) plus the services' 5xx codes and a transaction's
  ``ThrottlingError``/``ProvisionedThroughputExceeded`` cancellation reasons.

References: DynamoDB error handling
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html) and
TransactWriteItems' ``CancellationReasons``
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from leadtide.models.errors import StorageUnavailableError

CONDITION_FAILED = "ConditionalCheckFailedException"
"""Error code of a single-item write (PutItem, UpdateItem, DeleteItem) whose condition did not hold."""
CONDITION_REASON = "ConditionalCheckFailed"
"""Cancellation reason of a transaction item whose condition did not hold."""

SDK_ERRORS: tuple[type[Exception], ...] = (PynamoDBException, BotoCoreError, ClientError)
"""Every error a PynamoDB or botocore call raises for a failed request (what the dal translates)."""

_THROTTLED_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
# 5xx codes of DynamoDB (InternalServerError), S3 (InternalError, ServiceUnavailable) and the common ones.
_SERVER_ERROR_CODES = frozenset(
    {"InternalServerError", "InternalError", "InternalFailure", "ServiceUnavailable"}
)
_TRANSIENT_STATUS = frozenset({500, 502, 503, 504})


def error_code(err: BaseException) -> str | None:
    """The AWS error code of ``err`` (``ConditionalCheckFailedException``, ``TransactionCanceledException``,
    ``NoSuchKey``, ...); None for an error without one (a connection error, or not an SDK error)."""
    if isinstance(err, PynamoDBException):
        return err.cause_response_code
    if isinstance(err, ClientError):
        return err.response.get("Error", {}).get("Code")
    return None


def cancellation_codes(err: BaseException) -> list[str | None]:
    """The cancellation reason code of each item of a cancelled transaction, in the order the items were
    sent (None: that item was fine). Reads PynamoDB's ``TransactWriteError.cancellation_reasons`` and a raw
    ``ClientError``'s ``CancellationReasons`` alike; empty for any other error."""
    if isinstance(err, PynamoDBException):
        reasons = getattr(err, "cancellation_reasons", None) or []
        return [reason.code if reason is not None else None for reason in reasons]
    if isinstance(err, ClientError):
        raw: list[dict[str, Any]] = err.response.get("CancellationReasons") or []
        return [r.get("Code") if r.get("Code") not in (None, "None") else None for r in raw]
    return []


def refused_by_condition(err: BaseException) -> list[bool]:
    """Per item of a cancelled transaction (order sent): whether its own condition refused it. An item
    cancelled for another reason (throttled, in conflict with another transaction) is False."""
    return [code == CONDITION_REASON for code in cancellation_codes(err)]


def condition_failed(err: BaseException) -> bool:
    """Whether ``err`` is a write refused by its condition: a single item's
    ``ConditionalCheckFailedException``, or a transaction cancelled with at least one item's reason
    ``ConditionalCheckFailed``. False for throttling, validation errors, bugs, ..."""
    if error_code(err) == CONDITION_FAILED:
        return True
    return CONDITION_REASON in cancellation_codes(err)


def storage_unavailable(err: BaseException) -> bool:
    """Whether ``err`` means the store throttled or failed transiently (see the module docstring), so the
    same call is expected to succeed later."""
    if any(code in _THROTTLED_REASONS for code in cancellation_codes(err)):
        return True
    cause = err.cause if isinstance(err, PynamoDBException) and err.cause is not None else err
    if isinstance(cause, ClientError):
        if error_code(cause) in _SERVER_ERROR_CODES:
            return True
        if cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in _TRANSIENT_STATUS:
            return True
        return _botocore_retries(parsed_response=cause.response)
    if isinstance(cause, BotoCoreError):
        return _botocore_retries(caught_exception=cause)
    return False


def unavailable_error(err: BaseException) -> StorageUnavailableError | None:
    """The :class:`StorageUnavailableError` ``err`` means, or None when it means something else."""
    if not isinstance(err, SDK_ERRORS) or not storage_unavailable(err):
        return None
    throttled = next((c for c in cancellation_codes(err) if c in _THROTTLED_REASONS), None)
    cause = err.cause if isinstance(err, PynamoDBException) and err.cause is not None else err
    code = throttled or error_code(cause) or type(cause).__name__
    return StorageUnavailableError("the data store is busy or unreachable; retry shortly", cause_code=code)


def _botocore_retries(**context: Any) -> bool:
    """Whether botocore's standard retry mode counts the response or exception as throttled or transient."""
    from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

    retry_context = RetryContext(attempt_number=1, **context)
    return ThrottledRetryableChecker().is_retryable(
        retry_context
    ) or TransientRetryableChecker().is_retryable(retry_context)
