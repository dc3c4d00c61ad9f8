"""Capture benchmarks (``make bench``): cold start, handler time per delivery, AWS calls per message.

All figures come from one run on one machine, against the local stack (moto's server on loopback), so
ratios are meaningful and absolute times are this machine's. Writes the section between the
``<!-- bench:capture -->`` markers of docs/benchmarks.md when ``--write`` is given.

Measured:
- Cold start of the function serving ``GET /leads`` (the Leads API function): a fresh Python process
  imports its handler and serves one ``GET /leads``, unauthenticated (401, the issue's measure) and, in
  another fresh process, authenticated (against a real table in moto), timed from the first line of the
  process; compared, in the same run and interleaved, with a fresh process doing only
  ``import boto3; boto3.client("dynamodb")``.
- Handler time per webhook delivery (Webhooks function, signed WhatsApp text, warm) and per ingest
  message (Ingest worker, warm), medians.
- AWS API calls per captured message, counted (not timed) by wrapping botocore's ``_make_api_call``:
  webhook receive, and ingest of a new lead, a known lead and a duplicate delivery.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import botocore.client

REPO = Path(__file__).resolve().parents[2]
MARK_START, MARK_END = "<!-- bench:capture -->", "<!-- /bench:capture -->"
sys.path.insert(0, str(REPO))
from leadtide.wiring import get_wiring  # noqa: E402
from tests.benchmarks.sections import write_section  # noqa: E402

SECRET = "bench-app-secret-0123456789"

FLOOR = (
    "import time; t=time.perf_counter(); import boto3; boto3.client('dynamodb'); print(time.perf_counter()-t)"
)
COLD = """
import time; t=time.perf_counter()
import importlib.util, json, os, sys
sys.path.insert(0, os.path.dirname({path!r}))  # the code directory, as Lambda puts it on sys.path
spec = importlib.util.spec_from_file_location("cold_api", {path!r})
m = importlib.util.module_from_spec(spec); sys.modules["cold_api"] = m; spec.loader.exec_module(m)
imported = time.perf_counter() - t
event = json.loads({event!r})
class C:
    function_name="LeadsApiFunction"; function_version="$LATEST"; memory_limit_in_mb=1769; aws_request_id="x"
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:LeadsApiFunction"
    log_group_name="g"; log_stream_name="s"
    def get_remaining_time_in_millis(self): return 10000
r = m.lambda_handler(event, C())
assert r["statusCode"] == {status}, r
print(time.perf_counter()-t, imported)
"""


@contextmanager
def counting_calls():
    """Count botocore API calls (service:operation) made inside the block."""
    counts: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counted(self, operation_name, api_params):
        counts[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counted
    try:
        yield counts
    finally:
        botocore.client.BaseClient._make_api_call = original


def _api_event(tenant: str | None) -> dict:
    """A ``GET /leads`` event; without a tenant, as if no authorizer had run (the function answers 401)."""
    event = {
        "version": "2.0",
        "routeKey": "GET /leads",
        "rawPath": "/leads",
        "rawQueryString": "limit=25",
        "headers": {"host": "bench.local"},
        "queryStringParameters": {"limit": "25"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "bench.local",
            "http": {
                "method": "GET",
                "path": "/leads",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": "r",
            "routeKey": "GET /leads",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0,
            "authorizer": {
                "jwt": {
                    "claims": {"sub": "u", "custom:tenant_id": tenant, "custom:role": "admin"},
                    "scopes": None,
                }
            },
        },
        "isBase64Encoded": False,
    }
    if tenant is None:
        del event["requestContext"]["authorizer"]
    return event


def _run(code: str) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
        cwd=REPO,
    )
    return [float(x) for x in out.stdout.strip().splitlines()[-1].split()]


def bench_cold_start(runs: int) -> dict:
    path = str(REPO / "functions" / "api" / "handle_leads_api.py")
    unauthenticated = COLD.format(path=path, event=json.dumps(_api_event(None)), status=401)
    authenticated = COLD.format(path=path, event=json.dumps(_api_event("bench")), status=200)
    floor, cold, first, imported = [], [], [], []
    for _ in range(runs):  # interleaved, so machine noise hits all alike
        floor.append(_run(FLOOR)[0])
        total, imp = _run(unauthenticated)
        cold.append(total)
        imported.append(imp)
        first.append(_run(authenticated)[0])
    f, c, a = statistics.median(floor), statistics.median(cold), statistics.median(first)
    return {
        "runs": runs,
        "floor_ms": f * 1000,
        "cold_ms": c * 1000,
        "first_ms": a * 1000,
        "import_ms": statistics.median(imported) * 1000,
        "ratio": c / f,
        "first_ratio": a / f,
    }


def _whatsapp_event(stack, body: bytes) -> dict:
    from leadtide.capture.signatures import meta_signature

    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/whatsapp",
        "rawPath": "/webhooks/whatsapp",
        "rawQueryString": "",
        "headers": {
            "host": "bench.local",
            "content-type": "application/json",
            "x-hub-signature-256": meta_signature(body, SECRET),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "bench.local",
            "http": {
                "method": "POST",
                "path": "/webhooks/whatsapp",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "POST /webhooks/whatsapp",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _text_delivery(sender: str, message_id: str) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550001111",
                                    "phone_number_id": "1122334455667",
                                },
                                "contacts": [{"profile": {"name": "Bench"}, "wa_id": sender}],
                                "messages": [
                                    {
                                        "from": sender,
                                        "id": message_id,
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": "How much for a lesson tomorrow?"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def bench_capture(stack, deliveries: int) -> dict:
    import requests

    from leadtide.models.messages import IngestEnvelope

    admin = {"authorization": f"Bearer {stack.token('bench', 'admin', 'u')}"}
    res = requests.post(
        f"{stack.base_url}/channels",
        headers=admin,
        timeout=30,
        json={
            "type": "whatsapp",
            "phone_number_id": "1122334455667",
            "verify_token": "bench-verify-token",
            "app_secret": SECRET,
        },
    )
    assert res.status_code == 201, res.text
    sqs = stack.client("sqs")
    ingest_url = stack.resources.queues["IngestQueue"].url

    def take_ingest_bodies() -> list[str]:
        bodies = []
        while True:
            got = sqs.receive_message(QueueUrl=ingest_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return bodies
            for m in got:
                bodies.append(m["Body"])
                sqs.delete_message(QueueUrl=ingest_url, ReceiptHandle=m["ReceiptHandle"])

    # Warm both functions once (cold start is measured separately).
    stack.invoke("WebhooksFunction", _whatsapp_event(stack, _text_delivery("19995550000", "wamid.warm")))
    capture = get_wiring().capture_service
    for body in take_ingest_bodies():
        capture.capture(IngestEnvelope.model_validate_json(body).command)

    webhook_ms, ingest_new_ms, ingest_known_ms = [], [], []
    calls: dict[str, Counter[str]] = {}
    for i in range(deliveries):
        sender = f"1555{i:07d}"
        for kind, message_id in (("new", f"wamid.n{i}"), ("known", f"wamid.k{i}")):
            event = _whatsapp_event(stack, _text_delivery(sender, message_id))
            with counting_calls() as c:
                t = time.perf_counter()
                result = stack.invoke("WebhooksFunction", event)
                webhook_ms.append((time.perf_counter() - t) * 1000)
            assert result["statusCode"] == 200, result
            calls.setdefault("webhook receive (1 message)", c)
            (body,) = take_ingest_bodies()
            command = IngestEnvelope.model_validate_json(body).command
            with counting_calls() as c:
                t = time.perf_counter()
                outcome = capture.capture(command)
                (ingest_new_ms if kind == "new" else ingest_known_ms).append((time.perf_counter() - t) * 1000)
            assert outcome.outcome == ("created_lead" if kind == "new" else "appended"), outcome
            calls.setdefault(f"ingest: {kind} lead", c)
            if kind == "known":
                with counting_calls() as c:
                    assert capture.capture(command).outcome == "duplicate"
                calls.setdefault("ingest: duplicate delivery", c)
    return {
        "deliveries": deliveries,
        "webhook_ms": statistics.median(webhook_ms),
        "ingest_new_ms": statistics.median(ingest_new_ms),
        "ingest_known_ms": statistics.median(ingest_known_ms),
        "calls": {k: dict(v) for k, v in calls.items()},
    }


def render(cold: dict, cap: dict) -> str:
    lines = [
        MARK_START,
        "## Capture (`make bench`, tests/benchmarks/bench_capture.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this project's machine (2 cores), one run, against moto's "
        "server on loopback. Ratios compare figures taken in the same run.",
        "",
        "**Cold start of the function serving `GET /leads`** (the Leads API function; a fresh process imports "
        f"its handler and serves one `GET /leads`; medians of {cold['runs']} runs, interleaved with the floor):",
        "",
        "| measure | ms | ratio to the floor |",
        "|---|---|---|",
        f'| floor: `import boto3; boto3.client("dynamodb")` | {cold["floor_ms"]:.0f} | 1.00x |',
        f"| Leads API handler imported | {cold['import_ms']:.0f} | {cold['import_ms'] / cold['floor_ms']:.2f}x |",
        f"| **imported + one unauthenticated `GET /leads` (401)** (aim: within 1.3x) | {cold['cold_ms']:.0f} | "
        f"**{cold['ratio']:.2f}x** |",
        f"| imported + first authenticated `GET /leads` (a page read from the table) | {cold['first_ms']:.0f} | "
        f"{cold['first_ratio']:.2f}x |",
        "",
        f"**Handler time** (warm, median of {cap['deliveries']} deliveries each; includes the loopback calls "
        "to moto, which stand in for AWS's few-millisecond calls):",
        "",
        "| handler | ms |",
        "|---|---|",
        f"| Webhooks: verify + parse + queue one signed WhatsApp message | {cap['webhook_ms']:.1f} |",
        f"| Ingest: message from a new sender (lead created) | {cap['ingest_new_ms']:.1f} |",
        f"| Ingest: message from a known lead | {cap['ingest_known_ms']:.1f} |",
        "",
        "**AWS calls per captured message** (counted):",
        "",
        "| path | calls | by operation |",
        "|---|---|---|",
    ]
    for path, ops in cap["calls"].items():
        detail = ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
        lines.append(f"| {path} | {sum(ops.values())} | {detail} |")
    lines += [
        "",
        "The aim for a new lead was one transactional write plus one event publish; the identity "
        "lookup before it is one read.",
        MARK_END,
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update this markdown file (docs/benchmarks.md)")
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--deliveries", type=int, default=50)
    args = parser.parse_args()

    from leadtide_local.stack import LocalStack

    with LocalStack.start(port=0, background_workers=False) as stack:
        cap = bench_capture(stack, args.deliveries)
        cold = bench_cold_start(args.cold_runs)
    section = render(cold, cap)
    print(section)
    if args.write:
        write_section(args.write, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
