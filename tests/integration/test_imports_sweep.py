"""The nightly import preview sweep on moto: the template's schedule input, sent to the Jobs worker as
the scheduler would, fans out per tenant through the jobs queue and empties the file rows of imports past
their retention window; the API still answers for them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import boto3

from leadtide.wiring import get_wiring
from tests.integration.conftest import SPECS, FakeContext, handler_of
from tests.integration.test_imports_flow import claims, run_import

DATA = b"First Name,Email\nAda,ada@example.com\nBob,bob@example.com\nBad,not-an-email\n"


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _item(stack, tenant: str, import_id: str) -> dict:
    table = stack.resources.tables["LeadsTable"]
    key = {"pk": {"S": f"T#{tenant}#IMPORTS"}, "sk": {"S": import_id}}
    return boto3.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]


def _fire_nightly_sweep(stack) -> None:
    """Invoke the Jobs worker with the template schedule's Input (as EventBridge Scheduler does), then
    let the queues deliver the per-tenant steps."""
    event = next(e for e in SPECS["JobsWorkerFunction"].events if e.name == "NightlyImportPreviewSweep")
    assert event.type == "ScheduleV2"
    payload = json.loads(event.properties["Input"])
    result = handler_of("JobsWorkerFunction")(payload, FakeContext("JobsWorkerFunction"))
    assert result == {"ran": "imports.sweep_expired"}
    stack.settle()


def test_nightly_sweep_empties_expired_previews_and_the_api_still_answers(stack, monkeypatch):
    # Given a finished import per tenant; the file's rows sit in the import record
    job = run_import(stack, "leads.csv", DATA)
    other = run_import(stack, "leads.csv", DATA, tenant="t2")
    assert job["status"] == other["status"] == "completed_with_errors"
    item = _item(stack, "t1", job["import_id"])
    doc = json.loads(item["doc"]["S"])
    assert doc["sample"] and doc["preview"] and "ada@example.com" in item["doc"]["S"]
    # When the sweep runs just before the later one's retention window ends, it is not swept

    until = max(_at(job["rollback_until"]), _at(other["rollback_until"]))
    monkeypatch.setattr(get_wiring().import_service, "_clock", lambda: until - timedelta(seconds=1))
    _fire_nightly_sweep(stack)
    assert "ada@example.com" in _item(stack, "t2", other["import_id"])["doc"]["S"]
    # When it runs just after
    monkeypatch.setattr(get_wiring().import_service, "_clock", lambda: until + timedelta(seconds=1))
    _fire_nightly_sweep(stack)
    # Then both tenants' records hold no rows of the file, but keep headers, mapping and counts
    for tenant, import_id in (("t1", job["import_id"]), ("t2", other["import_id"])):
        swept = _item(stack, tenant, import_id)
        swept_doc = json.loads(swept["doc"]["S"])
        assert swept_doc["sample"] == [] and swept_doc["preview"] == []
        assert "ada@example.com" not in json.dumps(swept)
        assert "preview_swept_at" in swept
        assert swept_doc["headers"] == ["First Name", "Email"] and swept_doc["mapping"] == doc["mapping"]
        assert swept["created"] == {"N": "2"} and swept["failed"] == {"N": "1"}
    # and the API answers with empty rows and when they were removed
    current = stack.request("GET", f"/imports/{job['import_id']}", claims=claims(stack))
    assert current.status == 200, current.text
    body = current.json()
    removed_at = _at(body["preview_removed_at"])
    assert _at(job["rollback_until"]) <= removed_at <= until + timedelta(seconds=1)
    assert {k: body[k] for k in ("status", "created", "failed", "rows_total", "mapping")} == {
        k: job[k] for k in ("status", "created", "failed", "rows_total", "mapping")
    }
    preview = stack.request("GET", f"/imports/{job['import_id']}/preview", claims=claims(stack))
    assert preview.status == 200, preview.text
    assert preview.json()["rows"] == [] and preview.json()["headers"] == ["First Name", "Email"]
    assert preview.json()["rows_removed_at"] is not None
    # When it runs again, nothing changes
    swept_item = _item(stack, "t1", job["import_id"])
    monkeypatch.setattr(get_wiring().import_service, "_clock", lambda: until + timedelta(days=2))
    _fire_nightly_sweep(stack)
    assert _item(stack, "t1", job["import_id"]) == swept_item
