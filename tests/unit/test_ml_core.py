"""Unit tests of the predictive-scoring core: features, split, training, baselines, explanations, artifacts."""

from __future__ import annotations

import io
import json
import math
import tarfile
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leadtide.ml import training
from leadtide.ml.artifacts import ModelArtifactError, load_model, package_model, read_metadata
from leadtide.ml.baselines import OdooNaiveBayes, logistic_regression_baseline
from leadtide.ml.benchmark import MARK_END, MARK_START, write_section
from leadtide.ml.evaluation import (
    calibration_table,
    evaluate,
    expected_calibration_error,
    rolling_origin,
    split,
)
from leadtide.ml.explain import explain_batch
from leadtide.ml.features import (
    MISSING,
    FeatureSpec,
    lead_feature_spec,
    lead_record,
    records_to_matrix,
)
from leadtide.models.errors import InsufficientTrainingDataError

SPEC = FeatureSpec(
    numeric=["visits", "noise"],
    categorical=["source"],
    text=["job_title"],
    boolean=["has_phone"],
    labels={"visits": "Website visits", "source": "Lead source"},
)


def synthetic(n: int = 500, seed: int = 1) -> tuple[list[dict], list[int], list[datetime]]:
    """Leads whose conversion depends on visits, source and 'director' titles; noise is irrelevant."""
    rng = np.random.default_rng(seed)
    records, labels, stamps = [], [], []
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n):
        visits = float(rng.integers(0, 20))
        source = str(rng.choice(["Reference", "Google", "Olark"]))
        director = bool(rng.random() < 0.3)
        logit = (
            -2.0 + 0.25 * visits + {"Reference": 1.5, "Google": 0.0, "Olark": -1.0}[source] + 1.2 * director
        )
        labels.append(int(rng.random() < 1 / (1 + math.exp(-logit))))
        records.append(
            {
                "visits": visits,
                "noise": float(rng.normal()),
                "source": source,
                "job_title": "Sales Director" if director else str(rng.choice(["Analyst", "Clerk", ""])),
                "has_phone": bool(rng.random() < 0.5),
            }
        )
        stamps.append(start + timedelta(hours=i))
    return records, labels, stamps


@pytest.fixture(autouse=True)
def small_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep training fast: one grid point, fewer iterations (the tuning logic itself still runs).
    monkeypatch.setattr(training, "GRID", training.GRID[:1])
    monkeypatch.setattr(training, "MAX_ITER", 60)


@pytest.fixture(scope="module")
def trained() -> training.TrainedModel:
    records, labels, stamps = synthetic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "GRID", training.GRID[:1])
        patch.setattr(training, "MAX_ITER", 60)
        return training.train_model(records, labels, SPEC, timestamps=stamps)


# ------------------------------------------------------------------------------------------ features
def test_records_to_matrix_coerces_each_kind() -> None:
    # Given records with strings, blanks and absent fields
    records = [
        {
            "visits": "1,450",
            "noise": "x",
            "source": " Google ",
            "job_title": "Head of Sales",
            "has_phone": "yes",
        },
        {"source": "", "has_phone": 0},
    ]
    # When converted
    x = records_to_matrix(records, SPEC)
    # Then numbers, booleans, categories and text follow the documented rules
    assert SPEC.columns() == ["visits", "noise", "has_phone", "source", "job_title"]
    assert x[0, 0] == 1450.0 and math.isnan(x[0, 1]) and x[0, 2] == 1.0
    assert x[0, 3] == "Google" and x[0, 4] == "head of sales"
    assert math.isnan(x[1, 0]) and x[1, 2] == 0.0 and x[1, 3] == MISSING and x[1, 4] == ""


def test_lead_features_derive_fields_and_exclude_status() -> None:
    # Given a stored lead with a business email, a Brazilian phone and custom fields
    now = datetime(2025, 3, 10, tzinfo=UTC)
    lead = {
        "lead_id": "a" * 32,
        "status": "Converted",
        "source_channel": "whatsapp",
        "email": "ana@acme-industrial.com.br",
        "phone": "+5511987654321",
        "name": "Ana",
        "job_title": "Founder & CEO",
        "message_count": 4,
        "created_at": "2025-03-01T00:00:00Z",
        "last_activity_at": now - timedelta(days=2),
        "score_breakdown": [
            {"factor": "engagement.inbound_messages", "points": 20},
            {"factor": "ml.x", "points": 9},
        ],
        "tags": ["vip"],
        "custom_fields": {"budget": "1200", "segment": "retail", "signed_on": "2025-03-05"},
    }
    types = {"budget": "number", "segment": "select", "signed_on": "date", "site": "url"}
    # When the record and spec are derived
    record = lead_record(lead, as_of=now, custom_field_types=types)
    spec = lead_feature_spec(types)
    # Then the derived values are right and leakage fields are absent
    assert record["email_type"] == "business" and record["country"] == "BR" and record["seniority"] == "owner"
    assert record["days_since_created"] == pytest.approx(9.0) and record[
        "days_since_last_activity"
    ] == pytest.approx(2.0)
    assert record["rule_score"] == 20  # the model's own ml.* factors are not fed back
    assert record["custom.budget"] == "1200" and record["custom.signed_on"] == pytest.approx(5.0)
    assert "status" not in spec.columns() and "owner_id" not in spec.columns()
    assert "custom.budget" in spec.numeric and "custom.segment" in spec.categorical
    assert "custom.site" not in spec.columns()
    assert lead_record({"email": "x@gmail.com"}, as_of=now)["email_type"] == "free"
    assert lead_record({"email": "x@mailinator.com"}, as_of=now)["email_type"] == "disposable"


# ------------------------------------------------------------------------------------------ split / metrics
def test_time_split_puts_the_latest_leads_in_the_test_set() -> None:
    # Given leads in shuffled time order
    rng = np.random.default_rng(3)
    stamps = [datetime(2024, 1, 1) + timedelta(days=int(d)) for d in rng.permutation(100)]
    labels = [i % 2 for i in range(100)]
    # When split
    train_idx, test_idx = split(list(range(100)), labels, stamps)
    # Then the 20 latest are the test set
    assert len(test_idx) == 20 and len(train_idx) == 80
    assert min(stamps[i] for i in test_idx) > max(stamps[i] for i in train_idx)


def test_rolling_origin_trains_each_block_on_everything_before_it() -> None:
    # Given leads in shuffled time order
    rng = np.random.default_rng(4)
    stamps = [datetime(2024, 1, 1) + timedelta(days=int(d)) for d in rng.permutation(103)]
    # When cut into rolling-origin folds
    folds = rolling_origin(stamps, blocks=4)
    # Then the blocks tile split()'s test part in time order
    _, test_idx = split(list(range(103)), [0] * 103, stamps)
    blocks = [test for _, test in folds]
    assert sorted(np.concatenate(blocks).tolist()) == sorted(test_idx.tolist())
    assert [len(b) for b in blocks] == [6, 5, 5, 5]
    for (train, test), (next_train, _) in zip(folds, [*folds[1:], (None, None)], strict=True):
        # and each block trains on every earlier lead and no later one
        assert max(stamps[i] for i in train) < min(stamps[i] for i in test)
        assert len(train) + len(test) == (len(next_train) if next_train is not None else 103)
    with pytest.raises(ValueError, match="blocks"):
        rolling_origin(stamps, blocks=0)


def test_stratified_split_without_timestamps_keeps_the_rate_and_is_seeded() -> None:
    labels = [1] * 30 + [0] * 70
    a = split(labels, labels, None)
    b = split(labels, labels, None)
    assert np.array_equal(a[1], b[1]) and len(a[1]) == 20
    assert sum(labels[i] for i in a[1]) == 6


def test_calibration_table_and_ece_by_hand() -> None:
    # Given predictions 0.15 (x2, 1 converted) and 0.85 (x2, 2 converted)
    y = np.array([0, 1, 1, 1])
    p = np.array([0.15, 0.15, 0.85, 0.85])
    table = calibration_table(y, p)
    # Then two bins with observed 0.5 and 1.0: ECE = (2*0.35 + 2*0.15) / 4 = 0.25
    assert [(r["observed_rate"], r["count"]) for r in table] == [(0.5, 2), (1.0, 2)]
    assert expected_calibration_error(table) == pytest.approx(0.25)


# ------------------------------------------------------------------------------------------ training
def test_training_learns_a_signal(trained: training.TrainedModel) -> None:
    # Then the held-out ROC AUC is far above chance and the report is complete
    m = trained.metrics
    assert m.roc_auc > 0.75
    assert m.split == "time" and m.train_rows == 400 and m.test_rows == 100
    assert m.positives + m.negatives == 100 and 0 <= m.ece < 0.2 and 0 < m.brier < 0.25
    assert trained.training_rows == 500 and trained.date_range == ("2024-01-01", "2024-01-21")
    assert set(trained.library_versions) == {"python", "scikit-learn", "numpy", "scipy", "joblib"}


def _drifting(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Leads whose conversion rises linearly with ``visits``, which grows with time: every later lead has
    more visits than any earlier one (trees cannot extrapolate, a linear model can); nothing else varies."""
    rng = np.random.default_rng(seed)
    records, labels, stamps = [], [], []
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n):
        visits = 20.0 * i / n
        labels.append(int(rng.random() < 1 / (1 + math.exp(-0.2 * (visits - 10.0)))))
        records.append(
            {"visits": visits, "noise": 0.0, "source": "Google", "job_title": "", "has_phone": True}
        )
        stamps.append(start + timedelta(hours=i))
    return records_to_matrix(records, SPEC), np.asarray(labels), stamps


def test_tuning_falls_back_to_the_logistic_member_when_the_trees_do_not_help() -> None:
    # Given leads whose signal is a linear trend that keeps moving out of the range seen before
    x, y, stamps = _drifting(2000, seed=11)
    # When tuned on time-ordered validation
    tuned = training.tune(x, y, SPEC, stamps)
    # Then no blend validated better than the logistic member alone: weight 0, no trees
    assert tuned["validation_blocks"] == 2 and tuned["blocks_below_chance"] == 0
    assert tuned["boost_weight"] == 0.0
    assert tuned["validation_roc_auc"] == tuned["logistic_validation_roc_auc"] > 0.5
    model = training.LeadScoringModel(SPEC, tuned["params"], tuned["boost_weight"]).fit(x, y)
    assert model.boosted_ is None and model.linear_ is not None
    expected = model.linear_.predict_proba(x[:50])[:, 1]
    np.testing.assert_allclose(model.predict_proba(x[:50])[:, 1], expected)


def _block(y: list[int], linear: list[float], *trees: list[float]) -> training.ValidationBlock:
    """A validation block with one grid point whose trees have one checkpoint per ``trees`` entry."""
    return training.ValidationBlock(np.asarray(y), np.asarray(linear), [np.asarray(trees, dtype=float)])


def test_a_blend_below_the_logistic_member_or_chance_on_any_block_is_not_chosen() -> None:
    grid = [{"max_leaf_nodes": 7}]
    y = [0, 0, 0, 1, 1, 1]
    # Given trees that win the mean by far (1.0 and 6/9 against 5/9 and 1.0) but lose to the logistic
    # member on the second block
    good = _block(y, [0.5, 0.2, 0.6, 0.4, 0.3, 0.7], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    worse = _block(y, [0.10, 0.11, 0.12, 0.13, 0.14, 0.15], [0.1, 0.1, 0.9, 0.1, 0.1, 0.1])
    auc, weight, params, iterations = training.select_blend([good, worse], grid, [10])
    # Then the logistic member alone is kept
    assert (weight, params, iterations) == (0.0, None, None)
    assert auc == round((5 / 9 + 1.0) / 2, 4)
    # Given a block where the logistic member ranks below chance: the trees must reach 0.5 there, not
    # just beat it
    low = _block(y, [0.9, 0.8, 0.7, 0.1, 0.2, 0.3], [0.5, 0.6, 0.7, 0.4, 0.6, 0.65])
    assert training.select_blend([good, low], grid, [10])[1] == 0.0


def _scored_block(rng: np.random.Generator, n: int, linear_signal: float, *tree_signals: float):
    """A block of ``n`` rows whose members score the label with the given strengths (plus noise)."""
    y = (rng.random(n) < 0.3).astype(int)

    def scores(signal: float) -> list[float]:
        return (1 / (1 + np.exp(-(signal * y + rng.normal(0, 1, n))))).tolist()

    return _block(y.tolist(), scores(linear_signal), *(scores(s) for s in tree_signals))


def test_more_trees_must_be_clearly_better_to_be_chosen() -> None:
    rng = np.random.default_rng(21)
    grid = [{"max_leaf_nodes": 7, "min_samples_leaf": 20}]
    # Given trees that help clearly from their second checkpoint on: a blend with them is chosen
    blocks = [_scored_block(rng, 600, 0.6, 0.0, 2.5) for _ in range(2)]
    auc, weight, params, iterations = training.select_blend(blocks, grid, [10, 20])
    assert weight > 0.0 and params == grid[0] and iterations == 20
    assert auc > float(np.mean([roc_auc_score(b.y, b.linear) for b in blocks])) + 0.05
    # Given trees that know nothing (pure noise), on validation rows where a blend with them still comes
    # out ahead of the logistic member on every block, by chance
    rng = np.random.default_rng(52)
    noisy = [_scored_block(rng, 300, 1.0, 0.0) for _ in range(2)]
    linear = [roc_auc_score(b.y, b.linear) for b in noisy]
    lucky = [roc_auc_score(b.y, 0.1 * b.trees[0][0] + 0.9 * b.linear) for b in noisy]
    assert all(a >= b for a, b in zip(lucky, linear, strict=True)) and np.mean(lucky) > np.mean(linear)
    # Then the gain is within one standard error: the logistic member alone is kept
    assert training.select_blend(noisy, grid, [10])[1] == 0.0


def test_auc_difference_variance_matches_the_bootstrap() -> None:
    rng = np.random.default_rng(22)
    y = (rng.random(400) < 0.3).astype(int)
    p = y * 0.8 + rng.normal(0, 1, 400)
    q = 0.5 * y + 0.5 * p + rng.normal(0, 1, 400)
    assert training.auc_difference_variance(y, p, p) == 0.0
    diffs = []
    for _ in range(400):
        i = rng.integers(0, 400, 400)
        diffs.append(roc_auc_score(y[i], p[i]) - roc_auc_score(y[i], q[i]))
    assert math.sqrt(training.auc_difference_variance(y, p, q)) == pytest.approx(np.std(diffs), rel=0.2)


def test_validation_blocks_below_chance_are_not_used_to_choose() -> None:
    # Given leads whose outcome reverses for the whole validation period
    records, labels, stamps = synthetic(1500, seed=12)
    x, y = records_to_matrix(records, SPEC), np.asarray(labels)
    late = np.arange(len(y)) >= 1200
    y[late] = 1 - y[late]
    # When tuned
    tuned = training.tune(x, y, SPEC, stamps)
    # Then a block the logistic member ranks below chance is counted and left out of the choice
    assert tuned["blocks_below_chance"] >= 1
    assert tuned["validation_blocks"] + tuned["blocks_below_chance"] == 2
    if tuned["validation_blocks"] == 0:
        assert tuned["boost_weight"] == 0.0 and tuned["validation_roc_auc"] < 0.5


def test_a_chosen_blend_never_validates_below_the_logistic_member_or_chance() -> None:
    # Given leads with an interaction trees can learn (director titles convert only from Reference)
    records, labels, stamps = synthetic(1500, seed=13)
    for record, i in zip(records, range(len(records)), strict=True):
        record["noise"] = float(i % 7)
    x, y = records_to_matrix(records, SPEC), np.asarray(labels)
    tuned = training.tune(x, y, SPEC, stamps)
    # Then whatever is chosen validated at least as well as the logistic member alone and above chance
    assert tuned["validation_roc_auc"] >= max(tuned["logistic_validation_roc_auc"], 0.5)
    assert 0.0 <= tuned["boost_weight"] <= 1.0 and tuned["validation_blocks"] == 2


def test_tuning_keeps_the_trees_when_they_help() -> None:
    # Given a threshold-and-interaction signal a linear model cannot represent
    rng = np.random.default_rng(14)
    records, labels = [], []
    for _ in range(1600):
        visits = float(rng.integers(0, 20))
        source = str(rng.choice(["Reference", "Google", "Olark"]))
        hit = (visits >= 12) == (source == "Reference")
        labels.append(int(rng.random() < (0.8 if hit else 0.15)))
        records.append(
            {"visits": visits, "noise": 0.0, "source": source, "job_title": "", "has_phone": False}
        )
    x, y = records_to_matrix(records, SPEC), np.asarray(labels)
    # When tuned without dates (one stratified validation split)
    tuned = training.tune(x, y, SPEC, None)
    # Then the trees carry the blend
    assert tuned["boost_weight"] >= 0.5 and tuned["half_life_days"] is None
    assert tuned["validation_roc_auc"] > tuned["logistic_validation_roc_auc"] + 0.05


def test_recency_weights_halve_per_half_life_from_the_newest_lead() -> None:
    stamps = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=d) for d in (0, 10, 20)]
    np.testing.assert_allclose(training.recency_weights(stamps, 10.0), [0.25, 0.5, 1.0])
    assert training.recency_weights(stamps, None) is None and training.recency_weights(None, 5.0) is None


def test_selection_never_reads_the_held_out_leads() -> None:
    # Given the same leads twice, the second time with every held-out label reversed
    records, labels, stamps = synthetic(600, seed=15)
    _, test_idx = split(records, labels, stamps)
    flipped = list(labels)
    for i in test_idx:
        flipped[i] = 1 - flipped[i]
    # When trained without the final refit
    a = training.train_model(records, labels, SPEC, timestamps=stamps, refit=False)
    b = training.train_model(records, flipped, SPEC, timestamps=stamps, refit=False)
    # Then the chosen configuration and the fitted model are the same; only the held-out report differs
    drop = ("fit_seconds",)
    assert {k: v for k, v in a.params.items() if k not in drop} == {
        k: v for k, v in b.params.items() if k not in drop
    }
    x = records_to_matrix(records, SPEC)
    np.testing.assert_array_equal(a.pipeline.predict_proba(x), b.pipeline.predict_proba(x))
    assert a.metrics.roc_auc > 0.75 > b.metrics.roc_auc


def test_training_refuses_too_few_outcomes() -> None:
    records, labels, _ = synthetic(200)
    labels = [0] * 171 + [1] * 29
    with pytest.raises(InsufficientTrainingDataError) as raised:
        training.train_model(records, labels, SPEC)
    error = raised.value
    assert error.status_code == 422 and error.code == "insufficient_training_data"
    assert "29 converted and 171 lost" in error.message and "at least 30 converted" in error.message


def test_logistic_baseline_learns_the_same_signal() -> None:
    records, labels, _ = synthetic(600, seed=5)
    x, y = records_to_matrix(records, SPEC), np.asarray(labels)
    model = logistic_regression_baseline(SPEC).fit(x[:450], y[:450])
    assert evaluate(model, x[450:], y[450:]).roc_auc > 0.75


# ------------------------------------------------------------------------------------------ Odoo naive Bayes
def test_odoo_naive_bayes_matches_a_hand_computed_example() -> None:
    # Given 4 closed leads: (A, phone) won, (A, no phone) won, (B, phone) lost, (A, phone) lost
    spec = FeatureSpec(categorical=["src"], boolean=["phone"])
    x = records_to_matrix(
        [
            {"src": "A", "phone": 1},
            {"src": "A", "phone": 0},
            {"src": "B", "phone": 1},
            {"src": "A", "phone": 1},
        ],
        spec,
    )
    nb = OdooNaiveBayes(kinds=["boolean", "categorical"]).fit(x, [1, 1, 0, 0])
    # Counts +0.1: src A (2.1 won, 1.1 lost), B (0.1, 1.1); phone 1 (1.1, 2.1), 0 (1.1, 0.1); totals 2.2 each
    probe = records_to_matrix([{"src": "A", "phone": 0}, {"src": "B"}, {"src": "C", "phone": 1}], spec)
    p = nb.predict_proba(probe)[:, 1]
    # (A, no phone): 2.1*1.1 / (2.1*1.1 + 1.1*0.1); (B, unset phone): 0.1/1.2; (unseen C, phone): 1.1/3.2
    assert p == pytest.approx([2.31 / 2.42, 0.1 / 1.2, 1.1 / 3.2])


# ------------------------------------------------------------------------------------------ explanations
def test_explanations_name_the_driving_field_with_the_right_sign(trained: training.TrainedModel) -> None:
    # Given a lead with many visits, one with none, and a typical one who came by reference
    x = records_to_matrix(
        [
            {"visits": 19, "noise": 0.0, "source": "Google", "job_title": "", "has_phone": 1},
            {"visits": 0, "noise": 0.0, "source": "Google", "job_title": "", "has_phone": 1},
            {"visits": 9, "noise": 0.0, "source": "Reference", "job_title": "", "has_phone": 1},
        ],
        SPEC,
    )
    hot, cold, referred = explain_batch(trained.pipeline, x, SPEC, trained.reference_row, top=3)
    # Then visits push the first up and the second down, in plain words
    assert hot.probability > cold.probability
    assert "visits" in [f.field for f in hot.up] and all(f.points > 0 for f in hot.up)
    assert "visits" in [f.field for f in cold.down] and all(f.points < 0 for f in cold.down)
    up = next(f for f in hot.up if f.field == "visits")
    assert up.text.startswith("Website visits: 19 (+") and "pts of probability" in up.text
    assert [f.value for f in referred.up][:1] == ["Lead source = Reference"] and not referred.down


# ------------------------------------------------------------------------------------------ artifacts
def _tarball(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return out.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_artifact_round_trip_scores_the_same(trained: training.TrainedModel) -> None:
    records, _, _ = synthetic(50, seed=9)
    data = package_model(trained)
    loaded = load_model(data)
    x = records_to_matrix(records, loaded.spec)
    assert np.allclose(loaded.pipeline.predict_proba(x), trained.pipeline.predict_proba(x))
    meta = read_metadata(data)
    assert meta["training_rows"] == 500 and meta["features"]["numeric"] == ["visits", "noise"]
    assert meta["metrics"]["roc_auc"] == pytest.approx(trained.metrics.roc_auc)
    assert meta["library_versions"]["scikit-learn"] == trained.library_versions["scikit-learn"]
    assert sorted(_members(data)) == ["metadata.json", "model.joblib"]


def test_artifact_refuses_tampering_version_mismatch_and_traversal(trained: training.TrainedModel) -> None:
    members = _members(package_model(trained))
    meta = json.loads(members["metadata.json"])
    # A modified pickle no longer matches its sha256
    with pytest.raises(ModelArtifactError, match="sha256"):
        load_model(_tarball({**members, "model.joblib": members["model.joblib"] + b"x"}))
    # Another scikit-learn minor version is refused, naming both versions
    other = {**meta, "library_versions": {**meta["library_versions"], "scikit-learn": "1.0.2"}}
    with pytest.raises(ModelArtifactError, match=r"scikit-learn 1\.0\.2 \(running"):
        load_model(_tarball({**members, "metadata.json": json.dumps(other).encode()}))
    # Path traversal, extra members and links are refused before anything is unpickled
    for bad in (
        _tarball({**members, "../evil.py": b"x"}),
        _tarball({"metadata.json": members["metadata.json"], "sub/model.joblib": members["model.joblib"]}),
        _tarball(members, symlink="model.joblib.link"),
        _tarball({"metadata.json": members["metadata.json"]}),
        b"not a tarball",
    ):
        with pytest.raises(ModelArtifactError):
            load_model(bad)


# ------------------------------------------------------------------------------------------ benchmark doc
def test_write_section_replaces_only_the_ml_markers(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        f"# B\n\n<!-- bench:capture -->\nkeep\n<!-- /bench:capture -->\n\n{MARK_START}\nold\n{MARK_END}\n"
    )
    write_section(doc, f"{MARK_START}\nnew\n{MARK_END}")
    text = doc.read_text()
    assert "keep" in text and "new" in text and "old" not in text


@pytest.mark.parametrize(
    ("phone", "country"),
    [("+5511987654321", "BR"), ("+1abc", None), ("+999999999999999999999", None), ("5511987654321", None)],
)
def test_a_phone_that_does_not_parse_simply_has_no_country(phone, country):
    record = lead_record({"lead_id": "a" * 32, "phone": phone}, as_of=datetime(2025, 3, 10, tzinfo=UTC))
    assert record["country"] == country
