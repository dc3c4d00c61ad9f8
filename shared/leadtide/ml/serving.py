"""A trained model as the predictor serves it: lead mappings in, probabilities and top factors out, vectorised.

Wraps what :func:`leadtide.ml.artifacts.load_model` returns (the fitted pipeline, its feature spec, the
training reference row). Records are built with :func:`leadtide.ml.features.lead_record` as of the
prediction time, with the custom-field types the model was trained on (read back from the spec's
``custom.<name>`` fields).

Explanations come from :mod:`leadtide.ml.explain` (one-field occlusion against the training reference
row, scored in one stacked batch): a factor's ``impact`` is the change in percentage points of probability
when the field takes a typical lead's value (positive: the lead's value raises the probability).
Explaining costs (fields + 1) predictions per lead, so batch re-scoring uses :meth:`ServingModel.score_page`:
one ``predict_proba`` for the page, explanations only for the leads the caller selects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from leadtide.models.scoring import PredictionFactor


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
        scorer: what predictions and explanations call - the pipeline's
            :class:`~leadtide.ml.compiled.CompiledLeadModel` when :func:`~leadtide.ml.compiled.compile_model`
            accepts it (same probabilities, a fraction of the per-call cost), else the pipeline itself.
        spec: the feature spec.
        reference: the training reference row (one value per spec column).
        metadata: the artifact's metadata.json.
    """

    def __init__(
        self, pipeline: Any, spec: Any, reference: Sequence[Any] | None, metadata: Mapping[str, Any]
    ):
        from leadtide.ml.compiled import compile_model
        from leadtide.ml.train_job import custom_field_types_of

        self.pipeline = pipeline
        self.spec = spec
        self.reference = list(reference) if reference else None
        self.scorer: Any = compile_model(pipeline, spec, self.reference) or pipeline
        self.metadata = dict(metadata)
        self.custom_field_types = custom_field_types_of(spec)

    def records(
        self, leads: Sequence[Mapping[str, Any]], as_of: datetime | Sequence[datetime]
    ) -> list[dict[str, Any]]:
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
        return np.asarray(self.scorer.predict_proba(x)[:, 1], dtype=float)

    def predict(
        self, leads: Sequence[Mapping[str, Any]], *, as_of: datetime, top: int = 3
    ) -> list[tuple[float, list[PredictionFactor], list[PredictionFactor]]]:
        """``(probability, factors_up, factors_down)`` per lead; factors strongest first, at most ``top``.

        Factors come from :func:`leadtide.ml.explain.explain_batch` (one-field occlusion against the
        training reference row, one stacked ``predict_proba``); ``impact`` is in percentage points of
        probability.
        """
        from leadtide.ml.features import records_to_matrix

        if not leads:
            return []
        records = self.records(leads, as_of)
        x = records_to_matrix(records, self.spec)
        if not self.reference or x.shape[1] == 0:
            return [(float(v), [], []) for v in self.scorer.predict_proba(x)[:, 1]]
        from leadtide.ml.explain import explain_batch

        explained = explain_batch(self.scorer, x, self.spec, self.reference, top=top)
        return [
            (
                e.probability,
                [self._factor(f, records[i]) for f in e.up],
                [self._factor(f, records[i]) for f in e.down],
            )
            for i, e in enumerate(explained)
        ]

    def score_page(
        self,
        leads: Sequence[Mapping[str, Any]],
        *,
        as_of: datetime,
        top: int = 3,
        explain: Callable[[int, float], bool] | None = None,
    ) -> list[tuple[float, list[PredictionFactor] | None, list[PredictionFactor] | None]]:
        """Batch scoring of a page: one vectorised ``predict_proba`` for every lead, then explanations only
        for the leads ``explain(index, probability)`` selects (all when ``explain`` is None).

        Returns ``(probability, factors_up, factors_down)`` per lead, in order; the factors are None for a
        lead that was not explained (the caller keeps the explanation it has). The explained leads get
        exactly what :meth:`predict` gives them (same occlusion, same probabilities).
        """
        from leadtide.ml.features import records_to_matrix

        if not leads:
            return []
        records = self.records(leads, as_of)
        x = records_to_matrix(records, self.spec)
        p = np.asarray(self.scorer.predict_proba(x)[:, 1], dtype=float)
        out: list[tuple[float, list[PredictionFactor] | None, list[PredictionFactor] | None]] = [
            (float(v), None, None) for v in p
        ]
        chosen = [i for i in range(len(leads)) if explain is None or explain(i, float(p[i]))]
        if not chosen:
            return out
        if not self.reference or x.shape[1] == 0:
            for i in chosen:
                out[i] = (float(p[i]), [], [])
            return out
        from leadtide.ml.explain import explain_batch

        explained = explain_batch(self.scorer, x[chosen], self.spec, self.reference, top=top, p=p[chosen])
        for i, e in zip(chosen, explained, strict=True):
            out[i] = (
                float(p[i]),
                [self._factor(f, records[i]) for f in e.up],
                [self._factor(f, records[i]) for f in e.down],
            )
        return out

    @staticmethod
    def _factor(factor: Any, record: Mapping[str, Any]) -> PredictionFactor:
        return PredictionFactor(
            field=factor.field,
            label=factor.text,
            value=_text(record.get(factor.field)),
            impact=round(float(factor.points), 2),
        )


def check_library_versions(metadata: Mapping[str, Any]) -> None:
    """Refuse an artifact pickled by another scikit-learn major.minor version than this process runs
    (scikit-learn does not support loading models across versions).

    Raises:
        ValueError: the versions differ (the message names both).
    """
    import sklearn

    trained_with = str((metadata.get("library_versions") or {}).get("scikit-learn") or "")
    if trained_with and trained_with.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ValueError(
            f"model trained with scikit-learn {trained_with}, this runtime has {sklearn.__version__}: retrain it"
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
    if not isinstance(metadata, Mapping):
        metadata = getattr(metadata, "__dict__", {})
    check_library_versions(metadata)
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
        "reference_row": [
            None if isinstance(v, float) and math.isnan(v) else v for v in trained.reference_row
        ],
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, payload in (
            ("model.joblib", model.getvalue()),
            ("metadata.json", json.dumps(metadata).encode()),
        ):
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
    check_library_versions(metadata)
    pipeline = joblib.load(io.BytesIO(files["model.joblib"]))
    spec = FeatureSpec.from_dict(metadata["spec"])
    reference = [float("nan") if v is None else v for v in metadata.get("reference_row") or []]
    return ServingModel(pipeline, spec, reference or None, metadata)
