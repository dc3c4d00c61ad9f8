"""Bulk actions on a selection of leads, run in the background with progress and a partial-success report.

Flow: ``create`` validates the action's params up front (422; an unknown list 404; ``delete`` by a rep,
or a rep assigning leads to someone else, 403 for the whole action), stores a ``queued`` record and
queues a ``bulk.plan`` step. The plan step resolves the selection into distinct lead ids, records the
total once, and queues one ``bulk.chunk`` step per :data:`CHUNK_SIZE` ids (they run in parallel). Each
chunk step applies the action lead by lead through :class:`LeadService` (the same rules, timeline
entries, ``lead.updated``/``lead.deleted`` events and dashboard counters as ``PATCH``/``DELETE
/leads/{id}``), then writes its done marker and adds its counts to the action in one transaction, so a
redelivered chunk counts once. The chunk (or plan) step that brings ``processed`` to ``total`` completes
the action and, past :data:`MAX_INLINE_FAILURES` failures, writes a CSV of all of them.

Per lead: a lead deleted meanwhile (or never there) is ``skipped`` ("not found"); a rep's action on
another user's lead ``failed`` ("forbidden"); other refusals ``failed`` with the reason (e.g. too many
tags). ``export`` creates an export of the selection (see :mod:`leadtide.exports.service`) and follows it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadtide.bulk.ports import BulkActionRepository, LeadCollections
from leadtide.bulk.selection import SelectionResolver, is_visible
from leadtide.exports.ports import ArtifactStorage
from leadtide.exports.service import DOWNLOAD_URL_SECONDS, ExportService, principal_of_record
from leadtide.leads.ports import LeadRepository
from leadtide.leads.service import LeadService
from leadtide.models.auth import Principal
from leadtide.models.bulk import (
    MAX_INLINE_FAILURES,
    BulkAction,
    BulkActionCreate,
    BulkActionList,
    BulkActionRecord,
    BulkActionReport,
    ChunkOutcome,
    LeadOutcome,
)
from leadtide.models.common import LeadStatus, utc_now
from leadtide.models.errors import (
    ForbiddenError,
    LeadNotFoundError,
    LeadtideError,
    UnprocessableError,
)
from leadtide.models.exports import ExportCreate, ExportDownload, ExportFormat, time_ordered_id
from leadtide.models.leads import LeadUpdate
from leadtide.models.selection import LeadSelection
from leadtide.observability import logger

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

PLAN_KIND = "bulk.plan"
CHUNK_KIND = "bulk.chunk"
CHUNK_SIZE = 500
"""Leads per chunk step: ~17 KB of ids per SQS message, a few minutes of work at most per step."""
MAX_ATTEMPTS = 3
NOT_FOUND = "not found"
FORBIDDEN = "forbidden"

Enqueue = Callable[[Sequence[Mapping[str, Any]]], None]


# ---------------------------------------------------------------------------------------------- params
class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SetStatusParams(_Params):
    """``set_status``: the new lead status."""

    status: LeadStatus


class SetOwnerParams(_Params):
    """``set_owner``: the new owner's user id (``null`` unassigns)."""

    owner_id: str | None = Field(min_length=1, max_length=128, pattern=r"^\S+$")


class TagsParams(_Params):
    """``add_tags`` / ``remove_tags``: 1-50 tags (letters, digits, space . : / & + -, 1-50 chars each)."""

    tags: list[str] = Field(min_length=1, max_length=50)


class ListParams(_Params):
    """``add_to_list`` / ``remove_from_list``: the static list."""

    list_id: str = Field(min_length=1, max_length=64)


class ExportParams(_Params):
    """``export``: the file format and optional columns."""

    format: ExportFormat
    fields: list[str] | None = Field(default=None, min_length=1, max_length=200)


class DeleteParams(_Params):
    """``delete``: no parameters."""


_PARAMS: dict[str, type[_Params]] = {
    "set_status": SetStatusParams,
    "set_owner": SetOwnerParams,
    "add_tags": TagsParams,
    "remove_tags": TagsParams,
    "add_to_list": ListParams,
    "remove_from_list": ListParams,
    "export": ExportParams,
    "delete": DeleteParams,
}


def parse_params(action: str, params: Mapping[str, Any]) -> _Params:
    """The typed params of ``action``.

    Raises:
        UnprocessableError (422): a missing, unknown or invalid parameter (each named as ``params.<name>``),
        including tags that are empty or not valid tag text.
    """
    try:
        parsed = _PARAMS[action].model_validate(dict(params))
        if isinstance(parsed, TagsParams):
            parsed.tags = LeadUpdate(tags=parsed.tags).tags or []
    except ValidationError as err:
        details = [
            {
                "field": ".".join(["params", *(str(p) for p in e["loc"])]),
                "problem": e["msg"].removeprefix("Value error, "),
            }
            for e in err.errors()
        ]
        names = ", ".join(dict.fromkeys(d["field"] for d in details))
        raise UnprocessableError(f"invalid params for {action}: {names}", details=details) from None
    return parsed


# ---------------------------------------------------------------------------------------------- service
class BulkActionService:
    """Bulk-action use cases; the per-lead work goes through :class:`LeadService`."""

    def __init__(
        self,
        actions: BulkActionRepository,
        leads: LeadRepository,
        lead_service: LeadService,
        resolver: SelectionResolver,
        collections: LeadCollections,
        storage: ArtifactStorage,
        exports: Callable[[], ExportService],
        enqueue: Enqueue,
        *,
        chunk_size: int = CHUNK_SIZE,
    ):
        self._actions = actions
        self._leads = leads
        self._lead_service = lead_service
        self._resolver = resolver
        self._collections = collections
        self._storage = storage
        self._exports = exports
        self._enqueue = enqueue
        self._chunk_size = chunk_size

    # ------------------------------------------------------------------ API
    def create(self, principal: Principal, request: BulkActionCreate) -> BulkAction:
        """Validate and queue a bulk action.

        Raises:
            UnprocessableError (422): invalid params; ForbiddenError (403): ``delete`` by a rep, or a rep
            assigning leads to another user; NotFoundError (404): unknown list or segment.
        """
        params = parse_params(request.action, request.params)
        if request.action == "delete" and not principal.sees_all_leads:
            raise ForbiddenError("only admins and managers delete leads")
        if (
            isinstance(params, SetOwnerParams)
            and not principal.sees_all_leads
            and params.owner_id not in (None, principal.user_id)
        ):
            raise ForbiddenError("reps can only assign leads to themselves")
        if isinstance(params, ListParams):
            self._collections.check_list(principal.tenant_id, params.list_id)
        self._resolver.check(principal, request.selection)
        record = BulkActionRecord(
            tenant_id=principal.tenant_id,
            bulk_action_id=time_ordered_id(),
            action=request.action,
            params=params.model_dump(mode="json"),
            selection=request.selection.model_dump(mode="json", exclude_none=True),
            requested_by=principal.user_id,
            requested_role=str(principal.role),
            created_at=utc_now(),
        )
        if isinstance(params, ExportParams):
            export = self._exports().create(
                principal,
                ExportCreate(format=params.format, fields=params.fields, selection=request.selection),
                bulk_action_id=record.bulk_action_id,
            )
            record = record.model_copy(update={"export_id": export.export_id})
            self._actions.create(record)
            return self.view(record, with_report=False)
        self._actions.create(record)
        self._enqueue(
            [{"kind": PLAN_KIND, "tenant_id": record.tenant_id, "bulk_action_id": record.bulk_action_id}]
        )
        return self.view(record, with_report=False)

    def get(self, principal: Principal, bulk_action_id: str) -> BulkAction:
        """Progress and report. Raises BulkActionNotFoundError (404), ForbiddenError (403: a rep asking for
        another user's action)."""
        record = self._actions.get(principal.tenant_id, bulk_action_id)
        if not principal.sees_all_leads and record.requested_by != principal.user_id:
            raise ForbiddenError("reps see only their own bulk actions", code="not_bulk_action_owner")
        return self.view(record, with_report=True)

    def history(self, principal: Principal, *, limit: int, cursor: str | None) -> BulkActionList:
        """Newest first (reps: their own), without reports. Raises InvalidRequestError (400) for a cursor."""
        mine = None if principal.sees_all_leads else principal.user_id
        records, next_cursor = self._actions.list(
            principal.tenant_id, requested_by=mine, limit=limit, cursor=cursor
        )
        return BulkActionList(
            items=[self.view(r, with_report=False) for r in records], next_cursor=next_cursor
        )

    def view(self, record: BulkActionRecord, *, with_report: bool) -> BulkAction:
        """The public shape; export actions mirror their export's status, rows and download."""
        values: dict[str, Any] = {
            "bulk_action_id": record.bulk_action_id,
            "action": record.action,
            "params": record.params,
            "selection": LeadSelection.model_validate(record.selection).describe(),
            "status": record.status,
            "total": record.total,
            "processed": record.processed,
            "succeeded": record.succeeded,
            "failed": record.failed,
            "skipped": record.skipped,
            "requested_by": record.requested_by,
            "created_at": record.created_at,
            "completed_at": record.completed_at,
            "error": record.error,
        }
        if record.export_id is not None:
            service = self._exports()
            export = service.view(service.find(record.tenant_id, record.export_id), with_download=with_report)
            done = export.status == "completed"
            values.update(
                status=export.status,
                total=export.rows if done else None,
                processed=export.rows,
                succeeded=export.rows,
                completed_at=export.completed_at,
                error=export.error,
                export_id=export.export_id,
                export_format=export.format,
                download=export.download,
            )
        elif with_report:
            values["report"] = self._report(record)
        return BulkAction(**values)

    def _report(self, record: BulkActionRecord) -> BulkActionReport:
        failures = list(
            islice(self._actions.iter_outcomes(record.tenant_id, record.bulk_action_id), MAX_INLINE_FAILURES)
        )
        truncated = record.failed + record.skipped > len(failures)
        download = None
        if record.failures_key:
            download = ExportDownload(
                url=self._storage.presigned_get(
                    record.failures_key,
                    expires_in=DOWNLOAD_URL_SECONDS,
                    filename=f"bulk-action-{record.bulk_action_id}-failures.csv",
                ),
                expires_at=utc_now() + timedelta(seconds=DOWNLOAD_URL_SECONDS),
            )
        return BulkActionReport(failures=failures, truncated=truncated, download=download)

    # ------------------------------------------------------------------ background steps
    def plan(self, tenant_id: str, bulk_action_id: str) -> None:
        """Job step ``bulk.plan``: resolve the selection, record the total (once) and queue the chunks.

        Idempotent: a redelivered plan re-queues the chunks, whose done markers keep them from counting
        twice. A domain error (e.g. the list was deleted meanwhile) fails the action with its message.
        """
        record = self._actions.get(tenant_id, bulk_action_id)
        if record.status in ("completed", "failed"):
            return
        attempts = record.attempts + 1
        self._actions.update(record, expect_status=("queued", "running"), attempts=attempts)
        principal = principal_of_record(tenant_id, record.requested_by, record.requested_role)
        try:
            ids = list(
                self._resolver.candidate_ids(principal, LeadSelection.model_validate(record.selection))
            )
        except LeadtideError as err:
            self._actions.update(
                record,
                expect_status=("queued", "running"),
                status="failed",
                error=err.message,
                completed_at=utc_now(),
            )
            return
        except Exception:  # job step boundary: fail the action on the last attempt, re-raise so SQS retries
            if attempts >= MAX_ATTEMPTS:
                self._actions.update(
                    record,
                    expect_status=("queued", "running"),
                    status="failed",
                    error="the selection could not be resolved; try again",
                    completed_at=utc_now(),
                )
            raise
        chunks = [ids[i : i + self._chunk_size] for i in range(0, len(ids), self._chunk_size)]
        planned = self._actions.set_plan(tenant_id, bulk_action_id, total=len(ids), chunks=len(chunks))
        if planned.total != len(ids) or planned.chunks != len(chunks):
            # A redelivered plan whose selection changed meanwhile: keep the first plan's size, and its
            # chunks (already queued) decide the outcome.
            logger.warning("bulk plan redelivered with a different selection", extra={"id": bulk_action_id})
            self._maybe_finish(tenant_id, bulk_action_id)
            return
        self._enqueue(
            [
                {
                    "kind": CHUNK_KIND,
                    "tenant_id": tenant_id,
                    "bulk_action_id": bulk_action_id,
                    "index": index,
                    "lead_ids": chunk,
                }
                for index, chunk in enumerate(chunks)
            ]
        )
        self._maybe_finish(tenant_id, bulk_action_id)

    def run_chunk(self, tenant_id: str, bulk_action_id: str, index: int, lead_ids: Sequence[str]) -> None:
        """Job step ``bulk.chunk``: apply the action to ``lead_ids`` and record the chunk's outcome once."""
        record = self._actions.get(tenant_id, bulk_action_id)
        if record.status != "running":
            return
        principal = principal_of_record(tenant_id, record.requested_by, record.requested_role)
        outcome = self.apply(principal, record, lead_ids)
        self._actions.record_chunk(tenant_id, bulk_action_id, index, outcome)
        self._maybe_finish(tenant_id, bulk_action_id)

    def apply(self, principal: Principal, record: BulkActionRecord, lead_ids: Sequence[str]) -> ChunkOutcome:
        """Apply the action to each lead of a chunk; every lead ends succeeded, failed or skipped."""
        outcome = ChunkOutcome()
        found = self._leads.get_leads(principal.tenant_id, list(lead_ids))
        eligible: list[str] = []
        for lead_id in dict.fromkeys(lead_ids):
            lead = found.get(lead_id)
            if lead is None:
                _note(outcome, lead_id, "skipped", NOT_FOUND)
            elif not is_visible(principal, lead):
                _note(outcome, lead_id, "failed", FORBIDDEN)
            else:
                eligible.append(lead_id)
        if record.action in ("add_to_list", "remove_from_list"):
            self._apply_to_list(principal, record, eligible, outcome)
            return outcome
        for lead_id in eligible:
            try:
                self._apply_one(principal, record, lead_id)
            except LeadNotFoundError:
                _note(outcome, lead_id, "skipped", NOT_FOUND)
            except ForbiddenError:
                _note(outcome, lead_id, "failed", FORBIDDEN)
            except LeadtideError as err:
                _note(outcome, lead_id, "failed", err.message)
            else:
                outcome.succeeded += 1
        return outcome

    def _apply_one(self, principal: Principal, record: BulkActionRecord, lead_id: str) -> None:
        params = record.params
        service = self._lead_service
        if record.action == "set_status":
            service.update_lead(principal, lead_id, LeadUpdate(status=LeadStatus(params["status"])))
        elif record.action == "set_owner":
            service.update_lead(principal, lead_id, LeadUpdate(owner_id=params["owner_id"]))
        elif record.action in ("add_tags", "remove_tags"):
            current = service.get_lead(principal, lead_id).tags
            if record.action == "add_tags":
                tags = list(dict.fromkeys([*current, *params["tags"]]))
            else:
                tags = [t for t in current if t not in set(params["tags"])]
            if tags == current:
                return
            try:
                update = LeadUpdate(tags=tags)
            except ValidationError:
                raise UnprocessableError(f"a lead has at most 50 tags ({len(tags)} after adding)") from None
            service.update_lead(principal, lead_id, update)
        elif record.action == "delete":
            service.delete_lead(principal, lead_id)
            self._collections.remove_lead_everywhere(principal.tenant_id, lead_id)
        else:  # pragma: no cover - guarded by parse_params
            raise UnprocessableError(f"unsupported bulk action {record.action}")

    def _apply_to_list(
        self, principal: Principal, record: BulkActionRecord, lead_ids: list[str], outcome: ChunkOutcome
    ) -> None:
        if not lead_ids:
            return
        list_id = record.params["list_id"]
        try:
            if record.action == "add_to_list":
                self._collections.add_to_list(principal, list_id, lead_ids)
            else:
                self._collections.remove_from_list(principal, list_id, lead_ids)
        except LeadtideError as err:  # e.g. the list was deleted meanwhile: every lead of the chunk fails
            for lead_id in lead_ids:
                _note(outcome, lead_id, "failed", err.message)
            return
        outcome.succeeded += len(lead_ids)

    def _maybe_finish(self, tenant_id: str, bulk_action_id: str) -> None:
        record = self._actions.get(tenant_id, bulk_action_id)
        if record.status != "running" or record.total is None or record.processed < record.total:
            return
        failures_key = None
        if record.failed + record.skipped > MAX_INLINE_FAILURES:
            failures_key = f"bulk-actions/{tenant_id}/{bulk_action_id}/failures.csv"
            self._storage.put(
                failures_key,
                b"".join(_failures_csv(self._actions.iter_outcomes(tenant_id, bulk_action_id))),
                content_type="text/csv; charset=utf-8",
            )
        self._actions.update(
            record,
            expect_status=("running",),
            status="completed",
            completed_at=utc_now(),
            failures_key=failures_key,
        )


def _note(outcome: ChunkOutcome, lead_id: str, kind: Literal["failed", "skipped"], reason: str) -> None:
    outcome.outcomes.append(LeadOutcome(lead_id=lead_id, outcome=kind, reason=reason))
    if kind == "failed":
        outcome.failed += 1
    else:
        outcome.skipped += 1


def _failures_csv(outcomes: Iterator[LeadOutcome]) -> Iterator[bytes]:
    """``lead_id,outcome,reason`` rows (UTF-8 with BOM, CRLF), chunk by chunk."""
    yield "\ufeff".encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["lead_id", "outcome", "reason"])
    for n, o in enumerate(outcomes, 1):
        writer.writerow([o.lead_id, o.outcome, o.reason])
        if n % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


# ---------------------------------------------------------------------------------------------- wiring
def run_plan_step(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue entry point of kind ``bulk.plan``: ``{"tenant_id", "bulk_action_id"}``."""
    wiring.bulk_action_service.plan(str(message["tenant_id"]), str(message["bulk_action_id"]))


def run_chunk_step(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue entry point of kind ``bulk.chunk``: ``{"tenant_id", "bulk_action_id", "index",
    "lead_ids"}``."""
    wiring.bulk_action_service.run_chunk(
        str(message["tenant_id"]),
        str(message["bulk_action_id"]),
        int(message["index"]),
        [str(i) for i in message["lead_ids"]],
    )
