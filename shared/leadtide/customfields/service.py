"""Custom field definitions of a tenant, and the checking of lead values against them.

Everyone in a tenant reads the definitions; admins and managers write them. Built-in fields
(:data:`~leadtide.customfields.models.BUILTIN_FIELDS`) exist for every tenant and are read-only.
Definitions are cached per process for :data:`CACHE_SECONDS` (a write in this process refreshes at
once; other processes see it within that time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from leadtide.customfields.models import (
    BUILTIN_FIELDS,
    BUILTIN_KEYS,
    CustomFieldDefinition,
    CustomFieldUpdate,
    CustomFieldValueError,
)
from leadtide.models.auth import Principal
from leadtide.models.common import utc_now
from leadtide.models.errors import CustomFieldNotFoundError, ForbiddenError, UnprocessableError

if TYPE_CHECKING:
    from leadtide.customfields.ports import CustomFieldRepository

CACHE_SECONDS = 30.0
MAX_CUSTOM_FIELDS = 100
"""Per tenant, built-in fields not counted."""


class InvalidCustomFieldError(UnprocessableError):
    """A custom field definition breaks a rule (HTTP 422, code ``invalid_custom_field``)."""

    code = "invalid_custom_field"


class InvalidCustomFieldValueError(UnprocessableError):
    """Lead values do not fit the tenant's custom fields (HTTP 422, code ``invalid_custom_field_value``).

    ``details`` lists ``{"field": "custom_fields.<key>", "problem": ...}`` for every bad value.
    """

    code = "invalid_custom_field_value"


def parse_definition(data: Mapping[str, Any]) -> CustomFieldDefinition:
    """Build a definition from a dict, turning pydantic's errors into one 422 naming every problem.

    Raises:
        InvalidCustomFieldError: the definition breaks a rule (``details`` names each field).
    """
    try:
        return CustomFieldDefinition.model_validate(dict(data))
    except ValidationError as err:
        details = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())) or "definition",
                "problem": str(e.get("msg", "invalid")).removeprefix("Value error, "),
            }
            for e in err.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        raise InvalidCustomFieldError(
            f"invalid custom field definition ({summary})", details=details
        ) from None


class CustomFieldService:
    """Definitions CRUD over a :class:`CustomFieldRepository`, with a short per-process cache."""

    def __init__(
        self,
        repository: CustomFieldRepository,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        default_region: str = "US",
    ):
        self._repo = repository
        self._ttl = cache_seconds
        self._clock = clock
        self._region = default_region
        self._cache: dict[str, tuple[float, list[CustomFieldDefinition]]] = {}

    # ------------------------------------------------------------------ reads
    def list_definitions(self, tenant_id: str) -> list[CustomFieldDefinition]:
        """Built-in fields, then the tenant's own by key (cached up to ``cache_seconds``)."""
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        own = sorted(self._repo.list(tenant_id), key=lambda d: d.key)
        definitions = [*BUILTIN_FIELDS, *own]
        self._cache[tenant_id] = (now + self._ttl, definitions)
        return definitions

    def definitions_by_key(self, tenant_id: str) -> dict[str, CustomFieldDefinition]:
        """``{key: definition}`` of :meth:`list_definitions`."""
        return {d.key: d for d in self.list_definitions(tenant_id)}

    def get(self, principal: Principal, key: str) -> CustomFieldDefinition:
        """One definition (built-in ones included). Raises CustomFieldNotFoundError (404)."""
        for definition in BUILTIN_FIELDS:
            if definition.key == key:
                return definition
        return self._repo.get(principal.tenant_id, key)

    # ------------------------------------------------------------------ writes
    def create(self, principal: Principal, definition: CustomFieldDefinition) -> CustomFieldDefinition:
        """Add a custom field.

        Raises:
            ForbiddenError (403): a rep.
            InvalidCustomFieldError (422): the key is a built-in field's, ``builtin`` was set, or the tenant
                already has :data:`MAX_CUSTOM_FIELDS` fields.
            ConflictError (409, ``custom_field_exists``): the key exists.
        """
        self._check_writer(principal)
        if definition.key in BUILTIN_KEYS:
            raise InvalidCustomFieldError(
                f"'{definition.key}' is a built-in field's key; choose another",
                details=[{"field": "key", "problem": "reserved for a built-in field"}],
            )
        if definition.builtin:
            raise InvalidCustomFieldError(
                "builtin cannot be set", details=[{"field": "builtin", "problem": "read-only"}]
            )
        existing = self._repo.list(principal.tenant_id)
        if len(existing) >= MAX_CUSTOM_FIELDS and all(d.key != definition.key for d in existing):
            raise InvalidCustomFieldError(
                f"a tenant can have at most {MAX_CUSTOM_FIELDS} custom fields",
                details=[{"field": "key", "problem": "too many custom fields"}],
            )
        self._repo.create(principal.tenant_id, definition, utc_now())
        self._cache.pop(principal.tenant_id, None)
        return definition

    def update(self, principal: Principal, key: str, changes: CustomFieldUpdate) -> CustomFieldDefinition:
        """Change label, description, required and rules (key and type stay).

        Values already stored on leads are not re-checked: a tightened rule applies to new values.

        Raises:
            ForbiddenError (403), CustomFieldNotFoundError (404), InvalidCustomFieldError (422: a built-in
            field, or the changed definition breaks a rule).
        """
        self._check_writer(principal)
        self._check_not_builtin(key)
        current = self._repo.get(principal.tenant_id, key)
        merged = {
            **current.model_dump(exclude_none=True),
            **changes.model_dump(exclude_unset=True),
        }
        updated = parse_definition({k: v for k, v in merged.items() if v is not None})
        self._repo.replace(principal.tenant_id, updated, utc_now())
        self._cache.pop(principal.tenant_id, None)
        return updated

    def delete(self, principal: Principal, key: str) -> None:
        """Remove the definition. Values already on leads stay (they are no longer checked or offered).

        Raises:
            ForbiddenError (403), CustomFieldNotFoundError (404), InvalidCustomFieldError (422: built-in).
        """
        self._check_writer(principal)
        self._check_not_builtin(key)
        self._repo.delete(principal.tenant_id, key)
        self._cache.pop(principal.tenant_id, None)

    # ------------------------------------------------------------------ values
    def validate_values(
        self, tenant_id: str, values: Mapping[str, Any], *, partial: bool = False
    ) -> dict[str, Any]:
        """Coerce a lead's ``custom_fields`` through the tenant's definitions.

        ``partial=False`` (a new lead): empty values are dropped and every required field must have a
        value. ``partial=True`` (a change): only the keys given are checked; ``None`` (or an empty value)
        means "clear", which a required field refuses.

        Returns:
            ``{key: coerced value}`` (with ``partial``, ``None`` for the keys to clear).

        Raises:
            InvalidCustomFieldValueError (422): unknown keys, values that do not fit, or missing required
            values; ``details`` names every problem, the message the first few.
        """
        definitions = self.definitions_by_key(tenant_id)
        problems: list[dict[str, str]] = []
        unknown = sorted(k for k in values if k not in definitions)
        for key in unknown:
            problems.append({"field": f"custom_fields.{key}", "problem": "no custom field with this key"})
        result: dict[str, Any] = {}
        for key, raw in values.items():
            definition = definitions.get(key)
            if definition is None:
                continue
            try:
                value = definition.coerce(raw, default_region=self._region)
            except CustomFieldValueError as err:
                problems.append({"field": f"custom_fields.{key}", "problem": str(err)})
                continue
            if value is None:
                if definition.required:
                    problems.append(
                        {"field": f"custom_fields.{key}", "problem": f"Custom field '{key}' is required"}
                    )
                elif partial:
                    result[key] = None
                continue
            result[key] = value
        if not partial:
            for definition in definitions.values():
                if definition.required and definition.key not in values:
                    problems.append(
                        {
                            "field": f"custom_fields.{definition.key}",
                            "problem": f"Custom field '{definition.key}' is required",
                        }
                    )
        if problems:
            head = "; ".join(p["problem"] for p in problems[:3])
            if unknown:
                head = f"unknown custom fields: {', '.join(unknown)}" + (
                    f"; {head}" if len(problems) > len(unknown) else ""
                )
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 and not unknown else ""
            raise InvalidCustomFieldValueError(head + more, details=problems)
        return result

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_writer(principal: Principal) -> None:
        if not principal.sees_all_leads:
            raise ForbiddenError("only admins and managers change custom fields")

    @staticmethod
    def _check_not_builtin(key: str) -> None:
        if key in BUILTIN_KEYS:
            raise InvalidCustomFieldError(
                f"'{key}' is a built-in field and cannot be changed or deleted",
                details=[{"field": "key", "problem": "built-in field"}],
            )

    def ensure_exists(self, tenant_id: str, key: str) -> CustomFieldDefinition:
        """The definition of ``key`` (cached). Raises CustomFieldNotFoundError (404)."""
        definition = self.definitions_by_key(tenant_id).get(key)
        if definition is None:
            raise CustomFieldNotFoundError(f"custom field '{key}' not found")
        return definition
