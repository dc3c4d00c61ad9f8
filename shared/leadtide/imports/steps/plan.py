"""Step 2 of an import, ``plan``: one streaming pass over the file: parse, map, validate
(:class:`leadtide.imports.rows.RowProcessor`), de-duplicate within the file
(:class:`leadtide.imports.rows.FileDeduplicator`); rejected rows, and kept rows whose unusable values
were dropped (option ``invalid_values``), go to the error report CSV, accepted drafts to
``chunks/<n>.json`` (``chunk_rows`` per chunk, 1,000 by default); then one ``imports.chunk`` step per
chunk is queued (the Jobs worker runs them in parallel).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from leadtide.imports.models import ImportRecord, ImportStatus
from leadtide.imports.report import ErrorReportWriter
from leadtide.imports.steps.common import (
    ImportFailed,
    StepContext,
    chunk_key,
    chunk_marker,
    data_key,
    json_default,
    message_of,
)
from leadtide.models.common import LeadStatus
from leadtide.models.errors import LeadtideError

_VALID_STATUSES = frozenset(s.value for s in LeadStatus)


@dataclass
class _Split:
    """What the pass over the file found: rows read, chunks written, the error report."""

    report: ErrorReportWriter
    rows_total: int = 0
    chunks: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list)  # drafts of the chunk being filled


class PlanStep:
    """The ``plan`` step (see the module docstring)."""

    def __init__(self, ctx: StepContext):
        self._ctx = ctx

    def run(self, tenant_id: str, import_id: str) -> None:
        """Validate and de-duplicate the whole file, write the error report and the chunks, queue them.

        Idempotent: a redelivery after the chunks were queued queues the unfinished chunks again (chunk
        steps count once). Any file-level problem fails the import before anything is written to leads.
        """
        from leadtide.imports.reading import ImportFileError

        ctx = self._ctx
        record = ctx.repo.get(tenant_id, import_id)
        if record.status == ImportStatus.PROCESSING and record.chunks_total is not None:
            self._queue_chunks(record)
            return ctx.finish_if_done(tenant_id, import_id)
        if record.status not in (ImportStatus.QUEUED, ImportStatus.PROCESSING):
            return None
        ctx.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.PROCESSING,
            changes={"started_at": ctx.clock()},
            expect_status=[ImportStatus.QUEUED, ImportStatus.PROCESSING],
        )
        try:
            split = self._split(record)
        except ImportFileError as err:
            return ctx.fail(tenant_id, import_id, message_of(err))
        except ImportFailed as err:
            return ctx.fail(tenant_id, import_id, str(err))
        except LeadtideError as err:
            return ctx.fail(tenant_id, import_id, err.message)
        if split.rows_total == 0:
            return ctx.fail(tenant_id, import_id, "the file has a header row but no data rows")
        report = split.report
        if report.rows:
            ctx.artifacts.put(data_key(tenant_id, import_id, "errors.csv"), report.getvalue(), "text/csv")
        ctx.repo.update(
            tenant_id,
            import_id,
            changes={
                "error_rows": report.rows,
                "dropped_rows": report.values_dropped,
                "rows_total": split.rows_total,
                "chunks_total": split.chunks,
                "failed": report.rejected,
                "rows_processed": report.rejected,
            },
        )
        self._queue_chunks(ctx.repo.get(tenant_id, import_id))
        return ctx.finish_if_done(tenant_id, import_id)

    def _split(self, record: ImportRecord) -> _Split:
        """Read every row, report the rejected ones and write the accepted drafts in chunks.

        Raises:
            ImportFileError, ImportFailed: the file cannot be read. LeadtideError: the mapping is unusable.
        """
        from leadtide.imports.rows import FileDeduplicator

        table = self._ctx.read_table(record)
        headers = list(table.headers)
        processor = self._processor(record, headers, record.mapping or {})
        dedup = FileDeduplicator(record.options.dedupe.key)
        split = _Split(report=ErrorReportWriter(headers))
        for row_number, cells in table.rows:
            split.rows_total += 1
            draft = self._accept(processor.process(row_number, cells), cells, dedup, split.report)
            if draft is None:
                continue
            split.pending.append(draft)
            if len(split.pending) >= self._ctx.chunk_rows:
                self._put_chunk(record, split)
        if split.pending:
            self._put_chunk(record, split)
        return split

    @staticmethod
    def _accept(
        outcome: Any, cells: list[str], dedup: Any, report: ErrorReportWriter
    ) -> dict[str, Any] | None:
        """The chunk entry of a row's :class:`leadtide.imports.rows.RowOutcome`, or None when the row is
        rejected (listed in ``report`` with why: its problems, a duplicate of an earlier row, a status
        that is not one of Leadtide's). A kept row with dropped values is listed too."""
        row_number = outcome.row_number
        if outcome.draft is None or outcome.errors:
            report.add(row_number, cells, outcome.errors or ["row could not be read"])
            return None
        earlier = dedup.check(outcome)
        if earlier is not None:
            report.add(
                row_number, cells, [f"duplicate of row {earlier} (same {dedup.unique_key})", *outcome.dropped]
            )
            return None
        draft = outcome.draft
        status = draft.fields.get("status")
        if status not in (None, "") and status not in _VALID_STATUSES:
            problem = f"status {status!r} is not one of {sorted(_VALID_STATUSES)}"
            report.add(row_number, cells, [problem, *outcome.dropped])
            return None
        if outcome.dropped:
            report.add(row_number, cells, outcome.dropped, outcome="values_dropped")
        return {
            "row": row_number,
            "fields": draft.fields,  # datetimes become ISO text when the chunk is encoded
            "email": draft.email,
            "phone": draft.phone,
            "unique": draft.unique_value,
            "warnings": list(outcome.warnings) or None,
        }

    def _processor(self, record: ImportRecord, headers: list[str], columns: dict[str, str | None]) -> Any:
        from leadtide.imports.mapping import FieldMapping
        from leadtide.imports.rows import RowProcessor

        definitions = self._ctx.custom_fields(record.tenant_id)
        opts = self._ctx.validation_options(record)
        mx = self._ctx.mx_checker if opts.check_mx else None
        return RowProcessor(headers, FieldMapping(columns=columns), definitions, opts, mx_checker=mx)

    def _put_chunk(self, record: ImportRecord, split: _Split) -> None:
        """Write the pending drafts as the next chunk."""
        n = split.chunks
        text = json.dumps({"chunk": n, "drafts": split.pending}, separators=(",", ":"), default=json_default)
        self._ctx.artifacts.put(chunk_key(record.tenant_id, record.import_id, n), text.encode())
        split.chunks += 1
        split.pending = []

    def _queue_chunks(self, record: ImportRecord) -> None:
        tenant, import_id = record.tenant_id, record.import_id
        steps = [
            {"kind": "imports.chunk", "tenant_id": tenant, "import_id": import_id, "chunk": n}
            for n in range(record.chunks_total or 0)
            if not self._ctx.repo.chunk_committed(tenant, import_id, chunk_marker(n))
        ]
        if steps:
            self._ctx.enqueue(steps)
