"""Serving form of a fitted :class:`~leadtide.ml.training.LeadScoringModel`: the same probabilities, without
scikit-learn's per-call overhead.

Why: on a page of 250 leads, ``LeadScoringModel.predict_proba`` spends more time in the two
``ColumnTransformer`` pipelines (input validation in every step, sparse one-hot blocks, the linear member's
imputer and scaler) than in the trees (``bench:scoring`` in docs/benchmarks.md measures both paths).

How: at load, each fitted preprocessing step becomes a lookup table or a folded coefficient vector. Every
table is built by calling the fitted scikit-learn step itself on probe inputs, so unseen, missing and
infrequent categories map exactly as scikit-learn maps them:

- boosted member: numeric and boolean columns cast to ``float64`` (columns empty in training -> 0, as
  :class:`~leadtide.ml.features.NumericColumns`); each categorical column through a dict category ->
  ordinal code (unseen -> ``nan``, infrequent -> the pooled code); each text field through its fitted
  :class:`~leadtide.ml.features.KeywordFlags`; categorical codes are composed with the estimator's
  internal category encoder, so the matrix is what its trees read, and the fitted trees themselves are
  called (they are not re-implemented). That uses scikit-learn internals (``_predictors``,
  ``_bin_mapper``, ``_preprocessor``, ``_baseline_prediction`` of scikit-learn 1.7): the artifact's
  scikit-learn version is checked at load, and a change there makes the check below fail, which falls
  back to the pipeline instead of mispredicting;
- a model of the logistic member alone (``boost_weight`` 0) has no trees: only the linear member below;
- linear member: the logistic regression's decision function folded over its preprocessing - median
  imputation, missing-value indicators and standardisation become one weight vector and a constant for the
  numeric block; each categorical column a dict category -> the contribution of its one-hot block
  (one-hot blocks are additive, so a column's contribution is measured against a base row); keyword flags
  times their coefficients; probability = logistic function of the sum.

The trees' input is bit-identical to the pipeline's; the linear member differs only by floating-point
summation order (< 1e-12 in probability). :func:`compile_model` checks the compiled form
against the pipeline on probe rows and returns None (serve the pipeline) if anything differs by more than
``TOLERANCE`` or the model has another structure.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from leadtide.ml.features import FeatureSpec

logger = logging.getLogger(__name__)

TOLERANCE = 1e-9
"""Largest difference in probability between the compiled form and the pipeline that :func:`compile_model`
accepts on its probe rows."""

_UNSEEN = "\x00leadtide:unseen"
"""A category no training data can contain (probes the encoders' handling of unknown values)."""


def _dense(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values, dtype=np.float64)


class _CategoryTable:
    """One categorical column -> one number per value (dict lookup; ``default`` for values not listed)."""

    __slots__ = ("default", "table")

    def __init__(self, table: dict[Any, float], default: float):
        self.table = table
        self.default = default

    def apply(self, column: np.ndarray) -> np.ndarray:
        get, default = self.table.get, self.default
        return np.fromiter((get(v, default) for v in column), dtype=np.float64, count=len(column))


def _lookup_tables(
    encoder: Any, read: Callable[[Any, int], np.ndarray], unseen: Any = _UNSEEN
) -> list[_CategoryTable]:
    """One :class:`_CategoryTable` per input column of a fitted encoder, built by the encoder itself: each
    column's probe rows hold every other column at its first category and this column at each of its
    categories, then ``unseen``; ``read(encoder.transform(probe), column)`` gives one number per row (the
    last one, for ``unseen``, is the table's default)."""
    base = [cats[0] for cats in encoder.categories_]
    dtype = object if any(cats.dtype == object for cats in encoder.categories_) else np.float64
    tables = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "unknown categories ... encoded as ...": intended
        for j, cats in enumerate(encoder.categories_):
            probe = np.array([base] * (len(cats) + 1), dtype=dtype)
            probe[:, j] = [*cats.tolist(), unseen]
            out = np.asarray(read(encoder.transform(probe), j), dtype=np.float64)
            tables.append(
                _CategoryTable(dict(zip(cats.tolist(), out[:-1].tolist(), strict=True)), float(out[-1]))
            )
    return tables


def _column(out: Any, j: int) -> np.ndarray:
    """Column ``j`` of an ``OrdinalEncoder`` output: the code of each probe row."""
    return np.asarray(out[:, j])


def _compose(outer: _CategoryTable, inner: _CategoryTable) -> _CategoryTable:
    """``value -> inner(outer(value))`` (a code ``inner`` does not list, ``nan`` included, -> its default)."""
    table = {value: inner.table.get(code, inner.default) for value, code in outer.table.items()}
    return _CategoryTable(table, inner.table.get(outer.default, inner.default))


class CompiledLeadModel:
    """A fitted ``LeadScoringModel`` as lookup tables and folded coefficients (see the module docstring).

    ``predict_proba(x)`` takes the same :func:`~leadtide.ml.features.records_to_matrix` object array as the
    pipeline and returns the same ``(n, 2)`` array. Build it with :func:`compile_model`, which checks it.
    The trees are the fitted ``HistGradientBoostingClassifier``'s own predictors, fed the matrix its
    internal preprocessor would produce (categorical codes first, remapped; then the other columns).
    """

    def __init__(self, model: Any, spec: FeatureSpec):
        self.boost_weight = float(model.boost_weight)
        self.n_num = len(spec.numeric) + len(spec.boolean)
        self.n_cat = len(spec.categorical)
        self.text_fields = list(spec.text)
        self.trees: Any = None
        self.predictors: list[Any] = []
        self.boost_text: list[Any] = []
        self.ordinal: list[_CategoryTable] = []
        self.empty = np.zeros(self.n_num, dtype=bool)
        boosted = model.boosted_
        if boosted is not None:  # None: boost_weight 0, the logistic member alone
            steps = boosted[0].named_transformers_
            trees = boosted[-1]
            if trees.n_trees_per_iteration_ != 1:
                raise ValueError("only binary classifiers are compiled")
            self.trees = trees
            self.empty = steps["num"].empty_ if self.n_num else np.zeros(0, dtype=bool)
            self.boost_text = [steps[f"text:{name}"] for name in self.text_fields]
            # Categorical value -> the code the trees see: Leadtide's OrdinalEncoder, then the estimator's
            # internal one (its codes are floats: -1 probes an unseen one).
            if self.n_cat:
                inner = _lookup_tables(
                    trees._preprocessor.named_transformers_["encoder"], _column, unseen=-1.0
                )
                outer = _lookup_tables(steps["cat"], _column)
                self.ordinal = [_compose(o, i) for o, i in zip(outer, inner, strict=True)]
            self.known_cat_bitsets, self.f_idx_map = trees._bin_mapper.make_known_categories_bitsets()
            self.predictors = [predictor for iteration in trees._predictors for predictor in iteration]
            self.baseline = float(np.ravel(trees._baseline_prediction)[0])
        self.linear = _LinearMember(model.linear_, self) if model.linear_ is not None else None
        if self.trees is None and self.linear is None:
            raise ValueError("the model has neither member fitted")

    def _text_flags(self, x: np.ndarray, flags: Sequence[Any]) -> list[np.ndarray]:
        start = self.n_num + self.n_cat
        return [f.transform(x[:, start + j : start + j + 1]) for j, f in enumerate(flags)]

    def tree_input(self, x: np.ndarray, text_flags: list[np.ndarray] | None = None) -> np.ndarray:
        """The C-ordered float matrix the trees read: categorical codes, then numeric and boolean columns
        (empty in training -> 0), then keyword flags (``text_flags``: already computed flags of ``x``)."""
        parts = []
        if self.n_cat:
            cat = x[:, self.n_num : self.n_num + self.n_cat]
            parts.append(np.column_stack([t.apply(cat[:, j]) for j, t in enumerate(self.ordinal)]))
        if self.n_num:
            num = np.asarray(x[:, : self.n_num], dtype=np.float64)
            if self.empty.any():
                num[:, self.empty] = 0.0
            parts.append(num)
        parts.extend(self._text_flags(x, self.boost_text) if text_flags is None else text_flags)
        return np.ascontiguousarray(np.hstack(parts)) if parts else np.zeros((len(x), 0))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``(n, 2)`` probabilities of [lost, converted] for the object matrix ``x``."""
        x = np.asarray(x, dtype=object)
        if not len(x):
            return np.zeros((0, 2))
        if self.trees is None:
            assert self.linear is not None
            p = self.linear.probability(x)
            return np.column_stack([1.0 - p, p])
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        # Asked at each call, as scikit-learn does: threadpoolctl limits set by the caller apply (threads
        # fixed at load time would ignore them, and busy-waiting OpenMP threads on a shared CPU cost
        # several times the work).
        n_threads = _openmp_effective_n_threads()
        flags = self._text_flags(x, self.boost_text)
        features = self.tree_input(x, flags)
        raw = np.full(len(x), self.baseline)
        for predictor in self.predictors:
            raw += predictor.predict(features, self.known_cat_bitsets, self.f_idx_map, n_threads)
        p = 1.0 / (1.0 + np.exp(-raw))
        if self.linear is not None:
            shared = flags if self.linear.shared_text else None
            p = self.boost_weight * p + (1.0 - self.boost_weight) * self.linear.probability(x, shared)
        return np.column_stack([1.0 - p, p])


class _LinearMember:
    """The logistic-regression member folded into weights (see the module docstring)."""

    def __init__(self, pipeline: Any, owner: CompiledLeadModel):
        features, model = pipeline[0], pipeline[-1]
        coef = np.asarray(model.coef_[0], dtype=np.float64)
        self.constant = float(model.intercept_[0])
        slices = features.output_indices_
        steps = features.named_transformers_
        self.owner = owner
        if owner.n_num:
            imputer, scaler = steps["num"][1], steps["num"][2]
            w = coef[slices["num"]]
            mean = scaler.mean_ if scaler.mean_ is not None else np.zeros_like(w)
            scale = scaler.scale_ if scaler.scale_ is not None else np.ones_like(w)
            self.fill = np.asarray(imputer.statistics_, dtype=np.float64)
            self.indicated = (
                imputer.indicator_.features_ if imputer.indicator_ is not None else np.zeros(0, int)
            )
            folded = w / scale
            self.w_values, self.w_missing = folded[: owner.n_num], folded[owner.n_num :]
            self.constant -= float(mean @ folded)
        if owner.n_cat:
            # One-hot blocks are additive: each column's contribution is measured against the probe's base
            # row (every column at its first category), whose own contribution goes into the constant.
            encoder, w = steps["cat"], coef[slices["cat"]]
            first = np.array([[cats[0] for cats in encoder.categories_]], dtype=object)
            base = float((_dense(encoder.transform(first)) @ w)[0])
            self.onehot = _lookup_tables(encoder, lambda out, _j: _dense(out) @ w - base)
            self.constant += base
        self.text = [steps[f"text:{name}"] for name in owner.text_fields]
        self.w_text = [coef[slices[f"text:{name}"]] for name in owner.text_fields]
        # Same vocabularies as the boosted member's (both fitted on the same rows): flags computed once.
        self.shared_text = owner.trees is not None and all(
            a.vocabulary_ == b.vocabulary_ for a, b in zip(self.text, owner.boost_text, strict=True)
        )

    def probability(self, x: np.ndarray, text_flags: list[np.ndarray] | None = None) -> np.ndarray:
        """P(converted) of the linear member, shape ``(n,)`` (``text_flags``: keyword flags of ``x`` from
        identical vocabularies, when already computed)."""
        owner = self.owner
        z = np.full(len(x), self.constant)
        if owner.n_num:
            num = np.asarray(x[:, : owner.n_num], dtype=np.float64)
            missing = np.isnan(num)
            z += np.where(missing, self.fill, num) @ self.w_values
            if len(self.indicated):
                z += missing[:, self.indicated] @ self.w_missing
        if owner.n_cat:
            cat = x[:, owner.n_num : owner.n_num + owner.n_cat]
            for j, table in enumerate(self.onehot):
                z += table.apply(cat[:, j])
        if text_flags is None:
            text_flags = owner._text_flags(x, self.text)
        for flags, w in zip(text_flags, self.w_text, strict=True):
            if len(w):
                z += flags @ w
        return 1.0 / (1.0 + np.exp(-z))


def probe_matrix(model: Any, spec: FeatureSpec, reference: Sequence[Any] | None) -> np.ndarray:
    """Rows exercising every table of the compiled form: the reference row (or a blank row), then the
    reference with each categorical column at each training category and an unseen one, each numeric
    column missing and at +-10, each text field at each keyword."""
    columns = spec.columns()
    row = list(reference) if reference and len(reference) == len(columns) else [math.nan] * len(columns)
    for j, name in enumerate(columns):
        if spec.kind_of(name) == "categorical" and not isinstance(row[j], str):
            row[j] = _UNSEEN
        elif spec.kind_of(name) == "text" and not isinstance(row[j], str):
            row[j] = ""
    rows = [list(row)]
    n_num = len(spec.numeric) + len(spec.boolean)
    # The members were fitted on the same rows: either one's encoders list the training categories.
    steps = (model.boosted_ if model.boosted_ is not None else model.linear_)[0].named_transformers_
    encoder = steps["cat"] if spec.categorical else None
    for j, name in enumerate(columns):
        kind = spec.kind_of(name)
        if kind in ("numeric", "boolean"):
            values: list[Any] = [math.nan, -10.0, 10.0, 0.0, 1.0]
        elif kind == "categorical" and encoder is not None:
            values = [*encoder.categories_[j - n_num].tolist(), _UNSEEN]
        else:
            step = steps[f"text:{name}"]
            values = [*step.vocabulary_, " ".join(step.vocabulary_), ""]
        for value in values:
            probe = list(row)
            probe[j] = value
            rows.append(probe)
    return np.array(rows, dtype=object)


def compile_model(
    model: Any, spec: FeatureSpec, reference: Sequence[Any] | None = None
) -> CompiledLeadModel | None:
    """The checked :class:`CompiledLeadModel` of ``model``, or None when ``model`` is not a fitted
    ``LeadScoringModel`` of the known structure or the compiled form disagrees with it by more than
    ``TOLERANCE`` on :func:`probe_matrix` rows (then the caller serves the pipeline as it is)."""
    from leadtide.ml.training import LeadScoringModel

    if not isinstance(model, LeadScoringModel) or not hasattr(model, "boosted_"):
        return None
    try:
        compiled = CompiledLeadModel(model, spec)
        probe = probe_matrix(model, spec, reference)
        gap = float(np.max(np.abs(compiled.predict_proba(probe)[:, 1] - model.predict_proba(probe)[:, 1])))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as err:
        logger.warning("model not compiled, serving the pipeline: %s", err)
        return None
    if gap > TOLERANCE:
        logger.warning("compiled model differs from the pipeline by %.3g, serving the pipeline", gap)
        return None
    return compiled
