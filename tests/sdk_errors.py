"""Builders of the errors botocore and PynamoDB raise, for tests of how the dal reads them (without a
throttling DynamoDB at hand)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import CancellationReason, PynamoDBException, TransactWriteError, VerboseClientError


def client_error(code: str, operation: str = "UpdateItem", *, status: int = 400) -> ClientError:
    """botocore's error for a refused request with AWS error ``code`` (HTTP ``status``)."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} (test)"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


def pynamo_error(kind: type[PynamoDBException], code: str) -> PynamoDBException:
    """A PynamoDB ``PutError``/``UpdateError``/``DeleteError``/``GetError``/... caused by ``code``, as
    PynamoDB wraps it (a ``VerboseClientError`` cause)."""
    cause = VerboseClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, "UpdateItem")
    return kind("Failed (test)", cause)


def cancelled(*codes: str | None) -> TransactWriteError:
    """A ``TransactWriteError`` of a transaction cancelled with one reason per item (None: fine)."""
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled (test)"}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code=c) if c is not None else None for c in codes],
    )
    return TransactWriteError("Failed to write transaction items", cause)


def fail_dynamodb(
    monkeypatch: Any,
    operation: str,
    code: str,
    *,
    reasons: Sequence[str | None] = (),
    when: Callable[[dict[str, Any]], bool] = lambda kwargs: True,
    times: int | None = None,
) -> list[dict[str, Any]]:
    """Make PynamoDB's ``operation`` calls (``UpdateItem``, ``TransactWriteItems``, ``GetItem``, ...) for
    which ``when(kwargs)`` holds fail with ``code`` (and, for a transaction, one cancellation reason per
    item), as DynamoDB's answer would after botocore's retries - the first ``times`` of them (None: all);
    every other call goes through. Returns the list of the failed calls' arguments."""
    from pynamodb.connection.base import Connection

    original = Connection._make_api_call
    failed: list[dict[str, Any]] = []

    def failing(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        due = times is None or len(failed) < times
        if operation_name == operation and due and when(operation_kwargs):
            failed.append(operation_kwargs)
            raise VerboseClientError(
                {"Error": {"Code": code, "Message": f"{code} (test)"}},
                operation_name,
                cancellation_reasons=[CancellationReason(code=c) if c is not None else None for c in reasons],
            )
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", failing)
    return failed
