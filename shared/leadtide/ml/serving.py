"""A trained model as the predictor serves it: lead mappings in, probabilities and top factors out, vectorised.

Wraps what :func:`leadtide.ml.artifacts.load_model` returns (the fitted pipeline, its feature spec, the
training reference row). Records are built with :func:`leadtide.ml.features.lead_record` as of the
prediction time, with the custom-field types the model was trained on (read back from the spec's
``custom.<name>`` fields).

Explanations are computed in one batch: for every lead and every field, the lead's value is replaced by
the training reference value (median / most frequent / no keywords) and the change in log-odds is that
field's impact (positive: the lead's value raises the probability compared with a typical lead). All
``n x (fields + 1)`` rows go through ``predict_proba`` in a single call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from leadtide.models.scoring import PredictionFactor

MIN_IMPACT = 0.01
"""Factors whose |log-odds change| is below this are not shown."""


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return f"{value:g}"
    return str(value)


class ServingModel:
    """A loaded model ready to score lead mappings (see the module docstring).

    Attributes:
        pipeline: ``predict_proba`` over :func:`records_to_matrix` output.
        spec: the feature spec.
        reference: the training reference row (one value per spec column).
        metadata: the artifact's metadata.json.
    """

    def __init__(self, pipeline: Any, spec: Any, reference: Sequence[Any] | None, metadata: Mapping[str, Any]):
        from leadtide.ml.train_job import custom_field_types_of

        self.pipeline = pipeline
        self.spec = spec
        self.reference = list(reference) if reference else None
        self.metadata = dict(metadata)
        self.custom_field_types = custom_field_types_of(spec)

    def records(self, leads: Sequence[Mapping[str, Any]], as_of: datetime | Sequence[datetime]) -> list[dict[str, Any]]:
        """Feature records of the leads as of one time (or one time per lead)."""
        from leadtide.ml.features import lead_record

        times = as_of if isinstance(as_of, Sequence) else [as_of] * len(leads)
        return [
            lead_record(lead, as_of=t, custom_field_types=self.custom_field_types)
            for lead, t in zip(leads, times, strict=True)
        ]

    def probabilities(
        self, leads: Sequence[Mapping[str, Any]], *, as_of: datetime | Sequence[datetime]
    ) -> np.ndarray:
        """P(converted) per lead, shape ``(n,)``."""
        from leadtide.ml.features import records_to_matrix

        if not leads:
            return np.zeros(0)
        x = records_to_matrix(self.records(leads, as_of), self.spec)
        return np.asarray(self.pipeline.predict_proba(x)[:, 1], dtype=float)

    def predict(
        self, leads: Sequence[Mapping[str, Any]], *, as_of: datetime, top: int = 3
    ) -> list[tuple[float, list[PredictionFactor], list[PredictionFactor]]]:
        """``(probability, factors_up, factors_down)`` per lead; factors strongest first, at most ``top``."""
        from leadtide.ml.features import records_to_matrix

        if not leads:
            return []
        records = self.records(leads, as_of)
        x = records_to_matrix(records, self.spec)
        n, f = x.shape
        if self.reference is None or f == 0:
            p = self.pipeline.predict_proba(x)[:, 1]
            return [(float(v), [], []) for v in p]
        stacked = np.empty(((f + 1) * n, f), dtype=object)
        stacked[:n] = x
        for j in range(f):
            block = x.copy()
            block[:, j] = self.reference[j]
            stacked[(j + 1) * n : (j + 2) * n] = block
        p_all = np.asarray(self.pipeline.predict_proba(stacked)[:, 1], dtype=float)
        p = p_all[:n]
        impacts = _logit(p)[None, :] - _logit(p_all[n:].reshape(f, n))  # (f, n)
        columns = self.spec.columns()
        out = []
        for i in range(n):
            order = np.argsort(-impacts[:, i])
            up = [self._factor(columns[j], records[i], impacts[j, i]) for j in order[:top] if impacts[j, i] >= MIN_IMPACT]
            down_order = np.argsort(impacts[:, i])
            down = [
                self._factor(columns[j], records[i], impacts[j, i])
                for j in down_order[:top]
                if impacts[j, i] <= -MIN_IMPACT
            ]
            out.append((float(p[i]), up, down))
        return out

    def _factor(self, name: str, record: Mapping[str, Any], impact: float) -> PredictionFactor:
        value = _text(record.get(name))
        label = self.spec.label(name)
        direction = "raises" if impact > 0 else "lowers"
        shown = f"{label}: {value}" if value not in (None, "") else f"{label}: not set"
        return PredictionFactor(
            field=name, label=f"{shown} ({direction} the chance)", value=value, impact=round(float(impact), 4)
        )


def package(trained: Any) -> bytes:
    """``model.tar.gz`` bytes of a ``TrainedModel`` (:func:`leadtide.ml.artifacts.package_model`; the
    same SageMaker layout - ``model.joblib`` + ``metadata.json`` - is written here when that module is not
    installed)."""
    try:
        from leadtide.ml.artifacts import package_model
    except ImportError:
        return _package_minimal(trained)
    data: bytes = package_model(trained)
    return data


def load_serving_model(data: bytes) -> ServingModel:
    """Load a ``model.tar.gz`` (bytes) into a :class:`ServingModel`.

    Raises:
        ValueError: the archive is not a Leadtide model artifact.
    """
    try:
        from leadtide.ml.artifacts import load_model
    except ImportError:
        return _load_minimal(data)
    loaded = load_model(data)
    metadata = getattr(loaded, "metadata", {}) or {}
    reference = getattr(loaded, "reference_row", None)
    if reference is None:
        reference = metadata.get("reference_row")
    return ServingModel(loaded.pipeline, loaded.spec, reference, metadata)


def _package_minimal(trained: Any) -> bytes:
    import io
    import json
    import tarfile

    import joblib

    model = io.BytesIO()
    joblib.dump(trained.pipeline, model, compress=3)
    metadata = {
        "spec": trained.spec.to_dict(),
        "metrics": trained.metrics.to_dict(),
        "training_rows": trained.training_rows,
        "date_range": trained.date_range,
        "library_versions": trained.library_versions,
        "trained_at": trained.trained_at,
        "reference_row": [None if isinstance(v, float) and math.isnan(v) else v for v in trained.reference_row],
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, payload in (("model.joblib", model.getvalue()), ("metadata.json", json.dumps(metadata).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def _load_minimal(data: bytes) -> ServingModel:
    import io
    import json
    import tarfile

    import joblib

    from leadtide.ml.features import FeatureSpec

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    except tarfile.TarError as err:
        raise ValueError(f"not a model.tar.gz: {err}") from err
    if "model.joblib" not in files or "metadata.json" not in files:
        raise ValueError("model.tar.gz lacks model.joblib or metadata.json")
    metadata = json.loads(files["metadata.json"])
    pipeline = joblib.load(io.BytesIO(files["model.joblib"]))  # noqa: S301 - our own bucket's artifact
    spec = FeatureSpec.from_dict(metadata["spec"])
    reference = [float("nan") if v is None else v for v in metadata.get("reference_row") or []]
    return ServingModel(pipeline, spec, reference or None, metadata)
