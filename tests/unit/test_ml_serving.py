"""Training job, artifacts, serving model and the ConversionPredictor port, against in-memory fakes."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import tarfile
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from leadtide.ml.ports import artifact_key
from leadtide.ml.predictor import RegistryConversionPredictor
from leadtide.ml.registry import serving_version
from leadtide.ml.train_job import TrainingJob, infer_custom_field_types, paired_bootstrap_auc
from leadtide.models.common import ChannelType, LeadStatus
from leadtide.models.leads import Lead
from leadtide.models.ml import ModelPointer, ModelStatus
from leadtide.models.scoring import Prediction
from leadtide.scoring.ports import ConversionPredictor
from tests.conftest import REPO_ROOT
from tests.fakes import FakeLeadRepository, FakeQueue
from tests.ml_fakes import FakeArtifactStore, FakeModelRegistry, FakeTrainingData

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_leads(tenant: str, n: int, seed: int = 1, status: LeadStatus | None = None) -> list[Lead]:
    """Leads whose conversion depends on the channel, message count and a custom field (known signal)."""
    rng = random.Random(seed)
    leads = []
    for i in range(n):
        channel = rng.choice([ChannelType.WHATSAPP, ChannelType.WEB_FORM, ChannelType.INSTAGRAM])
        messages = rng.randint(0, 12)
        budget = rng.choice(["low", "mid", "high"])
        logit = (
            -1.5
            + (1.2 if channel == ChannelType.WHATSAPP else 0)
            + 0.25 * messages
            + (1.0 if budget == "high" else 0)
        )
        converted = rng.random() < 1 / (1 + 2.718281828 ** (-logit))
        created = T0 + timedelta(hours=6 * i)
        leads.append(
            Lead(
                lead_id=uuid.UUID(int=rng.getrandbits(128)).hex,
                tenant_id=tenant,
                source_channel=channel,
                status=status or (LeadStatus.CONVERTED if converted else LeadStatus.LOST),
                message_count=messages,
                custom_fields={"budget": budget},
                created_at=created,
                updated_at=created + timedelta(days=3),
                last_activity_at=created + timedelta(days=2),
            )
        )
    return leads


@pytest.fixture(scope="module", autouse=True)
def _small_grid():
    """A one-point hyperparameter grid and fewer boosting rounds: the tests check the plumbing, not tuning."""
    from leadtide.ml import training

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "GRID", training.GRID[:1], raising=False)
        patch.setattr(training, "MAX_ITER", 60, raising=False)
        yield


@pytest.fixture(scope="module")
def trained_world(_small_grid):
    """One tenant with 300 closed leads, trained once for the module."""
    registry, artifacts, leads_repo = FakeModelRegistry(), FakeArtifactStore(), FakeLeadRepository()
    closed = synthetic_leads("t1", 300)
    for lead in closed:
        leads_repo.create_lead(lead, [])
    job = TrainingJob(registry, artifacts, FakeTrainingData(closed), leads_repo, FakeQueue())
    queued = job.service.create_queued_version("t1", "sm1", requested_by="u1")
    version = job.train("t1", queued.model_version, "sm1")
    return job, registry, artifacts, version


def test_training_stores_a_sagemaker_artifact_and_registers_the_first_champion(trained_world):
    _, registry, artifacts, version = trained_world
    # The first model of a tenant becomes its champion, with held-out metrics from the time split
    assert version.status == ModelStatus.CHAMPION
    assert registry.get_pointer("t1").champion == version.model_version
    assert version.metrics.rows == 300 and version.metrics.positives > 30
    assert 0.6 < version.metrics.roc_auc <= 1.0  # the synthetic signal is learnable
    assert version.metrics.brier is not None and version.metrics.ece is not None
    assert "custom.budget" in version.features and version.date_from < version.date_to
    assert version.library_versions["scikit-learn"]
    # The artifact is a model.tar.gz with model.joblib and metadata.json at the registered key
    assert version.artifact_key == artifact_key("t1", version.model_version)
    with tarfile.open(fileobj=io.BytesIO(artifacts.objects[version.artifact_key]), mode="r:gz") as tar:
        names = set(tar.getnames())
        assert {"model.joblib", "metadata.json"} <= names
        json.loads(tar.extractfile("metadata.json").read())


def test_training_is_idempotent_on_redelivery(trained_world):
    job, _, artifacts, version = trained_world
    before = dict(artifacts.objects)
    again = job.train("t1", version.model_version, "sm1")
    assert again.status == ModelStatus.CHAMPION and artifacts.objects == before


def test_too_little_data_marks_the_version_failed_without_retrying():
    registry, artifacts = FakeModelRegistry(), FakeArtifactStore()
    few = synthetic_leads("t2", 20)
    job = TrainingJob(registry, artifacts, FakeTrainingData(few), FakeLeadRepository(), FakeQueue())
    queued = job.service.create_queued_version("t2", "sm1", requested_by=None)
    failed = job.train("t2", queued.model_version, "sm1")
    assert failed.status == ModelStatus.FAILED and "converted" in failed.error
    assert artifacts.objects == {} and registry.get_pointer("t2").champion is None


def test_a_second_model_is_compared_with_the_champion_on_the_same_held_out_leads(trained_world):
    job, _, _, champion = trained_world
    queued = job.service.create_queued_version("t1", "sm1", requested_by="u1")
    second = job.train("t1", queued.model_version, "sm1")
    # It stays ready (the champion is only replaced by a promotion) and carries the paired comparison
    assert second.status == ModelStatus.READY
    comparison = second.comparison
    assert comparison["champion"] == champion.model_version and "error" not in comparison, comparison
    assert comparison["n"] == 60 and comparison["ci_low"] <= comparison["delta"] <= comparison["ci_high"]
    assert comparison["better"] is (comparison["ci_low"] > 0)


def test_paired_bootstrap_finds_a_better_model_and_not_a_worse_one():
    rng = random.Random(5)
    labels = [rng.randint(0, 1) for _ in range(400)]
    good = [0.5 * y + 0.5 * rng.random() for y in labels]
    noisy = [0.1 * y + 0.9 * rng.random() for y in labels]
    assert paired_bootstrap_auc(labels, noisy, good, resamples=300)["better"] is True
    worse = paired_bootstrap_auc(labels, good, noisy, resamples=300)
    assert worse["better"] is False and worse["delta"] < 0


def test_custom_field_types_are_inferred_from_values():
    leads = synthetic_leads("t", 60)
    leads[0] = leads[0].model_copy(update={"custom_fields": {"budget": "low", "seats": 5, "vip": True}})
    leads[1] = leads[1].model_copy(update={"custom_fields": {"seats": 9, "vip": False}})
    assert infer_custom_field_types(leads) == {"budget": "select"}  # seats/vip on < 5 % of leads
    assert infer_custom_field_types(leads[:2]) == {"budget": "select", "seats": "number", "vip": "boolean"}


# ------------------------------------------------------------------------------------ predictor port
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _predictor(registry, artifacts, clock=None) -> RegistryConversionPredictor:
    return RegistryConversionPredictor(
        registry, artifacts, pointer_ttl_seconds=60, monotonic=clock or Clock()
    )


def test_predictor_honours_the_port_contract(trained_world):
    _, registry, artifacts, champion = trained_world
    predictor = _predictor(registry, artifacts)
    assert isinstance(predictor, ConversionPredictor)
    open_leads = [
        lead.model_dump(mode="json") for lead in synthetic_leads("t1", 30, seed=9, status=LeadStatus.NEW)
    ]
    closed = open_leads[0] | {"status": "Converted"}
    bad = {"lead_id": "x", "status": "New", "message_count": "lots", "created_at": "not a date"}
    results = predictor.predict("t1", [*open_leads, closed, bad])
    # One result per lead, same order; closed leads get None; a malformed lead does not break the batch
    assert len(results) == 32 and results[30] is None
    for result in results[:30]:
        assert isinstance(result, Prediction) and 0 <= result.probability <= 1
        assert result.model_version == champion.model_version
        assert all(f.impact > 0 for f in result.factors_up) and all(f.impact < 0 for f in result.factors_down)
        assert [f.impact for f in result.factors_up] == sorted(
            (f.impact for f in result.factors_up), reverse=True
        )
    assert any(r.factors_up or r.factors_down for r in results[:30])
    # Leads with more messages (a real driver) get a higher probability on average
    by_messages = sorted(
        zip((lead["message_count"] for lead in open_leads), results[:30], strict=True), key=lambda t: t[0]
    )
    low = sum(r.probability for _, r in by_messages[:10]) / 10
    high = sum(r.probability for _, r in by_messages[-10:]) / 10
    assert high > low
    # A closed lead keeps the prediction it carries (its outcome is recorded against it)
    kept = predictor.predict(
        "t1", [closed | {"conversion_probability": 0.42, "prediction_model_version": "v0"}]
    )
    assert (kept[0].probability, kept[0].model_version) == (0.42, "v0")
    # A tenant without a model gets None for every lead
    assert predictor.predict("nobody", open_leads[:3]) == [None, None, None]


def test_predictor_loads_each_artifact_once_and_rereads_the_pointer_after_its_ttl(trained_world):
    _, registry, artifacts, _ = trained_world
    clock = Clock()
    predictor = _predictor(registry, artifacts, clock)
    leads = [lead.model_dump(mode="json") for lead in synthetic_leads("t1", 5, seed=3, status=LeadStatus.NEW)]
    predictor.predict("t1", leads)
    predictor.predict("t1", leads)
    assert (predictor.artifact_loads, predictor.pointer_reads) == (1, 1)
    clock.now = 61
    predictor.predict("t1", leads)
    assert (predictor.artifact_loads, predictor.pointer_reads) == (1, 2)


def test_predictor_splits_leads_between_champion_and_challenger(trained_world):
    _, registry, artifacts, champion = trained_world
    ready = [v for v in registry.list_versions("t1") if v.status == ModelStatus.READY]
    if not ready:
        pytest.skip("needs the second model trained by the comparison test")
    pointer = registry.get_pointer("t1")
    registry.pointers["t1"] = ModelPointer(
        champion=champion.model_version,
        challenger=ready[0].model_version,
        traffic_percent=50,
        revision=pointer.revision,
    )
    try:
        leads = [
            lead.model_dump(mode="json") for lead in synthetic_leads("t1", 40, seed=4, status=LeadStatus.NEW)
        ]
        results = _predictor(registry, artifacts).predict("t1", leads)
        expected = [serving_version(registry.pointers["t1"], "t1", lead["lead_id"]) for lead in leads]
        assert [r.model_version for r in results] == expected
        assert len(set(expected)) == 2
    finally:
        registry.pointers["t1"] = pointer


def test_retrain_all_queues_only_tenants_with_enough_outcomes(trained_world):
    registry, queue, leads_repo = FakeModelRegistry(), FakeQueue(), FakeLeadRepository()
    for lead in synthetic_leads("rich", 200):
        leads_repo.create_lead(lead, [])
    for lead in synthetic_leads("poor", 20):
        leads_repo.create_lead(lead, [])
    registry.register_tenant("rich", "sm1")
    registry.register_tenant("poor", "sm1")
    job = TrainingJob(registry, FakeArtifactStore(), FakeTrainingData([]), leads_repo, queue)
    assert job.handle({"kind": "retrain_all"}) == 1
    assert [m["tenant_id"] for m in queue.json()] == ["rich"]
    assert job.handle({"kind": "retrain_all"}) == 0  # one already queued: not queued twice


def test_api_handlers_never_import_scikit_learn():
    code = (
        "import sys; sys.path[:0] = ['functions/api', 'shared', 'infra'];"
        "import handle_leads_api, handle_data_api, handle_collections_api, handle_scoring_api, handle_admin_api;"
        "import handle_api_docs;"
        "bad = sorted(m for m in ('sklearn', 'numpy', 'scipy', 'joblib') if m in sys.modules);"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_ml_layer_only_on_the_functions_that_train_or_score():
    from leadtide_local.template import load_template

    resources = load_template(REPO_ROOT / "template.yaml")["Resources"]
    with_ml = {
        name
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::Function"
        and {"Ref": "MlDependenciesLayer"} in (res["Properties"].get("Layers") or [])
    }
    assert with_ml == {"TrainingFunction", "ScoringWorkerFunction"}
    training = repr(resources["TrainingFunction"]["Properties"]["Policies"])
    assert "models/*" in training and "S3CrudPolicy" not in training and "ChannelsTable" not in training


class _Registry:
    """Just what the predictor reads: one tenant's pointer and its versions (artifact keys)."""

    def get_pointer(self, tenant_id):
        return ModelPointer(champion="v1")

    def get_version(self, tenant_id, model_version):
        return SimpleNamespace(artifact_key=f"{tenant_id}/{model_version}")


class _FlakyModel:
    """A model whose page scoring fails, and which fails on the lead named ``bad`` alone."""

    def score_page(self, batch, *, as_of, top, explain):
        raise ValueError("page failed")

    def predict(self, batch, *, as_of, top):
        if batch[0]["lead_id"] == "bad":
            raise ValueError("this lead")
        return [(0.7, [], [])]


def test_a_model_failing_on_the_page_scores_lead_by_lead_and_skips_only_the_failing_lead():
    predictor = RegistryConversionPredictor(
        _Registry(), artifacts=SimpleNamespace(get=lambda key: b""), loader=lambda data: _FlakyModel()
    )
    leads = [{"lead_id": "a", "status": "New"}, {"lead_id": "bad", "status": "New"}, {"lead_id": "c"}]
    results = predictor.predict("t1", leads)
    assert [r.probability if r else None for r in results] == [0.7, None, 0.7]
    assert predictor.explained == 2
