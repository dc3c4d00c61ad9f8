"""Lead attributes stored as JSON that hold datetimes (a grade override's ``at``, a datetime put into
``custom_fields`` by code) survive every path that rewrites a lead profile: an import ``update`` onto the
lead, an export of it, a merge and its undo (issue 10, defect 1: the import's item encoder raised
``TypeError: Object of type datetime is not JSON serializable`` and failed the whole chunk)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime

import requests

from leadtide.models.common import ChannelType, Grade
from leadtide.models.leads import Lead
from leadtide.models.scoring import GradeOverride
from leadtide.wiring import get_wiring

T = "t1"
AT = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
SEEN = datetime(2025, 11, 5, 17, 30, 0, 250000, tzinfo=UTC)


def _admin(stack):
    return stack.claims(T, "admin", "boss")


def _lead_with_override(stack, email: str, grade: str) -> str:
    """A lead created over the API whose grade is then pinned over the API (the override's ``at`` is a
    datetime inside the ``grade_override`` JSON attribute)."""
    created = stack.request(
        "POST", "/leads", json_body={"name": email.split("@")[0], "email": email}, claims=_admin(stack)
    )
    assert created.status == 201, created.text
    lead_id = created.json()["lead_id"]
    pinned = stack.request(
        "PUT",
        f"/leads/{lead_id}/grade-override",
        json_body={"grade": grade, "reason": "Met at the fair"},
        claims=_admin(stack),
    )
    assert pinned.status == 200, pinned.text
    stack.settle()
    return lead_id


def _lead_with_datetimes_in_json(email: str) -> Lead:
    """A lead stored through the lead repository with datetimes inside two JSON attributes."""
    lead = Lead(
        lead_id=uuid.uuid4().hex,
        tenant_id=T,
        name="Cy",
        email=email,
        source_channel=ChannelType.MANUAL,
        grade=Grade.COLD,
        grade_override=GradeOverride(grade=Grade.COLD, reason="Bounced twice", by="boss", at=AT),
        custom_fields={"first_seen": SEEN, "visits": [SEEN, 3]},
        created_at=AT,
        updated_at=AT,
        last_activity_at=AT,
    )
    repo = get_wiring().lead_repository
    repo.create_lead(lead, [("email", email)])
    return repo.get_lead(T, lead.lead_id)


def _run_import(stack, data: bytes, body: dict) -> dict:
    created = stack.request(
        "POST", "/imports", json_body={"filename": "crm.csv", **body}, claims=_admin(stack)
    )
    assert created.status == 201, created.text
    upload = created.json()["upload"]
    assert requests.put(upload["url"], data=data, headers=upload["headers"], timeout=30).status_code == 200
    stack.settle(max_rounds=200)
    return stack.request("GET", f"/imports/{created.json()['import_id']}", claims=_admin(stack)).json()


def _get(stack, lead_id: str) -> dict:
    res = stack.request("GET", f"/leads/{lead_id}", claims=_admin(stack))
    assert res.status == 200, res.text
    return res.json()


def test_a_repository_write_encodes_datetimes_inside_json_attributes_and_reads_them_back(stack):
    # Given / When a lead holding datetimes inside grade_override and custom_fields is stored
    lead = _lead_with_datetimes_in_json("cy@example.com")
    # Then the override reads back as it was, and the custom field times as their ISO-8601 text
    assert lead.grade_override is not None and lead.grade_override.at == AT
    assert lead.custom_fields == {
        "first_seen": "2025-11-05T17:30:00.250000Z",
        "visits": ["2025-11-05T17:30:00.250000Z", 3],
    }


def test_import_update_onto_leads_with_grade_overrides_then_export_and_merge(stack):
    # Given leads whose grades are pinned by hand, and one with datetimes inside other JSON attributes
    ana = _lead_with_override(stack, "ana@example.com", "hot")
    bob = _lead_with_override(stack, "bob@example.com", "warm")
    cy = _lead_with_datetimes_in_json("cy@example.com").lead_id
    pinned = {lead_id: _get(stack, lead_id)["grade_override"] for lead_id in (ana, bob, cy)}

    # When a CRM export matching all three is imported with the update strategy
    data = (
        b"Email,Company,Job Title\n"
        b"ana@example.com,Acme,CEO\nbob@example.com,Globex,CTO\ncy@example.com,Initech,COO\n"
    )
    job = _run_import(stack, data, {"dedupe": {"strategy": "update", "update_mode": "overwrite"}})

    # Then every row updates its lead (no chunk fails) and the overrides are kept exactly
    assert (job["status"], job["updated"], job["failed"], job["created"]) == ("completed", 3, 0, 0), job
    for lead_id, company in ((ana, "Acme"), (bob, "Globex"), (cy, "Initech")):
        lead = _get(stack, lead_id)
        assert lead["company"] == company
        assert lead["grade_override"] == pinned[lead_id]
        assert lead["grade"] == pinned[lead_id]["grade"]
    assert _get(stack, cy)["custom_fields"]["first_seen"] == "2025-11-05T17:30:00.250000Z"

    # When the leads are exported as CSV and as JSON Lines
    exports = {
        fmt: stack.request("POST", "/exports", json_body={"format": fmt}, claims=_admin(stack)).json()
        for fmt in ("csv", "json")
    }
    stack.settle()
    # Then both exports complete with every lead and its pinned grade
    files = {}
    for fmt, queued in exports.items():
        export = stack.request("GET", f"/exports/{queued['export_id']}", claims=_admin(stack)).json()
        assert (export["status"], export["rows"]) == ("completed", 3), export
        files[fmt] = requests.get(export["download"]["url"], timeout=30).content
    rows = list(csv.DictReader(io.StringIO(files["csv"].decode("utf-8-sig"), newline="")))
    assert {r["lead_id"]: r["grade"] for r in rows} == {ana: "hot", bob: "warm", cy: "cold"}
    lines = [json.loads(line) for line in files["json"].decode().splitlines()]
    assert {p["lead_id"]: p["grade"] for p in lines} == {ana: "hot", bob: "warm", cy: "cold"}

    # When bob and cy are merged into ana, then the merge is undone
    merged = stack.request(
        "POST",
        "/leads/merge",
        json_body={"survivor_id": ana, "merged_ids": [bob, cy], "rule": "keep_most_recent"},
        claims=_admin(stack),
    )
    assert merged.status == 200, merged.text
    # Then the survivor keeps its own override and gains the merged custom fields
    survivor = merged.json()["survivor"]
    assert survivor["grade_override"] == pinned[ana] and survivor["grade"] == "hot"
    assert survivor["custom_fields"]["first_seen"] == "2025-11-05T17:30:00.250000Z"
    undone = stack.request("POST", f"/merges/{merged.json()['merge_id']}/undo", claims=_admin(stack))
    assert undone.status == 200, undone.text
    # and undo gives every lead back with its override
    for lead_id in (ana, bob, cy):
        assert _get(stack, lead_id)["grade_override"] == pinned[lead_id]
