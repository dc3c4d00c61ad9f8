"""Predictive scoring vocabulary: model versions in the registry, the champion/challenger pointer, outcomes,
and the request/response shapes of the ``/scoring-models/{id}/versions`` API.

A *model version* is one trained conversion model of a tenant (``20261121T143000Z-1a2b3c``: UTC training
time + 6 random hex digits, so versions sort by age). Its artifact is a SageMaker-layout ``model.tar.gz``
(``model.joblib`` + ``metadata.json``) at ``s3://<ArtifactsBucket>/models/<tenant>/<version>/``. The
tenant's *champion* scores every lead; an optional *challenger* scores ``traffic_percent`` % of leads,
chosen by a stable hash of (tenant, lead id) (see :func:`leadtide.ml.registry.routes_to_challenger`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadtide.models.common import Count, Flag


class ModelStatus(StrEnum):
    """Lifecycle of a model version: queued -> training -> ready | failed; ready -> champion | challenger;
    a replaced champion (or a challenger that was dropped) -> retired / ready."""

    QUEUED = "queued"
    TRAINING = "training"
    READY = "ready"
    CHAMPION = "champion"
    CHALLENGER = "challenger"
    RETIRED = "retired"
    FAILED = "failed"


class ModelOrigin(StrEnum):
    """Where a model version's training data came from."""

    TENANT = "tenant"  # the tenant's own converted/lost leads
    STARTER = "starter"  # the shared starter model (public data), adopted by a new tenant


class ModelMetrics(BaseModel):
    """Offline evaluation on the time-based held-out split, as computed at training time.

    ``roc_auc``/``pr_auc``: areas under the ROC and precision-recall curves; ``brier``: mean squared error
    of the probabilities; ``ece``: expected calibration error (10 equal-width bins). ``rows``/``positives``:
    training rows and converted leads among them. Null when the held-out split had one class only.
    """

    model_config = ConfigDict(extra="allow")

    roc_auc: float | None = None
    pr_auc: float | None = None
    brier: float | None = None
    ece: float | None = None
    rows: int = 0
    positives: int = 0


class LivePerformance(BaseModel):
    """Running performance of a model version on the leads it scored that have since converted or been lost.

    ``roc_auc`` only once both classes have at least 10 outcomes (below that it is too noisy to show).
    """

    count: int = 0
    positives: int = 0
    brier: float | None = None
    roc_auc: float | None = None
    mean_probability: float | None = None


class ModelVersion(BaseModel):
    """One entry of a tenant's model registry (``GET /scoring-models/{id}/versions/{version}``)."""

    model_config = ConfigDict(protected_namespaces=())

    tenant_id: str
    model_version: str
    scoring_model_id: str
    status: ModelStatus
    origin: ModelOrigin = ModelOrigin.TENANT
    metrics: ModelMetrics | None = None
    features: list[str] = Field(default_factory=list)
    date_from: datetime | None = Field(default=None, description="oldest training lead's created_at")
    date_to: datetime | None = Field(default=None, description="newest training lead's created_at")
    artifact_key: str | None = Field(
        default=None, description="S3 key of model.tar.gz in the artifacts bucket"
    )
    library_versions: dict[str, str] = Field(default_factory=dict)
    requested_by: str | None = None
    error: str | None = Field(default=None, description="why training failed (status failed)")
    comparison: dict[str, Any] | None = Field(
        default=None,
        description="paired comparison with the champion of its training time on the same recent held-out "
        "outcomes: champion, n, positives, roc_auc_champion, roc_auc_candidate, delta, ci_low, ci_high, better",
    )
    promoted_at: datetime | None = None
    promotion: dict[str, Any] | None = Field(
        default=None, description="the comparison (or forced reason) that made it champion"
    )
    created_at: datetime
    updated_at: datetime
    performance: LivePerformance | None = Field(
        default=None, description="running metrics on recorded outcomes (filled by the versions API)"
    )


class ModelPointer(BaseModel):
    """The tenant's serving configuration: champion, optional challenger and its share of leads (percent)."""

    model_config = ConfigDict(protected_namespaces=())

    champion: str | None = None
    challenger: str | None = None
    traffic_percent: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None
    revision: int = 0


class ModelOutcome(BaseModel):
    """A scored lead that reached an outcome: which version scored it, with what probability, and the outcome
    (1 converted, 0 lost)."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    lead_id: str
    probability: float
    converted: int
    recorded_at: datetime


class TrainRequest(BaseModel):
    """Body of ``POST /scoring-models/{id}/train`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    starter: Flag = Field(
        default=False,
        description="adopt the shared starter model (trained on public lead data) instead of training on "
        "this tenant's leads; for tenants without enough converted/lost leads yet",
    )


class TrainAccepted(BaseModel):
    """Answer of ``POST /scoring-models/{id}/train`` (202): the version that will be trained."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    status: ModelStatus
    converted: int = Field(description="converted leads available for training")
    lost: int = Field(description="lost leads available for training")


class ModelVersionList(BaseModel):
    """``GET /scoring-models/{id}/versions``: newest first, with the serving pointer."""

    items: list[ModelVersion]
    pointer: ModelPointer


class PromoteRequest(BaseModel):
    """Body of ``POST /scoring-models/{id}/versions/{version}/promote``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    force: Flag = Field(default=False, description="admins only: promote without the comparison")
    reason: str | None = Field(default=None, max_length=500, description="required with force")


class PromotionResult(BaseModel):
    """Answer of a promotion: the new pointer and the comparison that allowed it."""

    pointer: ModelPointer
    comparison: dict[str, Any]


class ChallengerRequest(BaseModel):
    """Body of ``PUT /scoring-models/{id}/challenger``; ``model_version: null`` stops the challenger."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_version: str | None = Field(default=None, max_length=64)
    traffic_percent: Count = Field(
        default=10, ge=1, le=50, description="share of leads the challenger scores"
    )
