"""The import pipeline's background steps: analyse an upload, plan the rows, write chunks, roll back.

Flow (each step is one jobs-queue message, idempotent, see docs/decisions.md "Imports"):

1. ``analyse`` (the S3 ``Object Created`` event of ``imports/<tenant>/<id>/source.<ext>``): read the file
   (:func:`leadtide.imports.reading.open_table`), resolve the mapping (explicit, saved by name, a saved
   mapping whose headers match exactly, else proposed), store a preview of the first rows; then queue
   ``plan`` (``auto_start`` and a valid mapping) or wait in ``awaiting_mapping`` with the reason.
2. ``plan``: one streaming pass over the file: parse, map, validate (:class:`RowProcessor`), de-duplicate
   within the file (:class:`FileDeduplicator`); rejected rows, and kept rows whose unusable values were
   dropped (option ``invalid_values``), go to the error report CSV, accepted drafts
   to ``chunks/<n>.json`` (1,000 per chunk); then one ``imports.chunk`` step per chunk is queued (the
   Jobs worker runs them in parallel).
3. ``chunk``: BatchGetItem of the chunk's identity items; per draft skip / update / create; the decisions
   with the before-images of updated leads are saved to ``plans/<n>.json`` *before* any write; writes are
   conditional TransactWriteItems (lead + identity items together, ~33 leads per call); the chunk's counts
   land in one transaction with a per-chunk marker (a redelivered chunk counts once); the last chunk
   flips the status.
4. ``rollback_chunk``: deletes the leads a chunk created, puts back the before-images of the leads it
   updated (verbatim), fixes identity items and dashboard counters; leads changed after the import are
   restored too and counted as ``changed_since_import``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from leadtide.imports.models import (
    FINISHED,
    MAX_FILE_BYTES,
    ImportRecord,
    ImportStatus,
    PreviewRow,
    RollbackState,
    UnmappedColumn,
)
from leadtide.imports.ports import (
    IdentityKey,
    ImportArtifacts,
    ImportRepository,
    LeadBulkStore,
    LeadWrite,
    StoredLead,
)
from leadtide.imports.report import ErrorReportWriter
from leadtide.models.common import ChannelType, LeadStatus, display_name, iso, utc_now
from leadtide.models.errors import LeadtideError
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.leads import Lead
from leadtide.ports import EventPublisher

_log = logging.getLogger(__name__)

CHUNK_ROWS = 1000
PREVIEW_ROWS = 10
PREVIEW_CELL_CHARS = 500  # keeps the import record far below the 400 KB item limit
MAX_ATTEMPTS = 3  # = JobsQueue maxReceiveCount: the last attempt records the failure before the DLQ
MAX_WRITE_ROUNDS = 5
LEAD_FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "job_title",
    "status",
    "owner_id",
)
_LEAD_FIELD_SET = frozenset(LEAD_FIELDS)
_IDENTITY_FIELDS = ("email", "phone")
_VALID_STATUSES = frozenset(s.value for s in LeadStatus)

Enqueue = Callable[[Sequence[dict[str, Any]]], None]


def source_key(tenant_id: str, import_id: str, ext: str) -> str:
    """S3 key of an upload: ``imports/<tenant>/<import_id>/source<ext>`` (the only prefix the rule routes)."""
    return f"imports/{tenant_id}/{import_id}/source{ext}"


def data_key(tenant_id: str, import_id: str, name: str) -> str:
    """S3 key of a work file of an import (``import-data/...``: no upload event fires for these)."""
    return f"import-data/{tenant_id}/{import_id}/{name}"


def chunk_marker(n: int) -> str:
    """Marker sort key of import chunk ``n``."""
    return f"C#{n:06d}"


def rollback_marker(n: int) -> str:
    """Marker sort key of rollback chunk ``n``."""
    return f"R#{n:06d}"


def new_lead_id(tenant_id: str, import_id: str, row_number: int) -> str:
    """The lead id a row creates: deterministic, so a redelivered chunk recognises its own leads."""
    return hashlib.sha256(f"{tenant_id}:{import_id}:{row_number}".encode()).hexdigest()[:32]


def identity_keys(draft: dict[str, Any], unique_key: str) -> list[IdentityKey]:
    """Identity keys of a stored draft: email, phone and the unique custom field used as key."""
    keys: list[IdentityKey] = []
    if draft.get("email"):
        keys.append(("email", draft["email"]))
    if draft.get("phone"):
        keys.append(("phone", draft["phone"]))
    if unique_key.startswith("custom:") and draft.get("unique") not in (None, ""):
        keys.append((unique_key, str(draft["unique"])))
    return keys


def match_key(draft: dict[str, Any], unique_key: str) -> IdentityKey | None:
    """The identity key rows are matched on (the import's de-duplication key)."""
    value = draft.get(unique_key) if unique_key in ("email", "phone") else draft.get("unique")
    return (unique_key, str(value)) if value not in (None, "") else None


def split_fields(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A draft's mapped values as (standard lead fields, custom fields by key, tags).

    Lead attributes stay lead attributes; ``custom:<key>`` and the built-in custom fields (``lead_source``,
    ``country``, ``notes``...) go to ``custom_fields`` under their key; empty values are dropped."""
    standard: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    tags: list[str] = []
    for name, value in fields.items():
        if value is None or value == "" or value == []:
            continue
        if name in _LEAD_FIELD_SET:
            standard[name] = value
        elif name == "custom_fields" and type(value) is dict:
            for k, v in value.items():
                if v is not None and v != "" and v != []:
                    custom[k] = v
        elif name.startswith("custom:"):
            custom[name[7:]] = value
        elif name == "custom_fields" and isinstance(value, dict):
            custom.update({k: v for k, v in value.items() if v not in (None, "", [])})
        elif name == "tags":
            tags = [value] if isinstance(value, str) else [str(t) for t in value]
        else:  # built-in custom fields (lead_source, country, city, notes, owner_email...)
            custom[name] = value
    return standard, custom, tags


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _json_default(value: Any) -> Any:
    """``json.dumps``'s ``default``: what :func:`_jsonable` makes of a value JSON cannot encode (a datetime
    as :func:`iso` text, anything else as ``str``), applied by the encoder wherever it meets one."""
    return iso(value) if isinstance(value, datetime) else str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class _ResolvedMapping:
    """The mapping analysis settles on: ``columns`` None when a named saved mapping is missing
    (``problem`` says so); ``mapping_name`` set when a saved mapping was used."""

    columns: dict[str, str | None] | None
    confidence: dict[str, float]
    detected_source: str | None
    null_values: list[str]
    mapping_name: str | None = None
    problem: str | None = None


@dataclass
class ChunkCounts:
    """Outcome counts of one chunk (and dashboard counter deltas)."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, sk: str, delta: int) -> None:
        self.counters[sk] = self.counters.get(sk, 0) + delta


class ImportPipeline:
    """The background steps of imports over their ports (see the module docstring).

    Args:
        repo: import records and markers. store: bulk lead access. artifacts: S3 files.
        events: lead event publisher. enqueue: queues job steps (``Wiring.enqueue_jobs``).
        custom_fields: ``tenant_id -> [CustomFieldDefinition]``.
        mx_checker: optional :class:`leadtide.imports.validation.MxChecker` (MX checks when asked).
        clock: current UTC time. chunk_rows: rows per chunk step.
        xlsx_limits: :class:`leadtide.imports.reading.XlsxLimits` a workbook must pass before it is
            parsed (the factories pass the settings'; None: its defaults).
    """

    def __init__(
        self,
        repo: ImportRepository,
        store: LeadBulkStore,
        artifacts: ImportArtifacts,
        events: EventPublisher,
        enqueue: Enqueue,
        custom_fields: Callable[[str], list[Any]],
        *,
        mx_checker: Any = None,
        clock: Callable[[], datetime] = utc_now,
        chunk_rows: int = CHUNK_ROWS,
        xlsx_limits: Any = None,
    ):
        self.repo = repo
        self.store = store
        self.artifacts = artifacts
        self.events = events
        self.enqueue = enqueue
        self.custom_fields = custom_fields
        self.mx_checker = mx_checker
        self.clock = clock
        self.chunk_rows = chunk_rows
        self.xlsx_limits = xlsx_limits  # leadtide.imports.reading.XlsxLimits; None: its defaults

    # ------------------------------------------------------------------ helpers
    def _fail(
        self, tenant_id: str, import_id: str, message: str, expect: Sequence[ImportStatus] | None = None
    ) -> None:
        self.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.FAILED,
            changes={"error": message, "finished_at": self.clock()},
            expect_status=expect,
        )

    def _options(self, record: ImportRecord) -> Any:
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

    def _processor(self, record: ImportRecord, headers: list[str], columns: dict[str, str | None]) -> Any:
        from leadtide.imports.mapping import FieldMapping
        from leadtide.imports.rows import RowProcessor

        definitions = self.custom_fields(record.tenant_id)
        opts = self._options(record)
        mx = self.mx_checker if opts.check_mx else None
        return RowProcessor(headers, FieldMapping(columns=columns), definitions, opts, mx_checker=mx)

    def _read_table(self, record: ImportRecord) -> Any:
        from leadtide.imports.reading import open_table

        data = self.artifacts.get(record.source_key)
        if len(data) > MAX_FILE_BYTES:
            raise _ImportFailed(_too_large(len(data)))
        return open_table(data, record.filename, xlsx_limits=self.xlsx_limits)

    # ------------------------------------------------------------------ 1. analyse
    def analyse(self, tenant_id: str, import_id: str, key: str, size: int | None) -> None:
        """Read an uploaded file, resolve the mapping, store the preview; start or wait for a mapping.

        Runs on the upload's S3 event. A second upload event for the same import (re-upload or
        redelivery) is ignored unless the import still awaits its file or is being analysed.
        """
        from leadtide.imports.reading import ImportFileError

        try:
            record = self.repo.get(tenant_id, import_id)
        except LeadtideError:
            _log.warning("upload for unknown import %s/%s ignored", tenant_id, import_id)
            return
        if record.status not in (ImportStatus.AWAITING_UPLOAD, ImportStatus.ANALYSING):
            return
        if key != record.source_key:
            return
        self.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.ANALYSING,
            changes={"file_bytes": size},
            expect_status=[ImportStatus.AWAITING_UPLOAD, ImportStatus.ANALYSING],
        )
        if size is not None and size > MAX_FILE_BYTES:
            return self._fail(tenant_id, import_id, _too_large(size))
        try:
            table = self._read_table(record)
            headers = list(table.headers)
            sample: list[tuple[int, list[str]]] = []
            for row_number, cells in table.rows:
                sample.append((row_number, [c[:PREVIEW_CELL_CHARS] for c in cells]))
                if len(sample) >= PREVIEW_ROWS:
                    break
        except ImportFileError as err:
            return self._fail(tenant_id, import_id, _message(err))
        except _ImportFailed as err:
            return self._fail(tenant_id, import_id, str(err))
        changes: dict[str, Any] = {
            "headers": headers,
            "file_format": getattr(table, "format", None),
            "encoding": getattr(table, "encoding", None),
            "issues": list(getattr(table, "issues", []) or []),
            "sample": sample,
        }
        chosen = bool(record.mapping) or bool(record.mapping_name)
        resolved = self._resolve_mapping(record, headers, sample)
        chosen = chosen or resolved.mapping_name is not None  # a saved mapping whose headers match the file's
        columns, reason = resolved.columns, resolved.problem
        changes.update(
            {
                "mapping": columns,
                "confidence": resolved.confidence,
                "detected_source": resolved.detected_source,
                "mapping_name": resolved.mapping_name,
                "null_values": resolved.null_values,
            }
        )
        record = record.with_changes(changes)
        if columns is not None:
            changes["unmapped"] = self.unmapped_columns(record, headers, columns, sample, chosen=chosen)
        if columns is not None and reason is None:
            reason = self.mapping_problem(record, headers, columns)
        if columns is not None:
            changes["preview"] = self.preview_rows(record, headers, columns, sample)
        if reason is None and not record.options.auto_start:
            reason = "auto_start is off: check the preview, then POST /imports/{id}/start"
        changes["error"] = reason
        if reason is None:
            self.repo.update(
                tenant_id,
                import_id,
                status=ImportStatus.QUEUED,
                changes=changes,
                expect_status=[ImportStatus.ANALYSING],
            )
            self.enqueue([{"kind": "imports.plan", "tenant_id": tenant_id, "import_id": import_id}])
        else:
            self.repo.update(
                tenant_id,
                import_id,
                status=ImportStatus.AWAITING_MAPPING,
                changes=changes,
                expect_status=[ImportStatus.ANALYSING],
            )
        return None

    def _resolve_mapping(
        self, record: ImportRecord, headers: list[str], sample: Sequence[tuple[int, list[str]]]
    ) -> _ResolvedMapping:
        """The mapping for the file's headers: the one given, the saved one named, a saved one whose
        headers are the file's, else the proposal; ``sample``: the preview sample."""
        from leadtide.imports.mapping import propose_mapping

        tenant = record.tenant_id
        definitions = self.custom_fields(tenant)
        proposal = propose_mapping(headers, definitions, sample=[cells for _, cells in sample])
        resolved = _ResolvedMapping(
            columns=dict(proposal.mapping.columns),
            confidence={k: float(v) for k, v in (proposal.confidence or {}).items()},
            detected_source=proposal.detected_source,
            null_values=list(getattr(proposal, "null_values", []) or []),
        )
        if record.mapping:
            resolved.columns = dict(record.mapping)
        elif record.mapping_name:
            try:
                saved = self.repo.get_mapping(tenant, record.mapping_name)
            except LeadtideError as err:
                resolved.columns, resolved.problem = None, err.message
            else:
                resolved.columns, resolved.mapping_name = dict(saved.mapping), saved.name
        else:
            for saved in self.repo.list_mappings(tenant):
                if list(saved.headers) == headers:
                    resolved.columns, resolved.mapping_name = dict(saved.mapping), saved.name
                    break
        return resolved

    def unmapped_columns(
        self,
        record: ImportRecord,
        headers: list[str],
        columns: dict[str, str | None],
        sample: Sequence[tuple[int, list[str]]],
        *,
        chosen: bool = True,
    ) -> list[UnmappedColumn]:
        """Why each column ``columns`` leaves out is not imported (header order), judged on the stored
        ``sample`` (``(row_number, cells)`` pairs); ``chosen``: a person gave the mapping (see
        :func:`leadtide.imports.mapping.explain_unmapped`)."""
        from leadtide.imports.mapping import explain_unmapped

        return explain_unmapped(
            headers,
            columns,
            self.custom_fields(record.tenant_id),
            [cells for _, cells in sample],
            null_values=record.null_values,
            source=record.detected_source,
            chosen=chosen,
        )

    def mapping_problem(
        self, record: ImportRecord, headers: list[str], columns: dict[str, str | None]
    ) -> str | None:
        """Why ``columns`` cannot be used for this import (None: it can)."""
        from leadtide.imports.mapping import FieldMapping, validate_mapping

        dedupe = record.options.dedupe
        try:
            validate_mapping(
                FieldMapping(columns=columns),
                headers,
                self.custom_fields(record.tenant_id),
                unique_key=None if dedupe.strategy == "create" else dedupe.key,
            )
        except LeadtideError as err:
            return err.message
        except ValueError as err:  # pydantic: an unknown target in FieldMapping
            return str(err).splitlines()[-1] if str(err) else "invalid mapping"
        return None

    def preview_rows(
        self,
        record: ImportRecord,
        headers: list[str],
        columns: dict[str, str | None],
        sample: Sequence[tuple[int, list[str]]],
    ) -> list[PreviewRow]:
        """The sample rows as the mapping and validation would import them (no MX lookups)."""
        from leadtide.imports.mapping import FieldMapping
        from leadtide.imports.rows import RowProcessor

        opts = self._options(record)
        opts.check_mx = False
        try:
            processor = RowProcessor(
                headers, FieldMapping(columns=columns), self.custom_fields(record.tenant_id), opts
            )
        except LeadtideError:
            return []
        rows = []
        for row_number, cells in sample:
            outcome = processor.process(row_number, cells)
            values = dict(outcome.draft.fields) if outcome.draft is not None else {}
            rows.append(
                PreviewRow(
                    row_number=row_number,
                    values=_jsonable(values),
                    errors=list(outcome.errors),
                    warnings=list(outcome.warnings),
                    dropped=list(outcome.dropped),
                )
            )
        return rows

    # ------------------------------------------------------------------ 2. plan
    def plan(self, tenant_id: str, import_id: str) -> None:
        """Validate and de-duplicate the whole file, write the error report and the chunks, queue them.

        Idempotent: a redelivery after the chunks were queued queues the unfinished chunks again (chunk
        steps count once). Any file-level problem fails the import before anything is written to leads.
        """
        from leadtide.imports.reading import ImportFileError
        from leadtide.imports.rows import FileDeduplicator

        record = self.repo.get(tenant_id, import_id)
        if record.status == ImportStatus.PROCESSING and record.chunks_total is not None:
            self._queue_chunks(record)
            return self._maybe_finish(tenant_id, import_id)
        if record.status not in (ImportStatus.QUEUED, ImportStatus.PROCESSING):
            return None
        self.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.PROCESSING,
            changes={"started_at": self.clock()},
            expect_status=[ImportStatus.QUEUED, ImportStatus.PROCESSING],
        )
        unique_key = record.options.dedupe.key
        try:
            table = self._read_table(record)
            headers = list(table.headers)
            processor = self._processor(record, headers, record.mapping or {})
            dedup = FileDeduplicator(unique_key)
            report = ErrorReportWriter(headers)
            chunk: list[dict[str, Any]] = []
            chunks = rows_total = 0
            for row_number, cells in table.rows:
                rows_total += 1
                outcome = processor.process(row_number, cells)
                if outcome.draft is None or outcome.errors:
                    report.add(row_number, cells, outcome.errors or ["row could not be read"])
                    continue
                earlier = dedup.check(outcome)
                if earlier is not None:
                    reasons = [f"duplicate of row {earlier} (same {unique_key})", *outcome.dropped]
                    report.add(row_number, cells, reasons)
                    continue
                draft = outcome.draft
                status = draft.fields.get("status")
                if status not in (None, "") and status not in _VALID_STATUSES:
                    report.add(
                        row_number,
                        cells,
                        [f"status {status!r} is not one of {sorted(_VALID_STATUSES)}", *outcome.dropped],
                    )
                    continue
                if outcome.dropped:
                    report.add(row_number, cells, outcome.dropped, outcome="values_dropped")
                chunk.append(
                    {
                        "row": row_number,
                        "fields": draft.fields,  # datetimes become ISO text when the chunk is encoded
                        "email": draft.email,
                        "phone": draft.phone,
                        "unique": draft.unique_value,
                        "warnings": list(outcome.warnings) or None,
                    }
                )
                if len(chunk) >= self.chunk_rows:
                    self._put_chunk(tenant_id, import_id, chunks, chunk)
                    chunks += 1
                    chunk = []
            if chunk:
                self._put_chunk(tenant_id, import_id, chunks, chunk)
                chunks += 1
        except ImportFileError as err:
            return self._fail(tenant_id, import_id, _message(err))
        except _ImportFailed as err:
            return self._fail(tenant_id, import_id, str(err))
        except LeadtideError as err:
            return self._fail(tenant_id, import_id, err.message)
        if rows_total == 0:
            return self._fail(tenant_id, import_id, "the file has a header row but no data rows")
        if report.rows:
            self.artifacts.put(data_key(tenant_id, import_id, "errors.csv"), report.getvalue(), "text/csv")
        self.repo.update(
            tenant_id,
            import_id,
            changes={
                "error_rows": report.rows,
                "dropped_rows": report.values_dropped,
                "rows_total": rows_total,
                "chunks_total": chunks,
                "failed": report.rejected,
                "rows_processed": report.rejected,
            },
        )
        record = self.repo.get(tenant_id, import_id)
        self._queue_chunks(record)
        return self._maybe_finish(tenant_id, import_id)

    def _put_chunk(self, tenant_id: str, import_id: str, n: int, drafts: list[dict[str, Any]]) -> None:
        text = json.dumps({"chunk": n, "drafts": drafts}, separators=(",", ":"), default=_json_default)
        body = text.encode()
        self.artifacts.put(data_key(tenant_id, import_id, f"chunks/{n:06d}.json"), body)

    def _queue_chunks(self, record: ImportRecord) -> None:
        tenant, import_id = record.tenant_id, record.import_id
        steps = [
            {"kind": "imports.chunk", "tenant_id": tenant, "import_id": import_id, "chunk": n}
            for n in range(record.chunks_total or 0)
            if not self.repo.chunk_committed(tenant, import_id, chunk_marker(n))
        ]
        if steps:
            self.enqueue(steps)

    def _maybe_finish(self, tenant_id: str, import_id: str) -> None:
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

    # ------------------------------------------------------------------ 3. chunk
    def run_chunk(self, tenant_id: str, import_id: str, n: int) -> None:
        """Apply chunk ``n`` (see the module docstring). Idempotent; the attempt that reaches
        :data:`MAX_ATTEMPTS` records the chunk as failed (its rows count as failed) and re-raises, so the
        message still goes to the dead-letter queue and the import never sticks in ``processing``."""
        marker = chunk_marker(n)
        if self.repo.chunk_committed(tenant_id, import_id, marker):
            return self._maybe_finish(tenant_id, import_id)
        record = self.repo.get(tenant_id, import_id)
        if record.status != ImportStatus.PROCESSING:
            return None
        attempts = self.repo.count_attempt(tenant_id, import_id, marker)
        try:
            self._apply_chunk(record, n)
        except Exception as err:
            if attempts >= MAX_ATTEMPTS:
                rows = self._chunk_rows(tenant_id, import_id, n)
                self._discard_chunk(tenant_id, import_id, n)
                self.repo.commit_chunk(
                    tenant_id,
                    import_id,
                    marker,
                    progress={"chunks_failed": 1, "failed": rows, "rows_processed": rows},
                    counters={},
                    outcome={
                        "chunk": n,
                        "rows": rows,
                        "error": f"{type(err).__name__}: {err}"[:500] + " (none of its rows were kept)",
                    },
                )
                self._maybe_finish(tenant_id, import_id)
            raise
        return self._maybe_finish(tenant_id, import_id)

    def _discard_chunk(self, tenant_id: str, import_id: str, n: int) -> None:
        """Undo whatever a failing chunk wrote (its rows count as failed, so none of them may remain):
        delete the leads it planned to create with their identity claims, restore the before-images of
        the updates it applied. Best effort: logged, never raised (the chunk is failing already)."""
        try:
            plan = self._load(data_key(tenant_id, import_id, f"plans/{n:06d}.json"))
            creates = [a for a in plan["actions"] if a["action"] == "create"]
            if creates:
                self.store.delete_leads(
                    tenant_id,
                    [a["lead_id"] for a in creates],
                    [((k[0], k[1]), a["lead_id"]) for a in creates for k in a.get("add", [])],
                )
            updates = [a for a in plan["actions"] if a["action"] == "update"]
            current = self.store.get_leads(tenant_id, [a["lead_id"] for a in updates])
            applied = [
                a
                for a in updates
                if a["lead_id"] in current
                and iso(current[a["lead_id"]].lead.updated_at)
                == iso(Lead.model_validate(a["lead"]).updated_at)
            ]
            if applied:
                self.store.restore_leads(
                    tenant_id,
                    [a["before"] for a in applied],
                    remove_identities=[
                        ((k[0], k[1]), a["lead_id"]) for a in applied for k in a.get("add", [])
                    ],
                    add_identities=[
                        ((k[0], k[1]), a["lead_id"]) for a in applied for k in a.get("remove", [])
                    ],
                    claimed_at=_claims_of([k for a in applied for k in a.get("remove", [])]),
                )
        except Exception:
            _log.exception("could not discard the writes of failed chunk %s of import %s", n, import_id)

    def _chunk_rows(self, tenant_id: str, import_id: str, n: int) -> int:
        try:
            return len(self._load(data_key(tenant_id, import_id, f"chunks/{n:06d}.json"))["drafts"])
        except Exception:
            return 0

    def _load(self, key: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.artifacts.get(key))
        return loaded

    def _apply_chunk(self, record: ImportRecord, n: int) -> None:
        tenant, import_id = record.tenant_id, record.import_id
        drafts = self._load(data_key(tenant, import_id, f"chunks/{n:06d}.json"))["drafts"]
        plan_key = data_key(tenant, import_id, f"plans/{n:06d}.json")
        replay = True
        try:
            plan = self._load(plan_key)  # an earlier attempt decided (and maybe wrote) this chunk
        except KeyError:
            plan, replay = self.decide(record, drafts), False
            self.artifacts.put(plan_key, _dumps(plan))
        plan = self._execute(record, drafts, plan, plan_key, replay=replay)
        counts = _counts(plan)
        self._publish(record, plan)
        self.repo.commit_chunk(
            tenant,
            import_id,
            chunk_marker(n),
            progress={
                "chunks_done": 1,
                "rows_processed": len(drafts),
                "created": counts.created,
                "updated": counts.updated,
                "skipped": counts.skipped,
                "failed": counts.failed,
            },
            counters=counts.counters,
        )

    def decide(
        self, record: ImportRecord, drafts: list[dict[str, Any]], only: set[int] | None = None
    ) -> dict[str, Any]:
        """Decide create / update / skip for each draft (rows in ``only`` when given) from the identity
        items and profiles as they are now. Returns the plan ``{"actions": [...]}`` whose update actions
        carry the before-image (``before``: the stored item) and every write's new profile (``lead``)."""
        tenant, import_id = record.tenant_id, record.import_id
        dedupe = record.options.dedupe
        strategy, unique_key, mode = dedupe.strategy, dedupe.key, dedupe.update_mode
        selected = [d for d in drafts if only is None or d["row"] in only]
        own_ids = {d["row"]: new_lead_id(tenant, import_id, d["row"]) for d in selected}
        draft_keys = {d["row"]: identity_keys(d, unique_key) for d in selected}
        keys = list(dict.fromkeys(k for d in selected for k in draft_keys[d["row"]]))
        owners, stale, existing = self._live_owners(tenant, selected, keys, own_ids, unique_key, strategy)
        matched: dict[int, str] = {}
        for d in selected:
            key = match_key(d, unique_key)
            owner = owners.get(key) if key else None
            if owner is not None and owner != own_ids[d["row"]] and strategy != "create":
                matched[d["row"]] = owner
        now = self.clock()
        times = {"created_at": now, "updated_at": now, "last_activity_at": now}
        saved_times = dict.fromkeys(times, _DATETIME.dump_python(now, mode="json"))
        claimed: set[IdentityKey] = set()
        actions: list[dict[str, Any]] = []
        built: dict[str, Lead] = {}  # the new profiles as objects (not saved): no re-validation to write them
        for d in selected:
            row = d["row"]
            standard, custom, tags = split_fields(d["fields"])
            if row in matched:
                lead_id = matched[row]
                stored = existing.get(lead_id)
                if strategy == "skip" or stored is None:
                    actions.append({"row": row, "action": "skip", "lead_id": lead_id})
                    continue
                action = self._update_action(
                    tenant, d, stored, standard, custom, tags, mode, owners, claimed, now
                )
                _note_stale(action, stale)
                actions.append(action)
                continue
            lead_id = own_ids[row]
            add = []
            for key in draft_keys[row]:
                if owners.get(key) in (None, lead_id) and key not in claimed:
                    add.append(key)
                    claimed.add(key)
            values = {
                "lead_id": lead_id,
                "tenant_id": tenant,
                "name": standard.get("name")
                or display_name(standard.get("first_name"), standard.get("last_name")),
                "first_name": standard.get("first_name"),
                "last_name": standard.get("last_name"),
                "email": d.get("email") or standard.get("email"),
                "phone": d.get("phone") or standard.get("phone"),
                "company": standard.get("company"),
                "job_title": standard.get("job_title"),
                "status": standard.get("status") or LeadStatus.NEW,
                "owner_id": standard.get("owner_id"),
                "source_channel": ChannelType.IMPORT,
                "tags": tags,
                "custom_fields": custom,
                "import_id": import_id,
            }
            values = {k: v for k, v in values.items() if v is not None}
            lead = Lead(**values, **times)  # validated: types, the status, the tags' shape
            built[lead_id] = lead
            # The saved plan keeps the values the lead was built from (a redelivery validates them into
            # the same Lead): no per-lead pydantic dump; the plan is encoded once per chunk.
            values["status"], values["source_channel"] = str(lead.status), str(lead.source_channel)
            action = {
                "row": row,
                "action": "create",
                "lead_id": lead_id,
                "lead": {**values, **saved_times},
                "add": [list(k) for k in add],
            }
            _note_stale(action, stale)
            actions.append(action)
        _note_released_claims(self.store, tenant, actions)
        return {"actions": actions, _BUILT: built}

    def _live_owners(
        self,
        tenant: str,
        selected: list[dict[str, Any]],
        keys: list[IdentityKey],
        own_ids: dict[int, str],
        unique_key: str,
        strategy: str,
    ) -> tuple[dict[IdentityKey, str], dict[IdentityKey, str], dict[str, StoredLead]]:
        """The identity items of ``keys`` split into ``(live, stale, profiles)``: key -> lead id for
        items naming an existing lead (or one of this chunk's own ids), key -> lead id for items naming a
        lead whose profile is gone (free: claimed on condition that they still name it), and, for the
        ``update`` strategy, the stored profiles of the leads rows match.

        Calls: one BatchGetItem of the identity items; when any is found, one of the owners' profiles
        (``update``: the matched owners' full profiles, plus ``pk`` only for the other owners if any;
        else ``pk`` only for all owners).
        """
        found = self.store.get_identities(tenant, keys)
        own = set(own_ids.values())
        others = {lid for lid in found.values() if lid not in own}
        profiles: dict[str, StoredLead] = {}
        live: set[str] = set()
        if strategy == "update":
            candidates = {
                found[key]
                for d in selected
                if (key := match_key(d, unique_key)) is not None and found.get(key) in others
            }
            if candidates:
                profiles = self.store.get_leads(tenant, list(candidates))
            live = set(profiles)
            others -= candidates
        if others:
            live |= self.store.existing_lead_ids(tenant, list(others))
        owners = {k: lid for k, lid in found.items() if lid in own or lid in live}
        stale = {k: lid for k, lid in found.items() if k not in owners}
        return owners, stale, profiles

    def _update_action(
        self,
        tenant: str,
        draft: dict[str, Any],
        stored: StoredLead,
        standard: dict[str, Any],
        custom: dict[str, Any],
        tags: list[str],
        mode: str,
        owners: dict[IdentityKey, str],
        claimed: set[IdentityKey],
        now: datetime,
    ) -> dict[str, Any]:
        lead = stored.lead
        changes: dict[str, Any] = {}
        add: list[IdentityKey] = []
        remove: list[IdentityKey] = []
        for name, value in standard.items():
            current = getattr(lead, name)
            if current == value or (mode == "fill_empty" and not _empty(current)):
                continue
            if name in _IDENTITY_FIELDS:
                key = (name, value)
                if owners.get(key) not in (None, lead.lead_id) or key in claimed:
                    continue  # that email/phone belongs to another lead: keep this lead's own
                add.append(key)
                claimed.add(key)
                if current:
                    remove.append((name, current))
            changes[name] = value
        merged_custom = dict(lead.custom_fields)
        for name, value in custom.items():
            if merged_custom.get(name) == value or (
                mode == "fill_empty" and not _empty(merged_custom.get(name))
            ):
                continue
            merged_custom[name] = value
        if merged_custom != lead.custom_fields:
            changes["custom_fields"] = merged_custom
        if tags:
            merged_tags = list(dict.fromkeys([*lead.tags, *tags]))
            if merged_tags != lead.tags:
                changes["tags"] = merged_tags
        if not changes:
            return {"row": draft["row"], "action": "skip", "lead_id": lead.lead_id, "unchanged": True}
        if ("first_name" in changes or "last_name" in changes) and "name" not in standard:
            derived = display_name(lead.first_name, lead.last_name)
            if lead.name in (None, derived):
                changes["name"] = display_name(
                    changes.get("first_name", lead.first_name), changes.get("last_name", lead.last_name)
                )
        new = lead.model_copy(update={**changes, "updated_at": now})
        return {
            "row": draft["row"],
            "action": "update",
            "lead_id": lead.lead_id,
            "lead": new.model_dump(mode="json"),
            "before": stored.raw,
            "before_status": str(lead.status),
            "add": [list(k) for k in add],
            "remove": [list(k) for k in remove],
        }

    def _execute(
        self,
        record: ImportRecord,
        drafts: list[dict[str, Any]],
        plan: dict[str, Any],
        plan_key: str,
        *,
        replay: bool,
    ) -> dict[str, Any]:
        """Write the plan's creates and updates; re-decide rows whose conditions failed (a concurrent
        capture or edit) and try again, saving the revised plan before each new round of writes."""
        tenant = record.tenant_id
        # Whether the saved plan already says everything a redelivery needs: it does when only creates
        # were pending and all were written at the first try (a redelivery re-sends them conditionally,
        # refused as ``lead_exists``, nothing released); updates and failures are saved again below.
        as_saved = True
        for round_number in range(MAX_WRITE_ROUNDS):
            pending = [
                a for a in plan["actions"] if a["action"] in ("create", "update") and not a.get("done")
            ]
            if not pending:
                break
            if round_number > 0 or any(a["action"] == "update" for a in pending):
                as_saved = False
            built = plan.get(_BUILT) or {}
            writes = [
                LeadWrite(
                    lead=built.get(a["lead_id"]) or Lead.model_validate(a["lead"]),
                    base_raw=a.get("before"),
                    add_identities=[tuple(k) for k in a.get("add", [])],  # type: ignore[misc]
                    remove_identities=[(k[0], k[1]) for k in a.get("remove", [])],
                    stale_owners={(k[0], k[1]): k[2] for k in a.get("stale", [])},
                )
                for a in pending
            ]
            replay = replay or round_number > 0
            conflicts = {c.lead_id: c for c in self.store.write_leads(tenant, writes, replay=replay)}
            redo: set[int] = set()
            for action in pending:
                conflict = conflicts.get(action["lead_id"])
                if conflict is None:
                    action["done"] = True
                elif conflict.reason == "lead_exists":
                    action["done"] = True  # our own lead (deterministic id), written by an earlier attempt
                else:
                    redo.add(action["row"])
            if not redo:
                break
            as_saved = False
            if round_number == MAX_WRITE_ROUNDS - 1:
                for action in plan["actions"]:
                    if action["row"] in redo:
                        action.update(
                            {"action": "failed", "reason": "kept conflicting with concurrent changes"}
                        )
                break
            decided = self.decide(record, drafts, only=redo)
            plan.setdefault(_BUILT, {}).update(decided[_BUILT])
            revised = {a["row"]: a for a in decided["actions"]}
            for i, action in enumerate(plan["actions"]):
                if action["row"] in revised:
                    # The state just read is the one a rollback restores (someone changed it meanwhile).
                    plan["actions"][i] = revised[action["row"]]
            self.artifacts.put(plan_key, _dumps(plan))
        for action in plan["actions"]:
            if action["action"] in ("create", "update") and not action.get("done"):
                action.update({"action": "failed", "reason": "not written"})
                as_saved = False
        if not as_saved:
            self.artifacts.put(plan_key, _dumps(plan))
        return plan

    def _publish(self, record: ImportRecord, plan: dict[str, Any], rollback: bool = False) -> None:
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

    # ------------------------------------------------------------------ 4. rollback
    def start_rollback(self, tenant_id: str, import_id: str) -> bool:
        """Queue one rollback step per chunk of a finished import (False: not in a finished state)."""
        record = self.repo.get(tenant_id, import_id)
        if not self.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.ROLLING_BACK,
            changes={"rollback": RollbackState(previous_status=record.status, started_at=self.clock())},
            expect_status=[*FINISHED],
        ):
            return False
        total = record.chunks_total or 0
        self.enqueue(
            [
                {"kind": "imports.rollback_chunk", "tenant_id": tenant_id, "import_id": import_id, "chunk": n}
                for n in range(total)
            ]
        )
        self._maybe_finish_rollback(tenant_id, import_id)
        return True

    def rollback_chunk(self, tenant_id: str, import_id: str, n: int) -> None:
        """Undo chunk ``n``: delete the leads it created, restore the before-images of those it updated.

        Idempotent: the undo plan (which leads to delete and restore, their statuses for the counters) is
        saved before anything is deleted and reused by a redelivery; the counts land with a marker.
        """
        marker = rollback_marker(n)
        if self.repo.chunk_committed(tenant_id, import_id, marker):
            return self._maybe_finish_rollback(tenant_id, import_id)
        record = self.repo.get(tenant_id, import_id)
        if record.status != ImportStatus.ROLLING_BACK:
            return None
        try:
            plan = self._load(data_key(tenant_id, import_id, f"plans/{n:06d}.json"))
        except KeyError:
            plan = {"actions": []}
        failed = {c.chunk for c in self.repo.failed_chunks(tenant_id, import_id)}
        if n in failed or not self.repo.chunk_committed(tenant_id, import_id, chunk_marker(n)):
            plan = {"actions": []}  # a failed chunk was discarded when it failed: nothing of it remains
        undo_key = data_key(tenant_id, import_id, f"rollback/{n:06d}.json")
        try:
            undo = self._load(undo_key)
        except KeyError:
            undo = self._undo_plan(tenant_id, plan, record.started_at)
            self.artifacts.put(undo_key, _dumps(undo))
        deletes = [a for a in undo["actions"] if a["action"] == "delete"]
        restores = [a for a in undo["actions"] if a["action"] == "restore"]
        if deletes:
            self.store.delete_leads(
                tenant_id,
                [a["lead_id"] for a in deletes],
                [((k[0], k[1]), a["lead_id"]) for a in deletes for k in a["identities"]],
                profile_only=[a["lead_id"] for a in deletes if a.get("profile_only")],
            )
        if restores:
            self.store.restore_leads(
                tenant_id,
                [a["before"] for a in restores],
                remove_identities=[((k[0], k[1]), a["lead_id"]) for a in restores for k in a["remove"]],
                add_identities=[((k[0], k[1]), a["lead_id"]) for a in restores for k in a["add"]],
                claimed_at=_claims_of([k for a in restores for k in a["add"]]),
            )
            rescored = [a["lead_id"] for a in restores if a.get("rescored")]
            if rescored and record.started_at is not None:
                # Score history written because of the import (lead.updated -> re-score) goes with it.
                self.store.delete_score_history_since(tenant_id, rescored, record.started_at)
        self._publish(record, undo, rollback=True)
        counters: dict[str, int] = {}

        def count(sk: str, delta: int) -> None:
            counters[sk] = counters.get(sk, 0) + delta

        for a in deletes:
            count("total", -1)
            count(f"status#{a['status']}", -1)
            count(f"source#{a['source']}", -1)
        for a in restores:
            if a["status"] != a["before_status"]:
                count(f"status#{a['status']}", -1)
                count(f"status#{a['before_status']}", 1)
        self.repo.commit_chunk(
            tenant_id,
            import_id,
            marker,
            progress={
                "rollback_chunks_done": 1,
                "rolled_back_deleted": len(deletes),
                "rolled_back_restored": len(restores),
                "rollback_conflicts": sum(1 for a in undo["actions"] if a.get("changed_since_import")),
            },
            counters=counters,
            outcome={
                "changed_since_import": [a["lead_id"] for a in restores if a.get("changed_since_import")][:50]
            },
        )
        return self._maybe_finish_rollback(tenant_id, import_id)

    def _undo_plan(
        self, tenant_id: str, plan: dict[str, Any], since: datetime | None = None
    ) -> dict[str, Any]:
        created = [a for a in plan["actions"] if a["action"] == "create"]
        updated = [a for a in plan["actions"] if a["action"] == "update"]
        current = self.store.get_leads(tenant_id, [a["lead_id"] for a in created + updated])
        actions: list[dict[str, Any]] = []
        for a in created:
            stored = current.get(a["lead_id"])
            if stored is None:
                continue  # deleted since (its counters moved then)
            written = Lead.model_validate(a["lead"])
            actions.append(
                {
                    "action": "delete",
                    "lead_id": a["lead_id"],
                    "status": str(stored.lead.status),
                    "source": str(stored.lead.source_channel),
                    "identities": a.get("add", []),
                    "profile_only": _untouched(stored.lead, written),
                }
            )
        for a in updated:
            stored = current.get(a["lead_id"])
            if stored is None:
                continue  # deleted since: restoring would resurrect a lead someone deleted
            written = Lead.model_validate(a["lead"])
            actions.append(
                {
                    "action": "restore",
                    "lead_id": a["lead_id"],
                    "before": a["before"],
                    "status": str(stored.lead.status),
                    "before_status": a["before_status"],
                    "remove": a.get("add", []),
                    "add": a.get("remove", []),
                    "changed_since_import": iso(stored.lead.updated_at) != iso(written.updated_at),
                    # scored since the import started: its score history has entries to remove (the
                    # profile's scored_at is the newest entry's time, written in the same transaction)
                    "rescored": stored.lead.scored_at is not None
                    and (since is None or iso(stored.lead.scored_at) >= iso(since)),
                }
            )
        return {"actions": actions}

    def _maybe_finish_rollback(self, tenant_id: str, import_id: str) -> None:
        record = self.repo.get(tenant_id, import_id)
        if record.status != ImportStatus.ROLLING_BACK:
            return
        if record.rollback_chunks_done < (record.chunks_total or 0):
            return
        rollback = record.rollback
        self.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.ROLLED_BACK,
            changes={"rollback": rollback.model_copy(update={"finished_at": self.clock()})}
            if rollback
            else {},
            expect_status=[ImportStatus.ROLLING_BACK],
        )


def _note_stale(action: dict[str, Any], stale: dict[IdentityKey, str]) -> None:
    """Record on a write action the stale owners of the keys it claims (``[kind, value, lead id]``)."""
    found = [[*key, stale[key]] for key in map(tuple, action.get("add", [])) if key in stale]
    if found:
        action["stale"] = found


def _untouched(stored: Lead, written: Lead) -> bool:
    """Whether a lead the import created has had nothing happen to it since: no message, score, edit or
    activity (then its partition holds only the profile and a rollback skips the Query of it). A note
    added without other change is the one thing this cannot see (see docs/decisions.md)."""
    return (
        stored.message_count == 0
        and stored.score is None
        and stored.scored_at is None
        and iso(stored.updated_at) == iso(written.updated_at)
        and iso(stored.last_activity_at) == iso(written.last_activity_at)
    )


class _ImportFailed(Exception):
    """A file-level problem that fails the import with the message."""


def _too_large(size: int) -> str:
    return f"the file is {size / 1_048_576:.1f} MB; the largest accepted file is {MAX_FILE_BYTES // 1_048_576} MB"


def _message(err: Exception) -> str:
    return getattr(err, "message", None) or str(err)


_BUILT = "_built"
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _dumps(value: Any) -> bytes:
    if isinstance(value, dict) and _BUILT in value:
        value = {k: v for k, v in value.items() if k != _BUILT}
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def _counts(plan: dict[str, Any]) -> ChunkCounts:
    counts = ChunkCounts()
    for a in plan["actions"]:
        kind = a["action"]
        if kind == "create":
            counts.created += 1
            lead = a["lead"]
            counts.count("total", 1)
            counts.count(f"status#{lead['status']}", 1)
            counts.count(f"source#{lead['source_channel']}", 1)
        elif kind == "update":
            counts.updated += 1
            new_status = a["lead"]["status"]
            if new_status != a["before_status"]:
                counts.count(f"status#{a['before_status']}", -1)
                counts.count(f"status#{new_status}", 1)
        elif kind == "skip":
            counts.skipped += 1
        else:
            counts.failed += 1
    return counts


def error_report_csv(headers: Iterable[str], rows: Iterable[tuple[int, list[str], list[str]]]) -> bytes:
    """A whole error report at once (tests and small files); see :class:`ErrorReportWriter`."""
    writer = ErrorReportWriter(list(headers))
    for row_number, cells, reasons in rows:
        writer.add(row_number, cells, reasons)
    return writer.getvalue()


def _note_released_claims(store: Any, tenant_id: str, actions: list[dict[str, Any]]) -> None:
    """Append each released identity's ``claimed_at`` to its ``remove`` entry (``[kind, value, claimed_at]``)
    so that a rollback puts the identity item back exactly. One BatchGetItem, only when updates release
    keys."""
    released = [(k[0], k[1]) for a in actions if a["action"] == "update" for k in a.get("remove", [])]
    if not released:
        return
    claims = store.identity_claims(tenant_id, list(dict.fromkeys(released)))
    if not claims:
        return
    for a in actions:
        if a["action"] == "update" and a.get("remove"):
            a["remove"] = [
                [*k[:2], claims[(k[0], k[1])]] if (k[0], k[1]) in claims else k for k in a["remove"]
            ]


def _claims_of(entries: Iterable[Sequence[Any]]) -> dict[tuple[str, str], int]:
    """``{(kind, value): claimed_at}`` of the ``[kind, value, claimed_at]`` entries of a plan."""
    return {(k[0], k[1]): int(k[2]) for k in entries if len(k) > 2}
