"""Lone UTF-16 surrogates (JSON ``"\\ud800"``): refused with a 422 naming the field on every API route and
on web forms, replaced by U+FFFD in signed provider deliveries, and written as U+FFFD by every export of
text stored before the rule (leadtide.models.text)."""

from __future__ import annotations

import csv
import io
import json
import re

import boto3
import pytest
import requests
from openpyxl import load_workbook

from leadtide.capture.signatures import meta_signature
from tests.conftest import REPO_ROOT
from tests.integration.conftest import ROUTES

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
APP_SECRET = "0123456789abcdef0123456789abcdef"
SPEC = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
DEMO_DATA = REPO_ROOT / "infra" / "local" / "demo_data"
LONE = "x\ud800y"


def _body_fields(method: str, path: str) -> list[str]:
    operation = SPEC["paths"].get(path, {}).get(method.lower()) or {}
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    names = set(schema.get("properties", {}))
    for variant in schema.get("oneOf", []) + schema.get("anyOf", []):
        if "$ref" in variant:
            names |= set(
                SPEC["components"]["schemas"][variant["$ref"].rsplit("/", 1)[1]].get("properties", {})
            )
    return sorted(names)


def _invalid_text(res, field: str) -> None:
    assert res.status == 422, res.text
    error = res.json()["error"]
    assert error["code"] == "invalid_text", error
    assert [d["field"] for d in error["details"]] == [field], error
    assert "surrogate" in error["details"][0]["problem"]
    res.body.decode("utf-8")  # the answer itself is valid UTF-8


def test_every_api_body_field_refuses_a_lone_surrogate_by_name(stack):
    # Given every JSON route of the Api function, and every top-level field of its documented body
    checked = 0
    for route in ROUTES:
        if not route.function_logical_id.endswith("ApiFunction") or route.method not in (
            "POST",
            "PUT",
            "PATCH",
        ):
            continue
        if route.path == "/track/events":
            continue  # API-key route: below
        path = re.sub(r"{[^}]+}", "0" * 32, route.path)
        for field in _body_fields(route.method, route.path):
            # When the field holds a lone surrogate (the other fields may be missing or wrong)
            res = stack.request(route.method, path, json_body={field: LONE}, claims=ADMIN)
            # Then a 422 naming exactly that field, before any other check
            _invalid_text(res, field)
            checked += 1
    assert checked > 60, checked  # the sweep really covered the API's bodies


def test_lead_create_and_patch_name_the_field_nested_or_custom(stack):
    res = stack.request(
        "POST", "/custom-fields", json_body={"key": "note", "label": "Note", "type": "text"}, claims=ADMIN
    )
    assert res.status == 201, res.text
    for body, field in (
        ({"email": "a@example.com", "custom_fields": {"note": LONE}}, "custom_fields.note"),
        ({"email": "a@example.com", "custom_fields": {LONE: "x"}}, "custom_fields.x\\ud800y"),
        ({"email": "a@example.com", "tags": ["ok", LONE]}, "tags.1"),
        ({"email": "a@example.com", "company": LONE}, "company"),
        ({"email": "a@example.com", "first_name": LONE}, "first_name"),
    ):
        _invalid_text(stack.request("POST", "/leads", json_body=body, claims=ADMIN), field)
    # nothing was stored
    assert stack.request("GET", "/leads", claims=ADMIN).json()["items"] == []
    lead = stack.request("POST", "/leads", json_body={"email": "a@example.com"}, claims=ADMIN).json()
    for body, field in (
        ({"custom_fields": {"note": LONE}}, "custom_fields.note"),
        ({"job_title": LONE}, "job_title"),
        ({"tags": [LONE]}, "tags.0"),
    ):
        _invalid_text(
            stack.request("PATCH", f"/leads/{lead['lead_id']}", json_body=body, claims=ADMIN), field
        )
    note = stack.request("POST", f"/leads/{lead['lead_id']}/notes", json_body={"text": LONE}, claims=ADMIN)
    _invalid_text(note, "text")
    # A whole body that is one bad string is named "body"; a paired escape (an emoji) is fine
    whole = stack.request(
        "POST", "/leads", body=b'"\\ud800"', headers={"content-type": "application/json"}, claims=ADMIN
    )
    _invalid_text(whole, "body")
    emoji = stack.request(
        "PATCH",
        f"/leads/{lead['lead_id']}",
        body=b'{"custom_fields": {"note": "surf \\ud83c\\udf0a"}}',
        headers={"content-type": "application/json"},
        claims=ADMIN,
    )
    assert emoji.status == 200 and emoji.json()["custom_fields"]["note"] == "surf \U0001f30a", emoji.text


def test_track_events_refuses_a_lone_surrogate(stack):
    created = stack.request("POST", "/api-keys", json_body={"name": "site"}, claims=ADMIN)
    key = created.json()["key"]
    event = {
        "event_id": "e1",
        "type": "email_opened",
        "lead": {"email": "a@example.com"},
        "properties": {"subject": LONE},
    }
    res = stack.request("POST", "/track/events", json_body={"events": [event]}, headers={"x-api-key": key})
    _invalid_text(res, "events.0.properties.subject")


def _form(stack) -> str:
    body = {
        "type": "web_form",
        "name": "Quote",
        "fields": [
            {"name": "email", "type": "email", "required": True},
            {"name": "message", "type": "textarea"},
        ],
    }
    res = stack.request("POST", "/channels", json_body=body, claims=ADMIN)
    assert res.status == 201, res.text
    return res.json()["form_id"]


def test_form_submission_with_a_lone_surrogate_is_a_422_and_queues_nothing(stack):
    form_id = _form(stack)
    res = stack.request(
        "POST",
        f"/forms/{form_id}/submissions",
        body=b'{"email": "f@example.com", "message": "hi \\ud800"}',
        headers={"content-type": "application/json"},
    )
    _invalid_text(res, "message")
    assert stack.queue_depth("IngestQueue") == 0
    # urlencoded forms cannot carry one: invalid UTF-8 is decoded to U+FFFD and the submission is kept
    ok = stack.request(
        "POST",
        f"/forms/{form_id}/submissions",
        body="email=f%40example.com&message=hi+%ED%A0%80",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert ok.status == 201, ok.text
    stack.settle()
    (lead,) = stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    assert lead["email"] == "f@example.com"


def test_signed_whatsapp_text_with_a_lone_surrogate_is_captured_with_u_fffd(stack):
    # Given a connected WhatsApp number
    connected = stack.request(
        "POST",
        "/channels",
        json_body={
            "type": "whatsapp",
            "phone_number_id": "1122334455667",
            "verify_token": "verify-123456",
            "app_secret": APP_SECRET,
        },
        claims=ADMIN,
    )
    assert connected.status == 201, connected.text
    # When Meta signs a text whose JSON holds a lone surrogate escape
    raw = (DEMO_DATA / "whatsapp_cloud_text.json").read_bytes()
    assert b"Body Text" in raw
    payload = raw.replace(b"Body Text", b"Body \\ud800 Text")
    res = stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=payload,
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": meta_signature(payload, APP_SECRET),
        },
    )
    # Then it is accepted (not a 500), and the lead's message holds U+FFFD in its place
    assert res.status == 200, res.text
    stack.settle()
    (lead,) = stack.request("GET", "/leads", claims=ADMIN).json()["items"]
    acts = stack.request("GET", f"/leads/{lead['lead_id']}/activities", claims=ADMIN).json()["items"]
    assert [a["text"] for a in acts] == ["Body \ufffd Text"]
    assert stack.queue_depth("IngestDeadLetterQueue") == 0


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_exports_of_text_stored_before_the_rule_succeed(stack, fmt):
    # Given a lead whose stored custom field holds a lone surrogate, as the old code stored it (pynamodb
    # writes JSON attributes with ASCII escapes, so DynamoDB accepted "\ud800"; reading decodes it back)
    assert (
        stack.request(
            "POST", "/custom-fields", json_body={"key": "note", "label": "Note", "type": "text"}, claims=ADMIN
        ).status
        == 201
    )
    lead = stack.request(
        "POST", "/leads", json_body={"email": "a@example.com", "name": "Ana"}, claims=ADMIN
    ).json()
    boto3.client("dynamodb").update_item(
        TableName=stack.resources.tables["LeadsTable"],
        Key={"pk": {"S": f"T#acme#L#{lead['lead_id']}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET custom_fields = :cf",
        ExpressionAttributeValues={":cf": {"S": '{"note": "hi \\ud800 there"}'}},
    )
    assert stack.request("GET", f"/leads/{lead['lead_id']}", claims=ADMIN).json()["custom_fields"] == {
        "note": "hi \ud800 there"
    }
    # When the tenant exports its leads
    queued = stack.request("POST", "/exports", json_body={"format": fmt}, claims=ADMIN)
    assert queued.status == 202, queued.text
    stack.settle()
    export = stack.request("GET", f"/exports/{queued.json()['export_id']}", claims=ADMIN).json()
    # Then the export completes, and the bad character is written as U+FFFD
    assert export["status"] == "completed", export
    data = requests.get(export["download"]["url"], timeout=10).content
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert rows[0]["Note"] == "hi \ufffd there"
    elif fmt == "json":
        (row,) = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        assert row["custom_fields.note"] == "hi \ufffd there"
    else:
        sheet = load_workbook(io.BytesIO(data), read_only=True)["Leads"]
        header, first = list(sheet.iter_rows(values_only=True))[:2]
        assert first[header.index("Note")] == "hi \ufffd there"
    assert stack.queue_depth("JobsDeadLetterQueue") == 0
