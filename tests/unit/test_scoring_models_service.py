"""Scoring models end to end over fakes: CRUD and activation, page scoring (batching, writes only on change,
the predictor port), override stickiness, history causes, tracked events driving the score."""

from datetime import UTC, datetime, timedelta

import pytest

from leadtide.models.auth import Principal
from leadtide.models.common import ChannelType, Grade, Role
from leadtide.models.errors import ConflictError, ForbiddenError, UnprocessableError
from leadtide.models.leads import Activity, ActivityType, Lead
from leadtide.models.messages import Direction, MessageKind
from leadtide.models.scoring import (
    MESSAGE_INTENT_EVENT_TYPES,
    GradeOverrideRequest,
    Prediction,
    PredictionFactor,
    ScoringModelCreate,
)
from leadtide.scoring.admin import RESCORE_TENANT_JOB, ScoringAdminService
from leadtide.scoring.ports import ConversionPredictor
from leadtide.scoring.service import (
    CAUSE_MODEL_CHANGED,
    ScoringRequest,
    ScoringService,
    parse_scoring_message,
)
from leadtide.scoring.templates import TEMPLATES, template_model
from leadtide.tracking.service import TrackingService
from tests.fakes import FakeEventPublisher, FakeLeadRepository, FakeQueue
from tests.scoring_fakes import FakeScoringStore, FakeTrackingStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ADMIN = Principal("t1", "u-admin", Role.ADMIN)
REP = Principal("t1", "u-rep", Role.REP)


def _lead(lead_id: str, tenant: str = "t1", **kw) -> Lead:
    return Lead(
        lead_id=lead_id,
        tenant_id=tenant,
        source_channel=ChannelType.MANUAL,
        created_at=NOW,
        updated_at=NOW,
        last_activity_at=NOW,
        **kw,
    )


class Rig:
    def __init__(self, predictor: ConversionPredictor | None = None):
        self.repo = FakeLeadRepository()
        self.events = FakeEventPublisher()
        self.store = FakeScoringStore(self.repo)
        self.queue = FakeQueue()
        self.jobs: list[dict] = []
        self.admin = ScoringAdminService(self.store, self.repo, self.events, enqueue=self.jobs.extend)
        self.scoring = ScoringService(
            self.repo, self.events, self.queue, store=self.store, predictor=predictor, clock=lambda: NOW
        )
        self.tracking = TrackingService(self.repo, FakeTrackingStore(self.repo, self.store), self.events)

    def add(self, lead: Lead, email: str | None = None) -> Lead:
        keys = [("email", email)] if email else []
        self.repo.create_lead(lead.model_copy(update={"email": email}), keys)
        return lead

    def model(self, **spec) -> str:
        body = {"name": "Test", "decay": None, **spec}
        model = self.admin.create_model(ADMIN, ScoringModelCreate.model_validate(body))
        self.admin.activate_model(ADMIN, model.model_id)
        self.scoring.forget_models("t1")
        return model.model_id


FIT_CEO = {
    "id": "fit.ceo",
    "label": "CEO",
    "field": "job_title",
    "op": "contains",
    "value": "ceo",
    "points": 30,
}
OPEN = {"id": "eng.open", "label": "Opened", "event_type": "email_opened", "points": 5}
REPLY = {"id": "eng.reply", "label": "Replied", "event_type": "email_replied", "points": 25}


def test_create_from_template_validates_overrides_and_only_managers_write():
    rig = Rig()
    model = rig.admin.create_model(ADMIN, ScoringModelCreate(template="b2b_saas", name="Ours"))
    assert model.name == "Ours" and model.template == "b2b_saas" and not model.active
    assert any(r.event_type == "meeting_booked" for r in model.behaviour_rules)
    with pytest.raises(ForbiddenError):
        rig.admin.create_model(REP, ScoringModelCreate(template="agency"))
    with pytest.raises(UnprocessableError):
        rig.admin.create_model(ADMIN, ScoringModelCreate(template="agency", total_cap=500))


def test_activation_makes_one_default_and_queues_a_tenant_rescore():
    rig = Rig()
    first = rig.model(fit_rules=[FIT_CEO])
    second = rig.model(behaviour_rules=[OPEN])
    defaults = [m.model_id for m in rig.admin.list_models(ADMIN).items if m.is_default]
    assert defaults == [second]
    assert [j["kind"] for j in rig.jobs] == [RESCORE_TENANT_JOB] * 2
    with pytest.raises(ConflictError):
        rig.admin.delete_model(ADMIN, second)
    rig.admin.delete_model(ADMIN, first)


def test_page_scoring_reads_once_writes_only_changes_and_publishes():
    rig = Rig()
    rig.model(fit_rules=[FIT_CEO])
    for i in range(5):
        rig.add(_lead(f"{i:032x}", job_title="CEO" if i % 2 == 0 else "Intern"))
    outcomes = rig.scoring.rescore_page("t1", [f"{i:032x}" for i in range(5)], CAUSE_MODEL_CHANGED)
    assert rig.store.loads == [5]
    assert {o.lead_id: o.score for o in outcomes} == {
        f"{i:032x}": (30 if i % 2 == 0 else 0) for i in range(5)
    }
    assert rig.store.saves == 5  # first scoring writes everyone
    assert rig.events.types().count("lead.score_changed") == 5  # unscored (None) -> a score is a change
    rig.scoring.rescore_page("t1", [f"{i:032x}" for i in range(5)], "nightly decay")
    assert rig.store.saves == 5  # nothing moved: nothing written
    lead = rig.repo.get_lead("t1", "0" * 32)
    assert lead.fit_score == 30 and lead.grade == Grade.WARM and lead.scoring_model_id is not None


def test_segment_model_wins_over_default_by_priority():
    rig = Rig()
    rig.model(fit_rules=[FIT_CEO])
    seg_low = rig.model(behaviour_rules=[OPEN], segment_id="s-big", priority=50)
    seg_high = rig.model(behaviour_rules=[REPLY], segment_id="s-vip", priority=1)
    rig.add(_lead("a" * 32, job_title="CEO"))
    original = rig.store.load_for_scoring

    def with_segments(tenant, ids):
        out = original(tenant, ids)
        out["a" * 32].lead["segment_ids"] = ["s-big", "s-vip"]
        return out

    rig.store.load_for_scoring = with_segments  # type: ignore[method-assign]
    rig.scoring.rescore_page("t1", ["a" * 32])
    assert rig.repo.get_lead("t1", "a" * 32).scoring_model_id == seg_high != seg_low


class StubPredictor(ConversionPredictor):
    def __init__(self):
        self.calls: list[int] = []

    def predict(self, tenant_id, leads):
        self.calls.append(len(leads))
        assert all("behaviour_counts" in lead and "fit_score" in lead for lead in leads)
        factor = PredictionFactor(field="job_title", label="Title", value="CEO", impact=0.4)
        return [
            Prediction(probability=0.8, model_version="v1", factors_up=[factor]) if i % 2 == 0 else None
            for i in range(len(leads))
        ]


def test_predictor_is_called_once_per_page_and_blended_when_enabled():
    predictor = StubPredictor()
    rig = Rig(predictor)
    rig.model(fit_rules=[FIT_CEO], predictive={"enabled": True, "weight": 0.5})
    ids = [f"{i:032x}" for i in range(4)]
    for lead_id in ids:
        rig.add(_lead(lead_id, job_title="CEO"))
    rig.scoring.rescore_page("t1", ids)
    assert predictor.calls == [4]
    with_prediction = rig.repo.get_lead("t1", ids[0])
    assert with_prediction.conversion_probability == 0.8 and with_prediction.score == round(
        0.5 * 30 + 0.5 * 80
    )
    assert with_prediction.prediction_factors[0].field == "job_title"
    without = rig.repo.get_lead("t1", ids[1])
    assert without.conversion_probability is None and without.score == 30


def test_override_sticks_through_rescoring_until_cleared_and_history_names_causes():
    rig = Rig()
    rig.model(behaviour_rules=[REPLY, OPEN])
    rig.add(_lead("a" * 32), email="ann@acme.io")
    rig.scoring.rescore_page("t1", ["a" * 32], "nightly decay")
    rig.admin.set_grade_override(
        ADMIN, "a" * 32, GradeOverrideRequest(grade=Grade.HOT, reason="CEO called us")
    )
    assert rig.repo.get_lead("t1", "a" * 32).grade == Grade.HOT
    # a reply arrives: score moves, displayed grade stays the override
    result = rig.tracking.track(
        "t1",
        {
            "event_id": "e1",
            "type": "email_replied",
            "lead": {"email": "ann@acme.io"},
            "occurred_at": NOW.isoformat(),
        },
    )
    assert result.accepted == 1
    tracked = [e for e in rig.events.events if e.type == "lead.event_tracked"]
    body = {"detail-type": "lead.event_tracked", "detail": tracked[-1].model_dump()}
    import json

    rig.scoring.handle(parse_scoring_message(json.dumps(body)))
    lead = rig.repo.get_lead("t1", "a" * 32)
    assert lead.score == 25 and lead.computed_grade == Grade.WARM and lead.grade == Grade.HOT
    rig.admin.clear_grade_override(ADMIN, "a" * 32)
    lead = rig.repo.get_lead("t1", "a" * 32)
    assert lead.grade == Grade.WARM and lead.grade_override is None
    history = rig.admin.score_history(ADMIN, "a" * 32, limit=10, cursor=None).items
    assert [h.cause for h in history] == [
        "manual override cleared",
        "event: email_replied",
        "manual override",
        "nightly decay",
    ]
    assert history[1].cause_event_id == "e1" and history[1].previous_score == 0 and history[1].score == 25
    timeline = [a.type for a in rig.repo.activities[("t1", "a" * 32)]]
    assert timeline.count("grade_override") == 2 and "tracked_event" in timeline


def test_profile_change_cause_and_message_occurrences_count():
    rig = Rig()
    rig.model(
        fit_rules=[FIT_CEO],
        behaviour_rules=[{"id": "eng.wa", "label": "WA", "event_type": "whatsapp_message", "points": 4}],
    )
    rig.add(_lead("a" * 32, job_title="CEO"))
    request = ScoringRequest(
        "t1",
        "a" * 32,
        "lead.message_received",
        {
            "channel": "whatsapp",
            "kind": "text",
            "provider_message_id": "wamid.1",
            "occurred_at": NOW.isoformat(),
        },
    )
    rig.scoring.handle(request)
    rig.scoring.handle(request)  # redelivered: counted once
    assert rig.repo.get_lead("t1", "a" * 32).score == 34
    rig.repo.leads[("t1", "a" * 32)] = rig.repo.get_lead("t1", "a" * 32).model_copy(
        update={"job_title": "Clerk"}
    )
    rig.scoring.handle(ScoringRequest("t1", "a" * 32, "lead.updated", {"changed": ["job_title"]}))
    assert rig.store.history[("t1", "a" * 32)][-1].cause == "profile changed: job_title"
    assert rig.repo.get_lead("t1", "a" * 32).score == 4


def test_nightly_decay_and_fan_out_queues_pages_per_tenant():
    rig = Rig()
    for i in range(600):
        rig.add(_lead(f"{i:032x}", tenant="t1" if i < 520 else "t2"))
    assert rig.scoring.fan_out_nightly() == 600
    pages = [parse_scoring_message(b) for b in rig.queue.bodies]
    assert sorted((p.tenant_id, len(p.lead_ids)) for p in pages) == [
        ("t1", 20),
        ("t1", 250),
        ("t1", 250),
        ("t2", 80),
    ]
    assert all(p.is_page and p.data["cause"] == "nightly decay" for p in pages)


def test_tenants_are_isolated():
    rig = Rig()
    rig.model(fit_rules=[FIT_CEO])
    rig.add(_lead("a" * 32, tenant="t2", job_title="CEO"))
    rig.scoring.rescore_page("t2", ["a" * 32])
    lead = rig.repo.get_lead("t2", "a" * 32)
    assert lead.scoring_model_id is None  # t2 has no model: built-in engagement formula
    assert rig.scoring.rescore_page("t1", ["a" * 32]) == []  # t1 cannot reach t2's lead
    assert rig.admin.list_models(Principal("t2", "u", Role.ADMIN)).items == []


def test_decay_moves_scores_over_time():
    rig = Rig()
    rig.model(behaviour_rules=[REPLY], decay={"kind": "half_life", "days": 7})
    rig.add(_lead("a" * 32), email="ann@acme.io")
    rig.tracking.track(
        "t1",
        {
            "event_id": "e1",
            "type": "email_replied",
            "lead": {"lead_id": "a" * 32},
            "occurred_at": (NOW - timedelta(days=7)).isoformat(),
        },
    )
    rig.scoring.rescore_page("t1", ["a" * 32], "nightly decay")
    assert rig.repo.get_lead("t1", "a" * 32).score == 13  # 25 * 0.5 = 12.5, rounded half up


def _receive(rig: "Rig", lead_id: str, text: str, message_id: str, at: datetime = NOW) -> None:
    """Capture's side (the message joins the timeline, lead.message_received is published), then the
    scoring worker's."""
    activity = Activity(
        activity_id=message_id.replace(".", ""),
        lead_id=lead_id,
        type=ActivityType.MESSAGE,
        occurred_at=at,
        channel=ChannelType.WHATSAPP,
        direction=Direction.INBOUND,
        kind=MessageKind.TEXT,
        text=text,
        provider_message_id=message_id,
    )
    rig.repo.append_activity("t1", activity, touch_lead=True)
    data = {
        "channel": "whatsapp",
        "kind": "text",
        "provider_message_id": message_id,
        "occurred_at": at.isoformat(),
    }
    rig.scoring.handle(ScoringRequest("t1", lead_id, "lead.message_received", data))


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_message_intent_scores_under_every_template(template):
    # Given a tenant whose active default model is the template
    rig = Rig()
    model = rig.admin.create_model(ADMIN, ScoringModelCreate(template=template))
    rig.admin.activate_model(ADMIN, model.model_id)
    rig.scoring.forget_models("t1")
    rig.add(_lead("a" * 32))
    # When the lead writes on WhatsApp asking for pricing, urgently
    _receive(rig, "a" * 32, "Need pricing for 20 seats asap", "wamid.intent1")
    # Then the breakdown carries the message-intent factors with the template's points
    lead = rig.repo.get_lead("t1", "a" * 32)
    factors = {f.factor: f.points for f in lead.score_breakdown}
    assert factors.get("intent.pricing", 0) > 0 and factors.get("intent.timing", 0) > 0, factors
    assert lead.score >= factors["intent.pricing"] + factors["intent.timing"]
    # and the lead's activity summary knows the intent (segments and automations can use it)
    _, counts = rig.store.engagement[("t1", "a" * 32)]
    assert counts["intent.pricing"] == 1 and counts["intent.timing"] == 1


def test_message_intent_weights_differ_per_template_and_repeat_deliveries_count_once():
    weights = {}
    for template in TEMPLATES:
        spec = template_model(template)
        rules = {r.event_type: r.points for r in spec.behaviour_rules if r.event_type.startswith("intent.")}
        assert set(rules) == set(MESSAGE_INTENT_EVENT_TYPES), template
        assert all(p < 0 for t, p in rules.items() if t.startswith("intent.negative.")), template
        weights[template] = tuple(sorted(rules.items()))
    assert len(set(weights.values())) == len(TEMPLATES)  # each template weighs intent its own way

    rig = Rig()
    model = rig.admin.create_model(ADMIN, ScoringModelCreate(template="b2b_saas"))
    rig.admin.activate_model(ADMIN, model.model_id)
    rig.scoring.forget_models("t1")
    rig.add(_lead("a" * 32))
    _receive(rig, "a" * 32, "Need pricing for 20 seats asap", "wamid.intent1")
    first = rig.repo.get_lead("t1", "a" * 32).score
    data = {"channel": "whatsapp", "kind": "text", "provider_message_id": "wamid.intent1"}
    rig.scoring.handle(ScoringRequest("t1", "a" * 32, "lead.message_received", data))  # redelivery
    assert rig.repo.get_lead("t1", "a" * 32).score == first
    # A negative message takes points away under the same model
    _receive(rig, "a" * 32, "Actually, not interested, too expensive", "wamid.intent2")
    factors = {f.factor: f.points for f in rig.repo.get_lead("t1", "a" * 32).score_breakdown}
    assert factors["intent.negative.not_interested"] < 0 and factors["intent.negative.too_expensive"] < 0


def test_intent_event_types_are_derived_not_tracked_or_declared():
    rig = Rig()
    rig.add(_lead("a" * 32), email="ann@acme.io")
    result = rig.tracking.track(
        "t1",
        {
            "event_id": "e1",
            "type": "intent.pricing",
            "lead": {"lead_id": "a" * 32},
            "occurred_at": NOW.isoformat(),
        },
    )
    assert result.accepted == 0 and "intent." in result.rejected[0].reason
    with pytest.raises(UnprocessableError) as err:
        rig.admin.create_model(ADMIN, ScoringModelCreate(name="X", custom_event_types=["intent.budget"]))
    assert err.value.details[0]["field"] == "custom_event_types[0]"
