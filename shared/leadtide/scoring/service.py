"""Re-score leads (the Scoring worker's logic): per lead when its events arrive, per page of lead ids on
the nightly fan-out and after a scoring model changes.

Which model scores a lead: the first *active* segment model (lowest ``priority``) whose ``segment_id`` is
in the lead's ``segment_ids``, else the tenant's active default model, else the built-in engagement
formula (:mod:`leadtide.scoring.engagement`, for tenants that have not set up a model). A conversion
predictor (the ML side, :mod:`leadtide.scoring.ports`) is asked once per page; its probability is stored
beside the fit and engagement scores and blended into the score when the model enables it.

Writes happen only when something visible changed (score, displayed or computed grade, model, probability;
on per-lead re-scores also the breakdown), each with a score-history entry naming the cause, and then
``lead.score_changed`` / ``lead.grade_changed`` are published.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leadtide.leads.ports import LeadRepository
from leadtide.models.common import ChannelType, Grade, iso, utc_now
from leadtide.models.errors import LeadNotFoundError
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.leads import ActivityType, Lead, ScoreFactor
from leadtide.models.messages import Direction
from leadtide.models.scoring import Prediction, ScoreHistoryEntry, ScoringModel
from leadtide.ports import CommandQueue, EventPublisher
from leadtide.scoring.engagement import LOOKBACK_DAYS, ScoreResult, score_lead
from leadtide.scoring.intent import message_intent_event_types, message_text
from leadtide.scoring.ports import ConversionPredictor, Occurrence, ScoringInput, ScoringStore
from leadtide.scoring.rules import CompiledModel, RuleScore

log = logging.getLogger(__name__)

RESCORE_DETAIL_TYPE = "lead.rescore"
RESCORE_PAGE_DETAIL_TYPE = "lead.rescore_page"
PAGE_SIZE = 250
CAUSE_NIGHTLY = "nightly decay"
CAUSE_MODEL_CHANGED = "model changed"
MODEL_CACHE_SECONDS = 60.0
# Captured inbound messages count as behaviour occurrences of these types.
_MESSAGE_EVENT_TYPES = {
    ChannelType.WHATSAPP: "whatsapp_message",
    ChannelType.TWILIO: "whatsapp_message",
    ChannelType.INSTAGRAM: "instagram_message",
    ChannelType.WEB_FORM: "form_submitted",
}


@dataclass(frozen=True)
class ScoringRequest:
    """Score ``lead_ids`` of ``tenant_id`` because of ``cause`` (an event detail-type such as
    ``lead.message_received``, or ``lead.rescore_page``); ``data`` is the event's ``data``."""

    tenant_id: str
    lead_id: str
    cause: str
    data: dict[str, Any] = field(default_factory=dict)
    lead_ids: tuple[str, ...] = ()

    @property
    def is_page(self) -> bool:
        """A page of the nightly / model-changed fan-out."""
        return self.cause == RESCORE_PAGE_DETAIL_TYPE


def parse_scoring_message(body: str) -> ScoringRequest:
    """Read a scoring-queue message: an EventBridge event (``detail-type`` + ``detail``) as the rule
    delivers it, or the same shape written by the fan-out (``lead.rescore`` for one lead,
    ``lead.rescore_page`` with ``detail.lead_ids`` and ``detail.cause`` for a page).

    Raises:
        ValueError: not JSON, or no tenant_id / lead_id(s) in ``detail``.
    """
    event = json.loads(body)
    detail = event.get("detail") or {}
    tenant = detail.get("tenant_id")
    cause = str(event.get("detail-type") or "unknown")
    if cause == RESCORE_PAGE_DETAIL_TYPE:
        ids = detail.get("lead_ids")
        if (
            not isinstance(tenant, str)
            or not isinstance(ids, list)
            or not all(isinstance(i, str) for i in ids)
        ):
            raise ValueError("scoring page message has no detail.tenant_id / detail.lead_ids")
        return ScoringRequest(
            tenant_id=tenant,
            lead_id="",
            cause=cause,
            data={"cause": str(detail.get("cause") or CAUSE_NIGHTLY)},
            lead_ids=tuple(ids),
        )
    lead = detail.get("lead_id")
    if not isinstance(tenant, str) or not isinstance(lead, str):
        raise ValueError("scoring message has no detail.tenant_id / detail.lead_id")
    raw_data = detail.get("data")
    data: dict[str, Any] = dict(raw_data) if isinstance(raw_data, dict) else {}
    if detail.get("occurred_at") and "occurred_at" not in data:
        data["occurred_at"] = detail["occurred_at"]
    return ScoringRequest(tenant_id=tenant, lead_id=lead, cause=cause, data=data)


@dataclass(frozen=True)
class ScoreOutcome:
    """What re-scoring did to one lead (``changed``: something was written)."""

    tenant_id: str
    lead_id: str
    score: int
    grade: str
    changed: bool
    score_changed: bool = False
    grade_changed: bool = False


@dataclass(frozen=True)
class _Cause:
    text: str
    event_id: str | None = None
    event_type: str | None = None
    detailed: bool = True  # per-lead cause: a breakdown-only change is written too


def describe_cause(request: ScoringRequest) -> _Cause:
    """The readable cause of a re-score (see :class:`ScoreHistoryEntry`)."""
    data = request.data
    if request.cause == LeadEventType.EVENT_TRACKED:
        events = data.get("events") or []
        last = events[-1] if events else {}
        types = sorted({str(e.get("type")) for e in events if e.get("type")})
        return _Cause(
            "event: " + ", ".join(types) if types else "event",
            event_id=last.get("event_id"),
            event_type=last.get("type"),
        )
    if request.cause == LeadEventType.UPDATED:
        changed = [c for c in data.get("changed") or [] if isinstance(c, str)]
        return _Cause("profile changed: " + ", ".join(changed) if changed else "profile changed")
    if request.cause == LeadEventType.MESSAGE_RECEIVED:
        return _Cause("message received", event_type=_message_event_type(data))
    if request.cause == LeadEventType.CREATED:
        return _Cause("lead created")
    if request.cause == RESCORE_DETAIL_TYPE:
        return _Cause(CAUSE_NIGHTLY, detailed=False)
    if request.cause == RESCORE_PAGE_DETAIL_TYPE:
        return _Cause(str(data.get("cause") or CAUSE_NIGHTLY), detailed=False)
    return _Cause(request.cause)


def _message_event_type(data: dict[str, Any]) -> str | None:
    if data.get("kind") == "form_submission":
        return "form_submitted"
    try:
        return _MESSAGE_EVENT_TYPES.get(ChannelType(str(data.get("channel"))))
    except ValueError:
        return None


@dataclass
class _TenantModels:
    default: CompiledModel | None
    by_segment: list[tuple[str, CompiledModel]]
    loaded_at: float

    def for_lead(self, lead: dict[str, Any]) -> CompiledModel | None:
        segments = lead.get("segment_ids") or ()
        if segments and self.by_segment:
            member = set(segments)
            for segment_id, model in self.by_segment:
                if segment_id in member:
                    return model
        return self.default


class ScoringService:
    """Scores leads with the tenant's scoring models (or the built-in engagement formula) and stores the
    scores with history.

    Args:
        leads: the lead repository (profile + timeline, for the built-in formula).
        events: where ``lead.score_changed`` / ``lead.grade_changed`` go.
        scoring_queue: the scoring queue (fan-out only).
        store: scoring models and scores; None keeps the original behaviour (built-in formula, scores
            written through ``leads.save_score``).
        predictor: the ML side's conversion predictor, or None.
    """

    def __init__(
        self,
        leads: LeadRepository,
        events: EventPublisher,
        scoring_queue: CommandQueue | None = None,
        *,
        store: ScoringStore | None = None,
        predictor: ConversionPredictor | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self._leads = leads
        self._events = events
        self._queue = scoring_queue
        self._store = store
        self._predictor = predictor
        self._clock = clock
        self._models: dict[str, _TenantModels] = {}

    # ------------------------------------------------------------------ worker entry points
    def handle(self, request: ScoringRequest) -> list[ScoreOutcome]:
        """Run one scoring-queue message: a page or one lead. Returns what happened to each lead."""
        if request.is_page:
            return self.rescore_page(request.tenant_id, request.lead_ids, describe_cause(request))
        if self._store is None:
            result = self.rescore(request)
            if result is None:
                return []
            return [ScoreOutcome(request.tenant_id, request.lead_id, result.score, str(result.grade), True)]
        if request.cause == LeadEventType.MESSAGE_RECEIVED:
            self._record_message(request)
        return self.rescore_page(request.tenant_id, [request.lead_id], describe_cause(request))

    def _record_message(self, request: ScoringRequest) -> None:
        """Remember a received message as behaviour occurrences: its channel's type (``whatsapp_message``,
        ``instagram_message``, ``form_submitted``) and one ``intent.*`` occurrence per intent category its
        text mentions (:mod:`leadtide.scoring.intent`), all deduplicated by the provider's message id."""
        event_type = _message_event_type(request.data)
        dedupe = request.data.get("provider_message_id")
        at = request.data.get("occurred_at")
        if self._store is None or not event_type or not dedupe:
            return
        when: datetime | None
        try:
            when = datetime.fromisoformat(str(at).replace("Z", "+00:00")) if at else None
        except ValueError:
            when = None
        dedupe_id = f"msg:{dedupe}"
        occurred = when or self._clock()
        occurrences = [Occurrence(event_type, occurred, dedupe_id)]
        occurrences += [
            Occurrence(intent, occurred, dedupe_id)
            for intent in self._message_intents(request, str(dedupe), when)
        ]
        self._store.record_occurrences(request.tenant_id, request.lead_id, occurrences)

    def _message_intents(
        self, request: ScoringRequest, provider_message_id: str, at: datetime | None
    ) -> list[str]:
        """The intent event types of the received message, read from the lead's timeline (the event does
        not carry the text). A message no longer there (lead deleted, message retracted) has none."""
        since = at - timedelta(minutes=1) if at else self._clock() - timedelta(days=LOOKBACK_DAYS)
        try:
            activities = self._leads.recent_activities(request.tenant_id, request.lead_id, since=since)
        except LeadNotFoundError:
            return []
        for activity in activities:
            if (
                activity.type == ActivityType.MESSAGE
                and activity.provider_message_id == provider_message_id
                and activity.direction == Direction.INBOUND
                and not activity.retracted
            ):
                return message_intent_event_types(message_text(activity))
        return []

    def rescore(self, request: ScoringRequest) -> ScoreResult | None:
        """Score one lead now (built-in formula when no store is configured). Returns the result, or None
        when the lead no longer exists. With a store, delegates to :meth:`handle`."""
        if self._store is not None:
            outcomes = self.handle(request)
            if not outcomes:
                return None
            lead = self._leads.get_lead(request.tenant_id, request.lead_id)
            grade = lead.computed_grade or lead.grade or Grade.COLD
            return ScoreResult(score=outcomes[0].score, grade=grade, breakdown=lead.score_breakdown)
        try:
            lead = self._leads.get_lead(request.tenant_id, request.lead_id)
        except LeadNotFoundError:
            log.info("lead %s deleted before scoring", request.lead_id)
            return None
        now = self._clock()
        activities = self._leads.recent_activities(
            request.tenant_id, request.lead_id, since=now - timedelta(days=LOOKBACK_DAYS)
        )
        result = score_lead(lead, activities, now)
        if (
            lead.score == result.score
            and lead.grade == result.grade
            and [f.model_dump() for f in lead.score_breakdown] == [f.model_dump() for f in result.breakdown]
        ):
            return result
        try:
            self._leads.save_score(
                request.tenant_id,
                request.lead_id,
                score=result.score,
                grade=str(result.grade),
                breakdown=[f.model_dump(mode="json") for f in result.breakdown],
                scored_at=now,
                cause=request.cause,
                previous_score=lead.score,
                previous_grade=str(lead.grade) if lead.grade else None,
            )
        except LeadNotFoundError:
            return None
        self._publish_changes(
            request.tenant_id,
            request.lead_id,
            now,
            score=result.score,
            grade=str(result.grade),
            previous_score=lead.score,
            previous_grade=str(lead.grade) if lead.grade else None,
            cause=request.cause,
        )
        return result

    # ------------------------------------------------------------------ batch scoring
    def rescore_page(
        self, tenant_id: str, lead_ids: Sequence[str], cause: _Cause | str = CAUSE_NIGHTLY
    ) -> list[ScoreOutcome]:
        """Score a page of leads of one tenant in one batch: one read of profiles and engagement records
        per 100 leads, one predictor call, writes only for the leads that changed, one publish call.

        Deleted leads are skipped. Raises what the store raises for infrastructure errors (the message is
        retried; every write is idempotent).
        """
        if self._store is None:
            raise RuntimeError("page scoring needs the scoring store")
        if isinstance(cause, str):
            cause = _Cause(cause, detailed=False)
        now = self._clock()
        now_ts = now.timestamp()
        inputs = self._store.load_for_scoring(tenant_id, lead_ids)
        if not inputs:
            return []
        models = self._tenant_models(tenant_id, refresh=cause.text == CAUSE_MODEL_CHANGED)
        chosen = {lead_id: models.for_lead(inp.lead) for lead_id, inp in inputs.items()}
        rules: dict[str, RuleScore] = {}
        for lead_id, inp in inputs.items():
            model = chosen[lead_id]
            if model is not None:
                rules[lead_id] = model.score(inp.lead, inp.occurrences, now_ts)
        predictions = self._predict(tenant_id, inputs, rules)
        events: list[LeadEvent] = []
        outcomes: list[ScoreOutcome] = []
        for lead_id, inp in inputs.items():
            model = chosen[lead_id]
            prediction = predictions.get(lead_id)
            if model is not None:
                scored = model.blend(rules[lead_id], prediction.probability if prediction else None)
                values = self._values_from_rules(scored, model, prediction)
            else:
                values = self._values_from_builtin(tenant_id, inp, now, prediction)
            outcome, lead_events = self._store_if_changed(tenant_id, lead_id, inp.lead, values, now, cause)
            outcomes.append(outcome)
            events.extend(lead_events)
        if events:
            self._events.publish(events)
        return outcomes

    def _predict(
        self, tenant_id: str, inputs: dict[str, ScoringInput], rules: dict[str, RuleScore]
    ) -> dict[str, Prediction]:
        if self._predictor is None:
            return {}
        ids = list(inputs)
        rows = []
        for lead_id in ids:
            inp, r = inputs[lead_id], rules.get(lead_id)
            rows.append(
                {
                    **inp.lead,
                    "fit_score": r.fit_score if r else None,
                    "engagement_score": r.engagement_score if r else None,
                    "behaviour_counts": dict(inp.counts),
                    "last_event_at": iso(inp.last_event_at) if inp.last_event_at else None,
                }
            )
        try:
            results = self._predictor.predict(tenant_id, rows)
        except Exception:  # the ML side must never stop rules scoring
            log.exception("conversion predictor failed for tenant %s", tenant_id)
            return {}
        return {lead_id: p for lead_id, p in zip(ids, results, strict=False) if p is not None}

    @staticmethod
    def _values_from_rules(
        scored: RuleScore, model: CompiledModel, prediction: Prediction | None
    ) -> dict[str, Any]:
        breakdown = [
            {"factor": f, "label": label, "points": round(p, 1), "detail": d}
            for f, label, p, d in scored.factors
            if abs(p) >= 0.05
        ]
        return {
            "score": scored.score,
            "computed_grade": scored.grade,
            "score_breakdown": breakdown,
            "fit_score": scored.fit_score,
            "engagement_score": scored.engagement_score,
            "scoring_model_id": model.model_id,
            **_prediction_values(prediction),
        }

    def _values_from_builtin(
        self, tenant_id: str, inp: ScoringInput, now: datetime, prediction: Prediction | None
    ) -> dict[str, Any]:
        lead = Lead.model_validate(inp.lead)
        activities = self._leads.recent_activities(
            tenant_id, lead.lead_id, since=now - timedelta(days=LOOKBACK_DAYS)
        )
        result = score_lead(lead, activities, now)
        return {
            "score": result.score,
            "computed_grade": str(result.grade),
            "score_breakdown": [f.model_dump(mode="json") for f in result.breakdown],
            "fit_score": None,
            "engagement_score": None,
            "scoring_model_id": None,
            **_prediction_values(prediction),
        }

    def _store_if_changed(
        self,
        tenant_id: str,
        lead_id: str,
        lead: dict[str, Any],
        values: dict[str, Any],
        now: datetime,
        cause: _Cause,
    ) -> tuple[ScoreOutcome, list[LeadEvent]]:
        assert self._store is not None
        override = lead.get("grade_override")
        grade = (override or {}).get("grade") or values["computed_grade"]
        values = {**values, "grade": grade}
        old_score, old_grade = _int_or_none(lead.get("score")), lead.get("grade")
        keys = ("score", "grade", "computed_grade", "scoring_model_id", "conversion_probability")
        changed = lead.get("scored_at") is None or any(
            _normalised(lead.get(k)) != _normalised(values.get(k)) for k in keys
        )
        if not changed and cause.detailed:
            changed = _breakdown_key(lead.get("score_breakdown")) != _breakdown_key(values["score_breakdown"])
        score_moved, grade_moved = old_score != values["score"], old_grade != grade
        outcome = ScoreOutcome(
            tenant_id, lead_id, values["score"], grade, changed, score_moved, grade_moved and changed
        )
        if not changed:
            return outcome, []
        values["scored_at"] = now
        history = ScoreHistoryEntry(
            at=now,
            cause=cause.text,
            cause_event_id=cause.event_id,
            cause_event_type=cause.event_type,
            score=values["score"],
            previous_score=old_score,
            grade=grade,
            previous_grade=old_grade,
            breakdown=values["score_breakdown"],
            previous_breakdown=list(lead.get("score_breakdown") or []),
            fit_score=values.get("fit_score"),
            engagement_score=values.get("engagement_score"),
            conversion_probability=values.get("conversion_probability"),
            scoring_model_id=values.get("scoring_model_id"),
        )
        try:
            self._store.save_score(tenant_id, lead_id, values, history)
        except LeadNotFoundError:
            return ScoreOutcome(tenant_id, lead_id, values["score"], grade, False), []
        events = self._change_events(
            tenant_id,
            lead_id,
            now,
            score=values["score"],
            grade=grade,
            previous_score=old_score,
            previous_grade=old_grade,
            cause=cause.text,
            extra={
                "computed_grade": values["computed_grade"],
                "fit_score": values.get("fit_score"),
                "engagement_score": values.get("engagement_score"),
                "conversion_probability": values.get("conversion_probability"),
                "scoring_model_id": values.get("scoring_model_id"),
                "cause_event_id": cause.event_id,
            },
        )
        return outcome, events

    # ------------------------------------------------------------------ events
    def _change_events(
        self,
        tenant_id: str,
        lead_id: str,
        now: datetime,
        *,
        score: int | None,
        grade: str | None,
        previous_score: int | None,
        previous_grade: str | None,
        cause: str,
        extra: dict[str, Any] | None = None,
    ) -> list[LeadEvent]:
        data = {
            "score": score,
            "grade": grade,
            "previous_score": previous_score,
            "previous_grade": previous_grade,
            "cause": cause,
            **(extra or {}),
        }
        changed = [
            (LeadEventType.SCORE_CHANGED, previous_score != score),
            (LeadEventType.GRADE_CHANGED, previous_grade != grade),
        ]
        return [
            LeadEvent(type=kind, tenant_id=tenant_id, lead_id=lead_id, occurred_at=iso(now), data=data)
            for kind, moved in changed
            if moved
        ]

    def _publish_changes(self, tenant_id: str, lead_id: str, now: datetime, **kw: Any) -> None:
        events = self._change_events(tenant_id, lead_id, now, **kw)
        if events:
            self._events.publish(events)

    # ------------------------------------------------------------------ models cache
    def _tenant_models(self, tenant_id: str, *, refresh: bool = False) -> _TenantModels:
        cached = self._models.get(tenant_id)
        if cached is not None and not refresh and time.monotonic() - cached.loaded_at < MODEL_CACHE_SECONDS:
            return cached
        assert self._store is not None
        default: CompiledModel | None = None
        segments: list[tuple[int, str, CompiledModel]] = []
        for model in self._store.list_models(tenant_id):
            if model.is_default:
                default = compile_model(model)
            elif model.active and model.segment_id:
                segments.append((model.priority, model.segment_id, compile_model(model)))
        segments.sort(key=lambda s: (s[0], s[1]))
        entry = _TenantModels(default, [(s, m) for _, s, m in segments], time.monotonic())
        self._models[tenant_id] = entry
        return entry

    def scores_by_segment(self, tenant_id: str, segment_ids: Iterable[str]) -> bool:
        """Whether entering or leaving any of ``segment_ids`` can change which scoring model scores a lead
        of ``tenant_id`` (one of them has an active segment model)."""
        if self._store is None:
            return False
        targets = {segment_id for segment_id, _ in self._tenant_models(tenant_id).by_segment}
        return any(segment_id in targets for segment_id in segment_ids)

    def forget_models(self, tenant_id: str) -> None:
        """Drop the cached models of a tenant (after a change made in this process)."""
        self._models.pop(tenant_id, None)

    # ------------------------------------------------------------------ fan-out
    def fan_out_nightly(self) -> int:
        """Queue every lead of every tenant for re-scoring (decay moves scores even without events).

        With a store: pages of up to PAGE_SIZE lead ids per message (``lead.rescore_page``). Without: one
        ``lead.rescore`` message per lead (the original shape). Returns the number of leads queued.
        """
        if self._queue is None:
            raise RuntimeError("fan-out needs the scoring queue")
        if self._store is not None:
            return self.queue_pages(self._store.iter_lead_id_pages(None, PAGE_SIZE), CAUSE_NIGHTLY)
        bodies = (
            json.dumps(
                {
                    "detail-type": RESCORE_DETAIL_TYPE,
                    "source": "leadtide.scheduler",
                    "detail": {"tenant_id": tenant_id, "lead_id": lead_id},
                }
            )
            for tenant_id, lead_id in self._leads.iter_lead_ids()
        )
        return self._send(bodies, lambda _: 1)

    def queue_tenant_rescore(self, tenant_id: str, cause: str = CAUSE_MODEL_CHANGED) -> int:
        """Queue pages of every lead of one tenant (after a model change). Returns the leads queued."""
        if self._store is None or self._queue is None:
            raise RuntimeError("tenant re-score needs the scoring store and queue")
        return self.queue_pages(self._store.iter_lead_id_pages(tenant_id, PAGE_SIZE), cause)

    def queue_pages(self, pages: Iterable[tuple[str, list[str]]], cause: str) -> int:
        """Send ``lead.rescore_page`` messages for ``pages`` (10 per SendMessageBatch)."""
        bodies = (
            json.dumps(
                {
                    "detail-type": RESCORE_PAGE_DETAIL_TYPE,
                    "source": "leadtide.scheduler",
                    "detail": {"tenant_id": tenant_id, "lead_ids": ids, "cause": cause},
                },
                separators=(",", ":"),
            )
            for tenant_id, ids in pages
        )
        return self._send(bodies, lambda body: len(json.loads(body)["detail"]["lead_ids"]))

    def _send(self, bodies: Iterable[str], weight: Callable[[str], int]) -> int:
        assert self._queue is not None
        batch: list[str] = []
        count = 0
        for body in bodies:
            batch.append(body)
            count += weight(body)
            if len(batch) == 10:
                self._queue.send(batch)
                batch = []
        if batch:
            self._queue.send(batch)
        return count


def compile_model(model: ScoringModel) -> CompiledModel:
    """Compile a stored model (validated when it was saved)."""
    return CompiledModel(model, model.model_id)


def _prediction_values(prediction: Prediction | None) -> dict[str, Any]:
    if prediction is None:
        return {"conversion_probability": None, "prediction_factors": None, "prediction_model_version": None}
    factors = [*prediction.factors_up, *prediction.factors_down]
    return {
        "conversion_probability": round(prediction.probability, 4),
        "prediction_factors": [f.model_dump(mode="json") for f in factors],
        "prediction_model_version": prediction.model_version,
    }


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _normalised(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if hasattr(value, "value"):
        return str(value)
    return value


def _breakdown_key(breakdown: Any) -> list[tuple[Any, ...]]:
    rows = []
    for f in breakdown or []:
        d = f.model_dump() if isinstance(f, ScoreFactor) else dict(f)
        rows.append((d.get("factor"), d.get("label"), round(float(d.get("points") or 0), 1), d.get("detail")))
    return rows
