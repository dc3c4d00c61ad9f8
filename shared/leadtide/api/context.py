"""Who is calling: the principal of an API Gateway HTTP API request, from its authorizer's JWT claims."""

from __future__ import annotations

from typing import Any

from leadtide.models.auth import Principal


def principal_of(event: Any) -> Principal:
    """The caller of ``event`` (a Powertools ``APIGatewayProxyEventV2``), from the claims API Gateway's JWT
    authorizer verified.

    Raises:
        UnauthenticatedError: the claims lack a tenant, user or valid role.
    """
    authorizer = event.request_context.authorizer
    claims = authorizer.jwt_claim if authorizer is not None else None
    return Principal.from_claims(claims)


def current_principal(router: Any) -> Principal:
    """The caller of the request ``router`` (a Powertools router or resolver) is serving now.

    Raises:
        UnauthenticatedError: the claims lack a tenant, user or valid role.
    """
    return principal_of(router.current_event)
