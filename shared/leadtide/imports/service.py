"""Import use cases behind ``/imports`` and ``/import-mappings``: create (presigned upload), progress,
preview, mapping correction, start, history, error report, rollback, saved mappings.

Access rule: imports are for admins and managers only (403 for reps). An import creates and changes
leads of the whole tenant in bulk - leads a rep could not see or edit one by one - and a rollback deletes
them. Every key carries the caller's tenant (``imports/<tenant>/...`` in S3, ``T#<tenant>#IMPORTS`` in
DynamoDB), so another tenant's import is simply not found.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from leadtide.imports.models import (
    FINISHED,
    ErrorReportLink,
    FailedChunk,
    ImportCreate,
    ImportCreated,
    ImportJob,
    ImportOptions,
    ImportPage,
    ImportPreview,
    ImportRecord,
    ImportStatus,
    MappingUpdate,
    SavedMappingList,
    UploadTarget,
)
from leadtide.imports.pipeline import ImportPipeline, data_key, source_key
from leadtide.imports.ports import ImportArtifacts, ImportRepository
from leadtide.models.auth import Principal
from leadtide.models.common import utc_now
from leadtide.models.errors import (
    ForbiddenError,
    ImportDataExpiredError,
    ImportNotFoundError,
    ImportStateError,
    UnprocessableError,
)

log = logging.getLogger(__name__)

UPLOAD_URL_SECONDS = 3600
REPORT_URL_SECONDS = 900
MAX_PAGE_SIZE = 100
IMPORT_RETENTION_DAYS = 30
"""Uploaded files and the import's work files (chunks, error report, before-images in ``plans/``, undo
plans) are deleted this many days after they are written: bucket lifecycle rules ``ExpireImportUploads``
(``imports/``) and ``ExpireImportData`` (``import-data/``) in template.yaml, which tests keep equal."""
ROLLBACK_MARGIN_DAYS = 1
"""Rollback closes this long before the earliest deletion, so that a rollback started at the last moment
still finds its before-images while its chunk steps run (and are retried)."""
SWEEP_KIND = "imports.sweep_expired"
"""Jobs-queue kind of the nightly sweep: without ``tenant_id`` it fans out one step per tenant that has
imports; with ``tenant_id`` it sweeps that tenant (:meth:`ImportService.sweep_expired`)."""
FILE_CONTENT_KEYS = ("sample", "preview")
"""Fields of an :class:`ImportRecord` that copy cells of the uploaded file (the first rows, raw and as
they would import): emptied by the sweep once the file itself is gone. Every other field holds column
names, options, counts, the mapping or messages without cell values, and stays."""
IN_FLIGHT = (
    ImportStatus.ANALYSING,
    ImportStatus.QUEUED,
    ImportStatus.PROCESSING,
    ImportStatus.ROLLING_BACK,
)
"""Statuses whose steps may still write the record: the sweep waits ``ROLLBACK_MARGIN_DAYS`` more for them."""


def data_kept_until(record: ImportRecord) -> datetime:
    """Until when the import's work files (error report, chunks, before-images) are surely still kept.

    Every such file is written after the plan step set ``started_at``, and S3 deletes an object no earlier
    than ``IMPORT_RETENTION_DAYS`` after it was written, so ``started_at + IMPORT_RETENTION_DAYS -
    ROLLBACK_MARGIN_DAYS`` comes before any of them is gone. ``created_at`` stands in for a record without
    ``started_at`` (an earlier moment, so still safe).
    """
    anchor: datetime = record.started_at or record.created_at
    return anchor + _KEPT


_KEPT = timedelta(days=IMPORT_RETENTION_DAYS - ROLLBACK_MARGIN_DAYS)


def without_file_content(record: ImportRecord) -> ImportRecord:
    """``record`` with every :data:`FILE_CONTENT_KEYS` field emptied (``[]``, so readers see no rows)."""
    return record.with_changes({key: [] for key in FILE_CONTENT_KEYS})


def rollback_until(record: ImportRecord) -> datetime | None:
    """When rollback of a finished (completed / completed_with_errors) import stops being possible: see
    :func:`data_kept_until`. None for imports in any other status (they cannot be rolled back)."""
    return data_kept_until(record) if record.status in FINISHED else None


def start_until(record: ImportRecord) -> datetime | None:
    """When an import awaiting its mapping stops being startable: its uploaded file (written after
    ``created_at``) is surely kept until :func:`data_kept_until`, and the plan step reads it. None for
    imports in any other status (they are not started by hand)."""
    return data_kept_until(record) if record.status == ImportStatus.AWAITING_MAPPING else None


def new_import_id(now: datetime) -> str:
    """32 hex characters: 12 of milliseconds since the epoch (ids sort by creation time), 20 random."""
    return f"{int(now.timestamp() * 1000):012x}{secrets.token_hex(10)}"


class ImportService:
    """Import use cases over the import repository, the artifacts bucket and the pipeline."""

    def __init__(
        self,
        repo: ImportRepository,
        artifacts: ImportArtifacts,
        pipeline: ImportPipeline,
        enqueue: Callable[[Sequence[dict[str, Any]]], None],
        *,
        clock: Callable[[], datetime] = utc_now,
    ):
        self._repo = repo
        self._artifacts = artifacts
        self._pipeline = pipeline
        self._enqueue = enqueue
        self._clock = clock

    @staticmethod
    def _check(principal: Principal) -> None:
        if not principal.sees_all_leads:
            raise ForbiddenError("imports are for admins and managers")

    def _record(self, principal: Principal, import_id: str) -> ImportRecord:
        self._check(principal)
        return self._repo.get(principal.tenant_id, import_id)

    # ------------------------------------------------------------------ create
    def create(self, principal: Principal, request: ImportCreate) -> ImportCreated:
        """Register an import and return where to PUT the file.

        Raises:
            ForbiddenError (403): a rep. ImportNotFoundError (404): ``mapping_name`` is not saved.
        """
        self._check(principal)
        tenant = principal.tenant_id
        if request.mapping_name:
            self._repo.get_mapping(tenant, request.mapping_name)
        now = self._clock()
        import_id = new_import_id(now)
        ext = os.path.splitext(request.filename)[1].lower()
        key = source_key(tenant, import_id, ext)
        url, headers = self._artifacts.presign_put(
            key, content_type=request.content_type, expires_in=UPLOAD_URL_SECONDS
        )
        self._repo.create(
            ImportRecord(
                tenant_id=tenant,
                import_id=import_id,
                status=ImportStatus.AWAITING_UPLOAD,
                requested_by=principal.user_id,
                created_at=now,
                filename=request.filename,
                content_type=request.content_type,
                source_key=key,
                options=ImportOptions.of_request(request),
                mapping=request.mapping,
                mapping_name=request.mapping_name,
            )
        )
        expires = now + timedelta(seconds=UPLOAD_URL_SECONDS)
        return ImportCreated(
            import_id=import_id,
            status=ImportStatus.AWAITING_UPLOAD,
            upload=UploadTarget(url=url, headers=headers, expires_at=expires),
        )

    # ------------------------------------------------------------------ reads
    def get(self, principal: Principal, import_id: str) -> ImportJob:
        """Status and progress. Raises ImportNotFoundError (404), ForbiddenError (403)."""
        record = self._record(principal, import_id)
        failed_chunks: list[FailedChunk] = []
        if record.chunks_failed:
            failed_chunks = self._repo.failed_chunks(principal.tenant_id, import_id)
        return job_view(record, failed_chunks, now=self._clock())

    def history(self, principal: Principal, *, limit: int, cursor: str | None) -> ImportPage:
        """Imports of the tenant, newest first. Raises InvalidRequestError (400) for a bad cursor."""
        self._check(principal)
        records, next_cursor = self._repo.list_imports(principal.tenant_id, limit=limit, cursor=cursor)
        now = self._clock()
        return ImportPage(items=[job_view(r, [], now=now) for r in records], next_cursor=next_cursor)

    def preview(self, principal: Principal, import_id: str) -> ImportPreview:
        """Headers, mapping with confidence, detected source, first rows with their validation outcome.

        Raises:
            ImportStateError (409): the file has not been analysed yet.
        """
        record = self._record(principal, import_id)
        if record.headers is None:
            raise ImportStateError(
                f"import {import_id} is {record.status}: the file has not been analysed yet"
            )
        return ImportPreview(
            import_id=import_id,
            status=record.status,
            headers=record.headers,
            mapping=record.mapping or {},
            confidence=record.confidence,
            unmapped=record.unmapped,
            detected_source=record.detected_source,
            mapping_name=record.mapping_name,
            issues=record.issues,
            rows=record.preview,
            rows_removed_at=record.preview_swept_at,
        )

    # ------------------------------------------------------------------ mapping and start
    def set_mapping(self, principal: Principal, import_id: str, update: MappingUpdate) -> ImportPreview:
        """Correct the mapping of an import waiting for one (optionally saving it by name, optionally
        changing its ``invalid_values`` option); the preview is recomputed.

        Raises:
            ImportStateError (409): not awaiting a mapping. UnprocessableError (422): invalid mapping.
            ImportDataExpiredError (410, code ``upload_expired``): :func:`start_until` has passed.
        """
        record = self._record(principal, import_id)
        headers = record.headers
        if record.status != ImportStatus.AWAITING_MAPPING or headers is None:
            raise ImportStateError(f"import {import_id} is {record.status}: its mapping can no longer change")
        self._check_upload_kept(record)
        options = record.options
        if update.invalid_values is not None:
            options = options.model_copy(update={"invalid_values": update.invalid_values})
            record = record.with_changes({"options": options})
        problem = self._pipeline.mapping_problem(record, headers, update.header_targets)
        if problem is not None:
            raise UnprocessableError(problem, details=[{"field": "mapping", "problem": problem}])
        sample = record.sample
        preview = self._pipeline.preview_rows(record, headers, update.header_targets, sample)
        unmapped = self._pipeline.unmapped_columns(record, headers, update.header_targets, sample)
        changed = self._repo.update(
            principal.tenant_id,
            import_id,
            changes={
                "mapping": update.header_targets,
                "preview": preview,
                "unmapped": unmapped,
                "mapping_name": update.save_as,
                "options": options,
                "error": None,
            },
            expect_status=[ImportStatus.AWAITING_MAPPING],
        )
        if not changed:
            raise ImportStateError(f"import {import_id} changed state meanwhile")
        if update.save_as:
            self._repo.save_mapping(
                principal.tenant_id, update.save_as, update.header_targets, headers, principal.user_id
            )
        return self.preview(principal, import_id)

    def start(self, principal: Principal, import_id: str) -> ImportJob:
        """Start an analysed import waiting for a mapping or for its explicit start.

        Raises:
            ImportStateError (409): not awaiting a mapping. UnprocessableError (422): the mapping is unusable.
            ImportDataExpiredError (410, code ``upload_expired``): :func:`start_until` has passed.
        """
        record = self._record(principal, import_id)
        if record.status != ImportStatus.AWAITING_MAPPING:
            raise ImportStateError(
                f"import {import_id} is {record.status}; only an import awaiting_mapping starts"
            )
        self._check_upload_kept(record)
        columns = record.mapping
        problem = (
            "no mapping yet"
            if not columns
            else self._pipeline.mapping_problem(record, record.headers or [], columns)
        )
        if problem is not None:
            raise UnprocessableError(
                f"cannot start: {problem}", details=[{"field": "mapping", "problem": problem}]
            )
        if not self._repo.update(
            principal.tenant_id,
            import_id,
            status=ImportStatus.QUEUED,
            changes={"error": None},
            expect_status=[ImportStatus.AWAITING_MAPPING],
        ):
            raise ImportStateError(f"import {import_id} changed state meanwhile")
        self._enqueue([{"kind": "imports.plan", "tenant_id": principal.tenant_id, "import_id": import_id}])
        return self.get(principal, import_id)

    def _check_upload_kept(self, record: ImportRecord) -> None:
        """Raise ImportDataExpiredError (410, ``upload_expired``) once :func:`start_until` has passed."""
        until = start_until(record)
        if until is not None and self._clock() >= until:
            raise ImportDataExpiredError(
                f"import {record.import_id} could be started until {until.isoformat()}; its uploaded "
                f"file is deleted {IMPORT_RETENTION_DAYS} days after the upload: create a new import and "
                "upload the file again",
                code="upload_expired",
                details=[{"field": "start_until", "problem": until.isoformat()}],
            )

    # ------------------------------------------------------------------ error report and rollback
    def error_report(self, principal: Principal, import_id: str) -> ErrorReportLink:
        """A presigned link to the error report (rejected rows and rows kept without some values).

        Raises:
            ImportNotFoundError (404): the import has neither rejected rows nor dropped values (or is not
            planned yet).
            ImportDataExpiredError (410, code ``error_report_expired``): the report is no longer kept
            (:func:`data_kept_until`).
        """
        record = self._record(principal, import_id)
        rows = record.error_rows
        if not rows:
            raise ImportNotFoundError(
                f"import {import_id} has no rejected rows and no dropped values",
                code="error_report_not_found",
            )
        until = data_kept_until(record)
        if self._clock() >= until:
            raise ImportDataExpiredError(
                f"the error report of import {import_id} was kept until {until.isoformat()}",
                code="error_report_expired",
                details=[{"field": "import_id", "problem": f"files deleted after {until.isoformat()}"}],
            )
        stem = os.path.splitext(record.filename)[0]
        url = self._artifacts.presign_get(
            data_key(principal.tenant_id, import_id, "errors.csv"),
            expires_in=REPORT_URL_SECONDS,
            filename=f"{stem}-errors.csv",
        )
        dropped = record.dropped_rows
        return ErrorReportLink(
            url=url,
            expires_at=self._clock() + timedelta(seconds=REPORT_URL_SECONDS),
            rows=rows,
            rejected=rows - dropped,
            rows_with_dropped_values=dropped,
        )

    def rollback(self, principal: Principal, import_id: str) -> ImportJob:
        """Undo a finished import in the background (``rolling_back`` -> ``rolled_back``).

        Raises:
            ImportStateError (409): the import is not completed / completed_with_errors.
            ImportDataExpiredError (410, code ``rollback_expired``): ``rollback_until`` has passed (the
            before-images are being deleted); nothing is changed.
        """
        record = self._record(principal, import_id)
        until = rollback_until(record)
        if until is not None and self._clock() >= until:
            raise ImportDataExpiredError(
                f"import {import_id} could be rolled back until {until.isoformat()}; its rollback data "
                f"is deleted {IMPORT_RETENTION_DAYS} days after the import",
                code="rollback_expired",
                details=[{"field": "rollback_until", "problem": until.isoformat()}],
            )
        if not self._pipeline.start_rollback(principal.tenant_id, import_id):
            raise ImportStateError(
                f"import {import_id} is {record.status}; only a completed import can be rolled back"
            )
        return self.get(principal, import_id)

    # ------------------------------------------------------------------ retention sweep
    def sweep_all(self) -> int:
        """Queue one :data:`SWEEP_KIND` step per tenant that has imports; returns how many were queued."""
        steps = [{"kind": SWEEP_KIND, "tenant_id": tenant} for tenant in self._repo.iter_import_tenants()]
        if steps:
            self._enqueue(steps)
        return len(steps)

    def sweep_expired(self, tenant_id: str, now: datetime | None = None) -> int:
        """Empty the copied file rows (:data:`FILE_CONTENT_KEYS`) of the tenant's imports whose files are
        no longer kept (``now`` >= :func:`data_kept_until`) and mark them ``preview_swept_at``; returns how
        many records were swept.

        Only records created before ``now`` minus the window are read (import ids start with the creation
        time, and ``data_kept_until`` is at least that far after ``created_at``), and swept ones are
        filtered out, so a second run writes nothing. An import still in an in-flight status
        (:data:`IN_FLIGHT`) waits until its files are actually deleted (one more day), so it never
        races the steps writing the record; a record whose status changed between read and write is
        left for the next run. Idempotent (SQS may redeliver the step).
        """
        now = now or self._clock()
        cutoff_ms = int((now - _KEPT).timestamp() * 1000)
        swept = 0
        for record in self._repo.iter_unswept_before(tenant_id, f"{cutoff_ms + 1:012x}"):
            until = data_kept_until(record)
            if now < until:
                continue
            if record.status in IN_FLIGHT and now < until + timedelta(days=ROLLBACK_MARGIN_DAYS):
                continue
            if self._repo.sweep(without_file_content(record), swept_at=now):
                swept += 1
        log.info("import preview sweep", extra={"tenant_id": tenant_id, "swept": swept})
        return swept

    # ------------------------------------------------------------------ saved mappings
    def list_mappings(self, principal: Principal) -> SavedMappingList:
        """The tenant's saved mappings, by name."""
        self._check(principal)
        return SavedMappingList(items=self._repo.list_mappings(principal.tenant_id))

    def delete_mapping(self, principal: Principal, name: str) -> None:
        """Raises ImportNotFoundError (404)."""
        self._check(principal)
        self._repo.delete_mapping(principal.tenant_id, name)


def job_view(
    record: ImportRecord, failed_chunks: list[FailedChunk], *, now: datetime | None = None
) -> ImportJob:
    """The public view of an import record; ``now`` (default: the current time) decides whether the
    error report is still kept (see :func:`data_kept_until`)."""
    kept = (now or utc_now()) < data_kept_until(record)
    rollback = None
    if record.rollback is not None or record.status in (ImportStatus.ROLLING_BACK, ImportStatus.ROLLED_BACK):
        rollback = {
            **(record.rollback.model_dump(mode="json", exclude_none=True) if record.rollback else {}),
            "chunks_done": record.rollback_chunks_done,
            "deleted": record.rolled_back_deleted,
            "restored": record.rolled_back_restored,
            "changed_since_import": record.rollback_conflicts,
        }
    return ImportJob(
        import_id=record.import_id,
        status=record.status,
        filename=record.filename,
        file_bytes=record.file_bytes,
        file_format=record.file_format,
        requested_by=record.requested_by,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        rows_total=record.rows_total,
        rows_processed=record.rows_processed,
        created=record.created,
        updated=record.updated,
        skipped=record.skipped,
        failed=record.failed,
        rows_with_dropped_values=record.dropped_rows,
        chunks_total=record.chunks_total,
        chunks_done=record.chunks_done,
        chunks_failed=record.chunks_failed,
        failed_chunks=failed_chunks,
        error=record.error,
        mapping=record.mapping,
        mapping_name=record.mapping_name,
        options=record.options.model_dump(mode="json"),
        error_report_available=bool(record.error_rows) and kept,
        rollback=rollback,
        rollback_until=rollback_until(record),
        start_until=start_until(record),
        preview_removed_at=record.preview_swept_at,
    )
