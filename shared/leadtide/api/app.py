"""The one way an API function is put together: a Powertools HTTP API resolver with Leadtide's request
rules and error shape, the routers of its area, and a Lambda entry point with logging, metrics and tracing.

Each API function of the template (``functions/api/handle_<area>_api.py``) is::

    app = build_app(leads_routes.router, channels_routes.router)
    lambda_handler = lambda_handler_for(app)

so a cold start imports only that area's routers (and, through the wiring, only the services its first
request touches). The OpenAPI document is one document for every area: :func:`openapi_json` of an app
that includes every router (``handle_api_docs.py``, ``make openapi``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths

from leadtide.api.errors import (
    JSON,
    documented_errors,
    domain_error_response,
    unavailable_response,
    undecodable_body_response,
    unsupported_media_type_response,
    validation_error_response,
)
from leadtide.api.openapi import complete_document
from leadtide.api.query import check_query_parameters, document_query_parameters
from leadtide.api.resolver import ApiResolver
from leadtide.models.errors import LeadtideError, StorageUnavailableError
from leadtide.models.text import loads_valid_text
from leadtide.observability import logger, metrics, traced


def build_app(*routers: APIGatewayHttpRouter) -> ApiResolver:
    """A resolver serving ``routers`` with request validation and Leadtide's error shape.

    Every JSON body is read by one loader, bounded in size (413), nesting depth and number length (400,
    leadtide.models.bounded_json), that refuses lone surrogates (422 naming the field) before any
    request model sees it (:func:`leadtide.models.text.loads_valid_text`); domain errors, validation
    errors (400 malformed JSON / 422 bad values), 415, undecodable bodies and a throttled or unreachable
    store (503 ``storage_unavailable`` with ``Retry-After``) become ``{"error": {"code", "message", "details"}}``.
    """
    # Bodies are JSON only (a form or multipart body is a 415) and path parameters arrive decoded (ApiResolver).
    app = ApiResolver(enable_validation=True, json_body_deserializer=loads_valid_text)
    # Every route refuses query parameters it does not declare (422 naming them) and reads mapping
    # parameters as deepObject (custom_field[plan]=pro): leadtide.api.query, from each route's declaration.
    app.use([check_query_parameters])
    for router in routers:
        app.include_router(router)

    @app.exception_handler(LeadtideError)
    def _domain_error(err: LeadtideError) -> Response:
        return domain_error_response(err)

    @app.exception_handler(StorageUnavailableError)
    def _storage_unavailable(err: StorageUnavailableError) -> Response:
        logger.warning("storage unavailable", extra={"cause_code": err.cause_code})
        return unavailable_response(err)

    @app.exception_handler(RequestValidationError)
    def _validation_error(err: RequestValidationError) -> Response:
        return validation_error_response(err)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_media_type(err: RequestUnsupportedContentType) -> Response:
        return unsupported_media_type_response(app.current_event.headers.get("content-type", ""))

    @app.exception_handler(UnicodeDecodeError)
    def _undecodable_body(err: UnicodeDecodeError) -> Response:
        event = app.current_event
        response = undecodable_body_response(event.body, bool(event.is_base64_encoded))
        if response is None:
            raise err  # not the request body: a bug, so API Gateway's 500
        return response

    return app


def lambda_handler_for(app: ApiResolver) -> Callable[[dict, Any], dict]:
    """The Lambda entry point (API Gateway HTTP API, payload 2.0) of ``app``: Powertools logger (with the
    request's correlation id), metrics and tracer around ``app.resolve``."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @metrics.log_metrics
    @traced
    def lambda_handler(event: dict, context: Any) -> dict:
        return app.resolve(event, context)

    return lambda_handler


def openapi_json(app: ApiResolver) -> str:
    """The OpenAPI 3 document of ``app``'s routes (committed as docs/openapi.json), with the security
    schemes and the 415 every JSON-body operation may answer."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

    document = app.get_openapi_json_schema(
        title="Leadtide API",
        version="0.1.0",
        description="Lead management for small, seasonal sales teams. Every 4xx a Leadtide function answers "
        'is `ErrorResponse`: {"error": {"code", "message", "details"}}. API Gateway answers some requests '
        'itself before any function runs, in its own shape `GatewayError`: {"message": "..."} '
        "(401 without a valid JWT, 404 when no route matches, 413 over 10 MB, 429 when throttled).",
        security_schemes={
            "cognito": HTTPBearer(bearerFormat="JWT", description="Cognito ID token"),
            "apiKey": APIKey(
                name="X-Api-Key",
                **{"in": APIKeyIn.header},
                description="Integration API key (`lt_live_...`, from `POST /api-keys`); "
                "`Authorization: Bearer lt_live_...` works too",
            ),
        },
        security=[{"cognito": []}],
    )
    return complete_document(_with_body_errors(document), jwt_scheme="cognito")


def _with_body_errors(document: str) -> str:
    """Every operation with a JSON body may answer 400 (a body beyond the bounds of
    :func:`leadtide.models.bounded_json.load_json`) and 413 (too large); every one 422 for an unknown query
    parameter (:func:`leadtide.api.query.check_query_parameters`) and 503 when the store is throttled or
    unreachable (:class:`~leadtide.models.errors.StorageUnavailableError`): listed once here rather than in
    each route; mapping query parameters are documented as deepObject. (415 and API Gateway's own answers:
    :func:`leadtide.api.openapi.complete_document`.)"""
    schema = json.loads(document)
    document_query_parameters(schema)
    reference = {"$ref": "#/components/schemas/ErrorResponse"}
    entries = documented_errors(400, 413, 503)
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status in (400, 413, 503) if "requestBody" in operation else (503,):
                entry = entries[status]
                operation["responses"].setdefault(
                    str(status),
                    {"description": entry["description"], "content": {JSON: {"schema": reference}}},
                )
    return json.dumps(schema)


def merge_documents(documents: list[str]) -> str:
    """One OpenAPI document from several of the same API (JSON strings, as :func:`openapi_json` returns):
    the first document's info and security, every document's paths and component schemas.

    Raises:
        ValueError: two documents declare the same path and method, or the same schema name differently.
    """
    merged: dict[str, Any] | None = None
    for text in documents:
        document = json.loads(text)
        if merged is None:
            merged = document
            continue
        for path, item in document.get("paths", {}).items():
            target = merged.setdefault("paths", {}).setdefault(path, {})
            for method, operation in item.items():
                if method in target and target[method] != operation:
                    raise ValueError(f"{method.upper()} {path} is declared by two API areas")
                target[method] = operation
        for kind, entries in document.get("components", {}).items():
            target_entries = merged.setdefault("components", {}).setdefault(kind, {})
            for name, entry in entries.items():
                if name in target_entries and target_entries[name] != entry:
                    raise ValueError(f"components.{kind}.{name} differs between API areas")
                target_entries[name] = entry
    if merged is None:
        raise ValueError("no documents to merge")
    merged["paths"] = dict(sorted(merged.get("paths", {}).items()))
    return json.dumps(merged)


def created(model: Any) -> Response:
    """201 with ``model`` as the JSON body."""
    return Response(status_code=201, content_type=JSON, body=model)
