"""One selection shape on every route that acts on a selection of leads: `{"selection": {...}}` with exactly
one of lead_ids, list_id, segment_id or filter (the `GET /leads` filters), on lists, exports and bulk
actions; the older spellings (top-level `lead_ids`/`filter` on lists, top-level filters on exports) keep
working for a deprecation period and are documented as deprecated."""

import json

import pytest

from tests.conftest import REPO_ROOT

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}


def _lead(stack, **body):
    res = stack.request("POST", "/leads", json_body=body, claims=ADMIN)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _list(stack):
    res = stack.request("POST", "/lists", json_body={"name": "Fair"}, claims=ADMIN)
    assert res.status == 201, res.text
    return res.json()["list_id"]


def _members(stack, list_id):
    res = stack.request("GET", f"/lists/{list_id}/leads", query={"limit": 100}, claims=ADMIN)
    assert res.status == 200, res.text
    return {row["lead_id"] for row in res.json()["items"]}


@pytest.fixture
def leads(stack):
    return {
        "vip_new": _lead(stack, email="a@x.com", tags=["vip"]),
        "vip_contacted": _lead(stack, email="b@x.com", tags=["vip"], status="Contacted"),
        "plain": _lead(stack, email="c@x.com"),
    }


@pytest.mark.parametrize(
    "body",
    [
        {"selection": {"filter": {"tag": ["vip"]}}},  # the one shape
        {"filter": {"tag": ["vip"]}},  # deprecated spelling, still accepted
    ],
)
def test_lists_add_by_a_filter_selection_in_either_spelling(stack, leads, body):
    list_id = _list(stack)
    res = stack.request("POST", f"/lists/{list_id}/leads", json_body=body, claims=ADMIN)
    assert res.status == 200, res.text
    assert res.json()["added"] == 2
    assert _members(stack, list_id) == {leads["vip_new"], leads["vip_contacted"]}


@pytest.mark.parametrize("spelling", ["selection", "deprecated"])
def test_lists_add_and_remove_by_ids_in_either_spelling(stack, leads, spelling):
    list_id = _list(stack)
    ids = [leads["plain"], leads["vip_new"]]
    wrap = (lambda s: {"selection": s}) if spelling == "selection" else (lambda s: s)
    added = stack.request("POST", f"/lists/{list_id}/leads", json_body=wrap({"lead_ids": ids}), claims=ADMIN)
    assert added.status == 200 and added.json()["added"] == 2, added.text
    removed = stack.request(
        "DELETE", f"/lists/{list_id}/leads", json_body=wrap({"lead_ids": [leads["plain"]]}), claims=ADMIN
    )
    assert removed.status == 200 and removed.json()["removed"] == 1, removed.text
    assert _members(stack, list_id) == {leads["vip_new"]}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"selection": {"filter": {}}, "filter": {}}, "not both"),
        ({"selection": {"lead_ids": ["a" * 32]}, "lead_ids": ["a" * 32]}, "not both"),
        ({}, "selection"),
        ({"selection": {"segment_id": "s1"}}, "bulk-actions"),
        ({"selection": {"list_id": "l1"}}, "bulk-actions"),
        ({"selection": {"lead_ids": [f"{i:032x}" for i in range(1001)]}}, "1000"),
        ({"selection": {"filter": {"tags": ["vip"]}}}, "tags"),
    ],
)
def test_lists_refuse_what_they_cannot_add_naming_it(stack, body, needle):
    list_id = _list(stack)
    res = stack.request("POST", f"/lists/{list_id}/leads", json_body=body, claims=ADMIN)
    assert res.status == 422, res.text
    assert needle in res.text


@pytest.mark.parametrize(
    "body",
    [
        {"format": "csv", "selection": {"filter": {"status": "New", "q": "a@x"}}},  # the one shape
        {"format": "csv", "status": "New", "q": "a@x"},  # deprecated top-level filters
    ],
)
def test_exports_take_the_filter_selection_in_either_spelling(stack, leads, body):
    res = stack.request("POST", "/exports", json_body=body, claims=ADMIN)
    assert res.status == 202, res.text
    export = res.json()
    assert export["selection"] == {"filter": {"status": "New", "q": "a@x"}}
    stack.settle()
    done = stack.request("GET", f"/exports/{export['export_id']}", claims=ADMIN).json()
    assert (done["status"], done["rows"]) == ("completed", 1)


def test_new_filters_exist_only_in_the_one_shape(stack, leads):
    res = stack.request("POST", "/exports", json_body={"format": "csv", "tag": ["vip"]}, claims=ADMIN)
    assert res.status == 422 and "tag" in res.text
    ok = stack.request(
        "POST",
        "/exports",
        json_body={"format": "csv", "selection": {"filter": {"tag": ["vip"]}}},
        claims=ADMIN,
    )
    assert ok.status == 202, ok.text


def test_bulk_actions_take_the_same_selection(stack, leads):
    list_id = _list(stack)
    body = {
        "selection": {"filter": {"tag": ["vip"]}},
        "action": "add_to_list",
        "params": {"list_id": list_id},
    }
    res = stack.request("POST", "/bulk-actions", json_body=body, claims=ADMIN)
    assert res.status == 202, res.text
    stack.settle()
    assert _members(stack, list_id) == {leads["vip_new"], leads["vip_contacted"]}


def test_the_document_marks_the_old_spellings_deprecated():
    schemas = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())["components"]["schemas"]
    selection_ref = "#/components/schemas/LeadSelection"
    for name, old in (("ListLeadsAdd", ("lead_ids", "filter")), ("ListLeadsRemove", ("lead_ids",))):
        properties = schemas[name]["properties"]
        assert selection_ref in json.dumps(properties["selection"]), name
        for field in old:
            assert properties[field].get("deprecated") is True, (name, field)
    export = schemas["ExportCreate"]["properties"]
    assert selection_ref in json.dumps(export["selection"])
    for field in ("status", "source", "owner", "grade", "created_from", "created_to", "q"):
        assert export[field].get("deprecated") is True, field
    assert "selection" in schemas["BulkActionCreate"]["required"]
