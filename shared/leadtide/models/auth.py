"""Who is calling: the principal read from the JWT claims API Gateway's authorizer verified."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from leadtide.models.common import Role
from leadtide.models.errors import UnauthenticatedError

_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Principal:
    """An authenticated user of one tenant."""

    tenant_id: str
    user_id: str
    role: Role

    @property
    def sees_all_leads(self) -> bool:
        """Admins and managers see every lead of the tenant; reps only their own and unassigned ones."""
        return self.role in (Role.ADMIN, Role.MANAGER)

    @property
    def visible_to(self) -> str | None:
        """The owner scope of everything this principal receives: None for admins and managers (the whole
        tenant), the rep's own user id for reps (leads they own and unassigned ones). Pass it to
        repository reads (``LeadQuery.visible_to``, ``dashboard(visible_to=)``) and to :func:`owner_visible`
        for records read otherwise."""
        return None if self.sees_all_leads else self.user_id

    def can_see(self, owner_id: str | None) -> bool:
        """Whether a lead owned by ``owner_id`` (None: unassigned) is visible to this principal."""
        return owner_visible(owner_id, self.visible_to)

    @classmethod
    def from_claims(cls, claims: dict[str, Any] | None) -> Principal:
        """Build from Cognito ID-token claims (``sub``, ``custom:tenant_id``, ``custom:role``).

        Raises:
            UnauthenticatedError: a claim is missing or malformed (API Gateway passed an unusable token).
        """
        claims = claims or {}
        tenant = str(claims.get("custom:tenant_id") or "")
        user = str(claims.get("sub") or "")
        role = str(claims.get("custom:role") or "")
        if not _TENANT.match(tenant):
            raise UnauthenticatedError("token has no valid custom:tenant_id claim")
        if not user:
            raise UnauthenticatedError("token has no sub claim")
        try:
            parsed_role = Role(role)
        except ValueError:
            raise UnauthenticatedError("token's custom:role claim must be admin, manager or rep") from None
        return cls(tenant_id=tenant, user_id=user, role=parsed_role)


def owner_visible(owner_id: Any, visible_to: str | None) -> bool:
    """The visibility rule, in one place: a lead is visible within the scope ``visible_to`` (see
    :attr:`Principal.visible_to`; None: every lead) when it is unassigned or owned by that user. Every count,
    page, preview, sample, duplicate pair, export, bulk selection and conflict body a rep receives is
    computed over the leads this accepts (docs/decisions.md, "What a rep may see")."""
    return visible_to is None or owner_id is None or owner_id == visible_to
