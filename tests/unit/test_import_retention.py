"""Retention of import files: the bucket's lifecycle rules for ``imports/`` and ``import-data/`` and the
import's ``rollback_until`` (rollback and error report refused with 410 afterwards, allowed before).

The S3 lifecycle is simulated over the in-memory artifacts with the rules read from template.yaml, so the
promise "nothing a rollback needs is deleted before ``rollback_until``" is checked against the real rule.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest

from leadtide.imports.models import DedupeOptions, MappingUpdate
from leadtide.imports.service import IMPORT_RETENTION_DAYS
from leadtide.models.errors import ImportDataExpiredError, ImportStateError
from leadtide_local.template import load_template
from tests.conftest import REPO_ROOT
from tests.import_fakes import FakeArtifacts
from tests.unit.test_import_pipeline import ADMIN, Harness, rows

RULES = {
    r["Id"]: r
    for r in load_template(REPO_ROOT / "template.yaml")["Resources"]["ArtifactsBucket"]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
}


class ExpiringArtifacts(FakeArtifacts):
    """Artifacts that remember when each object was written and can apply the template's expiration
    rules as S3 would (an object goes ``ExpirationInDays`` after it was written, never earlier)."""

    def __init__(self, clock) -> None:
        super().__init__()
        self.clock = clock
        self.written: dict[str, datetime] = {}

    def put(self, key, data, content_type="application/json"):
        super().put(key, data, content_type)
        self.written[key] = self.clock.now

    def expire(self, now: datetime) -> list[str]:
        gone = []
        for key, at in list(self.written.items()):
            for rule in RULES.values():
                days = rule.get("ExpirationInDays")
                if days and key.startswith(rule.get("Prefix", "")) and at + timedelta(days=days) <= now:
                    del self.objects[key], self.written[key]
                    gone.append(key)
                    break
        return gone


def harness(chunk_rows: int = 2) -> Harness:
    return Harness(chunk_rows=chunk_rows, artifacts=ExpiringArtifacts)


def imported(h: Harness) -> tuple[str, dict[Any, Any]]:
    """A finished import that creates 3 leads, updates 1 and rejects 1 row; returns its id and the
    store as it was before."""
    h.existing("1" * 32, email="ada@example.com", first_name="Augusta")
    before = h.store.snapshot()
    import_id = h.upload(
        rows(
            "Ada,Lovelace,ada@example.com,,Analytical",
            "Cy,New,cy@example.com,,",
            "Di,New,di@example.com,,",
            "Ed,New,ed@example.com,,",
            "Bad,Row,not-an-email,,",
        ),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.run()
    return import_id, before


def test_lifecycle_rules_expire_uploads_and_import_data_after_the_retention():
    # The upload prefix and the work-file prefix (chunks, plans = before-images, error report) both expire
    for rule_id, prefix in (("ExpireImportUploads", "imports/"), ("ExpireImportData", "import-data/")):
        rule = RULES[rule_id]
        assert (rule["Status"], rule["Prefix"], rule["ExpirationInDays"]) == (
            "Enabled",
            prefix,
            IMPORT_RETENTION_DAYS,
        )
        # versioned bucket: the expired current version becomes noncurrent; it must not linger 30 days more
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 1
    h = harness()
    imported(h)
    keys = set(h.artifacts.objects)
    assert any(k.startswith("imports/") for k in keys)
    assert any("/plans/" in k for k in keys) and any(k.endswith("errors.csv") for k in keys)
    # Every object an import writes falls under one of the two rules
    covered = [k for k in keys if k.startswith(("imports/", "import-data/"))]
    assert sorted(covered) == sorted(keys)


def test_rollback_until_is_shown_and_is_before_any_rollback_file_can_be_deleted():
    h = harness()
    import_id, _ = imported(h)
    job = h.job(import_id)
    assert job.status == "completed_with_errors" and job.rollback_until is not None
    assert job.started_at is not None and job.rollback_until > job.finished_at
    needed = [at for k, at in h.artifacts.written.items() if "/plans/" in k or "/chunks/" in k]
    assert len(needed) == 4  # 4 accepted rows = 2 chunks of 2: their drafts and plans (before-images)
    # Every file a rollback reads is deleted no earlier than rollback_until plus a margin of >= 1 day
    assert min(needed) + timedelta(days=IMPORT_RETENTION_DAYS) - job.rollback_until >= timedelta(days=1)
    # The list shows it too
    page = h.service.history(ADMIN, limit=10, cursor=None)
    assert [j.rollback_until for j in page.items] == [job.rollback_until]


def test_rollback_just_before_rollback_until_works_even_after_s3_expired_what_it_could():
    # Given a finished import, a moment before its rollback window closes
    h = harness()
    import_id, before = imported(h)
    until = h.job(import_id).rollback_until
    assert until is not None
    h.clock.now = until - timedelta(seconds=5)
    # and S3 has expired whatever the lifecycle rules allow by then (and by the end of the margin)
    h.artifacts.expire(until + timedelta(hours=23))
    assert any("/plans/" in k for k in h.artifacts.objects)  # before-images are still there
    # When it is rolled back
    h.service.rollback(ADMIN, import_id)
    h.run()
    # Then everything is exactly as before the import
    job = h.job(import_id)
    assert job.status == "rolled_back" and job.rollback["deleted"] == 3 and job.rollback["restored"] == 1
    assert h.store.snapshot() == before
    assert job.rollback_until is None  # nothing left to roll back


def test_rollback_after_rollback_until_is_refused_with_410_naming_the_date_and_changes_nothing():
    # Given a finished import whose rollback window has closed
    h = harness()
    import_id, _ = imported(h)
    until = h.job(import_id).rollback_until
    assert until is not None
    after = h.store.snapshot()
    h.clock.now = until
    # When a rollback is asked for
    with pytest.raises(ImportDataExpiredError) as refused:
        h.service.rollback(ADMIN, import_id)
    # Then it is a 410 naming the date, and nothing changed or was queued
    assert refused.value.status_code == 410 and refused.value.code == "rollback_expired"
    assert until.isoformat() in refused.value.message
    job = h.job(import_id)
    assert job.status == "completed_with_errors" and job.rollback is None
    assert h.queue.steps == [] and h.store.snapshot() == after


def test_error_report_follows_the_retention_of_the_import_files():
    h = harness()
    import_id, _ = imported(h)
    job = h.job(import_id)
    assert job.error_report_available and h.service.error_report(ADMIN, import_id).rows == 1
    assert job.rollback_until is not None
    h.clock.now = job.rollback_until + timedelta(minutes=1)
    assert h.job(import_id).error_report_available is False
    with pytest.raises(ImportDataExpiredError) as refused:
        h.service.error_report(ADMIN, import_id)
    assert refused.value.code == "error_report_expired"


def test_imports_that_cannot_roll_back_show_no_rollback_until_and_keep_their_409():
    h = harness()
    import_id = h.upload(rows("Ada,Lovelace,ada@example.com,,"), auto_start=False)
    job = h.job(import_id)
    assert job.status == "awaiting_mapping" and job.rollback_until is None
    h.clock.now += timedelta(days=IMPORT_RETENTION_DAYS * 2)
    with pytest.raises(ImportStateError):  # the state, not the retention, is the problem
        h.service.rollback(ADMIN, import_id)


def test_an_import_awaiting_its_mapping_starts_until_start_until_even_after_s3_expired_what_it_could():
    # Given an import left awaiting its mapping, a moment before start_until
    h = harness()
    import_id = h.upload(rows("Ada,Lovelace,ada@example.com,,"), auto_start=False)
    until = h.job(import_id).start_until
    created = h.job(import_id).created_at
    assert until is not None and until - created == timedelta(days=IMPORT_RETENTION_DAYS - 1)
    h.clock.now = until - timedelta(seconds=5)
    # and S3 has expired whatever the lifecycle rules allow by then (and by the end of the margin)
    h.artifacts.expire(until + timedelta(hours=23))
    assert any(k.startswith("imports/") for k in h.artifacts.objects)  # the upload is still there
    # When it is started
    h.service.start(ADMIN, import_id)
    h.run()
    # Then it imports, and start_until is gone (it is no longer awaiting anything)
    job = h.job(import_id)
    assert (job.status, job.created, job.start_until) == ("completed", 1, None)


def test_an_import_awaiting_its_mapping_past_start_until_answers_410_and_changes_nothing():
    # Given an import awaiting its mapping whose start window has closed
    h = harness()
    import_id = h.upload(rows("Ada,Lovelace,ada@example.com,,"), auto_start=False)
    until = h.job(import_id).start_until
    assert until is not None
    h.clock.now = until
    record = copy.deepcopy(h.repo.get(ADMIN.tenant_id, import_id))
    # When the mapping is changed or the import started
    mapping = h.job(import_id).mapping
    attempts = (
        lambda: h.service.set_mapping(ADMIN, import_id, MappingUpdate(columns=mapping)),
        lambda: h.service.start(ADMIN, import_id),
    )
    for attempt in attempts:
        with pytest.raises(ImportDataExpiredError) as refused:
            attempt()
        # Then a 410 naming the date and what to do, and nothing changed or was queued
        assert (refused.value.status_code, refused.value.code) == (410, "upload_expired")
        assert until.isoformat() in refused.value.message and "new import" in refused.value.message
    assert h.repo.get(ADMIN.tenant_id, import_id) == record and h.queue.steps == []
