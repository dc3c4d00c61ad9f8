"""Admin API function: custom field definitions and lead-profile backfills.

Thin by design: each route reads typed input, calls one service from the wiring and returns a pydantic
model; the tenant, user and role come from the JWT claims API Gateway's authorizer verified. Only this
area's routers are imported, so a cold start pays for nothing else (see leadtide.api.app).
"""

from __future__ import annotations

import admin_routes
import custom_fields_routes

from leadtide.api.app import build_app, lambda_handler_for

app = build_app(custom_fields_routes.router, admin_routes.router)
lambda_handler = lambda_handler_for(app)
