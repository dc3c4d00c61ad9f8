"""Model artifacts: a SageMaker-style ``model.tar.gz`` holding ``model.joblib`` and ``metadata.json``.

``metadata.json`` (format ``ARTIFACT_FORMAT``)::

    {"format": 1, "model_version": "...", "trained_at": "...Z", "features": {FeatureSpec.to_dict()},
     "labels": {field: label}, "reference_row": [...], "training_rows": n, "date_range": [a, b] | null,
     "metrics": {EvaluationReport}, "params": {...}, "library_versions": {"python", "scikit-learn",
     "numpy", "scipy", "joblib"}, "model_sha256": "<hex of model.joblib>"}

Trust boundary: ``model.joblib`` is a pickle, and unpickling runs code. Artifacts are only ever loaded
from Leadtide's own artifacts bucket, written by Leadtide's own training function; never pass bytes from a
user upload or any other source to :func:`load_model`. As defence in depth, :func:`load_model` accepts only
a tarball with exactly the two expected regular-file members (no links, no paths, no traversal), checks
the pickle's sha256 against the metadata and refuses a scikit-learn/numpy/scipy/joblib/python version
whose major.minor differs from the running one (pickles are not portable across those).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tarfile
import time
from dataclasses import dataclass
from typing import Any

import joblib

from leadtide.ml.evaluation import EvaluationReport
from leadtide.ml.features import FeatureSpec
from leadtide.ml.training import TrainedModel, library_versions
from leadtide.models.errors import LeadtideError

ARTIFACT_FORMAT = 1
MODEL_MEMBER = "model.joblib"
METADATA_MEMBER = "metadata.json"
MAX_MEMBER_BYTES = 200 * 1024 * 1024


class ModelArtifactError(LeadtideError):
    """A model artifact is malformed, tampered with, or built with incompatible library versions."""

    status_code = 422
    code = "invalid_model_artifact"


@dataclass
class LoadedModel:
    """A model ready to score: ``pipeline.predict_proba(records_to_matrix(records, spec))[:, 1]``.

    ``reference_row`` is the training reference for :func:`leadtide.ml.explain.explain_batch`.
    """

    pipeline: Any
    spec: FeatureSpec
    metadata: dict[str, Any]
    reference_row: list[Any]

    @property
    def model_version(self) -> str:
        return str(self.metadata["model_version"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def package_model(trained: TrainedModel, *, model_version: str | None = None) -> bytes:
    """Serialise a :class:`TrainedModel` to ``model.tar.gz`` bytes.

    ``model_version`` defaults to ``<trained_at compact>-<first 12 hex of the pickle's sha256>``.
    """
    buffer = io.BytesIO()
    joblib.dump(trained.pipeline, buffer, compress=3)
    model_bytes = buffer.getvalue()
    digest = hashlib.sha256(model_bytes).hexdigest()
    version = model_version or f"{trained.trained_at.replace('-', '').replace(':', '')}-{digest[:12]}"
    metadata = {
        "format": ARTIFACT_FORMAT,
        "model_version": version,
        "trained_at": trained.trained_at,
        "features": trained.spec.to_dict(),
        "labels": dict(trained.spec.labels),
        "reference_row": [_jsonable(v) for v in trained.reference_row],
        "training_rows": trained.training_rows,
        "date_range": list(trained.date_range) if trained.date_range else None,
        "metrics": trained.metrics.to_dict(),
        "params": trained.params,
        "library_versions": dict(trained.library_versions),
        "model_sha256": digest,
    }
    meta_bytes = json.dumps(metadata, indent=2, sort_keys=True, default=str).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in ((METADATA_MEMBER, meta_bytes), (MODEL_MEMBER, model_bytes)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def read_metadata(data: bytes) -> dict[str, Any]:
    """Validate the tarball's structure and return its metadata (does not unpickle anything)."""
    return _read(data)[0]


def _read_members(tar: tarfile.TarFile, contents: dict[str, bytes]) -> None:
    """Read the two allowed regular-file members into ``contents``; refuse anything else."""
    for member in tar.getmembers():
        name = member.name
        if name not in (MODEL_MEMBER, METADATA_MEMBER) or not member.isfile():
            raise ModelArtifactError(
                f"model artifact has an unexpected member {name!r}: only {METADATA_MEMBER} and "
                f"{MODEL_MEMBER} as regular files are allowed"
            )
        if name in contents:
            raise ModelArtifactError(f"model artifact has {name!r} twice")
        if member.size > MAX_MEMBER_BYTES:
            raise ModelArtifactError(f"model artifact member {name!r} is too large ({member.size} bytes)")
        handle = tar.extractfile(member)
        if handle is None:  # pragma: no cover - isfile() was checked
            raise ModelArtifactError(f"cannot read {name!r}")
        contents[name] = handle.read()


def _read(data: bytes) -> tuple[dict[str, Any], bytes]:
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            _read_members(tar, contents)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ModelArtifactError(f"model artifact is not a readable gzip tarball: {error}") from error
    missing = {MODEL_MEMBER, METADATA_MEMBER} - contents.keys()
    if missing:
        raise ModelArtifactError(f"model artifact lacks {', '.join(sorted(missing))}")
    try:
        metadata = json.loads(contents[METADATA_MEMBER])
    except ValueError as error:
        raise ModelArtifactError(f"metadata.json is not valid JSON: {error}") from error
    required = ("format", "model_version", "features", "library_versions", "model_sha256", "reference_row")
    if not isinstance(metadata, dict) or any(k not in metadata for k in required):
        raise ModelArtifactError(f"metadata.json must hold {', '.join(required)}")
    if metadata["format"] != ARTIFACT_FORMAT:
        raise ModelArtifactError(
            f"unsupported artifact format {metadata['format']!r} (expected {ARTIFACT_FORMAT})"
        )
    return metadata, contents[MODEL_MEMBER]


def load_model(data: bytes) -> LoadedModel:
    """Load ``model.tar.gz`` bytes written by :func:`package_model` (from our own bucket only - see above).

    Raises:
        ModelArtifactError: unexpected/traversing/link members, bad metadata, a pickle whose sha256 does
            not match the metadata, or library versions whose major.minor differ from the running ones.
    """
    metadata, model_bytes = _read(data)
    if hashlib.sha256(model_bytes).hexdigest() != metadata["model_sha256"]:
        raise ModelArtifactError("model.joblib does not match the sha256 in metadata.json (tampered?)")
    running = library_versions()
    built = metadata["library_versions"]
    mismatched = [
        f"{lib} {built.get(lib)} (running {version})"
        for lib, version in running.items()
        if _major_minor(str(built.get(lib, ""))) != _major_minor(version)
    ]
    if mismatched:
        raise ModelArtifactError(
            "model was trained with other library versions: "
            + ", ".join(mismatched)
            + "; retrain it with the deployed versions",
            details=[{"field": "library_versions", "problem": m} for m in mismatched],
        )
    try:
        spec = FeatureSpec.from_dict(metadata["features"])
    except (KeyError, TypeError, AttributeError) as error:
        raise ModelArtifactError(f"metadata.json has a malformed feature spec: {error}") from error
    reference = [float("nan") if v is None else v for v in metadata["reference_row"]]
    if len(reference) != len(spec.columns()):
        raise ModelArtifactError("metadata.json reference_row does not match the features")
    pipeline = joblib.load(io.BytesIO(model_bytes))  # trusted: our own bucket (module docstring)
    return LoadedModel(pipeline=pipeline, spec=spec, metadata=metadata, reference_row=reference)


def metrics_of(metadata: dict[str, Any]) -> EvaluationReport:
    """The :class:`EvaluationReport` stored in an artifact's metadata."""
    return EvaluationReport(**metadata["metrics"])
