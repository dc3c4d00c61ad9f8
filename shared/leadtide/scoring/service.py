"""Re-score leads when their events arrive and on the nightly fan-out (the Scoring worker's logic)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from leadtide.dal.ports import CommandQueue, EventPublisher, LeadRepository
from leadtide.models.common import iso, utc_now
from leadtide.models.errors import LeadNotFoundError
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.scoring.engagement import LOOKBACK_DAYS, ScoreResult, score_lead

log = logging.getLogger(__name__)

RESCORE_DETAIL_TYPE = "lead.rescore"


@dataclass(frozen=True)
class ScoringRequest:
    """Score this lead because of ``cause`` (an event detail-type such as ``lead.message_received``)."""

    tenant_id: str
    lead_id: str
    cause: str


def parse_scoring_message(body: str) -> ScoringRequest:
    """Read a scoring-queue message: an EventBridge event (``detail-type`` + ``detail``) as the rule
    delivers it, or the same shape written by the nightly fan-out.

    Raises:
        ValueError: not JSON, or no tenant_id/lead_id in ``detail``.
    """
    event = json.loads(body)
    detail = event.get("detail") or {}
    tenant, lead = detail.get("tenant_id"), detail.get("lead_id")
    if not isinstance(tenant, str) or not isinstance(lead, str):
        raise ValueError("scoring message has no detail.tenant_id / detail.lead_id")
    return ScoringRequest(tenant_id=tenant, lead_id=lead, cause=str(event.get("detail-type") or "unknown"))


class ScoringService:
    """Computes engagement scores and stores them with a history entry when they change."""

    def __init__(
        self, leads: LeadRepository, events: EventPublisher, scoring_queue: CommandQueue | None = None
    ):
        self._leads = leads
        self._events = events
        self._queue = scoring_queue

    def rescore(self, request: ScoringRequest) -> ScoreResult | None:
        """Score one lead now. Returns the result, or None when the lead no longer exists.

        Writes only when score, grade or breakdown changed (or the lead was never scored), and then
        publishes ``lead.score_changed`` (and ``lead.grade_changed`` when the grade moved).
        """
        try:
            lead = self._leads.get_lead(request.tenant_id, request.lead_id)
        except LeadNotFoundError:
            log.info("lead %s deleted before scoring", request.lead_id)
            return None
        now = utc_now()
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
        data = {
            "score": result.score,
            "grade": str(result.grade),
            "previous_score": lead.score,
            "previous_grade": str(lead.grade) if lead.grade else None,
            "cause": request.cause,
        }
        changed = [
            (LeadEventType.SCORE_CHANGED, lead.score != result.score),
            (LeadEventType.GRADE_CHANGED, lead.grade != result.grade),
        ]
        events = [
            LeadEvent(
                type=kind,
                tenant_id=request.tenant_id,
                lead_id=request.lead_id,
                occurred_at=iso(now),
                data=data,
            )
            for kind, moved in changed
            if moved
        ]
        if events:
            self._events.publish(events)
        return result

    def fan_out_nightly(self) -> int:
        """Queue every lead of every tenant for re-scoring (decay moves scores even without events).

        Returns the number of leads queued. Messages have the EventBridge shape with detail-type
        ``lead.rescore`` so the Scoring worker reads both sources the same way.
        """
        if self._queue is None:
            raise RuntimeError("fan-out needs the scoring queue")
        batch: list[str] = []
        count = 0
        for tenant_id, lead_id in self._leads.iter_lead_ids():
            batch.append(
                json.dumps(
                    {
                        "detail-type": RESCORE_DETAIL_TYPE,
                        "source": "leadtide.scheduler",
                        "detail": {"tenant_id": tenant_id, "lead_id": lead_id},
                    }
                )
            )
            count += 1
            if len(batch) == 10:
                self._queue.send(batch)
                batch = []
        if batch:
            self._queue.send(batch)
        return count


@lru_cache(maxsize=1)
def get_scoring_service() -> ScoringService:
    """The process-wide scoring service (built on first use)."""
    from leadtide.dal.factory import get_event_publisher, get_lead_repository, get_scoring_queue

    return ScoringService(get_lead_repository(), get_event_publisher(), get_scoring_queue())
