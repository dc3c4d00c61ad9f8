"""Held-out evaluation of lead-scoring models: the split, ROC AUC, PR AUC, Brier score and calibration.

- ``split``: time-based when timestamps exist (the latest ``TEST_FRACTION`` of leads by time are the test
  set, so the model is judged on leads that came after everything it learned from, as in production);
  otherwise a stratified random split with a fixed seed.
- ``stratified_folds``: k-fold cross-validation for data without dates (every lead is tested once, by a
  model that never saw it): a steadier estimate than one 20 % split (Kohavi, IJCAI 1995).
- ``rolling_origin``: the same time-based test part cut into ``ROLLING_BLOCKS`` consecutive blocks, each
  predicted by a model trained on every lead before it - how Leadtide runs (it retrains on a schedule),
  and the rolling-window protocol of Moro, Cortez & Rita (2014) for the bank marketing data.
- ROC AUC and PR AUC (average precision) rank leads; the Brier score and the expected calibration error
  (ECE: the count-weighted mean of ``|observed rate - mean predicted|`` over ``CALIBRATION_BINS``
  equal-width probability bins, Naeini, Cooper & Hauskrecht, AAAI 2015) check that a "30 %" lead
  converts about 30 % of the time — the score is shown to people as a probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split

TEST_FRACTION = 0.2
"""Share of leads held out for testing (the latest ones when timestamps exist)."""

CV_FOLDS = 5
"""Folds of :func:`stratified_folds` (data without dates)."""

ROLLING_BLOCKS = 5
"""Blocks of the time-ordered test part in :func:`rolling_origin` (one retraining before each)."""

CALIBRATION_BINS = 10
SPLIT_SEED = 20240601


@dataclass(frozen=True)
class EvaluationReport:
    """Held-out metrics of one model.

    Attributes:
        roc_auc, pr_auc: ranking quality on the test set (PR AUC = average precision).
        brier: mean squared error of the predicted probability (lower is better).
        calibration: per probability bin ``{bin_lower, bin_upper, mean_predicted, observed_rate, count}``
            (empty bins left out).
        ece: expected calibration error, 0..1 (lower is better).
        positives, negatives: converted / lost leads in the test set.
        split: ``"time"`` or ``"stratified"``; train_rows/test_rows: sizes of both parts.
    """

    roc_auc: float
    pr_auc: float
    brier: float
    calibration: list[dict[str, float]]
    ece: float
    positives: int
    negatives: int
    split: Literal["time", "stratified"] = "stratified"
    train_rows: int = 0
    test_rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict[str, float]]:
    """Reliability table over ``bins`` equal-width probability bins (empty bins omitted)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if not count:
            continue
        rows.append(
            {
                "bin_lower": float(edges[b]),
                "bin_upper": float(edges[b + 1]),
                "mean_predicted": float(p[mask].mean()),
                "observed_rate": float(y[mask].mean()),
                "count": count,
            }
        )
    return rows


def expected_calibration_error(table: list[dict[str, float]]) -> float:
    """ECE from a :func:`calibration_table`: count-weighted mean absolute gap."""
    total = sum(row["count"] for row in table)
    if not total:
        return 0.0
    return float(
        sum(row["count"] * abs(row["observed_rate"] - row["mean_predicted"]) for row in table) / total
    )


def report_from_probabilities(
    y_test: Sequence[int] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    *,
    split: Literal["time", "stratified"] = "stratified",
    train_rows: int = 0,
) -> EvaluationReport:
    """Build an :class:`EvaluationReport` from labels and predicted probabilities of conversion.

    Raises:
        ValueError: when the test labels hold a single class (AUC is undefined).
    """
    y = np.asarray(y_test, dtype=int)
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0)
    if len(np.unique(y)) < 2:
        raise ValueError("the test set needs both converted and lost leads to compute ROC AUC")
    table = calibration_table(y, p)
    return EvaluationReport(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        calibration=table,
        ece=expected_calibration_error(table),
        positives=int(y.sum()),
        negatives=int(len(y) - y.sum()),
        split=split,
        train_rows=train_rows,
        test_rows=len(y),
    )


def evaluate(
    pipeline: Any,
    x_test: np.ndarray,
    y_test: Sequence[int] | np.ndarray,
    *,
    split: Literal["time", "stratified"] = "stratified",
    train_rows: int = 0,
) -> EvaluationReport:
    """Score ``x_test`` with ``pipeline.predict_proba`` and report held-out metrics (see module doc)."""
    probabilities = pipeline.predict_proba(x_test)[:, 1]
    return report_from_probabilities(y_test, probabilities, split=split, train_rows=train_rows)


def split(
    records: Sequence[Any] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    timestamps: Sequence[datetime] | None = None,
    *,
    test_fraction: float = TEST_FRACTION,
    seed: int = SPLIT_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train_idx, test_idx)`` of a held-out split.

    With timestamps: rows sorted by time (ties keep their input order) and the latest ``test_fraction``
    are the test set. Without: a stratified random split seeded with ``seed``. Raises ``ValueError``
    when lengths differ.
    """
    n = len(labels)
    if len(records) != n or (timestamps is not None and len(timestamps) != n):
        raise ValueError("records, labels and timestamps must have the same length")
    n_test = max(1, round(n * test_fraction))
    if timestamps is not None:
        order = time_order(timestamps)
        return np.sort(order[: n - n_test]), np.sort(order[n - n_test :])
    idx = np.arange(n)
    y = np.asarray(labels, dtype=int)
    stratify = y if min(int(y.sum()), int(n - y.sum())) >= 2 else None
    train_idx, test_idx = train_test_split(idx, test_size=n_test, random_state=seed, stratify=stratify)
    return np.sort(train_idx), np.sort(test_idx)


def time_order(timestamps: Sequence[datetime]) -> np.ndarray:
    """Row indices sorted by time; ties keep their input order (stable sort)."""
    return np.asarray(sorted(range(len(timestamps)), key=lambda i: timestamps[i]), dtype=int)


def rolling_origin(
    timestamps: Sequence[datetime],
    *,
    test_fraction: float = TEST_FRACTION,
    blocks: int = ROLLING_BLOCKS,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin evaluation folds ``[(train_idx, test_idx), ...]`` in time order.

    The latest ``test_fraction`` of rows by time (the test part of :func:`split`) is cut into ``blocks``
    consecutive blocks of near-equal size; each fold trains on every row before its block and tests on
    the block, so each block is predicted by a model that has seen everything up to it and nothing after
    (Tashman, "Out-of-sample tests of forecasting accuracy", IJF 16, 2000; Moro, Cortez & Rita, DSS 62,
    2014, evaluate the bank marketing data with such a rolling window). Ties in time keep input order,
    so a block boundary may fall inside one timestamp (for the bank data, whose rows are in date order
    within a month, that is still time order).

    Raises:
        ValueError: ``blocks`` < 1 or more blocks than test rows.
    """
    n = len(timestamps)
    n_test = max(1, round(n * test_fraction))
    if blocks < 1 or blocks > n_test:
        raise ValueError(f"blocks must be between 1 and the {n_test} test rows")
    order = time_order(timestamps)
    folds = []
    for block in np.array_split(np.arange(n - n_test, n), blocks):
        folds.append((np.sort(order[: block[0]]), np.sort(order[block])))
    return folds


def stratified_folds(
    labels: Sequence[int] | np.ndarray, *, folds: int = CV_FOLDS, seed: int = SPLIT_SEED
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold cross-validation folds ``[(train_idx, test_idx), ...]``, shuffled with ``seed``.

    Raises:
        ValueError: fewer leads of a class than ``folds`` (scikit-learn's StratifiedKFold).
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels, dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(np.sort(a), np.sort(b)) for a, b in splitter.split(np.zeros(len(y)), y)]


def split_kind(timestamps: Sequence[datetime] | None) -> Literal["time", "stratified"]:
    """``"time"`` when timestamps are given, else ``"stratified"``."""
    return "time" if timestamps is not None else "stratified"
