"""DynamoDB and S3 implementations of the predictive-scoring ports (:mod:`leadtide.ml.ports`).

Keys (LeadsTable, see items.py and docs/data-model.md):

* model version  pk=T#<tenant>#MLM  sk=V#<model_version>; the starter model's pk is MLSTARTER
* pointer        pk=T#<tenant>#MLM  sk=POINTER (champion, challenger, traffic_percent, revision)
* outcome        pk=T#<tenant>#MLO#<model_version>  sk=<lead_id>
* ML tenant      pk=MLTENANTS  sk=<tenant>

Artifacts: ``s3://<ArtifactsBucket>/models/<tenant>/<model_version>/model.tar.gz``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, PutError

from leadtide.dal.base import StorageAdapter
from leadtide.dal.errors import condition_failed
from leadtide.dal.items import (
    LeadItem,
    MlTenantItem,
    ModelOutcomeItem,
    ModelPointerItem,
    ModelVersionItem,
    tenant_list_pk,
)
from leadtide.dal.lead_profile import lead_from_item
from leadtide.ml.ports import (
    STARTER_SCOPE,
    ArtifactStore,
    ModelRegistryRepository,
    PointerConflictError,
    TrainingDataSource,
)
from leadtide.models.common import LeadStatus, utc_now
from leadtide.models.errors import ModelVersionNotFoundError
from leadtide.models.leads import Lead
from leadtide.models.ml import ModelOutcome, ModelPointer, ModelVersion

POINTER = "POINTER"
ML_TENANTS_PK = "MLTENANTS"


def registry_pk(scope: str) -> str:
    """Partition key of a scope's model versions and pointer."""
    return "MLSTARTER" if scope == STARTER_SCOPE else f"T#{scope}#MLM"


def outcome_pk(tenant_id: str, model_version: str) -> str:
    """Partition key of the outcomes of one model version."""
    return f"T#{tenant_id}#MLO#{model_version}"


class DynamoModelRegistry(StorageAdapter, ModelRegistryRepository):
    """Model registry, pointer, outcomes and ML tenants over the leads table (PynamoDB)."""

    def create_version(self, scope: str, version: ModelVersion) -> None:
        item = ModelVersionItem(
            registry_pk(scope),
            f"V#{version.model_version}",
            doc=version.model_dump(mode="json"),
            status=str(version.status),
        )
        try:
            item.save(condition=ModelVersionItem.pk.does_not_exist())
        except PutError as err:
            if condition_failed(err):
                raise ValueError(f"model version {version.model_version} already exists") from None
            raise

    def save_version(
        self, scope: str, version: ModelVersion, *, expect_status: set[str] | None = None
    ) -> None:
        item = ModelVersionItem(
            registry_pk(scope),
            f"V#{version.model_version}",
            doc=version.model_dump(mode="json"),
            status=str(version.status),
        )
        condition = ModelVersionItem.pk.exists()
        if expect_status:
            condition = condition & ModelVersionItem.status.is_in(*sorted(expect_status))
        try:
            item.save(condition=condition)
        except PutError as err:
            if condition_failed(err):
                raise ModelVersionNotFoundError(
                    f"model version {version.model_version} not found in state {sorted(expect_status or [])}"
                ) from None
            raise

    def get_version(self, scope: str, model_version: str) -> ModelVersion:
        try:
            item = ModelVersionItem.get(registry_pk(scope), f"V#{model_version}")
        except DoesNotExist:
            raise ModelVersionNotFoundError(f"model version {model_version} not found") from None
        return ModelVersion.model_validate(item.doc)

    def list_versions(self, scope: str, *, limit: int = 100) -> list[ModelVersion]:
        items = ModelVersionItem.query(
            registry_pk(scope), ModelVersionItem.sk.startswith("V#"), scan_index_forward=False, limit=limit
        )
        return [ModelVersion.model_validate(item.doc) for item in items]

    def get_pointer(self, scope: str) -> ModelPointer:
        try:
            item = ModelPointerItem.get(registry_pk(scope), POINTER, consistent_read=True)
        except DoesNotExist:
            return ModelPointer()
        return ModelPointer(
            champion=item.champion,
            challenger=item.challenger,
            traffic_percent=int(item.traffic_percent or 0),
            updated_at=item.updated_at,
            updated_by=item.updated_by,
            revision=int(item.revision or 0),
        )

    def save_pointer(self, scope: str, pointer: ModelPointer, *, expected_revision: int) -> ModelPointer:
        stored = pointer.model_copy(update={"revision": expected_revision + 1, "updated_at": utc_now()})
        item = ModelPointerItem(
            registry_pk(scope),
            POINTER,
            champion=stored.champion,
            challenger=stored.challenger,
            traffic_percent=stored.traffic_percent if stored.challenger else 0,
            revision=stored.revision,
            updated_by=stored.updated_by,
            updated_at=stored.updated_at,
        )
        condition = (
            ModelPointerItem.pk.does_not_exist()
            if expected_revision == 0
            else ModelPointerItem.revision == expected_revision
        )
        try:
            item.save(condition=condition)
        except PutError as err:
            if condition_failed(err):
                raise PointerConflictError("the model pointer changed meanwhile") from None
            raise
        return stored

    def put_outcome(self, tenant_id: str, outcome: ModelOutcome) -> None:
        ModelOutcomeItem(
            outcome_pk(tenant_id, outcome.model_version),
            outcome.lead_id,
            probability=outcome.probability,
            converted=outcome.converted,
            recorded_at=outcome.recorded_at,
        ).save()

    def list_outcomes(self, tenant_id: str, model_version: str) -> list[ModelOutcome]:
        return [
            ModelOutcome(
                model_version=model_version,
                lead_id=item.sk,
                probability=float(item.probability),
                converted=int(item.converted),
                recorded_at=item.recorded_at,
            )
            for item in ModelOutcomeItem.query(outcome_pk(tenant_id, model_version))
        ]

    def register_tenant(self, tenant_id: str, scoring_model_id: str) -> None:
        MlTenantItem(
            ML_TENANTS_PK, tenant_id, scoring_model_id=scoring_model_id, registered_at=utc_now()
        ).save()

    def iter_tenants(self) -> Iterator[tuple[str, str | None]]:
        for item in MlTenantItem.query(ML_TENANTS_PK):
            yield item.sk, item.scoring_model_id


class DynamoTrainingData(StorageAdapter, TrainingDataSource):
    """Labelled leads read from the ``leads_by_created`` index (oldest first), filtered to Converted/Lost."""

    def labelled_leads(self, tenant_id: str) -> Iterator[Lead]:
        outcome = LeadItem.status.is_in(str(LeadStatus.CONVERTED), str(LeadStatus.LOST))
        for item in LeadItem.by_created.query(
            tenant_list_pk(tenant_id), filter_condition=outcome, scan_index_forward=True, page_size=500
        ):
            yield lead_from_item(item)


class S3ArtifactStore(StorageAdapter, ArtifactStore):
    """Objects in the artifacts bucket (client created on first use)."""

    def __init__(self, bucket: str):
        self._bucket = bucket

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("s3")

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=data,
            ContentType="application/gzip",
            Metadata=metadata or {},
        )

    def get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as err:
            if err.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise KeyError(key) from err
            raise
        body: bytes = response["Body"].read()
        return body
