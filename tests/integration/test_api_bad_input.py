"""Every template route answers a client's mistake with a 4xx, never a 5xx.

Each route of template.yaml (the API, the webhooks and the public forms) is called, as an admin, with
bodies and parameters a broken client might send: malformed, non-UTF-8 and non-JSON bodies, JSON of the
wrong shape, unknown fields, path ids of the wrong form, query parameters out of range, of the wrong type
or very long; then, with ids of resources that exist, an edge value of each type in every documented body
field. No call may answer 5xx; documented API routes
must answer a status their OpenAPI entry lists. Nothing here depends on what a route does, so a route
added later is covered without a new test.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.integration.conftest import ROUTES

ADMIN = {"sub": "u-fuzz", "custom:tenant_id": "fuzz", "custom:role": "admin"}
SPEC = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
PATH_VALUES = ("0" * 32, "not-an-id", "x" * 600, "%00")
BODIES: tuple[bytes, ...] = (b"{oops", b"[]", b'"text"', b"{}", b'{"unexpected": 1}', b"\xff\xfe")
QUERY_VALUES = ("-1", "abc", "x" * 3000, "")


def _operation(method: str, path: str) -> dict[str, Any] | None:
    return SPEC["paths"].get(path, {}).get(method.lower())


def _paths(path: str) -> list[str]:
    """The route's path with each of PATH_VALUES in every parameter (``{proxy+}`` included)."""
    names = [part for part in path.split("/") if part.startswith("{")]
    if not names:
        return [path]
    filled = []
    for value in PATH_VALUES:
        concrete = path
        for name in names:
            concrete = concrete.replace(name, value)
        filled.append(concrete)
    return filled


def _body_fields(operation: dict[str, Any] | None) -> list[str]:
    """Top-level property names of the operation's JSON body schema (through one $ref)."""
    if not operation or "requestBody" not in operation:
        return []
    schema = operation["requestBody"].get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref")
    if ref:
        schema = SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {}))


def _query_names(operation: dict[str, Any] | None) -> list[str]:
    return [p["name"] for p in (operation or {}).get("parameters", []) if p.get("in") == "query"]


def _cases(route) -> list[tuple[str, dict[str, Any]]]:
    """(path, request keyword arguments) of every bad request tried on one route."""
    method = "POST" if route.method == "ANY" else route.method
    cases: list[tuple[str, dict[str, Any]]] = []
    for path in _paths(route.path):
        cases.append((path, {}))
        if method in ("POST", "PUT", "PATCH"):
            json_headers = {"content-type": "application/json"}
            cases += [(path, {"body": body, "headers": json_headers}) for body in BODIES]
            cases.append((path, {"body": b"a=1&b", "headers": {"content-type": "text/plain"}}))
    path = _paths(route.path)[0]
    for name in _query_names(_operation(method, route.path)):
        cases += [(path, {"query": {name: value}}) for value in QUERY_VALUES]
    return cases


def _problem(stack, method: str, route_path: str, path: str, kwargs: dict[str, Any]) -> str | None:
    """Send one request; describe it when it got a 5xx (or raised) or a status its OpenAPI entry lacks."""
    label = f"{method} {path} {str(kwargs)[:200]}"
    try:
        response = stack.request(method, path, claims=ADMIN, **kwargs)
    except Exception as err:  # an uncaught exception is API Gateway's 500
        return f"{label}: raised {err!r}"[:500]
    if response.status >= 500:
        return f"{label}: {response.status} {response.text[:300]}"
    operation = _operation(method, route_path)
    if operation is not None and str(response.status) not in operation["responses"]:
        return f"{label}: undocumented {response.status} {response.text[:200]}"
    return None


def test_bad_input_never_gets_a_5xx(stack):
    failures = [
        problem
        for route in ROUTES
        for path, kwargs in _cases(route)
        if (
            problem := _problem(
                stack, "POST" if route.method == "ANY" else route.method, route.path, path, kwargs
            )
        )
    ]
    assert not failures, "\n".join(failures[:20])


EDGE_VALUES: tuple[Any, ...] = ("", "\u0000", "x" * 10_001, -1, 2**64, 1.5, True, [], [None], {}, "😀" * 300)


def _create(stack, path: str, body: dict[str, Any], id_field: str) -> str:
    res = stack.request("POST", path, json_body=body, claims=ADMIN)
    assert res.status in (201, 202), (path, res.status, res.text)
    return str(res.json()[id_field])


def _real_ids(stack) -> dict[str, str]:
    """One resource of each kind in the tenant, by the path parameter naming it."""
    lead = _create(stack, "/leads", {"name": "Ana", "email": "ana@example.com"}, "lead_id")
    other = _create(stack, "/leads", {"name": "Bo", "email": "bo@example.com"}, "lead_id")
    return {
        "lead_id": lead,
        "list_id": _create(stack, "/lists", {"name": "Fair"}, "list_id"),
        "segment_id": _create(
            stack,
            "/segments",
            {"name": "new", "include": {"field": "status", "op": "eq", "value": "New"}},
            "segment_id",
        ),
        "model_id": _create(stack, "/scoring-models", {"template": "agency"}, "model_id"),
        "key": _create(
            stack, "/custom-fields", {"key": "budget", "label": "Budget", "type": "number"}, "key"
        ),
        "key_id": _create(stack, "/api-keys", {"name": "Website"}, "key_id"),
        "export_id": _create(stack, "/exports", {"format": "csv"}, "export_id"),
        "bulk_action_id": _create(
            stack,
            "/bulk-actions",
            {"selection": {"lead_ids": [other]}, "action": "add_tags", "params": {"tags": ["x"]}},
            "bulk_action_id",
        ),
    }


def test_edge_values_on_real_resources_never_get_a_5xx(stack):
    """The same promise one level deeper: each path names resources that exist, so the route reaches the
    validation of every body field (an edge value of each type; ~1,300 requests, most answered 422 because
    the other fields are missing). One stack and one set of resources for every route."""
    ids = _real_ids(stack)
    failures = []
    for route in ROUTES:
        if route.method not in ("POST", "PUT", "PATCH"):
            continue  # reads and deletes have no body; their parameters are swept above
        path = route.path
        for name, value in ids.items():
            path = path.replace(f"{{{name}}}", value)
        path = re.sub(r"{[^}]+}", "x", path)
        for field in _body_fields(_operation(route.method, route.path)):
            for value in EDGE_VALUES:
                problem = _problem(stack, route.method, route.path, path, {"json_body": {field: value}})
                if problem:
                    failures.append(problem)
    assert not failures, "\n".join(failures[:20])


def test_undecodable_and_non_json_bodies_get_the_error_document(stack):
    # A body that is not UTF-8, and a body sent as text/plain, to a JSON route
    binary = stack.request(
        "POST", "/leads", body=b'{"name": "\xff"}', headers={"content-type": "application/json"}, claims=ADMIN
    )
    text = stack.request(
        "POST", "/leads", body=b'{"name": "Ana"}', headers={"content-type": "text/plain"}, claims=ADMIN
    )
    # Then 400 malformed_json and 415 unsupported_media_type, in the one error shape, naming the problem
    assert (binary.status, binary.json()["error"]["code"]) == (400, "malformed_json")
    assert (text.status, text.json()["error"]["code"]) == (415, "unsupported_media_type")
    assert "text/plain" in text.json()["error"]["message"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b'{"name": "Ana"}'),  # no boundary: Powertools raised ValueError, a 500
        (
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nAna\r\n--xyz--\r\n',
        ),
        ("application/x-www-form-urlencoded", b"name=Ana&email=ana%40example.com"),  # was parsed as a form
    ],
)
def test_form_bodies_on_a_json_route_are_a_415_and_create_nothing(stack, content_type, body):
    # Given a JSON route (the document declares application/json only), a fresh tenant and a form body
    admin = {**ADMIN, "custom:tenant_id": f"form-{uuid.uuid4().hex[:8]}"}
    response = stack.request(
        "POST", "/leads", body=body, headers={"content-type": content_type}, claims=admin
    )
    # Then 415 in the error document naming the content type, and no lead was created from the form
    assert response.status == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert content_type in response.json()["error"]["message"]
    assert stack.request("GET", "/leads", claims=admin).json()["items"] == []


def test_created_date_bounds_alone_or_mixed_work_and_reversed_bounds_are_a_422(stack):
    created_lead = stack.request(
        "POST", "/leads", json_body={"name": "Ana", "email": "ana@example.com"}, claims=ADMIN
    )
    assert created_lead.status == 201, created_lead.text
    lead = created_lead.json()
    created = lead["created_at"]
    for query, found in (
        ({"created_to": created}, [lead["lead_id"]]),
        ({"created_to": "2000-01-01T00:00:00Z"}, []),
        ({"created_from": created}, [lead["lead_id"]]),
        ({"created_to": created, "sort": "score"}, [lead["lead_id"]]),
    ):
        page = stack.request("GET", "/leads", query=query, claims=ADMIN)
        assert page.status == 200, (query, page.text)
        assert [row["lead_id"] for row in page.json()["items"]] == found, query
    # A naive bound (taken as UTC) beside an aware one works (it was a TypeError, a 500)
    mixed = {"created_from": "2000-01-01T00:00:00", "created_to": created}
    assert [
        r["lead_id"] for r in stack.request("GET", "/leads", query=mixed, claims=ADMIN).json()["items"]
    ] == [lead["lead_id"]]
    # Reversed bounds, aware or mixed, are a 422 naming created_from wherever filters are accepted
    for reversed_bounds in (
        {"created_from": "2025-02-01T00:00:00Z", "created_to": "2025-01-01T00:00:00Z"},
        {"created_from": "2025-02-01T00:00:00", "created_to": "2025-01-01T00:00:00+00:00"},
    ):
        res = stack.request("GET", "/leads", query=reversed_bounds, claims=ADMIN)
        assert (res.status, res.json()["error"]["details"][0]["field"]) == (422, "created_from"), res.text
        list_id = stack.request("POST", "/lists", json_body={"name": "L"}, claims=ADMIN).json()["list_id"]
        for method, path, body in (
            ("POST", "/exports", {"format": "csv", **reversed_bounds}),
            (
                "POST",
                "/bulk-actions",
                {"selection": {"filter": reversed_bounds}, "action": "add_tags", "params": {"tags": ["x"]}},
            ),
            ("POST", f"/lists/{list_id}/leads", {"filter": reversed_bounds}),
        ):
            res = stack.request(method, path, json_body=body, claims=ADMIN)
            assert res.status == 422 and "created_from is after created_to" in res.text, (path, res.text)


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", "1e3"])
def test_a_number_is_not_a_date_time_in_a_query_or_a_body(stack, value):
    # Given date-time inputs the document types as ISO-8601 strings, sent as a number (pydantic's lax mode
    # read it as a Unix timestamp: `created_to=0.5` was 1970-01-01T00:00:00.5Z and answered 200)
    query = stack.request("GET", "/leads", query={"created_to": value}, claims=ADMIN)
    number = json.loads(value)
    bodies = [
        {"format": "csv", "created_from": number},
        {"format": "csv", "created_to": value},
        {"format": "csv", "selection": {"filter": {"created_to": number}}},
    ]
    answers = [stack.request("POST", "/exports", json_body=body, claims=ADMIN) for body in bodies]
    # Then each is a 422 naming the field and asking for ISO-8601
    for response in (query, *answers):
        assert response.status == 422, response.text
        error = response.json()["error"]
        assert "created_" in error["message"] and "ISO-8601" in json.dumps(error["details"]), error
