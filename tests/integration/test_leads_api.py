"""Leads API over the template's routes: CRUD, filters, pagination, roles, tenant isolation, errors."""

import json

import pytest

from tests.conftest import REPO_ROOT

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
MANAGER = {"sub": "u-mgr", "custom:tenant_id": "acme", "custom:role": "manager"}
REP = {"sub": "u-rep", "custom:tenant_id": "acme", "custom:role": "rep"}
REP2 = {"sub": "u-rep2", "custom:tenant_id": "acme", "custom:role": "rep"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}

SPEC = (
    json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    if (REPO_ROOT / "docs" / "openapi.json").exists()
    else None
)


@pytest.fixture
def api(stack):
    yield stack
    # Every status the API returned in the test is one the OpenAPI document lists for that route.
    if SPEC is None:
        return
    for route_key, status in stack.seen_statuses:
        method, path = route_key.split(" ", 1)
        operation = SPEC["paths"].get(path, {}).get(method.lower())
        if operation is None:
            continue  # not an Api route (webhooks) or not documented (docs UI)
        assert str(status) in operation["responses"], f"{route_key} returned undocumented {status}"


def _create(api, claims=ADMIN, **body):
    res = api.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()


def test_create_get_update_delete_roundtrip(api):
    lead = _create(
        api,
        name="Ana Souza",
        email="Ana@Example.com",
        phone="+55 11 99999-0000",
        company="Casa Praia",
        tags=["summer"],
    )
    assert (lead["email"], lead["phone"], lead["status"]) == ("ana@example.com", "+5511999990000", "New")
    got = api.request("GET", f"/leads/{lead['lead_id']}", claims=ADMIN).json()
    assert got["company"] == "Casa Praia" and got["tags"] == ["summer"]
    patched = api.request(
        "PATCH",
        f"/leads/{lead['lead_id']}",
        json_body={"status": "Contacted", "owner_id": "u-rep"},
        claims=ADMIN,
    )
    assert patched.status == 200 and patched.json()["status"] == "Contacted"
    timeline = api.request("GET", f"/leads/{lead['lead_id']}/activities", claims=ADMIN).json()["items"]
    assert sorted(a["type"] for a in timeline) == ["owner_change", "status_change"]
    note = api.request(
        "POST", f"/leads/{lead['lead_id']}/notes", json_body={"text": "Wants July"}, claims=REP
    )
    assert note.status == 201 and note.json()["author_id"] == "u-rep"
    assert api.request("GET", "/dashboard/summary", claims=ADMIN).json()["by_status"] == {"Contacted": 1}
    assert api.request("DELETE", f"/leads/{lead['lead_id']}", claims=ADMIN).status == 204
    assert api.request("GET", f"/leads/{lead['lead_id']}", claims=ADMIN).status == 404
    assert api.request("GET", "/dashboard/summary", claims=ADMIN).json()["total_leads"] == 0


def test_duplicates_are_refused_with_409_naming_the_lead(api):
    lead = _create(api, email="a@example.com")
    res = api.request("POST", "/leads", json_body={"email": "A@EXAMPLE.COM"}, claims=ADMIN)
    assert res.status == 409
    assert res.json()["error"]["details"][0]["lead_id"] == lead["lead_id"]


def test_tenant_isolation(api):
    # Given a lead of tenant acme
    lead = _create(api, email="secret@acme.com")
    lid = lead["lead_id"]
    # Then tenant globex can neither list, read, change, annotate nor delete it
    assert api.request("GET", "/leads", claims=OTHER).json()["items"] == []
    assert api.request("GET", f"/leads/{lid}", claims=OTHER).status == 404
    assert api.request("PATCH", f"/leads/{lid}", json_body={"status": "Lost"}, claims=OTHER).status == 404
    assert api.request("POST", f"/leads/{lid}/notes", json_body={"text": "x"}, claims=OTHER).status == 404
    assert api.request("GET", f"/leads/{lid}/activities", claims=OTHER).status == 404
    assert api.request("DELETE", f"/leads/{lid}", claims=OTHER).status == 404
    assert api.request("GET", "/dashboard/summary", claims=OTHER).json()["total_leads"] == 0
    # And the same email is free in globex
    assert _create(api, claims=OTHER, email="secret@acme.com")["tenant_id"] == "globex"
    assert api.request("GET", f"/leads/{lid}", claims=ADMIN).json()["status"] == "New"


def test_a_cursor_cannot_be_replayed_into_another_tenant(api):
    for i in range(3):
        _create(api, email=f"p{i}@acme.com")
    page = api.request("GET", "/leads", query={"limit": 1}, claims=ADMIN).json()
    assert page["next_cursor"]
    stolen = api.request("GET", "/leads", query={"limit": 1, "cursor": page["next_cursor"]}, claims=OTHER)
    assert stolen.status == 400 and stolen.json()["error"]["code"] == "invalid_request"
    garbage = api.request("GET", "/leads", query={"cursor": "!!!not-a-cursor"}, claims=ADMIN)
    assert garbage.status == 400


def test_rep_visibility_and_permissions(api):
    mine = _create(api, claims=REP, email="mine@x.com")
    theirs = _create(api, claims=REP2, email="theirs@x.com")
    free = _create(api, claims=ADMIN, email="free@x.com")
    ids = {lead["lead_id"] for lead in api.request("GET", "/leads", claims=REP).json()["items"]}
    assert ids == {mine["lead_id"], free["lead_id"]}
    assert api.request("GET", f"/leads/{theirs['lead_id']}", claims=REP).status == 403
    assert (
        api.request("PATCH", f"/leads/{theirs['lead_id']}", json_body={"status": "Lost"}, claims=REP).status
        == 403
    )
    assert api.request("DELETE", f"/leads/{mine['lead_id']}", claims=REP).status == 403
    assert api.request("GET", "/channels", claims=REP).status == 403
    assert api.request("GET", "/channels", claims=MANAGER).status == 403
    assert len(api.request("GET", "/leads", claims=MANAGER).json()["items"]) == 3


def test_filters_search_sort_and_pagination(api):
    created = [
        _create(api, name=f"Lead {i}", email=f"l{i}@shop.com", company="Surf Co" if i % 2 else "Ski Co")
        for i in range(7)
    ]
    api.request("PATCH", f"/leads/{created[0]['lead_id']}", json_body={"status": "Lost"}, claims=ADMIN)
    lost = api.request("GET", "/leads", query={"status": "Lost"}, claims=ADMIN).json()["items"]
    assert [lead["lead_id"] for lead in lost] == [created[0]["lead_id"]]
    surf = api.request("GET", "/leads", query={"q": "surf"}, claims=ADMIN).json()["items"]
    assert len(surf) == 3
    manual = api.request(
        "GET", "/leads", query={"source": "manual", "owner": "unassigned"}, claims=ADMIN
    ).json()
    assert len(manual["items"]) == 7
    seen, cursor = [], None
    while True:
        query = {"limit": 3, "sort": "created", "order": "asc"} | ({"cursor": cursor} if cursor else {})
        page = api.request("GET", "/leads", query=query, claims=ADMIN).json()
        seen += [lead["lead_id"] for lead in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [lead["lead_id"] for lead in created]
    newest_first = api.request("GET", "/leads", query={"limit": 2}, claims=ADMIN).json()["items"]
    assert [lead["lead_id"] for lead in newest_first] == [created[6]["lead_id"], created[5]["lead_id"]]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/leads", {"query": {"limit": 0}}, 422),
        ("GET", "/leads", {"query": {"limit": 101}}, 422),
        ("GET", "/leads", {"query": {"status": "Won"}}, 422),
        ("GET", "/leads", {"query": {"created_from": "yesterday"}}, 422),
        ("GET", "/leads", {"query": {"sort": "name"}}, 422),
        ("POST", "/leads", {"body": "{broken"}, 400),
        ("POST", "/leads", {"json_body": {"email": "not-an-email"}}, 422),
        ("POST", "/leads", {"json_body": {"phone": "12"}}, 422),
        ("POST", "/leads", {"json_body": {"email": "a@b.co", "unknown": 1}}, 422),
        ("POST", "/leads", {"json_body": ["a list"]}, 422),
        ("GET", "/leads/not-an-id", {}, 404),
        ("GET", "/leads/" + "0" * 32, {}, 404),
        ("PATCH", "/leads/" + "0" * 32, {"json_body": {"status": "Lost"}}, 404),
        ("POST", "/leads/" + "0" * 32 + "/notes", {"json_body": {"text": ""}}, 422),
        ("POST", "/channels", {"json_body": {"type": "fax"}}, 422),
        ("POST", "/channels", {"json_body": {"type": "whatsapp", "phone_number_id": "12"}}, 422),
        (
            "POST",
            "/channels",
            {"json_body": {"type": "web_form", "name": "x", "fields": [{"name": "Bad Name"}]}},
            422,
        ),
        ("DELETE", "/channels/nope", {}, 404),
    ],
)
def test_bad_input_gets_a_clear_4xx_in_one_error_shape(api, method, path, kwargs, status):
    res = api.request(
        method, path, claims=ADMIN, **({"headers": {"content-type": "application/json"}} | kwargs)
    )
    assert res.status == status, res.text
    error = res.json()["error"]
    assert error["code"] and error["message"]


def test_unauthenticated_and_malformed_claims(api):
    assert api.request("GET", "/leads").status == 401
    res = api.request("GET", "/leads", claims={"sub": "x", "custom:role": "admin"})
    assert res.status == 401 and res.json()["error"]["code"] == "unauthenticated"


def test_openapi_document_is_served_and_matches_the_committed_one(api):
    served = api.request("GET", "/openapi.json").json()
    committed = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    assert served == committed, "docs/openapi.json is stale: run `make openapi`"
    assert set(committed["paths"]) >= {
        "/leads",
        "/leads/{lead_id}",
        "/leads/{lead_id}/activities",
        "/leads/{lead_id}/notes",
        "/dashboard/summary",
        "/channels",
        "/channels/{channel_id}",
    }
    docs = api.request("GET", "/docs")
    assert docs.status == 200 and "swagger" in docs.text.lower()


def test_a_rep_s_dashboard_counts_only_the_leads_the_rep_can_see(api):
    # Given leads of two reps, unassigned ones and another tenant's
    _create(api, email="r1a@x.io", owner_id="u-rep", status="Contacted")
    _create(api, email="r1b@x.io", owner_id="u-rep")
    _create(api, email="r2a@x.io", owner_id="u-rep2", status="Contacted")
    _create(api, email="r2b@x.io", owner_id="u-rep2", status="Lost")
    _create(api, email="r2c@x.io", owner_id="u-rep2")
    _create(api, email="free@x.io")
    _create(api, OTHER, email="g@x.io")
    # Then admins and managers see the tenant's counters
    everything = {
        "total_leads": 6,
        "by_status": {"Contacted": 2, "Lost": 1, "New": 3},
        "by_source": {"manual": 6},
    }
    assert api.request("GET", "/dashboard/summary", claims=ADMIN).json() == everything
    assert api.request("GET", "/dashboard/summary", claims=MANAGER).json() == everything
    # and each rep only their own and the unassigned leads (what GET /leads shows them)
    rep = api.request("GET", "/dashboard/summary", claims=REP).json()
    assert rep == {"total_leads": 3, "by_status": {"Contacted": 1, "New": 2}, "by_source": {"manual": 3}}
    assert len(api.request("GET", "/leads", claims=REP).json()["items"]) == rep["total_leads"]
    rep2 = api.request("GET", "/dashboard/summary", claims=REP2).json()
    assert rep2 == {
        "total_leads": 4,
        "by_status": {"Contacted": 1, "Lost": 1, "New": 2},
        "by_source": {"manual": 4},
    }
