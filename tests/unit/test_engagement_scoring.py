"""Engagement scoring: recency weighting, intent signals, caps, grades, explanations."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leadtide.models.common import ChannelType, Grade
from leadtide.models.leads import Activity, ActivityType, Lead
from leadtide.models.messages import AdReferral, Direction, InteractiveReply, MessageKind
from leadtide.scoring.engagement import (
    grade_for,
    intent_categories,
    negative_categories,
    recency_weight,
    score_lead,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _lead(**kw) -> Lead:
    base = dict(
        lead_id="a" * 32,
        tenant_id="t1",
        source_channel=ChannelType.WHATSAPP,
        created_at=NOW,
        updated_at=NOW,
        last_activity_at=NOW,
    )
    return Lead(**{**base, **kw})


def _msg(text: str | None, *, days_ago: float = 0, kind=MessageKind.TEXT, direction=Direction.INBOUND, **kw):
    return Activity(
        activity_id=f"x{days_ago}{text}",
        lead_id="a" * 32,
        type=ActivityType.MESSAGE,
        occurred_at=NOW - timedelta(days=days_ago),
        channel=ChannelType.WHATSAPP,
        direction=direction,
        kind=kind,
        text=text,
        **kw,
    )


def _points(result, factor: str) -> float:
    return sum(f.points for f in result.breakdown if f.factor == factor)


def test_recency_weight_halves_every_fourteen_days():
    assert recency_weight(NOW, NOW) == 1.0
    assert abs(recency_weight(NOW - timedelta(days=14), NOW) - 0.5) < 1e-9
    assert abs(recency_weight(NOW - timedelta(days=28), NOW) - 0.25) < 1e-9
    assert recency_weight(NOW + timedelta(days=3), NOW) == 1.0


def test_intent_matches_phrases_in_three_languages_on_word_boundaries():
    assert intent_categories("Hi, how much is the 3-night package?") == {"pricing"}
    assert intent_categories("¿Cuánto cuesta? Quiero reservar para mañana") == {
        "pricing",
        "purchase",
        "timing",
    }
    assert intent_categories("Quanto custa? Posso pagar com PIX?") == {"pricing", "payment"}
    # "prices" inside another word must not match: "priceless" is not a pricing question.
    assert intent_categories("this view is priceless") == set()
    assert negative_categories("Not interested, please STOP") == {"not_interested", "opt_out"}


def test_buying_intent_makes_a_recent_lead_hot_and_explains_why():
    # Given a lead who asked about price and wants to book today
    lead = _lead(name="Ana", phone="+5511999990000")
    activities = [
        _msg("Hello!", days_ago=0.1),
        _msg("How much for 2 people? I want to book today", days_ago=0),
    ]
    # When it is scored
    result = score_lead(lead, activities, NOW)
    # Then pricing, purchase and timing intent all contribute and the lead is hot
    assert {f.factor for f in result.breakdown} >= {
        "intent.pricing",
        "intent.purchase",
        "intent.timing",
        "engagement.inbound_messages",
        "profile.completeness",
    }
    assert result.grade == Grade.HOT
    assert result.score == round(sum(f.points for f in result.breakdown))
    assert '"How much for 2 people?' in next(
        f.detail for f in result.breakdown if f.factor == "intent.pricing"
    )


def test_stale_engagement_fades():
    lead = _lead()
    fresh = score_lead(lead, [_msg("price?", days_ago=0)], NOW)
    stale = score_lead(lead, [_msg("price?", days_ago=42)], NOW)
    assert stale.score < fresh.score
    assert _points(stale, "intent.pricing") == round(12 * 0.125, 1)
    # Older than the look-back window: nothing counts at all
    assert score_lead(lead, [_msg("price?", days_ago=95)], NOW).breakdown == []


def test_outbound_and_retracted_messages_do_not_count():
    lead = _lead()
    result = score_lead(
        lead,
        [_msg("price list attached", direction=Direction.OUTBOUND), _msg("how much?", retracted=True)],
        NOW,
    )
    assert result.score == 0 and result.grade == Grade.COLD


def test_negative_intent_subtracts_and_score_never_goes_below_zero():
    lead = _lead()
    result = score_lead(lead, [_msg("not interested, stop"), _msg("too expensive")], NOW)
    assert _points(result, "intent.negative.opt_out") == -15
    assert sum(f.points for f in result.breakdown if f.factor.startswith("intent.negative")) == -30
    assert result.score == 0


def test_interactions_referrals_and_forms_contribute():
    lead = _lead(referral=AdReferral(source_type="ad", source_id="1"))
    result = score_lead(
        lead,
        [
            _msg(
                None,
                kind=MessageKind.INTERACTIVE,
                interactive=InteractiveReply(reply_type="button_reply", title="Book now"),
            ),
            _msg(None, kind=MessageKind.FORM_SUBMISSION),
        ],
        NOW,
    )
    assert _points(result, "source.ad_referral") == 5
    assert _points(result, "engagement.interactions") == 4
    assert _points(result, "engagement.form_submission") == 12
    assert _points(result, "intent.purchase") == 15  # the button title "Book now" reads as intent


def test_grade_thresholds():
    assert [grade_for(s) for s in (0, 19, 20, 49, 50, 100)] == [
        Grade.COLD,
        Grade.COLD,
        Grade.WARM,
        Grade.WARM,
        Grade.HOT,
        Grade.HOT,
    ]


@given(st.lists(st.tuples(st.text(max_size=60), st.floats(min_value=0, max_value=120)), max_size=30))
def test_score_is_bounded_and_matches_its_grade(messages):
    result = score_lead(_lead(), [_msg(t, days_ago=d) for t, d in messages], NOW)
    assert 0 <= result.score <= 100
    assert result.grade == grade_for(result.score)
