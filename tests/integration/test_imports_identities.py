"""Imports and identity items on moto: a chunk redelivered after its writes landed keeps the identities its
updates claimed; an identity item naming a lead whose profile is gone is free for an import."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from leadtide.dal.import_bulk import DynamoLeadBulkStore
from leadtide.dal.items import identity_pk, lead_pk
from leadtide.dal.leads import PROFILE
from tests.integration.test_imports_flow import claims, run_import


def owner(stack, kind: str, value: str, tenant: str = "t1") -> str | None:
    item = boto3.client("dynamodb").get_item(
        TableName=stack.resources.tables["LeadsTable"],
        Key={"pk": {"S": identity_pk(tenant, kind, value)}, "sk": {"S": "IDENTITY"}},
        ConsistentRead=True,
    )
    return item.get("Item", {}).get("lead_id", {}).get("S")


def leads_by_email(stack) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for lead in stack.request("GET", "/leads", claims=claims(stack)).json()["items"]:
        found.setdefault(lead["email"], []).append(lead)
    return found


def test_a_chunk_redelivered_after_its_update_landed_keeps_the_claimed_identities(stack, monkeypatch):
    # Given a lead imported with an email only
    run_import(stack, "a.csv", b"email,first name\nada@example.com,Ada\n")
    (ada,) = leads_by_email(stack)["ada@example.com"]
    # And the chunk step of an update import that crashes right after its writes landed (before the
    # revised plan is saved and the chunk committed): SQS redelivers it
    real = DynamoLeadBulkStore.write_leads
    crashes: list[int] = []

    def crash_after_writes(self, tenant_id, writes, *, replay=False):
        conflicts = real(self, tenant_id, writes, replay=replay)
        if not crashes:
            crashes.append(len(writes))
            raise RuntimeError("simulated crash after the writes")
        return conflicts

    monkeypatch.setattr(DynamoLeadBulkStore, "write_leads", crash_after_writes)
    second = b"email,first name,phone\nada@example.com,Augusta,+14155550101\n"
    job = run_import(stack, "b.csv", second, {"dedupe": {"strategy": "update", "update_mode": "overwrite"}})
    assert crashes == [1]
    stack.settle(max_rounds=50)  # the redelivery
    job = stack.request("GET", f"/imports/{job['import_id']}", claims=claims(stack)).json()
    # Then the redelivery counts the update as applied
    assert (job["status"], job["updated"], job["failed"]) == ("completed", 1, 0)
    stored = stack.request("GET", f"/leads/{ada['lead_id']}", claims=claims(stack)).json()
    assert (stored["first_name"], stored["phone"]) == ("Augusta", "+14155550101")
    # And the phone it claimed still names the lead (de-duplication still matches it)
    assert owner(stack, "phone", "+14155550101") == ada["lead_id"]
    assert owner(stack, "email", "ada@example.com") == ada["lead_id"]
    again = run_import(
        stack, "c.csv", b"phone,company\n+14155550101,Analytical\n", {"dedupe": {"key": "phone"}}
    )
    assert (again["created"], again["skipped"]) == (0, 1)


@pytest.mark.parametrize("strategy", ["skip", "update", "create"])
def test_an_identity_naming_a_missing_lead_is_free_for_an_import(stack, strategy):
    # Given a lead whose profile item is gone but whose email identity item remains (old data, a crash)
    created = stack.request(
        "POST", "/leads", json_body={"email": "ghost@example.com", "name": "Ghost"}, claims=claims(stack)
    )
    assert created.status == 201, created.text
    ghost = created.json()["lead_id"]
    boto3.client("dynamodb").delete_item(
        TableName=stack.resources.tables["LeadsTable"],
        Key={"pk": {"S": lead_pk("t1", ghost)}, "sk": {"S": PROFILE}},
    )
    assert owner(stack, "email", "ghost@example.com") == ghost
    # When a row with that email is imported
    job = run_import(
        stack,
        "g.csv",
        b"email,first name\nghost@example.com,Casper\n",
        {"dedupe": {"strategy": strategy, "update_mode": "overwrite"}},
    )
    # Then a new lead is created and owns the email
    assert (job["status"], job["created"], job["skipped"], job["updated"]) == ("completed", 1, 0, 0)
    (lead,) = leads_by_email(stack)["ghost@example.com"]
    assert lead["lead_id"] != ghost
    stored = stack.request("GET", f"/leads/{lead['lead_id']}", claims=claims(stack)).json()
    assert stored["first_name"] == "Casper"
    assert owner(stack, "email", "ghost@example.com") == lead["lead_id"]
    # And a re-import with skip matches it
    again = run_import(stack, "g2.csv", b"email\nghost@example.com\n", {"dedupe": {"strategy": "skip"}})
    assert (again["created"], again["skipped"]) == (0, 1)
