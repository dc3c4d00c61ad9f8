"""DynamoDB and S3 implementations of the import pipeline's ports (:mod:`leadtide.imports.ports`).

* :class:`DynamoImportRepository` - import records, chunk markers, saved mappings (PynamoDB items).
* :class:`DynamoLeadBulkStore` - bulk lead reads and writes over the low-level client: BatchGetItem
  (100 keys per call), conditional PutItem/DeleteItem for identity claims and updates (in parallel),
  BatchWriteItem (25 items per call) for new leads and rollbacks. Unprocessed keys/items and throttling
  are retried with exponential backoff. Every service call goes through
  :meth:`DynamoLeadBulkStore._call`, so calls can be counted.
* :class:`S3ImportArtifacts` - presigned URLs and objects in the artifacts bucket.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
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
    tenant_list_pk,
)
from leadtide.dal.leads import PROFILE, _lead_from_item, score_sort_key, search_text
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
WRITE_THREADS = 16  # parallel single-item conditional writes per chunk
_RETRYABLE = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
_NUMBERS = (
    "rows_total",
    "rows_processed",
    "created",
    "updated",
    "skipped",
    "failed",
    "chunks_total",
    "chunks_done",
    "chunks_failed",
    "rollback_chunks_done",
    "rolled_back_deleted",
    "rolled_back_restored",
    "rollback_conflicts",
)


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
class DynamoImportRepository(DynamoRepository, ImportRepository):
    """Import records (``ImportItem``), chunk markers (``ImportChunkItem``), mappings (``ImportMappingItem``)."""

    @staticmethod
    def _record(item: ImportItem) -> dict[str, Any]:
        tenant = item.pk.split("#")[1]
        record: dict[str, Any] = {
            "tenant_id": tenant,
            "import_id": item.sk,
            "status": item.status,
            "requested_by": item.requested_by,
            "created_at": item.created_at,
            "started_at": item.started_at,
            "finished_at": item.finished_at,
            "doc": dict(item.doc or {}),
        }
        for name in _NUMBERS:
            value = getattr(item, name)
            record[name] = None if value is None else int(value)
        return record

    def create(self, record: dict[str, Any]) -> None:
        ImportItem(
            imports_pk(record["tenant_id"]),
            record["import_id"],
            status=record["status"],
            requested_by=record["requested_by"],
            created_at=record["created_at"],
            doc=record.get("doc") or {},
        ).save(condition=ImportItem.pk.does_not_exist())

    def get(self, tenant_id: str, import_id: str) -> dict[str, Any]:
        try:
            return self._record(ImportItem.get(imports_pk(tenant_id), import_id, consistent_read=True))
        except DoesNotExist:
            raise ImportNotFoundError(f"import {import_id} not found") from None

    def list_imports(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor, scope="imports", tenant_prefix=f"T#{tenant_id}")
        results = ImportItem.query(
            imports_pk(tenant_id),
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=start,
        )
        items = [self._record(item) for item in results]
        return items, encode_cursor(results.last_evaluated_key, scope="imports")

    def update(
        self,
        tenant_id: str,
        import_id: str,
        *,
        status: str | None = None,
        doc: dict[str, Any] | None = None,
        numbers: dict[str, int] | None = None,
        times: dict[str, datetime] | None = None,
        expect_status: Sequence[str] | None = None,
    ) -> bool:
        current = self.get(tenant_id, import_id)
        if expect_status is not None and current["status"] not in expect_status:
            return False
        actions: list[Action] = []
        if status is not None:
            actions.append(ImportItem.status.set(status))
        if doc:
            actions.append(ImportItem.doc.set({**current["doc"], **doc}))
        for name, value in (numbers or {}).items():
            actions.append(getattr(ImportItem, name).set(value))
        for name, when in (times or {}).items():
            actions.append(getattr(ImportItem, name).set(when))
        if not actions:
            return True
        condition = ImportItem.status == current["status"]  # nobody moved it since we read it
        try:
            ImportItem(imports_pk(tenant_id), import_id).update(actions=actions, condition=condition)
        except UpdateError as err:
            if getattr(err, "cause_response_code", None) == "ConditionalCheckFailedException":
                if expect_status is None:
                    return self.update(
                        tenant_id, import_id, status=status, doc=doc, numbers=numbers, times=times
                    )
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

    def failed_chunks(self, tenant_id: str, import_id: str) -> list[dict[str, Any]]:
        """The outcomes of chunks recorded as failed (``C#`` markers with state failed)."""
        items = ImportChunkItem.query(
            import_chunks_pk(tenant_id, import_id),
            ImportChunkItem.sk.startswith("C#"),
            filter_condition=ImportChunkItem.state == "failed",
        )
        return [dict(item.outcome or {}) for item in items]

    def count_attempt(self, tenant_id: str, import_id: str, marker: str) -> int:
        item = ImportChunkItem(import_chunks_pk(tenant_id, import_id), f"A#{marker}")
        item.update(actions=[ImportChunkItem.attempts.add(1)])
        return int(item.attempts or 0)

    def save_mapping(
        self, tenant_id: str, name: str, columns: dict[str, str | None], headers: list[str], saved_by: str
    ) -> dict[str, Any]:
        item = ImportMappingItem(
            mappings_pk(tenant_id),
            name,
            columns=columns,
            headers=headers,
            saved_by=saved_by,
            saved_at=utc_now(),
        )
        try:
            item.save()
        except PutError:
            raise
        return self._mapping(item)

    @staticmethod
    def _mapping(item: ImportMappingItem) -> dict[str, Any]:
        return {
            "name": item.sk,
            "columns": dict(item.columns or {}),
            "headers": list(item.headers or []),
            "saved_by": item.saved_by,
            "saved_at": item.saved_at,
        }

    def get_mapping(self, tenant_id: str, name: str) -> dict[str, Any]:
        try:
            return self._mapping(ImportMappingItem.get(mappings_pk(tenant_id), name))
        except DoesNotExist:
            raise ImportNotFoundError(
                f"no saved import mapping named {name!r}", code="mapping_not_found"
            ) from None

    def list_mappings(self, tenant_id: str) -> list[dict[str, Any]]:
        return [self._mapping(item) for item in ImportMappingItem.query(mappings_pk(tenant_id))]

    def delete_mapping(self, tenant_id: str, name: str) -> None:
        try:
            ImportMappingItem(mappings_pk(tenant_id), name).delete(condition=ImportMappingItem.pk.exists())
        except Exception as err:  # DeleteError with a failed condition: absent
            if "ConditionalCheckFailed" in repr(err):
                raise ImportNotFoundError(
                    f"no saved import mapping named {name!r}", code="mapping_not_found"
                ) from None
            raise


# ---------------------------------------------------------------------------------------- leads
def _identity_item_key(tenant_id: str, key: IdentityKey) -> dict[str, Any]:
    return {"pk": {"S": identity_pk(tenant_id, key[0], key[1])}, "sk": {"S": "IDENTITY"}}


_KNOWN_LEAD_ATTRIBUTES = frozenset(
    {"pk", "sk"} | {attr.attr_name for attr in LeadItem.get_attributes().values()}
)


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
            encoders[name] = lambda v: {"S": json.dumps(v)}
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


def lead_item_values(lead: Any) -> dict[str, Any]:
    """The attribute values ``DynamoLeadRepository._lead_item`` stores for ``lead`` (same rules)."""
    values = lead.model_dump(mode="python", exclude_none=True)
    values["referral"] = lead.referral.model_dump(mode="json", exclude_none=True) if lead.referral else None
    values["score_breakdown"] = [f.model_dump(mode="json") for f in lead.score_breakdown]
    values["source_channel"] = str(lead.source_channel)
    values["status"] = str(lead.status)
    if lead.grade:
        values["grade"] = str(lead.grade)
    values.update(
        pk=lead_pk(lead.tenant_id, lead.lead_id),
        sk=PROFILE,
        list_pk=tenant_list_pk(lead.tenant_id),
        created_sk=f"{_iso(lead.created_at)}#{lead.lead_id}",
        activity_sk=f"{_iso(lead.last_activity_at)}#{lead.lead_id}",
        score_sk=score_sort_key(lead.score, lead.lead_id),
        search_text=search_text(values) or " ",
    )
    return {k: v for k, v in values.items() if v is not None}


def encode_lead(write: LeadWrite) -> dict[str, Any]:
    """The stored item (DynamoDB JSON) of a write's profile: exactly what ``LeadRepository`` stores for the
    lead (``DynamoLeadRepository._lead_item(lead).serialize()``, a unit test compares them; this direct
    encoding is ~10x faster), plus the attributes of ``base_raw`` this code does not know (other
    features' data).

    Raises:
        ValueError: the lead has a field LeadItem has no attribute for.
    """
    item: dict[str, Any] = {}
    for name, value in lead_item_values(write.lead).items():
        encoder = _ENCODERS.get(name)
        if encoder is None:
            raise ValueError(f"LeadItem has no attribute {name!r}")
        item[name] = encoder(value)
    if write.base_raw:
        extras = {k: v for k, v in write.base_raw.items() if k not in _KNOWN_LEAD_ATTRIBUTES}
        item = {**extras, **item}
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
    def _batch_get(self, keys: list[dict[str, Any]], projection: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            request: dict[str, Any] = {"Keys": keys[start : start + BATCH_GET_MAX]}
            if projection:
                request["ProjectionExpression"] = projection
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

    def get_leads(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, StoredLead]:
        keys = [
            {"pk": {"S": lead_pk(tenant_id, lid)}, "sk": {"S": PROFILE}} for lid in dict.fromkeys(lead_ids)
        ]
        found: dict[str, StoredLead] = {}
        for raw in self._batch_get(keys, projection=None):
            lead = _lead_from_item(LeadItem.from_raw_data(raw))
            found[lead.lead_id] = StoredLead(lead=lead, raw=raw)
        return found

    # -- conditional writes (no transactions: see write_leads)
    def _parallel(self, calls: list[tuple[str, dict[str, Any]]]) -> list[str | None]:
        """Run single-item calls on a thread pool; per call None (done) or the error code it failed with."""
        from concurrent.futures import ThreadPoolExecutor

        from botocore.exceptions import ClientError

        def run(call: tuple[str, dict[str, Any]]) -> str | None:
            try:
                self._call(call[0], **call[1])
            except ClientError as err:
                code = str(err.response.get("Error", {}).get("Code"))
                if code == "ConditionalCheckFailedException":
                    return code
                raise
            return None

        if len(calls) <= 1:
            return [run(c) for c in calls]
        with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(calls))) as pool:
            return list(pool.map(run, calls))

    def _claim(self, tenant_id: str, key: IdentityKey, lead_id: str) -> tuple[str, dict[str, Any]]:
        return (
            "PutItem",
            {
                "TableName": self.table,
                "Item": {**_identity_item_key(tenant_id, key), "lead_id": {"S": lead_id}},
                "ConditionExpression": "attribute_not_exists(pk) OR lead_id = :lid",
                "ExpressionAttributeValues": {":lid": {"S": lead_id}},
            },
        )

    def _release(self, tenant_id: str, key: IdentityKey, lead_id: str) -> tuple[str, dict[str, Any]]:
        return (
            "DeleteItem",
            {
                "TableName": self.table,
                "Key": _identity_item_key(tenant_id, key),
                "ConditionExpression": "attribute_not_exists(pk) OR lead_id = :lid",
                "ExpressionAttributeValues": {":lid": {"S": lead_id}},
            },
        )

    def write_leads(
        self, tenant_id: str, writes: Sequence[LeadWrite], *, replay: bool = False
    ) -> list[WriteConflict]:
        """Claim identities, then write profiles, then release replaced identities.

        1. Each new identity item: conditional PutItem (absent or already this lead's), in parallel. A
           write with a refused claim gets ``identity_taken`` and its other claims are released.
        2. New leads: BatchWriteItem, 25 per call (their ids are new and derived from the import and row,
           so nothing else writes them); with ``replay`` (a redelivered chunk) a conditional PutItem each,
           so a lead changed since its first write is not overwritten (``lead_exists``).
           Updated leads: conditional PutItem each (``updated_at`` unchanged since read, else
           ``lead_changed`` and the write's claims are released).
        3. Identities the update replaced: conditional DeleteItem (still this lead's).

        Not one transaction per lead (TransactWriteItems costs 2 write units per item and, with moto,
        copies the whole table per item): a crash between 1 and 2 leaves claims without a profile, which
        the chunk's redelivery completes (same lead ids) or its failure handling releases.
        """
        conflicts: dict[str, WriteConflict] = {}
        claims = [(w, key) for w in writes for key in w.add_identities]
        results = self._parallel([self._claim(tenant_id, key, w.lead.lead_id) for w, key in claims])
        for (write, key), result in zip(claims, results, strict=True):
            if result is not None and write.lead.lead_id not in conflicts:
                conflicts[write.lead.lead_id] = WriteConflict(write.lead.lead_id, "identity_taken", key)
        creates = [w for w in writes if w.base_raw is None and w.lead.lead_id not in conflicts]
        updates = [w for w in writes if w.base_raw is not None and w.lead.lead_id not in conflicts]
        if replay:
            updates = creates + updates
            creates = []
        self._batch_write([{"PutRequest": {"Item": encode_lead(w)}} for w in creates])
        puts: list[tuple[str, dict[str, Any]]] = []
        for write in updates:
            params: dict[str, Any] = {"TableName": self.table, "Item": encode_lead(write)}
            if write.base_raw is None:
                params["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                params["ConditionExpression"] = "updated_at = :u"
                params["ExpressionAttributeValues"] = {":u": write.base_raw["updated_at"]}
            puts.append(("PutItem", params))
        for write, result in zip(updates, self._parallel(puts), strict=True):
            if result is not None:
                reason = "lead_exists" if write.base_raw is None else "lead_changed"
                conflicts[write.lead.lead_id] = WriteConflict(write.lead.lead_id, reason)  # type: ignore[arg-type]
        releases = [
            self._release(tenant_id, key, w.lead.lead_id)
            for w in writes
            for key in (w.add_identities if _released(conflicts.get(w.lead.lead_id)) else [])
        ]
        releases += [
            self._release(tenant_id, key, w.lead.lead_id)
            for w in writes
            if w.lead.lead_id not in conflicts
            for key in w.remove_identities
        ]
        self._parallel(releases)
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
    ) -> None:
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": raw}} for raw in before_images]
        requests += self._owned_identity_deletes(tenant_id, remove_identities)
        requests += [
            {"PutRequest": {"Item": {**_identity_item_key(tenant_id, key), "lead_id": {"S": lead_id}}}}
            for key, lead_id in add_identities
        ]
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
                provider_id = item.get("provider_message_id", {}).get("S")
                if provider_id and "doc" in item:
                    channel = json.loads(item["doc"]["S"]).get("channel")
                    if channel:
                        key = {
                            "pk": {"S": marker_pk(tenant_id, channel, provider_id)},
                            "sk": {"S": "MESSAGE"},
                        }
                        requests.append({"DeleteRequest": {"Key": key}})
        requests += self._owned_identity_deletes(tenant_id, identities)
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
            "ProjectionExpression": "pk, sk, provider_message_id, doc",
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
