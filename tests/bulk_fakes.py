"""In-memory fakes of the export and bulk-action ports (records, S3 storage, lists/segments, custom fields),
with the same contracts as the DynamoDB/S3 implementations: conditional status transitions and chunk
markers that count once."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from leadtide.bulk.ports import BulkActionRepository, CustomFieldCatalog, CustomFieldColumn, LeadCollections
from leadtide.exports.ports import ArtifactStorage, ExportRepository
from leadtide.models.auth import Principal
from leadtide.models.bulk import BulkActionRecord, ChunkOutcome, LeadOutcome
from leadtide.models.errors import (
    BulkActionNotFoundError,
    ExportNotFoundError,
    ListNotFoundError,
    SegmentNotFoundError,
)
from leadtide.models.exports import ExportRecord


def _page(records: list[Any], key: str, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    ordered = sorted(records, key=lambda r: getattr(r, key), reverse=True)
    start = int(json.loads(base64.b64decode(cursor))["o"]) if cursor else 0
    page = ordered[start : start + limit]
    more = start + limit < len(ordered)
    return page, base64.b64encode(json.dumps({"o": start + limit}).encode()).decode() if more else None


class FakeExportRepository(ExportRepository):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], ExportRecord] = {}
        self.saves = 0

    def create(self, record):
        assert (record.tenant_id, record.export_id) not in self.records
        self.records[(record.tenant_id, record.export_id)] = record

    def get(self, tenant_id, export_id):
        try:
            return self.records[(tenant_id, export_id)]
        except KeyError:
            raise ExportNotFoundError(f"export {export_id} not found") from None

    def save(self, record, *, expect_status: Iterable[str]):
        current = self.get(record.tenant_id, record.export_id)
        if current.status not in set(expect_status):
            return False
        self.saves += 1
        self.records[(record.tenant_id, record.export_id)] = record
        return True

    def list(self, tenant_id, *, requested_by, limit, cursor):
        rows = [
            r
            for (t, _), r in self.records.items()
            if t == tenant_id and (requested_by is None or r.requested_by == requested_by)
        ]
        return _page(rows, "export_id", limit, cursor)


class FakeBulkActionRepository(BulkActionRepository):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], BulkActionRecord] = {}
        self.chunks: dict[tuple[str, str, int], ChunkOutcome] = {}

    def create(self, record):
        self.records[(record.tenant_id, record.bulk_action_id)] = record

    def get(self, tenant_id, bulk_action_id):
        try:
            return self.records[(tenant_id, bulk_action_id)]
        except KeyError:
            raise BulkActionNotFoundError(f"bulk action {bulk_action_id} not found") from None

    def list(self, tenant_id, *, requested_by, limit, cursor):
        rows = [
            r
            for (t, _), r in self.records.items()
            if t == tenant_id and (requested_by is None or r.requested_by == requested_by)
        ]
        return _page(rows, "bulk_action_id", limit, cursor)

    def update(self, record, *, expect_status, **changes):
        current = self.get(record.tenant_id, record.bulk_action_id)
        if current.status not in set(expect_status):
            return False
        self.records[(record.tenant_id, record.bulk_action_id)] = current.model_copy(update=changes)
        return True

    def set_plan(self, tenant_id, bulk_action_id, *, total, chunks):
        current = self.get(tenant_id, bulk_action_id)
        if current.total is None and current.status == "queued":
            self.records[(tenant_id, bulk_action_id)] = current.model_copy(
                update={"total": total, "chunks": chunks, "status": "running"}
            )
        return self.get(tenant_id, bulk_action_id)

    def record_chunk(self, tenant_id, bulk_action_id, index, outcome):
        current = self.get(tenant_id, bulk_action_id)
        if (tenant_id, bulk_action_id, index) in self.chunks:
            return False
        self.chunks[(tenant_id, bulk_action_id, index)] = outcome
        self.records[(tenant_id, bulk_action_id)] = current.model_copy(
            update={
                "processed": current.processed + outcome.processed,
                "succeeded": current.succeeded + outcome.succeeded,
                "failed": current.failed + outcome.failed,
                "skipped": current.skipped + outcome.skipped,
            }
        )
        return True

    def iter_outcomes(self, tenant_id, bulk_action_id) -> Iterator[LeadOutcome]:
        for key in sorted(k for k in self.chunks if k[:2] == (tenant_id, bulk_action_id)):
            yield from self.chunks[key].outcomes


class _Upload:
    def __init__(self, storage: FakeStorage, key: str):
        self._storage = storage
        self._key = key
        self._data = bytearray()
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> int:
        self._data += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._storage.objects[self._key] = bytes(self._data)

    def abort(self) -> None:
        self.closed = True
        self.aborted = True


class FakeStorage(ArtifactStorage):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.uploads: list[_Upload] = []

    def open_upload(self, key, *, content_type):
        upload = _Upload(self, key)
        self.uploads.append(upload)
        return upload

    def put(self, key, body, *, content_type):
        self.objects[key] = body

    def presigned_get(self, key, *, expires_in, filename):
        return f"https://bucket.example/{key}?expires={expires_in}&filename={filename}"


class FakeCollections(LeadCollections):
    def __init__(self) -> None:
        self.lists: dict[tuple[str, str], list[str]] = {}
        self.segments: dict[tuple[str, str], list[str]] = {}

    def list_member_ids(self, tenant_id, list_id):
        if (tenant_id, list_id) not in self.lists:
            raise ListNotFoundError(f"list {list_id} not found")
        return iter(list(self.lists[(tenant_id, list_id)]))

    def segment_member_ids(self, tenant_id, segment_id):
        if (tenant_id, segment_id) not in self.segments:
            raise SegmentNotFoundError(f"segment {segment_id} not found")
        return iter(list(self.segments[(tenant_id, segment_id)]))

    def add_to_list(self, principal: Principal, list_id, lead_ids: Sequence[str]):
        members = self.lists.get((principal.tenant_id, list_id))
        if members is None:
            raise ListNotFoundError(f"list {list_id} not found")
        members.extend(i for i in lead_ids if i not in members)

    def remove_from_list(self, principal: Principal, list_id, lead_ids: Sequence[str]):
        members = self.lists.get((principal.tenant_id, list_id))
        if members is None:
            raise ListNotFoundError(f"list {list_id} not found")
        members[:] = [i for i in members if i not in set(lead_ids)]

    def remove_lead_everywhere(self, tenant_id, lead_id):
        for (t, _), members in self.lists.items():
            if t == tenant_id and lead_id in members:
                members.remove(lead_id)


class FakeCustomFields(CustomFieldCatalog):
    def __init__(self, columns: list[CustomFieldColumn] | None = None) -> None:
        self._columns = columns or []

    def columns(self, tenant_id):
        return list(self._columns)


class RecordingEnqueue:
    """Stands in for ``Wiring.enqueue_jobs``: keeps the job steps so a test can run them (and re-run them)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, messages):
        self.messages.extend(dict(m) for m in messages)

    def take(self, kind: str) -> list[dict[str, Any]]:
        taken = [m for m in self.messages if m["kind"] == kind]
        self.messages = [m for m in self.messages if m["kind"] != kind]
        return taken


class FlakyEnqueue(RecordingEnqueue):
    """Records messages; raises instead on the calls listed in ``fail_on`` (1 = the first call)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.fail_on: set[int] = set()

    def __call__(self, messages):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("SQS is unavailable")
        super().__call__(messages)


def add_lead(repo, tenant_id: str = "t1", **fields: Any):
    """Store a lead in a FakeLeadRepository (created ``fields["n"]`` seconds after a fixed time) and return it."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from leadtide.models.common import ChannelType
    from leadtide.models.leads import Lead

    n = fields.pop("n", 0)
    at = datetime(2024, 3, 1, 9, 30, tzinfo=UTC) + timedelta(seconds=n)
    values: dict[str, Any] = {
        "lead_id": uuid.uuid4().hex,
        "tenant_id": tenant_id,
        "source_channel": ChannelType.MANUAL,
        "created_at": at,
        "updated_at": at,
        "last_activity_at": at,
        **fields,
    }
    lead = Lead(**values)
    repo.create_lead(lead, [])
    return lead
