"""Inbox and timeline filters over the template's routes (tag, custom field, last activity, activity type
and time), their pagination, and the 422 every route answers for a query parameter it does not declare."""

import json

import pytest

from tests.conftest import REPO_ROOT

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
REP = {"sub": "u-rep", "custom:tenant_id": "acme", "custom:role": "rep"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}

SPEC = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())


@pytest.fixture
def api(stack):
    yield stack
    # Every status the API returned in the test is one the OpenAPI document lists for that route.
    for route_key, status in stack.seen_statuses:
        method, path = route_key.split(" ", 1)
        operation = SPEC["paths"].get(path, {}).get(method.lower())
        if operation is not None:
            assert str(status) in operation["responses"], f"{route_key} returned undocumented {status}"


def _create(api, claims=ADMIN, **body):
    res = api.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()


def _field(api, **body):
    res = api.request("POST", "/custom-fields", json_body=body, claims=ADMIN)
    assert res.status == 201, res.text


def _ids(res):
    assert res.status == 200, res.text
    return [lead["lead_id"] for lead in res.json()["items"]]


def _all_pages(api, path, query, claims=ADMIN):
    """Every item id of a paginated route, following next_cursor; asserts no page repeats an item."""
    seen, cursor, pages = [], None, 0
    while True:
        res = api.request("GET", path, query=query | ({"cursor": cursor} if cursor else {}), claims=claims)
        assert res.status == 200, res.text
        body = res.json()
        seen += [
            item.get("lead_id") if "activity_id" not in item else item["activity_id"]
            for item in body["items"]
        ]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)), "a page repeated an item"
    return seen, pages


# ---------------------------------------------------------------------------------------------- inbox
def test_tag_filter_is_any_of_and_case_insensitive(api):
    # Given leads tagged vip, hot, both, and none
    vip = _create(api, email="v@x.com", tags=["VIP"])["lead_id"]
    hot = _create(api, email="h@x.com", tags=["hot"])["lead_id"]
    both = _create(api, email="b@x.com", tags=["vip", "hot"])["lead_id"]
    _create(api, email="n@x.com", tags=["cold"])
    # When the inbox is filtered by one tag, then by two
    one = api.request("GET", "/leads", query={"tag": "vip"}, claims=ADMIN)
    two = api.request("GET", "/leads", query={"tag": ["vip", "hot"]}, claims=ADMIN)
    # Then a lead with any of the tags matches, whatever its case
    assert set(_ids(one)) == {vip, both}
    assert set(_ids(two)) == {vip, hot, both}
    # And a tag no lead has gives an empty page, a malformed tag a 422 naming it
    assert _ids(api.request("GET", "/leads", query={"tag": "nobody"}, claims=ADMIN)) == []
    bad = api.request("GET", "/leads", query={"tag": "no<script>"}, claims=ADMIN)
    assert bad.status == 422 and "tag" in bad.json()["error"]["message"]


def test_custom_field_filters_match_the_stored_typed_value(api):
    # Given number, dropdown, checkbox and text custom fields
    _field(api, key="seats", label="Seats", type="number")
    _field(api, key="plan", label="Plan", type="dropdown", options=["Basic", "Pro"])
    _field(api, key="trial", label="Trial", type="checkbox")
    _field(api, key="town", label="Town", type="text")
    big = _create(
        api, email="a@x.com", custom_fields={"seats": 20, "plan": "pro", "trial": True, "town": "Lisbon"}
    )
    small = _create(api, email="b@x.com", custom_fields={"seats": "5", "plan": "Basic", "town": "Porto"})
    bare = _create(api, email="c@x.com")
    # When the inbox is filtered by custom_field[<key>]=<value> (deepObject), the values typed as the field
    by_seats = api.request("GET", "/leads", query={"custom_field[seats]": "20"}, claims=ADMIN)
    by_plan = api.request("GET", "/leads", query={"custom_field[plan]": "BASIC"}, claims=ADMIN)
    by_trial = api.request("GET", "/leads", query={"custom_field[trial]": "yes"}, claims=ADMIN)
    by_two = api.request(
        "GET", "/leads", query={"custom_field[plan]": "Pro", "custom_field[town]": "porto"}, claims=ADMIN
    )
    no_plan = api.request("GET", "/leads", query={"custom_field[plan]": ""}, claims=ADMIN)
    # Then each matches the leads holding that value; several keys combine with AND; empty means unset
    assert _ids(by_seats) == [big["lead_id"]]
    assert _ids(by_plan) == [small["lead_id"]]
    assert _ids(by_trial) == [big["lead_id"]]
    assert _ids(by_two) == []
    assert _ids(no_plan) == [bare["lead_id"]]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"custom_field[nope]": "x"}, "custom_field[nope]"),
        ({"custom_field[seats]": "many"}, "custom_field[seats]"),
        ({"custom_field[plan]": "Enterprise"}, "custom_field[plan]"),
        ({"custom_field": "flat"}, "custom_field"),
        ({"custom_field[seats][x]": "1"}, "custom_field[seats][x]"),
        ({"custom_field[Bad-Key]": "1"}, "custom_field"),
        ({"custom_field[plan]": "x" * 501}, "custom_field"),
    ],
)
def test_bad_custom_field_filters_are_422_naming_the_parameter(api, query, named):
    _field(api, key="seats", label="Seats", type="number")
    _field(api, key="plan", label="Plan", type="dropdown", options=["Basic", "Pro"])
    res = api.request("GET", "/leads", query=query, claims=ADMIN)
    assert res.status == 422, res.text
    error = res.json()["error"]
    assert named in error["message"] or any(named in (d.get("field") or "") for d in error["details"])


def test_last_activity_range_filters_and_pages_under_every_sort(api):
    # Given seven leads whose last activity follows their creation order
    leads = [_create(api, email=f"l{i}@x.com", tags=["t"] if i % 2 else []) for i in range(7)]
    times = [lead["last_activity_at"] for lead in leads]
    wanted = [lead["lead_id"] for lead in leads[2:6]]
    window = {"last_activity_from": times[2], "last_activity_to": times[5]}
    for sort in ("last_activity", "created", "score"):
        # When the range is paged two at a time
        seen, pages = _all_pages(api, "/leads", window | {"sort": sort, "order": "asc", "limit": 2})
        # Then exactly the leads inside the inclusive bounds come back, once each
        assert sorted(seen) == sorted(wanted), sort
        assert pages >= 2
    # And filters combine: the tagged leads inside the range, in last-activity order
    tagged, _ = _all_pages(
        api, "/leads", window | {"tag": "t", "sort": "last_activity", "order": "asc", "limit": 1}
    )
    assert tagged == [leads[3]["lead_id"], leads[5]["lead_id"]]
    reversed_range = {"last_activity_from": times[5], "last_activity_to": times[2]}
    res = api.request("GET", "/leads", query=reversed_range, claims=ADMIN)
    assert res.status == 422 and "last_activity_from" in res.text


def test_selective_filters_page_through_every_match_without_repeats(api):
    # Given 12 leads, every third tagged vip
    leads = [_create(api, email=f"p{i}@x.com", tags=["vip"] if i % 3 == 0 else []) for i in range(12)]
    vip = [lead["lead_id"] for lead in leads if "vip" in lead["tags"]]
    # When the tag filter is paged one lead at a time, newest first
    seen, _ = _all_pages(api, "/leads", {"tag": "vip", "limit": 1})
    # Then every vip lead comes back once, in order
    assert seen == list(reversed(vip))


def test_a_filtered_page_that_ends_with_the_last_match_has_no_cursor(api):
    # Given 103 leads (one DynamoDB page of a filtered inbox reads 100), five tagged: two among the newest
    # 100, the last three the oldest - so the fifth match is the very last item of the second page
    tagged = {0, 1, 2, 40, 50}
    leads = [_create(api, email=f"q{i}@x.com", tags=["vip"] if i in tagged else []) for i in range(103)]
    # When five are asked for, newest first
    res = api.request("GET", "/leads", query={"tag": "vip", "limit": 5}, claims=ADMIN)
    # Then the five come back with no cursor (there is nothing after them), not a cursor that repeats them
    assert _ids(res) == [leads[i]["lead_id"] for i in sorted(tagged, reverse=True)]
    assert res.json()["next_cursor"] is None


def test_a_cursor_is_refused_when_the_key_range_changes(api):
    leads = [_create(api, email=f"c{i}@x.com") for i in range(4)]
    query = {"sort": "last_activity", "order": "asc", "limit": 1}
    first = api.request("GET", "/leads", query=query, claims=ADMIN).json()
    moved = query | {"cursor": first["next_cursor"], "last_activity_from": leads[2]["last_activity_at"]}
    res = api.request("GET", "/leads", query=moved, claims=ADMIN)
    assert res.status == 400 and res.json()["error"]["details"][0]["field"] == "cursor"


def test_filters_keep_the_rep_rule(api):
    mine = _create(api, claims=REP, email="m@x.com", tags=["vip"])["lead_id"]
    _create(api, email="o@x.com", tags=["vip"], owner_id="u-other")
    assert _ids(api.request("GET", "/leads", query={"tag": "vip"}, claims=REP)) == [mine]
    assert _ids(api.request("GET", "/leads", query={"tag": "vip"}, claims=OTHER)) == []


# ---------------------------------------------------------------------------------------------- timeline
def _timeline_with_every_kind(api):
    lead = _create(api, email="t@x.com")["lead_id"]
    notes = []
    for i in range(5):
        res = api.request("POST", f"/leads/{lead}/notes", json_body={"text": f"note {i}"}, claims=ADMIN)
        notes.append(res.json())
        status = "Contacted" if i % 2 == 0 else "Follow-up"
        assert (
            api.request("PATCH", f"/leads/{lead}", json_body={"status": status}, claims=ADMIN).status == 200
        )
    every = api.request("GET", f"/leads/{lead}/activities", query={"limit": 100}, claims=ADMIN).json()[
        "items"
    ]
    return lead, notes, every


def test_timeline_filters_by_type_and_time_and_pages(api):
    # Given a timeline of notes and status changes
    lead, notes, every = _timeline_with_every_kind(api)
    assert {a["type"] for a in every} == {"note", "status_change"}
    # When it is filtered by type, one entry per page
    only_notes, pages = _all_pages(api, f"/leads/{lead}/activities", {"type": "note", "limit": 1})
    # Then just the notes come back, oldest first, each once
    assert only_notes == [n["activity_id"] for n in notes] and pages >= 5
    both, _ = _all_pages(api, f"/leads/{lead}/activities", {"type": ["note", "status_change"], "limit": 3})
    assert both == [a["activity_id"] for a in every]
    # And a time window keeps the entries inside its inclusive bounds
    lo, hi = notes[1]["occurred_at"], notes[3]["occurred_at"]
    window, _ = _all_pages(
        api, f"/leads/{lead}/activities", {"occurred_from": lo, "occurred_to": hi, "type": "note", "limit": 1}
    )
    assert window == [n["activity_id"] for n in notes[1:4]]
    inside = [a["activity_id"] for a in every if lo <= a["occurred_at"] <= hi]
    assert (
        _all_pages(api, f"/leads/{lead}/activities", {"occurred_from": lo, "occurred_to": hi, "limit": 2})[0]
        == inside
    )


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"type": "sms"}, "type"),
        ({"occurred_from": "yesterday"}, "occurred_from"),
        ({"occurred_from": "2025-02-01T00:00:00Z", "occurred_to": "2025-01-01T00:00:00Z"}, "occurred_from"),
        ({"kind": "note"}, "kind"),
    ],
)
def test_bad_timeline_filters_are_422_naming_the_parameter(api, query, named):
    lead = _create(api, email="x@x.com")["lead_id"]
    res = api.request("GET", f"/leads/{lead}/activities", query=query, claims=ADMIN)
    assert res.status == 422, res.text
    assert named in res.json()["error"]["message"]


# ---------------------------------------------------------------------------------------------- unknown params
@pytest.mark.parametrize(
    ("path", "query", "unknown"),
    [
        ("/leads", {"tags": "vip"}, "tags"),
        ("/leads", {"status": "New", "page": "2", "foo": "1"}, "foo"),
        ("/leads/" + "0" * 32 + "/activities", {"kind": "note"}, "kind"),
        ("/dashboard/summary", {"owner": "me"}, "owner"),
        ("/lists", {"limit": "5"}, "limit"),
        ("/exports", {"status": "done"}, "status"),
        ("/custom-fields", {"x": ""}, "x"),
    ],
)
def test_every_route_answers_422_naming_an_undeclared_query_parameter(api, path, query, unknown):
    res = api.request("GET", path, query=query, claims=ADMIN)
    assert res.status == 422, res.text
    error = res.json()["error"]
    assert error["code"] == "unknown_query_parameter"
    assert f"'{unknown}'" in error["message"]
    assert {"field": f"query.{unknown}", "problem": "unknown query parameter"} in [
        {k: d[k] for k in ("field", "problem")} for d in error["details"]
    ]


def test_unknown_parameters_are_refused_before_anything_changes(api):
    lead = _create(api, email="u@x.com")["lead_id"]
    res = api.request(
        "PATCH", f"/leads/{lead}", json_body={"status": "Lost"}, query={"notify": "true"}, claims=ADMIN
    )
    assert res.status == 422 and "'notify'" in res.json()["error"]["message"]
    assert api.request("GET", f"/leads/{lead}", claims=ADMIN).json()["status"] == "New"


def test_the_document_declares_the_filters_and_the_422(api):
    served = api.request("GET", "/openapi.json").json()
    inbox = {p["name"]: p for p in served["paths"]["/leads"]["get"]["parameters"]}
    assert {"tag", "custom_field", "last_activity_from", "last_activity_to"} <= set(inbox)
    assert inbox["custom_field"]["style"] == "deepObject" and inbox["custom_field"]["explode"] is True
    assert inbox["custom_field"]["schema"]["type"] == "object"
    timeline = {p["name"] for p in served["paths"]["/leads/{lead_id}/activities"]["get"]["parameters"]}
    assert {"type", "occurred_from", "occurred_to"} <= timeline
    for path, item in served["paths"].items():
        for method, operation in item.items():
            assert "422" in operation["responses"], f"{method} {path} does not document 422"
