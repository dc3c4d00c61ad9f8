"""The condition index (``leads_by_condition_shard``): its definition in the template matches the item
classes and DynamoDB's projection limits, every whole-profile writer sets its keys, leads spread over the
shards, and a preview read from it (pages in any order) equals the preview read newest-first from
``leads_by_created``: count, evaluated and the sample, in order, for admins and reps."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from leadtide.conditions.fields import CUSTOM_FIELDS_ATTRIBUTE, LEAD_FIELDS, LIST_IDS_ATTRIBUTE
from leadtide.dal.items import (
    CONDITION_INDEX_ATTRIBUTES,
    CONDITION_SHARDS,
    LeadItem,
    condition_keys,
    condition_shard,
)
from leadtide.dal.lead_codec import encode_lead
from leadtide.dal.leads import DynamoLeadRepository
from leadtide.imports.ports import LeadWrite
from leadtide.models.auth import Principal
from leadtide.models.common import Role
from leadtide.models.leads import Lead
from leadtide.segments.models import SegmentPreviewRequest
from leadtide.segments.ports import RecordPage
from leadtide.segments.service import SegmentService
from tests.unit.test_segments_service import FakeSegmentRepository

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
NOT_PROJECTED = {"first_name", "scored_at", "instagram_id", "last_message_preview"}  # see leadtide.dal.items


def _template_indexes() -> list[dict]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=Loader)
    return template["Resources"]["LeadsTable"]["Properties"]["GlobalSecondaryIndexes"]


def test_template_index_matches_items_and_dynamodb_limits():
    index = next(i for i in _template_indexes() if i["IndexName"] == "leads_by_condition_shard")
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
        ("cond_pk", "HASH"),
        ("cond_sk", "RANGE"),
    ]
    projected = index["Projection"]["NonKeyAttributes"]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert sorted(projected) == sorted(CONDITION_INDEX_ATTRIBUTES)
    assert len(projected) == len(set(projected)) <= 20  # DynamoDB: at most 20 per projection
    total_include = sum(
        len(i["Projection"].get("NonKeyAttributes", []))
        for i in _template_indexes()
        if i["Projection"]["ProjectionType"] == "INCLUDE"
    )
    assert total_include <= 100  # and 100 across the table's indexes
    pynamo = LeadItem.by_condition_shard
    assert pynamo.Meta.index_name == "leads_by_condition_shard"
    assert sorted(pynamo.Meta.projection.non_key_attributes) == sorted(projected)
    # every attribute a condition can read is projected, except the documented ones
    readable = {*LEAD_FIELDS, CUSTOM_FIELDS_ATTRIBUTE, LIST_IDS_ATTRIBUTE}
    assert readable - set(projected) == NOT_PROJECTED
    assert set(projected) <= {a.attr_name for a in LeadItem.get_attributes().values()}


def _lead(tenant: str = "t1", lead_id: str | None = None) -> Lead:
    return Lead(
        lead_id=lead_id or uuid.uuid4().hex,
        tenant_id=tenant,
        source_channel="manual",
        status="New",
        email="a@example.com",
        created_at=NOW,
        updated_at=NOW,
        last_activity_at=NOW,
    )


def test_every_profile_writer_sets_the_condition_keys():
    lead = _lead("acme")
    keys = condition_keys("acme", lead.lead_id)
    assert keys["cond_sk"] == lead.lead_id
    assert keys["cond_pk"].startswith("T#acme#COND#")
    assert 0 <= int(keys["cond_pk"].rsplit("#", 1)[1]) < CONDITION_SHARDS
    stored = DynamoLeadRepository._lead_item(lead).serialize()
    assert stored["cond_pk"] == {"S": keys["cond_pk"]} and stored["cond_sk"] == {"S": lead.lead_id}
    raw = encode_lead(LeadWrite(lead=lead))
    assert raw["cond_pk"] == stored["cond_pk"] and raw["cond_sk"] == stored["cond_sk"]
    # the same lead id lands in the same shard number whatever the tenant
    assert condition_keys("other", lead.lead_id)["cond_pk"].endswith(keys["cond_pk"][-3:])


def test_lead_ids_spread_evenly_over_the_shards():
    rng = random.Random(3)
    counts = Counter(condition_shard(uuid.UUID(int=rng.getrandbits(128)).hex) for _ in range(16_000))
    assert sorted(counts) == list(range(CONDITION_SHARDS))
    assert max(counts.values()) < 1_150 and min(counts.values()) > 850  # 1,000 expected, sd ~31


# ---------------------------------------------------------------------------------------- service


class IndexedFake(FakeSegmentRepository):
    """The fake repository with DynamoDB's read orders: ``read_lead_records`` newest created first (by
    ``<iso ms>Z#<lead_id>``, like ``created_sk``), ``read_condition_records`` shard pages interleaved in a
    random order, projected to the index's attributes."""

    def __init__(self, seed: int = 0):
        super().__init__(page_size=7)
        self.rng = random.Random(seed)
        self.index_reads = 0
        self.profile_reads = 0
        self.indexed = True  # False: a deployment without the index (the preview's old path)

    @property
    def condition_attributes(self):
        return frozenset(CONDITION_INDEX_ATTRIBUTES) | {"lead_id"} if self.indexed else frozenset()

    def _rows(self, tenant_id):
        rows = [r for (t, _), r in self.leads.items() if t == tenant_id]
        return sorted(rows, key=lambda r: f"{r['created_at'][:23]}Z#{r['lead_id']}", reverse=True)

    def read_lead_records(self, tenant_id, attributes, *, start_key=None):
        self.profile_reads += 1
        wanted = {*attributes, "lead_id"}
        rows = self._rows(tenant_id)
        for i in range(0, len(rows), self.page_size):
            chunk = [{k: v for k, v in r.items() if k in wanted} for r in rows[i : i + self.page_size]]
            yield RecordPage(records=chunk, next_key=None)

    def read_condition_records(self, tenant_id, attributes):
        self.index_reads += 1
        wanted = {*attributes, "lead_id"}
        assert wanted <= self.condition_attributes
        shards: dict[int, list[dict]] = {}
        for r in sorted(self._rows(tenant_id), key=lambda r: r["lead_id"]):
            shards.setdefault(condition_shard(r["lead_id"]), []).append(
                {k: v for k, v in r.items() if k in wanted}
            )
        pages = [
            RecordPage(records=rows[i : i + self.page_size], next_key=None, extra={"shard": shard})
            for shard, rows in shards.items()
            for i in range(0, len(rows), self.page_size)
        ]
        self.rng.shuffle(pages)
        yield from pages


def _stored_time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")  # PynamoDB's UTCDateTimeAttribute form


def _populate(repo: IndexedFake, n: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        lead_id = uuid.UUID(int=rng.getrandbits(128)).hex
        # many leads share a millisecond (ties break by lead id) and some share it only to the second
        created = NOW - timedelta(seconds=rng.randint(0, 40), microseconds=rng.choice([0, 400, 999_999]))
        record = {
            "lead_id": lead_id,
            "status": rng.choice(["New", "Contacted", "Lost"]),
            "owner_id": rng.choice([None, "u-rep", "u-other"]),
            "score": rng.randint(0, 100),
            "tags": rng.sample(["vip", "fair", "spam"], rng.randint(0, 2)),
            "company": rng.choice(["Acme Co", "Globex", None]),
            "custom_fields": {"plan": rng.choice(["free", "pro"])},
            "last_message_preview": rng.choice(["price?", None]),
            "created_at": _stored_time(created),
            "last_activity_at": _stored_time(created + timedelta(days=rng.randint(0, 20))),
        }
        repo.leads[("t1", lead_id)] = {k: v for k, v in record.items() if v is not None}
    repo.leads[("t2", "other-tenant")] = {
        "lead_id": "other-tenant",
        "status": "New",
        "created_at": _stored_time(NOW),
    }


RULES = [
    ({"field": "status", "op": "eq", "value": "Contacted"}, None),
    (
        {
            "any": [
                {"field": "score", "op": "gte", "value": 70},
                {"field": "tags", "op": "has_any", "value": ["vip"]},
            ]
        },
        {"field": "company", "op": "is_empty"},
    ),
    (
        {
            "all": [
                {"field": "last_activity_at", "op": "within_last", "value": {"days": 10}},
                {"field": "custom.plan", "op": "eq", "value": "pro"},
            ]
        },
        None,
    ),
    ({"not": {"field": "status", "op": "in", "value": ["New", "Lost", "Contacted"]}}, None),  # matches none
]


def _service(repo):
    return SegmentService(repo, events=None, enqueue=None, clock=lambda: NOW)


@pytest.mark.parametrize("sample_size", [0, 1, 10, 50])
@pytest.mark.parametrize("role", [Role.ADMIN, Role.REP])
def test_preview_from_the_index_equals_the_newest_first_preview(sample_size, role):
    principal = Principal("t1", "u-rep", role)
    for seed in range(3):
        repo = IndexedFake(seed)
        _populate(repo, 400, seed)
        service = _service(repo)
        for include, exclude in RULES:
            request = SegmentPreviewRequest(include=include, exclude=exclude, sample_size=sample_size)
            from_index = service.preview(principal, request)
            assert (repo.index_reads, repo.profile_reads) == (1, 0)
            repo.index_reads, repo.indexed = 0, False
            from_profiles = service.preview(principal, request)
            repo.indexed = True
            assert repo.profile_reads == 1
            repo.profile_reads = 0
            assert from_index.count == from_profiles.count
            assert from_index.evaluated == from_profiles.evaluated
            assert [r.lead_id for r in from_index.sample] == [r.lead_id for r in from_profiles.sample]
            assert len(from_index.sample) == min(sample_size, from_index.count)


def test_rules_naming_unprojected_fields_read_the_profiles():
    repo = IndexedFake(1)
    _populate(repo, 50, 1)
    include = {"field": "last_message_preview", "op": "contains", "value": "price"}
    got = _service(repo).preview(Principal("t1", "u", Role.ADMIN), SegmentPreviewRequest(include=include))
    assert (repo.index_reads, repo.profile_reads) == (0, 1)
    expected = sum(
        "price" in r.get("last_message_preview", "") for (t, _), r in repo.leads.items() if t == "t1"
    )
    assert got.count == expected and got.evaluated == 50
