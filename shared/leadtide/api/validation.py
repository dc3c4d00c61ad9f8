"""Request bodies of the Api function are JSON, and only JSON.

Powertools' request validation (``APIGatewayHttpResolver(enable_validation=True)``) reads a route's body
by its ``Content-Type``: JSON, but also ``application/x-www-form-urlencoded`` (parsed into the body model,
so a form could create a lead the document never offered) and ``multipart/form-data`` (a ``ValueError``,
so a 500, when the boundary is missing). Every Api route documents ``application/json`` only, and the README
promises a 415 for any other body type; :func:`accept_json_bodies_only` makes the resolver keep that
promise in one place, before any route or model sees the body.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType

__all__ = ["JSON_MEDIA_TYPE", "JsonBodyValidationMiddleware", "accept_json_bodies_only"]

JSON_MEDIA_TYPE = "application/json"


class JsonBodyValidationMiddleware(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading a body only when it is JSON.

    A body is JSON when its ``Content-Type`` media type is ``application/json`` (parameters such as
    ``charset`` allowed) or, as Powertools has it, when no ``Content-Type`` is sent.

    Raises (from the route's validation):
        RequestUnsupportedContentType: any other media type (the resolver's exception handler answers 415).
    """

    def _get_body(self, app: Any) -> dict[str, Any]:
        content_type = (app.current_event.headers.get("content-type") or "").strip()
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type and media_type != JSON_MEDIA_TYPE:
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[
                    {
                        "type": "unsupported_content_type",
                        "loc": ("body",),
                        "msg": f"Unsupported content type: {content_type}",
                        "input": {},
                        "ctx": {},
                    }
                ],
            )
        result: dict[str, Any] = super()._get_body(app)
        return result


def accept_json_bodies_only(app: Any) -> None:
    """Make ``app`` (an ``APIGatewayHttpResolver`` built with ``enable_validation=True``) validate bodies with
    :class:`JsonBodyValidationMiddleware`. Call it before the first request (the middleware stacks are
    built then).

    Raises:
        TypeError: ``app`` has no request validation middleware to replace (validation is off, or a
            Powertools release keeps it elsewhere: pinned 3.37.0 keeps it in ``_request_validation_middleware``).
    """
    current = getattr(app, "_request_validation_middleware", None)
    if not isinstance(current, OpenAPIRequestValidationMiddleware):
        raise TypeError("the resolver has no OpenAPI request validation middleware to replace")
    app._request_validation_middleware = JsonBodyValidationMiddleware()
