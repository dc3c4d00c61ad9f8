"""What Powertools' generated OpenAPI document cannot know from the routes, added once for every operation.

:func:`complete_document` post-processes ``APIGatewayHttpResolver.get_openapi_json_schema()``:

* **415** on every operation with a JSON body (the resolver's ``RequestUnsupportedContentType``, answered
  with the error document by one exception handler, not listed route by route);
* **API Gateway's own answers** (:class:`~leadtide.models.leads.GatewayError`, ``{"message": "..."}``),
  given before any function runs and not customisable on an HTTP API: 401 on every operation behind the
  JWT authorizer, 404 on every operation with a path parameter (an empty segment matches no route), 413 on
  every operation with a body (the 10 MB payload quota) and 429 everywhere (the stage's throttling). Where
  the function answers the same status itself, the response accepts either shape (``anyOf``);
* **no body on 204**: Powertools documents ``Response[None]`` as ``application/json`` ``null``; a 204 has
  no content (RFC 9110, section 15.3.5), so its ``content`` is dropped.
"""

from __future__ import annotations

import json
from typing import Any

from leadtide.api.errors import JSON, documented_errors
from leadtide.models.leads import GatewayError

__all__ = ["GATEWAY_ANSWERS", "complete_document"]

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_GATEWAY_REF = {"$ref": "#/components/schemas/GatewayError"}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

GATEWAY_ANSWERS: dict[int, str] = {
    401: 'API Gateway: no valid JWT (`{"message": "Unauthorized"}`)',
    404: 'API Gateway: no route matches, e.g. an empty path parameter (`{"message": "Not Found"}`)',
    413: 'API Gateway: the body is over 10 MB (`{"message": "Request Entity Too Large"}`)',
    429: 'API Gateway: throttled, retry later (`{"message": "Too Many Requests"}`)',
}
"""Status -> description of the answers API Gateway gives itself, in :class:`GatewayError`'s shape."""


def complete_document(document: str, *, jwt_scheme: str) -> str:
    """Add the answers the routes do not declare (see the module docstring) to an OpenAPI 3 document.

    Args:
        document: the JSON text from ``get_openapi_json_schema()``.
        jwt_scheme: the name of the security scheme API Gateway's JWT authorizer enforces (``"cognito"``);
            operations whose effective ``security`` names it get the gateway's 401.

    Returns:
        The completed document as JSON text; ``components.schemas`` gains ``GatewayError``.
    """
    schema = json.loads(document)
    schema.setdefault("components", {}).setdefault("schemas", {})["GatewayError"] = (
        GatewayError.model_json_schema()
    )
    (unsupported,) = documented_errors(415).values()
    default_security = schema.get("security") or []
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in _METHODS or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            has_body = "requestBody" in operation
            if has_body:
                responses.setdefault(
                    "415",
                    {"description": unsupported["description"], "content": {JSON: {"schema": _ERROR_REF}}},
                )
            security = operation.get("security", default_security)
            if any(jwt_scheme in requirement for requirement in security):
                _add_gateway_answer(responses, 401)
            if "{" in path:
                _add_gateway_answer(responses, 404)
            if has_body:
                _add_gateway_answer(responses, 413)
            _add_gateway_answer(responses, 429)
            no_content = responses.get("204")
            if isinstance(no_content, dict):
                no_content.pop("content", None)
    return json.dumps(schema)


def _add_gateway_answer(responses: dict[str, Any], status: int) -> None:
    """Document API Gateway's answer for ``status``: alone, or beside the function's own error document."""
    description = GATEWAY_ANSWERS[status]
    existing = responses.get(str(status))
    if existing is None:
        responses[str(status)] = {"description": description, "content": {JSON: {"schema": _GATEWAY_REF}}}
        return
    content = existing.setdefault("content", {}).setdefault(JSON, {})
    own = content.get("schema")
    if own is None:
        content["schema"] = _GATEWAY_REF
    elif own != _GATEWAY_REF and _GATEWAY_REF not in own.get("anyOf", []):
        content["schema"] = {"anyOf": [own, _GATEWAY_REF]}
    own_description = existing.get("description")
    existing["description"] = f"{own_description}; or {description}" if own_description else description
