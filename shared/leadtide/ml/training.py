"""Training Leadtide's predictive lead-scoring model: histogram gradient boosting with native categories,
blended with logistic regression, chosen on time-ordered validation.

``train_model`` splits the leads (latest 20 % by time held out when timestamps exist, else stratified;
see :mod:`leadtide.ml.evaluation`), tunes on validation folds carved out of the *training* part only (the
held-out test set is never looked at while choosing), reports held-out metrics, then (by default) tunes
again on every lead - so the shipped configuration is chosen on the most recent leads - and refits.

Model: :class:`LeadScoringModel`, ``w`` x scikit-learn's ``HistGradientBoostingClassifier`` (log loss, no
class weights so probabilities stay calibrated; categorical fields handled natively, missing values
routed by the trees) + ``1 - w`` x logistic regression, with ``w`` in :data:`BOOST_WEIGHTS` or 0 (the
logistic member alone). Selection (:func:`tune`):

1. validation folds: with timestamps, rolling origin over the latest 20 % of the rows in
   :data:`VALIDATION_BLOCKS` consecutive blocks, each predicted by models fitted on every row before it
   (the protocol Leadtide runs under: it retrains on a schedule); without, one stratified 20 % split;
2. a validation block on which even the logistic member (unweighted, the simplest model) ranks below
   chance (ROC AUC < 0.5) says the past does not predict that period; it cannot tell candidates apart and
   is left out. No block left: the logistic member alone;
3. with timestamps, a recency half-life for the training rows (exponential forgetting, each lead weighted
   ``0.5 ** (age / half_life)`` from the newest lead; Klinkenberg, "Learning drifting concepts: example
   selection vs. example weighting", Intelligent Data Analysis 8(3), 2004), among no weighting and
   :data:`RECENCY_FRACTIONS` of the training span, chosen with the logistic member by the rule of step 5
   (the longest half-life, no weighting first, within one standard error of the best);
4. candidates: the logistic member alone, and every blend of ``w`` with trees from a 6-point grid over
   tree and leaf size at learning rate 0.05, with 10..300 boosting iterations (staged predictions, every
   10). A blend is eligible only if on every remaining block it validates at or above 0.5 and at or above
   the logistic member alone: the trees must help where it can be measured, or they are not used;
5. of the eligible candidates, the simplest (lowest tree weight, then smallest trees) whose mean ROC AUC
   over the blocks is within one standard error of the best one's (the one-standard-error rule, with
   DeLong's variance of the paired difference) is chosen: more trees must be clearly better, not just
   luckier on the validation rows.

Scoring a lead costs one pass through up to 300 shallow trees plus a dot product: well under a
millisecond. The choice against logistic regression and Odoo-style naive Bayes is measured by
``leadtide model evaluate`` (docs/benchmarks.md, section ``bench:ml``).
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from leadtide.ml.baselines import logistic_regression_baseline
from leadtide.ml.evaluation import EvaluationReport, evaluate, rolling_origin, split, split_kind
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
BOOST_WEIGHTS = (0.1, 0.25, 0.5, 0.75, 1.0)
"""Candidate weights of the boosted trees in :class:`LeadScoringModel` (the rest is logistic regression);
the logistic member alone (weight 0) is always a candidate too."""
DEFAULT_BOOST_WEIGHT = 0.5
VALIDATION_FRACTION = 0.2
"""Share of the (training) rows the validation folds of :func:`tune` predict."""
VALIDATION_BLOCKS = 2
"""Consecutive validation blocks when rows have timestamps (rolling origin inside the training part)."""
RECENCY_FRACTIONS = (0.5, 0.25, 0.125)
"""Candidate recency half-lives, as fractions of the training rows' time span (besides no weighting)."""
CHANCE_AUC = 0.5
TRAINING_THREADS = 1
"""OpenMP threads for the boosted trees. One: Lambda gives 1-2 vCPUs, and OpenMP's busy-waiting threads
slow training down many times over when the CPU is shared (measured: a 7 s fit took over 5 minutes)."""
MIN_VALIDATION_CLASS = 10
"""A validation block needs this many of each class (and its training rows both classes); without any such
block, defaults are used."""


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
    chosen on validation folds (:func:`tune`); at ``boost_weight=1`` the linear member is not fitted, at
    ``boost_weight=0`` the trees are not (the model is the logistic member alone).

    Args:
        spec: the features.
        params: boosting hyperparameters (``max_leaf_nodes``, ``min_samples_leaf``,
            ``l2_regularization``, ``max_iter``).
        boost_weight: 0 <= w <= 1.
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

    def fit(
        self, x: np.ndarray, y: Sequence[int] | np.ndarray, sample_weight: np.ndarray | None = None
    ) -> LeadScoringModel:
        """Fit the members on ``x`` (``records_to_matrix`` output) and labels ``y``; ``sample_weight``
        (one non-negative weight per row, e.g. :func:`recency_weights`) weighs rows in both members.

        Raises:
            ValueError: ``boost_weight`` outside 0..1.
        """
        if not 0.0 <= self.boost_weight <= 1.0:
            raise ValueError("boost_weight must be between 0 and 1")
        spec = self.spec or FeatureSpec()
        params = dict(self.params or {**DEFAULT_PARAMS, "max_iter": DEFAULT_ITER})
        y = np.asarray(y, dtype=int)
        self.classes_ = np.array([0, 1])
        self.boosted_ = None
        if self.boost_weight > 0.0:
            pipeline = _pipeline(spec, params, len(y), self.random_state)
            self.boosted_ = pipeline.fit(x, y, model__sample_weight=sample_weight)
        self.linear_ = None
        if self.boost_weight < 1.0:
            linear = logistic_regression_baseline(spec, self.random_state)
            self.linear_ = linear.fit(x, y, model__sample_weight=sample_weight)
        self.n_features_in_ = len(spec.columns())
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``(n, 2)`` probabilities of [lost, converted]."""
        if self.boosted_ is None:
            assert self.linear_ is not None  # boost_weight 0: the logistic member alone
            p = self.linear_.predict_proba(x)[:, 1]
        else:
            p = self.boosted_.predict_proba(x)[:, 1]
            if self.linear_ is not None:
                p = self.boost_weight * p + (1.0 - self.boost_weight) * self.linear_.predict_proba(x)[:, 1]
        return np.column_stack([1.0 - p, p])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def recency_weights(timestamps: Sequence[datetime] | None, half_life_days: float | None) -> np.ndarray | None:
    """Exponential-forgetting row weights ``0.5 ** (age_days / half_life_days)``, the age counted back from
    the newest timestamp (so the newest lead weighs 1); None without timestamps or half-life (every row
    weighs the same)."""
    if timestamps is None or half_life_days is None or not len(timestamps):
        return None
    seconds = np.array([t.timestamp() for t in timestamps], dtype=float)
    age_days = (seconds.max() - seconds) / 86400.0
    return np.power(0.5, age_days / float(half_life_days))


def validation_folds(
    y: np.ndarray, timestamps: Sequence[datetime] | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The validation folds of :func:`tune` over rows ``y``: rolling origin over the latest
    :data:`VALIDATION_FRACTION` in :data:`VALIDATION_BLOCKS` blocks with timestamps, else one stratified
    split; folds without :data:`MIN_VALIDATION_CLASS` of each class to validate on, or one class only to
    fit on, are left out."""
    if timestamps is not None:
        n_val = round(len(y) * VALIDATION_FRACTION)
        blocks = VALIDATION_BLOCKS if n_val >= VALIDATION_BLOCKS else 1
        folds = rolling_origin(timestamps, test_fraction=VALIDATION_FRACTION, blocks=blocks)
    else:
        folds = [split(y, y, None, test_fraction=VALIDATION_FRACTION)]
    usable = []
    for tr, va in folds:
        positives = int(y[va].sum())
        if min(positives, len(va) - positives) >= MIN_VALIDATION_CLASS and len(np.unique(y[tr])) == 2:
            usable.append((tr, va))
    return usable


@dataclass
class ValidationBlock:
    """One validation fold as :func:`select_blend` scores it: labels ``y``, the logistic member's
    probabilities ``linear`` and, per grid point, the trees' staged probabilities ``(checkpoints, rows)``."""

    y: np.ndarray
    linear: np.ndarray
    trees: list[np.ndarray] = field(default_factory=list)


def auc_difference_variance(y: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """Variance of ``AUC(p) - AUC(q)`` for two scorings of the same labelled rows (DeLong, DeLong &
    Clarke-Pearson, "Comparing the areas under two or more correlated receiver operating characteristic
    curves", Biometrics 44(3), 1988), computed with midranks (Sun & Xu, "Fast implementation of DeLong's
    algorithm", IEEE Signal Processing Letters 21(11), 2014). ``y``: 0/1 labels with both classes."""
    from scipy.stats import rankdata

    positive = np.asarray(y) == 1
    m, n = int(positive.sum()), int((~positive).sum())
    v10, v01 = [], []
    for scores in (p, q):
        scores = np.asarray(scores, dtype=float)
        overall = rankdata(scores)
        v10.append((overall[positive] - rankdata(scores[positive])) / n)
        v01.append(1.0 - (overall[~positive] - rankdata(scores[~positive])) / m)
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    return float(
        max((s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n, 0.0)
    )


def simplest_within_one_se(
    order: Sequence[Any],
    means: Mapping[Any, float],
    probabilities: Callable[[Any, int], np.ndarray],
    labels: Sequence[np.ndarray],
) -> Any:
    """The one-standard-error rule over validation blocks: of ``order`` (candidate keys, simplest first),
    the first whose mean ROC AUC is within one standard error of the best mean (ties: the simpler).

    ``means``: mean ROC AUC over the blocks per key; ``probabilities(key, k)``: the candidate's
    probabilities on block ``k``, whose labels are ``labels[k]``. The standard error is that of the mean
    paired difference with the best candidate, ``sqrt(sum_k var_k) / K`` (:func:`auc_difference_variance`;
    blocks are disjoint rows).
    """
    best = max(order, key=lambda key: round(means[key], 4))  # max keeps the first (simplest) of equals
    for key in order:
        gap = round(means[best], 4) - round(means[key], 4)
        if key == best or gap <= 0:
            return key
        variance = (
            sum(
                auc_difference_variance(y, probabilities(best, k), probabilities(key, k))
                for k, y in enumerate(labels)
            )
            / len(labels) ** 2
        )
        if gap <= math.sqrt(variance):
            return key
    return best


def select_blend(
    blocks: Sequence[ValidationBlock], grid: Sequence[Mapping[str, Any]], checkpoints: Sequence[int]
) -> tuple[float, float, dict[str, Any] | None, int | None]:
    """Choose the blend on validation blocks: ``(mean ROC AUC, weight, grid point, iterations)``; weight
    0 with None, None is the logistic member alone.

    Candidates are the logistic member alone and ``w * trees + (1 - w) * linear`` for every ``w`` in
    :data:`BOOST_WEIGHTS`, grid point and checkpoint. A blend is eligible only if on every block its ROC AUC
    is at least 0.5 and at least the logistic member's (trees that do not help are not used). Among the
    eligible, the one-standard-error rule (Breiman, Friedman, Olshen & Stone, *Classification and Regression
    Trees*, 1984; Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 7.10) picks the
    simplest - lowest tree weight, then fewest leaves over all iterations, then largest leaves - whose mean
    ROC AUC is within one standard error of the best one's; the standard error is that of the paired
    difference (:func:`auc_difference_variance`), since every candidate scores the same rows.
    """
    candidates: list[tuple[tuple[float, float, float], float, int, int]] = [((0.0, 0.0, 0.0), 0.0, -1, -1)]
    floor = [max(CHANCE_AUC, _auc(b.y, b.linear)) for b in blocks]
    means = {(0.0, -1, -1): float(np.mean([_auc(b.y, b.linear) for b in blocks]))}
    for w in BOOST_WEIGHTS:
        for g, params in enumerate(grid):
            for c, iterations in enumerate(checkpoints):
                aucs = [_auc(b.y, w * b.trees[g][c] + (1 - w) * b.linear) for b in blocks]
                if any(a < f for a, f in zip(aucs, floor, strict=True)):
                    continue
                means[(w, g, c)] = float(np.mean(aucs))
                size = iterations * float(params.get("max_leaf_nodes", 31))
                candidates.append(((w, size, -float(params.get("min_samples_leaf", 20))), w, g, c))

    def probabilities(key: tuple[float, int, int], k: int) -> np.ndarray:
        w, g, c = key
        block = blocks[k]
        return block.linear if g < 0 else w * block.trees[g][c] + (1 - w) * block.linear

    order = [(w, g, c) for _, w, g, c in sorted(candidates, key=lambda cand: cand[0])]
    chosen = simplest_within_one_se(order, means, probabilities, [b.y for b in blocks])
    w, g, c = chosen
    auc = round(means[chosen], 4)
    if g < 0:
        return auc, 0.0, None, None
    return auc, w, dict(grid[g]), checkpoints[c]


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p))


def tune(
    x: np.ndarray,
    y: np.ndarray,
    spec: FeatureSpec,
    timestamps: Sequence[datetime] | None,
    random_state: int = 0,
) -> dict[str, Any]:
    """Choose the recency half-life, the trees' hyperparameters and iterations, and the blend weight on
    validation folds of ``(x, y)`` (the module docstring gives the rules).

    Returns ``{"params": {... "max_iter"}, "boost_weight", "half_life_days", "validation_roc_auc",
    "logistic_validation_roc_auc", "validation_blocks", "blocks_below_chance"}``: the ROC AUCs are the
    means over the blocks used (None and the defaults when there is nothing to validate on; weight 0 with
    the logistic member's own figures when every block ranks below chance).
    """
    folds = validation_folds(y, timestamps)
    defaults = {
        "params": {**DEFAULT_PARAMS, "max_iter": DEFAULT_ITER},
        "boost_weight": DEFAULT_BOOST_WEIGHT,
        "half_life_days": None,
        "validation_roc_auc": None,
        "logistic_validation_roc_auc": None,
        "validation_blocks": 0,
        "blocks_below_chance": 0,
    }
    if not folds:
        return defaults
    # 1. The logistic member with each candidate recency half-life on every fold (cheap).
    half_lives: list[float | None] = [None]
    if timestamps is not None:
        span_days = (max(timestamps) - min(timestamps)).total_seconds() / 86400.0
        half_lives += [span_days * f for f in RECENCY_FRACTIONS if span_days * f >= 1.0]
    linear: dict[float | None, list[np.ndarray]] = {}
    for half_life in half_lives:
        linear[half_life] = []
        for tr, va in folds:
            weights = recency_weights([timestamps[i] for i in tr], half_life) if timestamps else None
            model = logistic_regression_baseline(spec, random_state)
            model.fit(x[tr], y[tr], model__sample_weight=weights)
            linear[half_life].append(model.predict_proba(x[va])[:, 1])
    # 2. Blocks on which the logistic member (unweighted: the simplest model) ranks below chance cannot
    # tell candidates apart.
    kept = [k for k, (_, va) in enumerate(folds) if _auc(y[va], linear[None][k]) >= CHANCE_AUC]
    below = len(folds) - len(kept)
    if not kept:
        auc = round(
            float(np.mean([_auc(y[va], p) for (_, va), p in zip(folds, linear[None], strict=True)])), 4
        )
        return {
            "half_life_days": None,
            "validation_blocks": 0,
            "blocks_below_chance": below,
            "params": {**DEFAULT_PARAMS, "max_iter": DEFAULT_ITER},
            "boost_weight": 0.0,
            "validation_roc_auc": auc,
            "logistic_validation_roc_auc": auc,
        }
    # 3. The half-life: the longest (no weighting first) within one standard error of the best.
    labels = [y[folds[k][1]] for k in kept]
    by_half_life = {
        h: float(np.mean([_auc(labels[i], linear[h][k]) for i, k in enumerate(kept)])) for h in half_lives
    }
    half_life = simplest_within_one_se(half_lives, by_half_life, lambda h, i: linear[h][kept[i]], labels)
    summary = {"half_life_days": round(half_life, 1) if half_life else None}
    summary |= {"validation_blocks": len(kept), "blocks_below_chance": below}
    # 4. The trees of every grid point on every kept block, staged.
    blocks = []
    for k in kept:
        tr, va = folds[k]
        weights = recency_weights([timestamps[i] for i in tr], half_life) if timestamps else None
        pre = build_preprocessor(spec).fit(x[tr], y[tr])
        xt_tr, xt_va = pre.transform(x[tr]), pre.transform(x[va])
        block = ValidationBlock(y[va], linear[half_life][k])
        for params in GRID:
            model = _classifier(spec, {**params, "max_iter": MAX_ITER}, len(tr), random_state)
            model.fit(xt_tr, y[tr], sample_weight=weights)
            staged = [
                proba[:, 1]
                for i, proba in enumerate(model.staged_predict_proba(xt_va), start=1)
                if i % 10 == 0 or i == MAX_ITER
            ]
            block.trees.append(np.asarray(staged))
        blocks.append(block)
    checkpoints = [i for i in range(1, MAX_ITER + 1) if i % 10 == 0 or i == MAX_ITER]
    # 5-6. The logistic member alone or an eligible blend, by the one-standard-error rule.
    logistic_auc = float(np.mean([_auc(b.y, b.linear) for b in blocks]))
    auc, weight, chosen, best_iter = select_blend(blocks, GRID, checkpoints)
    params = chosen if chosen is not None else dict(DEFAULT_PARAMS)
    return {
        **summary,
        "params": {**params, "max_iter": best_iter or DEFAULT_ITER},
        "boost_weight": weight,
        "validation_roc_auc": auc,
        "logistic_validation_roc_auc": round(logistic_auc, 4),
    }


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
        refit: after evaluation, tune again and fit on every lead (the shipped model); ``False`` keeps
            the pipeline tuned and fitted on the training part only (the champion comparison of
            :mod:`leadtide.ml.train_job` scores it on the held-out leads).

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

    def fitted(
        rows: np.ndarray, stamps: Sequence[datetime] | None
    ) -> tuple[LeadScoringModel, dict[str, Any]]:
        tuned = tune(x[rows], y[rows], spec, stamps, random_state)
        model = LeadScoringModel(spec, tuned["params"], tuned["boost_weight"], random_state)
        weights = recency_weights(stamps, tuned["half_life_days"])
        return model.fit(x[rows], y[rows], sample_weight=weights), tuned

    pipeline, tuned = fitted(train_idx, train_ts)
    metrics = evaluate(
        pipeline, x[test_idx], y[test_idx], split=split_kind(timestamps), train_rows=len(train_idx)
    )
    rows = len(train_idx)
    if refit:
        # The metrics judge the procedure; the shipped model is the procedure run on every lead, so its
        # configuration is chosen on the most recent leads too.
        pipeline, tuned = fitted(np.arange(len(y)), timestamps)
        rows = len(y)
    fit_seconds = time.perf_counter() - started

    date_range = None
    if timestamps is not None and len(timestamps):
        fitted_ts = timestamps if refit else (train_ts or [])  # the leads the returned pipeline learned from
        date_range = (min(fitted_ts).date().isoformat(), max(fitted_ts).date().isoformat())
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
