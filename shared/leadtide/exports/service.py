"""Exports of leads: request one (``POST /exports``), follow it, download it; produced in the background.

``create`` checks the request (fields, list/segment), stores a ``queued`` record and queues one
``exports.run`` job step. The step streams the selected leads page by page into the chosen format
(:mod:`leadtide.exports.formats`) and uploads the file as it grows (S3 multipart upload, one 8 MiB part
in memory at a time) to ``exports/<tenant>/<export_id>/leads.<ext>``. ``GET /exports/{id}`` then hands
out a presigned GET URL valid :data:`DOWNLOAD_URL_SECONDS`.

Who sees what: every role may export; the file holds only leads the requester can see (reps: own and
unassigned). Reps see only their own exports; admins and managers see all of the tenant's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from leadtide.bulk.ports import CustomFieldCatalog
from leadtide.bulk.selection import SelectionResolver
from leadtide.exports.formats import CONTENT_TYPES, EXTENSIONS, columns_for, row_writer
from leadtide.exports.ports import ArtifactStorage, ExportRepository
from leadtide.models.auth import Principal
from leadtide.models.common import Role, utc_now
from leadtide.models.errors import ForbiddenError, LeadtideError
from leadtide.models.exports import (
    Export,
    ExportCreate,
    ExportDownload,
    ExportList,
    ExportRecord,
    time_ordered_id,
)
from leadtide.models.selection import LeadSelection
from leadtide.observability import logger

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

RUN_KIND = "exports.run"
EXPORT_RETENTION_DAYS = 7
"""Finished export files are kept this long; the bucket's lifecycle rule ``ExpireExports`` (template.yaml)
deletes them after the same number of days, and :meth:`ExportService.view` stops offering a download."""

DOWNLOAD_URL_SECONDS = 900
"""Presigned download URLs expire after 15 minutes; ask ``GET /exports/{id}`` again for a fresh one."""
MAX_ATTEMPTS = 3
"""Matches the jobs queue's maxReceiveCount: the last attempt marks the export failed before giving up."""
BATCH = 500
PROGRESS_EVERY = 10_000
"""Rows between progress updates of the record while running."""

Enqueue = Callable[[Sequence[Mapping[str, Any]]], None]


def principal_of_record(tenant_id: str, user_id: str, role: str) -> Principal:
    """The requester of a background job, as stored with it."""
    return Principal(tenant_id=tenant_id, user_id=user_id, role=Role(role))


class ExportService:
    """Export use cases over the export records, the artifacts bucket and the selection resolver."""

    def __init__(
        self,
        exports: ExportRepository,
        storage: ArtifactStorage,
        resolver: SelectionResolver,
        custom_fields: CustomFieldCatalog,
        enqueue: Enqueue,
    ):
        self._exports = exports
        self._storage = storage
        self._resolver = resolver
        self._custom = custom_fields
        self._enqueue = enqueue

    # ------------------------------------------------------------------ API
    def create(
        self, principal: Principal, request: ExportCreate, *, bulk_action_id: str | None = None
    ) -> Export:
        """Check and queue an export.

        Raises:
            UnprocessableError (422): unknown or repeated fields.
            NotFoundError (404): the selection names an unknown list or segment.
        """
        selection = request.resolved_selection()
        columns_for(request.fields, self._custom.columns(principal.tenant_id))
        self._resolver.check(principal, selection)
        record = ExportRecord(
            tenant_id=principal.tenant_id,
            export_id=time_ordered_id(),
            format=request.format,
            fields=request.fields,
            selection=selection.model_dump(mode="json", exclude_none=True),
            requested_by=principal.user_id,
            requested_role=str(principal.role),
            bulk_action_id=bulk_action_id,
            created_at=utc_now(),
        )
        self._exports.create(record)
        self._enqueue([{"kind": RUN_KIND, "tenant_id": record.tenant_id, "export_id": record.export_id}])
        return self.view(record)

    def get(self, principal: Principal, export_id: str) -> Export:
        """One export, with a fresh download URL once completed.

        Raises:
            ExportNotFoundError (404); ForbiddenError (403): a rep asking for someone else's export.
        """
        return self.view(self.get_record(principal, export_id))

    def find(self, tenant_id: str, export_id: str) -> ExportRecord:
        """The stored export, without access checks (for the bulk action that created it)."""
        return self._exports.get(tenant_id, export_id)

    def get_record(self, principal: Principal, export_id: str) -> ExportRecord:
        """The stored export, checked as :meth:`get`."""
        record = self._exports.get(principal.tenant_id, export_id)
        if not principal.sees_all_leads and record.requested_by != principal.user_id:
            raise ForbiddenError("reps see only their own exports", code="not_export_owner")
        return record

    def history(self, principal: Principal, *, limit: int, cursor: str | None) -> ExportList:
        """The tenant's exports newest first (reps: their own). Raises InvalidRequestError (400) for a cursor."""
        mine = None if principal.sees_all_leads else principal.user_id
        records, next_cursor = self._exports.list(
            principal.tenant_id, requested_by=mine, limit=limit, cursor=cursor
        )
        return ExportList(items=[self.view(r, with_download=False) for r in records], next_cursor=next_cursor)

    def view(self, record: ExportRecord, *, with_download: bool = True) -> Export:
        """The public shape of a record; completed exports get a presigned URL when ``with_download``."""
        download = None
        file_expires_at = (
            record.completed_at + timedelta(days=EXPORT_RETENTION_DAYS)
            if record.status == "completed" and record.completed_at
            else None
        )
        available = file_expires_at is None or utc_now() < file_expires_at
        if with_download and record.status == "completed" and record.object_key and available:
            expires = utc_now() + timedelta(seconds=DOWNLOAD_URL_SECONDS)
            stamp = record.created_at.strftime("%Y%m%d-%H%M%S")
            url = self._storage.presigned_get(
                record.object_key,
                expires_in=DOWNLOAD_URL_SECONDS,
                filename=f"leads-{stamp}.{EXTENSIONS[record.format]}",
            )
            download = ExportDownload(url=url, expires_at=expires)
        selection = LeadSelection.model_validate(record.selection).describe()
        return Export(
            export_id=record.export_id,
            status=record.status,
            format=record.format,
            rows=record.rows,
            selection=selection,
            fields=record.fields,
            requested_by=record.requested_by,
            created_at=record.created_at,
            completed_at=record.completed_at,
            file_expires_at=file_expires_at,
            download=download,
            error=record.error,
        )

    # ------------------------------------------------------------------ background step
    def run(self, tenant_id: str, export_id: str) -> None:
        """Produce the file of a queued export (job step ``exports.run``). Idempotent: a completed or failed
        export is left alone; a redelivered running one starts over and overwrites the same object.

        A domain error (e.g. the list was deleted meanwhile) marks the export failed with its message.
        Anything else is raised so SQS retries; the last attempt marks the export failed first.
        """
        record = self._exports.get(tenant_id, export_id)
        if record.status in ("completed", "failed"):
            return
        record = record.model_copy(
            update={"status": "running", "attempts": record.attempts + 1, "rows": 0, "started_at": utc_now()}
        )
        if not self._exports.save(record, expect_status=("queued", "running")):
            return
        try:
            record = self._produce(record)
        except LeadtideError as err:
            self._finish(record, status="failed", error=err.message)
            return
        except Exception:  # job step boundary: mark failed on the last attempt, re-raise so SQS retries
            logger.exception("export failed", extra={"export_id": export_id, "attempt": record.attempts})
            if record.attempts >= MAX_ATTEMPTS:
                self._finish(record, status="failed", error="the export could not be produced; try again")
            raise
        self._finish(record, status="completed")

    def _produce(self, record: ExportRecord) -> ExportRecord:
        principal = principal_of_record(record.tenant_id, record.requested_by, record.requested_role)
        columns = columns_for(record.fields, self._custom.columns(record.tenant_id))
        selection = LeadSelection.model_validate(record.selection)
        key = f"exports/{record.tenant_id}/{record.export_id}/leads.{EXTENSIONS[record.format]}"
        stream = self._storage.open_upload(key, content_type=CONTENT_TYPES[record.format])
        rows = 0
        try:
            writer = row_writer(record.format, stream, columns)  # type: ignore[arg-type]
            leads = self._resolver.visible_leads(principal, selection)
            while batch := list(islice(leads, BATCH)):
                rows += writer.write(batch)
                if rows % PROGRESS_EVERY < BATCH:
                    record = record.model_copy(update={"rows": rows})
                    self._exports.save(record, expect_status=("running",))
            writer.close()
        except BaseException:  # undo and re-raise: no multipart upload is left open, even on a timeout
            stream.abort()
            raise
        return record.model_copy(update={"rows": rows, "object_key": key})

    def _finish(self, record: ExportRecord, *, status: str, error: str | None = None) -> None:
        done = record.model_copy(update={"status": status, "error": error, "completed_at": utc_now()})
        self._exports.save(done, expect_status=("running",))


def run_export_step(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue entry point of kind ``exports.run``: ``{"tenant_id", "export_id"}``."""
    wiring.export_service.run(str(message["tenant_id"]), str(message["export_id"]))
