"""Model registry use cases: training requests and the minimum-data rule, version transitions, the promotion
rule, the challenger and its deterministic traffic split, outcomes and live performance."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from leadtide.ml.ports import STARTER_SCOPE
from leadtide.ml.registry import (
    MIN_CONVERTED,
    MIN_LOST,
    ModelRegistryService,
    lead_bucket,
    live_performance,
    new_model_version,
    roc_auc,
    routes_to_challenger,
    serving_version,
)
from leadtide.models.auth import Principal
from leadtide.models.common import ChannelType, LeadStatus, Role
from leadtide.models.errors import (
    ForbiddenError,
    ModelVersionNotFoundError,
    NotEnoughOutcomesError,
    PromotionRefusedError,
    UnprocessableError,
)
from leadtide.models.leads import Lead
from leadtide.models.ml import ModelOutcome, ModelPointer, ModelStatus, ModelVersion
from tests.fakes import FakeLeadRepository, FakeQueue
from tests.ml_fakes import FakeModelRegistry

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ADMIN = Principal("t1", "u-admin", Role.ADMIN)
MANAGER = Principal("t1", "u-mgr", Role.MANAGER)
REP = Principal("t1", "u-rep", Role.REP)


def _lead(tenant: str, status: LeadStatus, n: int, **extra) -> Lead:
    return Lead(
        lead_id=uuid.uuid4().hex,
        tenant_id=tenant,
        source_channel=ChannelType.WEB_FORM,
        status=status,
        created_at=T0 + timedelta(hours=n),
        updated_at=T0 + timedelta(hours=n + 1),
        last_activity_at=T0 + timedelta(hours=n),
        **extra,
    )


@pytest.fixture
def world():
    leads, registry, queue = FakeLeadRepository(), FakeModelRegistry(), FakeQueue()
    service = ModelRegistryService(registry, leads, queue)
    return service, leads, registry, queue


def _add_outcomes(leads: FakeLeadRepository, tenant: str, converted: int, lost: int) -> None:
    for n in range(converted):
        leads.create_lead(_lead(tenant, LeadStatus.CONVERTED, n), [])
    for n in range(lost):
        leads.create_lead(_lead(tenant, LeadStatus.LOST, n), [])


def _version(registry: FakeModelRegistry, tenant: str, status: ModelStatus, **extra) -> ModelVersion:
    version = ModelVersion(
        tenant_id=tenant,
        model_version=new_model_version(T0 + timedelta(seconds=len(registry.versions))),
        scoring_model_id="sm1",
        status=status,
        created_at=T0,
        updated_at=T0,
        **extra,
    )
    registry.create_version(tenant, version)
    return version


def _with_champion(registry: FakeModelRegistry, tenant: str = "t1") -> ModelVersion:
    champion = _version(registry, tenant, ModelStatus.CHAMPION)
    registry.save_pointer(tenant, ModelPointer(champion=champion.model_version), expected_revision=0)
    return champion


# ------------------------------------------------------------------------------------ versions and split
def test_model_versions_sort_by_training_time():
    # Given versions made a second apart  When sorted as strings  Then they are in time order
    versions = [new_model_version(T0 + timedelta(seconds=s)) for s in (5, 1, 3)]
    assert sorted(versions) == [versions[1], versions[2], versions[0]]
    assert all(len(v) == len("20260101T000000Z-abcdef") for v in versions)


def test_split_is_deterministic_and_close_to_the_traffic_share():
    # Given 10,000 random lead ids and a 20 % challenger
    ids = [uuid.UUID(int=random.Random(7).getrandbits(128) + i).hex for i in range(10_000)]
    pointer = ModelPointer(champion="c", challenger="x", traffic_percent=20)
    # When each is routed twice
    first = [serving_version(pointer, "t1", lead_id) for lead_id in ids]
    second = [serving_version(pointer, "t1", lead_id) for lead_id in ids]
    # Then the same lead always gets the same model, and about 20 % go to the challenger
    assert first == second
    share = first.count("x") / len(ids)
    assert 0.185 <= share <= 0.215, share
    # And the bucket depends on the tenant too (tenants are split independently)
    assert [lead_bucket("t1", i) for i in ids[:200]] != [lead_bucket("t2", i) for i in ids[:200]]


def test_split_edges():
    assert not routes_to_challenger("t1", "abc", 0)
    assert serving_version(ModelPointer(), "t1", "abc") is None
    assert serving_version(ModelPointer(champion="c", challenger="x", traffic_percent=0), "t1", "a") == "c"
    everyone = ModelPointer(champion="c", challenger="x", traffic_percent=100)
    assert {serving_version(everyone, "t1", str(i)) for i in range(50)} == {"x"}


def test_roc_auc_matches_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = random.Random(3)
    labels = [rng.randint(0, 1) for _ in range(400)]
    scores = [round(rng.random() * 0.5 + 0.3 * y, 1) for y in labels]  # rounded: many ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert roc_auc([1, 1], [0.2, 0.3]) is None


def test_live_performance_shows_auc_only_with_ten_of_each_class():
    outcomes = [
        ModelOutcome(model_version="v", lead_id=str(i), probability=p, converted=y, recorded_at=T0)
        for i, (p, y) in enumerate([(0.9, 1)] * 9 + [(0.1, 0)] * 30)
    ]
    perf = live_performance(outcomes)
    assert perf.count == 39 and perf.positives == 9 and perf.roc_auc is None
    assert perf.brier == pytest.approx((9 * 0.01 + 30 * 0.01) / 39)
    # A tenth positive scored below every negative: 9 of 10 positives outrank all 30 negatives
    more = [
        *outcomes,
        ModelOutcome(model_version="v", lead_id="x", probability=0.05, converted=1, recorded_at=T0),
    ]
    assert live_performance(more).roc_auc == pytest.approx(0.9)


def test_minimum_data_constants_match_the_trainer():
    from leadtide.ml import training

    assert (MIN_CONVERTED, MIN_LOST) == (training.MIN_POSITIVES, training.MIN_NEGATIVES)


# ------------------------------------------------------------------------------------ training requests
def test_training_request_with_too_few_outcomes_is_422_with_counts_and_nothing_queued(world):
    service, leads, registry, queue = world
    _add_outcomes(leads, "t1", converted=3, lost=40)
    with pytest.raises(NotEnoughOutcomesError) as err:
        service.request_training(ADMIN, "sm1")
    assert err.value.status_code == 422
    details = {d["field"]: d for d in err.value.details}
    assert details["converted"]["problem"] == f"have 3, need {MIN_CONVERTED}"
    assert details["lost"]["problem"] == f"have 40, need {MIN_LOST}"
    assert details["starter"]["starter_model_available"] is False
    assert queue.bodies == [] and registry.versions == {}


def test_brand_new_tenant_is_offered_the_starter_model_and_can_adopt_it(world):
    service, _, registry, _ = world
    # Given a stored starter model
    starter = _version(
        registry, STARTER_SCOPE, ModelStatus.CHAMPION, artifact_key="models/_starter/x/model.tar.gz"
    )
    registry.save_pointer(STARTER_SCOPE, ModelPointer(champion=starter.model_version), expected_revision=0)
    # When a tenant without outcomes asks to train  Then the 422 offers the starter
    with pytest.raises(NotEnoughOutcomesError) as err:
        service.request_training(ADMIN, "sm1")
    assert "starter" in err.value.message
    assert {d["field"]: d for d in err.value.details}["starter"]["starter_model_available"] is True
    # When it adopts it  Then the starter is its champion, artifact shared
    accepted = service.request_training(ADMIN, "sm1", starter=True)
    assert accepted.status == ModelStatus.CHAMPION
    assert registry.get_pointer("t1").champion == accepted.model_version
    adopted = registry.get_version("t1", accepted.model_version)
    assert adopted.origin == "starter" and adopted.artifact_key == "models/_starter/x/model.tar.gz"
    # And a tenant with a champion cannot adopt it again
    with pytest.raises(UnprocessableError):
        service.request_training(ADMIN, "sm1", starter=True)


def test_training_request_queues_a_version_and_registers_the_tenant(world):
    service, leads, registry, queue = world
    _add_outcomes(leads, "t1", converted=MIN_CONVERTED, lost=MIN_LOST)
    accepted = service.request_training(MANAGER, "sm1")
    assert accepted.status == ModelStatus.QUEUED
    assert (accepted.converted, accepted.lost) == (MIN_CONVERTED, MIN_LOST)
    assert queue.json() == [
        {
            "kind": "train",
            "tenant_id": "t1",
            "model_version": accepted.model_version,
            "scoring_model_id": "sm1",
        }
    ]
    assert registry.get_version("t1", accepted.model_version).status == ModelStatus.QUEUED
    assert registry.tenants == {"t1": "sm1"}


def test_reps_cannot_train_or_read_versions(world):
    service, *_ = world
    with pytest.raises(ForbiddenError):
        service.request_training(REP, "sm1")
    with pytest.raises(ForbiddenError):
        service.list_versions(REP, "sm1")


# ------------------------------------------------------------------------------------ promotion
def _candidate(registry, *, champion: str, better: bool, status=ModelStatus.READY) -> ModelVersion:
    comparison = {"champion": champion, "delta": 0.05 if better else -0.02, "ci_low": 0.01 if better else -0.06,
                  "ci_high": 0.09 if better else 0.02, "better": better}  # fmt: skip
    return _version(registry, "t1", status, comparison=comparison)


def test_promotion_refuses_a_worse_candidate(world):
    service, _, registry, _ = world
    champion = _with_champion(registry)
    worse = _candidate(registry, champion=champion.model_version, better=False)
    with pytest.raises(PromotionRefusedError) as err:
        service.promote(MANAGER, "sm1", worse.model_version)
    assert err.value.status_code == 409 and "not measurably higher" in err.value.message
    assert registry.get_pointer("t1").champion == champion.model_version
    assert registry.get_version("t1", worse.model_version).status == ModelStatus.READY


def test_promotion_accepts_a_better_candidate_and_retires_the_champion(world):
    service, _, registry, _ = world
    champion = _with_champion(registry)
    better = _candidate(registry, champion=champion.model_version, better=True)
    result = service.promote(MANAGER, "sm1", better.model_version)
    assert result.pointer.champion == better.model_version
    assert registry.get_version("t1", better.model_version).status == ModelStatus.CHAMPION
    assert registry.get_version("t1", champion.model_version).status == ModelStatus.RETIRED
    assert result.comparison["better"] is True


def test_promotion_refuses_a_comparison_against_an_older_champion(world):
    service, _, registry, _ = world
    _with_champion(registry)
    stale = _candidate(registry, champion="20250101T000000Z-000000", better=True)
    with pytest.raises(PromotionRefusedError, match="champion is now"):
        service.promote(ADMIN, "sm1", stale.model_version)


def test_forced_promotion_needs_an_admin_and_a_reason(world):
    service, _, registry, _ = world
    champion = _with_champion(registry)
    worse = _candidate(registry, champion=champion.model_version, better=False)
    with pytest.raises(ForbiddenError):
        service.promote(MANAGER, "sm1", worse.model_version, force=True, reason="because")
    with pytest.raises(UnprocessableError):
        service.promote(ADMIN, "sm1", worse.model_version, force=True, reason=" ")
    result = service.promote(ADMIN, "sm1", worse.model_version, force=True, reason="seasonal shift")
    assert result.comparison["forced"] is True and result.pointer.champion == worse.model_version


def test_failed_or_unknown_versions_cannot_be_promoted(world):
    service, _, registry, _ = world
    _with_champion(registry)
    failed = _version(registry, "t1", ModelStatus.FAILED)
    with pytest.raises(PromotionRefusedError):
        service.promote(ADMIN, "sm1", failed.model_version, force=True, reason="x")
    with pytest.raises(ModelVersionNotFoundError):
        service.promote(ADMIN, "sm1", "20990101T000000Z-abcdef")
    with pytest.raises(ModelVersionNotFoundError):  # another tenant's registry is not visible
        service.get_version(Principal("t2", "u", Role.ADMIN), "sm1", failed.model_version)


# ------------------------------------------------------------------------------------ challenger
def test_challenger_transitions(world):
    service, _, registry, _ = world
    champion = _with_champion(registry)
    first = _version(registry, "t1", ModelStatus.READY)
    second = _version(registry, "t1", ModelStatus.READY)
    pointer = service.set_challenger(MANAGER, "sm1", first.model_version, 25)
    assert (pointer.challenger, pointer.traffic_percent) == (first.model_version, 25)
    assert registry.get_version("t1", first.model_version).status == ModelStatus.CHALLENGER
    # Replacing the challenger puts the old one back to ready
    service.set_challenger(MANAGER, "sm1", second.model_version, 10)
    assert registry.get_version("t1", first.model_version).status == ModelStatus.READY
    # The champion cannot be its own challenger; traffic is 1..50
    with pytest.raises(PromotionRefusedError):
        service.set_challenger(MANAGER, "sm1", champion.model_version, 10)
    with pytest.raises(UnprocessableError):
        service.set_challenger(MANAGER, "sm1", first.model_version, 51)
    # Promoting the challenger empties the slot
    registry.versions[("t1", second.model_version)] = registry.get_version(
        "t1", second.model_version
    ).model_copy(update={"comparison": {"champion": champion.model_version, "better": True}})
    result = service.promote(MANAGER, "sm1", second.model_version)
    assert result.pointer.challenger is None and result.pointer.traffic_percent == 0
    # Stopping: model_version None
    service.set_challenger(MANAGER, "sm1", first.model_version, 5)
    stopped = service.set_challenger(MANAGER, "sm1", None, 5)
    assert stopped.challenger is None and stopped.traffic_percent == 0


# ------------------------------------------------------------------------------------ outcomes
def test_outcome_is_recorded_against_the_scoring_version_and_shows_in_performance(world):
    service, leads, registry, _ = world
    champion = _with_champion(registry)
    lead = _lead("t1", LeadStatus.CONVERTED, 1)
    leads.create_lead(lead, [])
    # The lead carries no prediction: nothing recorded
    assert service.record_outcome("t1", lead.lead_id) is None
    # With a prediction stored on the lead (as the scoring service writes it)
    leads.leads[("t1", lead.lead_id)] = lead.model_copy(
        update={"prediction_model_version": champion.model_version, "conversion_probability": 0.7}
    )
    outcome = service.record_outcome("t1", lead.lead_id)
    assert outcome is not None and (outcome.model_version, outcome.probability, outcome.converted) == (
        champion.model_version,
        0.7,
        1,
    )
    listing = service.list_versions(ADMIN, "sm1")
    perf = next(v.performance for v in listing.items if v.model_version == champion.model_version)
    assert perf.count == 1 and perf.brier == pytest.approx(0.09)
    assert json.loads(listing.model_dump_json())["pointer"]["champion"] == champion.model_version
