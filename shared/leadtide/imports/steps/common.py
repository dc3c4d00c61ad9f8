"""What the import pipeline's steps share: their ports (:class:`StepContext`), the S3 keys and marker
names of an import's work files, and the few operations two steps need (fail an import, finish it once
its last chunk is in, publish lead events, read the file and the JSON work files).

Work files (``import-data/<tenant>/<import_id>/``, see docs/data-model.md): ``chunks/<n>.json`` (the
accepted drafts of chunk ``n``), ``plans/<n>.json`` (its decisions with before-images, saved before any
write), ``rollback/<n>.json`` (its undo plan), ``errors.csv`` (the error report).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadtide.imports.models import MAX_FILE_BYTES, ImportRecord, ImportStatus
from leadtide.imports.ports import ImportArtifacts, ImportRepository, LeadBulkStore
from leadtide.models.common import iso, utc_now
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.ports import EventPublisher

CHUNK_ROWS = 1000
PREVIEW_ROWS = 10
PREVIEW_CELL_CHARS = 500  # keeps the import record far below the 400 KB item limit
MAX_ATTEMPTS = 3  # = JobsQueue maxReceiveCount: the last attempt records the failure before the DLQ
MAX_WRITE_ROUNDS = 5

Enqueue = Callable[[Sequence[dict[str, Any]]], None]

BUILT = "_built"
"""Key of a chunk plan's in-memory ``{lead_id: Lead}`` of the profiles it builds (never saved)."""


def source_key(tenant_id: str, import_id: str, ext: str) -> str:
    """S3 key of an upload: ``imports/<tenant>/<import_id>/source<ext>`` (the only prefix the rule routes)."""
    return f"imports/{tenant_id}/{import_id}/source{ext}"


def data_key(tenant_id: str, import_id: str, name: str) -> str:
    """S3 key of a work file of an import (``import-data/...``: no upload event fires for these)."""
    return f"import-data/{tenant_id}/{import_id}/{name}"


def chunk_key(tenant_id: str, import_id: str, n: int) -> str:
    """S3 key of chunk ``n``'s drafts."""
    return data_key(tenant_id, import_id, f"chunks/{n:06d}.json")


def plan_key(tenant_id: str, import_id: str, n: int) -> str:
    """S3 key of chunk ``n``'s decisions (with the before-images a rollback restores)."""
    return data_key(tenant_id, import_id, f"plans/{n:06d}.json")


def undo_key(tenant_id: str, import_id: str, n: int) -> str:
    """S3 key of chunk ``n``'s undo plan."""
    return data_key(tenant_id, import_id, f"rollback/{n:06d}.json")


def chunk_marker(n: int) -> str:
    """Marker sort key of import chunk ``n``."""
    return f"C#{n:06d}"


def rollback_marker(n: int) -> str:
    """Marker sort key of rollback chunk ``n``."""
    return f"R#{n:06d}"


def new_lead_id(tenant_id: str, import_id: str, row_number: int) -> str:
    """The lead id a row creates: deterministic, so a redelivered chunk recognises its own leads."""
    return hashlib.sha256(f"{tenant_id}:{import_id}:{row_number}".encode()).hexdigest()[:32]


class ImportFailed(Exception):
    """A file-level problem that fails the import with the message."""


def too_large(size: int) -> str:
    """Why a file of ``size`` bytes is refused."""
    return f"the file is {size / 1_048_576:.1f} MB; the largest accepted file is {MAX_FILE_BYTES // 1_048_576} MB"


def message_of(err: Exception) -> str:
    """The message of a Leadtide error (``.message``), else the exception's text."""
    return getattr(err, "message", None) or str(err)


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default``: what :func:`jsonable` makes of a value JSON cannot encode (a datetime
    as :func:`iso` text, anything else as ``str``), applied by the encoder wherever it meets one."""
    return iso(value) if isinstance(value, datetime) else str(value)


def jsonable(value: Any) -> Any:
    """``value`` with every datetime in it as :func:`iso` text (dicts, lists and tuples walked)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """Compact JSON of a work file (a plan's :data:`BUILT` profiles left out)."""
    if isinstance(value, dict) and BUILT in value:
        value = {k: v for k, v in value.items() if k != BUILT}
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def claims_of(entries: Iterable[Sequence[Any]]) -> dict[tuple[str, str], int]:
    """``{(kind, value): claimed_at}`` of the ``[kind, value, claimed_at]`` entries of a plan."""
    return {(k[0], k[1]): int(k[2]) for k in entries if len(k) > 2}


@dataclass
class StepContext:
    """The ports and settings every step works with (see :class:`leadtide.imports.pipeline.ImportPipeline`
    for each), and the operations several steps share."""

    repo: ImportRepository
    store: LeadBulkStore
    artifacts: ImportArtifacts
    events: EventPublisher
    enqueue: Enqueue
    custom_fields: Callable[[str], list[Any]]
    mx_checker: Any = None
    clock: Callable[[], datetime] = utc_now
    chunk_rows: int = CHUNK_ROWS
    xlsx_limits: Any = None  # leadtide.imports.reading.XlsxLimits; None: its defaults

    def fail(
        self, tenant_id: str, import_id: str, message: str, expect: Sequence[ImportStatus] | None = None
    ) -> None:
        """Fail the import with ``message`` (only from the ``expect`` statuses when given)."""
        self.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.FAILED,
            changes={"error": message, "finished_at": self.clock()},
            expect_status=expect,
        )

    def validation_options(self, record: ImportRecord) -> Any:
        """The :class:`leadtide.imports.rows.ValidationOptions` of the import's options."""
        from leadtide.imports.rows import ValidationOptions

        opts = record.options
        return ValidationOptions(
            check_mx=opts.check_mx,
            reject_disposable=opts.reject_disposable,
            required=tuple(opts.required),
            default_phone_region=opts.default_phone_region,
            unique_key=opts.dedupe.key,
            null_values=frozenset(record.null_values),
            invalid_values=opts.invalid_values,
        )

    def read_table(self, record: ImportRecord) -> Any:
        """The uploaded file as a :class:`leadtide.imports.reading.Table`.

        Raises:
            ImportFailed: the file is over :data:`MAX_FILE_BYTES`.
            leadtide.imports.reading.ImportFileError: the file cannot be read.
        """
        from leadtide.imports.reading import open_table

        data = self.artifacts.get(record.source_key)
        if len(data) > MAX_FILE_BYTES:
            raise ImportFailed(too_large(len(data)))
        return open_table(data, record.filename, xlsx_limits=self.xlsx_limits)

    def load(self, key: str) -> dict[str, Any]:
        """A JSON work file. Raises KeyError when it does not exist."""
        loaded: dict[str, Any] = json.loads(self.artifacts.get(key))
        return loaded

    def finish_if_done(self, tenant_id: str, import_id: str) -> None:
        """Once every chunk is done or failed, move a processing import to its final status: ``failed``
        when every chunk failed, ``completed_with_errors`` when a row failed, else ``completed``."""
        record = self.repo.get(tenant_id, import_id)
        total = record.chunks_total
        if record.status != ImportStatus.PROCESSING or total is None:
            return
        if record.chunks_done + record.chunks_failed < total:
            return
        changes: dict[str, Any] = {"finished_at": self.clock()}
        if total and record.chunks_failed == total:
            final = ImportStatus.FAILED
            changes["error"] = "every chunk failed: see failed_chunks"
        else:
            final = ImportStatus.COMPLETED if not record.failed else ImportStatus.COMPLETED_WITH_ERRORS
        self.repo.update(
            tenant_id,
            import_id,
            status=final,
            changes=changes,
            expect_status=[ImportStatus.PROCESSING],
        )

    def publish(self, record: ImportRecord, plan: dict[str, Any], rollback: bool = False) -> None:
        """Publish ``lead.created`` / ``lead.updated`` for a chunk plan's creates and updates (a rollback's
        undo plan: ``lead.deleted`` / ``lead.updated``), unless the import's ``publish_events`` is off."""
        if not record.options.publish_events:
            return
        tenant, import_id = record.tenant_id, record.import_id
        at = iso(self.clock())
        kinds = {"create": LeadEventType.CREATED, "update": LeadEventType.UPDATED}
        if rollback:
            kinds = {"delete": LeadEventType.DELETED, "restore": LeadEventType.UPDATED}
        events = [
            LeadEvent(
                type=kinds[a["action"]],
                tenant_id=tenant,
                lead_id=a["lead_id"],
                occurred_at=at,
                data={"import_id": import_id, "source": "import", **({"rollback": True} if rollback else {})},
            )
            for a in plan["actions"]
            if a["action"] in kinds
        ]
        if events:
            self.events.publish(events)
