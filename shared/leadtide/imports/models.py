"""Request and response shapes of the import API (``/imports``, ``/import-mappings``), and the import
record the pipeline and the service pass around (:class:`ImportRecord`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from leadtide.models.common import Flag, iso

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest accepted upload (50 MB): about 250,000 rows of a typical 20-column CRM export."""
ALLOWED_EXTENSIONS = (".csv", ".txt", ".tsv", ".xlsx")
IMPORT_ID_PATTERN = r"^[0-9a-f]{32}$"
MAPPING_NAME_PATTERN = r"^[\w][\w .:-]{0,63}$"
_KEY = re.compile(r"^(email|phone|custom:[a-z][a-z0-9_]{0,63})$")

InvalidValues = Literal["drop_field", "reject_row"]
INVALID_VALUES_DESCRIPTION = (
    "what an unusable cell value (a phone number that cannot be parsed, an invalid or disposable email, "
    "a value that does not fit its custom field) does to its row. `drop_field` (default): the lead is "
    "imported without that value, and the row is listed in the error report (outcome `values_dropped`, "
    "naming the column and value); the row is still rejected when the value was required, or when every "
    "email, phone or unique-key value it had is invalid. `reject_row`: the whole row is rejected"
)


class ImportStatus(StrEnum):
    """Lifecycle of an import. ``completed_with_errors``: some rows were rejected or a chunk failed."""

    AWAITING_UPLOAD = "awaiting_upload"
    ANALYSING = "analysing"
    AWAITING_MAPPING = "awaiting_mapping"
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"


FINISHED = (ImportStatus.COMPLETED, ImportStatus.COMPLETED_WITH_ERRORS)


class DedupeOptions(BaseModel):
    """How rows are matched to existing leads and what happens on a match.

    ``strategy``: ``skip`` leaves the existing lead alone (counted as skipped), ``update`` changes it
    (``fill_empty``: only fields that are empty; ``overwrite``: every mapped, non-empty value), ``create``
    always adds a new lead (identity items already owned by another lead stay with that lead). ``key``:
    ``email``, ``phone`` or a unique custom field ``custom:<key>``.
    """

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["skip", "update", "create"] = "skip"
    key: str = Field(default="email", description="email, phone or custom:<key>")
    update_mode: Literal["fill_empty", "overwrite"] = "fill_empty"

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _KEY.match(v):
            raise ValueError("key must be email, phone or custom:<key>")
        return v


MAPPING_DESCRIPTION = (
    "the column mapping: header of the file -> target field (`email`, `phone`, `first_name`, `last_name`, "
    "`name`, `company`, `job_title`, `status`, `tags`, a built-in field such as `lead_source` or "
    "`source_created_at`, or `custom:<key>`), null to ignore a column"
)
LEGACY_MAPPING_NOTE = (
    'Deprecated (still accepted during a deprecation period): the nested `{"columns": {header: target}}` of earlier '
    "versions; send the header -> target object itself."
)


def _unwrap_legacy_mapping(value: Any) -> Any:
    """The deprecated nested ``{"columns": {...}}`` (or a :class:`ColumnMapping`) -> the mapping itself.

    Only an object whose sole key is ``columns`` holding an object is the old shape: a header named
    ``columns`` maps to a string or null.
    """
    if isinstance(value, ColumnMapping):
        return value.columns
    if isinstance(value, dict) and "columns" in value and isinstance(value["columns"], dict):
        if len(value) != 1:
            raise ValueError(
                'a mapping maps headers to targets; the deprecated nested form is {"columns": {...}} alone'
            )
        return value["columns"]
    return value


HeaderMapping = Annotated[
    dict[str, str | None], Field(max_length=500), BeforeValidator(_unwrap_legacy_mapping)
]
"""One mapping shape everywhere: header -> target or null (see :data:`MAPPING_DESCRIPTION`)."""


class ColumnMapping(BaseModel):
    """Deprecated wrapper ``{"columns": {header: target}}`` of the mapping (kept for old clients and callers;
    :data:`HeaderMapping` unwraps it)."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str | None] = Field(max_length=500)


class ImportCreate(BaseModel):
    """Body of ``POST /imports``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    filename: str = Field(min_length=1, max_length=255, description="name of the file, e.g. leads.csv")
    content_type: str | None = Field(default=None, max_length=100)
    dedupe: DedupeOptions = Field(default_factory=DedupeOptions)
    mapping: HeaderMapping | None = Field(
        default=None, description=MAPPING_DESCRIPTION + ". " + LEGACY_MAPPING_NOTE
    )
    mapping_name: str | None = Field(default=None, pattern=MAPPING_NAME_PATTERN)
    auto_start: Flag = True
    check_mx: Flag = False
    reject_disposable: Flag = True
    required: list[str] = Field(
        default_factory=list, max_length=50, description="targets every row must have"
    )
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    invalid_values: InvalidValues = Field(default="drop_field", description=INVALID_VALUES_DESCRIPTION)
    publish_events: Flag = Field(
        default=True, description="publish lead.created/lead.updated per lead (scoring, segments react)"
    )

    @field_validator("filename")
    @classmethod
    def _filename(cls, v: str) -> str:
        if "/" in v or "\\" in v:
            raise ValueError("filename must not contain a path")
        if not v.lower().endswith(ALLOWED_EXTENSIONS):
            raise ValueError(f"file type not supported: use {', '.join(ALLOWED_EXTENSIONS)}")
        return v


class UploadTarget(BaseModel):
    """Where to send the file: ``PUT`` the raw bytes to ``url`` with ``headers`` before ``expires_at``."""

    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_at: datetime
    max_bytes: int = MAX_FILE_BYTES


class ImportCreated(BaseModel):
    """Answer of ``POST /imports``."""

    import_id: str
    status: ImportStatus
    upload: UploadTarget


class FailedChunk(BaseModel):
    """A chunk that kept failing and went to the dead-letter queue; its rows count as failed."""

    chunk: int
    rows: int
    error: str


class ImportJob(BaseModel):
    """An import as ``GET /imports/{import_id}`` shows it: status, progress, outcome counts."""

    import_id: str
    status: ImportStatus
    filename: str
    file_bytes: int | None = None
    file_format: str | None = None
    requested_by: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows_total: int | None = None
    rows_processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    rows_with_dropped_values: int = Field(
        default=0,
        description="rows imported without some of their values (option invalid_values: drop_field); "
        "the error report lists them with outcome values_dropped",
    )
    chunks_total: int | None = None
    chunks_done: int = 0
    chunks_failed: int = 0
    failed_chunks: list[FailedChunk] = Field(default_factory=list)
    error: str | None = Field(default=None, description="why the import failed or waits for a mapping")
    mapping: dict[str, str | None] | None = None
    mapping_name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    error_report_available: bool = False
    rollback: dict[str, Any] | None = Field(
        default=None, description="rollback progress: chunks_done, deleted, restored, changed_since_import"
    )
    rollback_until: datetime | None = Field(
        default=None,
        description=(
            "completed imports: the moment after which rollback (and the error report) is no longer "
            "possible; the upload and the rollback data are deleted 30 days after the import"
        ),
    )
    start_until: datetime | None = Field(
        default=None,
        description=(
            "imports awaiting their mapping: the moment after which the mapping can no longer change and "
            "the import can no longer start (410 upload_expired); the uploaded file is deleted 30 days "
            "after the upload"
        ),
    )
    preview_removed_at: datetime | None = Field(
        default=None,
        description="when the file's first rows (preview) were removed from the import, after its retention",
    )


class ImportPage(BaseModel):
    """One page of imports, newest first."""

    items: list[ImportJob]
    next_cursor: str | None = None


class PreviewRow(BaseModel):
    """One of the first rows as it would be imported."""

    row_number: int
    values: dict[str, Any]
    errors: list[str] = Field(default_factory=list, description="why the row would be rejected")
    warnings: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(
        default_factory=list,
        description="values the row would be imported without (invalid_values: drop_field), with why",
    )


UnmappedReason = Literal["no_values", "ambiguous", "ignored", "not_imported", "unknown_header"]


class UnmappedColumn(BaseModel):
    """Why a column of the file is not imported.

    ``reason``: ``no_values`` (no value in the first rows: empty cells and spreadsheet error values such as
    ``#N/A`` count as empty), ``ambiguous`` (it looks like a field another column already feeds),
    ``ignored`` (it looks like a field but the mapping leaves it out), ``not_imported`` (a known CRM export
    column no Leadtide field holds: ids, system fields, address parts), ``unknown_header`` (nothing
    matches it). ``detail`` says it in a sentence naming the column and, where there is one, the field.
    """

    header: str
    reason: UnmappedReason
    detail: str


class ImportPreview(BaseModel):
    """``GET /imports/{import_id}/preview``: what the analysis of the file found."""

    import_id: str
    status: ImportStatus
    headers: list[str]
    mapping: dict[str, str | None]
    confidence: dict[str, float] = Field(default_factory=dict)
    unmapped: list[UnmappedColumn] = Field(
        default_factory=list, description="every column the mapping leaves out, with why (header order)"
    )
    detected_source: str | None = None
    mapping_name: str | None = None
    issues: list[str] = Field(default_factory=list, description="file-level remarks (encoding, ragged rows)")
    rows: list[PreviewRow] = Field(default_factory=list)
    rows_removed_at: datetime | None = Field(
        default=None,
        description="set when the rows were removed after the file's retention window (rows is then empty)",
    )


class MappingUpdate(BaseModel):
    """Body of ``PUT /imports/{import_id}/mapping``: ``mapping`` in the shape ``POST /imports`` takes.

    ``columns`` is the deprecated spelling of ``mapping`` (still accepted during a deprecation period); giving both is
    refused unless they are equal. After validation ``mapping`` always holds the mapping.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": ["mapping"]}, {"required": ["columns"]}]},
    )

    mapping: HeaderMapping | None = Field(
        default=None, description=MAPPING_DESCRIPTION + ". " + LEGACY_MAPPING_NOTE
    )
    columns: HeaderMapping | None = Field(
        default=None,
        description="deprecated (still accepted during a deprecation period): the earlier name of `mapping`; "
        "send `mapping`",
        json_schema_extra={"deprecated": True},
    )
    save_as: str | None = Field(default=None, pattern=MAPPING_NAME_PATTERN)
    invalid_values: InvalidValues | None = Field(
        default=None,
        description="changes the import's option (absent: unchanged): " + INVALID_VALUES_DESCRIPTION,
    )

    @model_validator(mode="after")
    def _one_mapping(self) -> MappingUpdate:
        if self.mapping is None and self.columns is None:
            raise ValueError("mapping is required (header -> target or null)")
        if self.mapping is not None and self.columns is not None and self.mapping != self.columns:
            raise ValueError("columns is the deprecated spelling of mapping: send mapping alone")
        if self.mapping is None:
            self.mapping = self.columns
        self.columns = None
        return self

    @property
    def header_targets(self) -> dict[str, str | None]:
        """The mapping (never None after validation)."""
        assert self.mapping is not None
        return self.mapping


class SavedMapping(BaseModel):
    """A saved column mapping, reusable by name (``mapping_name``) on later imports. ``mapping`` and the
    deprecated ``columns`` hold the same header -> target object (either may be given to build one)."""

    name: str
    mapping: dict[str, str | None] = Field(default_factory=dict, description=MAPPING_DESCRIPTION)
    columns: dict[str, str | None] = Field(
        default_factory=dict,
        description="deprecated (kept during a deprecation period): the same object as `mapping`",
        json_schema_extra={"deprecated": True},
    )
    headers: list[str]
    saved_by: str
    saved_at: datetime

    @model_validator(mode="after")
    def _one_mapping(self) -> SavedMapping:
        if not self.mapping:
            self.mapping = dict(self.columns)
        self.columns = dict(self.mapping)
        return self


class SavedMappingList(BaseModel):
    """``GET /import-mappings``."""

    items: list[SavedMapping]


class ErrorReportLink(BaseModel):
    """A short-lived download link to the error report: a CSV of the rejected rows and of the rows kept
    without some values (``row_number``, ``outcome``, ``reasons``, then the original columns)."""

    url: str
    expires_at: datetime
    rows: int = Field(description="rows in the report: rejected + rows_with_dropped_values")
    rejected: int = 0
    rows_with_dropped_values: int = 0


# ---------------------------------------------------------------------------------------- the record
IsoTime = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json")]
"""A UTC time written as :func:`leadtide.models.common.iso` text in JSON (as the record always stored it)."""


class ImportOptions(BaseModel):
    """The options an import was created with (:class:`ImportCreate`'s, ``invalid_values`` changeable by
    ``PUT .../mapping``). The defaults are what a record stored without the option means: records created
    before ``invalid_values`` existed were created with the strict behaviour, so it defaults to
    ``reject_row`` here (``POST /imports`` defaults to ``drop_field``)."""

    model_config = ConfigDict(extra="ignore")

    dedupe: DedupeOptions = Field(default_factory=DedupeOptions)
    auto_start: bool = True
    check_mx: bool = False
    reject_disposable: bool = True
    required: list[str] = Field(default_factory=list)
    default_phone_region: str = "US"
    invalid_values: InvalidValues = "reject_row"
    publish_events: bool = True

    @classmethod
    def of_request(cls, request: ImportCreate) -> ImportOptions:
        """The options of a ``POST /imports`` body."""
        return cls(
            dedupe=request.dedupe,
            auto_start=request.auto_start,
            check_mx=request.check_mx,
            reject_disposable=request.reject_disposable,
            required=list(request.required),
            default_phone_region=request.default_phone_region,
            invalid_values=request.invalid_values,
            publish_events=request.publish_events,
        )


class RollbackState(BaseModel):
    """A rollback of the import: the status it was rolled back from and when it started and finished."""

    previous_status: ImportStatus
    started_at: IsoTime
    finished_at: IsoTime | None = None


COUNTER_FIELDS = (
    "rows_total",
    "rows_processed",
    "created",
    "updated",
    "skipped",
    "failed",
    "chunks_total",
    "chunks_done",
    "chunks_failed",
    "rollback_chunks_done",
    "rolled_back_deleted",
    "rolled_back_restored",
    "rollback_conflicts",
)
"""The counters of an :class:`ImportRecord` (chunk steps add to them, ``ImportRepository.commit_chunk``)."""


class ImportRecord(BaseModel):
    """One import as the pipeline and the service see it (the ``ImportRepository`` port's record; how it
    is stored is the adapter's business, see docs/data-model.md). Times are UTC.

    Counters (``rows_processed`` ... ``rollback_conflicts``) are added to by each chunk step
    (``ImportRepository.commit_chunk``); ``rows_total`` and ``chunks_total`` are None until the plan
    step. The analysis of the file fills ``headers`` (None until then), ``file_format``, ``encoding``,
    ``issues``, ``sample`` (the first rows, ``(row_number, cells)``), ``mapping`` with ``confidence``,
    ``detected_source``, ``null_values``, ``unmapped`` and ``preview``; ``sample`` and ``preview`` are
    the record's copies of file content (emptied by the retention sweep, ``preview_swept_at``).
    ``error``: why the import failed or waits for a mapping. ``error_rows``: rows in the error report
    (rejected + ``dropped_rows``, the rows kept without some values).
    """

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    import_id: str
    status: ImportStatus
    requested_by: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    preview_swept_at: datetime | None = None
    # progress, added to atomically
    rows_total: int | None = None
    rows_processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    chunks_total: int | None = None
    chunks_done: int = 0
    chunks_failed: int = 0
    rollback_chunks_done: int = 0
    rolled_back_deleted: int = 0
    rolled_back_restored: int = 0
    rollback_conflicts: int = 0
    # the file and the request
    filename: str
    content_type: str | None = None
    source_key: str
    options: ImportOptions = Field(default_factory=ImportOptions)
    mapping: dict[str, str | None] | None = None
    mapping_name: str | None = None
    # the analysis
    file_bytes: int | None = None
    headers: list[str] | None = None
    file_format: str | None = None
    encoding: str | None = None
    issues: list[str] = Field(default_factory=list)
    sample: list[tuple[int, list[str]]] = Field(default_factory=list)
    confidence: dict[str, float] = Field(default_factory=dict)
    detected_source: str | None = None
    null_values: list[str] = Field(default_factory=list)
    unmapped: list[UnmappedColumn] = Field(default_factory=list)
    preview: list[PreviewRow] = Field(default_factory=list)
    # outcome
    error: str | None = None
    error_rows: int = 0
    dropped_rows: int = 0
    rollback: RollbackState | None = None

    def with_changes(self, changes: Mapping[str, Any]) -> ImportRecord:
        """A copy with ``changes`` (field name -> new value) applied and validated, as
        ``ImportRepository.update`` applies them.

        Raises:
            ValueError: a name that is not a field, ``tenant_id`` / ``import_id`` (a record's key never
                changes), or a value that does not fit its field (pydantic's ValidationError).
        """
        fixed = {"tenant_id", "import_id"} & set(changes)
        if fixed:
            raise ValueError(f"an import record's {', '.join(sorted(fixed))} cannot change")
        unknown = set(changes) - set(ImportRecord.model_fields)
        if unknown:
            raise ValueError(f"an import record has no field {', '.join(sorted(unknown))}")
        values = {name: getattr(self, name) for name in ImportRecord.model_fields}
        return ImportRecord.model_validate({**values, **changes})
