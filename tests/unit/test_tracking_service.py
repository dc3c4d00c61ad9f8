"""Behaviour tracking: per-event validation, idempotency, lead resolution, batch limit, API-key auth."""

from datetime import UTC, datetime, timedelta

import pytest

from leadtide.models.auth import Principal
from leadtide.models.common import ChannelType, Role
from leadtide.models.errors import (
    ForbiddenError,
    StorageUnavailableError,
    UnauthenticatedError,
    UnprocessableError,
)
from leadtide.models.leads import Lead
from leadtide.models.tracking import ApiKeyCreate
from leadtide.tracking.service import TrackingService, hash_api_key, key_id_of
from tests.fakes import FakeEventPublisher, FakeLeadRepository
from tests.scoring_fakes import FakeScoringStore, FakeTrackingStore

NOW = datetime.now(UTC)
ADMIN = Principal("t1", "u-admin", Role.ADMIN)


@pytest.fixture
def rig():
    repo, events = FakeLeadRepository(), FakeEventPublisher()
    scoring = FakeScoringStore(repo)
    store = FakeTrackingStore(repo, scoring)
    for tenant, lead_id, email in (("t1", "a" * 32, "ann@acme.io"), ("t2", "b" * 32, "bob@beta.io")):
        lead = Lead(
            lead_id=lead_id,
            tenant_id=tenant,
            email=email,
            phone="+14155552671",
            source_channel=ChannelType.MANUAL,
            created_at=NOW,
            updated_at=NOW,
            last_activity_at=NOW,
        )
        repo.create_lead(lead, [("email", email), ("phone", "+14155552671")])
    return TrackingService(repo, store, events), repo, events, store, scoring


def _event(event_id="e1", type_="email_opened", lead=None, **kw):
    return {
        "event_id": event_id,
        "type": type_,
        "lead": lead or {"email": "ANN@acme.io"},
        "occurred_at": (NOW - timedelta(minutes=5)).isoformat(),
        **kw,
    }


def test_same_event_id_twice_gives_one_activity_and_one_published_event(rig):
    service, repo, events, _, scoring = rig
    first = service.track("t1", _event())
    again = service.track("t1", {"events": [_event(), _event()]})
    assert (first.accepted, first.duplicates) == (1, 0)
    assert (again.accepted, again.duplicates) == (0, 2)
    assert [a.raw_type for a in repo.activities[("t1", "a" * 32)]] == ["email_opened"]
    assert events.types() == ["lead.event_tracked"]
    assert scoring.engagement[("t1", "a" * 32)][1] == {"email_opened": 1}


def test_each_event_is_judged_alone_and_rejections_name_index_and_reason(rig):
    service, *_ = rig
    result = service.track(
        "t1",
        {
            "events": [
                _event("ok-1", lead={"phone": "(415) 555-2671"}),
                _event("bad-type", type_="Email Opened"),
                _event("unknown", lead={"email": "nobody@acme.io"}),
                _event("future", occurred_at=(NOW + timedelta(hours=2)).isoformat()),
                _event("naive", occurred_at="2026-01-01T10:00:00"),
                {"type": "page_viewed"},
                _event("ok-2", type_="trial_booked", lead={"lead_id": "a" * 32}),
            ]
        },
    )
    assert result.accepted == 2
    reasons = {r.index: (r.event_id, r.reason) for r in result.rejected}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert reasons[2] == ("unknown", "lead_not_found")
    assert reasons[1][1].startswith("type:") and "future" in reasons[3][1]


def test_another_tenant_s_lead_cannot_be_tracked(rig):
    service, repo, *_ = rig
    result = service.track("t1", _event(lead={"lead_id": "b" * 32}))
    assert result.accepted == 0 and result.rejected[0].reason == "lead_not_found"
    assert result_for_t2(service).accepted == 1
    assert repo.activities[("t2", "b" * 32)][0].raw_type == "email_opened"


def result_for_t2(service):
    return service.track("t2", _event(lead={"email": "bob@beta.io"}))


def test_batch_limit_and_unusable_bodies_are_422(rig):
    service, *_ = rig
    service.track("t1", {"events": [_event(f"e{i}") for i in range(500)]})
    for body in ({"events": [_event(f"e{i}") for i in range(501)]}, {"events": []}, [], {"events": "x"}):
        with pytest.raises(UnprocessableError):
            service.track("t1", body)


def test_reps_cannot_post_events_with_a_token(rig):
    service, *_ = rig
    with pytest.raises(ForbiddenError):
        service.track_as(Principal("t1", "u", Role.REP), _event())


def test_api_keys_authenticate_their_tenant_until_revoked(rig):
    service, _, _, store, _ = rig
    created = service.create_api_key(ADMIN, ApiKeyCreate(name="Mailchimp"))
    assert created.key.startswith("lt_live_") and key_id_of(created.key) == created.key_id
    assert store.keys[created.key_id]["hash"] == hash_api_key(created.key) != created.key
    assert service.authenticate({"Authorization": f"Bearer {created.key}"}) == "t1"
    assert service.authenticate({"x-api-key": created.key}) == "t1"
    wrong_secret = created.key[:-4] + "AAAA"
    for headers in (
        {},
        {"X-Api-Key": wrong_secret},
        {"X-Api-Key": "lt_live_nothex"},
        {"authorization": "Basic x"},
    ):
        with pytest.raises(UnauthenticatedError):
            service.authenticate(headers)
    listed = service.list_api_keys(ADMIN).items
    assert [k.key_id for k in listed] == [created.key_id] and not hasattr(listed[0], "key")
    service.revoke_api_key(ADMIN, created.key_id)
    with pytest.raises(UnauthenticatedError) as err:
        service.authenticate({"X-Api-Key": created.key})
    assert err.value.code == "api_key_revoked"


def test_only_admins_manage_keys_and_tenants_cannot_revoke_each_other(rig):
    service, *_ = rig
    with pytest.raises(ForbiddenError):
        service.create_api_key(Principal("t1", "u", Role.MANAGER), ApiKeyCreate(name="x"))
    created = service.create_api_key(ADMIN, ApiKeyCreate(name="x"))
    from leadtide.models.errors import ApiKeyNotFoundError

    with pytest.raises(ApiKeyNotFoundError):
        service.revoke_api_key(Principal("t2", "u", Role.ADMIN), created.key_id)
    assert service.authenticate({"X-Api-Key": created.key}) == "t1"


def test_a_key_s_use_is_recorded_at_most_once_a_minute(rig):
    service, _, _, store, _ = rig
    key = service.create_api_key(ADMIN, ApiKeyCreate(name="site")).key
    assert service.authenticate({"X-Api-Key": key}) == "t1"
    first = service.list_api_keys(ADMIN).items[0].last_used_at
    assert first is not None
    service.authenticate({"X-Api-Key": key})
    assert store.uses == 1  # the second use within the minute wrote nothing
    assert service.list_api_keys(ADMIN).items[0].last_used_at == first


def test_a_throttled_use_stamp_never_fails_authentication(rig, monkeypatch):
    service, _, _, store, _ = rig
    key = service.create_api_key(ADMIN, ApiKeyCreate(name="site")).key

    def throttled(*args, **kwargs):
        raise StorageUnavailableError("throttled", cause_code="ProvisionedThroughputExceededException")

    monkeypatch.setattr(store, "record_api_key_use", throttled)
    assert service.authenticate({"Authorization": f"Bearer {key}"}) == "t1"


def test_a_broken_use_stamp_is_not_hidden(rig, monkeypatch):
    # Given a use stamp that fails for a reason other than the store being busy (a bug)
    service, _, _, store, _ = rig
    key = service.create_api_key(ADMIN, ApiKeyCreate(name="site")).key

    def broken(*args, **kwargs):
        raise TypeError("record_api_key_use() got an unexpected keyword argument")

    monkeypatch.setattr(store, "record_api_key_use", broken)
    # Then authentication says so rather than carrying on without the stamp
    with pytest.raises(TypeError):
        service.authenticate({"Authorization": f"Bearer {key}"})
