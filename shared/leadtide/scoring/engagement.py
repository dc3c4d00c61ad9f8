"""First lead score: engagement with recency weighting plus buying-intent signals in message text.

The score is a sum of capped, explained contributions, clamped to 0..100:

============================  ===========================================================  ======
factor                        rule                                                          cap
============================  ===========================================================  ======
engagement.inbound_messages   5 points per inbound message x recency weight                 40
engagement.active_days        3 points per distinct day with inbound messages (30 days)     15
engagement.interactions       4 per button/list reply, 2 per media sent, x recency          12
engagement.form_submission    12 per form submission x recency                              15
source.ad_referral            5 when the lead came from a click-to-WhatsApp/Instagram ad     5
intent.<category>             category weight x recency of the latest message mentioning it  35 (sum)
intent.negative               -15 per negative category mentioned (not interested, stop...)  -30
profile.completeness          email 3, phone 3, name 2, company 2                           10
============================  ===========================================================  ======

Recency weight is exponential decay with a 14-day half-life, ``0.5 ** (age_days / 14)``, the usual
time-decay scheme of engagement scoring (e.g. HubSpot's score decay); messages older than
``LOOKBACK_DAYS`` do not count. Grades: hot >= 50, warm 20-49, cold 0-19 (the defaults of the scoring
models to come). Intent phrases are the lexicon of :mod:`leadtide.scoring.intent` (English, Spanish and
Portuguese, matched on word boundaries after removing accents, case-insensitively), which scoring models
read too, as ``intent.*`` behaviour occurrences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from leadtide.models.common import Grade
from leadtide.models.leads import Activity, ActivityType, Lead, ScoreFactor
from leadtide.models.messages import Direction, MessageKind
from leadtide.scoring.intent import (
    INTENT_LEXICON,
    NEGATIVE_LEXICON,
    intent_categories,
    message_text,
    negative_categories,
)

__all__ = [
    "INTENT_LEXICON",
    "NEGATIVE_LEXICON",
    "ScoreResult",
    "grade_for",
    "intent_categories",
    "negative_categories",
    "recency_weight",
    "score_lead",
]

HALF_LIFE_DAYS = 14.0
LOOKBACK_DAYS = 90
HOT_THRESHOLD = 50
WARM_THRESHOLD = 20

INTENT_CAP = 35.0
NEGATIVE_POINTS = -15.0
NEGATIVE_CAP = -30.0


@dataclass(frozen=True)
class ScoreResult:
    """A lead score (0..100), its grade and the factors that produced it (sum of points == score before
    clamping)."""

    score: int
    grade: Grade
    breakdown: list[ScoreFactor]


def grade_for(score: int) -> Grade:
    """Hot at 50 and above, warm at 20-49, cold below 20."""
    if score >= HOT_THRESHOLD:
        return Grade.HOT
    if score >= WARM_THRESHOLD:
        return Grade.WARM
    return Grade.COLD


def recency_weight(occurred_at: datetime, now: datetime) -> float:
    """``0.5 ** (age_days / 14)``: 1.0 now, 0.5 after two weeks; future times count as now."""
    age_days = max((now - occurred_at).total_seconds() / 86400.0, 0.0)
    return 0.5 ** (age_days / HALF_LIFE_DAYS)


def score_lead(lead: Lead, activities: Sequence[Activity], now: datetime) -> ScoreResult:
    """Score a lead from its profile and timeline as of ``now`` (aware UTC).

    ``activities`` may hold anything on the timeline; only inbound, non-retracted messages within
    LOOKBACK_DAYS count. Pure and deterministic: the same inputs give the same result.
    """
    inbound = [
        a
        for a in activities
        if a.type == ActivityType.MESSAGE
        and a.direction == Direction.INBOUND
        and not a.retracted
        and (now - a.occurred_at).days < LOOKBACK_DAYS
    ]
    factors: list[ScoreFactor] = []

    def add(factor: str, label: str, points: float, detail: str | None = None) -> None:
        if abs(points) >= 0.05:
            factors.append(ScoreFactor(factor=factor, label=label, points=round(points, 1), detail=detail))

    messages = [a for a in inbound if a.kind != MessageKind.FORM_SUBMISSION]
    weighted = sum(recency_weight(a.occurred_at, now) for a in messages)
    add(
        "engagement.inbound_messages",
        "Messages from the lead",
        min(5 * weighted, 40),
        f"{len(messages)} message(s), recency-weighted {weighted:.2f}",
    )
    days = {a.occurred_at.date() for a in messages if (now - a.occurred_at).days < 30}
    add(
        "engagement.active_days",
        "Days in conversation",
        min(3 * len(days), 15),
        f"{len(days)} day(s) with messages in the last 30 days",
    )
    interaction = sum(
        (4 if a.kind == MessageKind.INTERACTIVE else 2) * recency_weight(a.occurred_at, now)
        for a in messages
        if a.kind in (MessageKind.INTERACTIVE, MessageKind.MEDIA)
    )
    add("engagement.interactions", "Button replies and media", min(interaction, 12))
    forms = [a for a in inbound if a.kind == MessageKind.FORM_SUBMISSION]
    add(
        "engagement.form_submission",
        "Form submissions",
        min(sum(12 * recency_weight(a.occurred_at, now) for a in forms), 15),
        f"{len(forms)} submission(s)" if forms else None,
    )
    if lead.referral is not None or any(a.referral for a in inbound):
        add("source.ad_referral", "Came from an ad", 5.0)

    latest: dict[str, Activity] = {}
    negatives: dict[str, Activity] = {}
    for a in inbound:
        text = message_text(a)
        if not text:
            continue
        for cat in intent_categories(text):
            if cat not in latest or a.occurred_at > latest[cat].occurred_at:
                latest[cat] = a
        for cat in negative_categories(text):
            negatives[cat] = a
    intent_total = 0.0
    for cat in sorted(latest):
        label, points, _ = INTENT_LEXICON[cat]
        value = min(points * recency_weight(latest[cat].occurred_at, now), INTENT_CAP - intent_total)
        intent_total += value
        add(f"intent.{cat}", label, value, _quote(latest[cat].text))
    negative_total = 0.0
    for cat in sorted(negatives):
        value = max(NEGATIVE_POINTS, NEGATIVE_CAP - negative_total)
        negative_total += value
        add(f"intent.negative.{cat}", NEGATIVE_LEXICON[cat][0], value, _quote(negatives[cat].text))

    completeness = (
        (3 if lead.email else 0)
        + (3 if lead.phone else 0)
        + (2 if lead.name else 0)
        + (2 if lead.company else 0)
    )
    add("profile.completeness", "Contact details known", float(min(completeness, 10)))

    total = sum(f.points for f in factors)
    score = round(min(max(total, 0.0), 100.0))
    return ScoreResult(score=score, grade=grade_for(score), breakdown=factors)


def _quote(text: str | None) -> str | None:
    if not text:
        return None
    return f'"{text[:80]}"' + ("..." if len(text) > 80 else "")
