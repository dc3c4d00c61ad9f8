"""The composition root: every adapter and service of a Leadtide process, built on first use.

The shape of cosmicpython's ``bootstrap.py`` (Percival & Gregory, *Architecture Patterns with Python*,
ch. 13): one object knows how the parts fit; the parts only know their ports. :class:`Wiring` builds
each DynamoDB/S3/SQS/EventBridge/Secrets Manager adapter (``leadtide.dal``) and each service from
:class:`~leadtide.settings.Settings`, lazily (a cached property each, so a cold start pays only for what
its first request touches), and is the only module outside ``leadtide.dal`` and the tests that imports
the dal. Tests pass fakes in by name::

    wiring = Wiring(settings, lead_repository=FakeLeadRepository(), event_publisher=FakePublisher())
    wiring.lead_service  # a LeadService over the fakes

Handlers take the process-wide instance from :func:`get_wiring`; :func:`reset` forgets it (and the
settings and the PynamoDB connections) when the local stack or a test switches environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadtide.bulk.ports import BulkActionRepository, CustomFieldCatalog, LeadCollections
    from leadtide.bulk.service import BulkActionService
    from leadtide.capture.capture import CaptureService
    from leadtide.capture.ports import DeliveryStore
    from leadtide.capture.receive import StoredDeliveryReader, WebhookReceiver
    from leadtide.channels.ports import ChannelRepository
    from leadtide.channels.service import ChannelService
    from leadtide.customfields.ports import CustomFieldRepository
    from leadtide.customfields.service import CustomFieldService
    from leadtide.duplicates.merge import MergeService
    from leadtide.duplicates.ports import DuplicateRepository, MergeEngagement, MergeStore
    from leadtide.duplicates.service import DuplicateService
    from leadtide.exports.ports import ArtifactStorage, ExportRepository
    from leadtide.exports.service import ExportService
    from leadtide.imports.pipeline import ImportPipeline
    from leadtide.imports.ports import ImportArtifacts, ImportRepository, LeadBulkStore
    from leadtide.imports.service import ImportService
    from leadtide.leads.backfill import LeadBackfillService
    from leadtide.leads.message_texts import MessageTextService
    from leadtide.leads.ports import (
        BackfillRunRepository,
        LeadRepository,
        MessageTextStore,
        ProfileBackfillStore,
    )
    from leadtide.leads.service import LeadService
    from leadtide.lists.ports import ListJobRepository, ListRepository
    from leadtide.lists.service import ListService
    from leadtide.ml.ports import ArtifactStore, ModelRegistryRepository, TrainingDataSource
    from leadtide.ml.registry import ModelRegistryService
    from leadtide.ml.train_job import TrainingJob
    from leadtide.ports import CommandQueue, EventPublisher, SecretStore
    from leadtide.scoring.admin import ScoringAdminService
    from leadtide.scoring.ports import ConversionPredictor, ScoringStore
    from leadtide.scoring.service import ScoringService
    from leadtide.segments.ports import SegmentRepository
    from leadtide.segments.service import SegmentService
    from leadtide.settings import Settings
    from leadtide.tracking.ports import TrackingStore
    from leadtide.tracking.service import TrackingService

JobMessages = Sequence[Mapping[str, Any]]


class Wiring:
    """Adapters and services of one process, each built on first access and then kept.

    Args:
        settings: the deployment's settings (default: :func:`leadtide.settings.get_settings`).
        **overrides: replacements by attribute name (``lead_repository=FakeLeadRepository()``); what is
            not overridden is built from ``settings`` on first use.

    Raises:
        TypeError: an override names no attribute of the wiring.
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any):
        unknown = sorted(
            name for name in overrides if not isinstance(getattr(type(self), name, None), cached_property)
        )
        if unknown:
            raise TypeError(f"Wiring has no component named {', '.join(unknown)}")
        if settings is None:
            from leadtide.settings import (
                get_settings,  # pydantic-settings: loaded by the first wiring, not import
            )

            settings = get_settings()
        self.settings = settings
        # A cached_property reads the instance dict first: an override is simply the already-built value.
        self.__dict__.update(overrides)

    # ------------------------------------------------------------------------------------ DynamoDB
    @cached_property
    def _tables_bound(self) -> bool:
        """Point the PynamoDB item classes at this deployment's table names (once per wiring)."""
        from leadtide.dal.items import bind_tables

        bind_tables(self.settings.leads_table, self.settings.channels_table)
        return True

    @cached_property
    def lead_repository(self) -> LeadRepository:
        """Leads, identities, activities and dashboards in ``LEADS_TABLE``."""
        from leadtide.dal.leads import DynamoLeadRepository

        assert self._tables_bound
        return DynamoLeadRepository(message_texts=self.message_text_store)

    @cached_property
    def channel_repository(self) -> ChannelRepository:
        """Channels, routes and claims in ``CHANNELS_TABLE``."""
        from leadtide.dal.channels import DynamoChannelRepository

        assert self._tables_bound
        return DynamoChannelRepository()

    @cached_property
    def model_registry(self) -> ModelRegistryRepository:
        """ML model versions, pointers and outcomes in ``LEADS_TABLE``."""
        from leadtide.dal.ml import DynamoModelRegistry

        assert self._tables_bound
        return DynamoModelRegistry()

    @cached_property
    def training_data(self) -> TrainingDataSource:
        """The tenant's converted/lost leads, read from ``LEADS_TABLE``."""
        from leadtide.dal.ml import DynamoTrainingData

        assert self._tables_bound
        return DynamoTrainingData()

    @cached_property
    def export_repository(self) -> ExportRepository:
        """Export records in ``LEADS_TABLE``."""
        from leadtide.dal.exports import DynamoExportRepository

        assert self._tables_bound
        return DynamoExportRepository()

    @cached_property
    def bulk_action_repository(self) -> BulkActionRepository:
        """Bulk-action records, progress and chunk markers in ``LEADS_TABLE``."""
        from leadtide.dal.bulk import DynamoBulkActionRepository

        assert self._tables_bound
        return DynamoBulkActionRepository()

    @cached_property
    def custom_field_repository(self) -> CustomFieldRepository:
        """Custom field definitions in ``LEADS_TABLE``."""
        from leadtide.dal.custom_fields import DynamoCustomFieldRepository

        assert self._tables_bound
        return DynamoCustomFieldRepository()

    @cached_property
    def list_repository(self) -> ListRepository:
        """Static lists and their memberships in ``LEADS_TABLE``."""
        from leadtide.dal.lists import DynamoListRepository

        assert self._tables_bound
        return DynamoListRepository()

    @cached_property
    def list_job_repository(self) -> ListJobRepository:
        """Background jobs of static lists (filter adds) in ``LEADS_TABLE``."""
        from leadtide.dal.list_jobs import DynamoListJobRepository

        assert self._tables_bound
        return DynamoListJobRepository()

    @cached_property
    def segment_repository(self) -> SegmentRepository:
        """Segments, their memberships and the lead records they evaluate, in ``LEADS_TABLE``."""
        from leadtide.dal.segments import DynamoSegmentRepository

        assert self._tables_bound
        return DynamoSegmentRepository()

    @cached_property
    def scoring_store(self) -> ScoringStore:
        """Scoring models, engagement records and scores in ``LEADS_TABLE``."""
        from leadtide.dal.scoring_models import DynamoScoringStore

        assert self._tables_bound
        return DynamoScoringStore()

    @cached_property
    def tracking_store(self) -> TrackingStore:
        """Tracked behaviour events and API keys in ``LEADS_TABLE``."""
        from leadtide.dal.tracking import DynamoTrackingStore

        assert self._tables_bound
        return DynamoTrackingStore()

    @cached_property
    def import_repository(self) -> ImportRepository:
        """Import records, chunk markers and saved mappings in ``LEADS_TABLE``."""
        from leadtide.dal.imports import DynamoImportRepository

        assert self._tables_bound
        return DynamoImportRepository()

    @cached_property
    def lead_bulk_store(self) -> LeadBulkStore:
        """Bulk lead reads/writes of imports (BatchGetItem, TransactWriteItems) on ``LEADS_TABLE``."""
        from leadtide.dal.import_bulk import DynamoLeadBulkStore

        assert self._tables_bound
        return DynamoLeadBulkStore(self.settings.leads_table)

    @cached_property
    def profile_backfill_store(self) -> ProfileBackfillStore:
        """Lead-profile backfill reads and conditional writes on ``LEADS_TABLE``."""
        from leadtide.dal.lead_backfill import DynamoProfileBackfillStore

        assert self._tables_bound
        return DynamoProfileBackfillStore()

    @cached_property
    def backfill_run_repository(self) -> BackfillRunRepository:
        """Lead-profile backfill run records in ``LEADS_TABLE``."""
        from leadtide.dal.backfill_runs import DynamoBackfillRunRepository

        assert self._tables_bound
        return DynamoBackfillRunRepository()

    @cached_property
    def duplicate_repository(self) -> DuplicateRepository:
        """Duplicate pairs and scan state in ``LEADS_TABLE``."""
        from leadtide.dal.duplicates import DynamoDuplicateRepository

        assert self._tables_bound
        return DynamoDuplicateRepository()

    @cached_property
    def merge_store(self) -> MergeStore:
        """Merges in ``LEADS_TABLE`` (large before-images in ``ARTIFACTS_BUCKET``)."""
        from leadtide.dal.duplicates import DynamoMergeStore

        assert self._tables_bound
        return DynamoMergeStore(bucket=self.settings.artifacts_bucket)

    @cached_property
    def merge_engagement(self) -> MergeEngagement:
        """Behaviour engagement records moved across merges, in ``LEADS_TABLE``."""
        from leadtide.dal.merge_engagement import DynamoMergeEngagement
        from leadtide.duplicates.engagement import combine_engagement, separate_engagement

        assert self._tables_bound
        return DynamoMergeEngagement(combine=combine_engagement, separate=separate_engagement)

    # ------------------------------------------------------------------ S3, SQS, EventBridge, secrets
    @cached_property
    def secret_store(self) -> SecretStore:
        """Secrets Manager with the configured cache time."""
        from leadtide.dal.aws import SecretsManagerStore

        return SecretsManagerStore(ttl_seconds=self.settings.secret_cache_seconds)

    @cached_property
    def event_publisher(self) -> EventPublisher:
        """EventBridge publisher for ``EVENT_BUS_NAME``."""
        from leadtide.dal.aws import EventBridgePublisher

        return EventBridgePublisher(self.settings.event_bus_name)

    @cached_property
    def ingest_queue(self) -> CommandQueue:
        """The ingest queue (``INGEST_QUEUE_URL``)."""
        from leadtide.dal.aws import SqsQueue

        return SqsQueue(self.settings.ingest_queue_url)

    @cached_property
    def scoring_queue(self) -> CommandQueue:
        """The scoring queue (``SCORING_QUEUE_URL``)."""
        from leadtide.dal.aws import SqsQueue

        return SqsQueue(self.settings.scoring_queue_url)

    @cached_property
    def jobs_queue(self) -> CommandQueue:
        """The background-jobs queue (``JOBS_QUEUE_URL``)."""
        from leadtide.dal.aws import SqsQueue

        return SqsQueue(self.settings.jobs_queue_url)

    @cached_property
    def training_queue(self) -> CommandQueue | None:
        """The training queue (``TRAINING_QUEUE_URL``); None when this deployment has none."""
        from leadtide.dal.aws import SqsQueue

        return SqsQueue(self.settings.training_queue_url) if self.settings.training_queue_url else None

    @cached_property
    def delivery_store(self) -> DeliveryStore:
        """Claim-checked deliveries (``deliveries/``) in ``ARTIFACTS_BUCKET``."""
        from leadtide.dal.deliveries import S3DeliveryStore

        return S3DeliveryStore(self.settings.artifacts_bucket)

    @cached_property
    def message_text_store(self) -> MessageTextStore:
        """Whole texts of truncated message activities (``message-texts/``) in ``ARTIFACTS_BUCKET``."""
        from leadtide.dal.deliveries import S3MessageTextStore

        return S3MessageTextStore(self.settings.artifacts_bucket)

    @cached_property
    def artifact_store(self) -> ArtifactStore:
        """Model artifacts (``model.tar.gz``) in ``ARTIFACTS_BUCKET``."""
        from leadtide.dal.ml import S3ArtifactStore

        return S3ArtifactStore(self.settings.artifacts_bucket)

    @cached_property
    def export_storage(self) -> ArtifactStorage:
        """Export files and bulk-action failure reports in ``ARTIFACTS_BUCKET``."""
        from leadtide.dal.exports import S3ArtifactStorage

        return S3ArtifactStorage(self.settings.artifacts_bucket)

    @cached_property
    def import_artifacts(self) -> ImportArtifacts:
        """Import files (uploads, chunks, plans, error reports) in ``ARTIFACTS_BUCKET``."""
        from leadtide.dal.import_artifacts import S3ImportArtifacts

        return S3ImportArtifacts(self.settings.artifacts_bucket)

    @cached_property
    def enqueue_jobs(self) -> Callable[[JobMessages], None]:
        """Queues job steps on the jobs queue (:func:`leadtide.jobs.dispatch.send_jobs`); the queue's
        client is made on the first call."""
        from leadtide.jobs.dispatch import send_jobs

        return lambda messages: send_jobs(self.jobs_queue, messages)

    # ---------------------------------------------------------------------------------- services
    @cached_property
    def custom_field_service(self) -> CustomFieldService:
        """Custom field definitions and value validation."""
        from leadtide.customfields.service import CustomFieldService

        return CustomFieldService(
            self.custom_field_repository, default_region=self.settings.default_phone_region
        )

    @cached_property
    def lead_service(self) -> LeadService:
        """Leads, timeline, notes and the dashboard."""
        from leadtide.leads.service import LeadService

        return LeadService(
            self.lead_repository,
            self.event_publisher,
            default_region=self.settings.default_phone_region,
            custom_fields=self.custom_field_service,
        )

    @cached_property
    def channel_service(self) -> ChannelService:
        """Connected channels and their secrets."""
        from leadtide.channels.service import ChannelService

        return ChannelService(
            self.channel_repository, self.secret_store, secrets_prefix=self.settings.secrets_prefix
        )

    @cached_property
    def webhook_receiver(self) -> WebhookReceiver:
        """Verification and queuing of inbound deliveries."""
        from leadtide.capture.receive import WebhookReceiver

        return WebhookReceiver(
            self.channel_repository,
            self.secret_store,
            self.ingest_queue,
            deliveries=self.delivery_store,
            default_region=self.settings.default_phone_region,
        )

    @cached_property
    def stored_delivery_reader(self) -> StoredDeliveryReader:
        """The Ingest worker's reader of claim-checked deliveries."""
        from leadtide.capture.receive import StoredDeliveryReader

        return StoredDeliveryReader(self.delivery_store, default_region=self.settings.default_phone_region)

    @cached_property
    def capture_service(self) -> CaptureService:
        """Turning queued deliveries into leads and activities."""
        from leadtide.capture.capture import CaptureService

        return CaptureService(
            self.lead_repository,
            self.event_publisher,
            message_texts=self.message_text_store,
            default_region=self.settings.default_phone_region,
        )

    @cached_property
    def message_text_service(self) -> MessageTextService:
        """Whole texts of truncated message activities over the API."""
        from leadtide.leads.message_texts import MessageTextService

        return MessageTextService(self.lead_service, self.lead_repository, self.message_text_store)

    @cached_property
    def tracking_service(self) -> TrackingService:
        """Tracked behaviour events and API keys."""
        from leadtide.tracking.service import TrackingService

        return TrackingService(
            self.lead_repository,
            self.tracking_store,
            self.event_publisher,
            default_region=self.settings.default_phone_region,
        )

    @cached_property
    def list_service(self) -> ListService:
        """Static lists and their background jobs."""
        from leadtide.lists.service import ListService

        return ListService(
            self.list_repository,
            self.lead_repository,
            self.event_publisher,
            enqueue=self.enqueue_jobs,
            jobs=self.list_job_repository,
            default_region=self.settings.default_phone_region,
            custom_fields=self.custom_field_service,
        )

    @cached_property
    def segment_service(self) -> SegmentService:
        """Dynamic segments."""
        from leadtide.segments.service import SegmentService

        return SegmentService(
            self.segment_repository,
            self.event_publisher,
            enqueue=self.enqueue_jobs,
            field_types=self._custom_field_types,
            lists=lambda: self.list_service,
        )

    def _custom_field_types(self, tenant_id: str) -> Mapping[str, str]:
        definitions = self.custom_field_service.definitions_by_key(tenant_id)
        return {key: str(getattr(d, "type", "text")) for key, d in definitions.items()}

    @cached_property
    def lead_collections(self) -> LeadCollections:
        """Lists and segments as seen by selections, exports and bulk actions."""
        from leadtide.bulk.collections import ServiceCollections

        return ServiceCollections(lists=lambda: self.list_service, segments=lambda: self.segment_service)

    @cached_property
    def custom_field_catalog(self) -> CustomFieldCatalog:
        """Custom fields as export columns."""
        from leadtide.bulk.collections import ServiceCustomFields

        return ServiceCustomFields(lambda: self.custom_field_service)

    @cached_property
    def export_service(self) -> ExportService:
        """Exports (CSV/XLSX/JSON) of a selection of leads."""
        from leadtide.bulk.selection import SelectionResolver
        from leadtide.exports.service import ExportService

        return ExportService(
            self.export_repository,
            self.export_storage,
            SelectionResolver(
                self.lead_repository, self.lead_collections, custom_fields=self.custom_field_service
            ),
            self.custom_field_catalog,
            self.enqueue_jobs,
        )

    @cached_property
    def bulk_action_service(self) -> BulkActionService:
        """Bulk actions over a selection of leads."""
        from leadtide.bulk.selection import SelectionResolver
        from leadtide.bulk.service import BulkActionService

        return BulkActionService(
            self.bulk_action_repository,
            self.lead_repository,
            self.lead_service,
            SelectionResolver(
                self.lead_repository, self.lead_collections, custom_fields=self.custom_field_service
            ),
            self.lead_collections,
            self.export_storage,
            lambda: self.export_service,
            self.enqueue_jobs,
        )

    @cached_property
    def import_pipeline(self) -> ImportPipeline:
        """The import pipeline: analyse, plan, chunk, rollback."""
        from leadtide.imports.pipeline import ImportPipeline
        from leadtide.imports.reading import XlsxLimits
        from leadtide.imports.validation import MxChecker

        return ImportPipeline(
            self.import_repository,
            self.lead_bulk_store,
            self.import_artifacts,
            self.event_publisher,
            self.enqueue_jobs,
            lambda tenant_id: list(self.custom_field_service.list_definitions(tenant_id)),
            xlsx_limits=XlsxLimits.from_settings(self.settings),
            mx_checker=MxChecker(),
        )

    @cached_property
    def import_service(self) -> ImportService:
        """Imports over the API: create, preview, map, start, undo, retention."""
        from leadtide.imports.service import ImportService

        return ImportService(
            self.import_repository, self.import_artifacts, self.import_pipeline, self.enqueue_jobs
        )

    @cached_property
    def backfill_service(self) -> LeadBackfillService:
        """Lead-profile backfill runs."""
        from leadtide.leads.backfill import LeadBackfillService

        return LeadBackfillService(
            self.profile_backfill_store, runs=self.backfill_run_repository, enqueue=self.enqueue_jobs
        )

    @cached_property
    def duplicate_service(self) -> DuplicateService:
        """Duplicate detection."""
        from leadtide.duplicates.service import DuplicateService

        return DuplicateService(self.duplicate_repository, self.lead_repository, self.enqueue_jobs)

    @cached_property
    def merge_service(self) -> MergeService:
        """Lead merges and their undo."""
        from leadtide.duplicates.merge import MergeService
        from leadtide.duplicates.service import ListsServiceMemberships

        return MergeService(
            self.merge_store,
            self.event_publisher,
            pairs=self.duplicate_repository,
            lists=ListsServiceMemberships(self.list_service),
            enqueue=self.enqueue_jobs,
            engagement=self.merge_engagement,
        )

    @cached_property
    def conversion_predictor(self) -> ConversionPredictor | None:
        """The ML conversion predictor; None without an artifacts bucket, or where ``leadtide.ml``'s
        dependencies (the scikit-learn layer) are not installed: rules scoring runs without it."""
        if not self.settings.artifacts_bucket:
            return None
        try:
            from leadtide.ml.predictor import RegistryConversionPredictor
        except ImportError:
            return None
        return RegistryConversionPredictor(
            self.model_registry,
            self.artifact_store,
            pointer_ttl_seconds=self.settings.model_pointer_cache_seconds,
        )

    @cached_property
    def scoring_service(self) -> ScoringService:
        """Scoring of leads (rules and ML)."""
        from leadtide.scoring.service import ScoringService

        return ScoringService(
            self.lead_repository,
            self.event_publisher,
            self.scoring_queue,
            store=self.scoring_store,
            predictor=self.conversion_predictor,
        )

    @cached_property
    def scoring_admin_service(self) -> ScoringAdminService:
        """Scoring-model CRUD, activation, overrides and history."""
        from leadtide.scoring.admin import ScoringAdminService

        return ScoringAdminService(
            self.scoring_store, self.lead_repository, self.event_publisher, enqueue=self.enqueue_jobs
        )

    @cached_property
    def model_registry_service(self) -> ModelRegistryService:
        """The ML model registry over the API (train, promote, roll back)."""
        from leadtide.ml.registry import ModelRegistryService

        return ModelRegistryService(self.model_registry, self.lead_repository, self.training_queue)

    @cached_property
    def training_job(self) -> TrainingJob:
        """Training of ML models (the Training function)."""
        from leadtide.ml.train_job import TrainingJob

        return TrainingJob(
            self.model_registry,
            self.artifact_store,
            self.training_data,
            self.lead_repository,
            self.training_queue,
        )


_current: Wiring | None = None


def get_wiring() -> Wiring:
    """The process-wide wiring, created from the environment's settings on first call."""
    global _current
    if _current is None:
        _current = Wiring()
    return _current


def use_wiring(wiring: Wiring) -> Wiring:
    """Make ``wiring`` the process-wide one (tests); returns it."""
    global _current
    _current = wiring
    return wiring


def reset() -> None:
    """Forget the process-wide wiring, the settings and PynamoDB's cached connections.

    The one reset of the process: the local stack calls it when it points the process at moto (and back),
    tests when they switch environment. What the next :func:`get_wiring` builds reads the environment anew.
    """
    import sys

    global _current
    _current = None
    if "leadtide.settings" in sys.modules:
        sys.modules["leadtide.settings"].get_settings.cache_clear()

    if "leadtide.dal.items" in sys.modules:
        from leadtide.dal.items import forget_connections

        forget_connections()
