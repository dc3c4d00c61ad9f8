"""The compiled serving form of the scoring model gives the pipeline's probabilities (leadtide.ml.compiled)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from leadtide.ml.compiled import CompiledLeadModel, compile_model, probe_matrix
from leadtide.ml.features import FeatureSpec, lead_feature_spec, lead_record, records_to_matrix
from leadtide.ml.serving import ServingModel
from leadtide.ml.training import LeadScoringModel, reference_row

SPEC = FeatureSpec(
    numeric=["visits", "minutes", "never_set"],
    categorical=["source", "country"],
    text=["job_title", "tags"],
    boolean=["has_email"],
    labels={},
)
TITLES = ["ceo", "sales manager", "student", "owner", "marketing lead", "", "vp sales"]
SOURCES = ["web", "whatsapp", "instagram", "import", "referral"] + [f"rare{i}" for i in range(6)]


def _records(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    records, labels = [], []
    for _ in range(n):
        source = (
            SOURCES[int(rng.integers(0, 5))] if rng.random() < 0.97 else SOURCES[5 + int(rng.integers(0, 6))]
        )
        visits = float(rng.poisson(3)) if rng.random() < 0.85 else None
        record = {
            "visits": visits,
            "minutes": float(rng.exponential(10)),
            "never_set": None,
            "source": source if rng.random() < 0.9 else None,
            "country": ["BR", "MX", "US", "ES"][int(rng.integers(0, 4))],
            "job_title": TITLES[int(rng.integers(0, len(TITLES)))],
            "tags": "vip" if rng.random() < 0.2 else "",
            "has_email": bool(rng.random() < 0.6),
        }
        logit = (
            -1.0
            + 0.3 * (visits or 0)
            + (1.2 if source == "referral" else 0.0)
            + (0.8 if "ceo" in record["job_title"] else 0.0)
        )
        labels.append(int(rng.random() < 1 / (1 + math.exp(-logit))))
        records.append(record)
    return records, np.asarray(labels)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    records, y = _records(1500, seed=3)
    test_records, _ = _records(400, seed=4)
    test_records[0].update(source="never-seen-source", country=None, job_title="chief unicorn", visits=None)
    test_records[1].update(minutes=float("nan"), has_email=None)
    return records_to_matrix(records, SPEC), y, records_to_matrix(test_records, SPEC)


@pytest.mark.parametrize("boost_weight", [1.0, 0.5, 0.0])
def test_compiled_probabilities_equal_the_pipeline(data, boost_weight: float) -> None:
    x, y, x_test = data
    model = LeadScoringModel(
        SPEC,
        {"max_leaf_nodes": 7, "min_samples_leaf": 20, "l2_regularization": 1.0, "max_iter": 40},
        boost_weight,
    ).fit(x, y)
    compiled = compile_model(model, SPEC, reference_row(x, SPEC))
    assert isinstance(compiled, CompiledLeadModel)
    assert (compiled.linear is None) == (boost_weight == 1.0)
    assert (compiled.trees is None) == (boost_weight == 0.0)  # the logistic member alone has no trees
    expected = model.predict_proba(x_test)
    got = compiled.predict_proba(x_test)
    assert got.shape == expected.shape == (len(x_test), 2)
    assert np.max(np.abs(got - expected)) < 1e-12
    # the model is not constant: the comparison is over distinct probabilities
    assert np.ptp(expected[:, 1]) > 0.2


def test_compiled_trees_use_the_callers_thread_limit(data, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_limits

    x, y, x_test = data
    model = LeadScoringModel(
        SPEC, {"max_leaf_nodes": 7, "min_samples_leaf": 20, "l2_regularization": 1.0, "max_iter": 5}, 1.0
    ).fit(x, y)
    compiled = compile_model(model, SPEC, reference_row(x, SPEC))
    assert compiled is not None
    seen: list[int] = []
    predictor = type(compiled.predictors[0])
    original = predictor.predict

    def spy(self, features, bitsets, f_idx_map, n_threads):
        seen.append(n_threads)
        return original(self, features, bitsets, f_idx_map, n_threads)

    monkeypatch.setattr(predictor, "predict", spy)
    with threadpool_limits(limits=1):
        compiled.predict_proba(x_test)
    assert seen and set(seen) == {1}


def test_compiled_input_matches_the_estimators_own_preprocessing(data) -> None:
    x, y, x_test = data
    model = LeadScoringModel(
        SPEC, {"max_leaf_nodes": 7, "min_samples_leaf": 20, "l2_regularization": 1.0, "max_iter": 20}, 1.0
    ).fit(x, y)
    compiled = CompiledLeadModel(model, SPEC)
    trees = model.boosted_[-1]
    expected = trees._preprocessor.transform(model.boosted_[0].transform(x_test))
    np.testing.assert_array_equal(compiled.tree_input(x_test), expected)


def test_a_compiled_form_that_disagrees_is_refused(data, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y, _ = data
    model = LeadScoringModel(
        SPEC, {"max_leaf_nodes": 7, "min_samples_leaf": 20, "l2_regularization": 1.0, "max_iter": 20}, 0.5
    ).fit(x, y)
    original = CompiledLeadModel.predict_proba

    def off_for_unseen(self, rows):
        p = original(self, rows)
        unseen = np.array([row[SPEC.columns().index("source")] == "\x00leadtide:unseen" for row in rows])
        p[unseen, 1] += 0.01
        return p

    monkeypatch.setattr(CompiledLeadModel, "predict_proba", off_for_unseen)
    assert compile_model(model, SPEC, reference_row(x, SPEC)) is None


def test_other_models_are_not_compiled(data) -> None:
    from leadtide.ml.baselines import logistic_regression_baseline

    x, y, _ = data
    assert compile_model(logistic_regression_baseline(SPEC).fit(x, y), SPEC) is None
    assert compile_model(LeadScoringModel(SPEC), SPEC) is None  # not fitted


def test_probe_rows_cover_every_category_and_keyword(data) -> None:
    x, y, _ = data
    model = LeadScoringModel(
        SPEC, {"max_leaf_nodes": 7, "min_samples_leaf": 20, "l2_regularization": 1.0, "max_iter": 10}, 1.0
    ).fit(x, y)
    probe = probe_matrix(model, SPEC, reference_row(x, SPEC))
    source = probe[:, SPEC.columns().index("source")]
    assert set(model.boosted_[0].named_transformers_["cat"].categories_[0]) <= set(source)
    assert "\x00leadtide:unseen" in set(source)
    titles = " ".join(probe[:, SPEC.columns().index("job_title")])
    assert all(word in titles for word in model.boosted_[0].named_transformers_["text:job_title"].vocabulary_)


def _leads(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    leads, labels = [], []
    for i in range(n):
        channel = ["web_form", "whatsapp", "instagram", "import"][int(rng.integers(0, 4))]
        title = TITLES[int(rng.integers(0, len(TITLES)))]
        leads.append(
            {
                "source_channel": channel,
                "job_title": title,
                "email": f"p{i}@" + ("gmail.com" if rng.random() < 0.5 else "acme.io"),
                "message_count": int(rng.poisson(2)),
                "created_at": datetime(2025, 12, 1, tzinfo=UTC) - timedelta(days=int(rng.integers(0, 90))),
                "tags": ["vip"] if rng.random() < 0.2 else [],
            }
        )
        logit = -1.0 + 0.4 * leads[-1]["message_count"] + (1.0 if channel == "whatsapp" else 0.0)
        labels.append(int(rng.random() < 1 / (1 + math.exp(-logit))))
    return leads, np.asarray(labels)


def test_serving_model_serves_the_compiled_form() -> None:
    spec = lead_feature_spec()
    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    leads, y = _leads(1200, seed=5)
    x = records_to_matrix([lead_record(lead, as_of=as_of) for lead in leads], spec)
    model = LeadScoringModel(
        spec, {"max_leaf_nodes": 7, "min_samples_leaf": 20, "l2_regularization": 1.0, "max_iter": 30}, 0.75
    ).fit(x, y)
    serving = ServingModel(model, spec, reference_row(x, spec), {})
    assert isinstance(serving.scorer, CompiledLeadModel)
    new_leads, _ = _leads(200, seed=6)
    got = serving.probabilities(new_leads, as_of=as_of)
    expected = model.predict_proba(
        records_to_matrix([lead_record(lead, as_of=as_of) for lead in new_leads], spec)
    )[:, 1]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert np.ptp(got) > 0.2
    page = serving.score_page(new_leads[:20], as_of=as_of)
    explained = serving.predict(new_leads[:20], as_of=as_of)
    assert [round(p, 12) for p, _, _ in page] == [round(p, 12) for p, _, _ in explained]
    assert any(up or down for _, up, down in explained)
