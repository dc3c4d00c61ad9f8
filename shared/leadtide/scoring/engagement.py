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
models to come). Intent phrases cover English, Spanish and Portuguese, matched on word boundaries
after removing accents, case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from leadtide.models.common import Grade
from leadtide.models.leads import Activity, ActivityType, Lead, ScoreFactor
from leadtide.models.messages import Direction, MessageKind

HALF_LIFE_DAYS = 14.0
LOOKBACK_DAYS = 90
HOT_THRESHOLD = 50
WARM_THRESHOLD = 20

# category -> (label, points, phrases). Phrases are accent-free, lower-case, matched on word boundaries.
INTENT_LEXICON: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "pricing": (
        "Asked about price",
        12,
        (
            "price",
            "prices",
            "pricing",
            "how much",
            "cost",
            "costs",
            "quote",
            "quotation",
            "rate",
            "rates",
            "fee",
            "fees",
            "budget",
            "precio",
            "precios",
            "cuanto cuesta",
            "cuanto vale",
            "cotizacion",
            "preco",
            "quanto custa",
            "orcamento",
            "valor",
        ),
    ),
    "purchase": (
        "Wants to buy or book",
        15,
        (
            "buy",
            "purchase",
            "order",
            "book",
            "booking",
            "reserve",
            "reservation",
            "sign up",
            "subscribe",
            "enroll",
            "enrol",
            "i want",
            "i'd like",
            "i would like",
            "comprar",
            "quiero",
            "reservar",
            "pedido",
            "contratar",
            "quero",
            "encomendar",
            "inscrever",
        ),
    ),
    "timing": (
        "Asked about availability or timing",
        8,
        (
            "available",
            "availability",
            "in stock",
            "when can",
            "how soon",
            "today",
            "tomorrow",
            "this week",
            "next week",
            "asap",
            "urgent",
            "urgently",
            "disponible",
            "disponibilidad",
            "hoy",
            "manana",
            "disponivel",
            "hoje",
            "amanha",
            "urgente",
        ),
    ),
    "meeting": (
        "Asked for a call, demo or visit",
        10,
        (
            "demo",
            "meeting",
            "call me",
            "appointment",
            "schedule a call",
            "visit",
            "consultation",
            "cita",
            "llamame",
            "reunion",
            "visita",
            "agendar",
            "ligar",
            "reuniao",
        ),
    ),
    "payment": (
        "Asked how to pay",
        12,
        (
            "pay",
            "payment",
            "invoice",
            "credit card",
            "card",
            "transfer",
            "installments",
            "deposit",
            "pagar",
            "pago",
            "factura",
            "tarjeta",
            "transferencia",
            "pagamento",
            "cartao",
            "boleto",
            "pix",
            "parcelas",
        ),
    ),
}
NEGATIVE_LEXICON: dict[str, tuple[str, tuple[str, ...]]] = {
    "not_interested": (
        "Said not interested",
        (
            "not interested",
            "no thanks",
            "no thank you",
            "no longer",
            "no me interesa",
            "nao tenho interesse",
            "nao me interessa",
        ),
    ),
    "opt_out": (
        "Asked to stop messages",
        ("unsubscribe", "stop", "remove me", "dont contact", "don't contact", "baja", "parar", "pare"),
    ),
    "too_expensive": (
        "Found it too expensive",
        ("too expensive", "very expensive", "muy caro", "muito caro"),
    ),
}
INTENT_CAP = 35.0
NEGATIVE_POINTS = -15.0
NEGATIVE_CAP = -30.0


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    alternatives = sorted((re.escape(p) for p in phrases), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


_INTENT_PATTERNS = {cat: _pattern(phrases) for cat, (_, _, phrases) in INTENT_LEXICON.items()}
_NEGATIVE_PATTERNS = {cat: _pattern(phrases) for cat, (_, phrases) in NEGATIVE_LEXICON.items()}


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


def intent_categories(text: str) -> set[str]:
    """Buying-intent categories (keys of INTENT_LEXICON) a message mentions."""
    folded = _fold(text)
    return {cat for cat, pattern in _INTENT_PATTERNS.items() if pattern.search(folded)}


def negative_categories(text: str) -> set[str]:
    """Negative-intent categories (keys of NEGATIVE_LEXICON) a message mentions."""
    folded = _fold(text)
    return {cat for cat, pattern in _NEGATIVE_PATTERNS.items() if pattern.search(folded)}


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
        text = " ".join(filter(None, [a.text, a.interactive.title if a.interactive else None]))
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
