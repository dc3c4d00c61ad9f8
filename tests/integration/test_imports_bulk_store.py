"""DynamoLeadBulkStore.write_leads on moto: identity claims, updates and releases as TransactWriteItems of
independent conditional items; a refused item cancels its transaction, is reported, and the others are
sent again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from leadtide.dal import import_bulk
from leadtide.dal.import_artifacts import S3ImportArtifacts
from leadtide.dal.import_bulk import DynamoLeadBulkStore
from leadtide.dal.items import identity_pk, lead_pk
from leadtide.dal.lead_codec import encode_lead
from leadtide.dal.leads import PROFILE
from leadtide.imports.ports import ImportStorageError, LeadWrite, WriteConflict
from leadtide.models.common import ChannelType
from leadtide.models.leads import Lead

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)


def lead(n: int, **values: Any) -> Lead:
    return Lead(
        lead_id=f"{n:032x}",
        tenant_id="t1",
        source_channel=ChannelType.IMPORT,
        created_at=AT,
        updated_at=values.pop("updated_at", AT),
        last_activity_at=AT,
        email=f"p{n}@example.com",
        **values,
    )


def new_write(n: int, *keys: tuple[str, str]) -> LeadWrite:
    return LeadWrite(lead=lead(n), add_identities=[("email", f"p{n}@example.com"), *keys])


@pytest.fixture
def store(stack) -> DynamoLeadBulkStore:
    return DynamoLeadBulkStore(stack.resources.tables["LeadsTable"])


def owner(store: DynamoLeadBulkStore, kind: str, value: str) -> str | None:
    item = boto3.client("dynamodb").get_item(
        TableName=store.table,
        Key={"pk": {"S": identity_pk("t1", kind, value)}, "sk": {"S": "IDENTITY"}},
        ConsistentRead=True,
    )
    return item.get("Item", {}).get("lead_id", {}).get("S")


def test_a_refused_claim_inside_a_batch_of_claims(store):
    # Given a phone already owned by lead 99
    store.write_leads("t1", [new_write(99, ("phone", "+14155550100"))])
    store.calls.clear()
    # When five new leads are written in one call and lead 3 claims that phone as well as its email
    writes = [new_write(n) for n in range(5)]
    writes[3] = new_write(3, ("phone", "+14155550100"))
    conflicts = store.write_leads("t1", writes)
    # Then lead 3 is refused with the taken key, its email claim given back, the phone still 99's
    assert conflicts == [WriteConflict(lead(3).lead_id, "identity_taken", ("phone", "+14155550100"))]
    assert owner(store, "phone", "+14155550100") == lead(99).lead_id
    assert owner(store, "email", "p3@example.com") is None
    assert store.get_leads("t1", [lead(3).lead_id]) == {}
    # And the four others are written with their identities
    stored = store.get_leads("t1", [lead(n).lead_id for n in range(5)])
    assert sorted(stored) == sorted(lead(n).lead_id for n in (0, 1, 2, 4))
    assert all(owner(store, "email", f"p{n}@example.com") == lead(n).lead_id for n in (0, 1, 2, 4))
    # And the claims took two transactions (the cancelled one, then the rest), not one call per claim
    assert store.calls["PutItem"] == 0
    assert store.calls["TransactWriteItems"] == 3  # claims x2, release of lead 3's email x1
    assert store.calls["BatchWriteItem"] == 1


def test_two_leads_of_one_call_claiming_one_key(store):
    # Two writes of one call claim the same email: one wins, the other is identity_taken (never a
    # ValidationException for two operations on one item in a transaction)
    writes = [
        LeadWrite(lead=lead(1), add_identities=[("email", "same@example.com")]),
        LeadWrite(lead=lead(2), add_identities=[("email", "same@example.com")]),
    ]
    conflicts = store.write_leads("t1", writes)
    assert len(conflicts) == 1 and conflicts[0].reason == "identity_taken"
    winner = ({lead(1).lead_id, lead(2).lead_id} - {conflicts[0].lead_id}).pop()
    assert owner(store, "email", "same@example.com") == winner


def test_claims_over_many_transactions_and_a_replay_reclaims_its_own(store):
    # 150 leads with an email and a phone each: 300 claims, at least 3 transactions of <= 100
    writes = [new_write(n, ("phone", f"+1415555{n:04d}")) for n in range(150)]
    assert store.write_leads("t1", writes) == []
    assert store.calls["TransactWriteItems"] == 3
    assert owner(store, "phone", "+14155550149") == lead(149).lead_id
    # A redelivered chunk claims the same identities again (already this lead's: accepted) and finds its
    # leads already written (lead_exists), without releasing anything
    store.calls.clear()
    conflicts = store.write_leads("t1", writes[:10], replay=True)
    assert {c.reason for c in conflicts} == {"lead_exists"} and len(conflicts) == 10
    assert owner(store, "email", "p0@example.com") == lead(0).lead_id
    assert store.calls["TransactWriteItems"] == 2  # the claims, the conditional Puts (all refused)


def test_updates_in_one_transaction_report_the_changed_lead_and_release_its_claims(store):
    # Given three stored leads
    store.write_leads("t1", [new_write(n) for n in range(3)])
    stored = store.get_leads("t1", [lead(n).lead_id for n in range(3)])
    # And lead 1 changed by someone else since it was read
    changed = lead(1, updated_at=LATER)
    boto3.client("dynamodb").put_item(TableName=store.table, Item=encode_lead(LeadWrite(lead=changed)))
    # When the three are updated: each gets a new phone and lead 0 replaces its email
    store.calls.clear()
    writes = [
        LeadWrite(
            lead=lead(n, updated_at=LATER, phone=f"+1415555000{n}"),
            base_raw=stored[lead(n).lead_id].raw,
            add_identities=[("phone", f"+1415555000{n}")]
            + ([("email", "new0@example.com")] if n == 0 else []),
            remove_identities=[("email", "p0@example.com")] if n == 0 else [],
        )
        for n in range(3)
    ]
    conflicts = store.write_leads("t1", writes)
    # Then lead 1 is lead_changed and its phone claim released; the others are updated
    assert conflicts == [WriteConflict(lead(1).lead_id, "lead_changed")]
    assert owner(store, "phone", "+14155550001") is None
    assert owner(store, "phone", "+14155550000") == lead(0).lead_id
    after = store.get_leads("t1", [lead(n).lead_id for n in range(3)])
    assert after[lead(0).lead_id].lead.phone == "+14155550000"
    assert after[lead(1).lead_id].lead.updated_at == LATER and after[lead(1).lead_id].lead.phone is None
    # And lead 0's replaced email is released, its new one claimed
    assert owner(store, "email", "p0@example.com") is None
    assert owner(store, "email", "new0@example.com") == lead(0).lead_id
    # Calls: claims 1, updates 2 (cancelled by lead 1, then the two others), releases 1
    assert store.calls["TransactWriteItems"] == 4
    assert store.calls["PutItem"] == 0 and store.calls["DeleteItem"] == 0


def test_releases_are_conditional(store):
    # A replaced identity that meanwhile belongs to another lead is not deleted
    store.write_leads("t1", [new_write(1), new_write(2)])
    stored = store.get_leads("t1", [lead(1).lead_id])[lead(1).lead_id]
    write = LeadWrite(
        lead=lead(1, updated_at=LATER), base_raw=stored.raw, remove_identities=[("email", "p2@example.com")]
    )
    assert store.write_leads("t1", [write]) == []
    assert owner(store, "email", "p2@example.com") == lead(2).lead_id


def test_a_replayed_update_already_applied_keeps_its_claims(store):
    # Given a stored lead updated once (new phone, email replaced)
    store.write_leads("t1", [new_write(1)])
    stored = store.get_leads("t1", [lead(1).lead_id])[lead(1).lead_id]
    write = LeadWrite(
        lead=lead(1, updated_at=LATER, phone="+14155550111"),
        base_raw=stored.raw,
        add_identities=[("phone", "+14155550111"), ("email", "new1@example.com")],
        remove_identities=[("email", "p1@example.com")],
    )
    assert store.write_leads("t1", [write]) == []
    # When the same write is replayed (a redelivered chunk): its Put is refused, but the stored profile
    # already carries its updated_at, so it counts as applied and its claims stay
    store.calls.clear()
    assert store.write_leads("t1", [write], replay=True) == []
    assert owner(store, "phone", "+14155550111") == lead(1).lead_id
    assert owner(store, "email", "new1@example.com") == lead(1).lead_id
    assert owner(store, "email", "p1@example.com") is None
    assert store.calls["BatchGetItem"] == 1  # the consistent read of the refused update's updated_at
    # And a replay of a write someone changed since (another updated_at) is still lead_changed
    other = LeadWrite(
        lead=lead(1, updated_at=datetime(2025, 3, 3, tzinfo=UTC), phone="+14155550112"),
        base_raw=stored.raw,
        add_identities=[("phone", "+14155550112")],
    )
    assert store.write_leads("t1", [other], replay=True) == [WriteConflict(lead(1).lead_id, "lead_changed")]
    assert owner(store, "phone", "+14155550112") is None
    assert owner(store, "phone", "+14155550111") == lead(1).lead_id


def test_a_claim_of_a_stale_key_is_conditional_on_its_missing_owner(store):
    # An identity item naming lead 9 (no profile): refused without stale_owners, taken with them, and
    # refused when the item meanwhile names another lead than the one found stale
    store.write_leads("t1", [new_write(9)])
    boto3.client("dynamodb").delete_item(
        TableName=store.table, Key={"pk": {"S": lead_pk("t1", lead(9).lead_id)}, "sk": {"S": PROFILE}}
    )
    assert store.existing_lead_ids("t1", [lead(9).lead_id]) == set()
    key = ("email", "p9@example.com")
    # claimed by an import longer ago than STALE_CLAIM_SECONDS (a fresh claim's profile may be on its way)
    boto3.client("dynamodb").update_item(
        TableName=store.table,
        Key={"pk": {"S": identity_pk("t1", *key)}, "sk": {"S": "IDENTITY"}},
        UpdateExpression="SET claimed_at = :c",
        ExpressionAttributeValues={":c": {"N": "1000"}},
    )
    refused = store.write_leads("t1", [LeadWrite(lead=lead(1), add_identities=[key])])
    assert refused == [WriteConflict(lead(1).lead_id, "identity_taken", key)]
    wrong = LeadWrite(lead=lead(1), add_identities=[key], stale_owners={key: lead(8).lead_id})
    assert store.write_leads("t1", [wrong])[0].reason == "identity_taken"
    right = LeadWrite(lead=lead(1), add_identities=[key], stale_owners={key: lead(9).lead_id})
    assert store.write_leads("t1", [right]) == []
    assert owner(store, "email", "p9@example.com") == lead(1).lead_id
    assert store.existing_lead_ids("t1", [lead(1).lead_id, lead(9).lead_id]) == {lead(1).lead_id}


class ConflictingClient:
    """The real client, whose first ``conflicts`` TransactWriteItems are cancelled for TransactionConflict."""

    def __init__(self, conflicts: int):
        self.real = boto3.client("dynamodb")
        self.conflicts = conflicts

    def transact_write_items(self, **params: Any) -> Any:
        if self.conflicts:
            self.conflicts -= 1
            items = params["TransactItems"]
            reasons = [{"Code": "TransactionConflict", "Message": "conflict"}] + [{"Code": "None"}] * (
                len(items) - 1
            )
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        return self.real.transact_write_items(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_transaction_conflicts_are_retried_with_backoff_then_give_up(stack, monkeypatch):
    sleeps: list[int] = []
    monkeypatch.setattr(import_bulk, "_backoff", sleeps.append)
    table = stack.resources.tables["LeadsTable"]
    # Two conflicts, then success: everything written
    store = DynamoLeadBulkStore(table, client=ConflictingClient(conflicts=2))
    assert store.write_leads("t1", [new_write(1), new_write(2)]) == []
    assert owner(store, "email", "p2@example.com") == lead(2).lead_id
    assert sleeps == [0, 1]
    # Conflicts forever: a RuntimeError after the bounded rounds (the chunk step is retried), nothing written
    store = DynamoLeadBulkStore(table, client=ConflictingClient(conflicts=10_000))
    with pytest.raises(RuntimeError, match="contended"):
        store.write_leads("t1", [new_write(3)])
    assert owner(store, "email", "p3@example.com") is None
    assert store.calls["TransactWriteItems"] == import_bulk.TRANSACT_ROUNDS


class RefusingClient(ConflictingClient):
    """The real client, whose BatchGetItem is refused with a non-retryable error."""

    def batch_get_item(self, **params: Any) -> Any:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "bad key"}}, "BatchGetItem")


def test_a_refused_call_raises_the_ports_storage_error(stack):
    # Given a store whose service refuses a read
    store = DynamoLeadBulkStore(stack.resources.tables["LeadsTable"], client=RefusingClient(conflicts=0))
    # When the chunk step reads through it
    with pytest.raises(ImportStorageError) as raised:
        store.get_leads("t1", [lead(1).lead_id])
    # Then the error is the port's, with the service's code, and the SDK error as its cause
    assert raised.value.code == "ValidationException" and "BatchGetItem" in str(raised.value)
    assert isinstance(raised.value.__cause__, ClientError)


def test_artifacts_raise_key_error_for_a_missing_file_and_the_storage_error_otherwise(stack):
    artifacts = S3ImportArtifacts(stack.resources.buckets["ArtifactsBucket"])
    artifacts.put("import-data/t1/x/plans/000000.json", b"{}")
    assert artifacts.get("import-data/t1/x/plans/000000.json") == b"{}"
    assert artifacts.size("import-data/t1/x/plans/000000.json") == 2
    assert artifacts.size("import-data/t1/x/plans/000001.json") is None
    with pytest.raises(KeyError):
        artifacts.get("import-data/t1/x/plans/000001.json")
    # A bucket that does not exist: the port's error naming the operation and the key
    gone = S3ImportArtifacts("no-such-bucket-leadtide")
    with pytest.raises(ImportStorageError, match=r"PutObject import-data/t1/x/a\.json") as raised:
        gone.put("import-data/t1/x/a.json", b"{}")
    assert raised.value.code == "NoSuchBucket"
