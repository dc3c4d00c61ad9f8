"""Adapters of the ports through which exports and bulk actions reach static lists, segments and custom
fields (:class:`~leadtide.bulk.ports.LeadCollections`, :class:`~leadtide.bulk.ports.CustomFieldCatalog`).

Static lists, segments and custom fields are other bounded contexts (``leadtide.lists``,
``leadtide.segments``, ``leadtide.customfields``); these adapters call their services, which the wiring
hands in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from leadtide.bulk.ports import CustomFieldCatalog, CustomFieldColumn, LeadCollections
from leadtide.models.auth import Principal


class ServiceCollections(LeadCollections):
    """Lists and segments through the list and segment services (each given as a zero-argument callable,
    so neither is built before it is needed)."""

    def __init__(self, *, lists: Callable[[], Any], segments: Callable[[], Any]):
        self._lists = lists
        self._segments = segments

    def list_member_ids(self, tenant_id: str, list_id: str) -> Iterator[str]:
        return iter(self._lists().iter_lead_ids(tenant_id, list_id))

    def segment_member_ids(self, tenant_id: str, segment_id: str) -> Iterator[str]:
        return iter(self._segments().iter_member_ids(tenant_id, segment_id))

    def add_to_list(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> None:
        self._lists().add_leads(principal, list_id, list(lead_ids))

    def remove_from_list(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> None:
        self._lists().remove_leads(principal, list_id, list(lead_ids))

    def remove_lead_everywhere(self, tenant_id: str, lead_id: str) -> None:
        self._lists().remove_lead_everywhere(tenant_id, lead_id)


class ServiceCustomFields(CustomFieldCatalog):
    """Custom fields (export columns) through the custom field service (a zero-argument callable)."""

    def __init__(self, custom_fields: Callable[[], Any]):
        self._custom_fields = custom_fields

    def columns(self, tenant_id: str) -> list[CustomFieldColumn]:
        return [
            CustomFieldColumn(
                key=str(d.key),
                label=str(getattr(d, "label", None) or d.key),
                type=str(getattr(d, "type", "text")),
            )
            for d in self._custom_fields().list_definitions(tenant_id)
        ]
