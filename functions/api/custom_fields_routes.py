"""Custom field routes: a tenant's field definitions (everyone reads; admins and managers write).

Values of these fields are set on leads through ``custom_fields`` of ``POST /leads`` and
``PATCH /leads/{lead_id}``, and by imports.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.customfields.models import (
    KEY_PATTERN,
    CustomFieldDefinition,
    CustomFieldList,
    CustomFieldUpdate,
)
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

FieldKey = Annotated[str, Path(description="custom field key (slug)", max_length=40)]


def _key(key: str) -> str:
    import re

    from leadtide.models.errors import CustomFieldNotFoundError

    if not re.match(KEY_PATTERN, key):
        raise CustomFieldNotFoundError(f"custom field '{key}' not found")
    return key


@router.get(
    "/custom-fields",
    summary="List the tenant's custom fields (built-in fields first)",
    responses={
        200: {"description": "Custom field definitions", "content": {JSON: {"model": CustomFieldList}}},
        **documented_errors(401),
    },
)
def list_custom_fields() -> CustomFieldList:
    """Every role reads the definitions: built-in fields (read-only), then the tenant's own by key."""

    principal = current_principal(router)
    return CustomFieldList(items=get_wiring().custom_field_service.list_definitions(principal.tenant_id))


@router.post(
    "/custom-fields",
    summary="Define a custom field (admins and managers)",
    responses={
        201: {"description": "Created", "content": {JSON: {"model": CustomFieldDefinition}}},
        **documented_errors(400, 401, 403, 409, 422),
    },
)
def create_custom_field(
    definition: Annotated[CustomFieldDefinition, Body()],
) -> Response[CustomFieldDefinition]:
    """Types: text, number, date, dropdown, multi_select, checkbox, url, email, phone. Rules are checked
    here (a bad pattern, empty or repeated options, min above max: 422) and on every value later."""

    created = get_wiring().custom_field_service.create(current_principal(router), definition)
    return Response(status_code=201, content_type=JSON, body=created)


@router.get(
    "/custom-fields/<key>",
    summary="Get one custom field",
    responses={
        200: {"description": "The definition", "content": {JSON: {"model": CustomFieldDefinition}}},
        **documented_errors(401, 404, 422),
    },
)
def get_custom_field(key: FieldKey) -> CustomFieldDefinition:
    """Built-in fields are found too."""

    return get_wiring().custom_field_service.get(current_principal(router), _key(key))


@router.patch(
    "/custom-fields/<key>",
    summary="Change a custom field's label, required flag or rules (admins and managers)",
    responses={
        200: {"description": "The updated definition", "content": {JSON: {"model": CustomFieldDefinition}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def update_custom_field(
    key: FieldKey, changes: Annotated[CustomFieldUpdate, Body()]
) -> CustomFieldDefinition:
    """Key and type never change. Values already on leads are not re-checked; new values are."""

    return get_wiring().custom_field_service.update(current_principal(router), _key(key), changes)


@router.delete(
    "/custom-fields/<key>",
    summary="Delete a custom field (admins and managers)",
    responses={204: {"description": "Deleted"}, **documented_errors(401, 403, 404, 422)},
)
def delete_custom_field(key: FieldKey) -> Response[None]:
    """Values already on leads are kept but no longer checked; built-in fields cannot be deleted."""

    get_wiring().custom_field_service.delete(current_principal(router), _key(key))
    return Response(status_code=204, body="")
