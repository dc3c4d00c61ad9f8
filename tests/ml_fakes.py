"""In-memory fakes of the predictive-scoring ports (leadtide.ml.ports), with the DynamoDB contracts:
conditional version creation, status-conditional saves, revision-checked pointer saves."""

from __future__ import annotations

from collections.abc import Iterator

from leadtide.ml.ports import (
    ArtifactStore,
    ModelRegistryRepository,
    PointerConflictError,
    TrainingDataSource,
)
from leadtide.models.common import LeadStatus, utc_now
from leadtide.models.errors import ModelVersionNotFoundError
from leadtide.models.leads import Lead
from leadtide.models.ml import ModelOutcome, ModelPointer, ModelVersion


class FakeModelRegistry(ModelRegistryRepository):
    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], ModelVersion] = {}
        self.pointers: dict[str, ModelPointer] = {}
        self.outcomes: dict[tuple[str, str, str], ModelOutcome] = {}
        self.tenants: dict[str, str] = {}
        self.pointer_reads = 0

    def create_version(self, scope, version):
        key = (scope, version.model_version)
        if key in self.versions:
            raise ValueError("exists")
        self.versions[key] = version

    def save_version(self, scope, version, *, expect_status=None):
        key = (scope, version.model_version)
        current = self.versions.get(key)
        if current is None or (expect_status and str(current.status) not in expect_status):
            raise ModelVersionNotFoundError("not found")
        self.versions[key] = version

    def get_version(self, scope, model_version):
        try:
            return self.versions[(scope, model_version)]
        except KeyError:
            raise ModelVersionNotFoundError(f"model version {model_version} not found") from None

    def list_versions(self, scope, *, limit=100):
        found = [v for (s, _), v in self.versions.items() if s == scope]
        return sorted(found, key=lambda v: v.model_version, reverse=True)[:limit]

    def get_pointer(self, scope):
        self.pointer_reads += 1
        return self.pointers.get(scope, ModelPointer())

    def save_pointer(self, scope, pointer, *, expected_revision):
        if self.pointers.get(scope, ModelPointer()).revision != expected_revision:
            raise PointerConflictError("changed")
        stored = pointer.model_copy(update={"revision": expected_revision + 1, "updated_at": utc_now()})
        self.pointers[scope] = stored
        return stored

    def put_outcome(self, tenant_id, outcome):
        self.outcomes[(tenant_id, outcome.model_version, outcome.lead_id)] = outcome

    def list_outcomes(self, tenant_id, model_version):
        return [o for (t, v, _), o in self.outcomes.items() if t == tenant_id and v == model_version]

    def register_tenant(self, tenant_id, scoring_model_id):
        self.tenants[tenant_id] = scoring_model_id

    def iter_tenants(self) -> Iterator[tuple[str, str | None]]:
        yield from self.tenants.items()


class FakeArtifactStore(ArtifactStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets = 0

    def put(self, key, data, metadata=None):
        self.objects[key] = data

    def get(self, key):
        self.gets += 1
        return self.objects[key]


class FakeTrainingData(TrainingDataSource):
    """Closed leads of the FakeLeadRepository (or of a plain list), oldest first."""

    def __init__(self, leads: list[Lead]) -> None:
        self.leads = leads

    def labelled_leads(self, tenant_id):
        closed = [
            lead
            for lead in self.leads
            if lead.tenant_id == tenant_id and lead.status in (LeadStatus.CONVERTED, LeadStatus.LOST)
        ]
        yield from sorted(closed, key=lambda lead: lead.created_at)
