"""Baselines Leadtide's model must beat under the same split: logistic regression and Odoo-style naive Bayes.

**Logistic regression**: one-hot categories (rare levels pooled), median-imputed and standardised numbers
with missing-value indicators, the same keyword flags for text; ``class_weight=None`` so probabilities stay
comparable; L2 with ``C=1``.

**Odoo-style naive Bayes** reproduces Odoo CRM's predictive lead scoring (``crm.lead``
``_pls_get_naive_bayes_probabilities`` with its frequency table built by ``_pls_prepare_frequencies`` and
``_pls_update_frequency_table``, odoo/addons/crm/models/crm_lead.py, Odoo 16-17):

- a frequency table holds, for each (field, value), the won and lost counts of closed leads, plus 0.1
  each ("to avoid zero frequency issues; should be +1 but it weights too much on small recordset");
- unset values are not counted (Odoo: ``if value or field in ('email_state', 'phone_state')``), and a
  value never seen in training contributes nothing;
- tags are a multi-valued field and a tag seen on fewer than 50 closed leads is ignored;
- ``S(won) = P(won) * prod_f won[f, v] / won_total[f]`` and the same for lost, where ``won_total[f]`` is
  the sum of the won counts over every value of field ``f``; the probability is
  ``S(won) / (S(won) + S(lost))``, clamped to 0.01..99.99 %.

Correspondence for fields Odoo does not have: numbers are cut into ``numeric_bins`` training quantile
bins (each bin a value, missing = unset); booleans are always set (like Odoo's email/phone state); text
fields are tag-like, each keyword present being one value. Computation is in log space (same result).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from leadtide.ml.features import (
    MIN_CATEGORY_COUNT,
    MISSING,
    FeatureSpec,
    KeywordFlags,
    _words,
    as_float,
)

ODOO_SMOOTHING = 0.1
ODOO_MIN_TAG_COUNT = 50


def logistic_regression_baseline(spec: FeatureSpec, random_state: int = 0) -> Pipeline:
    """Unfitted logistic-regression pipeline over :func:`~leadtide.ml.features.records_to_matrix` output."""
    n_num = len(spec.numeric) + len(spec.boolean)
    n_cat = len(spec.categorical)
    transformers: list[tuple[str, Any, list[int]]] = []
    if n_num:
        numeric = make_pipeline(
            FunctionTransformer(as_float),
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        transformers.append(("num", numeric, list(range(n_num))))
    if n_cat:
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_COUNT)
        transformers.append(("cat", onehot, list(range(n_num, n_num + n_cat))))
    for j, name in enumerate(spec.text):
        transformers.append((f"text:{name}", KeywordFlags(), [n_num + n_cat + j]))
    features = ColumnTransformer(transformers, sparse_threshold=0.0)
    model = LogisticRegression(C=1.0, max_iter=2000, random_state=random_state)
    return Pipeline([("features", features), ("model", model)])


class OdooNaiveBayes(ClassifierMixin, BaseEstimator):
    """Odoo CRM's predictive-lead-scoring naive Bayes (see the module docstring for the exact rules).

    Args:
        kinds: the kind of each input column (``"numeric"``, ``"boolean"``, ``"categorical"``,
            ``"text"``), in :meth:`FeatureSpec.columns` order.
        numeric_bins: quantile bins per numeric column.
        smoothing: added to each won and lost count (Odoo: 0.1).
        min_tag_count: tag-like values (text keywords) seen on fewer closed leads are ignored (Odoo: 50).

    Input: the object matrix of ``records_to_matrix``; ``predict_proba`` returns ``(n, 2)``.
    """

    def __init__(
        self,
        kinds: Sequence[str] = (),
        numeric_bins: int = 5,
        smoothing: float = ODOO_SMOOTHING,
        min_tag_count: int = ODOO_MIN_TAG_COUNT,
    ):
        self.kinds = kinds
        self.numeric_bins = numeric_bins
        self.smoothing = smoothing
        self.min_tag_count = min_tag_count

    def _values(self, j: int, value: Any) -> list[str]:
        """The (field, value) couples a cell contributes: [] when unset."""
        kind = self.kinds[j]
        if kind == "numeric":
            x = float(value)
            if math.isnan(x):
                return []
            return [f"bin{int(np.searchsorted(self.edges_[j], x, side='right'))}"]
        if kind == "boolean":
            x = float(value)
            return [] if math.isnan(x) else [str(int(x))]
        if kind == "categorical":
            return [] if value == MISSING else [str(value)]
        return sorted(_words(str(value)))

    def fit(self, x: np.ndarray, labels: Sequence[int] | np.ndarray) -> OdooNaiveBayes:
        x = np.asarray(x, dtype=object)
        y = np.asarray(labels, dtype=int)
        self.classes_ = np.array([0, 1])
        self.edges_: dict[int, np.ndarray] = {}
        for j, kind in enumerate(self.kinds):
            if kind == "numeric":
                col = np.asarray(x[:, j], dtype=float)
                col = col[~np.isnan(col)]
                qs = np.linspace(0, 1, self.numeric_bins + 1)[1:-1]
                self.edges_[j] = np.unique(np.quantile(col, qs)) if len(col) else np.array([])
        self.table_: list[dict[str, list[float]]] = [{} for _ in self.kinds]
        for row, label in zip(x, y, strict=True):
            for j in range(len(self.kinds)):
                for v in self._values(j, row[j]):
                    self.table_[j].setdefault(v, [0.0, 0.0])[0 if label else 1] += 1
        for j, kind in enumerate(self.kinds):
            if kind == "text":  # Odoo ignores tags seen on fewer than 50 closed leads
                self.table_[j] = {v: c for v, c in self.table_[j].items() if sum(c) >= self.min_tag_count}
            for counts in self.table_[j].values():
                counts[0] += self.smoothing
                counts[1] += self.smoothing
        self.totals_ = [(sum(c[0] for c in t.values()), sum(c[1] for c in t.values())) for t in self.table_]
        won, lost = int(y.sum()), int(len(y) - y.sum())
        self.prior_ = (won / len(y), lost / len(y))
        self.n_features_in_ = len(self.kinds)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=object)
        out = np.empty((len(x), 2))
        log_won0 = math.log(max(self.prior_[0], 1e-12))
        log_lost0 = math.log(max(self.prior_[1], 1e-12))
        for i, row in enumerate(x):
            log_won, log_lost = log_won0, log_lost0
            for j in range(len(self.kinds)):
                total_won, total_lost = self.totals_[j]
                if not total_won or not total_lost:
                    continue
                for v in self._values(j, row[j]):
                    counts = self.table_[j].get(v)
                    if counts is None:
                        continue
                    log_won += math.log(counts[0] / total_won)
                    log_lost += math.log(counts[1] / total_lost)
            p = 1.0 / (1.0 + math.exp(min(700.0, log_lost - log_won)))
            p = min(max(p, 0.0001), 0.9999)
            out[i] = (1.0 - p, p)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def odoo_naive_bayes_baseline(spec: FeatureSpec) -> OdooNaiveBayes:
    """Unfitted :class:`OdooNaiveBayes` for a spec's columns."""
    return OdooNaiveBayes(kinds=[spec.kind_of(name) for name in spec.columns()])
