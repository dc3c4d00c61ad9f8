"""The ports through which exports and bulk actions reach static lists, segments and custom fields.

Static lists, segments and custom fields are other bounded contexts (``leadtide.lists``,
``leadtide.segments``, ``leadtide.customfields``). Exports and bulk actions only need a few of their
operations, so they depend on the two small ports below; the default adapters call those services when
they are installed and otherwise behave as a tenant with no lists, no segments and no custom fields.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from leadtide.models.auth import Principal
from leadtide.models.errors import ListNotFoundError, SegmentNotFoundError


@dataclass(frozen=True)
class CustomFieldColumn:
    """A custom field as an export column: its key (in ``Lead.custom_fields``), label and type."""

    key: str
    label: str
    type: str = "text"


class LeadCollections(ABC):
    """Static lists and segments, as far as exports and bulk actions use them."""

    @abstractmethod
    def list_member_ids(self, tenant_id: str, list_id: str) -> Iterator[str]:
        """Lead ids of a static list. Raises NotFoundError (404) for an unknown list."""

    @abstractmethod
    def segment_member_ids(self, tenant_id: str, segment_id: str) -> Iterator[str]:
        """Lead ids currently matching a segment. Raises NotFoundError (404) for an unknown segment."""

    def check_list(self, tenant_id: str, list_id: str) -> None:
        """Raise NotFoundError (404) when the list does not exist (reads at most one member)."""
        next(iter(self.list_member_ids(tenant_id, list_id)), None)

    def check_segment(self, tenant_id: str, segment_id: str) -> None:
        """Raise NotFoundError (404) when the segment does not exist (reads at most one member)."""
        next(iter(self.segment_member_ids(tenant_id, segment_id)), None)

    @abstractmethod
    def add_to_list(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> None:
        """Add leads to a static list (already-members are fine). Raises NotFoundError for the list."""

    @abstractmethod
    def remove_from_list(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> None:
        """Remove leads from a static list (non-members are fine). Raises NotFoundError for the list."""

    @abstractmethod
    def remove_lead_everywhere(self, tenant_id: str, lead_id: str) -> None:
        """Drop a deleted lead from every static list it belonged to."""


class CustomFieldCatalog(ABC):
    """The tenant's custom field definitions (export columns)."""

    @abstractmethod
    def columns(self, tenant_id: str) -> list[CustomFieldColumn]:
        """Every custom field of the tenant, in definition order."""


def _service(module: str, getter: str) -> Any | None:
    """``module.getter()`` when that service exists in this build, else None."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError:
        return None
    factory = getattr(mod, getter, None)
    return factory() if callable(factory) else None


class ServiceCollections(LeadCollections):
    """Lists and segments through ``leadtide.lists.service`` / ``leadtide.segments.service``; without
    them, every list and segment id is unknown (404) and deleting a lead has no memberships to drop."""

    def list_member_ids(self, tenant_id: str, list_id: str) -> Iterator[str]:
        service = _service("leadtide.lists.service", "get_list_service")
        if service is None:
            raise ListNotFoundError(f"list {list_id} not found")
        return iter(service.iter_lead_ids(tenant_id, list_id))

    def segment_member_ids(self, tenant_id: str, segment_id: str) -> Iterator[str]:
        service = _service("leadtide.segments.service", "get_segment_service")
        if service is None:
            raise SegmentNotFoundError(f"segment {segment_id} not found")
        return iter(service.iter_member_ids(tenant_id, segment_id))

    def add_to_list(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> None:
        service = _service("leadtide.lists.service", "get_list_service")
        if service is None:
            raise ListNotFoundError(f"list {list_id} not found")
        service.add_leads(principal, list_id, list(lead_ids))

    def remove_from_list(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> None:
        service = _service("leadtide.lists.service", "get_list_service")
        if service is None:
            raise ListNotFoundError(f"list {list_id} not found")
        service.remove_leads(principal, list_id, list(lead_ids))

    def remove_lead_everywhere(self, tenant_id: str, lead_id: str) -> None:
        service = _service("leadtide.lists.service", "get_list_service")
        if service is not None:
            service.remove_lead_everywhere(tenant_id, lead_id)


class ServiceCustomFields(CustomFieldCatalog):
    """Custom fields through ``leadtide.customfields.service``; none when that service is absent."""

    def columns(self, tenant_id: str) -> list[CustomFieldColumn]:
        service = _service("leadtide.customfields.service", "get_custom_field_service")
        if service is None:
            return []
        return [
            CustomFieldColumn(
                key=str(d.key),
                label=str(getattr(d, "label", None) or d.key),
                type=str(getattr(d, "type", "text")),
            )
            for d in service.list_definitions(tenant_id)
        ]


@lru_cache(maxsize=1)
def get_lead_collections() -> LeadCollections:
    """The process-wide lists/segments adapter."""
    return ServiceCollections()


@lru_cache(maxsize=1)
def get_custom_field_catalog() -> CustomFieldCatalog:
    """The process-wide custom-field adapter."""
    return ServiceCustomFields()
