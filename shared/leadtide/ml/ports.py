"""Data-access interfaces of predictive scoring in production (registry, artifacts, outcomes, training data).

Implemented over DynamoDB and S3 in :mod:`leadtide.dal.ml` and by in-memory fakes in the tests. Nothing here
imports boto3, PynamoDB or scikit-learn.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from leadtide.models.leads import Lead
from leadtide.models.ml import ModelOutcome, ModelPointer, ModelVersion

STARTER_SCOPE = "#starter"
"""The registry scope of the shared starter model (not a valid tenant id, so no tenant can collide)."""


class PointerConflictError(Exception):
    """The serving pointer changed since it was read (another promotion ran); re-read and retry."""


class ModelRegistryRepository(ABC):
    """Model versions, the champion/challenger pointer and the outcomes of each tenant (``scope`` is a tenant
    id, or :data:`STARTER_SCOPE` for the shared starter model)."""

    @abstractmethod
    def create_version(self, scope: str, version: ModelVersion) -> None:
        """Store a new version (conditional: the version id must be new). Raises ValueError when it exists."""

    @abstractmethod
    def save_version(
        self, scope: str, version: ModelVersion, *, expect_status: set[str] | None = None
    ) -> None:
        """Overwrite a version; with ``expect_status`` only when its stored status is one of them.

        Raises:
            ModelVersionNotFoundError: absent, or its status is not one of ``expect_status``.
        """

    @abstractmethod
    def get_version(self, scope: str, model_version: str) -> ModelVersion:
        """Raises ModelVersionNotFoundError."""

    @abstractmethod
    def list_versions(self, scope: str, *, limit: int = 100) -> list[ModelVersion]:
        """Newest first (versions sort by training time)."""

    @abstractmethod
    def get_pointer(self, scope: str) -> ModelPointer:
        """The serving pointer (an empty pointer with revision 0 when none was saved)."""

    @abstractmethod
    def save_pointer(self, scope: str, pointer: ModelPointer, *, expected_revision: int) -> ModelPointer:
        """Store ``pointer`` with revision ``expected_revision + 1`` if the stored revision is still
        ``expected_revision``; return what was stored.

        Raises:
            PointerConflictError: someone else changed the pointer meanwhile.
        """

    @abstractmethod
    def put_outcome(self, tenant_id: str, outcome: ModelOutcome) -> None:
        """Record (or overwrite: idempotent per lead and version) the outcome of a scored lead."""

    @abstractmethod
    def list_outcomes(self, tenant_id: str, model_version: str) -> list[ModelOutcome]:
        """Every outcome recorded for the version."""

    @abstractmethod
    def register_tenant(self, tenant_id: str, scoring_model_id: str) -> None:
        """Remember that the tenant uses predictive scoring (the scheduled retraining visits it)."""

    @abstractmethod
    def iter_tenants(self) -> Iterator[tuple[str, str | None]]:
        """Every registered (tenant id, scoring model id of its last training request)."""


class ArtifactStore(ABC):
    """Model artifacts (``model.tar.gz``) in the artifacts bucket, by key."""

    @abstractmethod
    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        """Write the object (server-side encrypted by the bucket's default)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Read the object. Raises KeyError when it does not exist."""


class TrainingDataSource(ABC):
    """The tenant's leads that have an outcome (converted or lost), for training and held-out comparison."""

    @abstractmethod
    def labelled_leads(self, tenant_id: str) -> Iterator[Lead]:
        """Leads with status Converted or Lost, oldest first (by created_at)."""


def artifact_key(scope: str, model_version: str) -> str:
    """``models/<tenant>/<version>/model.tar.gz`` (SageMaker's layout); the starter model lives under
    ``models/_starter/``."""
    owner = "_starter" if scope == STARTER_SCOPE else scope
    return f"models/{owner}/{model_version}/model.tar.gz"


def lead_record(lead: Lead | dict[str, Any]) -> dict[str, Any]:
    """The plain mapping a model sees for a lead (``Lead.model_dump(mode="json")``), as the scoring port
    passes it."""
    return lead.model_dump(mode="json") if isinstance(lead, Lead) else dict(lead)
