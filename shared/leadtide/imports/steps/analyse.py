"""Step 1 of an import, ``analyse``: read the uploaded file, resolve its mapping, store a preview of its
first rows; then queue ``plan`` (``auto_start`` and a usable mapping) or wait in ``awaiting_mapping``
with the reason. Runs on the S3 ``Object Created`` event of ``imports/<tenant>/<id>/source.<ext>``.

The mapping is the one given with the import, else the saved mapping named, else a saved mapping whose
headers are exactly the file's, else the one proposed (:func:`leadtide.imports.mapping.propose_mapping`).
The checks of a mapping and the preview rows are also what ``PUT /imports/{id}/mapping`` uses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadtide.imports.models import MAX_FILE_BYTES, ImportRecord, ImportStatus, PreviewRow, UnmappedColumn
from leadtide.imports.steps.common import (
    PREVIEW_CELL_CHARS,
    PREVIEW_ROWS,
    ImportFailed,
    StepContext,
    jsonable,
    message_of,
    too_large,
)
from leadtide.models.errors import LeadtideError

_log = logging.getLogger(__name__)


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


class AnalyseStep:
    """The ``analyse`` step and the mapping checks and preview it shares with the import service."""

    def __init__(self, ctx: StepContext):
        self._ctx = ctx

    def run(self, tenant_id: str, import_id: str, key: str, size: int | None) -> None:
        """Read an uploaded file, resolve the mapping, store the preview; start or wait for a mapping.

        Runs on the upload's S3 event. A second upload event for the same import (re-upload or
        redelivery) is ignored unless the import still awaits its file or is being analysed.
        """
        from leadtide.imports.reading import ImportFileError

        try:
            record = self._ctx.repo.get(tenant_id, import_id)
        except LeadtideError:
            _log.warning("upload for unknown import %s/%s ignored", tenant_id, import_id)
            return
        if record.status not in (ImportStatus.AWAITING_UPLOAD, ImportStatus.ANALYSING):
            return
        if key != record.source_key:
            return
        self._ctx.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.ANALYSING,
            changes={"file_bytes": size},
            expect_status=[ImportStatus.AWAITING_UPLOAD, ImportStatus.ANALYSING],
        )
        if size is not None and size > MAX_FILE_BYTES:
            return self._ctx.fail(tenant_id, import_id, too_large(size))
        try:
            table = self._ctx.read_table(record)
            headers = list(table.headers)
            sample: list[tuple[int, list[str]]] = []
            for row_number, cells in table.rows:
                sample.append((row_number, [c[:PREVIEW_CELL_CHARS] for c in cells]))
                if len(sample) >= PREVIEW_ROWS:
                    break
        except ImportFileError as err:
            return self._ctx.fail(tenant_id, import_id, message_of(err))
        except ImportFailed as err:
            return self._ctx.fail(tenant_id, import_id, str(err))
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
            self._ctx.repo.update(
                tenant_id,
                import_id,
                status=ImportStatus.QUEUED,
                changes=changes,
                expect_status=[ImportStatus.ANALYSING],
            )
            self._ctx.enqueue([{"kind": "imports.plan", "tenant_id": tenant_id, "import_id": import_id}])
        else:
            self._ctx.repo.update(
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
        definitions = self._ctx.custom_fields(tenant)
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
                saved = self._ctx.repo.get_mapping(tenant, record.mapping_name)
            except LeadtideError as err:
                resolved.columns, resolved.problem = None, err.message
            else:
                resolved.columns, resolved.mapping_name = dict(saved.mapping), saved.name
        else:
            for saved in self._ctx.repo.list_mappings(tenant):
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
            self._ctx.custom_fields(record.tenant_id),
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
                self._ctx.custom_fields(record.tenant_id),
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

        opts = self._ctx.validation_options(record)
        opts.check_mx = False
        try:
            processor = RowProcessor(
                headers, FieldMapping(columns=columns), self._ctx.custom_fields(record.tenant_id), opts
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
                    values=jsonable(values),
                    errors=list(outcome.errors),
                    warnings=list(outcome.warnings),
                    dropped=list(outcome.dropped),
                )
            )
        return rows
