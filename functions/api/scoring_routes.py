"""Scoring-model routes (``/scoring-models``), grade overrides and score history of a lead.

Everyone in the tenant reads; admins and managers write models. A change to an active model, or an
activation, re-scores the tenant's leads in the background.
"""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.errors import LeadNotFoundError, ScoringModelNotFoundError
from leadtide.models.leads import LEAD_ID_PATTERN, Lead
from leadtide.models.scoring import (
    GradeOverrideRequest,
    ScoreHistoryPage,
    ScoringModel,
    ScoringModelCreate,
    ScoringModelList,
    ScoringModelSpec,
    ScoringTemplateList,
    is_valid_model_id,
)
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

ModelId = Annotated[str, Path(description="scoring model id (32 hex characters)", max_length=64)]
LeadId = Annotated[str, Path(description="lead id (32 hex characters)")]
_LEAD_ID = re.compile(LEAD_ID_PATTERN)


def _model_id(model_id: str) -> str:
    if not is_valid_model_id(model_id):
        raise ScoringModelNotFoundError(f"scoring model {model_id} not found")
    return model_id


def _lead_id(lead_id: str) -> str:
    if not _LEAD_ID.match(lead_id):
        raise LeadNotFoundError(f"lead {lead_id} not found")
    return lead_id


@router.get(
    "/scoring-models/templates",
    summary="Ready-made scoring models to start from",
    responses={
        200: {"description": "Templates", "content": {JSON: {"model": ScoringTemplateList}}},
        **documented_errors(401),
    },
)
def list_scoring_templates() -> ScoringTemplateList:
    """b2b_saas, agency, ecommerce_high_ticket, financial_services_insurance, fitness_memberships, each
    with its full rules (create one with `POST /scoring-models {"template": "b2b_saas"}`)."""
    current_principal(router)
    return get_wiring().scoring_admin_service.templates()


@router.get(
    "/scoring-models",
    summary="List the tenant's scoring models",
    responses={
        200: {"description": "Models", "content": {JSON: {"model": ScoringModelList}}},
        **documented_errors(401),
    },
)
def list_scoring_models() -> ScoringModelList:
    """The active default model first; `active` marks models that score leads."""
    return get_wiring().scoring_admin_service.list_models(current_principal(router))


@router.post(
    "/scoring-models",
    summary="Create a scoring model from scratch or from a template (admins, managers)",
    responses={
        201: {"description": "Created (inactive)", "content": {JSON: {"model": ScoringModel}}},
        **documented_errors(400, 401, 403, 422),
    },
)
def create_scoring_model(request: Annotated[ScoringModelCreate, Body()]) -> Response[ScoringModel]:
    """Fit rules on profile fields, behaviour rules on event types, group caps, decay and grade
    thresholds. Every problem is a 422 naming its path (e.g. `fit_rules[2].op`). New models are inactive
    until `POST /scoring-models/{id}/activate`."""
    created = get_wiring().scoring_admin_service.create_model(current_principal(router), request)
    return Response(status_code=201, content_type=JSON, body=created)


@router.get(
    "/scoring-models/<model_id>",
    summary="Get a scoring model",
    responses={
        200: {"description": "The model", "content": {JSON: {"model": ScoringModel}}},
        **documented_errors(401, 404),
    },
)
def get_scoring_model(model_id: ModelId) -> ScoringModel:
    """The model's rules, state (`active`, `is_default`) and version."""
    return get_wiring().scoring_admin_service.get_model(current_principal(router), _model_id(model_id))


@router.put(
    "/scoring-models/<model_id>",
    summary="Replace a scoring model's rules (admins, managers)",
    responses={
        200: {"description": "The changed model", "content": {JSON: {"model": ScoringModel}}},
        **documented_errors(400, 401, 403, 404, 409, 422),
    },
)
def replace_scoring_model(model_id: ModelId, spec: Annotated[ScoringModelSpec, Body()]) -> ScoringModel:
    """The whole definition is replaced and validated as on create; an active model's leads are
    re-scored in the background (history cause "model changed")."""
    return get_wiring().scoring_admin_service.replace_model(
        current_principal(router), _model_id(model_id), spec.model_dump(mode="json")
    )


@router.delete(
    "/scoring-models/<model_id>",
    summary="Delete a scoring model (admins, managers)",
    responses={204: {"description": "Deleted"}, **documented_errors(401, 403, 404, 409)},
)
def delete_scoring_model(model_id: ModelId) -> Response[None]:
    """The active default cannot be deleted (409): activate another model first."""
    get_wiring().scoring_admin_service.delete_model(current_principal(router), _model_id(model_id))
    return Response(status_code=204, body="")


@router.post(
    "/scoring-models/<model_id>/activate",
    summary="Activate a scoring model (admins, managers)",
    responses={
        200: {"description": "The activated model", "content": {JSON: {"model": ScoringModel}}},
        **documented_errors(401, 403, 404, 409),
    },
)
def activate_scoring_model(model_id: ModelId) -> ScoringModel:
    """A model without `segment_id` becomes the tenant's one default model (replacing the previous one);
    a segment model starts scoring its segment's leads. The tenant is re-scored in the background."""
    return get_wiring().scoring_admin_service.activate_model(current_principal(router), _model_id(model_id))


# ---------------------------------------------------------------------------------------------- per lead
@router.put(
    "/leads/<lead_id>/grade-override",
    summary="Set a lead's grade by hand, with a reason",
    responses={
        200: {"description": "The lead", "content": {JSON: {"model": Lead}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def set_grade_override(lead_id: LeadId, request: Annotated[GradeOverrideRequest, Body()]) -> Lead:
    """The override is the displayed grade until cleared; re-scoring keeps updating the score and the
    computed grade. Recorded on the timeline and in the score history."""
    return get_wiring().scoring_admin_service.set_grade_override(
        current_principal(router), _lead_id(lead_id), request
    )


@router.delete(
    "/leads/<lead_id>/grade-override",
    summary="Clear a lead's grade override",
    responses={
        200: {"description": "The lead", "content": {JSON: {"model": Lead}}},
        **documented_errors(401, 403, 404),
    },
)
def clear_grade_override(lead_id: LeadId) -> Lead:
    """The displayed grade is the computed one again."""
    return get_wiring().scoring_admin_service.clear_grade_override(
        current_principal(router), _lead_id(lead_id)
    )


@router.get(
    "/leads/<lead_id>/score-history",
    summary="A lead's score and grade changes, newest first, with their causes",
    responses={
        200: {"description": "One page", "content": {JSON: {"model": ScoreHistoryPage}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def score_history(
    lead_id: LeadId,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ScoreHistoryPage:
    """Each entry: before/after score, grade and breakdown, and the cause ("event: email_clicked" with the
    event id, "nightly decay", "model changed", "manual override", "profile changed: job_title")."""
    return get_wiring().scoring_admin_service.score_history(
        current_principal(router), _lead_id(lead_id), limit=limit, cursor=cursor
    )
