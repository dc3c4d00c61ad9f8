"""Scoring vocabulary shared by the rules engine, the API and the predictive (ML) side: scoring models
(rules, groups, decay, grades), grade overrides, score history, and the ML port's prediction shapes.

``Prediction`` / ``PredictionFactor`` are what a :class:`leadtide.scoring.ports.ConversionPredictor` returns
for a lead: the predicted probability that the lead converts (0..1), the model version that produced it and
the factors that pushed the probability up or down (the per-lead explanation shown beside the rules score).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadtide.models.common import Count, Flag, Grade, Number

# Defined with the lead profile (leadtide.models.lead_scores); part of this vocabulary too.
from leadtide.models.lead_scores import GradeOverride as GradeOverride
from leadtide.models.lead_scores import PredictionFactor as PredictionFactor


class Prediction(BaseModel):
    """A predicted conversion probability for one lead (0..1) and why.

    ``factors_up`` are ordered strongest first (positive impact), ``factors_down`` strongest first
    (negative impact).
    """

    model_config = ConfigDict(frozen=True)

    probability: float = Field(ge=0.0, le=1.0)
    model_version: str
    factors_up: list[PredictionFactor] = Field(default_factory=list)
    factors_down: list[PredictionFactor] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------- scoring models
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_.]{0,63}$"
MODEL_ID_PATTERN = r"^[0-9a-f]{32}$"

INTENT_EVENT_PREFIX = "intent."
"""Event types under this prefix are derived by Leadtide from message text (reserved: they cannot be
tracked through the API or declared as custom event types)."""

MESSAGE_INTENT_EVENT_TYPES: tuple[str, ...] = (
    "intent.pricing",
    "intent.purchase",
    "intent.timing",
    "intent.meeting",
    "intent.payment",
    "intent.negative.not_interested",
    "intent.negative.opt_out",
    "intent.negative.too_expensive",
)
"""Buying intent (and its negative) in inbound message text: one occurrence per category a received message
mentions (the lexicon of :mod:`leadtide.scoring.intent`: price, purchase, timing, meeting, payment; not
interested, opt-out, too expensive). Every template weighs them; any model may score them."""

BUILTIN_EVENT_TYPES: tuple[str, ...] = (
    "email_opened",
    "email_clicked",
    "email_replied",
    "form_submitted",
    "page_viewed",
    "content_downloaded",
    "meeting_booked",
    "whatsapp_message",
    "instagram_message",
    *MESSAGE_INTENT_EVENT_TYPES,
)
"""Behaviour event types every model may use; anything else must be declared in ``custom_event_types``.
``whatsapp_message``, ``instagram_message`` and ``form_submitted`` are also recorded from captured inbound
messages (WhatsApp Cloud API / Twilio, Instagram, web forms), and the ``intent.*`` types from those
messages' text (:data:`MESSAGE_INTENT_EVENT_TYPES`)."""

FitOp = Literal["eq", "in", "contains", "gte", "lte", "between", "is_empty", "is_not_empty"]


class FitRule(BaseModel):
    """A profile (fit) rule: when ``field`` ``op`` ``value`` holds for the lead, add ``points``.

    Fields: job_title, company, company_size, industry, country, source_channel, status,
    email_domain_type (``free`` | ``business``), tags, ``custom.<key>``. ``value`` is a string or number
    for eq/contains/gte/lte, a non-empty list for ``in`` (any of; ``contains`` also takes a list, meaning
    contains any), ``[low, high]`` for ``between`` and absent for is_empty/is_not_empty. Text comparisons
    ignore case; ``contains`` is a substring match.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=RULE_ID_PATTERN, description="unique within the model, e.g. 'fit.vp_title'")
    label: str = Field(min_length=1, max_length=120)
    field: str = Field(min_length=1, max_length=80)
    op: FitOp
    value: Any = None
    points: Number
    group: str = Field(default="fit", pattern=RULE_ID_PATTERN)


class BehaviourRule(BaseModel):
    """A behaviour rule: each occurrence of ``event_type`` adds ``points`` (decayed by age); with
    ``max_occurrences`` only that many of the most recent occurrences count."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=RULE_ID_PATTERN)
    label: str = Field(min_length=1, max_length=120)
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    points: Number
    max_occurrences: Count | None = Field(default=None, ge=1, le=100)
    group: str = Field(default="engagement", pattern=RULE_ID_PATTERN)


class ScoreGroup(BaseModel):
    """A named group of rules whose summed points are clamped to ``[-cap, cap]``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=RULE_ID_PATTERN)
    label: str | None = Field(default=None, max_length=120)
    cap: Number


class HalfLifeDecay(BaseModel):
    """Each occurrence is worth ``points * 0.5 ** (age_days / days)``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["half_life"] = "half_life"
    days: Number


class LinearDecay(BaseModel):
    """Each occurrence loses ``points_per_period`` (towards zero) for every full ``period_days`` of age."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["linear"] = "linear"
    points_per_period: Number
    period_days: Number


Decay = Annotated[HalfLifeDecay | LinearDecay, Field(discriminator="kind")]


class GradeThresholds(BaseModel):
    """Minimum score of each grade; ``cold`` is everything below ``warm``. Must satisfy
    ``100 >= hot > warm > 0``."""

    model_config = ConfigDict(extra="forbid")

    hot: Number = 50
    warm: Number = 20

    def grade(self, score: float) -> Grade:
        """The grade of a 0..100 score."""
        if score >= self.hot:
            return Grade.HOT
        if score >= self.warm:
            return Grade.WARM
        return Grade.COLD


class PredictiveSettings(BaseModel):
    """Blend the predicted conversion probability into the score:
    ``score = (1 - weight) * rules_score + weight * 100 * probability`` (when a prediction exists)."""

    model_config = ConfigDict(extra="forbid")

    enabled: Flag = False
    weight: Number = Field(default=0.3, ge=0.0, le=1.0)


def _default_groups() -> list[ScoreGroup]:
    return [
        ScoreGroup(name="fit", label="Fit", cap=40),
        ScoreGroup(name="engagement", label="Engagement", cap=60),
    ]


class ScoringModelSpec(BaseModel):
    """What a user defines: the rules of a scoring model (body of ``PUT /scoring-models/{id}``).

    The rule language references only profile fields and event types, never groups, scores or other
    rules, so no rule can depend on another and a cycle cannot be expressed; fields that are themselves
    derived from scoring (score, grade, fit_score, engagement_score, ...) are rejected as self-references.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    segment_id: str | None = Field(
        default=None, max_length=64, description="score only leads in this segment (null: tenant default)"
    )
    priority: Count = Field(default=100, ge=0, le=10000, description="lower wins among segment models")
    fit_rules: list[FitRule] = Field(default_factory=list, max_length=200)
    behaviour_rules: list[BehaviourRule] = Field(default_factory=list, max_length=200)
    groups: list[ScoreGroup] = Field(default_factory=_default_groups, max_length=20)
    total_cap: Number = 100
    decay: Decay | None = Field(default_factory=lambda: HalfLifeDecay(days=14))
    grades: GradeThresholds = Field(default_factory=GradeThresholds)
    custom_event_types: list[str] = Field(default_factory=list, max_length=50)
    predictive: PredictiveSettings = Field(default_factory=PredictiveSettings)


TemplateName = Literal[
    "b2b_saas", "agency", "ecommerce_high_ticket", "financial_services_insurance", "fitness_memberships"
]


class ScoringModelCreate(BaseModel):
    """Body of ``POST /scoring-models``: a full spec, or ``{"template": "b2b_saas"}`` optionally with
    fields that override the template's (e.g. ``name``, ``segment_id``)."""

    model_config = ConfigDict(extra="forbid")

    template: TemplateName | None = None
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    segment_id: str | None = Field(default=None, max_length=64)
    priority: Count | None = Field(default=None, ge=0, le=10000)
    fit_rules: list[FitRule] | None = Field(default=None, max_length=200)
    behaviour_rules: list[BehaviourRule] | None = Field(default=None, max_length=200)
    groups: list[ScoreGroup] | None = Field(default=None, max_length=20)
    total_cap: Number | None = None
    decay: Decay | None = None
    grades: GradeThresholds | None = None
    custom_event_types: list[str] | None = Field(default=None, max_length=50)
    predictive: PredictiveSettings | None = None


class ScoringModel(ScoringModelSpec):
    """A stored scoring model. ``active``: it scores leads (the tenant's one default, or a segment model
    that was activated). ``version`` grows with every change."""

    model_config = ConfigDict(extra="ignore")

    model_id: str
    tenant_id: str
    active: bool = False
    is_default: bool = Field(default=False, description="the tenant's active default model")
    version: int = 1
    template: str | None = None
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None


class ScoringModelList(BaseModel):
    """``GET /scoring-models``: every model of the tenant, active default first."""

    items: list[ScoringModel]


class ScoringTemplate(BaseModel):
    """A ready-made scoring model (``GET /scoring-models/templates``)."""

    name: str
    title: str
    description: str
    spec: ScoringModelSpec


class ScoringTemplateList(BaseModel):
    """The templates a model can start from."""

    items: list[ScoringTemplate]


# ---------------------------------------------------------------------------------------------- overrides, history
class GradeOverrideRequest(BaseModel):
    """Body of ``PUT /leads/{lead_id}/grade-override``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    grade: Grade
    reason: str = Field(min_length=3, max_length=500)


class ScoreHistoryEntry(BaseModel):
    """One change of a lead's score or grade, with its cause.

    ``cause`` is readable (``"event: email_clicked"``, ``"nightly decay"``, ``"model changed"``,
    ``"manual override"``, ``"profile changed: job_title"``, ``"message received"``); ``cause_event_id`` /
    ``cause_event_type`` name the tracked event when one triggered it.
    """

    at: datetime
    cause: str
    cause_event_id: str | None = None
    cause_event_type: str | None = None
    score: int | None = None
    previous_score: int | None = None
    grade: Grade | None = None
    previous_grade: Grade | None = None
    breakdown: list[dict[str, Any]] = Field(default_factory=list)
    previous_breakdown: list[dict[str, Any]] = Field(default_factory=list)
    fit_score: float | None = None
    engagement_score: float | None = None
    conversion_probability: float | None = None
    scoring_model_id: str | None = None
    override: dict[str, Any] | None = None


class ScoreHistoryPage(BaseModel):
    """One page of score history, newest first."""

    items: list[ScoreHistoryEntry]
    next_cursor: str | None = None


def is_valid_model_id(model_id: str) -> bool:
    """True for a 32-hex-digit model id."""
    return re.fullmatch(MODEL_ID_PATTERN, model_id) is not None
