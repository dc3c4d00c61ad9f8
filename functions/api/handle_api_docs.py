"""Api docs function: the OpenAPI 3 document of every API area (``GET /openapi.json``, committed as
docs/openapi.json by ``make openapi``) and Swagger UI (``GET /docs``), both public.

The document is one document for the whole API, so this function imports every area's routers; the area
functions never do. It is generated on the first request, not at import.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import handle_admin_api
import handle_collections_api
import handle_data_api
import handle_leads_api
import handle_scoring_api
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.app import build_app, lambda_handler_for, merge_documents
from leadtide.api.app import openapi_json as document_of
from leadtide.api.errors import JSON

AREAS = (handle_leads_api, handle_data_api, handle_collections_api, handle_scoring_api, handle_admin_api)

docs_router = APIGatewayHttpRouter()


@docs_router.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    """This API's OpenAPI 3 document."""
    return Response(status_code=200, content_type=JSON, body=openapi_json())


@docs_router.get("/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    """Swagger UI for this API (assets embedded, no CDN)."""
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(generate_swagger_html.__code__.co_filename).parent
    html = generate_swagger_html(
        openapi_json().replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
        False,
    )
    return Response(status_code=200, content_type="text/html", body=html)


app = build_app(docs_router)


@lru_cache(maxsize=1)
def openapi_json() -> str:
    """The OpenAPI 3 document of every area's routes: each area app's document, merged (paths and component
    schemas; a schema two areas share is the same model, so either copy serves). The area apps are not
    re-included into one resolver: a Powertools router answers for the last resolver that included it."""
    return merge_documents([document_of(area.app) for area in AREAS])


lambda_handler = lambda_handler_for(app)
