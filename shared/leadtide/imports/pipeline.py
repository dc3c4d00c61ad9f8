"""The import pipeline's background steps: analyse an upload, plan the rows, write chunks, roll back.

Flow (each step is one jobs-queue message, idempotent, see docs/decisions.md "Imports"); each step is a
class of its own in :mod:`leadtide.imports.steps`, over the ports and helpers they share
(:class:`leadtide.imports.steps.common.StepContext`); :class:`ImportPipeline` is their facade.

1. ``analyse`` (:class:`~leadtide.imports.steps.analyse.AnalyseStep`; the S3 ``Object Created`` event of
   ``imports/<tenant>/<id>/source.<ext>``): read the file (:func:`leadtide.imports.reading.open_table`),
   resolve the mapping (explicit, saved by name, a saved mapping whose headers match exactly, else
   proposed), store a preview of the first rows; then queue ``plan`` (``auto_start`` and a valid mapping)
   or wait in ``awaiting_mapping`` with the reason.
2. ``plan`` (:class:`~leadtide.imports.steps.plan.PlanStep`): one streaming pass over the file: parse,
   map, validate (:class:`RowProcessor`), de-duplicate within the file (:class:`FileDeduplicator`);
   rejected rows, and kept rows whose unusable values were dropped (option ``invalid_values``), go to the
   error report CSV, accepted drafts to ``chunks/<n>.json`` (1,000 per chunk); then one ``imports.chunk``
   step per chunk is queued (the Jobs worker runs them in parallel).
3. ``chunk`` (:class:`~leadtide.imports.steps.chunk.ChunkStep`): BatchGetItem of the chunk's identity
   items; per draft skip / update / create; the decisions with the before-images of updated leads are
   saved to ``plans/<n>.json`` *before* any write; writes are conditional TransactWriteItems (lead +
   identity items together, ~33 leads per call); the chunk's counts land in one transaction with a
   per-chunk marker (a redelivered chunk counts once); the last chunk flips the status.
4. ``rollback_chunk`` (:class:`~leadtide.imports.steps.rollback.RollbackStep`): deletes the leads a chunk
   created, puts back the before-images of the leads it updated (verbatim), fixes identity items and
   dashboard counters; leads changed after the import are restored too and counted as
   ``changed_since_import``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from leadtide.imports.models import ImportRecord, PreviewRow, UnmappedColumn
from leadtide.imports.ports import ImportArtifacts, ImportRepository, LeadBulkStore
from leadtide.imports.steps.analyse import AnalyseStep
from leadtide.imports.steps.chunk import ChunkStep
from leadtide.imports.steps.common import (
    CHUNK_ROWS,
    Enqueue,
    StepContext,
    data_key,
    new_lead_id,
    source_key,
)
from leadtide.imports.steps.plan import PlanStep
from leadtide.imports.steps.rollback import RollbackStep
from leadtide.models.common import utc_now
from leadtide.ports import EventPublisher

__all__ = ["CHUNK_ROWS", "ImportPipeline", "data_key", "new_lead_id", "source_key"]


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
        self.context = StepContext(
            repo,
            store,
            artifacts,
            events,
            enqueue,
            custom_fields,
            mx_checker=mx_checker,
            clock=clock,
            chunk_rows=chunk_rows,
            xlsx_limits=xlsx_limits,
        )
        self._analyse = AnalyseStep(self.context)
        self._plan = PlanStep(self.context)
        self._chunk = ChunkStep(self.context)
        self._rollback = RollbackStep(self.context)

    # ------------------------------------------------------------------ the jobs-queue steps
    def analyse(self, tenant_id: str, import_id: str, key: str, size: int | None) -> None:
        """Step 1 (:meth:`AnalyseStep.run`): read an uploaded file, resolve the mapping, store the
        preview; start or wait for a mapping."""
        self._analyse.run(tenant_id, import_id, key, size)

    def plan(self, tenant_id: str, import_id: str) -> None:
        """Step 2 (:meth:`PlanStep.run`): validate and de-duplicate the file, write the error report and
        the chunks, queue them."""
        self._plan.run(tenant_id, import_id)

    def run_chunk(self, tenant_id: str, import_id: str, n: int) -> None:
        """Step 3 (:meth:`ChunkStep.run`): write chunk ``n``. Re-raises what failed it (the last
        attempt records it as failed first)."""
        self._chunk.run(tenant_id, import_id, n)

    def start_rollback(self, tenant_id: str, import_id: str) -> bool:
        """Queue one rollback step per chunk of a finished import (False: not in a finished state)."""
        return self._rollback.start(tenant_id, import_id)

    def rollback_chunk(self, tenant_id: str, import_id: str, n: int) -> None:
        """Step 4 (:meth:`RollbackStep.run`): undo chunk ``n``."""
        self._rollback.run(tenant_id, import_id, n)

    # ------------------------------------------------------------------ what the service asks
    def mapping_problem(
        self, record: ImportRecord, headers: list[str], columns: dict[str, str | None]
    ) -> str | None:
        """Why ``columns`` cannot be used for this import (None: it can)."""
        return self._analyse.mapping_problem(record, headers, columns)

    def preview_rows(
        self,
        record: ImportRecord,
        headers: list[str],
        columns: dict[str, str | None],
        sample: Sequence[tuple[int, list[str]]],
    ) -> list[PreviewRow]:
        """The sample rows as the mapping and validation would import them (no MX lookups)."""
        return self._analyse.preview_rows(record, headers, columns, sample)

    def unmapped_columns(
        self,
        record: ImportRecord,
        headers: list[str],
        columns: dict[str, str | None],
        sample: Sequence[tuple[int, list[str]]],
        *,
        chosen: bool = True,
    ) -> list[UnmappedColumn]:
        """Why each column ``columns`` leaves out is not imported (header order)."""
        return self._analyse.unmapped_columns(record, headers, columns, sample, chosen=chosen)

    def decide(
        self, record: ImportRecord, drafts: list[dict[str, Any]], only: set[int] | None = None
    ) -> dict[str, Any]:
        """The chunk plan of ``drafts`` (:meth:`ChunkStep.decide`)."""
        return self._chunk.decide(record, drafts, only)
