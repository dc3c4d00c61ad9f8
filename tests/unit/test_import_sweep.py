"""The nightly sweep of import previews: once an import's files are no longer kept
(:func:`leadtide.imports.service.data_kept_until`), the copied rows of the file (``sample``,
``preview``) are emptied and the record marked ``preview_swept_at``; recent imports keep theirs, and a
second run changes nothing."""

from __future__ import annotations

from datetime import timedelta

from leadtide.imports.models import ColumnMapping, ImportCreate, ImportRecord
from leadtide.imports.service import ROLLBACK_MARGIN_DAYS, SWEEP_KIND, data_kept_until
from leadtide.jobs.dispatch import JOB_HANDLERS, handler_for
from leadtide.models.auth import Principal
from leadtide.models.common import Role
from tests.unit.test_import_pipeline import ADMIN, Harness, rows

OTHER = Principal("t2", "admin-2", Role.ADMIN)
MAPPING = ColumnMapping(
    columns={
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone": "phone",
        "Company": "company",
    }
)
DATA = rows("Ada,Lovelace,ada@example.com,,Analytical", "Bad,Row,not-an-email,,")


def _finished(h: Harness, principal: Principal = ADMIN) -> str:
    import_id = h.upload(DATA, principal=principal)
    h.run()
    assert h.job(import_id, principal).status in ("completed", "completed_with_errors")
    return import_id


def _record(h: Harness, import_id: str, tenant: str = ADMIN.tenant_id) -> ImportRecord:
    return h.repo.get(tenant, import_id)


def test_expired_previews_are_swept_recent_ones_kept_and_a_second_run_changes_nothing():
    h = Harness()
    # Given two old imports (one finished, one still waiting for its start), another tenant's old one...
    old = _finished(h)
    waiting = h.service.create(ADMIN, ImportCreate(filename="w.csv", auto_start=False, mapping=MAPPING))
    key = _record(h, waiting.import_id).source_key
    h.artifacts.put(key, DATA.encode())
    h.pipeline.analyse(ADMIN.tenant_id, waiting.import_id, key, len(DATA))
    assert _record(h, waiting.import_id).status == "awaiting_mapping"
    foreign = _finished(h, OTHER)
    # ... and a recent one, ten days later
    h.clock.now += timedelta(days=10)
    recent = _finished(h)
    ours = (old, waiting.import_id, recent)
    before = {i: _record(h, i) for i in ours}
    for record in before.values():  # each holds rows of the file
        assert record.sample and record.preview
        assert any("ada@example.com" in str(row) for row in record.preview)
    expired_at = data_kept_until(before[old])
    assert data_kept_until(before[recent]) > expired_at + timedelta(days=9)

    # When the sweep runs one second before the old import's data expires, nothing changes
    assert h.service.sweep_expired(ADMIN.tenant_id, now=expired_at - timedelta(seconds=1)) == 0
    assert {i: _record(h, i) for i in ours} == before

    # When it runs just after
    now = max(expired_at, data_kept_until(before[waiting.import_id])) + timedelta(seconds=1)
    assert h.service.sweep_expired(ADMIN.tenant_id, now=now) == 2
    # Then the old imports hold no rows of the file, and everything else is as it was
    for import_id in (old, waiting.import_id):
        after = _record(h, import_id)
        assert after.sample == [] and after.preview == []
        assert "ada@example.com" not in str(after)
        assert after.preview_swept_at == now
        rest = after.model_dump(exclude={"sample", "preview", "preview_swept_at"})
        assert rest == before[import_id].model_dump(exclude={"sample", "preview", "preview_swept_at"})
        assert after.headers == ["First Name", "Last Name", "Email", "Phone", "Company"]
    # and the recent import and the other tenant's import are untouched
    assert _record(h, recent) == before[recent]
    assert _record(h, foreign, OTHER.tenant_id).sample
    # and the API views still answer, with empty rows and the moment they were removed
    preview = h.service.preview(ADMIN, old)
    assert preview.rows == [] and preview.rows_removed_at == now and preview.headers
    job = h.service.get(ADMIN, old)
    assert job.preview_removed_at == now and job.created == 1 and job.failed == 1
    assert h.service.get(ADMIN, recent).preview_removed_at is None

    # When it runs again (a redelivered step, the next night), nothing changes
    swept = {i: _record(h, i) for i in ours}
    assert h.service.sweep_expired(ADMIN.tenant_id, now=now + timedelta(days=1)) == 0
    assert {i: _record(h, i) for i in ours} == swept


def test_in_flight_imports_wait_until_their_files_are_deleted():
    h = Harness()
    import_id = _finished(h)
    h.repo.update(ADMIN.tenant_id, import_id, status="rolling_back")
    until = data_kept_until(_record(h, import_id))
    # A rollback started at the last moment may still be writing the record's rollback: not swept yet
    assert h.service.sweep_expired(ADMIN.tenant_id, now=until + timedelta(hours=1)) == 0
    assert _record(h, import_id).sample
    # once the files are gone (one margin later), it is
    later = until + timedelta(days=ROLLBACK_MARGIN_DAYS)
    assert h.service.sweep_expired(ADMIN.tenant_id, now=later) == 1
    assert _record(h, import_id).sample == []


def test_the_schedule_fans_out_one_step_per_tenant_and_the_kind_is_registered():
    h = Harness()
    _finished(h)
    _finished(h, OTHER)
    h.queue.steps.clear()
    assert h.service.sweep_all() == 2
    assert sorted(h.queue.steps, key=str) == [
        {"kind": SWEEP_KIND, "tenant_id": "t1"},
        {"kind": SWEEP_KIND, "tenant_id": "t2"},
    ]
    assert JOB_HANDLERS[SWEEP_KIND] == "leadtide.imports.jobs:run_sweep_step"
    assert callable(handler_for(SWEEP_KIND))
