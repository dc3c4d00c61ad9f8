"""Custom field definitions in the LeadsTable: the port and its DynamoDB implementation.

Items: ``pk=T#<tenant>#CF``, ``sk=F#<key>``, ``doc`` = the definition as JSON. One Query lists a
tenant's definitions; create is conditional on the key being new, update and delete on it existing.
"""

from __future__ import annotations

from datetime import datetime

from leadtide.customfields.models import STORED, CustomFieldDefinition
from leadtide.customfields.ports import CustomFieldRepository
from leadtide.dal.base import StorageAdapter
from leadtide.dal.errors import condition_failed
from leadtide.models.errors import ConflictError, CustomFieldNotFoundError


def custom_fields_pk(tenant_id: str) -> str:
    """Partition key of a tenant's custom field definitions."""
    return f"T#{tenant_id}#CF"


def custom_field_sk(key: str) -> str:
    """Sort key of one definition."""
    return f"F#{key}"


def _exists_error(key: str) -> ConflictError:
    return ConflictError(
        f"custom field '{key}' already exists",
        code="custom_field_exists",
        details=[{"field": "key", "problem": "already exists"}],
    )


def _missing_error(key: str) -> CustomFieldNotFoundError:
    return CustomFieldNotFoundError(f"custom field '{key}' not found")


class DynamoCustomFieldRepository(StorageAdapter, CustomFieldRepository):
    """Definitions over DynamoDB (PynamoDB ``CustomFieldItem``)."""

    def list(self, tenant_id: str) -> list[CustomFieldDefinition]:
        from leadtide.dal.items import CustomFieldItem

        items = CustomFieldItem.query(custom_fields_pk(tenant_id), CustomFieldItem.sk.startswith("F#"))
        return [CustomFieldDefinition.model_validate(item.doc, context={STORED: True}) for item in items]

    def get(self, tenant_id: str, key: str) -> CustomFieldDefinition:
        from pynamodb.exceptions import DoesNotExist

        from leadtide.dal.items import CustomFieldItem

        try:
            item = CustomFieldItem.get(
                custom_fields_pk(tenant_id), custom_field_sk(key), consistent_read=True
            )
        except DoesNotExist:
            raise _missing_error(key) from None
        return CustomFieldDefinition.model_validate(item.doc, context={STORED: True})

    def create(self, tenant_id: str, definition: CustomFieldDefinition, now: datetime) -> None:
        from pynamodb.exceptions import PutError

        from leadtide.dal.items import CustomFieldItem

        item = CustomFieldItem(
            custom_fields_pk(tenant_id),
            custom_field_sk(definition.key),
            doc=definition.model_dump(mode="json", exclude_none=True),
            version=1,
            created_at=now,
            updated_at=now,
        )
        try:
            item.save(condition=CustomFieldItem.pk.does_not_exist())
        except PutError as err:
            if condition_failed(err):
                raise _exists_error(definition.key) from None
            raise

    def replace(self, tenant_id: str, definition: CustomFieldDefinition, now: datetime) -> None:
        from pynamodb.exceptions import UpdateError

        from leadtide.dal.items import CustomFieldItem

        item = CustomFieldItem(custom_fields_pk(tenant_id), custom_field_sk(definition.key))
        try:
            item.update(
                actions=[
                    CustomFieldItem.doc.set(definition.model_dump(mode="json", exclude_none=True)),
                    CustomFieldItem.version.add(1),
                    CustomFieldItem.updated_at.set(now),
                ],
                condition=CustomFieldItem.pk.exists(),
            )
        except UpdateError as err:
            if condition_failed(err):
                raise _missing_error(definition.key) from None
            raise

    def delete(self, tenant_id: str, key: str) -> None:
        from pynamodb.exceptions import DeleteError

        from leadtide.dal.items import CustomFieldItem

        try:
            CustomFieldItem(custom_fields_pk(tenant_id), custom_field_sk(key)).delete(
                condition=CustomFieldItem.pk.exists()
            )
        except DeleteError as err:
            if condition_failed(err):
                raise _missing_error(key) from None
            raise
