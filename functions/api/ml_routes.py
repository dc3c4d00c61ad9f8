"""Predictive-scoring routes under a scoring model: train a model version, list and read versions with their
metrics and live performance, promote a version to champion, set a challenger (admins and managers).

The registry logic is pure Python (leadtide.ml.registry): this module never imports scikit-learn, numpy or
the training code; training runs in the Training function.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.ml import (
    ChallengerRequest,
    ModelPointer,
    ModelVersion,
    ModelVersionList,
    PromoteRequest,
    PromotionResult,
    TrainAccepted,
    TrainRequest,
)
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

ScoringModelId = Annotated[str, Path(description="scoring model id", max_length=64)]
ModelVersionId = Annotated[
    str, Path(description="model version, e.g. 20261121T143000Z-1a2b3c", max_length=64)
]


@router.post(
    "/scoring-models/<model_id>/train",
    summary="Train a new predictive model version on the tenant's converted and lost leads",
    responses={
        202: {"description": "Queued", "content": {JSON: {"model": TrainAccepted}}},
        **documented_errors(400, 401, 403, 422),
    },
)
def train_model_version(
    model_id: ScoringModelId, request: Annotated[TrainRequest | None, Body()] = None
) -> Response[TrainAccepted]:
    """Checks the minimum data first (30 converted and 30 lost leads): with fewer, 422 gives the counts and
    whether the starter model can be adopted (`{"starter": true}`, new tenants only). Training runs in the
    background; the first model of a tenant becomes its champion."""

    accepted = get_wiring().model_registry_service.request_training(
        current_principal(router), model_id, starter=bool(request and request.starter)
    )
    return Response(status_code=202, content_type=JSON, body=accepted)


@router.get(
    "/scoring-models/<model_id>/versions",
    summary="List the scoring model's predictive model versions with metrics and live performance",
    responses={
        200: {"description": "Versions, newest first", "content": {JSON: {"model": ModelVersionList}}},
        **documented_errors(400, 401, 403),
    },
)
def list_model_versions(model_id: ScoringModelId) -> ModelVersionList:
    """Held-out metrics from training (ROC AUC, PR AUC, Brier, ECE) and running metrics on the outcomes of
    the leads each version scored; `pointer` names the champion, the challenger and its traffic share."""

    return get_wiring().model_registry_service.list_versions(current_principal(router), model_id)


@router.get(
    "/scoring-models/<model_id>/versions/<model_version>",
    summary="Get one predictive model version",
    responses={
        200: {"description": "The version", "content": {JSON: {"model": ModelVersion}}},
        **documented_errors(400, 401, 403, 404),
    },
)
def get_model_version(model_id: ScoringModelId, model_version: ModelVersionId) -> ModelVersion:
    """Metrics, features, training date range, artifact key, library versions, the comparison with the
    champion of its training time and live performance."""

    return get_wiring().model_registry_service.get_version(current_principal(router), model_id, model_version)


@router.post(
    "/scoring-models/<model_id>/versions/<model_version>/promote",
    summary="Promote a model version to champion (only if measurably better, or forced by an admin)",
    responses={
        200: {"description": "Promoted", "content": {JSON: {"model": PromotionResult}}},
        **documented_errors(400, 401, 403, 404, 409, 422),
    },
)
def promote_model_version(
    model_id: ScoringModelId,
    model_version: ModelVersionId,
    request: Annotated[PromoteRequest | None, Body()] = None,
) -> PromotionResult:
    """Allowed when the version's ROC AUC beat the current champion's on the same recent held-out outcomes
    with a paired-bootstrap 95 % interval above 0; otherwise 409 with the comparison. `force: true` with a
    `reason` lets an admin promote anyway."""

    body = request or PromoteRequest()
    return get_wiring().model_registry_service.promote(
        current_principal(router), model_id, model_version, force=body.force, reason=body.reason
    )


@router.put(
    "/scoring-models/<model_id>/challenger",
    summary="Set (or stop) the challenger model and its share of leads",
    responses={
        200: {"description": "The serving pointer", "content": {JSON: {"model": ModelPointer}}},
        **documented_errors(400, 401, 403, 404, 409, 422),
    },
)
def set_model_challenger(
    model_id: ScoringModelId, request: Annotated[ChallengerRequest, Body()]
) -> ModelPointer:
    """The challenger scores `traffic_percent` (1-50) % of leads, chosen by a stable hash of the lead id, so a
    lead keeps its model; `model_version: null` stops the challenger."""

    return get_wiring().model_registry_service.set_challenger(
        current_principal(router), model_id, request.model_version, request.traffic_percent
    )
