"""Predictive scoring end to end under moto: X Education leads -> POST /scoring-models/{id}/train -> Training
function (queue) -> model.tar.gz in S3 + registry entry with metrics -> the scoring worker's predictor puts
probabilities and factors on leads -> a status change records the outcome against the scoring version."""

from __future__ import annotations

import io
import json
import os
import tarfile

import boto3
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _small_grid(monkeypatch):
    """One hyperparameter point and fewer boosting rounds: this checks the plumbing, not the tuning."""
    from leadtide.ml import training

    monkeypatch.setattr(training, "GRID", training.GRID[:1], raising=False)
    monkeypatch.setattr(training, "MAX_ITER", 60, raising=False)


def _import(tenant: str, shared_data, closed: int, open_leads: int):
    from leadtide_local.ml_demo import import_sample

    return import_sample(tenant, shared_data, closed, open_leads)[1]


def test_too_few_outcomes_is_422_before_anything_is_queued(stack, shared_data):
    _import("t2", shared_data, closed=12, open_leads=0)
    response = stack.request(
        "POST", "/scoring-models/sm1/train", json_body={}, claims=stack.claims("t2", "admin")
    )
    assert response.status == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "not_enough_outcomes"
    fields = {d["field"]: d["problem"] for d in error["details"]}
    assert fields["converted"].startswith("have ") and fields["converted"].endswith("need 30")
    assert stack.queue_depth("TrainingQueue") == 0
    # Reps may not train at all
    rep = stack.request("POST", "/scoring-models/sm1/train", json_body={}, claims=stack.claims("t2", "rep"))
    assert rep.status == 403


def test_training_on_x_education_leads_stores_registers_and_predicts(stack, shared_data):
    admin = stack.claims("t1", "admin")
    opened = _import("t1", shared_data, closed=200, open_leads=3)

    # When an admin asks for training
    accepted = stack.request("POST", "/scoring-models/default/train", json_body={}, claims=admin)
    assert accepted.status == 202, accepted.text
    version = accepted.json()["model_version"]
    assert accepted.json()["status"] == "queued"
    stack.settle()

    # Then the registry has the version as champion (first model), with held-out metrics
    entry = stack.request("GET", f"/scoring-models/default/versions/{version}", claims=admin).json()
    assert entry["status"] == "champion", entry
    assert 0.5 < entry["metrics"]["roc_auc"] <= 1 and entry["metrics"]["rows"] == 200
    assert entry["metrics"]["brier"] is not None and "custom.time_on_website" in entry["features"]
    # And model.tar.gz (SageMaker layout) is in the artifacts bucket under models/<tenant>/<version>/
    assert entry["artifact_key"] == f"models/t1/{version}/model.tar.gz"
    body = boto3.client("s3").get_object(Bucket=os.environ["ARTIFACTS_BUCKET"], Key=entry["artifact_key"])[
        "Body"
    ]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as tar:
        assert {"model.joblib", "metadata.json"} <= set(tar.getnames())
    # Another tenant sees none of it
    other = stack.request(
        "GET", f"/scoring-models/default/versions/{version}", claims=stack.claims("t9", "admin")
    )
    assert other.status == 404

    # When open leads change, the scoring worker predicts with the champion
    for lead in opened:
        patched = stack.request("PATCH", f"/leads/{lead.lead_id}", json_body={"tags": ["ml"]}, claims=admin)
        assert patched.status == 200, patched.text
    stack.settle()
    shown = [stack.request("GET", f"/leads/{lead.lead_id}", claims=admin).json() for lead in opened]
    for lead in shown:
        assert 0 <= lead["conversion_probability"] <= 1, lead
        assert lead["prediction_model_version"] == version
        assert lead["prediction_factors"], "no factors"
    # When one converts, its outcome is recorded against the version that scored it
    won = shown[0]
    stack.request("PATCH", f"/leads/{won['lead_id']}", json_body={"status": "Converted"}, claims=admin)
    stack.settle()
    after = stack.request("GET", f"/leads/{won['lead_id']}", claims=admin).json()
    assert after["conversion_probability"] == won["conversion_probability"]  # kept, not re-predicted
    listing = stack.request("GET", "/scoring-models/default/versions", claims=admin).json()
    assert listing["pointer"]["champion"] == version
    performance = listing["items"][0]["performance"]
    assert performance["count"] == 1 and performance["positives"] == 1
    assert performance["brier"] == pytest.approx((1 - won["conversion_probability"]) ** 2, abs=1e-3)
    json.dumps(listing)
