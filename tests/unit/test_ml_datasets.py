"""The public lead datasets in ../shared/data: loaders (counts, leakage columns out) and a quick fit on a subsample.

Skipped when ../shared/data is absent. The full-size comparison is `leadtide model evaluate` (docs/benchmarks.md).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from leadtide.ml import training
from leadtide.ml.datasets import Dataset, load_dataset


@pytest.fixture(autouse=True)
def small_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "GRID", training.GRID[:1])
    monkeypatch.setattr(training, "MAX_ITER", 60)


def _every(dataset: Dataset, step: int, *, by_time: bool = True) -> training.TrainedModel:
    """Train on every ``step``-th lead (keeps time order) and return the model."""
    rows = range(0, len(dataset.labels), step)
    stamps = [dataset.timestamps[i] for i in rows] if dataset.timestamps and by_time else None
    return training.train_model(
        [dataset.records[i] for i in rows], [dataset.labels[i] for i in rows], dataset.spec, timestamps=stamps
    )


def test_xeducation_loads_without_leaky_columns_and_learns(shared_data) -> None:
    ds = load_dataset("xeducation", shared_data)
    assert (len(ds.labels), sum(ds.labels)) == (9240, 3561) and ds.timestamps is None
    for leaky in (
        "Tags",
        "Lead Quality",
        "Last Notable Activity",
        "Asymmetrique Activity Score",
        "Converted",
    ):
        assert leaky not in ds.spec.columns()
    assert "Select" not in {r["Specialization"] for r in ds.records}  # the form default means "not answered"
    model = _every(ds, 5)
    assert model.metrics.split == "stratified" and model.metrics.roc_auc > 0.85


def test_bank_marketing_drops_duration_and_rebuilds_dates(shared_data) -> None:
    ds = load_dataset("bank", shared_data)
    assert (len(ds.labels), sum(ds.labels)) == (41188, 4640)
    assert "duration" not in ds.spec.columns()
    assert ds.timestamps is not None
    assert (ds.timestamps[0], ds.timestamps[-1]) == (datetime(2008, 5, 1), datetime(2010, 11, 1))
    assert ds.timestamps == sorted(ds.timestamps)  # row order is date order
    # A random split here: under the time split the last 20 % (2010) is a different regime, measured at
    # full size by `leadtide model evaluate` (docs/benchmarks.md); a 5 % subsample of it is noise.
    model = _every(ds, 20, by_time=False)
    assert model.metrics.split == "stratified" and model.metrics.roc_auc > 0.7


def test_olist_labels_mqls_by_closed_deals(shared_data) -> None:
    ds = load_dataset("olist", shared_data)
    assert (len(ds.labels), sum(ds.labels)) == (8000, 842)
    assert ds.spec.columns() == ["origin", "landing_page_id", "contact_weekday"]  # no closed-deal column
    assert ds.timestamps is not None and min(ds.timestamps) == datetime(2017, 6, 14)
    model = _every(ds, 2)
    assert model.metrics.split == "time" and model.metrics.roc_auc > 0.6
