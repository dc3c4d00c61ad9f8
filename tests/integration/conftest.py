"""Integration harness: the real handlers + logic + dal under ``moto.mock_aws``, with every table, queue,
bus and rule created from template.yaml itself (so tests cannot drift from the template).

HTTP calls go through the template's own routes and the local runtime's API Gateway event builder, in
process (no sockets); queue messages are delivered to the declared worker functions the way Lambda's
SQS event source mapping does.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest
from moto import mock_aws

from leadtide_local import moto_patches
from leadtide_local.http_api import (
    HttpRequest,
    build_http_event,
    find_route,
    parse_lambda_response,
    routes_from_template,
)
from leadtide_local.provision import create_resources
from leadtide_local.resources import ResourceMap, function_environment, functions
from leadtide_local.runtime import import_isolated
from leadtide_local.stack import build_pollers, forget_process_caches
from leadtide_local.template import load_template
from tests.conftest import REPO_ROOT

TEMPLATE = load_template(REPO_ROOT / "template.yaml")
SPECS = functions(TEMPLATE, base_dir=REPO_ROOT)
ROUTES = routes_from_template(TEMPLATE, SPECS)


def reset_process_caches() -> None:
    """Forget settings, clients and services built from a previous test's environment (every module-level
    ``functools`` cache in ``leadtide.*``, as the local runtime does)."""
    forget_process_caches()


class FakeContext:
    """The parts of a LambdaContext that Powertools reads."""

    def __init__(self, name: str):
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


_MODULES: dict[str, ModuleType] = {}


def handler_of(logical_id: str):
    """The ``lambda_handler`` of a template function, imported from its CodeUri once."""
    spec = SPECS[logical_id]
    module_name, func_name = spec.handler.rsplit(".", 1)
    if logical_id not in _MODULES:
        _MODULES[logical_id] = import_isolated(spec.code_dir, module_name, f"it_{logical_id}_{module_name}")
    return getattr(_MODULES[logical_id], func_name)


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    route_key: str | None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class Stack:
    """The template's resources in moto, plus callers for its routes and queues."""

    def __init__(self, resources: ResourceMap):
        self.resources = resources
        self.seen_statuses: list[tuple[str, int]] = []

    def claims(self, tenant: str, role: str, user: str = "u-1") -> dict[str, str]:
        return {"sub": user, "custom:tenant_id": tenant, "custom:role": role, "token_use": "id"}

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | str | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        claims: dict[str, str] | None = None,
        host: str = "api.example.com",
    ) -> HttpResult:
        """Call a template route as API Gateway would (authorizer claims injected when given)."""
        hdrs = {"host": host, "x-forwarded-proto": "https", **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body)
            hdrs.setdefault("content-type", "application/json")
        raw = body.encode() if isinstance(body, str) else (body or b"")
        target = path + (f"?{urlencode(query, doseq=True)}" if query else "")
        request = HttpRequest(
            method=method, target=target, headers=list(hdrs.items()), body=raw, server_port=443
        )
        match = find_route(ROUTES, method, request.raw_path)
        assert match is not None, f"no template route for {method} {path}"
        route, params = match
        if route.authorizer and claims is None:
            return HttpResult(401, {}, b'{"message":"Unauthorized"}', None)
        event = build_http_event(request, route, params, claims if route.authorizer else None)
        result = handler_of(route.function_logical_id)(event, FakeContext(route.function_logical_id))
        response = parse_lambda_response(result)
        self.seen_statuses.append((f"{route.method} {route.path}", response.status))
        return HttpResult(
            response.status,
            {k.lower(): v for k, v in response.headers},
            response.body,
            f"{route.method} {route.path}",
        )

    def deliver(self, queue_logical_id: str, function_logical_id: str, *, max_rounds: int = 20) -> int:
        """Drain a queue into its function like an SQS event source mapping; return records delivered.

        Records the handler reports as failed stay in the queue (made visible again at once).
        """
        import boto3

        sqs = boto3.client("sqs")
        url = self.resources.queues[queue_logical_id].url
        arn = self.resources.queues[queue_logical_id].arn
        delivered = 0
        for _ in range(max_rounds):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
                "Messages", []
            )
            if not messages:
                break
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
            try:
                result = handler_of(function_logical_id)(
                    {"Records": records}, FakeContext(function_logical_id)
                )
                failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            except Exception:  # an invocation error: Lambda retries the whole batch
                failed = {m["MessageId"] for m in messages}
            for m in messages:
                if m["MessageId"] in failed:
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                    )
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            delivered += len(messages) - len(failed)
            if failed == {m["MessageId"] for m in messages}:
                break
        return delivered

    def settle(self, max_rounds: int = 50) -> dict[str, int]:
        """Deliver every queue and rule target of the template to its function, as Lambda would, until a
        round delivers nothing (what the handlers publish meanwhile is delivered too).

        Returns:
            messages delivered per function logical id (each attempt counts).
        """
        import boto3

        def invoke(function_logical_id: str, event: Any) -> Any:
            return handler_of(function_logical_id)(event, FakeContext(function_logical_id))

        pollers = build_pollers(
            self.resources, SPECS, invoke=invoke, client=lambda: boto3.client("sqs"), retry_delay_seconds=0
        )
        delivered: dict[str, int] = {}
        for _ in range(max_rounds):
            moved = 0
            for poller in pollers:
                outcome = poller.poll_once()
                moved += outcome.delivered - outcome.failed
                if outcome.delivered:
                    name = poller.function_logical_id
                    delivered[name] = delivered.get(name, 0) + outcome.delivered
            if not moved:
                break
        return delivered

    def queue_depth(self, queue_logical_id: str) -> int:
        import boto3

        attrs = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.resources.queues[queue_logical_id].url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def stack(monkeypatch) -> Stack:
    """A fresh moto account with the template's resources and the functions' environment."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    moto_patches.install()  # as the local stack: transactions roll back per item, not per table
    with mock_aws():
        resources = create_resources(TEMPLATE)
        for name, value in function_environment(TEMPLATE, "LeadsApiFunction", resources).items():
            monkeypatch.setenv(name, value)
        reset_process_caches()
        yield Stack(resources)
        reset_process_caches()
