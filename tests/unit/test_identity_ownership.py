"""Identity ownership bookkeeping: the profile's ``identity_keys`` entries, what an import's whole-item write
records, and the order in which a transaction's cancellation reasons are read."""

from __future__ import annotations

from datetime import UTC, datetime

from leadtide.dal.items import LeadItem
from leadtide.dal.lead_codec import encode_lead
from leadtide.dal.leads import (
    _sent_order,
    identity_entries_after,
    identity_entry,
    identity_of_entry,
    owned_identity_keys,
)
from leadtide.imports.ports import LeadWrite
from leadtide.models.leads import Lead

AT = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)


def _lead(**values):
    return Lead(
        lead_id="e" * 32,
        tenant_id="t1",
        source_channel="import",
        created_at=AT,
        updated_at=AT,
        last_activity_at=AT,
        **values,
    )


def test_entries_round_trip_even_with_hashes_in_the_value():
    for key in [("email", "a@b.co"), ("phone", "+14155550100"), ("custom:member_no", "A#12#x")]:
        assert identity_of_entry(identity_entry(*key)) == key
    assert identity_entry("custom:member_no", "A#12") == "custom:member_no#A#12"


def test_entries_after_a_whole_item_write():
    assert identity_entries_after(None, [("email", "a@b.co")]) == ["email#a@b.co"]
    assert identity_entries_after(
        ["email#old@b.co", "custom:m#1"], [("email", "new@b.co")], [("email", "old@b.co")]
    ) == ["custom:m#1", "email#new@b.co"]
    assert identity_entries_after(["email#a@b.co"], [], [("email", "a@b.co")]) == []


def test_an_import_write_records_its_claims_and_releases_on_the_profile():
    lead = _lead(email="new@b.co", custom_fields={"member_no": "M-1"})
    created = encode_lead(
        LeadWrite(lead=lead, add_identities=[("email", "new@b.co"), ("custom:member_no", "M-1")])
    )
    assert sorted(created["identity_keys"]["SS"]) == ["custom:member_no#M-1", "email#new@b.co"]
    # an update keeps the keys merged into the lead earlier, drops the released email, adds the new one
    base = {
        **encode_lead(LeadWrite(lead=_lead(email="old@b.co"))),
        "identity_keys": {"SS": ["email#old@b.co", "phone#+14155550100"]},
    }
    updated = encode_lead(
        LeadWrite(
            lead=lead,
            base_raw=base,
            add_identities=[("email", "new@b.co")],
            remove_identities=[("email", "old@b.co")],
        )
    )
    assert sorted(updated["identity_keys"]["SS"]) == ["email#new@b.co", "phone#+14155550100"]
    # a write that claims nothing keeps the stored set as it was; one releasing the last key drops it
    assert encode_lead(LeadWrite(lead=lead, base_raw=base))["identity_keys"] == base["identity_keys"]
    only = {**base, "identity_keys": {"SS": ["email#old@b.co"]}}
    released = encode_lead(LeadWrite(lead=lead, base_raw=only, remove_identities=[("email", "old@b.co")]))
    assert "identity_keys" not in released


def test_owned_keys_unite_the_recorded_set_and_the_contact_fields():
    item = LeadItem.from_raw_data(
        {
            **encode_lead(LeadWrite(lead=_lead(email="a@b.co", phone="+14155550100"))),
            "identity_keys": {"SS": ["email#a@b.co", "email#merged@b.co", "custom:m#7"]},
        }
    )
    assert sorted(owned_identity_keys(item)) == sorted(
        [("email", "a@b.co"), ("email", "merged@b.co"), ("custom:m", "7"), ("phone", "+14155550100")]
    )


def test_cancellation_reasons_are_read_in_the_order_pynamodb_sends_items():
    added = [
        ("update", "lead-exists"),
        ("put", "identity:email:a"),
        ("delete", "identity-remove"),
        ("check", "guard"),
        ("put", "identity:phone:b"),
        ("update", "counter"),
    ]
    assert _sent_order(added) == [
        "guard",
        "identity-remove",
        "identity:email:a",
        "identity:phone:b",
        "lead-exists",
        "counter",
    ]
