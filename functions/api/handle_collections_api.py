"""Collections API function: static lists, dynamic segments and bulk actions.

Thin by design: each route reads typed input, calls one service from the wiring and returns a pydantic
model; the tenant, user and role come from the JWT claims API Gateway's authorizer verified. Only this
area's routers are imported, so a cold start pays for nothing else (see leadtide.api.app).
"""

from __future__ import annotations

import bulk_routes
import lists_routes
import segments_routes

from leadtide.api.app import build_app, lambda_handler_for

app = build_app(lists_routes.router, segments_routes.router, bulk_routes.router)
lambda_handler = lambda_handler_for(app)
