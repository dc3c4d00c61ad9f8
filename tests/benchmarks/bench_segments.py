"""Segment benchmarks (``make bench``): condition evaluation, preview over 100,000 leads, refresh per event.

Writes the section between the ``<!-- bench:segments -->`` markers of docs/benchmarks.md with ``--write``.
All figures come from one run on one machine; moto runs in-process (``mock_aws``), so DynamoDB latency is
not in them: what they show is Python's share, and the number of pages/bytes a real table would serve.

Measured:
1. compile + evaluate three rule trees over 100,000 generated lead records in memory (no I/O);
2. ``POST /segments/preview``'s logic (``SegmentService.preview``) over 100,000 leads stored in moto: read
   through ``leads_by_created`` with a ProjectionExpression of the rule's fields, evaluated in memory;
   Query calls, bytes returned, and the item bytes DynamoDB would read (its 1 MB page limit counts items
   before projection, so the full item size sets the page count);
3. ``SegmentService.refresh_lead`` (what the Scoring worker runs after each re-score) per lead event, for 1,
   10 and 50 segments, with the AWS calls it makes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "shared")]
MARK_START, MARK_END = "<!-- bench:segments -->", "<!-- /bench:segments -->"
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
STATUSES = ["New", "Contacted", "Follow-up", "Converted", "Lost"]
TAGS = ["vip", "fair", "spam", "wholesale", "returning", "newsletter"]

RULES = {
    "simple (status eq)": ({"field": "status", "op": "eq", "value": "Contacted"}, None),
    "medium (5 leaves, any/all/exclude)": (
        {
            "all": [
                {
                    "any": [
                        {"field": "grade", "op": "eq", "value": "hot"},
                        {"field": "score", "op": "gte", "value": 60},
                    ]
                },
                {"field": "company", "op": "contains", "value": "co"},
                {"field": "tags", "op": "has_any", "value": ["vip", "wholesale"]},
            ]
        },
        {"field": "tags", "op": "has_any", "value": ["spam"]},
    ),
    "time-dependent + custom field": (
        {
            "all": [
                {"field": "last_activity_at", "op": "within_last", "value": {"days": 14}},
                {"field": "custom.plan", "op": "in", "value": ["pro", "team"]},
            ]
        },
        None,
    ),
}


def _iso_pynamo(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def generate_leads(n: int, tenant: str, seed: int = 7) -> list[dict]:
    """Stored-shape lead profile items (plain values), like the ingest worker writes them."""
    rng = random.Random(seed)
    leads = []
    for i in range(n):
        created = NOW - timedelta(minutes=i * 3)
        active = created + timedelta(days=rng.randint(0, 30))
        lead_id = uuid.UUID(int=rng.getrandbits(128)).hex
        score = rng.randint(0, 100)
        leads.append(
            {
                "pk": f"T#{tenant}#L#{lead_id}",
                "sk": "PROFILE",
                "list_pk": f"T#{tenant}",
                "created_sk": f"{created.strftime('%Y-%m-%dT%H:%M:%S.000Z')}#{lead_id}",
                "activity_sk": f"{active.strftime('%Y-%m-%dT%H:%M:%S.000Z')}#{lead_id}",
                "score_sk": f"{score:03d}#{lead_id}",
                "lead_id": lead_id,
                "tenant_id": tenant,
                "name": f"Person {i}",
                "email": f"person{i}@example.com",
                "phone": f"+1415555{i:04d}"[:12],
                "company": rng.choice(["Acme Co", "Globex", "Initech", "Umbrella Co", "Hooli"]),
                "source_channel": rng.choice(["whatsapp", "instagram", "web_form"]),
                "status": rng.choice(STATUSES),
                "score": score,
                "grade": "hot" if score >= 50 else "warm" if score >= 20 else "cold",
                "score_breakdown": json.dumps(
                    [
                        {
                            "factor": "engagement.inbound_messages",
                            "label": "Messages from the lead",
                            "points": 12.5,
                            "detail": "5 inbound messages in 14 days",
                        },
                        {
                            "factor": "intent.pricing",
                            "label": "Asked about pricing",
                            "points": 20,
                            "detail": "price",
                        },
                    ]
                ),
                "tags": rng.sample(TAGS, rng.randint(0, 3)),
                "custom_fields": json.dumps(
                    {"plan": rng.choice(["free", "pro", "team"]), "seats": rng.randint(1, 50)}
                ),
                "message_count": rng.randint(0, 40),
                "last_message_preview": "Hi! What is the price of the premium package for a team of ten people?",
                "search_text": f"person {i} person{i}@example.com +1415555{i:04d} acme co",
                "created_at": _iso_pynamo(created),
                "updated_at": _iso_pynamo(active),
                "last_activity_at": _iso_pynamo(active),
            }
        )
    return leads


def bench_in_memory(records: list[dict]) -> list[dict]:
    from leadtide.conditions import compile_rules

    rows = []
    for name, (include, exclude) in RULES.items():
        t0 = time.perf_counter()
        compiled = compile_rules(include, exclude, now=NOW)
        compile_ms = (time.perf_counter() - t0) * 1000
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            matched = sum(1 for r in records if compiled(r))
            runs.append(time.perf_counter() - t0)
        rows.append(
            {
                "rules": name,
                "compile_ms": compile_ms,
                "eval_ms": min(runs) * 1000,
                "matched": matched,
                "per_lead_us": min(runs) / len(records) * 1e6,
                "fields": sorted(compiled.fields_used),
            }
        )
    return rows


def bench_decode_eval(leads: list[dict]) -> list[dict]:
    """Lambda's CPU share of a preview: DynamoDB-JSON pages (projected to the rule's attributes) decoded
    with the dal's ``plain`` and evaluated, for every lead (no I/O)."""
    from leadtide.conditions import compile_rules
    from leadtide.dal.segments import plain

    rows = []
    for name, (include, exclude) in RULES.items():
        compiled = compile_rules(include, exclude, now=NOW)
        wanted = {*compiled.fields_used, "lead_id", "owner_id"}
        raw = [_to_ddb({k: v for k, v in x.items() if k in wanted}) for x in leads]
        t0 = time.perf_counter()
        matched = 0
        for item in raw:
            if compiled({k: plain(v) for k, v in item.items()}):
                matched += 1
        rows.append({"rules": name, "ms": (time.perf_counter() - t0) * 1000, "matched": matched})
    return rows


def _to_ddb(item: dict) -> dict:
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()
    return {k: ser.serialize(v) for k, v in item.items() if v is not None}


def _item_bytes(item: dict) -> int:
    # DynamoDB item size: attribute names + values (UTF-8), numbers ~ digits/2 + 1; close enough for pages.
    total = 0
    for k, v in item.items():
        total += len(k.encode())
        if isinstance(v, str):
            total += len(v.encode())
        elif isinstance(v, int | float):
            total += len(str(v)) // 2 + 1
        elif isinstance(v, list):
            total += 3 + sum(len(str(x).encode()) + 1 for x in v)
    return total


class _Calls:
    def __init__(self):
        self.counter: Counter[str] = Counter()

    def __enter__(self):
        import botocore.client

        self._orig = botocore.client.BaseClient._make_api_call
        counter = self.counter
        orig = self._orig

        def counted(client, operation_name, api_params):
            counter[operation_name] += 1
            return orig(client, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = counted
        return self

    def __exit__(self, *exc):
        import botocore.client

        botocore.client.BaseClient._make_api_call = self._orig


def _moto_env():
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        os.environ[k] = v
    os.environ.pop("AWS_ENDPOINT_URL", None)


def bench_refresh(leads: list[dict], tenant: str) -> list[dict]:
    """Refresh per lead event, in a table of its own: moto's TransactWriteItems deep-copies the whole table
    (its rollback), which on a 100k-item table would measure moto, not Leadtide."""
    from moto import mock_aws

    from leadtide_local.resources import create_resources, function_environment
    from leadtide_local.stack import forget_process_caches
    from leadtide_local.template import load_template

    _moto_env()
    template = load_template(REPO / "template.yaml")
    with mock_aws():
        import boto3

        resources = create_resources(template)
        os.environ.update(function_environment(template, "ApiFunction", resources))
        forget_process_caches()
        table = os.environ["LEADS_TABLE"]
        client = boto3.client("dynamodb")
        for start in range(0, len(leads), 25):
            client.batch_write_item(
                RequestItems={
                    table: [{"PutRequest": {"Item": _to_ddb(x)}} for x in leads[start : start + 25]]
                }
            )
        from leadtide.segments.service import get_segment_service

        svc = get_segment_service()
        svc._clock = lambda: NOW
        svc._field_types = lambda tenant_id: None
        # refresh cost per lead event, for N segments (segments created straight in the table, ready)
        from leadtide.dal.segments import segment_sk, segments_pk

        lead_ids = [x["lead_id"] for x in leads[:30]]
        refresh = []
        created = 0
        for n in (1, 10, 50):
            while created < n:
                include, exclude = list(RULES.values())[created % len(RULES)]
                sid = uuid.uuid4().hex
                client.put_item(
                    TableName=table,
                    Item=_to_ddb(
                        {
                            "pk": segments_pk(tenant),
                            "sk": segment_sk(sid),
                            "segment_id": sid,
                            "name": f"s{created}",
                            "include": json.dumps(include),
                            "exclude": json.dumps(exclude) if exclude else None,
                            "version": 1,
                            "status": "ready",
                            "time_dependent": False,
                            "member_count": 0,
                            "created_by": "bench",
                            "created_at": _iso_pynamo(NOW),
                            "updated_at": _iso_pynamo(NOW),
                        }
                    ),
                )
                created += 1
            for lead_id in lead_ids[:5]:  # warm: first evaluation writes the memberships
                svc.refresh_lead(tenant, lead_id)
            with _Calls() as calls:
                times = []
                for lead_id in lead_ids[5:30]:
                    t0 = time.perf_counter()
                    svc.refresh_lead(tenant, lead_id)
                    times.append(time.perf_counter() - t0)
            steady = []
            with _Calls() as steady_calls:
                for lead_id in lead_ids[5:30]:
                    t0 = time.perf_counter()
                    svc.refresh_lead(tenant, lead_id)
                    steady.append(time.perf_counter() - t0)
            refresh.append(
                {
                    "segments": n,
                    "first_ms": statistics.median(times) * 1000,
                    "steady_ms": statistics.median(steady) * 1000,
                    "first_calls": {k: round(v / 25, 1) for k, v in sorted(calls.counter.items())},
                    "steady_calls": {k: round(v / 25, 1) for k, v in sorted(steady_calls.counter.items())},
                }
            )
        forget_process_caches()
    return refresh


def bench_moto(leads: list[dict], tenant: str) -> dict:
    from moto import mock_aws

    from leadtide_local.resources import create_resources, function_environment
    from leadtide_local.stack import forget_process_caches
    from leadtide_local.template import load_template

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        os.environ[k] = v
    os.environ.pop("AWS_ENDPOINT_URL", None)
    template = load_template(REPO / "template.yaml")
    out: dict = {}
    with mock_aws():
        import boto3

        resources = create_resources(template)
        os.environ.update(function_environment(template, "ApiFunction", resources))
        forget_process_caches()
        table = os.environ["LEADS_TABLE"]
        client = boto3.client("dynamodb")
        t0 = time.perf_counter()
        for start in range(0, len(leads), 25):
            client.batch_write_item(
                RequestItems={
                    table: [{"PutRequest": {"Item": _to_ddb(x)}} for x in leads[start : start + 25]]
                }
            )
        out["load_s"] = time.perf_counter() - t0
        out["item_bytes_total"] = sum(_item_bytes(x) for x in leads)

        from leadtide.models.auth import Principal
        from leadtide.models.common import Role
        from leadtide.segments.models import SegmentPreviewRequest
        from leadtide.segments.service import get_segment_service

        svc = get_segment_service()
        admin = Principal(tenant, "bench", Role.ADMIN)
        previews = []
        for name, (include, exclude) in RULES.items():
            svc._clock = lambda: NOW  # fixed "now" for the generated data
            svc._field_types = lambda tenant_id: None  # the generated custom fields have no definitions
            pages: list[int] = []
            repo = svc._segments
            original = repo.read_lead_records

            def counting(tenant_id, attributes, *, start_key=None, _orig=original, pages=pages):
                for page in _orig(tenant_id, attributes, start_key=start_key):
                    pages.append(page.bytes_returned)
                    yield page

            repo.read_lead_records = counting
            with _Calls() as calls:
                t0 = time.perf_counter()
                result = svc.preview(
                    admin, SegmentPreviewRequest(include=include, exclude=exclude, sample_size=10)
                )
                elapsed = time.perf_counter() - t0
            repo.read_lead_records = original
            previews.append(
                {
                    "rules": name,
                    "seconds": elapsed,
                    "count": result.count,
                    "evaluated": result.evaluated,
                    "query_calls": calls.counter.get("Query", 0),
                    "pages": len(pages),
                    "bytes_returned": sum(pages),
                }
            )
        out["previews"] = previews

        forget_process_caches()
    return out


def render(n: int, n_moto: int, mem: list[dict], decode: list[dict], moto: dict) -> str:
    mb_all = moto["item_bytes_all"] / 1_000_000
    per_lead = moto["item_bytes_all"] / n
    pages_real = int(mb_all) + 1
    lines = [
        MARK_START,
        "## Segments (`make bench`, tests/benchmarks/bench_segments.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this project's machine (shared with other work), one run, "
        f"{n:,} generated leads of one tenant (realistic profile items: score breakdown, preview, search text, "
        f"tags, custom fields; ~{per_lead:.0f} bytes each).",
        "",
        f"**Compile + evaluate {n:,} lead records in memory** (best of 3):",
        "",
        "| rules | compile ms | evaluate ms | µs per lead | matched | attributes read |",
        "|---|---|---|---|---|---|",
    ]
    for r in mem:
        lines.append(
            f"| {r['rules']} | {r['compile_ms']:.2f} | {r['eval_ms']:.0f} | {r['per_lead_us']:.2f} | "
            f"{r['matched']:,} | {', '.join(r['fields'])} |"
        )
    lines += [
        "",
        f"**Decode + evaluate {n:,} projected DynamoDB items** (the preview's CPU work in Lambda once the pages "
        "have arrived: DynamoDB JSON -> plain values -> predicate):",
        "",
        "| rules | ms | matched |",
        "|---|---|---|",
    ]
    lines += [f"| {r['rules']} | {r['ms']:.0f} | {r['matched']:,} |" for r in decode]
    lines += [
        "",
        f"**Read + evaluate from moto** (`SegmentService.preview`: Query `leads_by_created` with a "
        f"ProjectionExpression, evaluate, BatchGetItem for the sample) over **{n_moto:,}** leads — moto's "
        "index Query cost grows with the whole table on every page (2,000 -> 4,000 leads took 2.6x longer in "
        "a trial), and 100,000 leads did not finish in 50 minutes there; the page counts carry over to "
        "DynamoDB:",
        "",
        "| rules | seconds (moto) | Query calls = 1 MB pages | bytes returned (projected) | count |",
        "|---|---|---|---|---|",
    ]
    for p in moto["previews"]:
        lines.append(
            f"| {p['rules']} | {p['seconds']:.2f} | {p['query_calls']} | "
            f"{p['bytes_returned'] / 1e6:.2f} MB | {p['count']:,} of {p['evaluated']:,} |"
        )
    lines += [
        "",
        f"**What 'interactive' means on DynamoDB.** DynamoDB's 1 MB Query page limit counts items as stored, "
        "*before* the ProjectionExpression (moto models this: the page counts above follow the full item "
        f"size). {n:,} leads are about **{mb_all:.0f} MB**, so a preview needs about **{pages_real} sequential "
        f"Query pages** (each waits for the previous LastEvaluatedKey) and ~{mb_all * 1e6 / 4096 / 2:,.0f} "
        "read capacity units. At a typical 30-80 ms per 1 MB page that is "
        f"**{pages_real * 0.03:.0f}-{pages_real * 0.08:.0f} s** of reading plus the CPU above: interactive "
        "(under ~2 s) up to roughly 10,000-20,000 leads, **not at 100,000**. The projection cuts what travels "
        "back and what Python decodes (bytes-returned column), not what DynamoDB reads. What would make it "
        "interactive: (1) a compact per-tenant snapshot of the condition attributes — a sparse GSI with an "
        f"INCLUDE projection of ~10 attributes (~150 bytes per lead: {n * 150 / 1e6:.0f} MB, "
        f"~{n * 150 // 1_000_000 + 1} pages) or a gzip'd columnar object in S3 refreshed by the Scoring "
        "worker; (2) reading 8-16 slices of the `created_sk` range in parallel threads (pages of one "
        "partition can be read concurrently); (3) answering a saved segment's count from its counter. "
        "Compile time is negligible; evaluation is ~1 µs per lead per simple rule.",
        "",
        "**Membership refresh per lead event** (`refresh_lead`, run by the Scoring worker after each re-score; "
        "median of 25 leads in a 100-lead table of its own, because moto's TransactWriteItems deep-copies the "
        "whole table; 'first' writes the memberships, 'steady' re-evaluates with nothing to change):",
        "",
        "| segments | first ms (moto) | steady ms (moto) | AWS calls per lead (first) | AWS calls per lead (steady) |",
        "|---|---|---|---|---|",
    ]
    for r in moto["refresh"]:
        fc = ", ".join(f"{k} {v:g}" for k, v in r["first_calls"].items())
        sc = ", ".join(f"{k} {v:g}" for k, v in r["steady_calls"].items())
        lines.append(f"| {r['segments']} | {r['first_ms']:.1f} | {r['steady_ms']:.1f} | {fc} | {sc} |")
    lines += [
        "",
        "A refresh with nothing to change is one Query (the tenant's segments) + one GetItem (the lead) whatever "
        "the number of segments; predicates are compiled once per segment version and cached per process, so "
        "the per-segment cost is the in-memory evaluation (microseconds). The milliseconds above are mostly "
        "moto's (request parsing and, for writes, its table deep-copy). Each membership change adds one "
        "TransactWriteItems (membership item, the lead's `segment_ids`, the segment's count) and its event.",
        MARK_END,
    ]
    return "\n".join(lines)


def write(section: str, path: Path) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if MARK_START in text:
        head, rest = text.split(MARK_START, 1)
        tail = rest.split(MARK_END, 1)[1] if MARK_END in rest else ""
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--moto-leads", type=int, default=5_000, help="leads stored in moto (its GSI Query is superlinear)"
    )
    parser.add_argument("--write", type=Path, help="update this markdown file (docs/benchmarks.md)")
    args = parser.parse_args()
    tenant = "bench"
    leads = generate_leads(args.leads, tenant)
    mem = bench_in_memory(leads)
    decode = bench_decode_eval(leads)
    moto = bench_moto(leads[: args.moto_leads], tenant)
    moto["item_bytes_all"] = sum(_item_bytes(x) for x in leads)
    moto["refresh"] = bench_refresh(leads[:100], tenant)
    section = render(args.leads, args.moto_leads, mem, decode, moto)
    print(section)
    if args.write:
        write(section, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
