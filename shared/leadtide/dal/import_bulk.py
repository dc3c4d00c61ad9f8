"""DynamoDB implementation of the import pipeline's bulk lead store (:class:`leadtide.imports.ports.LeadBulkStore`),
over the low-level client: BatchGetItem (100 keys per call), TransactWriteItems of up to 100 independent
conditional Puts/Deletes for identity claims, updates and releases (in parallel; refused items
reported, the rest re-sent), BatchWriteItem (25 items per call) for new leads and rollbacks.
Unprocessed keys/items and throttling are retried with exponential backoff. Every service call goes
through :meth:`DynamoLeadBulkStore._call`, so calls can be counted, and a call that fails for good
raises :class:`leadtide.imports.ports.ImportStorageError`. Profiles are encoded by
:func:`leadtide.dal.lead_codec.encode_lead`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from typing import Any, TypeVar

from leadtide.dal.items import LeadItem, identity_pk, lead_pk, marker_pk
from leadtide.dal.lead_codec import encode_lead
from leadtide.dal.leads import PROFILE, _lead_from_item, identity_of_entry, stale_claim_cutoff
from leadtide.imports.ports import (
    IdentityKey,
    ImportStorageError,
    LeadBulkStore,
    LeadWrite,
    StoredLead,
    WriteConflict,
)
from leadtide.models.common import iso

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
TRANSACT_MAX = 100  # items per TransactWriteItems (DynamoDB's limit)
TRANSACT_BYTES = 3_500_000  # item bytes per TransactWriteItems (DynamoDB's limit: 4 MB)
TRANSACT_ROUNDS = 8  # rounds of re-sending the items of cancelled transactions
WRITE_THREADS = 16  # parallel TransactWriteItems calls per chunk
_RETRYABLE = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
_TRANSACT_RETRYABLE = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_T = TypeVar("_T")


def _backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * (2**attempt)) * (0.5 + random.random() / 2))  # noqa: S311 - jitter only


def _identity_item_key(tenant_id: str, key: IdentityKey) -> dict[str, Any]:
    return {"pk": {"S": identity_pk(tenant_id, key[0], key[1])}, "sk": {"S": "IDENTITY"}}


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
        """Run one DynamoDB operation (PascalCase name), retrying throttling with exponential backoff.

        Raises:
            ImportStorageError: the service refused the call (its ``code`` and ``response`` are the
                service's: ``TransactionCanceledException`` with its ``CancellationReasons``...), was
                still throttling after 8 attempts, or could not be reached.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, "".join("_" + c.lower() if c.isupper() else c for c in operation)[1:])
        for attempt in range(8):
            with self._lock:
                self.calls[operation] += 1
            try:
                result: dict[str, Any] = method(**params)
                return result
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code")
                if code in _RETRYABLE and attempt < 7:
                    _backoff(attempt)
                    continue
                raise ImportStorageError(
                    f"DynamoDB {operation}: {err}", code=code, response=err.response
                ) from err
            except BotoCoreError as err:  # no connection, a timeout after botocore's own retries
                raise ImportStorageError(f"DynamoDB {operation}: {err}") from err
        raise AssertionError("unreachable: the last attempt returns or raises")

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
        try:
            self._call("TransactWriteItems", TransactItems=items)
        except ImportStorageError as err:
            if err.code != "TransactionCanceledException":
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
            ImportStorageError: ops still pending after ``TRANSACT_ROUNDS`` rounds (the caller's step fails
                and is retried; its writes are idempotent), or any other failure (a validation error of
                an item...).
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
                raise ImportStorageError(
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
                        raise ImportStorageError(
                            f"TransactWriteItems refused an item: {code}: {message}", code=code
                        )
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
            ImportStorageError: writes still contended after ``TRANSACT_ROUNDS`` rounds (the step is
                retried), or a call failed.
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
