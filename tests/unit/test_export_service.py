"""Export service: request checks, the background step, visibility, idempotency, failures, history."""

import csv
import io

import pytest

from leadtide.bulk.ports import CustomFieldColumn
from leadtide.bulk.selection import SelectionResolver
from leadtide.exports.service import MAX_ATTEMPTS, RUN_KIND, ExportService
from leadtide.models.auth import Principal
from leadtide.models.common import Role
from leadtide.models.errors import ExportNotFoundError, ForbiddenError, ListNotFoundError, UnprocessableError
from leadtide.models.exports import ExportCreate
from leadtide.models.selection import LeadSelection
from tests.bulk_fakes import (
    FakeCollections,
    FakeCustomFields,
    FakeExportRepository,
    FakeStorage,
    RecordingEnqueue,
    add_lead,
)

ADMIN = Principal("t1", "boss", Role.ADMIN)
REP = Principal("t1", "rep-a", Role.REP)


@pytest.fixture
def env(repo):
    exports, storage, collections, queue = (
        FakeExportRepository(),
        FakeStorage(),
        FakeCollections(),
        RecordingEnqueue(),
    )
    service = ExportService(
        exports,
        storage,
        SelectionResolver(repo, collections),
        FakeCustomFields([CustomFieldColumn("budget", "Budget", "number")]),
        queue,
    )
    return service, exports, storage, collections, queue


def run_queued(service, queue):
    for message in queue.take(RUN_KIND):
        service.run(message["tenant_id"], message["export_id"])


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_an_export_is_queued_then_produced_and_downloadable(env, repo):
    service, _exports, storage, _, queue = env
    leads = [add_lead(repo, name=f"Lead {i}", custom_fields={"budget": i}, n=i) for i in range(7)]
    add_lead(repo, tenant_id="t2", name="Other tenant")
    # When: an admin asks for a CSV of every lead
    created = service.create(ADMIN, ExportCreate(format="csv"))
    # Then: it is queued, one job step waits, and there is no download yet
    assert created.status == "queued" and created.download is None
    assert queue.messages == [{"kind": RUN_KIND, "tenant_id": "t1", "export_id": created.export_id}]
    # When: the step runs
    run_queued(service, queue)
    done = service.get(ADMIN, created.export_id)
    # Then: completed with one row per lead of t1, oldest first, custom field as its own column
    assert done.status == "completed" and done.rows == 7
    key = f"exports/t1/{created.export_id}/leads.csv"
    assert done.download is not None and key in done.download.url
    rows = read_csv(storage.objects[key])
    assert [r["lead_id"] for r in rows] == [lead.lead_id for lead in leads]
    assert [r["Budget"] for r in rows] == [str(i) for i in range(7)]
    assert "Other tenant" not in storage.objects[key].decode("utf-8-sig")


def test_reps_export_only_their_own_and_unassigned_leads(env, repo):
    service, _, storage, _, queue = env
    mine = add_lead(repo, owner_id="rep-a", n=1)
    free = add_lead(repo, n=2)
    theirs = add_lead(repo, owner_id="rep-b", n=3)
    by_ids = service.create(
        REP,
        ExportCreate(
            format="json", selection=LeadSelection(lead_ids=[mine.lead_id, free.lead_id, theirs.lead_id])
        ),
    )
    by_filter = service.create(REP, ExportCreate(format="json"))
    run_queued(service, queue)
    for export in (by_ids, by_filter):
        data = storage.objects[f"exports/t1/{export.export_id}/leads.jsonl"].decode()
        assert theirs.lead_id not in data
        assert mine.lead_id in data and free.lead_id in data
        assert service.get(REP, export.export_id).rows == 2


def test_top_level_filters_select_like_get_leads(env, repo):
    service, _, storage, _, queue = env
    add_lead(repo, status="New", n=1)
    lost = add_lead(repo, status="Lost", n=2)
    export = service.create(ADMIN, ExportCreate(format="csv", status="Lost", fields=["lead_id", "status"]))
    run_queued(service, queue)
    rows = read_csv(storage.objects[f"exports/t1/{export.export_id}/leads.csv"])
    assert rows == [{"lead_id": lost.lead_id, "status": "Lost"}]
    assert export.selection == {"filter": {"status": "Lost"}}


def test_bad_requests_are_refused_before_anything_is_queued(env):
    service, exports, _, _, queue = env
    with pytest.raises(UnprocessableError, match="shoe_size"):
        service.create(ADMIN, ExportCreate(format="csv", fields=["email", "shoe_size"]))
    with pytest.raises(ListNotFoundError):
        service.create(ADMIN, ExportCreate(format="csv", selection=LeadSelection(list_id="nope")))
    with pytest.raises(ValueError, match="not both"):
        ExportCreate(format="csv", status="New", selection=LeadSelection(list_id="x"))
    assert exports.records == {} and queue.messages == []


def test_a_redelivered_step_does_nothing_once_completed(env, repo):
    service, exports, storage, _, queue = env
    add_lead(repo)
    export = service.create(ADMIN, ExportCreate(format="xlsx"))
    message = queue.messages[0]
    service.run(message["tenant_id"], message["export_id"])
    saves, uploads = exports.saves, len(storage.uploads)
    # When: SQS delivers the same step again
    service.run(message["tenant_id"], message["export_id"])
    # Then: nothing is written again
    assert (exports.saves, len(storage.uploads)) == (saves, uploads)
    assert service.get(ADMIN, export.export_id).status == "completed"


def test_a_list_deleted_meanwhile_fails_the_export_with_a_reason(env, repo):
    service, _, _storage, collections, queue = env
    collections.lists[("t1", "vip")] = [add_lead(repo).lead_id]
    export = service.create(ADMIN, ExportCreate(format="csv", selection=LeadSelection(list_id="vip")))
    del collections.lists[("t1", "vip")]
    run_queued(service, queue)
    failed = service.get(ADMIN, export.export_id)
    assert failed.status == "failed" and "vip" in (failed.error or "")
    assert failed.download is None


def test_unexpected_errors_retry_then_fail_on_the_last_attempt(env, repo, monkeypatch):
    service, _, storage, _, _queue = env
    add_lead(repo)
    export = service.create(ADMIN, ExportCreate(format="csv"))
    monkeypatch.setattr(repo, "query_leads", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            service.run("t1", export.export_id)
        status = service.get(ADMIN, export.export_id).status
        assert status == ("failed" if attempt == MAX_ATTEMPTS else "running")
    # every partial upload was aborted, none completed
    assert storage.objects == {} and all(u.aborted for u in storage.uploads)


def test_history_newest_first_and_reps_see_only_their_own(env):
    service, *_ = env
    first = service.create(ADMIN, ExportCreate(format="csv"))
    second = service.create(REP, ExportCreate(format="json"))
    third = service.create(ADMIN, ExportCreate(format="xlsx"))
    assert [e.export_id for e in service.history(ADMIN, limit=10, cursor=None).items] == [
        third.export_id,
        second.export_id,
        first.export_id,
    ]
    page = service.history(ADMIN, limit=2, cursor=None)
    rest = service.history(ADMIN, limit=2, cursor=page.next_cursor)
    assert [e.export_id for e in page.items + rest.items] == [
        third.export_id,
        second.export_id,
        first.export_id,
    ]
    assert [e.export_id for e in service.history(REP, limit=10, cursor=None).items] == [second.export_id]
    with pytest.raises(ForbiddenError):
        service.get(REP, first.export_id)
    with pytest.raises(ExportNotFoundError):
        service.get(Principal("t2", "boss", Role.ADMIN), first.export_id)


def test_a_finished_file_is_offered_until_its_retention_ends(env, repo, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from leadtide.exports import service as export_service
    from leadtide.exports.service import EXPORT_RETENTION_DAYS

    service, _, _, _, queue = env
    add_lead(repo, name="Kept", n=1)
    created = service.create(ADMIN, ExportCreate(format="csv"))
    run_queued(service, queue)
    done = service.get(ADMIN, created.export_id)
    assert done.download is not None and done.completed_at is not None
    assert done.file_expires_at == done.completed_at + timedelta(days=EXPORT_RETENTION_DAYS)
    # When the retention has passed (the bucket's lifecycle rule deleted the file): no download is offered
    later = done.completed_at + timedelta(days=EXPORT_RETENTION_DAYS, seconds=1)
    monkeypatch.setattr(export_service, "utc_now", lambda: later)
    expired = service.get(ADMIN, created.export_id)
    assert expired.status == "completed" and expired.download is None
    assert expired.file_expires_at == done.file_expires_at < datetime.now(UTC) + timedelta(days=8)
