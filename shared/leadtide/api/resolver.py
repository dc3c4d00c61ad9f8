"""The Api function's Powertools resolver: :class:`ApiResolver`.

``APIGatewayHttpResolver`` with two corrections. Request bodies are JSON only
(:mod:`leadtide.api.validation`: a form or multipart body is a 415). And path parameters reach the routes
percent-decoded. API Gateway
decodes them in ``pathParameters``, but Powertools matches its routes against ``rawPath``, which API Gateway
leaves encoded, and hands the matched text over as it is: ``DELETE /import-mappings/HubSpot%20contacts``
looked for a mapping named ``HubSpot%20contacts``, and ``GET /custom-fields/%61ge`` (the same URI as
``/custom-fields/age``, RFC 3986 section 6.2.2.2) found nothing.
"""

from __future__ import annotations

from re import Match
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from leadtide.api.validation import accept_json_bodies_only

__all__ = ["ApiResolver"]

if not callable(
    getattr(APIGatewayHttpResolver, "_convert_matches_into_route_keys", None)
):  # pragma: no cover
    raise ImportError(
        "aws_lambda_powertools no longer has ApiGatewayResolver._convert_matches_into_route_keys "
        "(pinned 3.37.0): find where it reads path parameters and decode them there"
    )


class ApiResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API (payload 2.0) resolver whose path parameters are percent-decoded (UTF-8), as
    API Gateway's ``pathParameters`` are (``/import-mappings/HubSpot%20contacts`` -> ``name="HubSpot
    contacts"``), and which, with ``enable_validation=True``, reads request bodies as JSON only. Arguments
    are ``APIGatewayHttpResolver``'s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._enable_validation:
            accept_json_bodies_only(self)

    def _convert_matches_into_route_keys(self, match: Match) -> dict[str, str]:
        return {name: unquote(value) for name, value in match.groupdict().items()}
