"""Identity items never outlive their lead (moto): deleting a merge survivor, an import's lead or a lead in a
bulk delete frees every identity key the lead owned (its own, its merged leads', imported unique custom
fields), and a key left pointing at a lead that no longer exists is treated as free by capture, the lead
API and profile edits."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from leadtide.dal.items import identity_pk
from leadtide.settings import get_settings
from leadtide.wiring import get_wiring

ADMIN = {"sub": "u-admin", "custom:tenant_id": "t1", "custom:role": "admin"}


# ---------------------------------------------------------------------------------------------- helpers
def _create(stack, **body: Any) -> str:
    res = stack.request("POST", "/leads", json_body={"name": "Lead", **body}, claims=ADMIN)
    assert res.status == 201, res.text
    return str(res.json()["lead_id"])


def _merge(stack, survivor: str, *merged: str) -> dict[str, Any]:
    res = stack.request(
        "POST", "/leads/merge", json_body={"survivor_id": survivor, "merged_ids": list(merged)}, claims=ADMIN
    )
    assert res.status == 200, res.text
    return dict(res.json())


def _delete(stack, lead_id: str) -> None:
    res = stack.request("DELETE", f"/leads/{lead_id}", claims=ADMIN)
    assert res.status == 204, res.text


def _identity_items(tenant: str = "t1") -> dict[str, str]:
    """identity pk -> lead id of every identity item of the tenant (a test-only scan)."""
    table = boto3.resource("dynamodb").Table(get_settings().leads_table)
    found: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        for item in page["Items"]:
            if item["sk"] == "IDENTITY" and item["pk"].startswith(f"T#{tenant}#I#"):
                found[item["pk"]] = item["lead_id"]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _table_items() -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the leads table but merge records and duplicate pairs."""
    table = boto3.resource("dynamodb").Table(get_settings().leads_table)
    items: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        for item in page["Items"]:
            if "#MERGE" not in item["pk"] and not item["pk"].endswith("#DUP"):
                items[(item["pk"], item["sk"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _web_form(stack) -> str:
    res = stack.request(
        "POST",
        "/channels",
        json_body={
            "type": "web_form",
            "name": "Quote",
            "fields": [
                {"name": "name", "required": True},
                {"name": "email", "type": "email"},
                {"name": "phone", "type": "phone"},
            ],
        },
        claims=ADMIN,
    )
    assert res.status == 201, res.text
    return str(res.json()["form_id"])


def _submit(stack, form_id: str, name: str, email: str | None = None, phone: str | None = None) -> None:
    body = {k: v for k, v in (("name", name), ("email", email), ("phone", phone)) if v}
    res = stack.request("POST", f"/forms/{form_id}/submissions", json_body=body)
    assert res.status == 201, res.text
    stack.settle()


def _leads_by_email(stack) -> dict[str, list[str]]:
    items = stack.request("GET", "/leads", query={"limit": 100}, claims=ADMIN).json()["items"]
    by_email: dict[str, list[str]] = {}
    for lead in items:
        by_email.setdefault(lead.get("email") or "", []).append(lead["lead_id"])
    return by_email


# ------------------------------------------------------------------------------------------------ merges
def test_deleting_a_merge_survivor_frees_the_merged_leads_identities(stack):
    # Given lead B (its own email and phone) merged into survivor A (another email)
    a = _create(stack, email="ana@acme.com")
    b = _create(stack, email="ana.silva@gmail.com", phone="+14155550101")
    _merge(stack, a, b)
    assert set(_identity_items().values()) == {a}
    # When the survivor is deleted
    _delete(stack, a)
    # Then no identity item is left pointing at it, the merged lead's ones included
    assert _identity_items() == {}
    # and the merged lead's email is free again: POST /leads creates a fresh lead
    res = stack.request(
        "POST", "/leads", json_body={"name": "Ana again", "email": "ana.silva@gmail.com"}, claims=ADMIN
    )
    assert res.status == 201, res.text
    # and so is its phone, for a capture: a web form with it creates a lead (not an append to a ghost)
    form = _web_form(stack)
    _submit(stack, form, "Ana from the form", phone="+14155550101")
    leads = stack.request("GET", "/leads", query={"limit": 100}, claims=ADMIN).json()["items"]
    assert [lead["phone"] for lead in leads if lead["source_channel"] == "web_form"] == ["+14155550101"]


def test_merges_of_merges_carry_every_key_and_undo_restores_exactly(stack):
    # Given B merged into A, then A (owning B's keys) merged into C
    a = _create(stack, email="a@example.com")
    b = _create(stack, email="b@example.com")
    c = _create(stack, email="c@example.com")
    _merge(stack, a, b)
    before_second = _table_items()
    second = _merge(stack, c, a)
    # Then every key, B's included, points at C
    assert set(_identity_items().values()) == {c}
    assert len(_identity_items()) == 3
    # When the second merge is undone, A gets back exactly its own and B's keys (every item as before)
    res = stack.request("POST", f"/merges/{second['merge_id']}/undo", claims=ADMIN)
    assert res.status == 200, res.text
    after_undo = _table_items()
    assert set(after_undo) == set(before_second)
    assert {k for k in before_second if before_second[k] != after_undo[k]} == set()
    # When it is merged again and the survivor deleted, every key is free
    _merge(stack, c, a)
    _delete(stack, c)
    assert _identity_items() == {}
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        _create(stack, email=email)


def test_undo_then_delete_of_a_restored_lead_frees_only_its_keys(stack):
    a = _create(stack, email="a@example.com")
    b = _create(stack, email="b@example.com", phone="+14155550102")
    merge = _merge(stack, a, b)
    assert stack.request("POST", f"/merges/{merge['merge_id']}/undo", claims=ADMIN).status == 200
    _delete(stack, b)
    assert _identity_items() == {identity_pk("t1", "email", "a@example.com"): a}
    _delete(stack, a)
    assert _identity_items() == {}


# ----------------------------------------------------------------------------------------------- imports
def _run_import(stack, data: bytes, options: dict[str, Any]) -> dict[str, Any]:
    import requests

    created = stack.request("POST", "/imports", json_body={"filename": "m.csv", **options}, claims=ADMIN)
    assert created.status == 201, created.text
    upload = created.json()["upload"]
    assert requests.put(upload["url"], data=data, headers=upload["headers"], timeout=30).status_code == 200
    stack.settle(max_rounds=200)
    job = stack.request("GET", f"/imports/{created.json()['import_id']}", claims=ADMIN).json()
    assert job["status"] == "completed", job
    return dict(job)


def test_deleting_an_imported_lead_frees_its_unique_custom_field(stack):
    # Given leads imported on a unique custom field (member number), then merged
    res = stack.request(
        "POST",
        "/custom-fields",
        json_body={"key": "member_no", "label": "Member no", "type": "text"},
        claims=ADMIN,
    )
    assert res.status == 201, res.text
    data = b"Member,Name,Email\nM-1,Ana,ana@example.com\nM-2,Bea,bea@example.com\n"
    options = {
        "dedupe": {"strategy": "skip", "key": "custom:member_no"},
        "publish_events": False,
        "mapping": {"columns": {"Member": "custom:member_no", "Name": "name", "Email": "email"}},
    }
    assert _run_import(stack, data, options)["created"] == 2
    ids = _leads_by_email(stack)
    ana, bea = ids["ana@example.com"][0], ids["bea@example.com"][0]
    assert identity_pk("t1", "custom:member_no", "M-2") in _identity_items()
    # and a second import that changes Ana's email (update, matched on the member number)
    changed = b"Member,Name,Email\nM-1,Ana,ana.new@example.com\n"
    update = {**options, "dedupe": {**options["dedupe"], "strategy": "update", "update_mode": "overwrite"}}
    assert _run_import(stack, changed, update)["updated"] == 1
    assert identity_pk("t1", "email", "ana@example.com") not in _identity_items()
    _merge(stack, ana, bea)
    # When the survivor is deleted
    _delete(stack, ana)
    # Then nothing points at it any more, and re-importing the file creates both leads again
    assert _identity_items() == {}
    assert _run_import(stack, data, options)["created"] == 2


def test_rolling_back_an_import_frees_the_keys_merged_into_its_leads(stack):
    data = b"Name,Email\nAna,ana@example.com\n"
    job = _run_import(stack, data, {"publish_events": False})
    ana = _leads_by_email(stack)["ana@example.com"][0]
    bob = _create(stack, email="bob@example.com", phone="+14155550103")
    _merge(stack, ana, bob)
    res = stack.request("POST", f"/imports/{job['import_id']}/rollback", claims=ADMIN)
    assert res.status == 202, res.text
    stack.settle(max_rounds=200)
    assert (
        stack.request("GET", f"/imports/{job['import_id']}", claims=ADMIN).json()["status"] == "rolled_back"
    )
    assert _identity_items() == {}
    _create(stack, email="bob@example.com", phone="+14155550103")


# ---------------------------------------------------------------------------------------------- bulk
def test_bulk_delete_frees_merged_identities(stack):
    a = _create(stack, email="a@example.com")
    b = _create(stack, email="b@example.com")
    keep = _create(stack, email="k@example.com")
    _merge(stack, a, b)
    res = stack.request(
        "POST", "/bulk-actions", json_body={"selection": {"lead_ids": [a]}, "action": "delete"}, claims=ADMIN
    )
    assert res.status == 202, res.text
    stack.settle()
    done = stack.request("GET", f"/bulk-actions/{res.json()['bulk_action_id']}", claims=ADMIN).json()
    assert done["status"] == "completed", done
    assert _identity_items() == {identity_pk("t1", "email", "k@example.com"): keep}
    _create(stack, email="b@example.com")


# ----------------------------------------------------------------------------------- dangling identities
def _dangle(kind: str, value: str, lead_id: str = "d" * 32) -> None:
    """An identity item pointing at a lead whose profile does not exist (data from before this fix, or a
    crash between a profile delete and its identity deletes)."""
    boto3.resource("dynamodb").Table(get_settings().leads_table).put_item(
        Item={"pk": identity_pk("t1", kind, value), "sk": "IDENTITY", "lead_id": lead_id}
    )


def test_an_identity_of_a_missing_lead_is_free_for_the_lead_api(stack):
    _dangle("email", "ghost@example.com")
    _dangle("phone", "+14155550199")
    # POST /leads claims it (conditionally on the stale lead id) instead of answering 409 for a ghost
    lead = _create(stack, email="ghost@example.com")
    assert _identity_items()[identity_pk("t1", "email", "ghost@example.com")] == lead
    # and a profile edit to a dangling phone claims it too
    res = stack.request("PATCH", f"/leads/{lead}", json_body={"phone": "+14155550199"}, claims=ADMIN)
    assert res.status == 200, res.text
    assert _identity_items()[identity_pk("t1", "phone", "+14155550199")] == lead
    # while a live lead's key still answers 409, for a new lead and for a profile edit
    res = stack.request("POST", "/leads", json_body={"name": "X", "email": "ghost@example.com"}, claims=ADMIN)
    assert res.status == 409 and res.json()["error"]["details"][0]["lead_id"] == lead
    other = _create(stack, email="other@example.com")
    res = stack.request("PATCH", f"/leads/{other}", json_body={"email": "ghost@example.com"}, claims=ADMIN)
    assert res.status == 409, res.text
    assert res.json()["error"]["details"][0]["lead_id"] == lead


def test_an_identity_of_a_missing_lead_is_free_for_capture(stack):
    _dangle("email", "ghost@example.com")
    form = _web_form(stack)
    _submit(stack, form, "Gus", "ghost@example.com")
    leads = _leads_by_email(stack)
    assert len(leads.get("ghost@example.com", [])) == 1
    assert _identity_items()[identity_pk("t1", "email", "ghost@example.com")] == leads["ghost@example.com"][0]
    # a second submission appends to that lead
    _submit(stack, form, "Gus", "ghost@example.com")
    assert len(_leads_by_email(stack)["ghost@example.com"]) == 1


@pytest.mark.parametrize("count", [120])
def test_a_survivor_owning_more_keys_than_one_transaction_is_deleted_whole(stack, count):
    from leadtide.leads.ports import LeadChanges

    lead = _create(stack, email="big@example.com")
    repo = get_wiring().lead_repository
    keys = [("email", f"alias{n}@example.com") for n in range(count)]
    for start in range(0, count, 40):
        repo.update_lead("t1", lead, LeadChanges(add_identities=keys[start : start + 40]))  # type: ignore[arg-type]
    assert len(_identity_items()) == count + 1
    _delete(stack, lead)
    assert _identity_items() == {}
