"""Backfill of lead profiles' derived attributes on the local stack (moto): profiles stripped of what older
writers did not store (condition-index keys, search text, score sort key, ``identity_keys``) get it back
through ``POST /admin/backfill`` + the jobs queue, exactly as a fresh write stores it; segment previews find
them again through the condition index; deleting a backfilled lead frees its identity items (a unique custom
field's included); another tenant is untouched; a profile edited between read and write is skipped and fixed
by the next run."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from leadtide.dal.items import identity_pk, lead_pk
from leadtide.dal.lead_backfill import DynamoProfileBackfillStore
from leadtide.dal.segments import DynamoSegmentRepository
from leadtide.settings import get_settings
from tests.integration.test_identity_cleanup import _identity_items, _leads_by_email, _run_import

ADMIN = {"sub": "u-admin", "custom:tenant_id": "t1", "custom:role": "admin"}
MANAGER = {"sub": "u-mgr", "custom:tenant_id": "t1", "custom:role": "manager"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "t2", "custom:role": "admin"}
DERIVED = ["cond_pk", "cond_sk", "search_text", "score_sk", "identity_keys"]
ACME = {"field": "company", "op": "eq", "value": "Acme"}


def _create(stack, claims=ADMIN, **body: Any) -> str:
    res = stack.request("POST", "/leads", json_body={"name": "Lead", **body}, claims=claims)
    assert res.status == 201, res.text
    return str(res.json()["lead_id"])


def _client() -> Any:
    return boto3.client("dynamodb")


def _profile(tenant: str, lead_id: str) -> dict[str, Any]:
    got = _client().get_item(
        TableName=get_settings().leads_table,
        Key={"pk": {"S": lead_pk(tenant, lead_id)}, "sk": {"S": "PROFILE"}},
        ConsistentRead=True,
    )
    item = dict(got["Item"])
    for name, value in item.items():  # string sets compare as sets (moto keeps insertion order)
        if "SS" in value:
            item[name] = {"SS": sorted(value["SS"])}
    return item


def _strip(tenant: str, lead_id: str, names: list[str] = DERIVED) -> None:
    """Simulate a profile written before these attributes existed."""
    _client().update_item(
        TableName=get_settings().leads_table,
        Key={"pk": {"S": lead_pk(tenant, lead_id)}, "sk": {"S": "PROFILE"}},
        UpdateExpression="REMOVE " + ", ".join(f"#a{i}" for i in range(len(names))),
        ExpressionAttributeNames={f"#a{i}": name for i, name in enumerate(names)},
    )


def _preview(stack, monkeypatch, claims=ADMIN) -> set[str]:
    with monkeypatch.context() as patch:  # the condition index must answer, not leads_by_created
        patch.setattr(DynamoSegmentRepository, "read_lead_records", _refuse)
        res = stack.request(
            "POST", "/segments/preview", json_body={"include": ACME, "sample_size": 50}, claims=claims
        )
    assert res.status == 200, res.text
    return {row["lead_id"] for row in res.json()["sample"]}


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("preview read leads_by_created")


def _backfill(stack, claims=ADMIN) -> None:
    res = stack.request("POST", "/admin/backfill", claims=claims)
    assert res.status == 202, res.text
    assert res.json()["tenant_id"] == claims["custom:tenant_id"]
    stack.settle()


def test_backfill_restores_stripped_profiles_exactly(stack, monkeypatch):
    # Given leads of two tenants, written by today's code, then stripped to look like old profiles
    ids = [
        _create(stack, email="ann@acme.example", phone="+14155550101", company="Acme"),
        _create(stack, email="bo@acme.example", company="Acme", tags=["vip"]),
        _create(stack, phone="+14155550103", company="Acme"),
        _create(stack, email="cy@other.example", company="Other"),
    ]
    other = _create(stack, OTHER, email="ann@acme.example", company="Acme")
    stack.settle()  # scoring writes score, score_sk... first
    fresh = {lead_id: _profile("t1", lead_id) for lead_id in ids}
    assert all("cond_pk" in item and "identity_keys" in item for item in fresh.values())
    assert _preview(stack, monkeypatch) == set(ids[:3])
    for lead_id in ids:
        _strip("t1", lead_id)
    _strip("t2", other)
    assert _preview(stack, monkeypatch) == set()  # invisible to the condition index
    # When a manager tries, then an admin runs the backfill, with 2 profiles per step (several steps)
    assert stack.request("POST", "/admin/backfill", claims=MANAGER).status == 403
    monkeypatch.setattr("leadtide.leads.backfill.PAGE_SIZE", 2)
    _backfill(stack)
    # Then every profile is exactly what a fresh write stored, and previews find the leads again
    for lead_id in ids:
        assert _profile("t1", lead_id) == fresh[lead_id]
    assert _preview(stack, monkeypatch) == set(ids[:3])
    # and the other tenant is untouched
    assert not {"cond_pk", "identity_keys", "search_text"} & set(_profile("t2", other))
    assert _preview(stack, monkeypatch, OTHER) == set()
    # and a second run writes nothing
    before = {lead_id: _profile("t1", lead_id) for lead_id in ids}
    calls: list[Any] = []
    real_apply = DynamoProfileBackfillStore.apply
    monkeypatch.setattr(
        DynamoProfileBackfillStore, "apply", lambda self, *a: calls.append(a) or real_apply(self, *a)
    )
    _backfill(stack)
    assert calls == []
    assert {lead_id: _profile("t1", lead_id) for lead_id in ids} == before


def test_deleting_a_backfilled_imported_lead_frees_its_unique_custom_field(stack):
    # Given leads imported on a unique custom field (the member number), stripped of identity_keys
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
    expected = {lead_id: _profile("t1", lead_id)["identity_keys"]["SS"] for lead_id in (ana, bea)}
    assert "custom:member_no#M-1" in expected[ana]
    _strip("t1", ana)
    _strip("t1", bea)
    # When the backfill runs
    _backfill(stack)
    # Then identity_keys is back (the custom key included), and delete frees every key of the lead
    for lead_id in (ana, bea):
        assert sorted(_profile("t1", lead_id)["identity_keys"]["SS"]) == sorted(expected[lead_id])
    assert stack.request("DELETE", f"/leads/{ana}", claims=ADMIN).status == 204
    assert _identity_items() == {
        identity_pk("t1", "email", "bea@example.com"): bea,
        identity_pk("t1", "custom:member_no", "M-2"): bea,
    }


def test_backfill_never_claims_identities_of_other_leads(stack):
    # Given a lead whose email identity item names another lead (a key released and claimed meanwhile)
    a = _create(stack, email="a@example.com", company="Acme")
    b = _create(stack, email="b@example.com", company="Acme")
    _strip("t1", a)
    _client().put_item(
        TableName=get_settings().leads_table,
        Item={
            "pk": {"S": identity_pk("t1", "email", "a@example.com")},
            "sk": {"S": "IDENTITY"},
            "lead_id": {"S": b},
        },
    )
    _backfill(stack)
    item = _profile("t1", a)
    assert "cond_pk" in item  # the rest is restored
    assert "identity_keys" not in item  # but nothing names a, so it owns no key
    assert _identity_items()[identity_pk("t1", "email", "a@example.com")] == b


def test_profile_edited_between_read_and_write_is_skipped_then_fixed(stack, monkeypatch):
    # Given two stripped profiles
    a = _create(stack, email="a@example.com", company="Acme")
    b = _create(stack, email="b@example.com", company="Acme")
    stack.settle()
    for lead_id in (a, b):
        _strip("t1", lead_id)
    # When lead a is edited through the API after the backfill read it and before it wrote
    real_apply = DynamoProfileBackfillStore.apply
    skipped: list[str] = []

    def edit_first(self, tenant_id, profile, patch):
        if profile.lead_id == a and not skipped:
            res = stack.request("PATCH", f"/leads/{a}", json_body={"company": "Acme Corp"}, claims=ADMIN)
            assert res.status == 200, res.text
            ok = real_apply(self, tenant_id, profile, patch)
            skipped.append(a if not ok else "")
            return ok
        return real_apply(self, tenant_id, profile, patch)

    monkeypatch.setattr(DynamoProfileBackfillStore, "apply", edit_first)
    _backfill(stack)
    # Then the edit won (nothing written over it; a still lacks the index keys), b is fixed
    assert skipped == [a]
    item = _profile("t1", a)
    assert item["company"]["S"] == "Acme Corp"
    assert "cond_pk" not in item
    assert "cond_pk" in _profile("t1", b)
    # and the next run fixes a, with its edited values
    _backfill(stack)
    item = _profile("t1", a)
    assert item["company"]["S"] == "Acme Corp"
    assert item["cond_pk"]["S"].startswith("T#t1#COND#") and item["cond_sk"]["S"] == a
    assert item["identity_keys"]["SS"] == ["email#a@example.com"]
    assert "acme corp" in item["search_text"]["S"]


@pytest.mark.parametrize("claims", [MANAGER, {**MANAGER, "custom:role": "rep"}])
def test_only_admins_start_a_backfill(stack, claims):
    res = stack.request("POST", "/admin/backfill", claims=claims)
    assert res.status == 403, res.text
    assert res.json()["error"]["code"] == "admin_only"


def test_score_changed_without_updated_at_between_read_and_write_is_skipped(stack, monkeypatch):
    # Given a stripped profile whose score the scoring worker changes (score + score_sk, not updated_at)
    # after the backfill read it
    a = _create(stack, email="a@example.com", company="Acme")
    stack.settle()
    _strip("t1", a, ["score_sk", "cond_pk", "cond_sk"])
    real_apply = DynamoProfileBackfillStore.apply
    results: list[bool] = []

    def rescore_first(self, tenant_id, profile, patch):
        if not results:
            _client().update_item(
                TableName=get_settings().leads_table,
                Key={"pk": {"S": lead_pk("t1", a)}, "sk": {"S": "PROFILE"}},
                UpdateExpression="SET #s = :s, score_sk = :k",
                ExpressionAttributeNames={"#s": "score"},
                ExpressionAttributeValues={":s": {"N": "77"}, ":k": {"S": f"077#{a}"}},
            )
        results.append(real_apply(self, tenant_id, profile, patch))
        return results[-1]

    monkeypatch.setattr(DynamoProfileBackfillStore, "apply", rescore_first)
    _backfill(stack)
    # Then the scoring write wins (no stale score_sk written over it); the next run adds the index keys
    assert results == [False]
    assert _profile("t1", a)["score_sk"]["S"] == f"077#{a}"
    assert "cond_pk" not in _profile("t1", a)
    _backfill(stack)
    assert results == [False, True]
    item = _profile("t1", a)
    assert item["score_sk"]["S"] == f"077#{a}" and item["cond_sk"]["S"] == a
