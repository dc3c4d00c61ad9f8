"""ScoringService: store score + history only on change, publish score/grade events, nightly fan-out."""

import json
from datetime import timedelta

import pytest

from leadtide.models.common import ChannelType, utc_now
from leadtide.models.leads import Activity, ActivityType, Lead
from leadtide.models.messages import Direction, MessageKind
from leadtide.scoring.service import ScoringRequest, ScoringService, parse_scoring_message
from tests.fakes import FakeEventPublisher, FakeLeadRepository, FakeQueue


def _seed(
    repo: FakeLeadRepository, lead_id: str = "b" * 32, text: str = "How much? I want to book today"
) -> None:
    now = utc_now()
    lead = Lead(
        lead_id=lead_id,
        tenant_id="t1",
        source_channel=ChannelType.WHATSAPP,
        phone="+14155552671",
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    activity = Activity(
        activity_id="a1",
        lead_id=lead_id,
        type=ActivityType.MESSAGE,
        channel=ChannelType.WHATSAPP,
        direction=Direction.INBOUND,
        kind=MessageKind.TEXT,
        text=text,
        occurred_at=now - timedelta(minutes=1),
    )
    repo.create_lead(lead, [("phone", "+14155552671")], activity)


def test_first_score_is_stored_with_history_and_events():
    repo, events = FakeLeadRepository(), FakeEventPublisher()
    _seed(repo)
    result = ScoringService(repo, events).rescore(ScoringRequest("t1", "b" * 32, "lead.message_received"))
    lead = repo.get_lead("t1", "b" * 32)
    assert (lead.score, lead.grade) == (result.score, result.grade)
    assert repo.score_history == [
        {
            "tenant_id": "t1",
            "lead_id": "b" * 32,
            "score": result.score,
            "grade": str(result.grade),
            "cause": "lead.message_received",
            "previous_score": None,
        }
    ]
    assert events.types() == ["lead.score_changed", "lead.grade_changed"]


def test_unchanged_score_writes_and_publishes_nothing():
    repo, events = FakeLeadRepository(), FakeEventPublisher()
    _seed(repo)
    service = ScoringService(repo, events)
    service.rescore(ScoringRequest("t1", "b" * 32, "lead.created"))
    service.rescore(ScoringRequest("t1", "b" * 32, "lead.rescore"))
    assert len(repo.score_history) == 1 and len(events.events) == 2


def test_deleted_lead_is_skipped():
    assert (
        ScoringService(FakeLeadRepository(), FakeEventPublisher()).rescore(
            ScoringRequest("t1", "c" * 32, "lead.updated")
        )
        is None
    )


def test_nightly_fan_out_queues_every_lead_in_the_rule_s_message_shape():
    repo, queue = FakeLeadRepository(), FakeQueue()
    for i in range(23):
        _seed(repo, lead_id=f"{i:032x}")
        repo.identities.clear()  # let the next seed reuse the phone
    assert ScoringService(repo, FakeEventPublisher(), queue).fan_out_nightly() == 23
    requests = [parse_scoring_message(body) for body in queue.bodies]
    assert {r.lead_id for r in requests} == {f"{i:032x}" for i in range(23)}
    assert {r.cause for r in requests} == {"lead.rescore"}


@pytest.mark.parametrize(
    "body", ["not json", json.dumps({"detail": {}}), json.dumps({"detail": {"tenant_id": 1}})]
)
def test_bad_scoring_messages_raise_so_they_are_retried_then_dead_lettered(body):
    with pytest.raises(ValueError):
        parse_scoring_message(body)
