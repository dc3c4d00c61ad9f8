"""leadtide_local.sqs without AWS: Lambda's SQS event, partial batch responses, poller settlement.

References: Lambda developer guide, "Using Lambda with Amazon SQS" and "Handling errors for an SQS
event source in Lambda" (ReportBatchItemFailures).
"""

from __future__ import annotations

import json

import pytest

from leadtide_local.resources import QueueInfo, RuleDelivery, RuleInfo
from leadtide_local.sqs import (
    RuleDeliveryPoller,
    SqsEventSourceMapping,
    build_sqs_event,
    failed_message_ids,
    lambda_message_attributes,
    record_matches,
)

QUEUE = QueueInfo(url="http://sqs.local/123456789012/q", arn="arn:aws:sqs:us-east-1:123456789012:q", name="q")


def _message(message_id: str, body: str, receive_count: int = 1) -> dict:
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"rh-{message_id}-{receive_count}",
        "MD5OfBody": "md5",
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDA",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
            "SomethingElse": "dropped",
        },
    }


class FakeSqs:
    """The SQS calls a poller makes, over an in-memory list of visible messages."""

    def __init__(self, messages: list[dict]):
        self.visible = list(messages)
        self.deleted: list[str] = []
        self.delayed: list[tuple[str, int]] = []
        self.receive_sizes: list[int] = []

    def receive_message(
        self, *, QueueUrl, MaxNumberOfMessages, WaitTimeSeconds, AttributeNames, MessageAttributeNames
    ):
        assert QueueUrl == QUEUE.url and MaxNumberOfMessages <= 10
        assert AttributeNames == ["All"] and MessageAttributeNames == ["All"]
        self.receive_sizes.append(MaxNumberOfMessages)
        taken, self.visible = self.visible[:MaxNumberOfMessages], self.visible[MaxNumberOfMessages:]
        return {"Messages": taken} if taken else {}

    def delete_message_batch(self, *, QueueUrl, Entries):
        assert len(Entries) <= 10
        self.deleted.extend(entry["ReceiptHandle"] for entry in Entries)

    def change_message_visibility_batch(self, *, QueueUrl, Entries):
        assert len(Entries) <= 10
        self.delayed.extend((entry["ReceiptHandle"], entry["VisibilityTimeout"]) for entry in Entries)


def test_lambda_sqs_event_shape():
    # Given a received message with string and binary attributes
    message = _message("m1", '{"a": 1}')
    message["MessageAttributes"] = {
        "kind": {"DataType": "String", "StringValue": "lead"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    message["MD5OfMessageAttributes"] = "md5attrs"
    # When building the event
    (record,) = build_sqs_event([message], QUEUE.arn, "us-east-1")["Records"]
    # Then it is Lambda's record shape
    assert record == {
        "messageId": "m1",
        "receiptHandle": "rh-m1-1",
        "body": '{"a": 1}',
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDA",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {
            "kind": {
                "stringValue": "lead",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "md5",
        "md5OfMessageAttributes": "md5attrs",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE.arn,
        "awsRegion": "us-east-1",
    }
    assert lambda_message_attributes({}) == {}


IDS = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (None, set()),
        ("", set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}, {"a", "c"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, set(IDS)),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, set(IDS)),
        ({"batchItemFailures": [{"messageId": "a"}]}, set(IDS)),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, set(IDS)),
        ({"batchItemFailures": "a"}, set(IDS)),
        ("not json", set(IDS)),
    ],
)
def test_partial_batch_responses_follow_lambdas_rules(result, failed):
    # Given a handler result for a batch of a, b, c with ReportBatchItemFailures
    # When interpreting it / Then Lambda's documented rules apply
    assert failed_message_ids(result, IDS, report_batch_item_failures=True) == failed


def test_without_report_batch_item_failures_any_return_is_success():
    # Given a mapping without ReportBatchItemFailures / When the handler returns failures anyway
    # Then they are ignored: the whole batch succeeded
    assert (
        failed_message_ids(
            {"batchItemFailures": [{"itemIdentifier": "a"}]}, IDS, report_batch_item_failures=False
        )
        == set()
    )


def test_record_matching_for_filter_criteria():
    # Given a record whose body is JSON
    record = {"body": json.dumps({"kind": "lead", "score": 9}), "attributes": {}}
    # When matching filter patterns / Then the body is matched as JSON, with EventBridge operators
    assert record_matches(record, [{"body": {"kind": ["lead"]}}])
    assert record_matches(record, [{"body": {"score": [{"numeric": [">", 5]}]}}])
    assert not record_matches(record, [{"body": {"kind": [{"prefix": "x"}]}}])
    assert record_matches(record, [])


def _mapping(fake: FakeSqs, invoke, **options) -> SqsEventSourceMapping:
    return SqsEventSourceMapping(
        name="Fn.Ev",
        function_logical_id="Fn",
        queue=QUEUE,
        invoke=invoke,
        client=fake,
        retry_delay_seconds=1.5,
        **options,
    )


def test_partial_failure_deletes_only_the_successes():
    # Given three messages and a handler reporting the second as failed
    fake = FakeSqs([_message(i, "{}") for i in IDS])
    events = []

    def invoke(function_id, event):
        events.append(event)
        return {"batchItemFailures": [{"itemIdentifier": "b"}]}

    mapping = _mapping(fake, invoke, report_batch_item_failures=True)
    # When polling once
    outcome = mapping.poll_once()
    # Then one invocation got all three; a and c are deleted; b comes back after the retry delay (rounded up)
    assert [r["messageId"] for r in events[0]["Records"]] == IDS
    assert (outcome.delivered, outcome.failed) == (3, 1)
    assert fake.deleted == ["rh-a-1", "rh-c-1"]
    assert fake.delayed == [("rh-b-1", 2)]
    assert mapping.delivered == 3 and not mapping.busy


def test_a_handler_exception_deletes_nothing():
    # Given a handler that raises
    fake = FakeSqs([_message(i, "{}") for i in IDS])

    def invoke(function_id, event):
        raise RuntimeError("down")

    # When polling / Then no message is deleted and all are retried
    outcome = _mapping(fake, invoke, report_batch_item_failures=True).poll_once()
    assert (outcome.delivered, outcome.failed) == (3, 3)
    assert fake.deleted == []
    assert [handle for handle, _ in fake.delayed] == ["rh-a-1", "rh-b-1", "rh-c-1"]


def test_batches_larger_than_ten_take_several_receives():
    # Given 25 messages and BatchSize 25
    fake = FakeSqs([_message(str(i), "{}") for i in range(25)])
    sizes = []
    mapping = _mapping(fake, lambda f, e: sizes.append(len(e["Records"])), batch_size=25)
    # When polling once
    mapping.poll_once()
    # Then one invocation carries all 25 (receives of at most 10) and all are deleted
    assert sizes == [25]
    assert fake.receive_sizes == [10, 10, 5]
    assert len(fake.deleted) == 25


def test_filtered_out_messages_are_dropped_without_invoking():
    # Given a filter on kind=lead
    fake = FakeSqs([_message("a", '{"kind": "lead"}'), _message("b", '{"kind": "other"}')])
    seen = []
    mapping = _mapping(
        fake,
        lambda f, e: seen.extend(r["messageId"] for r in e["Records"]),
        filter_patterns=[{"body": {"kind": ["lead"]}}],
    )
    # When polling / Then only the match is delivered, and both are deleted
    mapping.poll_once()
    assert seen == ["a"]
    assert sorted(fake.deleted) == ["rh-a-1", "rh-b-1"]


def _delivery(**options) -> RuleDelivery:
    rule = RuleInfo(name="r", arn="arn:aws:events:us-east-1:123456789012:rule/r", event_bus="default")
    return RuleDelivery(source="R.T", function_logical_id="Fn", rule=rule, queue=QUEUE, **options)


def _envelope(detail: dict) -> str:
    return json.dumps({"version": "0", "id": "e1", "detail-type": "t", "source": "s", "detail": detail})


def test_rule_deliveries_invoke_once_per_event_with_the_envelope():
    # Given two events sent by a rule to a function's delivery queue
    fake = FakeSqs([_message("a", _envelope({"n": 1})), _message("b", _envelope({"n": 2}))])
    seen = []
    poller = RuleDeliveryPoller(
        name="R.T",
        function_logical_id="Fn",
        queue=QUEUE,
        invoke=lambda f, e: seen.append(e),
        client=fake,
        delivery=_delivery(),
    )
    # When polling
    poller.poll_once()
    # Then each event is one invocation, with the account moto leaves out restored
    assert [e["detail"]["n"] for e in seen] == [1, 2]
    assert seen[0]["account"] == "123456789012"
    assert fake.deleted == ["rh-a-1", "rh-b-1"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"input": '{"fixed": true}'}, {"fixed": True}),
        ({"input_path": "$.detail"}, {"n": 1}),
        ({"input_path": "$"}, None),
    ],
)
def test_rule_target_input_and_input_path(options, expected):
    # Given a target with Input or InputPath (which moto ignores)
    fake = FakeSqs([_message("a", _envelope({"n": 1}))])
    seen = []
    poller = RuleDeliveryPoller(
        name="R.T",
        function_logical_id="Fn",
        queue=QUEUE,
        invoke=lambda f, e: seen.append(e),
        client=fake,
        delivery=_delivery(**options),
    )
    # When delivering / Then the function gets what EventBridge would pass
    poller.poll_once()
    assert seen[0] == (
        expected if expected is not None else {**json.loads(_envelope({"n": 1})), "account": "123456789012"}
    )


def test_a_failing_rule_delivery_is_retried_then_dropped():
    # Given an event that fails on its second and third attempts
    def invoke(function_id, event):
        raise RuntimeError("nope")

    second = FakeSqs([_message("a", _envelope({}), receive_count=2)])
    third = FakeSqs([_message("a", _envelope({}), receive_count=3)])
    # When polling / Then attempt 2 is retried later, attempt 3 (the last, as Lambda async) is dropped
    RuleDeliveryPoller(
        name="R.T", function_logical_id="Fn", queue=QUEUE, invoke=invoke, client=second
    ).poll_once()
    RuleDeliveryPoller(
        name="R.T", function_logical_id="Fn", queue=QUEUE, invoke=invoke, client=third
    ).poll_once()
    assert (second.deleted, [h for h, _ in second.delayed]) == ([], ["rh-a-2"])
    assert (third.deleted, third.delayed) == (["rh-a-3"], [])
