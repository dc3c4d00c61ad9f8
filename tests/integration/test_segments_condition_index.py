"""The sharded condition index (``leads_by_condition_shard``) on the local stack: after creates, updates,
deletes, list changes, an import and a merge (and its undo), the index holds exactly what the lead profiles
hold for every projected attribute, and ``POST /segments/preview`` answers the same from it as from
``leads_by_created`` (count, evaluated, sample and its order), for admins and reps."""

from __future__ import annotations

import pytest

from leadtide.dal.items import CONDITION_INDEX_ATTRIBUTES, CONDITION_SHARDS
from leadtide.dal.segments import DynamoSegmentRepository
from tests.integration.test_imports_flow import run_import

ADMIN = {"sub": "u-admin", "custom:tenant_id": "t1", "custom:role": "admin"}
REP = {"sub": "u-rep", "custom:tenant_id": "t1", "custom:role": "rep"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "t2", "custom:role": "admin"}

RULES = [
    ({"field": "status", "op": "eq", "value": "Contacted"}, None),
    (
        {
            "any": [
                {"field": "tags", "op": "has_any", "value": ["vip"]},
                {"field": "company", "op": "contains", "value": "acme"},
            ]
        },
        {"field": "status", "op": "eq", "value": "Lost"},
    ),
    (
        {
            "all": [
                {"not": {"field": "email", "op": "ends_with", "value": "@b.example"}},
                {"field": "created_at", "op": "within_last", "value": {"days": 3}},
            ]
        },
        None,
    ),
    ({"field": "owner_id", "op": "is_empty"}, None),
]


def _lead(stack, claims=ADMIN, **body):
    res = stack.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _records(reader, tenant):
    out = {}
    for page in reader(tenant, CONDITION_INDEX_ATTRIBUTES):
        for record in page.records:
            assert record["lead_id"] not in out
            out[record["lead_id"]] = record
    return out


def _assert_index_equals_profiles(tenant="t1"):
    repo = DynamoSegmentRepository()
    from_index = _records(repo.read_condition_records, tenant)
    from_profiles = _records(repo.read_lead_records, tenant)
    assert from_index == from_profiles
    return from_index


def _preview(stack, monkeypatch, include, exclude, claims, *, index: bool):
    with monkeypatch.context() as patch:
        if index:  # the old path must not be taken
            patch.setattr(DynamoSegmentRepository, "read_lead_records", _refuse)
        else:  # no condition index: the old path
            patch.setattr(DynamoSegmentRepository, "condition_attributes", property(lambda self: frozenset()))
        body = {"include": include, "sample_size": 5}
        if exclude is not None:
            body["exclude"] = exclude
        res = stack.request("POST", "/segments/preview", json_body=body, claims=claims)
    assert res.status == 200, res.text
    got = res.json()
    return got["count"], got["evaluated"], [row["lead_id"] for row in got["sample"]]


def _refuse(*args, **kwargs):
    raise AssertionError("the preview read leads_by_created although the condition index covers the rules")


def _assert_previews_agree(stack, monkeypatch):
    for include, exclude in RULES:
        for claims in (ADMIN, REP):
            from_index = _preview(stack, monkeypatch, include, exclude, claims, index=True)
            from_profiles = _preview(stack, monkeypatch, include, exclude, claims, index=False)
            assert from_index == from_profiles, (include, claims["custom:role"])


def test_index_follows_every_profile_write_and_previews_agree(stack, monkeypatch):
    # Given leads created by hand (some by a rep, some assigned), across tenants
    ids = [
        _lead(
            stack,
            email=f"p{i}@{'ab'[i % 2]}.example",
            status=["New", "Contacted", "Lost"][i % 3],
            company=["Acme Co", "Globex", None][i % 3],
            tags=[["vip"], [], ["fair", "vip"]][i % 3],
            owner_id="u-rep" if i % 4 == 0 else ("u-other" if i % 4 == 1 else None),
        )
        for i in range(14)
    ]
    rep_lead = _lead(stack, claims=REP, email="mine@a.example", status="Contacted")
    _lead(stack, claims=OTHER, email="p1@a.example", status="Contacted")
    index = _assert_index_equals_profiles()
    assert len(index) == 15
    # (only profiles are in the index, and only the tenant's)
    assert _records(DynamoSegmentRepository().read_condition_records, "t2").keys().isdisjoint(index)

    # When leads are updated, deleted and added to a static list
    for lead_id in ids[:4]:
        res = stack.request(
            "PATCH",
            f"/leads/{lead_id}",
            json_body={"status": "Contacted", "tags": ["vip", "new"], "owner_id": None},
            claims=ADMIN,
        )
        assert res.status == 200, res.text
    for lead_id in ids[4:6]:
        assert stack.request("DELETE", f"/leads/{lead_id}", claims=ADMIN).status in (200, 204)
    created = stack.request("POST", "/lists", json_body={"name": "fair"}, claims=ADMIN)
    assert created.status == 201, created.text
    list_id = created.json()["list_id"]
    added = stack.request(
        "POST", f"/lists/{list_id}/leads", json_body={"lead_ids": [*ids[6:9], rep_lead]}, claims=ADMIN
    )
    assert added.status == 200, added.text
    stack.settle()
    index = _assert_index_equals_profiles()
    assert len(index) == 13
    assert {ids[6], ids[7], ids[8], rep_lead} == {
        k for k, r in index.items() if list_id in r.get("list_ids", ())
    }
    _assert_previews_agree(stack, monkeypatch)
    # a rule on the list reads the index too
    on_list = _preview(
        stack, monkeypatch, {"field": "lists", "op": "in", "value": [list_id]}, None, ADMIN, index=True
    )
    assert on_list[0] == 4

    # When a file is imported (batch writes through the raw encoder)
    rows = "email,company,status\n" + "".join(f"imp{i}@a.example,Acme Imports,Contacted\n" for i in range(6))
    job = run_import(stack, "few.csv", rows.encode())
    assert job["created"] == 6, job
    index = _assert_index_equals_profiles()
    assert len(index) == 19
    _assert_previews_agree(stack, monkeypatch)

    # When two leads are merged, then the merge is undone (whole items written back)
    merged = stack.request(
        "POST",
        "/leads/merge",
        json_body={"survivor_id": ids[9], "merged_ids": [ids[10]], "rule": "keep_most_recent"},
        claims=ADMIN,
    )
    assert merged.status == 200, merged.text
    stack.settle()
    index = _assert_index_equals_profiles()
    assert ids[10] not in index and len(index) == 18
    _assert_previews_agree(stack, monkeypatch)
    undone = stack.request("POST", f"/merges/{merged.json()['merge_id']}/undo", claims=ADMIN)
    assert undone.status == 200, undone.text
    stack.settle()
    index = _assert_index_equals_profiles()
    assert ids[10] in index and len(index) == 19
    _assert_previews_agree(stack, monkeypatch)


def test_index_spreads_leads_over_shards_and_unprojected_fields_fall_back(stack, monkeypatch):
    for i in range(40):
        _lead(stack, email=f"s{i}@a.example", status="New")
    pages = list(DynamoSegmentRepository().read_condition_records("t1", ["status"]))
    shards = {page.extra["shard"] for page in pages if page.records}
    assert len(shards) >= CONDITION_SHARDS // 2  # 40 ids over 16 shards: P(fewer than 8 used) is negligible
    assert sum(len(page.records) for page in pages) == 40

    with pytest.raises(ValueError, match="last_message_preview"):
        next(DynamoSegmentRepository().read_condition_records("t1", ["last_message_preview"]))

    # a field the index does not project is read from the profiles (the index reader is not called)
    def refuse(*args, **kwargs):
        raise AssertionError("the index does not project last_message_preview")

    monkeypatch.setattr(DynamoSegmentRepository, "read_condition_records", refuse)
    res = stack.request(
        "POST",
        "/segments/preview",
        json_body={"include": {"field": "last_message_preview", "op": "is_empty"}},
        claims=ADMIN,
    )
    assert res.status == 200, res.text
    assert res.json()["count"] == 40
