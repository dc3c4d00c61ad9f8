"""Lead-profile backfill (``leads.backfill``): the decision (what is missing -> what is written), paging and
counts over an in-memory store, concurrency (a profile changed between read and write is skipped, then fixed
on the next run), identity ownership (only keys whose item names the lead; never a claim), and the DynamoDB
store's view of a stored item (fresh values = what ``lead_item_values`` writes)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadtide.dal.items import LeadItem, condition_keys
from leadtide.dal.lead_backfill import DERIVED_SOURCES, _stored_profile, identity_candidates
from leadtide.dal.leads import identity_entry, lead_item_values, profile_keys
from leadtide.leads.backfill import BACKFILL_JOB, LeadBackfillService, plan_profile, run_backfill_with
from leadtide.leads.ports import (
    BackfillCounts,
    IdentityKey,
    ProfileBackfillStore,
    ProfilePatch,
    StoredProfile,
)
from leadtide.models.auth import Principal
from leadtide.models.common import Role
from leadtide.models.errors import ForbiddenError
from leadtide.models.leads import Lead

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _lead(lead_id: str, **fields: Any) -> Lead:
    base: dict[str, Any] = {
        "lead_id": lead_id,
        "tenant_id": "t1",
        "source_channel": "web_form",
        "created_at": T0,
        "updated_at": T0,
        "last_activity_at": T0,
    }
    return Lead.model_validate({**base, **fields})


# ------------------------------------------------------------------------------------------ the decision
def test_plan_writes_only_missing_and_stale_attributes() -> None:
    profile = StoredProfile(
        lead_id="a" * 32,
        stored={"list_pk": "T#t1", "search_text": "old text", "score_sk": "-01#" + "a" * 32},
        fresh={
            "list_pk": "T#t1",
            "search_text": "ann",
            "score_sk": "-01#" + "a" * 32,
            "cond_pk": "T#t1#COND#03",
        },
    )
    patch = plan_profile(profile, {})
    assert patch is not None
    assert patch.set == {"search_text": "ann", "cond_pk": "T#t1#COND#03"}
    assert patch.add_identities == frozenset()


def test_plan_is_none_for_an_up_to_date_profile() -> None:
    fresh = {"cond_pk": "T#t1#COND#01", "cond_sk": "b" * 32}
    owned = ("email", "b@x.example")
    profile = StoredProfile(
        lead_id="b" * 32,
        stored=dict(fresh),
        fresh=fresh,
        identity_keys=frozenset({owned}),
        candidates=(owned,),
    )
    assert plan_profile(profile, {owned: "b" * 32}) is None


def test_plan_adds_only_identities_whose_item_names_the_lead() -> None:
    mine, theirs, unclaimed, known = (
        ("email", "me@x.example"),
        ("phone", "+14155550100"),
        ("instagram", "123"),
        ("custom:member_no", "77"),
    )
    profile = StoredProfile(
        lead_id="c" * 32,
        stored={},
        fresh={},
        identity_keys=frozenset({known}),
        candidates=(mine, theirs, unclaimed, known),
    )
    patch = plan_profile(profile, {mine: "c" * 32, theirs: "d" * 32, known: "c" * 32})
    assert patch is not None
    assert patch.add_identities == frozenset({mine})  # not another lead's, not an unclaimed one, not known
    assert patch.set == {}


# ------------------------------------------------------------------------------------------ fake store
class FakeBackfillStore(ProfileBackfillStore):
    """Profiles by lead id (newest first by insertion order reversed), each with a version bumped on edit."""

    def __init__(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        self.owners: dict[IdentityKey, str] = {}
        self.writes: list[ProfilePatch] = []
        self.before_apply: Any = None
        self.unreadable = 0

    def add(self, lead_id: str, *, stored: dict[str, Any], fresh: dict[str, Any], **kw: Any) -> None:
        self.profiles[lead_id] = {"stored": dict(stored), "fresh": fresh, "version": 0, **kw}

    def page_profiles(self, tenant_id, *, limit, cursor):
        ids = list(self.profiles)
        start = int(cursor or 0)
        page = ids[start : start + limit]
        out = [
            StoredProfile(
                lead_id=i,
                stored=dict(self.profiles[i]["stored"]),
                fresh=self.profiles[i]["fresh"],
                identity_keys=frozenset(self.profiles[i].get("identity_keys", ())),
                candidates=tuple(self.profiles[i].get("candidates", ())),
                version=self.profiles[i]["version"],
            )
            for i in page
        ]
        unreadable, self.unreadable = (self.unreadable, 0) if start == 0 else (0, self.unreadable)
        nxt = str(start + limit) if start + limit < len(ids) else None
        return out, unreadable, nxt

    def identity_owners(self, tenant_id, keys):
        return {k: self.owners[k] for k in keys if k in self.owners}

    def apply(self, tenant_id, profile, patch):
        if self.before_apply is not None:
            self.before_apply(profile)
        current = self.profiles.get(profile.lead_id)
        if current is None or current["version"] != profile.version:
            return False
        current["stored"].update(patch.set)
        current["identity_keys"] = set(current.get("identity_keys", ())) | set(patch.add_identities)
        current["version"] += 1
        self.writes.append(patch)
        return True


def _service(store: FakeBackfillStore, queued: list[dict[str, Any]] | None = None) -> LeadBackfillService:
    if queued is None:
        return LeadBackfillService(store)
    return LeadBackfillService(store, enqueue=lambda msgs: queued.extend(dict(m) for m in msgs))


def _fresh(i: int) -> dict[str, str]:
    return {"cond_pk": f"T#t1#COND#{i:02d}", "cond_sk": f"{i:032d}", "search_text": f"lead {i}"}


def test_run_pages_through_every_profile_and_queues_steps_with_totals(caplog) -> None:
    store = FakeBackfillStore()
    for i in range(7):
        stored = _fresh(i) if i % 2 else {"search_text": f"lead {i}"}  # even ones lack the index keys
        store.add(f"{i:032d}", stored=stored, fresh=_fresh(i))
    queued: list[dict[str, Any]] = []
    run_backfill_with(_service(store, queued), {"kind": BACKFILL_JOB, "tenant_id": "t1", "page_size": 3})
    steps = 1
    with caplog.at_level(logging.INFO, logger="leadtide.leads.backfill"):
        while queued:
            message = queued.pop(0)
            assert message["kind"] == BACKFILL_JOB and message["cursor"]
            run_backfill_with(_service(store, queued), message)
            steps += 1
    assert steps == 3  # 3 + 3 + 1 profiles
    assert all(p["stored"] == p["fresh"] for p in store.profiles.values())
    assert len(store.writes) == 4  # leads 0, 2, 4, 6
    assert all(set(w.set) == {"cond_pk", "cond_sk"} for w in store.writes)
    summary = [r.getMessage() for r in caplog.records if "done" in r.getMessage()]
    assert len(summary) == 1
    assert "scanned=7 updated=4 up_to_date=3 skipped_concurrent=0" in summary[0]


def test_second_run_writes_nothing() -> None:
    store = FakeBackfillStore()
    for i in range(4):
        store.add(f"{i:032d}", stored={}, fresh=_fresh(i))
    service = _service(store)
    run_backfill_with(service, {"tenant_id": "t1"})
    assert len(store.writes) == 4
    counts, cursor = service.step("t1", cursor=None)
    assert cursor is None
    assert (counts.scanned, counts.updated, counts.up_to_date) == (4, 0, 4)
    assert len(store.writes) == 4


def test_profile_changed_between_read_and_write_is_skipped_then_fixed_next_run() -> None:
    store = FakeBackfillStore()
    for i in range(3):
        store.add(f"{i:032d}", stored={}, fresh=_fresh(i))
    victim = f"{1:032d}"

    def concurrent_edit(profile: StoredProfile) -> None:
        if profile.lead_id == victim and store.profiles[victim]["version"] == 0:
            store.profiles[victim]["version"] = 100  # someone edited the lead

    store.before_apply = concurrent_edit
    service = _service(store)
    counts, _ = service.step("t1", cursor=None)
    assert (counts.updated, counts.skipped_concurrent) == (2, 1)
    assert store.profiles[victim]["stored"] == {}  # the edit won: nothing written over it
    counts, _ = service.step("t1", cursor=None)
    assert (counts.updated, counts.skipped_concurrent, counts.up_to_date) == (1, 0, 2)
    assert store.profiles[victim]["stored"] == _fresh(1)


def test_identity_keys_backfilled_from_owned_items_only() -> None:
    store = FakeBackfillStore()
    mine, taken = ("email", "a@x.example"), ("phone", "+14155550100")
    store.add("a" * 32, stored=_fresh(1), fresh=_fresh(1), candidates=[mine, taken])
    store.owners = {mine: "a" * 32, taken: "b" * 32}
    counts, _ = _service(store).step("t1", cursor=None)
    assert counts.attributes == {"identity_keys": 1}
    assert store.profiles["a" * 32]["identity_keys"] == {mine}
    assert store.owners == {mine: "a" * 32, taken: "b" * 32}  # nothing claimed


def test_counts_unreadable_items_and_carries_totals() -> None:
    store = FakeBackfillStore()
    store.add("a" * 32, stored={}, fresh=_fresh(1))
    store.unreadable = 2
    counts, _ = _service(store).step("t1", cursor=None)
    assert (counts.scanned, counts.unreadable, counts.updated) == (3, 2, 1)
    total = BackfillCounts.from_dict({"scanned": 5, "attributes": {"cond_pk": 2}, "updated": "x"}).add(counts)
    assert (total.scanned, total.updated, total.attributes["cond_pk"]) == (8, 1, 3)


def test_step_without_tenant_is_refused() -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        run_backfill_with(_service(FakeBackfillStore()), {"kind": BACKFILL_JOB})


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP])
def test_only_admins_start_a_backfill(role: Role) -> None:
    queued: list[dict[str, Any]] = []
    with pytest.raises(ForbiddenError):
        _service(FakeBackfillStore(), queued).start(Principal("t1", "u", role))
    assert queued == []


def test_admin_start_queues_the_first_step_for_its_own_tenant() -> None:
    queued: list[dict[str, Any]] = []
    accepted = _service(FakeBackfillStore(), queued).start(Principal("t9", "u", Role.ADMIN))
    assert accepted.tenant_id == "t9" and len(accepted.run_id) == 32
    assert queued == [{"kind": BACKFILL_JOB, "tenant_id": "t9", "run_id": accepted.run_id}]


# ------------------------------------------------------------------------------------------ dal view
def test_derived_sources_cover_exactly_what_profile_keys_adds() -> None:
    lead = _lead("e" * 32, name="Ann")
    assert set(DERIVED_SOURCES) == set(profile_keys(lead, {"name": "Ann"})) - {"pk", "sk"}


def _raw(lead: Lead, *, identities: Sequence[IdentityKey] = (), drop: Sequence[str] = ()) -> dict[str, Any]:
    item = LeadItem(**lead_item_values(lead))
    if identities:
        item.identity_keys = {identity_entry(k, v) for k, v in identities}
    raw: dict[str, Any] = item.serialize()
    for name in drop:
        raw.pop(name, None)
    return raw


def test_stored_profile_of_a_fresh_item_needs_nothing() -> None:
    lead = _lead("f" * 32, name="Ann Lee", email="ann@x.example", phone="+14155550100", score=42)
    keys = [("email", "ann@x.example"), ("phone", "+14155550100")]
    profile = _stored_profile(_raw(lead, identities=keys))
    assert profile is not None
    assert plan_profile(profile, dict.fromkeys(keys, "f" * 32)) is None


def test_stored_profile_of_an_old_item_restores_what_a_fresh_write_stores() -> None:
    lead = _lead(
        "9" * 32,
        name="Bo",
        company="Acme",
        last_activity_at=T0 + timedelta(days=2),
        custom_fields={"member_no": 77},
    )
    fresh = lead_item_values(lead)
    old = _raw(lead, drop=["cond_pk", "cond_sk", "search_text", "score_sk"])
    profile = _stored_profile(old)
    assert profile is not None
    owners: Mapping[IdentityKey, str] = {("custom:member_no", "77"): "9" * 32}
    patch = plan_profile(profile, owners)
    assert patch is not None
    assert patch.set == {k: fresh[k] for k in ("cond_pk", "cond_sk", "search_text", "score_sk")}
    assert patch.set["cond_pk"] == condition_keys("t1", "9" * 32)["cond_pk"]
    assert patch.add_identities == {("custom:member_no", "77")}


def test_identity_candidates_include_contact_fields_and_scalar_custom_values() -> None:
    lead = _lead(
        "8" * 32,
        email="x@y.example",
        instagram_id="555",
        custom_fields={"member_no": "A-1", "vip": True, "tags": ["a"], "size": 3},
    )
    item = LeadItem.from_raw_data(_raw(lead, identities=[("custom:old", "k")]))
    assert identity_candidates(item) == [
        ("custom:old", "k"),
        ("email", "x@y.example"),
        ("instagram", "555"),
        ("custom:member_no", "A-1"),
        ("custom:size", "3"),
    ]
