"""Buying intent in message text: the one lexicon every scoring path reads.

A message (its text, and the title of a button or list reply) *mentions* a category when one of the
category's phrases occurs in it on word boundaries, after folding case and removing accents (NFKD,
combining marks dropped), so "Precio?" and "preço" both match. Phrases cover English, Spanish and
Portuguese. Positive categories (:data:`INTENT_LEXICON`) signal buying intent, negative ones
(:data:`NEGATIVE_LEXICON`) a lead going cold.

Two consumers, one lexicon:

- the built-in engagement formula (:mod:`leadtide.scoring.engagement`) scores the latest mention of each
  category from the timeline;
- scoring models: when a message is received, the scoring worker records one behaviour occurrence per
  category the message mentions, of the built-in event types ``intent.<category>`` and
  ``intent.negative.<category>`` (:data:`leadtide.models.scoring.MESSAGE_INTENT_EVENT_TYPES`), deduplicated
  by the provider's message id. Every template scores them with its own weights
  (:mod:`leadtide.scoring.templates`); any model may add rules on them. They are derived by Leadtide and
  cannot be sent to the tracking API or declared as custom event types.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from leadtide.models.leads import Activity
from leadtide.models.scoring import INTENT_EVENT_PREFIX, MESSAGE_INTENT_EVENT_TYPES

NEGATIVE_EVENT_PREFIX = INTENT_EVENT_PREFIX + "negative."

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


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents (NFKD, combining marks removed)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    alternatives = sorted((re.escape(p) for p in phrases), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


_INTENT_PATTERNS = {cat: _pattern(phrases) for cat, (_, _, phrases) in INTENT_LEXICON.items()}
_NEGATIVE_PATTERNS = {cat: _pattern(phrases) for cat, (_, phrases) in NEGATIVE_LEXICON.items()}


def intent_categories(text: str) -> set[str]:
    """Buying-intent categories (keys of :data:`INTENT_LEXICON`) a message mentions."""
    folded = fold(text)
    return {cat for cat, pattern in _INTENT_PATTERNS.items() if pattern.search(folded)}


def negative_categories(text: str) -> set[str]:
    """Negative-intent categories (keys of :data:`NEGATIVE_LEXICON`) a message mentions."""
    folded = fold(text)
    return {cat for cat, pattern in _NEGATIVE_PATTERNS.items() if pattern.search(folded)}


def intent_event_type(category: str) -> str:
    """The behaviour event type of an intent category: ``intent.pricing``, ``intent.negative.opt_out``.

    Raises:
        KeyError: not a category of either lexicon.
    """
    if category in INTENT_LEXICON:
        return INTENT_EVENT_PREFIX + category
    if category in NEGATIVE_LEXICON:
        return NEGATIVE_EVENT_PREFIX + category
    raise KeyError(category)


def intent_label(event_type: str) -> str:
    """The plain-language label of an intent event type ("Asked about price"). Raises KeyError."""
    if event_type.startswith(NEGATIVE_EVENT_PREFIX):
        return NEGATIVE_LEXICON[event_type.removeprefix(NEGATIVE_EVENT_PREFIX)][0]
    return INTENT_LEXICON[event_type.removeprefix(INTENT_EVENT_PREFIX)][0]


def message_text(activity: Activity) -> str:
    """What a message says for intent matching: its text and the title of a button/list reply."""
    title = activity.interactive.title if activity.interactive else None
    return " ".join(filter(None, [activity.text, title]))


def message_intent_event_types(text: str) -> list[str]:
    """The intent event types a message's text mentions, sorted (positive and negative categories)."""
    if not text:
        return []
    types = [intent_event_type(c) for c in intent_categories(text)]
    types += [intent_event_type(c) for c in negative_categories(text)]
    return sorted(types)


_ALL = {intent_event_type(c) for c in (*INTENT_LEXICON, *NEGATIVE_LEXICON)}
if set(MESSAGE_INTENT_EVENT_TYPES) != _ALL:  # pragma: no cover - a lexicon edit must update the models
    raise RuntimeError("leadtide.models.scoring.MESSAGE_INTENT_EVENT_TYPES does not match the intent lexicon")
