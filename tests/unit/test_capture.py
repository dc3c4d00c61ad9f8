"""capture_message(): find-or-create through identity keys, idempotent timeline, events."""

from datetime import UTC, datetime, timedelta

import pytest

from leadtide.capture.capture import CaptureOutcome, CaptureService, message_activity_id
from leadtide.leads.ports import IdentityTakenError
from leadtide.models.common import ChannelType
from leadtide.models.leads import ACTIVITY_TEXT_MAX_CHARS
from leadtide.models.messages import (
    DeliveryStatus,
    DeliveryStatusUpdate,
    Direction,
    InboundMessage,
    MessageKind,
    MessageRetraction,
    SenderIdentity,
)
from tests.fakes import FakeEventPublisher, FakeMessageTextStore

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _message(
    msg_id="wamid.1", *, phone="972544401243", name="Dana", text="Hi", at=T0, **kw
) -> InboundMessage:
    base = dict(
        tenant_id="t1",
        channel_id="c1",
        channel_type=ChannelType.WHATSAPP,
        provider_message_id=msg_id,
        occurred_at=at,
        kind=MessageKind.TEXT,
        sender=SenderIdentity(phone=phone, name=name),
        text=text,
    )
    return InboundMessage(**{**base, **kw})


@pytest.fixture
def service(repo, events):
    return CaptureService(repo, events, default_region="US")


def test_first_message_creates_a_lead_with_normalised_phone_and_publishes_two_events(service, repo, events):
    result = service.capture(_message())
    assert result.outcome == CaptureOutcome.CREATED_LEAD
    lead = repo.get_lead("t1", result.lead_id)
    assert (lead.phone, lead.name, lead.source_channel, lead.message_count) == (
        "+972544401243",
        "Dana",
        "whatsapp",
        1,
    )
    assert [a.text for a in repo.activities[("t1", result.lead_id)]] == ["Hi"]
    assert events.types() == ["lead.created", "lead.message_received"]
    assert repo.dashboard("t1").by_source == {"whatsapp": 1}


def test_redelivery_adds_nothing_and_publishes_nothing(service, repo, events):
    first = service.capture(_message())
    again = service.capture(_message())
    assert again.outcome == CaptureOutcome.DUPLICATE
    assert len(repo.leads) == 1 and len(repo.activities[("t1", first.lead_id)]) == 1
    assert events.types() == ["lead.created", "lead.message_received"]


def test_second_message_from_same_sender_appends_and_fills_missing_name(service, repo, events):
    first = service.capture(_message(name=None))
    second = service.capture(
        _message(
            "wamid.2", phone="+972 54-440-1243", name="Dana K", text="Price?", at=T0 + timedelta(minutes=5)
        )
    )
    assert second.outcome == CaptureOutcome.APPENDED and second.lead_id == first.lead_id
    lead = repo.get_lead("t1", first.lead_id)
    assert (lead.message_count, lead.name, lead.last_message_preview) == (2, "Dana K", "Price?")
    assert events.types()[-1] == "lead.message_received"


def test_concurrent_creation_race_appends_to_the_winner(service, repo, events):
    # Given another worker created the lead between our lookup and our write
    real_create = repo.create_lead

    def racing_create(lead, identities, activity=None):
        repo.create_lead = real_create
        winner = _message("wamid.other")
        CaptureService(repo, FakeEventPublisher()).capture(winner)
        raise IdentityTakenError("phone", "+972544401243", repo.find_lead_by_identity("t1", identities))

    repo.create_lead = racing_create
    # When our message is captured
    result = service.capture(_message("wamid.mine"))
    # Then there is still one lead, with both messages
    assert result.outcome == CaptureOutcome.APPENDED
    assert len(repo.leads) == 1
    assert sorted(a.provider_message_id for a in repo.activities[("t1", result.lead_id)]) == [
        "wamid.mine",
        "wamid.other",
    ]


def test_echo_to_unknown_person_creates_no_lead_but_echo_to_a_lead_is_kept(service, repo):
    echo = _message(
        "mid.e1",
        channel_type=ChannelType.INSTAGRAM,
        phone=None,
        direction=Direction.OUTBOUND,
        sender=SenderIdentity(instagram_id="1789"),
        at=T0 + timedelta(minutes=1),
    )
    assert service.capture(echo).outcome == CaptureOutcome.SKIPPED and not repo.leads
    inbound = _message(
        "mid.1", channel_type=ChannelType.INSTAGRAM, sender=SenderIdentity(instagram_id="1789")
    )
    lead_id = service.capture(inbound).lead_id
    assert service.capture(echo).outcome == CaptureOutcome.APPENDED
    assert [a.direction for a in repo.activities[("t1", lead_id)]] == ["inbound", "outbound"]


def test_form_submission_with_phone_and_email_links_both_identities(service, repo):
    first = service.capture(_message())
    form = _message(
        "sub_1",
        channel_type=ChannelType.WEB_FORM,
        kind=MessageKind.FORM_SUBMISSION,
        sender=SenderIdentity(phone="+972544401243", email="Dana@Example.COM"),
        at=T0 + timedelta(hours=1),
    )
    assert service.capture(form).lead_id == first.lead_id
    assert repo.find_lead_by_identity("t1", [("email", "dana@example.com")]) == first.lead_id
    assert repo.get_lead("t1", first.lead_id).email == "dana@example.com"


def test_message_without_usable_identity_is_skipped(service, repo):
    result = service.capture(_message(phone="not a phone", sender=SenderIdentity(phone="12")))
    assert result.outcome == CaptureOutcome.SKIPPED and not repo.leads


def test_status_updates_and_retractions(service, repo):
    lead_id = service.capture(_message()).lead_id
    status = DeliveryStatusUpdate(
        tenant_id="t1",
        channel_id="c1",
        channel_type=ChannelType.WHATSAPP,
        provider_message_id="wamid.1",
        status=DeliveryStatus.READ,
        occurred_at=T0,
        recipient=SenderIdentity(phone="972544401243"),
    )
    assert service.capture(status).outcome == CaptureOutcome.STATUS_RECORDED
    older = status.model_copy(update={"status": DeliveryStatus.DELIVERED})
    service.capture(older)
    assert repo.markers[("t1", "whatsapp", "wamid.1")]["status"] == "read"  # never moves backwards
    unsend = MessageRetraction(
        tenant_id="t1",
        channel_id="c1",
        channel_type=ChannelType.WHATSAPP,
        provider_message_id="wamid.1",
        occurred_at=T0,
        sender=SenderIdentity(),
    )
    assert service.capture(unsend).outcome == CaptureOutcome.RETRACTED
    assert repo.activities[("t1", lead_id)][0].retracted is True


def test_tenants_are_isolated(service, repo):
    a = service.capture(_message())
    b = service.capture(_message(tenant_id="t2"))
    assert a.lead_id != b.lead_id
    assert {t for t, _ in repo.leads} == {"t1", "t2"}


def test_a_text_longer_than_an_activity_keeps_is_truncated_and_kept_whole(repo, events):
    # Given a capture service with a store for whole texts
    texts = FakeMessageTextStore()
    service = CaptureService(repo, events, message_texts=texts)
    long_text = "é" * ACTIVITY_TEXT_MAX_CHARS + "the end"
    # When a message longer than an activity keeps is captured (and redelivered)
    result = service.capture(_message(text=long_text))
    assert service.capture(_message(text=long_text)).outcome == CaptureOutcome.DUPLICATE
    # Then the activity has its first ACTIVITY_TEXT_MAX_CHARS characters, the flag and the length
    (activity,) = repo.activities[("t1", result.lead_id)]
    assert activity.text == long_text[:ACTIVITY_TEXT_MAX_CHARS]
    assert (activity.text_truncated, activity.text_length) == (True, len(long_text))
    # And the whole text is stored once under the activity's own id (the redelivery overwrote it)
    stored_text, stored = texts.texts[("t1", activity.activity_id)]
    assert stored_text == long_text and stored.provider_message_id == "wamid.1"
    assert activity.activity_id == message_activity_id(_message())
    # A text of exactly the limit is kept on the activity whole, and nothing is stored for it
    exact = service.capture(_message("wamid.2", text="x" * ACTIVITY_TEXT_MAX_CHARS))
    kept = [a for a in repo.activities[("t1", exact.lead_id)] if a.provider_message_id == "wamid.2"]
    assert kept[0].text_truncated is False and kept[0].text_length is None
    assert len(texts.texts) == 1


def test_without_a_text_store_a_long_text_is_refused_loudly_not_cut(repo, events):
    service = CaptureService(repo, events)
    with pytest.raises(RuntimeError, match="message text store"):
        service.capture(_message(text="x" * (ACTIVITY_TEXT_MAX_CHARS + 1)))
    assert repo.leads == {}
