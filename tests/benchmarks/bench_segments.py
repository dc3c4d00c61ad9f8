"""Segment benchmarks (``make bench``): condition evaluation, preview over 100,000 leads, refresh per event.

Writes the section between the ``<!-- bench:segments -->`` markers of docs/benchmarks.md with ``--write``.
All figures come from one run on one machine; moto runs in-process (``mock_aws``), so DynamoDB latency is
not in them: what they show is Python's share, and the number of pages/bytes a real table would serve.

Measured:
1. compile + evaluate three rule trees over 100,000 generated lead records in memory (no I/O);
2. the preview's CPU over 100,000 leads (``SegmentService.preview`` with the storage replaced by pages of
   DynamoDB JSON prepared beforehand): decode + evaluate + sample, for today's path (``leads_by_created``,
   projected) and the condition-index path (16 shards of ``leads_by_condition_shard``);
3. DynamoDB item and index-entry sizes (its size rules), hence 1 MB pages per path at 100,000 leads;
4. both preview paths against moto at ``--moto-leads`` (Query calls, pages and bytes per shard, same
   answers), and moto's page counts checked against the 1 MB rule;
5. a modelled AWS latency for 100,000 leads: pages (sequential per shard) x an assumed per-page latency +
   the measured CPU;
6. ``SegmentService.refresh_lead`` (what the Scoring worker runs after each re-score) per lead event, for 1,
   10 and 50 segments, with the AWS calls it makes.
"""

from __future__ import annotations

import argparse
import json
import math
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
from leadtide.wiring import get_wiring  # noqa: E402
from tests.benchmarks.sections import write_section  # noqa: E402

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
    from leadtide.dal.items import condition_keys

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
                **condition_keys(tenant, lead_id),
                "lead_id": lead_id,
                "tenant_id": tenant,
                "owner_id": rng.choice([None, None, "u-ana", "u-ben", "u-caro"]),
                "job_title": rng.choice(["Owner", "Head of Sales", "Buyer", None]),
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
        t0 = time.process_time()
        compiled = compile_rules(include, exclude, now=NOW)
        compile_ms = (time.process_time() - t0) * 1000
        runs = []
        for _ in range(3):
            t0 = time.process_time()
            matched = sum(1 for r in records if compiled(r))
            runs.append(time.process_time() - t0)
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


PAGE_LIMIT = 1024 * 1024  # DynamoDB's Query page: 1 MB of items read (1 MB = 1,048,576 bytes in its docs)
MOTO_PAGE_LIMIT = 1_000_000  # moto's RESULT_SIZE_LIMIT, applied to the *table* item even on an index
INDEX_ENTRY_OVERHEAD = 100  # bytes per index entry DynamoDB adds for storage (counted here, conservatively)
PAGE_MS = (30, 80)  # assumed latency of one 1 MB Query page on DynamoDB (see render())
SHARDS = 16


class _PageStore:
    """The preview's storage, replaced by pages of DynamoDB JSON prepared beforehand: ``read_*`` decode
    them exactly as leadtide.dal.segments does, so the timing is Leadtide's CPU with no I/O."""

    def __init__(self, index_pages, profile_pages, indexed: bool):
        from leadtide.dal.items import CONDITION_INDEX_ATTRIBUTES

        self._index_pages = index_pages
        self._profile_pages = profile_pages
        self.condition_attributes = (
            frozenset(CONDITION_INDEX_ATTRIBUTES) | {"lead_id"} if indexed else frozenset()
        )

    def read_condition_records(self, tenant_id, attributes):
        from leadtide.dal.segments import condition_records
        from leadtide.segments.ports import RecordPage

        for items in self._index_pages:
            yield RecordPage(records=condition_records(items), next_key=None)

    def read_lead_records(self, tenant_id, attributes, *, start_key=None):
        from leadtide.dal.segments import plain
        from leadtide.segments.ports import RecordPage

        for items in self._profile_pages:
            yield RecordPage(records=[{k: plain(v) for k, v in raw.items()} for raw in items], next_key=None)

    def lead_summaries(self, tenant_id, lead_ids):
        return []


def ddb_size(value: dict) -> int:
    """Size of one DynamoDB-JSON attribute value by DynamoDB's rules (CapacityUnitCalculations: strings
    UTF-8 bytes; numbers 1 byte per 2 significant digits + 1; sets the sum of their elements; lists and
    maps 3 bytes + 1 per element + the elements (map keys included); booleans and nulls 1 byte)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "SS":
        return sum(len(x.encode()) for x in raw)
    if kind == "NS":
        return sum(ddb_size({"N": x}) for x in raw)
    if kind == "L":
        return 3 + sum(1 + ddb_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + ddb_size(v) for k, v in raw.items())
    return 1


def item_size(item: dict) -> int:
    """DynamoDB item size: attribute names + values."""
    return sum(len(k.encode()) + ddb_size(v) for k, v in item.items())


def split_pages(sizes: list[int], limit: int) -> list[int]:
    """How a Query pages items of these sizes (in order): a page ends before the item that would take it
    past ``limit`` bytes. Returns the item count of each page."""
    pages, count, total = [], 0, 0
    for size in sizes:
        if count and total + size > limit:
            pages.append(count)
            count, total = 0, 0
        count += 1
        total += size
    if count:
        pages.append(count)
    return pages


def index_entries(leads_ddb: list[dict]) -> dict[int, list[dict]]:
    """The condition index as DynamoDB stores it: per shard, entries of table keys + index keys + the
    projected attributes, ordered by ``cond_sk``."""
    from leadtide.dal.items import CONDITION_INDEX_ATTRIBUTES

    keep = {"pk", "sk", "cond_pk", "cond_sk", *CONDITION_INDEX_ATTRIBUTES}
    shards: dict[int, list[dict]] = {}
    for raw in leads_ddb:
        shard = int(raw["cond_pk"]["S"].rsplit("#", 1)[1])
        shards.setdefault(shard, []).append({k: v for k, v in raw.items() if k in keep})
    return {k: sorted(v, key=lambda e: e["cond_sk"]["S"]) for k, v in sorted(shards.items())}


def size_model(leads: list[dict]) -> dict:
    """Item/entry sizes and 1 MB page counts of both preview paths at ``len(leads)`` leads."""
    leads_ddb = [_to_ddb(x) for x in leads]
    full = [item_size(x) for x in sorted(leads_ddb, key=lambda r: r["created_sk"]["S"], reverse=True)]
    shards = index_entries(leads_ddb)
    entry_sizes = {k: [item_size(e) + INDEX_ENTRY_OVERHEAD for e in v] for k, v in shards.items()}
    shard_pages = {k: len(split_pages(v, PAGE_LIMIT)) for k, v in entry_sizes.items()}
    all_entries = [x for v in entry_sizes.values() for x in v]
    return {
        "leads": len(leads),
        "item_bytes": sum(full),
        "item_avg": sum(full) / len(full),
        "today_pages": len(split_pages(full, PAGE_LIMIT)),
        "entry_bytes": sum(all_entries),
        "entry_avg": sum(all_entries) / len(all_entries),
        "shard_leads": {k: len(v) for k, v in shards.items()},
        "shard_bytes": {k: sum(v) for k, v in entry_sizes.items()},
        "shard_pages": shard_pages,
        "index_pages": sum(shard_pages.values()),
        "max_shard_pages": max(shard_pages.values()),
    }


def _as_received(items: list[dict]) -> list[dict]:
    """A page as botocore hands it over: freshly parsed from the response's JSON, so its objects are
    allocated together (sharing the generator's objects would scatter them in memory and make the
    shard-ordered index pages look slower than they are)."""
    return json.loads(json.dumps(items))


def bench_preview_cpu(leads: list[dict], tenant: str) -> list[dict]:
    """CPU of ``SegmentService.preview`` over every lead, for both paths: the pages a Query would return
    (projected to what the preview asks for) are prepared first; the timed part decodes them as the dal
    does, evaluates, keeps the sample. Best of 3."""
    from leadtide.conditions import compile_rules
    from leadtide.models.auth import Principal
    from leadtide.models.common import Role
    from leadtide.segments.models import SegmentPreviewRequest
    from leadtide.segments.service import SegmentService

    leads_ddb = [_to_ddb(x) for x in leads]
    newest_first = sorted(leads_ddb, key=lambda r: r["created_sk"]["S"], reverse=True)
    full_pages = split_pages([item_size(x) for x in newest_first], PAGE_LIMIT)
    shards = index_entries(leads_ddb)
    admin = Principal(tenant, "bench", Role.ADMIN)
    rows = []
    for name, (include, exclude) in RULES.items():
        compiled = compile_rules(include, exclude, now=NOW)
        profile_attrs = {*compiled.fields_used, "owner_id", "lead_id"}
        index_attrs = {*compiled.fields_used, "owner_id", "created_at", "cond_sk"}
        profile_pages, start = [], 0
        for count in full_pages:
            chunk = newest_first[start : start + count]
            profile_pages.append(
                _as_received([{k: v for k, v in r.items() if k in profile_attrs} for r in chunk])
            )
            start += count
        index_pages = []
        for entries in shards.values():
            start = 0
            for count in split_pages([item_size(e) + INDEX_ENTRY_OVERHEAD for e in entries], PAGE_LIMIT):
                chunk = entries[start : start + count]
                index_pages.append(
                    _as_received([{k: v for k, v in e.items() if k in index_attrs} for e in chunk])
                )
                start += count
        row: dict = {"rules": name}
        for path, indexed in (("today", False), ("index", True)):
            service = SegmentService(_PageStore(index_pages, profile_pages, indexed), None, clock=lambda: NOW)
            service._field_types = lambda tenant_id: None
            runs = []
            for _ in range(3):
                t0 = time.process_time()  # CPU seconds: the machine is shared, wall time is not ours
                result = service.preview(
                    admin, SegmentPreviewRequest(include=include, exclude=exclude, sample_size=10)
                )
                runs.append(time.process_time() - t0)
            row[f"{path}_ms"] = min(runs) * 1000
            row[f"{path}_count"] = result.count
            row[f"{path}_bytes"] = sum(
                len(json.dumps(p, separators=(",", ":"))) for p in (index_pages if indexed else profile_pages)
            )
        rows.append(row)
    return rows


def _to_ddb(item: dict) -> dict:
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()
    return {k: ser.serialize(v) for k, v in item.items() if v is not None}


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

    from leadtide_local.provision import create_resources
    from leadtide_local.resources import function_environment
    from leadtide_local.stack import forget_process_caches
    from leadtide_local.template import load_template

    _moto_env()
    template = load_template(REPO / "template.yaml")
    with mock_aws():
        import boto3

        resources = create_resources(template)
        os.environ.update(function_environment(template, "CollectionsApiFunction", resources))
        forget_process_caches()
        table = os.environ["LEADS_TABLE"]
        client = boto3.client("dynamodb")
        for start in range(0, len(leads), 25):
            client.batch_write_item(
                RequestItems={
                    table: [{"PutRequest": {"Item": _to_ddb(x)}} for x in leads[start : start + 25]]
                }
            )

        svc = get_wiring().segment_service
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


def one_shard_leads(n: int, tenant: str) -> list[dict]:
    """``n`` generated leads whose ids all fall in condition shard 0 (to see multi-page shards on moto)."""
    from leadtide.dal.items import condition_shard

    out: list[dict] = []
    seed = 100
    while len(out) < n:
        batch = generate_leads(4 * n, tenant, seed=seed)
        out += [x for x in batch if condition_shard(x["lead_id"]) == 0]
        seed += 1
    return out[:n]


def bench_moto(leads: list[dict], tenant: str, one_shard: list[dict] | None = None) -> dict:
    """Both preview paths against moto: same answers, Query calls, pages and bytes per shard; moto's page
    counts checked against its 1 MB rule (which it applies to the table item, even on an index)."""
    from moto import mock_aws
    from moto.dynamodb.models.dynamo_type import Item

    from leadtide.dal.items import CONDITION_SHARDS, condition_pk
    from leadtide_local.provision import create_resources
    from leadtide_local.resources import function_environment
    from leadtide_local.stack import forget_process_caches
    from leadtide_local.template import load_template

    _moto_env()
    template = load_template(REPO / "template.yaml")
    out: dict = {"leads": len(leads)}
    with mock_aws():
        import boto3

        resources = create_resources(template)
        os.environ.update(function_environment(template, "CollectionsApiFunction", resources))
        forget_process_caches()
        table = os.environ["LEADS_TABLE"]
        client = boto3.client("dynamodb")
        t0 = time.perf_counter()
        loaded = leads + (one_shard or [])
        for start in range(0, len(loaded), 25):
            client.batch_write_item(
                RequestItems={
                    table: [{"PutRequest": {"Item": _to_ddb(x)}} for x in loaded[start : start + 25]]
                }
            )
        out["load_s"] = time.perf_counter() - t0
        if one_shard:
            out["one_shard"] = _one_shard_pages(client, table, one_shard)

        # What moto stores in the index: entries of keys + projected attributes (no score_breakdown...)
        stored: dict[int, list[dict]] = {}
        for shard in range(CONDITION_SHARDS):
            entries: list[dict] = []
            params = {
                "TableName": table,
                "IndexName": "leads_by_condition_shard",
                "KeyConditionExpression": "cond_pk = :p",
                "ExpressionAttributeValues": {":p": {"S": condition_pk(tenant, shard)}},
            }
            while True:
                page = client.query(**params)
                entries += page["Items"]
                if "LastEvaluatedKey" not in page:
                    break
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            stored[shard] = entries
        by_id = {x["lead_id"]: _to_ddb(x) for x in leads}
        out["entry_avg_stored"] = statistics.mean(
            item_size(e) for entries in stored.values() for e in entries
        )
        out["entry_attrs"] = sorted({k for entries in stored.values() for e in entries for k in e})
        # moto's own page rule: table item sizes (its Item.size()), 1,000,000 bytes
        out["moto_expected_pages"] = {
            shard: len(
                split_pages(
                    [Item(None, None, by_id[e["cond_sk"]["S"]]).size() for e in entries], MOTO_PAGE_LIMIT
                )
            )
            for shard, entries in stored.items()
        }

        from leadtide.dal.segments import DynamoSegmentRepository
        from leadtide.models.auth import Principal
        from leadtide.models.common import Role
        from leadtide.segments.models import SegmentPreviewRequest

        svc = get_wiring().segment_service
        svc._clock = lambda: NOW  # fixed "now" for the generated data
        svc._field_types = lambda tenant_id: None  # the generated custom fields have no definitions
        repo = svc._segments
        index_property = DynamoSegmentRepository.__dict__["condition_attributes"]
        admin = Principal(tenant, "bench", Role.ADMIN)
        previews = []
        for name, (include, exclude) in RULES.items():
            row: dict = {"rules": name}
            for path in ("index", "today"):
                pages: list[tuple[int, int]] = []
                reader = "read_condition_records" if path == "index" else "read_lead_records"
                original = getattr(repo, reader)

                def counting(*args, _orig=original, pages=pages, **kwargs):
                    for page in _orig(*args, **kwargs):
                        pages.append((page.extra.get("shard", -1), page.bytes_returned))
                        yield page

                setattr(repo, reader, counting)
                if path == "today":
                    DynamoSegmentRepository.condition_attributes = property(lambda self: frozenset())
                try:
                    with _Calls() as calls:
                        t0 = time.perf_counter()
                        result = svc.preview(
                            admin, SegmentPreviewRequest(include=include, exclude=exclude, sample_size=10)
                        )
                        elapsed = time.perf_counter() - t0
                finally:
                    delattr(repo, reader)
                    if path == "today":
                        DynamoSegmentRepository.condition_attributes = index_property
                per_shard = Counter(shard for shard, _ in pages)
                row[path] = {
                    "seconds": elapsed,
                    "count": result.count,
                    "evaluated": result.evaluated,
                    "sample": [r.lead_id for r in result.sample],
                    "query_calls": calls.counter.get("Query", 0),
                    "pages": len(pages),
                    "bytes": sum(b for _, b in pages),
                    "pages_per_shard": dict(sorted(per_shard.items())),
                }
            row["same"] = all(row["index"][k] == row["today"][k] for k in ("count", "evaluated", "sample"))
            row["moto_pages_as_expected"] = row["index"]["pages_per_shard"] == {
                k: v for k, v in out["moto_expected_pages"].items() if v
            }
            previews.append(row)
        out["previews"] = previews
        forget_process_caches()
    return out


def _one_shard_pages(client, table: str, leads: list[dict]) -> dict:
    """Query one shard holding every lead of a tenant: moto's pages vs its 1 MB rule (table items), and
    the pages DynamoDB would serve by index-entry size."""
    from moto.dynamodb.models.dynamo_type import Item

    from leadtide.dal.items import condition_pk

    tenant = leads[0]["tenant_id"]
    params = {
        "TableName": table,
        "IndexName": "leads_by_condition_shard",
        "KeyConditionExpression": "cond_pk = :p",
        "ExpressionAttributeValues": {":p": {"S": condition_pk(tenant, 0)}},
    }
    pages: list[int] = []
    entries: list[dict] = []
    while True:
        page = client.query(**params)
        pages.append(len(page["Items"]))
        entries += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    by_id = {x["lead_id"]: _to_ddb(x) for x in leads}
    ordered = [by_id[e["cond_sk"]["S"]] for e in entries]
    return {
        "leads": len(leads),
        "moto_pages": pages,
        "moto_rule_pages": split_pages([Item(None, None, x).size() for x in ordered], MOTO_PAGE_LIMIT),
        "dynamodb_pages": split_pages([item_size(e) + INDEX_ENTRY_OVERHEAD for e in entries], PAGE_LIMIT),
        "entry_bytes": sum(item_size(e) + INDEX_ENTRY_OVERHEAD for e in entries),
        "item_bytes": sum(item_size(x) for x in ordered),
    }


def aws_model(model: dict, cpu: list[dict]) -> list[dict]:
    """Modelled end-to-end preview latency on AWS at ``model['leads']`` leads, per rule and path:
    sequential pages x PAGE_MS (today: one chain of pages; index: 16 chains in parallel, the longest
    counts) + the measured CPU (not overlapped with I/O: conservative) + one BatchGetItem for the sample."""
    rows = []
    for r in cpu:
        row = {"rules": r["rules"]}
        for path, chain in (("today", model["today_pages"]), ("index", model["max_shard_pages"])):
            lo = chain * PAGE_MS[0] + r[f"{path}_ms"] + 10
            hi = chain * PAGE_MS[1] + r[f"{path}_ms"] + 30
            row[path] = (lo / 1000, hi / 1000)
        rows.append(row)
    return rows


def render(n: int, mem: list[dict], cpu: list[dict], model: dict, moto: dict) -> str:
    modelled = aws_model(model, cpu)
    big_chain = math.ceil(max(model["shard_bytes"].values()) * (1_000_000 / n) / PAGE_LIMIT)
    m = moto
    shard_leads = list(model["shard_leads"].values())
    lines = [
        MARK_START,
        "## Segments (`make bench`, tests/benchmarks/bench_segments.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this project's machine (2 cores shared with other work), one "
        f"run, {n:,} generated leads of one tenant (realistic profile items: score breakdown, message "
        f"preview, search text, tags, custom fields, owner; ~{model['item_avg']:.0f} bytes each by DynamoDB's "
        "size rules).",
        "",
        "**Preview over 100,000 leads: answered from a sharded condition index.** `POST /segments/preview` "
        "reads the sparse GSI `leads_by_condition_shard` (only lead profiles carry its keys: `cond_pk` = "
        "`T#<tenant>#COND#<crc32(lead_id) % 16>`, `cond_sk` = lead id; INCLUDE projection of the 20 "
        "condition attributes) with one thread per shard, and falls back to `leads_by_created` when a rule "
        "names `instagram_id` or `last_message_preview` (not projected: DynamoDB allows 20 attributes per "
        f"INCLUDE projection). Summary for {n:,} leads, modelled for AWS as explained below (the Api "
        "function at 1,769 MB = one vCPU):",
        "",
        "| rules | today (`leads_by_created`, 1 chain of pages) | condition index (16 parallel chains) |",
        "|---|---|---|",
    ]
    for r in modelled:
        lines.append(
            f"| {r['rules']} | {r['today'][0]:.1f}-{r['today'][1]:.1f} s | "
            f"**{r['index'][0]:.2f}-{r['index'][1]:.2f} s** |"
        )
    lines += [
        "",
        f"**Sizes and 1 MB pages at {n:,} leads** (DynamoDB's item size rules, "
        "[CapacityUnitCalculations](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
        "CapacityUnitCalculations.html); a Query page ends at 1 MB of items read, and on a GSI the size is "
        "that of the index entries, [GSI.html](https://docs.aws.amazon.com/amazondynamodb/latest/"
        "developerguide/GSI.html) 'Reading data from a GSI'; the index entry below also counts the 100 "
        "bytes per entry DynamoDB adds for storage, conservatively):",
        "",
        "| path | bytes per lead | total | Query pages | longest sequential chain |",
        "|---|---|---|---|---|",
        f"| today: `leads_by_created` (ALL projection: the whole profile is read, whatever the "
        f"ProjectionExpression) | {model['item_avg']:.0f} | {model['item_bytes'] / 1e6:.1f} MB | "
        f"{model['today_pages']} | {model['today_pages']} pages |",
        f"| condition index: 16 shards of {min(shard_leads):,}-{max(shard_leads):,} leads | "
        f"{model['entry_avg']:.0f} | {model['entry_bytes'] / 1e6:.1f} MB | {model['index_pages']} | "
        f"**{model['max_shard_pages']} page{'s' if model['max_shard_pages'] > 1 else ''}** |",
        "",
        f"**Preview CPU over {n:,} leads** (`SegmentService.preview` with the pages a Query would return "
        "prepared beforehand: decode DynamoDB JSON as the dal does, evaluate, keep the sample; process CPU "
        "time, best of 3; no I/O). The index path also keeps the 10 newest matches in a heap, since "
        "shard pages arrive in any order:",
        "",
        "| rules | today ms | index ms | bytes returned today | bytes returned index | count (both) |",
        "|---|---|---|---|---|---|",
    ]
    for r in cpu:
        same = r["today_count"] == r["index_count"]
        lines.append(
            f"| {r['rules']} | {r['today_ms']:.0f} | {r['index_ms']:.0f} | "
            f"{r['today_bytes'] / 1e6:.1f} MB | {r['index_bytes'] / 1e6:.1f} MB | "
            f"{r['index_count']:,}{'' if same else ' (DIFFERENT: ' + str(r['today_count']) + ')'} |"
        )
    lines += [
        "",
        f"**Compile + evaluate {n:,} lead records in memory** (process CPU time, best of 3):",
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
        f"**Both paths against moto, {m['leads']:,} leads** (`SegmentService.preview` end to end through the "
        "dal; moto in-process). moto's index Query filters the whole table on every call (its cost grows "
        "with the table, not the partition: 100,000 leads did not finish in 50 minutes for today's path), "
        f"so {m['leads']:,} is the largest size run here (loading took {m['load_s']:.0f} s). moto applies "
        "its 1,000,000-byte page limit to the *table* item even on an INCLUDE index, so its index pages "
        "are more than DynamoDB's; the last column checks moto's pages per shard against that rule "
        "computed from the stored items. The seconds are moto's (each of its index Query calls filters "
        "the whole table, so 16 calls cost more there than 2-20 calls of today's path): not a DynamoDB "
        "figure.",
        "",
        "| rules | same count, evaluated, sample | today: Query calls, bytes, s (moto) | index: Query calls, "
        "bytes, s (moto) | index pages per shard (moto) | = moto's 1 MB rule |",
        "|---|---|---|---|---|---|",
    ]
    for r in m["previews"]:
        t, i = r["today"], r["index"]
        pps = sorted(set(i["pages_per_shard"].values()))
        lines.append(
            f"| {r['rules']} | {'yes' if r['same'] else 'NO'} ({i['count']:,} of {i['evaluated']:,}) | "
            f"{t['query_calls']}, {t['bytes'] / 1e6:.2f} MB, {t['seconds']:.1f} | "
            f"{i['query_calls']}, {i['bytes'] / 1e6:.2f} MB, {i['seconds']:.1f} | "
            f"{'-'.join(str(x) for x in (pps[0], pps[-1])) if len(pps) > 1 else pps[0]} | "
            f"{'yes' if r['moto_pages_as_expected'] else 'NO'} |"
        )
    if m.get("one_shard"):
        o = m["one_shard"]
        same = o["moto_pages"] == o["moto_rule_pages"]
        lines += [
            "",
            f"**Page rule, one multi-page shard**: a second tenant of {o['leads']:,} leads whose ids all hash "
            f"to shard 0 ({o['item_bytes'] / 1e6:.2f} MB of table items, {o['entry_bytes'] / 1e6:.2f} MB "
            f"of index entries). moto served {len(o['moto_pages'])} pages of "
            f"{', '.join(str(x) for x in o['moto_pages'])} leads; its 1,000,000-byte rule on the table items "
            f"predicts {', '.join(str(x) for x in o['moto_rule_pages'])} "
            f"({'identical' if same else 'DIFFERENT'}); DynamoDB's 1 MB rule on index entries gives "
            f"{len(o['dynamodb_pages'])} page(s) of {', '.join(str(x) for x in o['dynamodb_pages'])}.",
        ]
    lines += [
        "",
        "The index entries moto stores carry only the keys and projected attributes ("
        f"{', '.join(f'`{a}`' for a in m['entry_attrs'])}; ~{m['entry_avg_stored']:.0f} bytes each without "
        "the 100-byte overhead), which confirms the projection the size model above uses.",
        "",
        "**The AWS model.** Latency = the longest chain of sequential Query pages x an assumed "
        f"{PAGE_MS[0]}-{PAGE_MS[1]} ms per 1 MB page + the CPU measured above (added, not overlapped with "
        "the I/O, although the shard threads do overlap it) + 10-30 ms for the sample's BatchGetItem. "
        "The per-page latency is an assumption, not a measurement (there is no AWS account here): AWS "
        "states single-digit-millisecond latency for item reads ([DynamoDB]"
        "(https://aws.amazon.com/dynamodb/)), a 1 MB page is 256 4 KB read units plus ~1 MB on the wire, "
        "and 30-80 ms is a deliberately conservative range for it. Today's path is a single chain because "
        "each page needs the previous LastEvaluatedKey; the index gives 16 independent chains. The CPU "
        "figures come from this machine's core; a Lambda function gets one full vCPU at 1,769 MB "
        "([Lambda memory](https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)), so "
        "give the Api function at least that for previews of this size. Not modelled: cold starts, "
        "throttling (16 concurrent Queries on 16 different partitions stay far below the 3,000 read "
        "units per partition per second), and much larger tenants: pages per shard grow linearly, so "
        f"1,000,000 leads would need ~{big_chain} sequential pages per shard "
        f"({big_chain * PAGE_MS[0] / 1000:.1f}-{big_chain * PAGE_MS[1] / 1000:.1f} s of I/O) plus ~10x the "
        "CPU above: past a few hundred thousand leads, more shards or a cached count are needed.",
        "",
        "**Write cost.** Every write of a profile that changes a projected attribute (or the profile's "
        "creation/deletion) also writes its index entry: one more write unit per profile write for "
        f"entries under 1 KB (~{model['entry_avg']:.0f} bytes here). Writes that touch only unprojected "
        "attributes (`segment_ids`, `score_breakdown`, `search_text`, `last_message_preview`...) do not "
        f"write the index. Storage: ~{model['entry_bytes'] / 1e6:.0f} MB at {n:,} leads.",
        "",
        "**Membership refresh per lead event** (`refresh_lead`, run by the Scoring worker after each "
        "re-score; median of 25 leads in a 100-lead table of its own, because moto's TransactWriteItems "
        "deep-copies the whole table; 'first' writes the memberships, 'steady' re-evaluates with nothing "
        "to change):",
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--moto-leads", type=int, default=10_000, help="leads stored in moto (its GSI Query scans the table)"
    )
    parser.add_argument("--write", type=Path, help="update this markdown file (docs/benchmarks.md)")
    args = parser.parse_args()
    tenant = "bench"
    leads = generate_leads(args.leads, tenant)
    mem = bench_in_memory(leads)
    cpu = bench_preview_cpu(leads, tenant)
    model = size_model(leads)
    print(json.dumps({"cpu": cpu, "model": {k: v for k, v in model.items() if not isinstance(v, dict)}}))
    moto = bench_moto(leads[: args.moto_leads], tenant, one_shard_leads(2_500, "bench-one-shard"))
    moto["refresh"] = bench_refresh(leads[:100], tenant)
    section = render(args.leads, mem, cpu, model, moto)
    print(section)
    if args.write:
        write_section(args.write, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
