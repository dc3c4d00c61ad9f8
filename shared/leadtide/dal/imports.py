"""DynamoDB implementation of the import records port (:class:`leadtide.imports.ports.ImportRepository`):
import records, chunk markers and saved mappings as PynamoDB items in ``LEADS_TABLE``.

The record (:class:`leadtide.imports.models.ImportRecord`) is stored as one ``ImportItem``: its status,
times and counters are attributes of their own (chunk steps ``ADD`` to the counters), every other field
sits under its own name in the JSON attribute ``doc`` (:func:`record_from_item`, :func:`item_from_record`).
The lead bulk store is in :mod:`leadtide.dal.import_bulk`, the S3 files in
:mod:`leadtide.dal.import_artifacts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.items import CounterItem, ImportChunkItem, ImportItem, ImportMappingItem, stats_pk
from leadtide.imports.models import COUNTER_FIELDS, FailedChunk, ImportRecord, ImportStatus, SavedMapping
from leadtide.imports.ports import ImportRepository
from leadtide.models.common import utc_now
from leadtide.models.errors import ImportNotFoundError


def imports_pk(tenant_id: str) -> str:
    """Partition of the tenant's import records (sk = import id, time-ordered)."""
    return f"T#{tenant_id}#IMPORTS"


def import_chunks_pk(tenant_id: str, import_id: str) -> str:
    """Partition of one import's chunk markers (sk = C#/R#/A#<n>)."""
    return f"T#{tenant_id}#IMPORT#{import_id}"


def mappings_pk(tenant_id: str) -> str:
    """Partition of the tenant's saved import mappings (sk = name)."""
    return f"T#{tenant_id}#IMPORTMAPS"


# ---------------------------------------------------------------------------------------- records
_ATTRIBUTE_FIELDS = (
    "status",
    "requested_by",
    "created_at",
    "started_at",
    "finished_at",
    "preview_swept_at",
    *COUNTER_FIELDS,
)
"""ImportRecord fields stored as attributes of their own (counters: so chunk steps ADD to them)."""
_DOC_FIELDS = frozenset(ImportRecord.model_fields) - {"tenant_id", "import_id", *_ATTRIBUTE_FIELDS}
"""ImportRecord fields stored together in the item's JSON ``doc`` (under their own names)."""


def record_from_item(item: ImportItem) -> ImportRecord:
    """The record of a stored import item. ``doc`` keys that are no record field are ignored; absent
    ones take the field's default (an option added later reads as what it meant before it existed)."""
    values: dict[str, Any] = {name: getattr(item, name) for name in _ATTRIBUTE_FIELDS}
    values.update((name, value) for name, value in (item.doc or {}).items() if name in _DOC_FIELDS)
    present = {name: value for name, value in values.items() if value is not None}
    return ImportRecord(tenant_id=item.pk.split("#")[1], import_id=item.sk, **present)


def item_from_record(record: ImportRecord) -> ImportItem:
    """The stored item of a record (the inverse of :func:`record_from_item`)."""
    attributes = {name: getattr(record, name) for name in _ATTRIBUTE_FIELDS}
    return ImportItem(
        imports_pk(record.tenant_id),
        record.import_id,
        doc=_doc_of(record),
        **{name: value for name, value in attributes.items() if value is not None},
    )


def _doc_of(record: ImportRecord, names: Iterable[str] = _DOC_FIELDS) -> dict[str, Any]:
    """The ``doc`` entries (JSON) of the record's fields ``names``."""
    return record.model_dump(mode="json", include=set(names))


def _condition_failed(err: Exception) -> bool:
    return getattr(err, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoImportRepository(DynamoRepository, ImportRepository):
    """Import records (``ImportItem``), chunk markers (``ImportChunkItem``), mappings (``ImportMappingItem``).

    A record's status, times and counters are attributes of the item; its other fields sit in the JSON
    attribute ``doc`` (:func:`record_from_item`)."""

    def create(self, record: ImportRecord) -> None:
        item_from_record(record).save(condition=ImportItem.pk.does_not_exist())

    @staticmethod
    def _item(tenant_id: str, import_id: str) -> ImportItem:
        try:
            return ImportItem.get(imports_pk(tenant_id), import_id, consistent_read=True)
        except DoesNotExist:
            raise ImportNotFoundError(f"import {import_id} not found") from None

    def get(self, tenant_id: str, import_id: str) -> ImportRecord:
        return record_from_item(self._item(tenant_id, import_id))

    def list_imports(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ImportRecord], str | None]:
        start = decode_cursor(cursor, scope="imports", tenant_prefix=f"T#{tenant_id}")
        results = ImportItem.query(
            imports_pk(tenant_id),
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=start,
        )
        records = [record_from_item(item) for item in results]
        return records, encode_cursor(results.last_evaluated_key, scope="imports")

    def update(
        self,
        tenant_id: str,
        import_id: str,
        *,
        status: ImportStatus | None = None,
        changes: Mapping[str, Any] | None = None,
        expect_status: Sequence[ImportStatus] | None = None,
    ) -> bool:
        """Read the item, then one UpdateItem conditional on the status read (retried after a concurrent
        status change when ``expect_status`` is None). Changed ``doc`` fields are merged into the stored
        ``doc``, so its other entries stay as they are."""
        item = self._item(tenant_id, import_id)
        if expect_status is not None and item.status not in expect_status:
            return False
        values = dict(changes or {})
        if status is not None:
            values["status"] = str(status)
        if not values:
            return True
        changed = record_from_item(item).with_changes(values)
        actions: list[Action] = []
        for name in values:
            if name in _DOC_FIELDS:
                continue
            attribute, value = getattr(ImportItem, name), getattr(changed, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        in_doc = [name for name in values if name in _DOC_FIELDS]
        if in_doc:
            actions.append(ImportItem.doc.set({**(item.doc or {}), **_doc_of(changed, in_doc)}))
        condition = ImportItem.status == item.status  # nobody moved it since we read it
        try:
            ImportItem(imports_pk(tenant_id), import_id).update(actions=actions, condition=condition)
        except UpdateError as err:
            if not _condition_failed(err):
                raise
            if expect_status is None:
                return self.update(tenant_id, import_id, status=status, changes=changes)
            return False
        return True

    def iter_import_tenants(self) -> Iterator[str]:
        """Scan of the table for ``T#<t>#IMPORTS`` items, projecting only ``pk`` (1 MB pages; the filter
        is applied after the read, so it costs a read of the whole table, like the duplicate scan's
        tenant list)."""
        seen: set[str] = set()
        for item in ImportItem.scan(ImportItem.pk.contains("#IMPORTS"), attributes_to_get=["pk"]):
            tenant = item.pk.split("#")[1]
            if item.pk == imports_pk(tenant) and tenant not in seen:
                seen.add(tenant)
                yield tenant

    def iter_unswept_before(self, tenant_id: str, id_before: str) -> Iterator[ImportRecord]:
        """Query ``T#<t>#IMPORTS`` for sort keys below ``id_before`` (import ids are time-ordered),
        filtered to records without ``preview_swept_at``, oldest first, 100 per page."""
        for item in ImportItem.query(
            imports_pk(tenant_id),
            ImportItem.sk < id_before,
            filter_condition=ImportItem.preview_swept_at.does_not_exist(),
            page_size=100,
        ):
            yield record_from_item(item)

    def sweep(self, record: ImportRecord, *, swept_at: datetime) -> bool:
        """One UpdateItem: ``doc`` from the record, ``preview_swept_at``; conditional on the status and
        on not being swept yet."""
        try:
            ImportItem(imports_pk(record.tenant_id), record.import_id).update(
                actions=[ImportItem.doc.set(_doc_of(record)), ImportItem.preview_swept_at.set(swept_at)],
                condition=(ImportItem.status == str(record.status))
                & ImportItem.preview_swept_at.does_not_exist(),
            )
        except UpdateError as err:
            if _condition_failed(err):
                return False
            raise
        return True

    def commit_chunk(
        self,
        tenant_id: str,
        import_id: str,
        marker: str,
        *,
        progress: dict[str, int],
        counters: dict[str, int],
        outcome: dict[str, Any] | None = None,
    ) -> bool:
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.save(
                    ImportChunkItem(
                        import_chunks_pk(tenant_id, import_id),
                        marker,
                        state="failed" if progress.get("chunks_failed") else "done",
                        outcome=outcome,
                    ),
                    condition=ImportChunkItem.pk.does_not_exist(),
                )
                adds = [getattr(ImportItem, name).add(value) for name, value in progress.items() if value]
                if adds:
                    tx.update(
                        ImportItem(imports_pk(tenant_id), import_id),
                        actions=adds,
                        condition=ImportItem.pk.exists(),
                    )
                for sk, delta in counters.items():
                    if delta:
                        tx.update(
                            CounterItem(stats_pk(tenant_id), sk), actions=[CounterItem.value.add(delta)]
                        )
        except TransactWriteError as err:
            codes = [r.code if r is not None else None for r in err.cancellation_reasons]
            if codes[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def chunk_committed(self, tenant_id: str, import_id: str, marker: str) -> bool:
        try:
            ImportChunkItem.get(import_chunks_pk(tenant_id, import_id), marker, consistent_read=True)
        except DoesNotExist:
            return False
        return True

    def failed_chunks(self, tenant_id: str, import_id: str) -> list[FailedChunk]:
        """The outcomes of chunks recorded as failed (``C#`` markers with state failed)."""
        items = ImportChunkItem.query(
            import_chunks_pk(tenant_id, import_id),
            ImportChunkItem.sk.startswith("C#"),
            filter_condition=ImportChunkItem.state == "failed",
        )
        return [FailedChunk.model_validate(item.outcome) for item in items if item.outcome]

    def count_attempt(self, tenant_id: str, import_id: str, marker: str) -> int:
        item = ImportChunkItem(import_chunks_pk(tenant_id, import_id), f"A#{marker}")
        item.update(actions=[ImportChunkItem.attempts.add(1)])
        return int(item.attempts or 0)

    def save_mapping(
        self, tenant_id: str, name: str, columns: dict[str, str | None], headers: list[str], saved_by: str
    ) -> SavedMapping:
        item = ImportMappingItem(
            mappings_pk(tenant_id),
            name,
            columns=columns,
            headers=headers,
            saved_by=saved_by,
            saved_at=utc_now(),
        )
        item.save()
        return self._mapping(item)

    @staticmethod
    def _mapping(item: ImportMappingItem) -> SavedMapping:
        return SavedMapping(
            name=item.sk,
            mapping=dict(item.columns or {}),
            headers=list(item.headers or []),
            saved_by=item.saved_by,
            saved_at=item.saved_at,
        )

    def get_mapping(self, tenant_id: str, name: str) -> SavedMapping:
        try:
            return self._mapping(ImportMappingItem.get(mappings_pk(tenant_id), name))
        except DoesNotExist:
            raise ImportNotFoundError(
                f"no saved import mapping named {name!r}", code="mapping_not_found"
            ) from None

    def list_mappings(self, tenant_id: str) -> list[SavedMapping]:
        return [self._mapping(item) for item in ImportMappingItem.query(mappings_pk(tenant_id))]

    def delete_mapping(self, tenant_id: str, name: str) -> None:
        try:
            ImportMappingItem(mappings_pk(tenant_id), name).delete(condition=ImportMappingItem.pk.exists())
        except DeleteError as err:
            if _condition_failed(err):
                raise ImportNotFoundError(
                    f"no saved import mapping named {name!r}", code="mapping_not_found"
                ) from None
            raise
