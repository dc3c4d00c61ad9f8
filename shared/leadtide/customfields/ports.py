"""Ports of leadtide.customfields: the interfaces its logic depends on (implemented in leadtide.dal, faked in tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from leadtide.customfields.models import CustomFieldDefinition


class CustomFieldRepository(ABC):
    """A tenant's custom field definitions (tenant id always explicit)."""

    @abstractmethod
    def list(self, tenant_id: str) -> list[CustomFieldDefinition]:
        """Every definition of the tenant, by key."""

    @abstractmethod
    def get(self, tenant_id: str, key: str) -> CustomFieldDefinition:
        """Raises CustomFieldNotFoundError."""

    @abstractmethod
    def create(self, tenant_id: str, definition: CustomFieldDefinition, now: datetime) -> None:
        """Store a new definition. Raises ConflictError (code ``custom_field_exists``) when the key exists."""

    @abstractmethod
    def replace(self, tenant_id: str, definition: CustomFieldDefinition, now: datetime) -> None:
        """Overwrite an existing definition. Raises CustomFieldNotFoundError."""

    @abstractmethod
    def delete(self, tenant_id: str, key: str) -> None:
        """Remove a definition. Raises CustomFieldNotFoundError."""
