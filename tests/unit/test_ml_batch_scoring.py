"""Batch predictive scoring: the vectorised keyword flags, one predict_proba per page with explanations only
where needed (ServingModel.score_page), and the predictor keeping stored explanations of leads whose
probability did not move."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadtide.ml.features import KeywordFlags, _words
from leadtide.ml.predictor import RegistryConversionPredictor
from leadtide.ml.serving import load_serving_model
from leadtide.ml.train_job import TrainingJob
from leadtide.models.common import LeadStatus, utc_now
from leadtide.models.scoring import Prediction
from tests.fakes import FakeLeadRepository, FakeQueue
from tests.ml_fakes import FakeArtifactStore, FakeModelRegistry, FakeTrainingData
from tests.unit.test_ml_serving import synthetic_leads


def _reference_flags(vocabulary, column):
    """The plain per-row loop: a flag per vocabulary word the row's text contains."""
    out = np.zeros((len(column), len(vocabulary)))
    for i, text in enumerate(column):
        for j, word in enumerate(vocabulary):
            out[i, j] = 1.0 if word in _words(str(text)) else 0.0
    return out


texts = (
    st.none()
    | st.sampled_from(["CEO", "vp sales", "Head of Sales", "c++ dev", "", "ceo, founder"])
    | st.text(alphabet="abc +#.-,", max_size=12)
)


@settings(max_examples=150, deadline=None)
@given(
    train=st.lists(texts, min_size=1, max_size=40),
    rows=st.lists(texts, max_size=30),
    min_count=st.integers(1, 3),
)
def test_vectorised_keyword_flags_equal_the_per_row_loop(train, rows, min_count):
    # Given flags fitted on random texts (sometimes with an empty vocabulary)
    flags = KeywordFlags(max_words=5, min_count=min_count).fit(np.array([[t] for t in train], dtype=object))
    column = np.empty((len(rows), 1), dtype=object)
    column[:, 0] = rows
    # When a batch (with repeated texts, None and non-words) is transformed
    got = flags.transform(column)
    # Then it is the per-row result, shape and dtype included
    assert got.dtype == np.float64 and got.shape == (len(rows), len(flags.vocabulary_))
    assert np.array_equal(got, _reference_flags(flags.vocabulary_, rows))


@pytest.fixture(scope="module")
def world():
    from leadtide.ml import training

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "GRID", training.GRID[:1], raising=False)
        patch.setattr(training, "MAX_ITER", 60, raising=False)
        registry, artifacts, leads_repo = FakeModelRegistry(), FakeArtifactStore(), FakeLeadRepository()
        closed = synthetic_leads("t1", 300)
        for lead in closed:
            leads_repo.create_lead(lead, [])
        job = TrainingJob(registry, artifacts, FakeTrainingData(closed), leads_repo, FakeQueue())
        queued = job.service.create_queued_version("t1", "sm1", requested_by="u1")
        version = job.train("t1", queued.model_version, "sm1")
    model = load_serving_model(artifacts.get(version.artifact_key))
    return registry, artifacts, version, model


def _open(n: int, seed: int = 11) -> list[dict]:
    return [
        lead.model_dump(mode="json") for lead in synthetic_leads("t1", n, seed=seed, status=LeadStatus.NEW)
    ]


def test_score_page_explains_only_the_selected_leads_exactly_as_predict_does(world):
    _, _, _, model = world
    leads, now = _open(40), utc_now()
    full = model.predict(leads, as_of=now)
    # When every lead is selected, the page result is predict()'s
    assert model.score_page(leads, as_of=now) == full
    # When only the odd leads are selected
    page = model.score_page(leads, as_of=now, explain=lambda i, p: i % 2 == 1)
    probabilities = model.probabilities(leads, as_of=now)
    for i, (p, up, down) in enumerate(page):
        assert p == pytest.approx(probabilities[i], abs=1e-12) and p == pytest.approx(full[i][0], abs=1e-12)
        if i % 2:
            assert (up, down) == (full[i][1], full[i][2])  # same factors as a full explanation
        else:
            assert up is None and down is None  # not explained: the caller keeps what it has


def _predictor(registry, artifacts, **kw) -> RegistryConversionPredictor:
    return RegistryConversionPredictor(registry, artifacts, **kw)


def _stored(lead: dict, prediction: Prediction, **changes) -> dict:
    factors = [f.model_dump(mode="json") for f in (*prediction.factors_up, *prediction.factors_down)]
    return (
        lead
        | {
            "conversion_probability": round(prediction.probability, 4),
            "prediction_model_version": prediction.model_version,
            "prediction_factors": factors,
        }
        | changes
    )


def test_predictor_keeps_stored_explanations_of_leads_that_did_not_move(world):
    registry, artifacts, version, _ = world
    leads = _open(30)
    # Given last night's predictions stored on the leads (fresh explanations for everyone)
    first = _predictor(registry, artifacts, explain_refresh_days=0)
    night1 = first.predict("t1", leads)
    assert first.explained == 30 and first.explanations_kept == 0
    marker = {"field": "marker", "label": "stored", "value": None, "impact": 9.0}
    stored = [_stored(lead, p, prediction_factors=[marker]) for lead, p in zip(leads, night1, strict=True)]
    # ... one lead whose stored probability is far from today's, one stored by another model version,
    # one without stored factors
    p0 = night1[0].probability
    stored[0]["conversion_probability"] = p0 + 0.5 if p0 < 0.5 else p0 - 0.5
    stored[1]["prediction_model_version"] = "older"
    stored[2].pop("prediction_factors")
    # When the page is scored again
    predictor = _predictor(registry, artifacts, explain_refresh_days=0)
    night2 = predictor.predict("t1", stored)
    # Then the three get fresh factors, every other lead keeps its stored ones with the new probability
    assert predictor.explained == 3 and predictor.explanations_kept == 27
    for i, (before, after) in enumerate(zip(night1, night2, strict=True)):
        assert after.probability == pytest.approx(before.probability, abs=1e-9)
        assert after.model_version == version.model_version
        if i < 3:
            assert (after.factors_up, after.factors_down) == (before.factors_up, before.factors_down)
        else:
            assert [f.field for f in after.factors_up] == ["marker"] and after.factors_down == []
    # A negative threshold explains everyone; refresh every day explains everyone too
    everyone = _predictor(registry, artifacts, explain_threshold=-1)
    everyone.predict("t1", stored)
    daily = _predictor(registry, artifacts, explain_refresh_days=1)
    daily.predict("t1", stored)
    assert everyone.explained == daily.explained == 30


def test_each_lead_is_explained_afresh_on_one_day_in_every_refresh_period(world):
    registry, artifacts, _, _ = world
    leads = _open(70, seed=5)
    night1 = _predictor(registry, artifacts).predict("t1", leads)
    stored = [_stored(lead, p) for lead, p in zip(leads, night1, strict=True)]
    predictor = _predictor(registry, artifacts, explain_refresh_days=7)
    predictor.predict("t1", stored)
    # Unmoved leads are re-explained only on their refresh day: those whose CRC-32 bucket is today's
    today = utc_now().toordinal()
    due = sum(1 for lead in leads if (today + zlib.crc32(lead["lead_id"].encode())) % 7 == 0)
    assert 1 <= due <= 25  # about a seventh of 70
    assert predictor.explained == due and predictor.explained + predictor.explanations_kept == 70
