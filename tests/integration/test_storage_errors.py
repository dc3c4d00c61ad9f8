"""What the dal does when DynamoDB refuses a call (moto, with chosen calls made to fail as DynamoDB would):
a failed condition means what the adapter says (not found, already done, ``False``); a throttled call is
never mistaken for one - it propagates as StorageUnavailableError, which the API answers with 503."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from leadtide.dal.channels import DynamoChannelRepository
from leadtide.dal.items import lead_pk
from leadtide.dal.leads import PROFILE, DynamoLeadRepository
from leadtide.dal.lists import DynamoListRepository
from leadtide.dal.scoring_models import DynamoScoringStore
from leadtide.dal.tracking import DynamoTrackingStore
from leadtide.models.channels import ChannelRoute, ChannelStatus
from leadtide.models.common import ChannelType
from leadtide.models.errors import (
    ApiKeyNotFoundError,
    ScoringModelNotFoundError,
    StorageUnavailableError,
)
from leadtide.models.leads import Activity, ActivityType
from leadtide.models.messages import DeliveryStatus
from leadtide.settings import get_settings
from tests.sdk_errors import fail_dynamodb

ADMIN = {"sub": "u-admin", "custom:tenant_id": "t1", "custom:role": "admin"}
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
THROTTLED = "ProvisionedThroughputExceededException"
CANCELLED = "TransactionCanceledException"


def _lead(stack, email: str = "ana@example.com") -> str:
    res = stack.request("POST", "/leads", json_body={"name": "Ana", "email": email}, claims=ADMIN)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _sort_key(kwargs: dict[str, Any]) -> str:
    return kwargs.get("Key", {}).get("sk", {}).get("S", "")


# ------------------------------------------------------------------------------ the API
def test_a_throttled_read_answers_503_with_retry_after(stack, monkeypatch):
    # Given a lead, and DynamoDB throttling every GetItem
    lead_id = _lead(stack)
    fail_dynamodb(monkeypatch, "GetItem", THROTTLED)
    # When it is read
    res = stack.request("GET", f"/leads/{lead_id}", claims=ADMIN)
    # Then the answer says to retry shortly, in the API's error shape
    assert res.status == 503, res.text
    assert res.json()["error"]["code"] == "storage_unavailable"
    assert res.headers.get("retry-after") == "1"


# ------------------------------------------------------------------------------ delivery statuses
def _message(stack) -> tuple[DynamoLeadRepository, str]:
    lead_id = _lead(stack)
    repo = DynamoLeadRepository()
    activity = Activity(
        activity_id="a1",
        lead_id=lead_id,
        type=ActivityType.MESSAGE,
        occurred_at=AT,
        channel=ChannelType.WHATSAPP,
        text="hello",
        provider_message_id="wamid.1",
    )
    repo.append_activity("t1", activity, touch_lead=True)
    return repo, lead_id


def test_a_throttled_timeline_update_of_a_delivery_status_is_not_taken_as_done(stack, monkeypatch):
    # Given a sent message, and DynamoDB throttling the update of its timeline entry
    repo, _ = _message(stack)
    failed = fail_dynamodb(
        monkeypatch, "UpdateItem", THROTTLED, when=lambda kw: _sort_key(kw).startswith("A#")
    )
    # When its delivery status arrives, then the status is not reported as recorded
    with pytest.raises(StorageUnavailableError):
        repo.record_delivery_status("t1", ChannelType.WHATSAPP, "wamid.1", DeliveryStatus.DELIVERED, AT)
    assert len(failed) == 1


def test_a_delivery_status_of_a_message_whose_entry_is_gone_is_recorded_on_the_marker(stack):
    # Given a sent message whose timeline entry was removed meanwhile (the entry's condition fails)
    repo, lead_id = _message(stack)
    table = boto3.resource("dynamodb").Table(get_settings().leads_table)
    (entry,) = [
        i for i in table.scan()["Items"] if i["pk"] == lead_pk("t1", lead_id) and i["sk"].startswith("A#")
    ]
    table.delete_item(Key={"pk": entry["pk"], "sk": entry["sk"]})
    # When its delivery status arrives, then it counts as recorded (the marker has it)
    assert repo.record_delivery_status("t1", ChannelType.WHATSAPP, "wamid.1", DeliveryStatus.DELIVERED, AT)


# ------------------------------------------------------------------------------ transactions
def test_a_throttled_lead_in_a_list_removal_is_not_taken_for_a_deleted_lead(stack, monkeypatch):
    # Given a lead in a list, and one removal transaction cancelled because the lead's item was throttled
    lead_id = _lead(stack)
    list_id = stack.request("POST", "/lists", json_body={"name": "Fair"}, claims=ADMIN).json()["list_id"]
    added = stack.request("POST", f"/lists/{list_id}/leads", json_body={"lead_ids": [lead_id]}, claims=ADMIN)
    assert added.json()["added"] == 1
    fail_dynamodb(
        monkeypatch, "TransactWriteItems", CANCELLED, reasons=[None, "ThrottlingError", None], times=1
    )
    # When the lead is removed from the list, then the removal fails as a whole (to be retried)...
    with pytest.raises(StorageUnavailableError):
        DynamoListRepository().remove_member("t1", list_id, lead_id)
    # ... rather than removing the membership and leaving the list id on the lead
    table = boto3.resource("dynamodb").Table(get_settings().leads_table)
    profile = table.get_item(Key={"pk": lead_pk("t1", lead_id), "sk": PROFILE})["Item"]
    assert list_id in profile.get("list_ids", set())
    members = stack.request("GET", f"/lists/{list_id}/leads", claims=ADMIN).json()["items"]
    assert [m["lead_id"] for m in members] == [lead_id]


def _pending_claim() -> ChannelRoute:
    return ChannelRoute(
        tenant_id="t1",
        channel_id="c1",
        channel_type=ChannelType.WHATSAPP,
        route_key="1122334455667",
        status=ChannelStatus.PENDING,
    )


def test_a_throttled_channel_activation_is_not_taken_for_one_already_done(stack, monkeypatch):
    fail_dynamodb(monkeypatch, "TransactWriteItems", CANCELLED, reasons=["ThrottlingError", None])
    with pytest.raises(StorageUnavailableError):
        DynamoChannelRepository().activate(_pending_claim(), AT)


def test_an_activation_refused_by_its_condition_is_not_done(stack):
    # No pending claim is stored: the condition refuses, which means "already active or gone"
    assert DynamoChannelRepository().activate(_pending_claim(), AT) is False


def test_a_throttled_api_key_revocation_is_not_a_missing_key(stack, monkeypatch):
    fail_dynamodb(monkeypatch, "TransactWriteItems", CANCELLED, reasons=[None, "ThrottlingError"])
    with pytest.raises(StorageUnavailableError):
        DynamoTrackingStore().revoke_api_key("t1", "k1", AT)


def test_revoking_an_unknown_api_key_is_a_missing_key(stack):
    with pytest.raises(ApiKeyNotFoundError):
        DynamoTrackingStore().revoke_api_key("t1", "k-unknown", AT)


def test_a_throttled_default_model_change_is_not_a_missing_model(stack, monkeypatch):
    fail_dynamodb(monkeypatch, "TransactWriteItems", CANCELLED, reasons=[None, "ThrottlingError"])
    with pytest.raises(StorageUnavailableError):
        DynamoScoringStore().set_default_model("t1", "m1")


def test_choosing_an_unknown_default_model_is_a_missing_model(stack):
    with pytest.raises(ScoringModelNotFoundError):
        DynamoScoringStore().set_default_model("t1", "m-unknown")
