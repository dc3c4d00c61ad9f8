"""Scoring API function: scoring models, grade overrides and score history; predictive (ML) model versions;
tracked behaviour events and API keys.

Thin by design: each route reads typed input, calls one service from the wiring and returns a pydantic
model; the tenant, user and role come from the JWT claims API Gateway's authorizer verified. Only this
area's routers are imported, so a cold start pays for nothing else (see leadtide.api.app).
"""

from __future__ import annotations

import events_routes
import ml_routes
import scoring_routes

from leadtide.api.app import build_app, lambda_handler_for

app = build_app(scoring_routes.router, ml_routes.router, events_routes.router)
lambda_handler = lambda_handler_for(app)
