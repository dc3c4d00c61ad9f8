"""Races between an import's two-step writes (identity claims first, profiles after) and the other writers
of identity items and profiles (moto):

* an identity item an import claimed moments ago for a profile not yet written is not taken as stale by
  the lead API or another import; one claimed longer ago than ``STALE_CLAIM_SECONDS`` is;
* an import's whole-item update is refused (``lead_changed``) when the profile changed meanwhile without
  its ``updated_at`` moving (tracked events, engagement summaries, identities a capture added);
* a redelivered message or tracked event refreshes the profile's engagement summary a lost write skipped;
* a profile update racing a delete does not leave a key-only profile item behind.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from leadtide.dal import scoring_models as dal_scoring
from leadtide.dal.import_bulk import DynamoLeadBulkStore
from leadtide.dal.items import identity_pk, lead_pk
from leadtide.dal.leads import PROFILE, STALE_CLAIM_SECONDS, DynamoLeadRepository
from leadtide.dal.scoring_models import DynamoScoringStore
from leadtide.dal.tracking import DynamoTrackingStore
from leadtide.imports.ports import LeadWrite, WriteConflict
from leadtide.leads.ports import LeadChanges
from leadtide.models.common import ChannelType
from leadtide.models.leads import Activity, ActivityType, Lead
from leadtide.scoring.ports import Occurrence
from leadtide.settings import get_settings
from leadtide.tracking.ports import EventToRecord
from tests.integration.test_imports_flow import run_import

ADMIN = {"sub": "u-admin", "custom:tenant_id": "t1", "custom:role": "admin"}
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
IN_FLIGHT = "e" * 32  # the lead id an import's chunk claimed for and has not written yet


def _table() -> Any:
    return boto3.resource("dynamodb").Table(get_settings().leads_table)


def _identity(kind: str, value: str) -> dict[str, Any] | None:
    item = _table().get_item(
        Key={"pk": identity_pk("t1", kind, value), "sk": "IDENTITY"}, ConsistentRead=True
    )
    return item.get("Item")


def _profile(lead_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key={"pk": lead_pk("t1", lead_id), "sk": PROFILE}, ConsistentRead=True)
    return item.get("Item")


def _import_claim(store: DynamoLeadBulkStore, kind: str, value: str, *, age: float = 0) -> None:
    """Claim an identity as an import chunk does before writing its profile (through the store's own
    claim), then backdate ``claimed_at`` by ``age`` seconds."""
    assert store._transact([store._claim("t1", (kind, value), IN_FLIGHT)]) == ["applied"]  # type: ignore[arg-type]
    item = _identity(kind, value)
    assert item is not None and int(item["claimed_at"]) >= int(time.time()) - 5  # set by the claim itself
    if age:
        _table().update_item(
            Key={"pk": identity_pk("t1", kind, value), "sk": "IDENTITY"},
            UpdateExpression="SET claimed_at = :c",
            ExpressionAttributeValues={":c": int(time.time() - age)},
        )


def _lead(n: int, **values: Any) -> Lead:
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


@pytest.fixture
def store(stack) -> DynamoLeadBulkStore:
    return DynamoLeadBulkStore(stack.resources.tables["LeadsTable"])


# ------------------------------------------------------------------------------ claims of an import in flight
def test_the_lead_api_does_not_take_a_key_an_import_is_still_writing(stack, store):
    _import_claim(store, "email", "inflight@example.com")
    res = stack.request(
        "POST", "/leads", json_body={"name": "Racer", "email": "inflight@example.com"}, claims=ADMIN
    )
    assert res.status == 409, res.text
    assert _identity("email", "inflight@example.com")["lead_id"] == IN_FLIGHT  # type: ignore[index]


def test_the_lead_api_takes_a_key_claimed_longer_ago_than_the_cutoff(stack, store):
    _import_claim(store, "email", "old@example.com", age=STALE_CLAIM_SECONDS + 60)
    res = stack.request(
        "POST", "/leads", json_body={"name": "Late", "email": "old@example.com"}, claims=ADMIN
    )
    assert res.status == 201, res.text
    item = _identity("email", "old@example.com")
    assert item is not None and item["lead_id"] == res.json()["lead_id"]
    assert "claimed_at" not in item  # claimed with its profile: no protection needed


@pytest.mark.parametrize("age", [0, STALE_CLAIM_SECONDS + 60])
def test_another_import_takes_a_key_only_once_the_claim_is_stale(store, age):
    _import_claim(store, "email", "p1@example.com", age=age)
    write = LeadWrite(
        lead=_lead(1),
        add_identities=[("email", "p1@example.com")],
        stale_owners={("email", "p1@example.com"): IN_FLIGHT},
    )
    conflicts = store.write_leads("t1", [write])
    if age:
        assert conflicts == []
        assert _identity("email", "p1@example.com")["lead_id"] == _lead(1).lead_id  # type: ignore[index]
    else:
        assert conflicts == [WriteConflict(_lead(1).lead_id, "identity_taken", ("email", "p1@example.com"))]
        assert _identity("email", "p1@example.com")["lead_id"] == IN_FLIGHT  # type: ignore[index]
        assert _profile(_lead(1).lead_id) is None


def test_an_import_row_does_not_steal_a_key_another_import_is_still_writing(stack, store):
    _import_claim(store, "email", "inflight@example.com")
    job = run_import(stack, "r.csv", b"email,first name\ninflight@example.com,Racer\n", {})
    assert (job["created"], job["failed"]) == (0, 1)
    assert _identity("email", "inflight@example.com")["lead_id"] == IN_FLIGHT  # type: ignore[index]


# --------------------------------------------------------------------- quiet changes refuse an import update
def _quiet_change(attribute: str, lead_id: str) -> None:
    key = {"pk": lead_pk("t1", lead_id), "sk": PROFILE}
    if attribute == "last_activity_at":  # tracking's _touch_lead
        _table().update_item(
            Key=key,
            UpdateExpression="SET last_activity_at = :a",
            ExpressionAttributeValues={":a": LATER.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")},
        )
    elif attribute == "engaged_version":  # store_engaged
        _table().update_item(
            Key=key, UpdateExpression="SET engaged_version = :v", ExpressionAttributeValues={":v": 1}
        )
    elif attribute in ("list_ids", "segment_ids"):  # a static list / segment membership change
        _table().update_item(
            Key=key,
            UpdateExpression=f"ADD {attribute} :s",
            ExpressionAttributeValues={":s": {"x" * 32}},
        )
    else:  # a capture adding an identity to an older lead (_append_activity's `elif claimed` branch)
        _table().update_item(
            Key=key,
            UpdateExpression="ADD identity_keys :k",
            ExpressionAttributeValues={":k": {"phone#+14155550100"}},
        )


@pytest.mark.parametrize(
    "attribute", ["last_activity_at", "engaged_version", "identity_keys", "list_ids", "segment_ids"]
)
def test_an_import_update_is_refused_when_the_profile_changed_quietly(store, attribute):
    store.write_leads("t1", [LeadWrite(lead=_lead(1), add_identities=[("email", "p1@example.com")])])
    before = store.get_leads("t1", [_lead(1).lead_id])[_lead(1).lead_id]
    _quiet_change(attribute, _lead(1).lead_id)
    changed = _profile(_lead(1).lead_id)
    update = LeadWrite(lead=_lead(1, company="Acme", updated_at=LATER), base_raw=before.raw)
    assert store.write_leads("t1", [update]) == [WriteConflict(_lead(1).lead_id, "lead_changed")]
    assert _profile(_lead(1).lead_id) == changed  # nothing overwritten
    # while an update over an unchanged before-image applies
    fresh = store.get_leads("t1", [_lead(1).lead_id])[_lead(1).lead_id]
    assert (
        store.write_leads(
            "t1", [LeadWrite(lead=_lead(1, company="Acme", updated_at=LATER), base_raw=fresh.raw)]
        )
        == []
    )
    assert _profile(_lead(1).lead_id)["company"] == "Acme"  # type: ignore[index]


# ------------------------------------------------------------------- redeliveries refresh the summary
def _api_lead(stack, email: str) -> str:
    res = stack.request("POST", "/leads", json_body={"name": "Eve", "email": email}, claims=ADMIN)
    assert res.status == 201, res.text
    return str(res.json()["lead_id"])


def test_a_redelivered_message_refreshes_a_lost_engagement_summary(stack, monkeypatch):
    lead_id = _api_lead(stack, "eve@example.com")
    occurrence = Occurrence("message_in", AT, "msg:1")
    scoring = DynamoScoringStore()
    with monkeypatch.context() as m:
        m.setattr(dal_scoring, "store_engaged", lambda *a, **k: False)  # crash before the summary write
        assert scoring.record_occurrences("t1", lead_id, [occurrence]) == 1
    assert "engaged_version" not in _profile(lead_id)  # type: ignore[operator]
    assert scoring.record_occurrences("t1", lead_id, [occurrence]) == 0  # the redelivery: nothing new
    profile = _profile(lead_id)
    assert profile is not None and int(profile["engaged_version"]) == 1
    assert "message_in" in profile["engaged_counts"]


def test_a_redelivered_tracked_event_refreshes_a_lost_engagement_summary(stack, monkeypatch):
    lead_id = _api_lead(stack, "tom@example.com")
    when = datetime(2030, 1, 1, tzinfo=UTC)  # later than the lead's creation
    event = EventToRecord(
        event_id="ev-1",
        event_type="pricing_viewed",
        occurred_at=when,
        activity=Activity(
            activity_id="a" * 32, lead_id=lead_id, type=ActivityType.TRACKED_EVENT, occurred_at=when
        ),
    )
    tracking = DynamoTrackingStore()
    with monkeypatch.context() as m:
        m.setattr(DynamoTrackingStore, "_touch_lead", lambda *a, **k: None)  # crash before the profile update
        assert tracking.record_events("t1", lead_id, [event]) == [True]
    assert "engaged_version" not in _profile(lead_id)  # type: ignore[operator]
    assert tracking.record_events("t1", lead_id, [event]) == [False]  # the redelivery
    profile = _profile(lead_id)
    assert profile is not None and int(profile["engaged_version"]) == 1
    assert "pricing_viewed" in profile["engaged_counts"]
    assert profile["last_activity_at"].startswith("2030-01-01")


# ------------------------------------------------------------------------------- update racing a delete
def test_an_update_racing_a_delete_leaves_no_key_only_profile(stack, monkeypatch):
    lead_id = _api_lead(stack, "old@example.com")
    repo = DynamoLeadRepository()
    original = DynamoLeadRepository._update_lead

    def then_deleted(self, tenant_id, lid, changes, stale):  # type: ignore[no-untyped-def]
        updated = original(self, tenant_id, lid, changes, stale)
        repo.delete_lead(tenant_id, lid)  # between the transaction and the late identity_keys DELETE
        return updated

    monkeypatch.setattr(DynamoLeadRepository, "_update_lead", then_deleted)
    repo.update_lead(
        "t1",
        lead_id,
        LeadChanges(
            set={"email": "new@example.com"},
            add_identities=[("email", "new@example.com")],
            remove_identities=[("email", "old@example.com")],
        ),
    )
    assert _profile(lead_id) is None
