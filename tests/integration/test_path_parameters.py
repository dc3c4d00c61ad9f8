"""Path parameters reach the routes decoded, as API Gateway hands them over (``pathParameters``).

Powertools' resolver reads a route's parameters from ``rawPath``, which API Gateway leaves percent-encoded,
so ``DELETE /import-mappings/HubSpot%20contacts`` looked for a mapping named ``HubSpot%20contacts`` (found by
schemathesis: generated names failed the routes' length and pattern checks in their encoded form).
"""

from __future__ import annotations

import requests


def _admin(stack, tenant: str):
    return stack.claims(tenant, "admin", f"admin-{tenant}")


def test_an_encoded_path_parameter_is_decoded_before_the_route_sees_it(stack):
    # Given a custom field "age" of a fresh tenant
    admin = _admin(stack, "path-decode")
    body = {"key": "age", "label": "Age", "type": "number"}
    assert stack.request("POST", "/custom-fields", json_body=body, claims=admin).status == 201
    # When a client percent-encodes the key, as RFC 3986 allows for any character
    response = stack.request("GET", "/custom-fields/%61%67e", claims=admin)
    # Then the route sees "age"
    assert response.status == 200, response.text
    assert response.json()["key"] == "age"


def test_a_saved_mapping_whose_name_has_a_space_can_be_deleted(stack):
    # Given an import of a fresh tenant whose mapping is saved as "HubSpot contacts"
    admin = _admin(stack, "path-mapping")
    created = stack.request(
        "POST", "/imports", json_body={"filename": "c.csv", "auto_start": False}, claims=admin
    ).json()
    upload = created["upload"]
    data = b"Given,Mail\nAda,ada@example.com\n"
    assert requests.put(upload["url"], data=data, headers=upload["headers"], timeout=30).status_code == 200
    stack.settle(max_rounds=200)
    mapping = {"columns": {"Given": "first_name", "Mail": "email"}, "save_as": "HubSpot contacts"}
    put = stack.request("PUT", f"/imports/{created['import_id']}/mapping", json_body=mapping, claims=admin)
    assert put.status == 200, put.text
    # When it is deleted by its name, percent-encoded in the path as every client sends a space
    deleted = stack.request("DELETE", "/import-mappings/HubSpot%20contacts", claims=admin)
    # Then it is gone
    assert deleted.status == 204, deleted.text
    assert stack.request("GET", "/import-mappings", claims=admin).json()["items"] == []
