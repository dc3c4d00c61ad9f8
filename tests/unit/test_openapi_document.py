"""The Api function's OpenAPI document describes every answer a client can get, API Gateway's included.

API Gateway answers some requests before a function runs, in its own shape ``{"message": "..."}``: 401 on
a JWT route without a valid token, 404 when no route matches (an empty path parameter), 429 when throttled,
413 for a body over the HTTP API's 10 MB limit. The document must accept those bodies where they happen,
and the functions' own ``{"error": {...}}`` where the function answers.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from leadtide_local.openapi import api_openapi_json

GATEWAY_401 = {"message": "Unauthorized"}
GATEWAY_404 = {"message": "Not Found"}
FUNCTION_401 = {"error": {"code": "unauthenticated", "message": "no tenant", "details": []}}
FUNCTION_404 = {"error": {"code": "lead_not_found", "message": "lead x not found", "details": []}}


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(api_openapi_json())


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def _accepts(document: dict, response: dict, body: object) -> bool:
    schema = {**response["content"]["application/json"]["schema"], "components": document["components"]}
    return jsonschema.Draft202012Validator(schema).is_valid(body)


def _jwt_route(document: dict, operation: dict) -> bool:
    return any("cognito" in requirement for requirement in operation.get("security", document["security"]))


def test_the_gateway_error_shape_is_a_schema_of_its_own(document):
    # Given the generated document
    schema = document["components"]["schemas"]["GatewayError"]
    # Then API Gateway's body is described as it is sent
    assert schema["required"] == ["message"] and schema["properties"]["message"]["type"] == "string"


def test_every_jwt_route_documents_the_gateways_401_and_the_functions_own(document):
    # Given the operations behind the Cognito JWT authorizer
    jwt_operations = [(key, op) for key, op in _operations(document) if _jwt_route(document, op)]
    assert len(jwt_operations) > 50
    for key, operation in jwt_operations:
        # Then a 401 is documented that accepts API Gateway's answer and the function's error document
        response = operation["responses"]["401"]
        assert _accepts(document, response, GATEWAY_401), key
        assert _accepts(document, response, FUNCTION_401), key


def test_a_public_route_401_is_the_functions_only(document):
    # Given POST /track/events, public at the gateway (the API key is checked by the function)
    response = document["paths"]["/track/events"]["post"]["responses"]["401"]
    # Then its 401 is the function's error document, not the gateway's
    assert _accepts(document, response, FUNCTION_401)
    assert not _accepts(document, response, GATEWAY_401)


def test_every_route_with_a_path_parameter_documents_the_gateways_404(document):
    # Given the operations with a path parameter (an empty value matches no route: the gateway's 404)
    with_parameters = [(key, op) for key, op in _operations(document) if "{" in key]
    assert with_parameters
    for key, operation in with_parameters:
        response = operation["responses"]["404"]
        # Then 404 accepts the gateway's body, and the function's too where the function answers 404
        assert _accepts(document, response, GATEWAY_404), key
        assert "Not found in this tenant" not in response["description"] or _accepts(
            document, response, FUNCTION_404
        ), key


def test_every_route_documents_throttling_and_body_routes_the_payload_limit(document):
    for key, operation in _operations(document):
        assert _accepts(document, operation["responses"]["429"], {"message": "Too Many Requests"}), key
        if "requestBody" in operation:
            assert _accepts(
                document, operation["responses"]["413"], {"message": "Request Entity Too Large"}
            ), key


def test_no_content_answers_declare_no_body(document):
    # Given every operation answering 204 No Content
    no_content = [
        (key, op["responses"]["204"]) for key, op in _operations(document) if "204" in op["responses"]
    ]
    assert len(no_content) >= 8
    for key, response in no_content:
        # Then the document declares no body for it
        assert "content" not in response, key


def test_the_description_names_both_error_shapes(document):
    description = document["info"]["description"]
    assert "GatewayError" in description and '{"error"' in description
