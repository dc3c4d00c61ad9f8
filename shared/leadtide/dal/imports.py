"""DynamoDB and S3 implementations of the import pipeline's ports (:mod:`leadtide.imports.ports`).

* :class:`DynamoImportRepository` - import records, chunk markers, saved mappings (PynamoDB items).
* :class:`DynamoLeadBulkStore` - bulk lead reads and writes over the low-level client: BatchGetItem
  (100 keys per call), TransactWriteItems of up to 100 independent conditional Puts/Deletes for identity
  claims, updates and releases (in parallel; refused items reported, the rest re-sent), BatchWriteItem
  (25 items per call) for new leads and rollbacks. Unprocessed keys/items and throttling are retried with
  exponential backoff. Every service call goes through :meth:`DynamoLeadBulkStore._call`, so calls can be
  counted.
* :class:`S3ImportArtifacts` - presigned URLs and objects in the artifacts bucket.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache, partial
from typing import Any, TypeVar

from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.items import (
    CounterItem,
    ImportChunkItem,
    ImportItem,
    ImportMappingItem,
    LeadItem,
    identity_pk,
    lead_pk,
    marker_pk,
    stats_pk,
)
from leadtide.dal.jsoncodec import dumps as json_dumps
from leadtide.dal.leads import (
    PROFILE,
    _lead_from_item,
    identity_entries_after,
    identity_of_entry,
    lead_item_values,
    profile_keys,
    stale_claim_cutoff,
)
from leadtide.imports.models import COUNTER_FIELDS, FailedChunk, ImportRecord, ImportStatus, SavedMapping
from leadtide.imports.ports import (
    IdentityKey,
    ImportArtifacts,
    ImportRepository,
    LeadBulkStore,
    LeadWrite,
    StoredLead,
    WriteConflict,
)
from leadtide.models.common import iso, utc_now
from leadtide.models.errors import ImportNotFoundError

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
TRANSACT_MAX = 100  # items per TransactWriteItems (DynamoDB's limit)
TRANSACT_BYTES = 3_500_000  # item bytes per TransactWriteItems (DynamoDB's limit: 4 MB)
TRANSACT_ROUNDS = 8  # rounds of re-sending the items of cancelled transactions
WRITE_THREADS = 16  # parallel TransactWriteItems calls per chunk
_RETRYABLE = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
_TRANSACT_RETRYABLE = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_T = TypeVar("_T")


def imports_pk(tenant_id: str) -> str:
    """Partition of the tenant's import records (sk = import id, time-ordered)."""
    return f"T#{tenant_id}#IMPORTS"


def import_chunks_pk(tenant_id: str, import_id: str) -> str:
    """Partition of one import's chunk markers (sk = C#/R#/A#<n>)."""
    return f"T#{tenant_id}#IMPORT#{import_id}"


def mappings_pk(tenant_id: str) -> str:
    """Partition of the tenant's saved import mappings (sk = name)."""
    return f"T#{tenant_id}#IMPORTMAPS"


def _backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * (2**attempt)) * (0.5 + random.random() / 2))  # noqa: S311 - jitter only


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


# ---------------------------------------------------------------------------------------- leads
def _identity_item_key(tenant_id: str, key: IdentityKey) -> dict[str, Any]:
    return {"pk": {"S": identity_pk(tenant_id, key[0], key[1])}, "sk": {"S": "IDENTITY"}}


def _attribute_encoders() -> dict[str, Any]:
    """Attribute name -> function(value) -> DynamoDB JSON, from LeadItem's attribute classes (so an
    attribute another feature adds to LeadItem is encoded by its own type)."""
    from pynamodb.attributes import (
        BooleanAttribute,
        JSONAttribute,
        ListAttribute,
        NumberAttribute,
        UnicodeAttribute,
        UTCDateTimeAttribute,
    )

    encoders: dict[str, Any] = {"pk": lambda v: {"S": v}, "sk": lambda v: {"S": v}}
    for name, attr in LeadItem.get_attributes().items():
        if isinstance(attr, UTCDateTimeAttribute):
            encoders[name] = lambda v: {"S": _serialize_datetime(v)}
        elif isinstance(attr, JSONAttribute):
            encoders[name] = lambda v: {"S": json_dumps(v)}  # leadtide.dal.jsoncodec: datetimes too
        elif isinstance(attr, NumberAttribute):
            encoders[name] = lambda v: {"N": json.dumps(v)}
        elif isinstance(attr, BooleanAttribute):
            encoders[name] = lambda v: {"BOOL": bool(v)}
        elif isinstance(attr, ListAttribute) and attr.element_type is UnicodeAttribute:
            encoders[name] = lambda v: {"L": [{"S": x} for x in v]}
        elif isinstance(attr, UnicodeAttribute):
            encoders[name] = lambda v: {"S": v}
        else:  # anything else: PynamoDB's own serialisation
            encoders[name] = lambda v, a=attr: {a.attr_type: a.serialize(v)}
    return encoders


@lru_cache(maxsize=256)
def _serialize_datetime(value: datetime) -> str:
    """UTCDateTimeAttribute serialisation, cached: the leads of one chunk share their timestamps."""
    from pynamodb.attributes import UTCDateTimeAttribute

    serialized: str = UTCDateTimeAttribute().serialize(value)
    return serialized


_iso = lru_cache(maxsize=256)(iso)
_ENCODERS = _attribute_encoders()


def _encode_general(lead: Any) -> dict[str, Any]:
    """:func:`encode_lead`'s item through :func:`leadtide.dal.leads.lead_item_values` (pydantic's dump):
    any lead."""
    item: dict[str, Any] = {}
    for name, value in lead_item_values(lead).items():
        encoder = _ENCODERS.get(name)
        if encoder is None:
            raise ValueError(f"LeadItem has no attribute {name!r}")
        item[name] = encoder(value)
    return item


# The direct encoding: each Lead field by its LeadItem attribute's kind.
_STR, _NUM, _TIME, _STR_LIST, _BOOL, _JSON_MAP, _NESTED, _OTHER, _NO_ATTRIBUTE = range(9)
_SCALARS = (str, int, float, bool, type(None))


def _direct_plan() -> list[tuple[str, int]]:
    """(Lead field, kind) for every field of ``Lead``. ``_JSON_MAP``: a ``dict[str, Any]`` field stored as
    JSON (``custom_fields``); ``_NESTED``: a field of pydantic models stored as JSON (the general path
    encodes it unless it is None or an empty list); ``_OTHER``: an attribute type the direct encoding does
    not know (the general path encodes it unless it is None); ``_NO_ATTRIBUTE``: LeadItem has no attribute
    for it."""
    from typing import get_args, get_origin

    from pynamodb.attributes import (
        BooleanAttribute,
        JSONAttribute,
        ListAttribute,
        NumberAttribute,
        UnicodeAttribute,
        UTCDateTimeAttribute,
    )

    from leadtide.models.leads import Lead

    attributes = {attr.attr_name: attr for attr in LeadItem.get_attributes().values()}
    plan: list[tuple[str, int]] = []
    for name, info in Lead.model_fields.items():
        attr = attributes.get(name)
        kind = _NO_ATTRIBUTE
        if isinstance(attr, UTCDateTimeAttribute):
            kind = _TIME
        elif isinstance(attr, JSONAttribute):
            plain = get_origin(info.annotation) is dict and get_args(info.annotation) == (str, Any)
            kind = _JSON_MAP if plain else _NESTED
        elif isinstance(attr, NumberAttribute):
            kind = _NUM
        elif isinstance(attr, BooleanAttribute):
            kind = _BOOL
        elif isinstance(attr, ListAttribute) and attr.element_type is UnicodeAttribute:
            kind = _STR_LIST
        elif type(attr) is UnicodeAttribute:
            kind = _STR
        elif attr is not None:
            kind = _OTHER
        plan.append((name, kind))
    return plan


def _plain_map(value: dict[str, Any]) -> bool:
    """Whether a ``dict[str, Any]`` holds only JSON scalars and lists of them (then pydantic's dump of it
    is the dict itself, and ``json.dumps`` of either gives the same text)."""
    for v in value.values():
        if type(v) in _SCALARS:
            continue
        if type(v) is list and all(type(x) in _SCALARS for x in v):
            continue
        return False
    return all(type(k) is str for k in value)


class _General(Exception):
    """The direct encoding does not cover this lead: use the general one."""


def _encode_direct(lead: Any) -> dict[str, Any]:
    """:func:`encode_lead`'s item straight from the lead's attributes (no pydantic dump: ~4x faster).

    Covers leads whose nested-model fields (referral, score breakdown, prediction factors, grade override)
    are empty and whose ``custom_fields`` hold JSON scalars or lists of them: every lead an import
    creates. Raises :class:`_General` for anything else."""
    fields = lead.__dict__
    if any(fields[name] is not None for name in _GENERAL_ONLY):
        raise _General
    item: dict[str, Any] = {
        name: {"S": value if type(value) is str else str(value)}
        for name in _BY_KIND[_STR]
        if (value := fields[name]) is not None
    }
    for name in _BY_KIND[_TIME]:
        if (value := fields[name]) is not None:
            item[name] = {"S": _serialize_datetime(value)}
    for name in _BY_KIND[_NUM]:
        if (value := fields[name]) is not None:
            item[name] = {"N": str(value) if type(value) is int else json.dumps(value)}
    for name in _BY_KIND[_STR_LIST]:
        if (value := fields[name]) is not None:
            if not all(type(x) is str for x in value):
                raise _General
            item[name] = {"L": [{"S": x} for x in value]}
    for name in _BY_KIND[_JSON_MAP]:
        if (value := fields[name]) is not None:
            if type(value) is not dict or not _plain_map(value):
                raise _General
            item[name] = {"S": json_dumps(value)}
    for name in _BY_KIND[_NESTED]:
        if (value := fields[name]) is not None:
            if type(value) is not list or value:
                raise _General
            item[name] = {"S": "[]"}
    for name in _BY_KIND[_BOOL]:
        if (value := fields[name]) is not None:
            item[name] = {"BOOL": bool(value)}
    for name, value in profile_keys(lead, fields, to_iso=_iso).items():
        item[name] = {"S": value}
    return item


_DIRECT_PLAN = _direct_plan()
_BY_KIND = {kind: tuple(n for n, k in _DIRECT_PLAN if k == kind) for kind in range(_NO_ATTRIBUTE + 1)}
_GENERAL_ONLY = _BY_KIND[_OTHER] + _BY_KIND[_NO_ATTRIBUTE]
_WRITTEN_ATTRIBUTES = frozenset(
    {name for name, kind in _DIRECT_PLAN if kind != _NO_ATTRIBUTE}
    | {"pk", "sk", "list_pk", "created_sk", "activity_sk", "score_sk", "search_text"}
    | set(LeadItem.condition_keys("t", "0" * 32))
)
"""Attributes the encoding of a lead may write; a stored item's other attributes (static lists'
``list_ids``, segments' ``segment_ids``, other features' data) are kept by :func:`encode_lead`."""


def encode_lead(write: LeadWrite) -> dict[str, Any]:
    """The stored item (DynamoDB JSON) of a write's profile: exactly what ``LeadRepository`` stores for the
    lead (``DynamoLeadRepository._lead_item(lead).serialize()``; unit tests compare them), plus the
    attributes of ``base_raw`` that a lead profile does not write (``list_ids``, ``segment_ids``, other
    features' data), so a whole-item Put keeps them as the lead API's UpdateItem does.

    Encoded directly from the lead's attributes when it has no nested models (every lead an import
    creates; ~5 µs instead of ~20 µs), else through pydantic's dump; both give the same item.

    Raises:
        ValueError: the lead has a field LeadItem has no attribute for.
    """
    try:
        item = _encode_direct(write.lead)
    except _General:
        item = _encode_general(write.lead)
    if write.base_raw:
        extras = {k: v for k, v in write.base_raw.items() if k not in _WRITTEN_ATTRIBUTES}
        item = {**extras, **item}
    if write.add_identities or write.remove_identities:
        # identity_keys: every identity item the profile owns, so deleting the lead removes them all
        # (leadtide.dal.leads.owned_identity_keys).
        current = (write.base_raw or {}).get("identity_keys", {}).get("SS")
        owned = identity_entries_after(current, write.add_identities, write.remove_identities)
        if owned:
            item["identity_keys"] = {"SS": owned}
        else:
            item.pop("identity_keys", None)
    return item


class DynamoLeadBulkStore(LeadBulkStore):
    """Bulk lead access over the low-level DynamoDB client (``table`` = LeadsTable name).

    ``calls`` counts service calls by operation name (``BatchGetItem``, ``TransactWriteItems``...).
    """

    def __init__(self, table: str, client: Any = None):
        self.table = table
        self._given_client = client
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @cached_property
    def client(self) -> Any:
        if self._given_client is not None:
            return self._given_client
        import boto3

        return boto3.client("dynamodb")

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Run one DynamoDB operation (PascalCase name), retrying throttling with exponential backoff."""
        from botocore.exceptions import ClientError

        method = getattr(self.client, "".join("_" + c.lower() if c.isupper() else c for c in operation)[1:])
        for attempt in range(8):
            with self._lock:
                self.calls[operation] += 1
            try:
                result: dict[str, Any] = method(**params)
                return result
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") in _RETRYABLE and attempt < 7:
                    _backoff(attempt)
                    continue
                raise
        raise RuntimeError("unreachable")

    # -- reads
    def _batch_get(
        self, keys: list[dict[str, Any]], projection: str | None, *, consistent: bool = False
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            request: dict[str, Any] = {"Keys": keys[start : start + BATCH_GET_MAX]}
            if projection:
                request["ProjectionExpression"] = projection
            if consistent:
                request["ConsistentRead"] = True
            pending: dict[str, Any] = {self.table: request}
            attempt = 0
            while pending:
                result = self._call("BatchGetItem", RequestItems=pending)
                items.extend(result.get("Responses", {}).get(self.table, []))
                pending = result.get("UnprocessedKeys") or {}
                if pending:
                    _backoff(attempt)
                    attempt += 1
        return items

    def get_identities(self, tenant_id: str, keys: Sequence[IdentityKey]) -> dict[IdentityKey, str]:
        by_pk = {identity_pk(tenant_id, k, v): (k, v) for k, v in keys}
        raw = self._batch_get(
            [{"pk": {"S": pk}, "sk": {"S": "IDENTITY"}} for pk in by_pk], projection="pk, lead_id"
        )
        return {by_pk[item["pk"]["S"]]: item["lead_id"]["S"] for item in raw if "lead_id" in item}

    def identity_claims(self, tenant_id: str, keys: Sequence[IdentityKey]) -> dict[IdentityKey, int]:
        by_pk = {identity_pk(tenant_id, k, v): (k, v) for k, v in keys}
        raw = self._batch_get(
            [{"pk": {"S": pk}, "sk": {"S": "IDENTITY"}} for pk in by_pk], projection="pk, claimed_at"
        )
        return {by_pk[item["pk"]["S"]]: int(item["claimed_at"]["N"]) for item in raw if "claimed_at" in item}

    def existing_lead_ids(self, tenant_id: str, lead_ids: Sequence[str]) -> set[str]:
        by_pk = {lead_pk(tenant_id, lid): lid for lid in lead_ids}
        keys = [{"pk": {"S": pk}, "sk": {"S": PROFILE}} for pk in by_pk]
        # Strongly consistent: a profile not seen makes its identity items stale (free to claim).
        return {by_pk[item["pk"]["S"]] for item in self._batch_get(keys, projection="pk", consistent=True)}

    def _stored_updated_at(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, str]:
        """Lead id -> the stored profile's ``updated_at`` (serialised), strongly consistent."""
        by_pk = {lead_pk(tenant_id, lid): lid for lid in lead_ids}
        keys = [{"pk": {"S": pk}, "sk": {"S": PROFILE}} for pk in by_pk]
        raw = self._batch_get(keys, projection="pk, updated_at", consistent=True)
        return {by_pk[item["pk"]["S"]]: item["updated_at"]["S"] for item in raw if "updated_at" in item}

    def get_leads(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, StoredLead]:
        keys = [
            {"pk": {"S": lead_pk(tenant_id, lid)}, "sk": {"S": PROFILE}} for lid in dict.fromkeys(lead_ids)
        ]
        found: dict[str, StoredLead] = {}
        # Strongly consistent: decides which identity owners are live, and is the before-image of updates.
        for raw in self._batch_get(keys, projection=None, consistent=True):
            lead = _lead_from_item(LeadItem.from_raw_data(raw))
            found[lead.lead_id] = StoredLead(lead=lead, raw=raw)
        return found

    # -- conditional writes (TransactWriteItems of independent conditional items: see write_leads)
    def _parallel(self, calls: Sequence[Callable[[], _T]]) -> list[_T]:
        """Run calls on a thread pool (``WRITE_THREADS`` at a time); their results in order."""
        from concurrent.futures import ThreadPoolExecutor

        if len(calls) <= 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(calls))) as pool:
            return list(pool.map(lambda call: call(), calls))

    def _transact_once(self, items: list[dict[str, Any]]) -> list[tuple[str, str]] | None:
        """One TransactWriteItems: None if applied, else its ``CancellationReasons`` as (code, message),
        one per item (code ``None`` for items that did not fail)."""
        from botocore.exceptions import ClientError

        try:
            self._call("TransactWriteItems", TransactItems=items)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = err.response.get("CancellationReasons") or []
            if len(reasons) != len(items):
                raise
            return [(str(r.get("Code") or "None"), str(r.get("Message") or "")) for r in reasons]
        return None

    def _transact(self, ops: Sequence[_Op]) -> list[str]:
        """Apply independent conditional items with TransactWriteItems (up to ``TRANSACT_MAX`` items and
        ``TRANSACT_BYTES`` per call, one item per key per call, calls in parallel threads).

        A cancelled call applies nothing: its items whose condition failed are ``refused``, the others
        are sent again in the next round (with backoff when one was cancelled for TransactionConflict or
        throttling). When an op with a ``group`` is refused, the pending ops of that group are
        ``dropped`` (not sent again). Returns per op ``applied``, ``refused`` or ``dropped``.

        Raises:
            RuntimeError: ops still pending after ``TRANSACT_ROUNDS`` rounds (the caller's step fails and
                is retried; its writes are idempotent).
            botocore.exceptions.ClientError: any other failure (a validation error of an item...).
        """
        outcome = [""] * len(ops)
        refused_groups: set[str] = set()
        pending = list(range(len(ops)))
        for round_no in range(TRANSACT_ROUNDS + 1):
            for i in pending:
                if ops[i].group is not None and ops[i].group in refused_groups:
                    outcome[i] = "dropped"
            pending = [i for i in pending if not outcome[i]]
            if not pending:
                break
            if round_no == TRANSACT_ROUNDS:
                raise RuntimeError(
                    f"{len(pending)} conditional writes still contended after {TRANSACT_ROUNDS} rounds"
                )
            batches = _transaction_batches(ops, pending)
            results = self._parallel(
                [partial(self._transact_once, [ops[i].item for i in batch]) for batch in batches]
            )
            retry: list[int] = []
            contended = False
            for batch, reasons in zip(batches, results, strict=True):
                for i, (code, message) in zip(batch, reasons or [("applied", "")] * len(batch), strict=True):
                    if code == "applied":
                        outcome[i] = "applied"
                    elif code == "ConditionalCheckFailed":
                        outcome[i] = "refused"
                        group = ops[i].group
                        if group is not None:
                            refused_groups.add(group)
                    elif code == "None":
                        retry.append(i)
                    elif code in _TRANSACT_RETRYABLE:
                        retry.append(i)
                        contended = True
                    else:
                        raise RuntimeError(f"TransactWriteItems refused an item: {code}: {message}")
            pending = retry
            if contended and pending:
                _backoff(round_no)
        return outcome

    def _claim(self, tenant_id: str, key: IdentityKey, lead_id: str, stale: str | None = None) -> _Op:
        """The identity item of ``key`` for ``lead_id`` with ``claimed_at`` = now (epoch seconds: the
        profile is written after its claims), if absent or already this lead's, or still naming ``stale``
        (a lead found without a profile) and not claimed within ``STALE_CLAIM_SECONDS`` (another
        import's chunk may still be writing that profile)."""
        now = time.time()
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": {
                **_identity_item_key(tenant_id, key),
                "lead_id": {"S": lead_id},
                "claimed_at": {"N": str(int(now))},
            },
            "ConditionExpression": "attribute_not_exists(pk) OR lead_id = :lid",
            "ExpressionAttributeValues": {":lid": {"S": lead_id}},
        }
        if stale and stale != lead_id:
            put["ConditionExpression"] += (
                " OR (lead_id = :stale AND (attribute_not_exists(claimed_at) OR claimed_at < :cutoff))"
            )
            put["ExpressionAttributeValues"][":stale"] = {"S": stale}
            put["ExpressionAttributeValues"][":cutoff"] = {"N": str(stale_claim_cutoff(now))}
        return _Op({"Put": put}, group=lead_id)

    def _release(self, tenant_id: str, key: IdentityKey, lead_id: str) -> _Op:
        """Delete the identity item of ``key`` if it is still ``lead_id``'s (refused: another lead's)."""
        return _Op(
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": _identity_item_key(tenant_id, key),
                    "ConditionExpression": "attribute_not_exists(pk) OR lead_id = :lid",
                    "ExpressionAttributeValues": {":lid": {"S": lead_id}},
                }
            }
        )

    def write_leads(
        self, tenant_id: str, writes: Sequence[LeadWrite], *, replay: bool = False
    ) -> list[WriteConflict]:
        """Claim identities, then write profiles, then release replaced identities.

        1. Identity claims: one conditional Put per new identity item, stamped ``claimed_at`` (absent or
           already this lead's, or still naming the profile-less lead of ``LeadWrite.stale_owners`` and
           not claimed within ``STALE_CLAIM_SECONDS``: that lead's chunk may still be writing it),
           up to 100 per TransactWriteItems, calls in parallel. A transaction is cancelled as a whole by
           one refused claim: its ``CancellationReasons`` say which; those writes get ``identity_taken``
           (their pending claims are dropped) and the other claims are sent again (bounded rounds;
           TransactionConflict and throttling with backoff). A write with a refused claim has its other
           claims released (step 3).
        2. New leads: BatchWriteItem, 25 per call (their ids are new and derived from the import and row,
           so nothing else writes them); with ``replay`` (a redelivered chunk) a conditional Put each
           (``attribute_not_exists(pk)``, else ``lead_exists``), so a lead changed since its first write
           is not overwritten. Updated leads: a conditional Put each (``updated_at``, and the attributes
           other writers change without moving it - ``last_activity_at``, ``engaged_version``,
           ``identity_keys`` - unchanged since read, else ``lead_changed`` and the write's claims are
           released; with ``replay``, a refused
           update whose stored ``updated_at`` (one strongly consistent BatchGetItem) is already the
           write's own counts as applied: an earlier attempt wrote it). Those Puts are independent:
           up to 100 per TransactWriteItems, the refused ones reported, the rest sent again.
        3. Releases (identities the update replaced, claims of refused writes): conditional Deletes (only
           if still this lead's), up to 100 per TransactWriteItems, refused ones ignored.

        The transactions group independent items only to save calls (about 16 per 1,000 identity items
        instead of 1,000): the profile is not in its claims' transaction, so a crash between 1 and 2
        leaves claims without a profile, which the chunk's redelivery completes (same lead ids) or its
        failure handling releases. Cost: a transactional write consumes 2 write capacity units per item
        (per KB), twice a PutItem's; BatchWriteItem items cost 1.

        Raises:
            RuntimeError: writes still contended after ``TRANSACT_ROUNDS`` rounds (the step is retried).
        """
        conflicts: dict[str, WriteConflict] = {}
        stale = {(w.lead.lead_id, key): lid for w in writes for key, lid in w.stale_owners.items()}
        claims = list(dict.fromkeys((w.lead.lead_id, key) for w in writes for key in w.add_identities))
        claimed = self._transact(
            [self._claim(tenant_id, key, lead_id, stale.get((lead_id, key))) for lead_id, key in claims]
        )
        refused_keys: set[tuple[str, IdentityKey]] = set()
        for (lead_id, key), result in zip(claims, claimed, strict=True):
            if result == "refused":
                refused_keys.add((lead_id, key))
                if lead_id not in conflicts:
                    conflicts[lead_id] = WriteConflict(lead_id, "identity_taken", key)
        creates = [w for w in writes if w.base_raw is None and w.lead.lead_id not in conflicts]
        updates = [w for w in writes if w.base_raw is not None and w.lead.lead_id not in conflicts]
        if replay:
            updates = creates + updates
            creates = []
        self._batch_write([{"PutRequest": {"Item": encode_lead(w)}} for w in creates])
        puts: list[_Op] = []
        for write in updates:
            put: dict[str, Any] = {"TableName": self.table, "Item": encode_lead(write)}
            if write.base_raw is None:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"], put["ExpressionAttributeValues"] = _unchanged_since(
                    write.base_raw
                )
            puts.append(_Op({"Put": put}, size=len(json.dumps(put["Item"]))))
        refused = [
            (write, op)
            for write, op, result in zip(updates, puts, self._transact(puts), strict=True)
            if result == "refused"
        ]
        applied_before: dict[str, str] = {}
        if replay and any(write.base_raw is not None for write, _ in refused):
            # An update an earlier attempt applied (crash before its plan was saved again): the stored
            # profile carries this write's updated_at. It counts as applied: its claims are kept.
            applied_before = self._stored_updated_at(
                tenant_id, [w.lead.lead_id for w, _ in refused if w.base_raw is not None]
            )
        for write, op in refused:
            lead_id = write.lead.lead_id
            written_at = op.item["Put"]["Item"].get("updated_at", {}).get("S")
            if write.base_raw is not None and written_at and applied_before.get(lead_id) == written_at:
                continue
            reason = "lead_exists" if write.base_raw is None else "lead_changed"
            conflicts[lead_id] = WriteConflict(lead_id, reason)  # type: ignore[arg-type]
        releases = [
            (w.lead.lead_id, key)
            for w in writes
            if _released(conflicts.get(w.lead.lead_id))
            for key in w.add_identities
            if (w.lead.lead_id, key) not in refused_keys  # another lead's: nothing to give back
        ]
        releases += [
            (w.lead.lead_id, key)
            for w in writes
            if w.lead.lead_id not in conflicts
            for key in w.remove_identities
        ]
        self._transact([self._release(tenant_id, key, lead_id) for lead_id, key in dict.fromkeys(releases)])
        return list(conflicts.values())

    # -- rollback
    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), BATCH_WRITE_MAX):
            pending: dict[str, Any] = {self.table: requests[start : start + BATCH_WRITE_MAX]}
            attempt = 0
            while pending:
                result = self._call("BatchWriteItem", RequestItems=pending)
                pending = result.get("UnprocessedItems") or {}
                if pending:
                    _backoff(attempt)
                    attempt += 1

    def restore_leads(
        self,
        tenant_id: str,
        before_images: Sequence[dict[str, Any]],
        *,
        remove_identities: Sequence[tuple[IdentityKey, str]] = (),
        add_identities: Sequence[tuple[IdentityKey, str]] = (),
        claimed_at: Mapping[IdentityKey, int] | None = None,
    ) -> None:
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": raw}} for raw in before_images]
        requests += self._owned_identity_deletes(tenant_id, remove_identities)
        claims = claimed_at or {}
        for key, lead_id in add_identities:
            item = {**_identity_item_key(tenant_id, key), "lead_id": {"S": lead_id}}
            if key in claims:
                item["claimed_at"] = {"N": str(claims[key])}
            requests.append({"PutRequest": {"Item": item}})
        self._batch_write(_dedupe_requests(requests))

    def _owned_identity_deletes(
        self, tenant_id: str, identities: Sequence[tuple[IdentityKey, str]]
    ) -> list[dict[str, Any]]:
        if not identities:
            return []
        owners = self.get_identities(tenant_id, [key for key, _ in identities])
        return [
            {"DeleteRequest": {"Key": _identity_item_key(tenant_id, key)}}
            for key, lead_id in identities
            if owners.get(key) == lead_id
        ]

    def delete_leads(
        self,
        tenant_id: str,
        lead_ids: Sequence[str],
        identities: Sequence[tuple[IdentityKey, str]],
        *,
        profile_only: Sequence[str] = (),
    ) -> None:
        bare = set(profile_only)
        owned = list(identities)  # + each profile's identity_keys (keys merged into it, custom fields)
        requests: list[dict[str, Any]] = [
            {"DeleteRequest": {"Key": {"pk": {"S": lead_pk(tenant_id, lead_id)}, "sk": {"S": PROFILE}}}}
            for lead_id in lead_ids
            if lead_id in bare
        ]
        for lead_id in lead_ids:
            if lead_id in bare:
                continue
            for item in self._query_partition(lead_pk(tenant_id, lead_id)):
                requests.append({"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}})
                if item["sk"]["S"] == PROFILE:
                    entries = item.get("identity_keys", {}).get("SS", [])
                    owned += [(identity_of_entry(entry), lead_id) for entry in entries]
                provider_id = item.get("provider_message_id", {}).get("S")
                if provider_id and "doc" in item:
                    channel = json.loads(item["doc"]["S"]).get("channel")
                    if channel:
                        key = {
                            "pk": {"S": marker_pk(tenant_id, channel, provider_id)},
                            "sk": {"S": "MESSAGE"},
                        }
                        requests.append({"DeleteRequest": {"Key": key}})
        requests += self._owned_identity_deletes(tenant_id, list(dict.fromkeys(owned)))
        self._batch_write(_dedupe_requests(requests))

    def delete_score_history_since(self, tenant_id: str, lead_ids: Sequence[str], since: datetime) -> None:
        requests = [
            {"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}}
            for lead_id in lead_ids
            for item in self._query_partition(
                lead_pk(tenant_id, lead_id), sk_range=(f"S#{iso(since)}", "S#~")
            )
        ]
        self._batch_write(requests)

    def _query_partition(self, pk: str, sk_range: tuple[str, str] | None = None) -> Iterable[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "pk, sk, provider_message_id, doc, identity_keys",
        }
        if sk_range is not None:
            params["KeyConditionExpression"] = "pk = :pk AND sk BETWEEN :lo AND :hi"
            params["ExpressionAttributeValues"].update({":lo": {"S": sk_range[0]}, ":hi": {"S": sk_range[1]}})
        while True:
            result = self._call("Query", **params)
            yield from result.get("Items", [])
            if not result.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = result["LastEvaluatedKey"]


@dataclass(frozen=True)
class _Op:
    """One item of a TransactWriteItems (``{"Put": ...}``/``{"Delete": ...}``); ``group``: ops dropped
    together when one of them is refused (a lead's claims); ``size``: approximate bytes of its item."""

    item: dict[str, Any]
    group: str | None = None
    size: int = 0

    @property
    def key(self) -> str:
        body = next(iter(self.item.values()))
        key = body.get("Key") or body["Item"]
        return f"{body['TableName']}|{key['pk']['S']}|{key['sk']['S']}"


# Profile attributes other writers change without moving ``updated_at``: captures adding an identity to an
# older lead (identity_keys), tracked events (last_activity_at), engagement summaries (engaged_version).
_QUIET_ATTRIBUTES = ("last_activity_at", "engaged_version", "identity_keys", "list_ids", "segment_ids")
"""Profile attributes other writers change without bumping ``updated_at`` (tracking, engagement summary,
identity claims, static lists, segments): an import's whole-item Put keeps them from its before-image, so
it must be refused when any of them moved meanwhile."""


def _unchanged_since(base: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Condition (expression, values) of an import's whole-item Put over the before-image ``base``:
    ``updated_at`` and each of ``_QUIET_ATTRIBUTES`` still equal to (or, absent there, still absent
    from) the stored profile's."""
    parts = ["updated_at = :u"]
    values: dict[str, Any] = {":u": base["updated_at"]}
    for n, name in enumerate(_QUIET_ATTRIBUTES):
        if name in base:
            parts.append(f"{name} = :q{n}")
            values[f":q{n}"] = base[name]
        else:
            parts.append(f"attribute_not_exists({name})")
    return " AND ".join(parts), values


def _transaction_batches(ops: Sequence[_Op], indexes: Sequence[int]) -> list[list[int]]:
    """Split ``indexes`` of ``ops`` into transactions: at most ``TRANSACT_MAX`` items and ``TRANSACT_BYTES``
    each, a key at most once each (DynamoDB refuses two operations on one item in a transaction)."""
    batches: list[tuple[list[int], set[str], list[int]]] = []  # (indexes, keys, [bytes])
    for i in indexes:
        op = ops[i]
        key = op.key
        for members, keys, size in batches:
            if len(members) < TRANSACT_MAX and key not in keys and size[0] + op.size <= TRANSACT_BYTES:
                break
        else:
            members, keys, size = [], set(), [0]
            batches.append((members, keys, size))
        members.append(i)
        keys.add(key)
        size[0] += op.size
    return [members for members, _, _ in batches]


def _released(conflict: WriteConflict | None) -> bool:
    """Whether a refused write's identity claims must be given back (not for our own earlier lead)."""
    return conflict is not None and conflict.reason != "lead_exists"


def _dedupe_requests(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BatchWriteItem refuses two requests for one key: keep the last request per key."""
    by_key: dict[str, dict[str, Any]] = {}
    for request in requests:
        body = request.get("PutRequest") or request["DeleteRequest"]
        key = body.get("Key") or body["Item"]
        by_key[f"{key['pk']['S']}|{key['sk']['S']}"] = request
    return list(by_key.values())


# ---------------------------------------------------------------------------------------- S3
class S3ImportArtifacts(ImportArtifacts):
    """Objects of imports in the artifacts bucket (``ARTIFACTS_BUCKET``)."""

    def __init__(self, bucket: str):
        self.bucket = bucket

    @cached_property
    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", config=Config(signature_version="s3v4"))

    def presign_put(
        self, key: str, *, content_type: str | None, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        headers: dict[str, str] = {}
        if content_type:
            params["ContentType"] = content_type
            headers["Content-Type"] = content_type
        url = self._client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        return url, headers

    def presign_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        url: str = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise KeyError(key) from err
            raise
        return body

    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
