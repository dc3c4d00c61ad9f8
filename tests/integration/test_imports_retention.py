"""Import retention over the API on moto: the bucket built from the template carries the lifecycle rules
for import files; GET /imports shows ``rollback_until``; POST rollback after it is a 410
``rollback_expired`` that changes nothing, before it a 202 that rolls back; an import left awaiting its
mapping past ``start_until`` answers 410 ``upload_expired``."""

from __future__ import annotations

from datetime import datetime, timedelta

import boto3

from leadtide.wiring import get_wiring
from tests.integration.test_imports_flow import claims, run_import, table_items

DATA = b"First Name,Email\nAda,ada@example.com\nBob,bob@example.com\nBad,not-an-email\n"


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _freeze_import_clock(monkeypatch, moment: datetime) -> None:

    monkeypatch.setattr(get_wiring().import_service, "_clock", lambda: moment)


def test_local_bucket_gets_the_import_lifecycle_rules(stack):
    bucket = stack.resources.buckets["ArtifactsBucket"]
    rules = {
        r["ID"]: r for r in boto3.client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    }
    for rule_id, prefix in (("ExpireImportUploads", "imports/"), ("ExpireImportData", "import-data/")):
        assert rules[rule_id]["Filter"] == {"Prefix": prefix}
        assert rules[rule_id]["Expiration"]["Days"] == 30
        assert rules[rule_id]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert rules["ExpireExports"]["Expiration"]["Days"] == 7


def test_rollback_is_refused_after_rollback_until_and_works_before(stack, monkeypatch):
    # Given a finished import (one row rejected)
    before = table_items(stack)
    job = run_import(stack, "leads.csv", DATA)
    assert (job["status"], job["created"], job["failed"]) == ("completed_with_errors", 2, 1)
    # Then its resource and the history show until when it can be rolled back: within the 30-day
    # retention of its files, after it finished
    until = _at(job["rollback_until"])
    assert _at(job["finished_at"]) < until < _at(job["started_at"]) + timedelta(days=30)
    history = stack.request("GET", "/imports", claims=claims(stack)).json()["items"]
    assert [(j["import_id"], j["rollback_until"]) for j in history] == [
        (job["import_id"], job["rollback_until"])
    ]
    after_import = table_items(stack)
    # When a rollback is asked for once that moment has passed
    _freeze_import_clock(monkeypatch, until + timedelta(seconds=1))
    refused = stack.request("POST", f"/imports/{job['import_id']}/rollback", claims=claims(stack))
    # Then a 410 names the date, and nothing changes
    assert refused.status == 410, refused.text
    error = refused.json()["error"]
    assert error["code"] == "rollback_expired" and until.date().isoformat() in error["message"]
    stack.settle()
    assert table_items(stack) == after_import
    current = stack.request("GET", f"/imports/{job['import_id']}", claims=claims(stack)).json()
    assert current["status"] == "completed_with_errors" and current["error_report_available"] is False
    report = stack.request("GET", f"/imports/{job['import_id']}/errors", claims=claims(stack))
    assert (report.status, report.json()["error"]["code"]) == (410, "error_report_expired")
    # When (in another world) it is asked for just before that moment, it rolls back as always
    _freeze_import_clock(monkeypatch, until - timedelta(seconds=1))
    rolled = stack.request("POST", f"/imports/{job['import_id']}/rollback", claims=claims(stack))
    assert rolled.status == 202, rolled.text
    stack.settle(max_rounds=100)
    done = stack.request("GET", f"/imports/{job['import_id']}", claims=claims(stack)).json()
    assert done["status"] == "rolled_back" and done["rollback_until"] is None
    assert table_items(stack) == before


def test_an_import_left_awaiting_its_mapping_answers_410_after_start_until(stack, monkeypatch):
    # Given an import awaiting its mapping
    job = run_import(stack, "waiting.csv", DATA, {"auto_start": False})
    assert job["status"] == "awaiting_mapping" and job["rollback_until"] is None
    until = _at(job["start_until"])
    assert until == _at(job["created_at"]) + timedelta(days=29)
    # When it is started once its upload may be deleted
    _freeze_import_clock(monkeypatch, until)
    path = f"/imports/{job['import_id']}"
    refused = stack.request("POST", f"{path}/start", claims=claims(stack))
    remap = stack.request(
        "PUT", f"{path}/mapping", json_body={"mapping": job["mapping"]}, claims=claims(stack)
    )
    # Then both answer 410 upload_expired naming the date, and the import still waits, unchanged
    for response in (refused, remap):
        assert response.status == 410, response.text
        error = response.json()["error"]
        assert error["code"] == "upload_expired" and until.date().isoformat() in error["message"]
    stack.settle()
    assert stack.request("GET", path, claims=claims(stack)).json() == job
