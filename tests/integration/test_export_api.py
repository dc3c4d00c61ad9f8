"""Exports end to end: POST /exports over the template's route, the jobs worker produces the file in moto
S3, GET /exports/{id} hands out a presigned URL that downloads it; roles and tenant isolation."""

import csv
import io
import json
from urllib.parse import urlparse

import boto3
import pytest
import requests
from openpyxl import load_workbook

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
REP = {"sub": "u-rep", "custom:tenant_id": "acme", "custom:role": "rep"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}


def _lead(stack, claims=ADMIN, **body):
    res = stack.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()


def _export(stack, claims=ADMIN, **body):
    res = stack.request("POST", "/exports", json_body=body, claims=claims)
    assert res.status == 202, res.text
    return res.json()


def _download(url: str) -> bytes:
    """Fetch a presigned URL; moto's mock answers the HTTP call in process."""
    res = requests.get(url, timeout=10)
    assert res.status_code == 200, res.text
    return res.content


@pytest.fixture
def leads(stack):
    return [
        _lead(
            stack,
            name="=cmd|' /C calc'!A0",
            email="ana@example.com",
            company="Praia, Ltd",
            tags=["vip", "summer"],
        ),
        _lead(stack, name="Bruno", phone="+14155552671", status="Contacted"),
        _lead(stack, REP, name="Rep's own", email="rep@example.com"),
        _lead(stack, OTHER, name="Globex lead", email="g@example.com"),
    ]


def test_csv_export_end_to_end(stack, leads):
    # Given / When: an admin exports every lead as CSV and the queues settle
    queued = _export(stack, format="csv")
    assert queued["status"] == "queued" and queued.get("download") is None
    delivered = stack.settle()
    assert delivered.get("JobsWorkerFunction", 0) >= 1
    # Then: the export is completed with a short-lived link to the file
    res = stack.request("GET", f"/exports/{queued['export_id']}", claims=ADMIN)
    assert res.status == 200, res.text
    export = res.json()
    assert export["status"] == "completed" and export["rows"] == 3
    url = export["download"]["url"]
    assert f"exports/acme/{queued['export_id']}/leads.csv" in urlparse(url).path
    assert "X-Amz-Expires=900" in url
    data = _download(url)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert {r["lead_id"] for r in rows} == {lead["lead_id"] for lead in leads[:3]}
    ana = next(r for r in rows if r["email"] == "ana@example.com")
    assert ana["name"] == "'=cmd|' /C calc'!A0" and ana["company"] == "Praia, Ltd"
    assert ana["tags"] == "vip; summer"
    assert ana["created_at"].endswith("Z")
    bruno = next(r for r in rows if r["name"] == "Bruno")
    assert bruno["phone"] == "'+14155552671" and bruno["status"] == "Contacted"
    assert "Globex" not in data.decode("utf-8-sig")
    # and the object is where the brief says, in the artifacts bucket
    bucket = stack.resources.buckets["ArtifactsBucket"]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert f"exports/acme/{queued['export_id']}/leads.csv" in keys


def test_xlsx_and_json_exports_of_a_selection(stack, leads):
    ids = [leads[0]["lead_id"], leads[1]["lead_id"]]
    xlsx = _export(stack, format="xlsx", selection={"lead_ids": ids}, fields=["lead_id", "name", "tags"])
    jsonl = _export(stack, format="json", status="Contacted")
    stack.settle()
    book = _download(
        stack.request("GET", f"/exports/{xlsx['export_id']}", claims=ADMIN).json()["download"]["url"]
    )
    rows = list(load_workbook(io.BytesIO(book)).active.iter_rows(values_only=True))
    assert rows[0] == ("lead_id", "name", "tags")
    assert rows[1] == (ids[0], "=cmd|' /C calc'!A0", "vip; summer")
    assert len(rows) == 3
    lines = _download(
        stack.request("GET", f"/exports/{jsonl['export_id']}", claims=ADMIN).json()["download"]["url"]
    )
    parsed = [json.loads(line) for line in lines.decode().splitlines()]
    assert [p["lead_id"] for p in parsed] == [leads[1]["lead_id"]]
    assert parsed[0]["tags"] == [] and parsed[0]["status"] == "Contacted"


def test_reps_export_only_what_they_see_and_only_see_their_exports(stack, leads):
    _lead(stack, name="Someone else's", email="else@example.com", owner_id="u-other")
    mine = _export(stack, REP, format="json")
    boss = _export(stack, ADMIN, format="json")
    stack.settle()
    export = stack.request("GET", f"/exports/{mine['export_id']}", claims=REP).json()
    lines = _download(export["download"]["url"]).decode().splitlines()
    # own and unassigned leads, never another user's
    assert {json.loads(line)["name"] for line in lines} == {"Rep's own", "Bruno", "=cmd|' /C calc'!A0"}
    assert stack.request("GET", f"/exports/{boss['export_id']}", claims=REP).status == 403
    history = stack.request("GET", "/exports", claims=REP).json()
    assert [e["export_id"] for e in history["items"]] == [mine["export_id"]]
    everyone = stack.request("GET", "/exports", claims=ADMIN).json()
    assert [e["export_id"] for e in everyone["items"]] == [boss["export_id"], mine["export_id"]]


def test_tenants_cannot_reach_each_others_exports(stack, leads):
    export = _export(stack, format="csv")
    stack.settle()
    assert stack.request("GET", f"/exports/{export['export_id']}", claims=OTHER).status == 404
    assert stack.request("GET", "/exports", claims=OTHER).json()["items"] == []
    assert stack.request("GET", "/exports/not-an-id", claims=ADMIN).status == 404


BAD_REQUESTS = [
    ({"format": "pdf"}, 422, "format"),
    ({"format": "csv", "fields": ["email", "shoe_size"]}, 422, "shoe_size"),
    ({"format": "csv", "selection": {}}, 422, "exactly one"),
    ({"format": "csv", "selection": {"list_id": "a", "segment_id": "b"}}, 422, "list_id, segment_id"),
    ({"format": "csv", "selection": {"lead_ids": ["x"]}}, 422, "32 hex"),
    ({"format": "csv", "status": "New", "selection": {"filter": {}}}, 422, "not both"),
    ({"format": "csv", "selection": {"list_id": "no-such-list"}}, 404, "no-such-list"),
]


def test_bad_export_requests_are_refused_and_queue_nothing(stack):
    for body, status, needle in BAD_REQUESTS:
        res = stack.request("POST", "/exports", json_body=body, claims=ADMIN)
        assert res.status == status, (body, res.text)
        assert needle in res.json()["error"]["message"] or needle in res.text
    assert stack.queue_depth("JobsQueue") == 0
