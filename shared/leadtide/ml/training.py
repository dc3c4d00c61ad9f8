"""Training Leadtide's predictive lead-scoring model: histogram gradient boosting with native categories.

``train_model`` splits the leads (latest 20 % by time held out when timestamps exist, else stratified;
see :mod:`leadtide.ml.evaluation`), tunes on a validation split carved out of the *training* part only (the
held-out test set is never looked at while choosing), reports held-out metrics, then (by default) refits
the chosen configuration on every lead for the artifact.

Model: scikit-learn's ``HistGradientBoostingClassifier`` (log loss, no class weights so probabilities
stay calibrated) over :func:`~leadtide.ml.features.build_preprocessor` output, with categorical fields
handled natively (Fisher-style optimal category splits) and missing values routed by the trees.
Hyperparameters: a 6-point grid over tree size and leaf size at learning rate 0.05, the number of
boosting iterations picked on the validation split from the staged predictions (ROC AUC, evaluated every
10 iterations). Scoring a lead costs one pass through ~100-300 shallow trees: well under a millisecond.
The choice against logistic regression and Odoo-style naive Bayes is measured by
``leadtide model evaluate`` (docs/benchmarks.md, section ``bench:ml``).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from leadtide.ml.baselines import logistic_regression_baseline
from leadtide.ml.evaluation import EvaluationReport, evaluate, split, split_kind
from leadtide.ml.features import (
    FeatureSpec,
    build_preprocessor,
    categorical_output_mask,
    records_to_matrix,
)
from leadtide.models.errors import InsufficientTrainingDataError

MIN_POSITIVES = 30
"""Converted leads needed to train. With 20 % held out, 30 leaves ~6 in the test set: below that the ROC
AUC's standard error (Hanley & McNeil 1982) passes ~0.1 and the report is noise, and the model has too few
examples to learn more than the base rate. (Odoo needs no minimum but shows the prior until it has data.)"""

MIN_NEGATIVES = 30
"""Lost leads needed to train (same reasoning as ``MIN_POSITIVES``)."""

LEARNING_RATE = 0.05
MAX_ITER = 300
GRID: tuple[dict[str, Any], ...] = tuple(
    {"max_leaf_nodes": leaves, "min_samples_leaf": leaf, "l2_regularization": 1.0}
    for leaves in (7, 15, 31)
    for leaf in (20, 100)
)
DEFAULT_PARAMS: dict[str, Any] = {"max_leaf_nodes": 15, "min_samples_leaf": 20, "l2_regularization": 1.0}
DEFAULT_ITER = 100
BOOST_WEIGHTS = (0.25, 0.5, 0.75, 1.0)
"""Candidate weights of the boosted trees in :class:`LeadScoringModel` (the rest is logistic regression)."""
DEFAULT_BOOST_WEIGHT = 0.5
TRAINING_THREADS = 1
"""OpenMP threads for the boosted trees. One: Lambda gives 1-2 vCPUs, and OpenMP's busy-waiting threads
slow training down many times over when the CPU is shared (measured: a 7 s fit took over 5 minutes)."""
MIN_VALIDATION_CLASS = 10
"""Tuning needs this many of each class in the validation split; otherwise defaults are used."""


@dataclass
class TrainedModel:
    """A fitted scoring pipeline with what is needed to ship and explain it.

    Attributes:
        pipeline: the fitted :class:`LeadScoringModel`, taking the :func:`records_to_matrix` object
            array; ``predict_proba(x)[:, 1]`` is P(converted).
        spec: the feature spec the pipeline reads.
        metrics: held-out evaluation (computed before any refit on all rows).
        training_rows: rows the shipped pipeline was fitted on.
        date_range: ``(first, last)`` ISO dates of the training leads, or None without timestamps.
        library_versions: python, scikit-learn, numpy, scipy, joblib versions at training time.
        trained_at: ISO-8601 UTC.
        params: chosen hyperparameters (incl. ``max_iter``) and tuning details.
        reference_row: per field, the training median (numbers) or most frequent value (categories,
            booleans) or ``""`` (text): the baseline explanations compare against.
    """

    pipeline: LeadScoringModel
    spec: FeatureSpec
    metrics: EvaluationReport
    training_rows: int
    date_range: tuple[str, str] | None
    library_versions: dict[str, str]
    trained_at: str
    params: dict[str, Any] = field(default_factory=dict)
    reference_row: list[Any] = field(default_factory=list)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a pickled pipeline depends on."""
    import joblib
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def check_training_data(labels: Sequence[int]) -> None:
    """Raise :class:`InsufficientTrainingDataError` unless there are enough converted and lost leads."""
    positives = int(sum(1 for y in labels if y))
    negatives = len(labels) - positives
    if positives >= MIN_POSITIVES and negatives >= MIN_NEGATIVES:
        return
    raise InsufficientTrainingDataError(
        f"Training needs at least {MIN_POSITIVES} converted and {MIN_NEGATIVES} lost leads; "
        f"there are {positives} converted and {negatives} lost.",
        details=[
            {"field": "converted", "count": positives, "needed": MIN_POSITIVES},
            {"field": "lost", "count": negatives, "needed": MIN_NEGATIVES},
        ],
    )


def reference_row(x: np.ndarray, spec: FeatureSpec) -> list[Any]:
    """Typical value per field of a training matrix (see :attr:`TrainedModel.reference_row`)."""
    row: list[Any] = []
    for j, name in enumerate(spec.columns()):
        kind = spec.kind_of(name)
        col = x[:, j]
        if kind == "numeric":
            values = np.asarray(col, dtype=float)
            values = values[~np.isnan(values)]
            row.append(float(np.median(values)) if len(values) else float("nan"))
        elif kind in ("boolean", "categorical"):
            keys = [("nan" if isinstance(v, float) and v != v else v) for v in col]
            uniques, counts = np.unique(np.asarray(keys, dtype=str), return_counts=True)
            mode = str(uniques[int(np.argmax(counts))]) if len(uniques) else ""
            row.append((float("nan") if mode == "nan" else float(mode)) if kind == "boolean" else mode)
        else:
            row.append("")
    return row


def _classifier(spec: FeatureSpec, params: Mapping[str, Any], n_rows: int, random_state: int) -> Any:
    p = dict(params)
    p["min_samples_leaf"] = max(5, min(int(p["min_samples_leaf"]), n_rows // 20))
    mask = categorical_output_mask(spec)
    return HistGradientBoostingClassifier(
        learning_rate=LEARNING_RATE,
        max_iter=int(p.pop("max_iter", MAX_ITER)),
        early_stopping=False,
        categorical_features=mask or None,
        random_state=random_state,
        **p,
    )


def _pipeline(spec: FeatureSpec, params: Mapping[str, Any], n_rows: int, random_state: int) -> Pipeline:
    return Pipeline(
        [("features", build_preprocessor(spec)), ("model", _classifier(spec, params, n_rows, random_state))]
    )


class LeadScoringModel(ClassifierMixin, BaseEstimator):
    """Leadtide's scoring model: ``boost_weight`` x gradient boosting + the rest x logistic regression.

    Both members read the :func:`records_to_matrix` object array. The average of two probabilistic
    models keeps probabilities on the same scale; the linear member adds smooth trends (and
    extrapolation) that trees cannot represent, the trees add interactions and thresholds. The weight is
    chosen on the validation split (``tune``); at ``boost_weight=1`` the linear member is not fitted.

    Args:
        spec: the features.
        params: boosting hyperparameters (``max_leaf_nodes``, ``min_samples_leaf``,
            ``l2_regularization``, ``max_iter``).
        boost_weight: 0 < w <= 1.
        random_state: seed.
    """

    def __init__(
        self,
        spec: FeatureSpec | None = None,
        params: Mapping[str, Any] | None = None,
        boost_weight: float = 1.0,
        random_state: int = 0,
    ):
        self.spec = spec
        self.params = params
        self.boost_weight = boost_weight
        self.random_state = random_state

    def fit(self, x: np.ndarray, y: Sequence[int] | np.ndarray) -> LeadScoringModel:
        spec = self.spec or FeatureSpec()
        params = dict(self.params or {**DEFAULT_PARAMS, "max_iter": DEFAULT_ITER})
        y = np.asarray(y, dtype=int)
        self.classes_ = np.array([0, 1])
        self.boosted_ = _pipeline(spec, params, len(y), self.random_state).fit(x, y)
        self.linear_ = None
        if self.boost_weight < 1.0:
            self.linear_ = logistic_regression_baseline(spec, self.random_state).fit(x, y)
        self.n_features_in_ = len(spec.columns())
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.boosted_.predict_proba(x)[:, 1]
        if self.linear_ is not None:
            p = self.boost_weight * p + (1.0 - self.boost_weight) * self.linear_.predict_proba(x)[:, 1]
        return np.column_stack([1.0 - p, p])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def tune(
    x: np.ndarray,
    y: np.ndarray,
    spec: FeatureSpec,
    timestamps: Sequence[datetime] | None,
    random_state: int = 0,
) -> dict[str, Any]:
    """Pick hyperparameters and the number of iterations on a validation split of ``(x, y)``.

    The validation split follows the same rule as the test split (latest 20 % by time, else stratified).
    Then the blend weight of :class:`LeadScoringModel` is picked among ``BOOST_WEIGHTS`` on the same
    validation split. Returns ``{"params": {... "max_iter"}, "boost_weight", "validation_roc_auc"}``
    (defaults and None when the validation split is too small to tune on).
    """
    tr, va = split(x, y, timestamps)
    if min(int(y[va].sum()), int(len(va) - y[va].sum())) < MIN_VALIDATION_CLASS or len(np.unique(y[tr])) < 2:
        return {
            "params": {**DEFAULT_PARAMS, "max_iter": DEFAULT_ITER},
            "boost_weight": DEFAULT_BOOST_WEIGHT,
            "validation_roc_auc": None,
        }
    pre = build_preprocessor(spec).fit(x[tr], y[tr])
    xt_tr, xt_va = pre.transform(x[tr]), pre.transform(x[va])
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    for params in GRID:
        model = _classifier(spec, {**params, "max_iter": MAX_ITER}, len(tr), random_state).fit(xt_tr, y[tr])
        for i, proba in enumerate(model.staged_predict_proba(xt_va), start=1):
            if i % 10 and i != MAX_ITER:
                continue
            auc = float(roc_auc_score(y[va], proba[:, 1]))
            if auc > best[0] + 1e-4:
                best = (auc, {**params, "max_iter": i})
    chosen = best[1]
    boosted = _classifier(spec, chosen, len(tr), random_state).fit(xt_tr, y[tr]).predict_proba(xt_va)[:, 1]
    linear = logistic_regression_baseline(spec, random_state).fit(x[tr], y[tr]).predict_proba(x[va])[:, 1]
    weight, auc = max(
        ((w, float(roc_auc_score(y[va], w * boosted + (1 - w) * linear))) for w in BOOST_WEIGHTS),
        key=lambda wa: (round(wa[1], 4), wa[0]),
    )
    return {"params": chosen, "boost_weight": weight, "validation_roc_auc": round(auc, 4)}


def train_model(
    records: Sequence[Mapping[str, Any]],
    labels: Sequence[int],
    spec: FeatureSpec,
    *,
    timestamps: Sequence[datetime] | None = None,
    random_state: int = 0,
    refit: bool = True,
) -> TrainedModel:
    """Train, evaluate on held-out leads and (``refit=True``) refit on all leads.

    Args:
        records: one mapping per closed lead (fields of ``spec``).
        labels: 1 = converted (won), 0 = lost, aligned with ``records``.
        spec: the features to use.
        timestamps: when each lead was created; enables the time-based split and ``date_range``.
        random_state: seed of the model's own randomness.
        refit: refit on every lead after evaluation (the shipped model); ``False`` keeps the pipeline
            fitted on the training part only (what ``leadtide model evaluate`` compares).

    Raises:
        InsufficientTrainingDataError: fewer than ``MIN_POSITIVES`` converted or ``MIN_NEGATIVES`` lost.
        ValueError: lengths of ``records``, ``labels``, ``timestamps`` differ.
    """
    if len(records) != len(labels) or (timestamps is not None and len(timestamps) != len(labels)):
        raise ValueError("records, labels and timestamps must have the same length")
    check_training_data(labels)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=TRAINING_THREADS):
        return _train(records, labels, spec, timestamps, random_state, refit)


def _train(
    records: Sequence[Mapping[str, Any]],
    labels: Sequence[int],
    spec: FeatureSpec,
    timestamps: Sequence[datetime] | None,
    random_state: int,
    refit: bool,
) -> TrainedModel:
    x = records_to_matrix(records, spec)
    y = np.asarray(labels, dtype=int)
    train_idx, test_idx = split(records, labels, timestamps)
    train_ts = [timestamps[i] for i in train_idx] if timestamps is not None else None

    started = time.perf_counter()
    tuned = tune(x[train_idx], y[train_idx], spec, train_ts, random_state)

    def model() -> LeadScoringModel:
        return LeadScoringModel(spec, tuned["params"], tuned["boost_weight"], random_state)

    pipeline = model().fit(x[train_idx], y[train_idx])
    metrics = evaluate(
        pipeline, x[test_idx], y[test_idx], split=split_kind(timestamps), train_rows=len(train_idx)
    )
    rows = len(train_idx)
    if refit:
        pipeline = model().fit(x, y)
        rows = len(y)
    fit_seconds = time.perf_counter() - started

    date_range = None
    if timestamps is not None and len(timestamps):
        fitted = timestamps if refit else (train_ts or [])  # the leads the returned pipeline learned from
        date_range = (min(fitted).date().isoformat(), max(fitted).date().isoformat())
    return TrainedModel(
        pipeline=pipeline,
        spec=spec,
        metrics=metrics,
        training_rows=rows,
        date_range=date_range,
        library_versions=library_versions(),
        trained_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        params={**tuned, "fit_seconds": round(fit_seconds, 2)},
        reference_row=reference_row(x if refit else x[train_idx], spec),
    )
