"""DynamoDB (and S3) implementations of the duplicate-pair repository and the merge store.

Items (see :mod:`leadtide.dal.items` and docs/data-model.md): ``DuplicatePairItem`` under
``T#<tenant>#DUP`` (paged best-first through the leads_by_score index under that partition) and
``MergeRecordItem`` under ``T#<tenant>#MERGE``. A merge's before-images are zlib-compressed JSON in the
record, or ``merges/<tenant>/<merge_id>.json`` in the artifacts bucket when larger than
:data:`INLINE_BEFORE_LIMIT`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository, StorageAdapter
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.errors import condition_failed
from leadtide.dal.items import (
    ActivityItem,
    CounterItem,
    DuplicatePairItem,
    IdentityItem,
    LeadItem,
    MergeRecordItem,
    MessageMarkerItem,
    identity_pk,
    lead_pk,
    marker_pk,
    stats_pk,
    tenant_list_pk,
)
from leadtide.dal.lead_profile import (
    PROFILE,
    identity_entry,
    last_activity_actions,
    last_activity_advances,
    lead_from_item,
    owned_identity_keys,
    search_text,
)
from leadtide.duplicates.ports import (
    CandidatePair,
    DuplicateRepository,
    LeadSnapshot,
    MatchRecord,
    MergeCommit,
    MergeStore,
    ReplaceOutcome,
)
from leadtide.models.common import iso, utc_now
from leadtide.models.duplicates import DuplicatePair, MergeRecord, MergeStatus, PairStatus
from leadtide.models.errors import (
    DuplicatePairNotFoundError,
    LeadNotFoundError,
    MergeConflictError,
    MergeNotFoundError,
)

INLINE_BEFORE_LIMIT = 300_000  # compressed bytes kept in the record; more goes to S3 (items cap at 400 KB)
_MATCH_FIELDS = ["lead_id", "name", "first_name", "last_name", "email", "phone", "instagram_id", "company"]


def dup_pk(tenant_id: str) -> str:
    """Partition (and index partition) of the tenant's candidate pairs."""
    return f"T#{tenant_id}#DUP"


def merge_pk(tenant_id: str) -> str:
    """Partition of the tenant's merge records."""
    return f"T#{tenant_id}#MERGE"


def _pair_sk(a: str, b: str) -> str:
    return f"P#{a}#{b}"


def _pair_from_item(item: DuplicatePairItem) -> DuplicatePair:
    return DuplicatePair(
        pair_id=f"{item.lead_a}-{item.lead_b}",
        lead_a=item.lead_a,
        lead_b=item.lead_b,
        score=int(item.score),
        reasons=list(item.reasons or []),
        status=PairStatus(item.status),
        detected_at=item.detected_at,
        updated_at=item.updated_at,
        updated_by=item.updated_by,
    )


class DynamoDuplicateRepository(DynamoRepository, DuplicateRepository):
    """Candidate pairs over DynamoDB; leads read from the leads_by_created index with a projection."""

    def iter_match_records(self, tenant_id: str) -> Iterator[MatchRecord]:
        for item in LeadItem.by_created.query(
            tenant_list_pk(tenant_id), attributes_to_get=_MATCH_FIELDS, page_size=1000
        ):
            values = item.attribute_values
            yield MatchRecord(
                lead_id=values["lead_id"],
                name=values.get("name"),
                first_name=values.get("first_name"),
                last_name=values.get("last_name"),
                email=values.get("email"),
                phone=values.get("phone"),
                instagram_id=values.get("instagram_id"),
                company=values.get("company"),
            )

    def iter_tenant_ids(self) -> Iterator[str]:
        seen: set[str] = set()
        for item in LeadItem.scan(LeadItem.sk == PROFILE, attributes_to_get=["tenant_id"]):
            if item.tenant_id not in seen:
                seen.add(item.tenant_id)
                yield item.tenant_id

    def replace_open_pairs(
        self, tenant_id: str, pairs: Sequence[CandidatePair], live_lead_ids: set[str], now: datetime
    ) -> ReplaceOutcome:
        pk = dup_pk(tenant_id)
        stored = {
            (i.lead_a, i.lead_b): i
            for i in DuplicatePairItem.query(pk, DuplicatePairItem.sk.startswith("P#"))
        }
        outcome = ReplaceOutcome()
        fresh = {(p.lead_a, p.lead_b): p for p in pairs}
        with DuplicatePairItem.batch_write() as batch:
            for key, item in stored.items():
                gone = key[0] not in live_lead_ids or key[1] not in live_lead_ids
                if item.status != PairStatus.OPEN and not gone:
                    outcome.kept_reviewed += 1
                elif gone or key not in fresh:
                    batch.delete(item)
                    outcome.removed += 1
            for key, pair in fresh.items():
                old = stored.get(key)
                if old is not None and (
                    old.status != PairStatus.OPEN
                    or (int(old.score) == pair.score and list(old.reasons) == pair.reasons)
                ):
                    continue
                batch.save(
                    DuplicatePairItem(
                        pk,
                        _pair_sk(pair.lead_a, pair.lead_b),
                        list_pk=pk,
                        score_sk=f"{pair.score:03d}#{pair.lead_a}#{pair.lead_b}",
                        lead_a=pair.lead_a,
                        lead_b=pair.lead_b,
                        score=pair.score,
                        reasons=pair.reasons,
                        status=str(PairStatus.OPEN),
                        detected_at=old.detected_at if old is not None else now,
                        updated_at=now,
                    )
                )
                outcome.written += 1
        return outcome

    def query_pairs(
        self, tenant_id: str, *, min_score: int, status: PairStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[DuplicatePair], str | None]:
        scope = f"duplicates:{min_score}:{status or ''}"
        start = decode_cursor(cursor, scope=scope, tenant_prefix=f"T#{tenant_id}")
        results = DuplicatePairItem.by_score.query(
            dup_pk(tenant_id),
            range_key_condition=DuplicatePairItem.score_sk >= f"{min_score:03d}",
            filter_condition=(DuplicatePairItem.status == str(status)) if status else None,
            scan_index_forward=False,
            last_evaluated_key=start,
            limit=limit,
            page_size=max(limit, 100) if status else limit,
        )
        pairs = [_pair_from_item(item) for item in results]
        last = results.last_evaluated_key
        if last and len(pairs) == limit:
            tail = pairs[-1]
            last = {
                "pk": {"S": dup_pk(tenant_id)},
                "sk": {"S": _pair_sk(tail.lead_a, tail.lead_b)},
                "list_pk": {"S": dup_pk(tenant_id)},
                "score_sk": {"S": f"{tail.score:03d}#{tail.lead_a}#{tail.lead_b}"},
            }
        return pairs, encode_cursor(last, scope=scope)

    def _key(self, tenant_id: str, pair_id: str) -> tuple[str, str]:
        a, sep, b = pair_id.partition("-")
        if not sep or not a or not b:
            raise DuplicatePairNotFoundError(f"duplicate pair {pair_id} not found")
        return dup_pk(tenant_id), _pair_sk(a, b)

    def get_pair(self, tenant_id: str, pair_id: str) -> DuplicatePair:
        try:
            return _pair_from_item(DuplicatePairItem.get(*self._key(tenant_id, pair_id)))
        except DoesNotExist:
            raise DuplicatePairNotFoundError(f"duplicate pair {pair_id} not found") from None

    def set_pair_status(
        self, tenant_id: str, pair_id: str, status: PairStatus, by: str | None
    ) -> DuplicatePair:
        pk, sk = self._key(tenant_id, pair_id)
        item = DuplicatePairItem(pk, sk)
        try:
            item.update(
                actions=[
                    DuplicatePairItem.status.set(str(status)),
                    DuplicatePairItem.updated_at.set(utc_now()),
                    DuplicatePairItem.updated_by.set(by) if by else DuplicatePairItem.updated_by.remove(),
                ],
                condition=DuplicatePairItem.pk.exists(),
            )
        except UpdateError as err:
            if condition_failed(err):
                raise DuplicatePairNotFoundError(f"duplicate pair {pair_id} not found") from None
            raise
        return self.get_pair(tenant_id, pair_id)

    def delete_pairs(self, tenant_id: str, pair_ids: Sequence[str]) -> None:
        with DuplicatePairItem.batch_write() as batch:
            for pair_id in pair_ids:
                batch.delete(DuplicatePairItem(*self._key(tenant_id, pair_id)))


class S3Blobs(StorageAdapter):
    """JSON documents in the artifacts bucket (client created on first use)."""

    def __init__(self, bucket: str):
        self._bucket = bucket

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("s3")

    def put(self, key: str, body: bytes) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ServerSideEncryption="AES256",
        )

    def get(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body


class DynamoMergeStore(DynamoRepository, MergeStore):
    """Merge records and merge/undo writes over DynamoDB; large before-images in S3."""

    def __init__(self, bucket: str = "", blobs: S3Blobs | None = None):
        super().__init__()
        self._blobs = blobs or S3Blobs(bucket)
        self._has_bucket = bool(bucket) or blobs is not None

    # ------------------------------------------------------------------ reads
    def snapshot(self, tenant_id: str, lead_id: str) -> LeadSnapshot:
        try:
            item = LeadItem.get(lead_pk(tenant_id, lead_id), PROFILE)
        except DoesNotExist:
            raise LeadNotFoundError(f"lead {lead_id} not found") from None
        lead = lead_from_item(item)
        # Every key naming this lead, those of leads merged into it earlier included (merges of merges).
        keys = owned_identity_keys(item)
        owners = {
            i.pk: i.lead_id
            for i in IdentityItem.batch_get([(identity_pk(tenant_id, k, v), "IDENTITY") for k, v in keys])
        }
        owned = [k for k in keys if owners.get(identity_pk(tenant_id, *k)) == lead_id]
        return LeadSnapshot(
            lead_id=lead_id,
            lead=lead,
            raw_profile=item.serialize(),
            identities=owned,  # type: ignore[arg-type]  # custom:<key> kinds too
            timeline_keys=self.timeline_keys(tenant_id, lead_id),
        )

    def timeline_keys(self, tenant_id: str, lead_id: str) -> list[str]:
        return [
            item.sk
            for item in ActivityItem.query(
                lead_pk(tenant_id, lead_id), ActivityItem.sk.startswith("A#"), attributes_to_get=["sk"]
            )
        ]

    def raw_profile(self, tenant_id: str, lead_id: str) -> dict[str, Any] | None:
        try:
            return LeadItem.get(lead_pk(tenant_id, lead_id), PROFILE).serialize()
        except DoesNotExist:
            return None

    # ------------------------------------------------------------------ records
    def create_record(self, record: MergeRecord, before: dict[str, Any]) -> None:
        raw = json.dumps(before, separators=(",", ":"), default=str).encode()
        packed = zlib.compress(raw, 6)
        item = MergeRecordItem(
            merge_pk(record.tenant_id),
            record.merge_id,
            doc=json.loads(record.model_dump_json()),
            status=str(record.status),
            updated_at=utc_now(),
        )
        if len(packed) <= INLINE_BEFORE_LIMIT or not self._has_bucket:
            item.before = packed
        else:
            key = f"merges/{record.tenant_id}/{record.merge_id}.json"
            self._blobs.put(key, raw)
            item.before_key = key
        item.save(condition=MergeRecordItem.pk.does_not_exist())

    def _item(self, tenant_id: str, merge_id: str) -> MergeRecordItem:
        try:
            return MergeRecordItem.get(merge_pk(tenant_id), merge_id)
        except DoesNotExist:
            raise MergeNotFoundError(f"merge {merge_id} not found") from None

    def get_record(self, tenant_id: str, merge_id: str) -> MergeRecord:
        return MergeRecord.model_validate(self._item(tenant_id, merge_id).doc)

    def get_before(self, tenant_id: str, merge_id: str) -> dict[str, Any]:
        item = self._item(tenant_id, merge_id)
        if item.before_key:
            before: dict[str, Any] = json.loads(self._blobs.get(item.before_key))
            return before
        return json.loads(zlib.decompress(item.before or b"{}"))  # type: ignore[no-any-return]

    def list_records(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[MergeRecord], str | None]:
        start = decode_cursor(cursor, scope="merges", tenant_prefix=f"T#{tenant_id}")
        results = MergeRecordItem.query(
            merge_pk(tenant_id),
            scan_index_forward=False,
            last_evaluated_key=start,
            limit=limit,
            page_size=limit,
            attributes_to_get=["pk", "sk", "doc"],
        )
        records = [MergeRecord.model_validate(item.doc) for item in results]
        return records, encode_cursor(results.last_evaluated_key, scope="merges")

    def save_record(self, record: MergeRecord, *, expected: MergeStatus) -> None:
        try:
            MergeRecordItem(merge_pk(record.tenant_id), record.merge_id).update(
                actions=self._record_actions(record),
                condition=MergeRecordItem.status == str(expected),
            )
        except UpdateError as err:
            if condition_failed(err):
                raise MergeConflictError(f"merge {record.merge_id} is no longer {expected}") from None
            raise

    @staticmethod
    def _record_actions(record: MergeRecord) -> list[Action]:
        return [
            MergeRecordItem.status.set(str(record.status)),
            MergeRecordItem.doc.set(json.loads(record.model_dump_json())),
            MergeRecordItem.updated_at.set(utc_now()),
        ]

    # ------------------------------------------------------------------ writes
    def commit(self, commit: MergeCommit) -> None:
        """See :meth:`MergeStore.commit`: one transaction writes the survivor (:meth:`_write_survivor`),
        deletes or restores the other profiles, repoints identities, moves counters, adds or removes the
        merge's timeline entry and moves the merge record (:meth:`_write_others`).

        Raises:
            MergeConflictError: the survivor is gone, or a lead, identity or the record changed meanwhile.
        """
        tenant = commit.tenant_id
        survivor_key = lead_pk(tenant, commit.survivor_id)
        try:
            with TransactWrite(connection=self.connection) as tx:
                self._write_survivor(tx, commit, survivor_key)
                self._write_others(tx, commit, survivor_key)
        except DoesNotExist:
            raise MergeConflictError("the surviving lead was deleted meanwhile") from None
        except TransactWriteError as err:
            if condition_failed(err):
                raise MergeConflictError(
                    "a lead, identity or the merge record changed meanwhile; nothing was changed, retry"
                ) from err
            raise

    def _write_survivor(self, tx: TransactWrite, commit: MergeCommit, survivor_key: str) -> None:
        """The survivor's write, on condition that ``updated_at`` is as read: a whole item (undo, from
        ``survivor_raw``) or an update of the merged fields. Its ``identity_keys`` follow the repointed
        items: gained on merge, given back on undo."""
        gained = {identity_entry(k, v) for k, v, _old, new in commit.repoint if new == commit.survivor_id}
        given = {identity_entry(k, v) for k, v, old, _new in commit.repoint if old == commit.survivor_id}
        unchanged = LeadItem.updated_at == commit.survivor_updated_at
        if commit.survivor_raw is not None:
            item = LeadItem.from_raw_data(commit.survivor_raw)
            if commit.keep_current:
                stored = LeadItem.get(survivor_key, PROFILE)
                for name in commit.keep_current:
                    setattr(item, name, getattr(stored, name))
            for name, value in commit.survivor_set.items():
                setattr(item, name, value)
            item.activity_sk = f"{iso(item.last_activity_at)}#{commit.survivor_id}"
            if gained or given:
                stored_keys = LeadItem.get(survivor_key, PROFILE).identity_keys or set()
                item.identity_keys = ((stored_keys - given) | gained) or None
            tx.save(item, condition=unchanged)
            return
        current = LeadItem.get(survivor_key, PROFILE)
        actions = self._survivor_actions(current, commit.survivor_id, commit.survivor_set)
        if gained:
            actions.append(LeadItem.identity_keys.add(gained))
        elif given:
            actions.append(LeadItem.identity_keys.delete(given))
        condition = unchanged
        if commit.survivor_set.get("last_activity_at") is not None:
            # The merged clock is the max read; tracked events move it without touching updated_at, so a
            # later one that landed meanwhile refuses the merge (retry) instead of being rewound.
            condition = condition & last_activity_advances(commit.survivor_set["last_activity_at"])
        tx.update(LeadItem(survivor_key, PROFILE), actions=actions, condition=condition)

    def _write_others(self, tx: TransactWrite, commit: MergeCommit, survivor_key: str) -> None:
        """Everything of the commit besides the survivor's profile, each on its own condition."""
        tenant = commit.tenant_id
        for lead_id, updated_at in commit.delete_leads.items():
            tx.delete(
                LeadItem(lead_pk(tenant, lead_id), PROFILE), condition=LeadItem.updated_at == updated_at
            )
        for raw in commit.put_profiles:
            restored = LeadItem.from_raw_data(
                {k: v for k, v in raw.items() if k not in commit.strip_restored}
            )
            tx.save(restored, condition=LeadItem.pk.does_not_exist())
        for kind, value, old, new in commit.repoint:
            tx.update(
                IdentityItem(identity_pk(tenant, kind, value), "IDENTITY"),
                actions=[IdentityItem.lead_id.set(new)],
                condition=IdentityItem.lead_id == old,
            )
        for sk, delta in commit.counters.items():
            tx.update(CounterItem(stats_pk(tenant), sk), actions=[CounterItem.value.add(delta)])
        if commit.add_activity is not None:
            activity = commit.add_activity
            tx.save(
                ActivityItem(
                    survivor_key,
                    f"A#{iso(activity.occurred_at)}#{activity.activity_id}",
                    doc=activity.model_dump(mode="json", exclude_defaults=True),
                ),
                condition=ActivityItem.pk.does_not_exist(),
            )
        if commit.delete_activity_sk:
            tx.delete(ActivityItem(survivor_key, commit.delete_activity_sk))
        if commit.record_doc is not None:
            tx.update(
                MergeRecordItem(merge_pk(tenant), commit.merge_id),
                actions=self._record_actions(commit.record_doc),
                condition=MergeRecordItem.status == str(commit.record_from),
            )

    @staticmethod
    def _survivor_actions(current: LeadItem, lead_id: str, changes: dict[str, Any]) -> list[Action]:
        actions: list[Action] = []
        values = dict(current.attribute_values)
        for name, value in changes.items():
            if name == "last_activity_at" and value is not None:
                continue  # last_activity_actions below (with the inbox key)
            attr = getattr(LeadItem, name)
            if value is None:
                actions.append(attr.remove())
            else:
                stored = str(value) if hasattr(value, "value") else value
                actions.append(attr.set(stored))
                values[name] = stored
        if "created_at" in changes:
            actions.append(LeadItem.created_sk.set(f"{iso(changes['created_at'])}#{lead_id}"))
        if changes.get("last_activity_at") is not None:
            actions += last_activity_actions(lead_id, changes["last_activity_at"])
        actions.append(LeadItem.search_text.set(search_text(values) or " "))
        return actions

    def move_timeline(
        self, tenant_id: str, from_lead: str, to_lead: str, keys: Sequence[str], *, chunk: int = 25
    ) -> int:
        src, dst = lead_pk(tenant_id, from_lead), lead_pk(tenant_id, to_lead)
        moved = 0
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            items = list(ActivityItem.batch_get([(src, sk) for sk in part]))
            if not items:
                continue
            with TransactWrite(connection=self.connection) as tx:
                for item in items:
                    raw = item.serialize()
                    raw["pk"] = {"S": dst}
                    copy = ActivityItem.from_raw_data(raw)
                    copy.doc = {**(item.doc or {}), "lead_id": to_lead}
                    tx.save(copy)
                    tx.delete(ActivityItem(src, item.sk))
                    channel = (item.doc or {}).get("channel")
                    if item.provider_message_id and channel:
                        tx.update(
                            MessageMarkerItem(
                                marker_pk(tenant_id, channel, item.provider_message_id), "MESSAGE"
                            ),
                            actions=[MessageMarkerItem.lead_id.set(to_lead)],
                        )
            moved += len(items)
        return moved
