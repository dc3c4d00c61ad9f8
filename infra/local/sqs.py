"""SQS event source mappings and EventBridge-to-function deliveries, polled against moto.

Event shape and batch semantics follow the Lambda developer guide, "Using Lambda with Amazon SQS"
(the example event) and "Handling errors for an SQS event source in Lambda" / "Implementing partial
batch responses" (``ReportBatchItemFailures``):

* a batch is up to ``BatchSize`` messages (several ReceiveMessage calls of at most 10);
* handler raised -> no message is deleted; all come back after the visibility timeout;
* without ReportBatchItemFailures, success -> every message is deleted;
* with ReportBatchItemFailures, the messages listed in ``batchItemFailures`` stay and the rest are
  deleted. A null/empty response or an empty/null ``batchItemFailures`` is full success; an
  ``itemIdentifier`` that is empty, null, missing or not a message id of the batch, or a response
  that is not an object, fails the whole batch.

Locally, messages left behind are made visible again after ``retry_delay_seconds`` (rounded up to
whole seconds: SQS takes integers) instead of the queue's visibility timeout, so redrive to the
dead-letter queue after ``maxReceiveCount`` receives happens in seconds. The redrive itself is
moto's: on a ReceiveMessage, moto moves a message whose receive count has reached ``maxReceiveCount``
to the queue's dead-letter queue (moto 5.2.1 ``SQSBackend.receive_message``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import math
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from moto.events.models import EventPattern

from leadtide_local.resources import QueueInfo, RuleDelivery

__all__ = [
    "BatchOutcome",
    "QueuePoller",
    "RuleDeliveryPoller",
    "SqsEventSourceMapping",
    "build_sqs_event",
    "failed_message_ids",
    "lambda_message_attributes",
    "record_matches",
]

_log = logging.getLogger("leadtide_local.sqs")
_LAMBDA_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)
_ASYNC_ATTEMPTS = 3  # Lambda asynchronous invocation: the first try and two retries.


def lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Convert SQS ``MessageAttributes`` (boto3 shape) to the shape Lambda puts in a record.

    ``{"k": {"DataType": "String", "StringValue": "v"}}`` ->
    ``{"k": {"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"}}``;
    binary values become base64 text in ``binaryValue``.
    """
    converted: dict[str, Any] = {}
    for name, value in (attributes or {}).items():
        entry: dict[str, Any] = {}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(
                raw if isinstance(raw, bytes) else str(raw).encode()
            ).decode()
        entry["stringListValues"] = list(value.get("StringListValues") or [])
        entry["binaryListValues"] = [
            base64.b64encode(item if isinstance(item, bytes) else str(item).encode()).decode()
            for item in value.get("BinaryListValues") or []
        ]
        entry["dataType"] = value.get("DataType", "String")
        converted[name] = entry
    return converted


def build_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Build the Lambda SQS event for received messages (boto3 ReceiveMessage ``Messages`` items).

    Returns:
        ``{"Records": [{"messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfBody", "md5OfMessageAttributes"?, "eventSource": "aws:sqs", "eventSourceARN", "awsRegion"}]}``.
    """
    records = []
    for message in messages:
        body = message.get("Body", "")
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": {
                k: v for k, v in (message.get("Attributes") or {}).items() if k in _LAMBDA_ATTRIBUTES
            },
            "messageAttributes": lambda_message_attributes(message.get("MessageAttributes") or {}),
            "md5OfBody": message.get("MD5OfBody")
            or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def failed_message_ids(result: Any, message_ids: list[str], *, report_batch_item_failures: bool) -> set[str]:
    """Which messages of a successfully returned batch count as failed (and are not deleted).

    Args:
        result: the handler's return value.
        message_ids: the batch's message ids.
        report_batch_item_failures: whether the mapping has ``FunctionResponseTypes:
            [ReportBatchItemFailures]``.

    Returns:
        The failed ids: empty for full success, all of ``message_ids`` for a response Lambda treats as
        a failure of the whole batch.
    """
    if not report_batch_item_failures or result is None or result == "" or result == {}:
        return set()
    if not isinstance(result, dict):
        return set(message_ids)
    failures = result.get("batchItemFailures")
    if failures is None or failures == []:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)
        failed.add(identifier)
    return failed


def record_matches(record: dict[str, Any], patterns: list[dict[str, Any]]) -> bool:
    """Lambda event filtering (``FilterCriteria``): does the record match any pattern?

    The body is matched as JSON when it parses as a JSON object, as in Lambda. Matching uses moto's
    EventBridge pattern engine (equality, prefix, anything-but, numeric, exists, ...).
    """
    if not patterns:
        return True
    candidate = dict(record)
    try:
        body = json.loads(record.get("body", ""))
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict):
        candidate["body"] = body
    event = cast(Any, candidate)  # moto types it as an EventBridge envelope; any mapping works
    return any(EventPattern(None, pattern).matches_event(event) for pattern in patterns)


@dataclass
class BatchOutcome:
    """What one poll did: ``delivered`` messages handed to the handler, of which ``failed`` stayed."""

    delivered: int = 0
    failed: int = 0


@dataclass
class QueuePoller:
    """Base for pollers of one SQS queue that invoke one function.

    Attributes:
        name: ``"<FunctionLogicalId>.<EventName>"`` (or the rule delivery's source).
        function_logical_id: the function invoked.
        queue: the polled queue.
        invoke: ``invoke(function_logical_id, event) -> result``.
        client: a boto3 SQS client pointed at moto (thread-safe; one per poller).
        retry_delay_seconds: how soon failed messages become visible again.
        region: ``awsRegion`` of the events.
        delivered: messages handed to the function so far (each attempt counts).
    """

    name: str
    function_logical_id: str
    queue: QueueInfo
    invoke: Callable[[str, Any], Any]
    client: Any
    retry_delay_seconds: float = 1.0
    region: str = "us-east-1"
    delivered: int = 0
    _busy: int = field(default=0, repr=False)
    _counter_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def busy(self) -> bool:
        """True while a batch this poller received is being processed (not while it merely waits)."""
        return self._busy > 0

    def _receive(self, wanted: int, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        wait = wait_seconds
        while len(messages) < wanted:
            response = self.client.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=min(10, wanted - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages") or []
            if not received:
                break
            messages.extend(received)
            wait = 0
        return messages

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self.client.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def _retry_later(self, messages: list[dict[str, Any]]) -> None:
        delay = max(0, math.ceil(self.retry_delay_seconds))
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self.client.change_message_visibility_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": delay}
                    for i, m in enumerate(chunk)
                ],
            )

    def _count(self, delivered: int, busy_delta: int) -> None:
        with self._counter_lock:
            self.delivered += delivered
            self._busy += busy_delta

    def poll_once(self, wait_seconds: int = 0) -> BatchOutcome:
        """Receive one batch (long-polling up to ``wait_seconds``), invoke, settle; return what happened."""
        raise NotImplementedError


@dataclass
class SqsEventSourceMapping(QueuePoller):
    """A function's ``Type: SQS`` event: polls the queue and invokes with Lambda's SQS event.

    Attributes:
        batch_size: ``BatchSize`` (SAM default 10).
        report_batch_item_failures: ``FunctionResponseTypes`` contains ``ReportBatchItemFailures``.
        filter_patterns: parsed ``FilterCriteria.Filters[].Pattern``; non-matching messages are deleted
            without invoking, as Lambda does.
    """

    batch_size: int = 10
    report_batch_item_failures: bool = False
    filter_patterns: list[dict[str, Any]] = field(default_factory=list)

    def poll_once(self, wait_seconds: int = 0) -> BatchOutcome:
        """Receive up to ``batch_size`` messages, invoke once, then delete/retry as Lambda does."""
        messages = self._receive(self.batch_size, wait_seconds)
        if not messages:
            return BatchOutcome()
        self._count(0, 1)
        try:
            event = build_sqs_event(messages, self.queue.arn, self.region)
            if self.filter_patterns:
                keep = [
                    (message, record)
                    for message, record in zip(messages, event["Records"], strict=True)
                    if record_matches(record, self.filter_patterns)
                ]
                dropped = [m for m in messages if all(m is not kept for kept, _ in keep)]
                if dropped:
                    self._delete(dropped)
                if not keep:
                    return BatchOutcome()
                messages = [message for message, _ in keep]
                event = {"Records": [record for _, record in keep]}
            ids = [m["MessageId"] for m in messages]
            self._count(len(messages), 0)
            if _log.isEnabledFor(logging.DEBUG):  # the id list is built only when someone reads it
                _log.debug(
                    "%s: invoking with %d message(s) from %s (id, receive count): %s",
                    self.name,
                    len(messages),
                    self.queue.name,
                    [
                        (m["MessageId"], (m.get("Attributes") or {}).get("ApproximateReceiveCount"))
                        for m in messages
                    ],
                )
            try:
                result = self.invoke(self.function_logical_id, event)
            except Exception:  # process boundary: as Lambda, a raising handler fails the whole batch
                _log.error(
                    "%s: handler raised on a batch of %d message(s) from %s; none deleted, all retried:\n%s",
                    self.name,
                    len(messages),
                    self.queue.name,
                    traceback.format_exc(),
                )
                failed = set(ids)
            else:
                failed = failed_message_ids(
                    result, ids, report_batch_item_failures=self.report_batch_item_failures
                )
                if failed:
                    _log.warning(
                        "%s: %d of %d message(s) reported as failed", self.name, len(failed), len(ids)
                    )
            self._delete([m for m in messages if m["MessageId"] not in failed])
            self._retry_later([m for m in messages if m["MessageId"] in failed])
            return BatchOutcome(delivered=len(messages), failed=len(failed))
        finally:
            self._count(0, -1)


def _apply_input_path(event: Any, path: str) -> Any:
    """Apply a simple JSONPath (``$``, ``$.a.b``) as EventBridge's ``InputPath`` does."""
    if path in ("$", ""):
        return event
    value = event
    for part in path.removeprefix("$.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass
class RuleDeliveryPoller(QueuePoller):
    """Delivers EventBridge events that a rule sent to a function (through its hidden queue).

    Each event is one asynchronous invocation with the event envelope (or the target's ``Input`` /
    ``InputPath`` result). A failing event is retried (``retry_delay_seconds`` apart) up to three
    attempts in all, then dropped with an error log, as Lambda does for asynchronous invocations
    without a failure destination.
    """

    delivery: RuleDelivery | None = None
    account_id: str = "123456789012"

    def _payload(self, body: str) -> Any:
        event = json.loads(body)
        if isinstance(event, dict) and "detail-type" in event:
            event = copy.deepcopy(event)
            event.setdefault("account", self.account_id)  # moto leaves it out of the envelope it sends
        if self.delivery is not None and self.delivery.input is not None:
            return json.loads(self.delivery.input)
        if self.delivery is not None and self.delivery.input_path:
            return _apply_input_path(event, self.delivery.input_path)
        return event

    def poll_once(self, wait_seconds: int = 0) -> BatchOutcome:
        """Receive up to 10 events and invoke the function once per event."""
        messages = self._receive(10, wait_seconds)
        if not messages:
            return BatchOutcome()
        self._count(0, 1)
        try:
            outcome = BatchOutcome()
            for message in messages:
                self._count(1, 0)
                outcome.delivered += 1
                try:
                    self.invoke(self.function_logical_id, self._payload(message["Body"]))
                except Exception:  # process boundary: as Lambda's async invoke, retried, then dropped
                    attempt = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
                    final = attempt >= _ASYNC_ATTEMPTS
                    _log.error(
                        "%s: %s raised on an EventBridge event (attempt %d of %d%s):\n%s",
                        self.name,
                        self.function_logical_id,
                        attempt,
                        _ASYNC_ATTEMPTS,
                        ", event dropped" if final else "",
                        traceback.format_exc(),
                    )
                    if final:
                        self._delete([message])
                    else:
                        outcome.failed += 1
                        self._retry_later([message])
                else:
                    self._delete([message])
            return outcome
        finally:
            self._count(0, -1)
