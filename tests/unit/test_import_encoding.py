"""The import's fast paths produce what the slow ones do: a lead created by an import is stored as the lead
API stores a lead (``DynamoLeadRepository._lead_item``) and reads back equal; the direct item encoding
equals pydantic's; the compact saved plan rebuilds the lead that was written; a create-only chunk
redelivered after its writes creates nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadtide.customfields.models import CustomFieldDefinition
from leadtide.customfields.service import CustomFieldService
from leadtide.dal import lead_codec
from leadtide.dal.items import LeadItem
from leadtide.dal.lead_codec import encode_lead
from leadtide.dal.leads import DynamoLeadRepository, _lead_from_item
from leadtide.imports.models import ImportCreate
from leadtide.imports.pipeline import ImportPipeline, data_key
from leadtide.imports.ports import LeadWrite
from leadtide.imports.service import ImportService
from leadtide.leads.service import LeadService
from leadtide.models.auth import Principal
from leadtide.models.common import ChannelType, Grade, LeadStatus, Role
from leadtide.models.leads import Lead, LeadCreate, ScoreFactor
from leadtide.models.scoring import GradeOverride, PredictionFactor
from tests.fakes import FakeEventPublisher, FakeLeadRepository
from tests.import_fakes import FakeArtifacts, FakeImportRepository, FakeLeadBulkStore, RecordingQueue
from tests.unit.test_custom_fields import FakeCustomFieldRepository

T = "t1"
ADMIN = Principal(T, "admin-1", Role.ADMIN)
AT = datetime(2025, 2, 3, 4, 5, 6, 789123, tzinfo=UTC)
DEFINITIONS = [
    CustomFieldDefinition(key="budget", label="Budget", type="number"),
    CustomFieldDefinition(key="plan", label="Plan", type="dropdown", options=["Starter", "Growth"]),
    CustomFieldDefinition(key="topics", label="Topics", type="multi_select", options=["Sun", "Surf"]),
]
CSV = (
    "First Name,Last Name,Email,Phone,Company,Job Title,Status,Tags,Budget,Plan,Topics\n"
    'Zoë,Müller,Zoe.Mueller@Example.COM,+1 (415) 555-0101,Acme ☃,Head of Sales,Contacted,"vip, fair",'
    '"2,500",growth,Sun;Surf\n'
    "José,,jose@example.org,,,,,,12.5,,\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = AT

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1013)
        return self.now


def _import(csv_text: str = CSV, chunk_rows: int = 1000):
    repo, store, artifacts, queue = (
        FakeImportRepository(),
        FakeLeadBulkStore(),
        FakeArtifacts(),
        RecordingQueue(),
    )
    pipeline = ImportPipeline(
        repo,
        store,
        artifacts,
        FakeEventPublisher(),
        queue,
        lambda t: DEFINITIONS,
        clock=Clock(),
        chunk_rows=chunk_rows,
    )
    service = ImportService(repo, artifacts, pipeline, queue)
    created = service.create(ADMIN, ImportCreate(filename="leads.csv", publish_events=False))
    key = repo.get(T, created.import_id).source_key
    artifacts.put(key, csv_text.encode())
    pipeline.analyse(T, created.import_id, key, len(csv_text))
    queue.steps.clear()
    pipeline.plan(T, created.import_id)
    return pipeline, repo, store, artifacts, queue, created.import_id


def test_a_lead_created_by_an_import_is_stored_as_the_lead_api_stores_the_same_input():
    # Given a row imported through the pipeline (fast encoding, compact plan)
    pipeline, _, store, _, queue, import_id = _import()
    for step in list(queue.steps):
        pipeline.run_chunk(T, import_id, step["chunk"])
    items = {lead_id: item for (tenant, lead_id), item in store.leads.items() if tenant == T}
    assert len(items) == 2
    item = next(i for i in items.values() if i["email"]["S"] == "zoe.mueller@example.com")
    # And the same person entered through the lead API (LeadService), stored by DynamoLeadRepository
    api_repo, definitions = FakeLeadRepository(), FakeCustomFieldRepository()
    for definition in DEFINITIONS:
        definitions.items[(T, definition.key)] = definition
    api = LeadService(api_repo, FakeEventPublisher(), custom_fields=CustomFieldService(definitions))
    created = api.create_lead(
        ADMIN,
        LeadCreate(
            first_name="Zoë",
            last_name="Müller",
            email="Zoe.Mueller@Example.COM",
            phone="+1 (415) 555-0101",
            company="Acme ☃",
            job_title="Head of Sales",
            status=LeadStatus.CONTACTED,
            tags=["vip", "fair"],
            custom_fields={"budget": "2,500", "plan": "growth", "topics": ["Sun", "Surf"]},
        ),
    )
    api_item = DynamoLeadRepository._lead_item(api_repo.get_lead(T, created.lead_id)).serialize()
    # Then every attribute is the same, except identity, provenance and time
    differing = {"pk", "lead_id", "created_sk", "activity_sk", "score_sk", "cond_pk", "cond_sk", "created_at"}
    differing |= {"updated_at", "last_activity_at", "source_channel", "import_id", "identity_keys"}
    assert set(item) - {"import_id", "identity_keys"} == set(api_item)
    # (identity_keys: the identity items the profile owns, written beside the item by create_lead too)
    assert item["identity_keys"] == {"SS": ["email#zoe.mueller@example.com", "phone#+14155550101"]}
    assert {k: v for k, v in item.items() if k not in differing} == {
        k: v for k, v in api_item.items() if k not in differing
    }
    assert item["source_channel"] == {"S": "import"} and item["import_id"] == {"S": import_id}
    # And the lead API reads the import's item back as the lead whose encoding it is, exactly
    for stored in items.values():
        lead = _lead_from_item(LeadItem.from_raw_data(stored))
        profile = {k: v for k, v in stored.items() if k != "identity_keys"}
        assert profile == DynamoLeadRepository._lead_item(lead).serialize()
        assert lead.created_at == lead.updated_at and lead.created_at.microsecond % 1000 != 0  # µs kept


def test_the_saved_plan_rebuilds_the_lead_that_was_written():
    # Given an imported chunk
    pipeline, _, store, artifacts, _, import_id = _import()
    pipeline.run_chunk(T, import_id, 0)
    plan = json.loads(artifacts.objects[data_key(T, import_id, "plans/000000.json")])
    creates = [a for a in plan["actions"] if a["action"] == "create"]
    assert len(creates) == 2
    for action in creates:
        # When a redelivery rebuilds a lead from the saved plan (the compact values, not a full dump)
        rebuilt = Lead.model_validate(action["lead"])
        # Then it is the lead that was written, to the microsecond
        write = LeadWrite(lead=rebuilt, add_identities=[tuple(k) for k in action["add"]])  # type: ignore[misc]
        assert encode_lead(write) == store.leads[(T, action["lead_id"])]


def test_a_create_only_chunk_redelivered_after_its_writes_creates_nothing_twice():
    # Given a chunk of new leads that was written but crashed before its commit
    pipeline, repo, store, _, _, import_id = _import()
    commit = repo.commit_chunk
    repo.commit_chunk = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash before commit"))
    with pytest.raises(RuntimeError):
        pipeline.run_chunk(T, import_id, 0)
    written = {k: dict(v) for k, v in store.leads.items()}
    identities = dict(store.identities)
    # When SQS redelivers it (the plan saved before the writes, without "done" marks)
    repo.commit_chunk = commit
    pipeline.run_chunk(T, import_id, 0)
    # Then the leads and identities are as written once, and the counts land once
    assert store.leads == written and store.identities == identities
    record = repo.get(T, import_id)
    assert (record.created, record.failed, record.chunks_done) == (2, 0, 1)
    assert repo.counters[(T, "total")] == 2


def _lead(**values) -> Lead:
    return Lead(
        lead_id="c" * 32,
        tenant_id=T,
        source_channel=values.pop("source_channel", ChannelType.IMPORT),
        created_at=AT,
        updated_at=AT + timedelta(seconds=1),
        last_activity_at=AT + timedelta(seconds=2),
        **values,
    )


_text = st.text(min_size=0, max_size=12)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_instant = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.one_of(st.none(), _text),
    email=st.one_of(st.none(), st.emails()),
    company=st.one_of(st.none(), _text),
    status=st.sampled_from(list(LeadStatus)),
    grade=st.one_of(st.none(), st.sampled_from(list(Grade))),
    score=st.one_of(st.none(), st.integers(0, 100)),
    fit=st.one_of(st.none(), st.floats(0, 100, allow_nan=False)),
    tags=st.lists(_text, max_size=3),
    custom=st.dictionaries(_text, st.one_of(_scalar, st.lists(_scalar, max_size=3)), max_size=4),
    custom_times=st.dictionaries(
        _text, st.one_of(_instant, st.lists(_instant, min_size=1, max_size=2)), max_size=2
    ),
    nested=st.booleans(),
    override_at=st.one_of(st.none(), _instant),
    message_count=st.integers(0, 10**6),
)
def test_direct_encoding_equals_the_lead_repositorys_for_any_lead(
    name,
    email,
    company,
    status,
    grade,
    score,
    fit,
    tags,
    custom,
    custom_times,
    nested,
    override_at,
    message_count,
):
    extra = {}
    if nested:
        extra = {
            "score_breakdown": [ScoreFactor(factor="f", label="F", points=4.5)],
            "prediction_factors": [PredictionFactor(field="x", label="X", impact=-0.25)],
        }
    if override_at is not None:  # a datetime inside a JSON attribute (issue 10, defect 1)
        extra["grade_override"] = GradeOverride(grade=Grade.HOT, reason="fair", by="u1", at=override_at)
    custom = {**custom, **custom_times}  # datetimes inside custom_fields, as code may set them
    plain = not nested and override_at is None and not custom_times
    lead = _lead(
        name=name,
        email=email,
        company=company,
        status=status,
        grade=grade,
        computed_grade=grade,
        score=score,
        fit_score=fit,
        tags=tags,
        custom_fields=custom,
        message_count=message_count,
        **extra,
    )
    expected = DynamoLeadRepository._lead_item(lead).serialize()
    assert encode_lead(LeadWrite(lead=lead)) == expected
    assert lead_codec._encode_general(lead) == expected
    if plain:  # the direct path takes every lead without nested models or non-JSON values
        assert lead_codec._encode_direct(lead) == expected
    else:
        with pytest.raises(lead_codec._General):
            lead_codec._encode_direct(lead)
    # the stored lead reads back as the lead's own JSON form: a grade override's time as the datetime it
    # was, a datetime in custom_fields as its ISO-8601 text (what the API returns for it)
    stored = _lead_from_item(LeadItem.from_raw_data(encode_lead(LeadWrite(lead=lead))))
    assert stored == Lead.model_validate_json(lead.model_dump_json())
    if plain:
        assert stored == lead
    if override_at is not None:
        assert stored.grade_override is not None and stored.grade_override.at == override_at


def test_an_import_update_keeps_the_lists_and_segments_of_the_stored_lead():
    # Given a stored lead that is in a static list and a segment (attributes the Lead model lacks)
    lead = _lead(first_name="Ada", email="ada@example.com")
    stored = {
        **encode_lead(LeadWrite(lead=lead)),
        "list_ids": {"SS": ["l1", "l2"]},
        "segment_ids": {"SS": ["s1"]},
        "nickname": {"S": "another feature's attribute"},
    }
    # When an import rewrites the profile (first name cleared, company set)
    changed = lead.model_copy(update={"first_name": None, "company": "Analytical"})
    item = encode_lead(LeadWrite(lead=changed, base_raw=stored))
    # Then list and segment memberships and unknown attributes stay; the cleared field is gone
    assert item["list_ids"] == {"SS": ["l1", "l2"]} and item["segment_ids"] == {"SS": ["s1"]}
    assert item["nickname"] == {"S": "another feature's attribute"}
    assert "first_name" not in item and item["company"] == {"S": "Analytical"}
    assert {k: v for k, v in item.items() if k not in ("list_ids", "segment_ids", "nickname")} == (
        DynamoLeadRepository._lead_item(changed).serialize()
    )


def test_chunk_encoding_turns_datetimes_into_iso_text_as_before():
    # Given draft values with datetimes, dates and tuples nested anywhere
    from datetime import date

    from leadtide.imports.steps.common import json_default, jsonable

    fields = {
        "name": "Ana",
        "custom_fields": {"seen": AT, "day": date(2024, 3, 1), "pair": (1, AT), "deep": {"at": [AT]}},
        "tags": ("a", "b"),
    }
    # Then the encoder's default gives the text the old per-row conversion gave
    assert json.dumps(fields, default=json_default) == json.dumps(jsonable(fields), default=str)
    assert (
        json.loads(json.dumps(fields, default=json_default))["custom_fields"]["seen"]
        == "2025-02-03T04:05:06.789Z"
    )
