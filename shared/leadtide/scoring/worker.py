"""What the Scoring worker does with one queue message: re-score, then let segments follow in the same hop.

A message names one lead (a lead event delivered by the ``LeadActivityToScoringRule`` rule) or a page of
lead ids (nightly fan-out, scoring-model changes). Within one SQS batch a lead is scored once, except for
causes that bring new behaviour occurrences (``ALWAYS_SCORED``). After each rescore the lead's segment
memberships are refreshed; when that moves the lead into or out of a segment that has its own scoring
model, the lead is scored once more with the model that now applies, and segments are refreshed once
more (no further round: a score that moves the lead again waits for its next event, so two segment models
cannot ping-pong a lead).

``lead.merged`` names the survivor, which its own ``lead.updated`` re-scores; the worker refreshes the
segments of the *merged* leads instead: their profiles are gone, so they leave every segment and static
list (after an undo they are back, and their own ``lead.updated`` events re-score them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadtide.models.events import LeadEventType
from leadtide.scoring.service import ScoringRequest, parse_scoring_message

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

ALWAYS_SCORED = frozenset({"lead.message_received", "lead.event_tracked"})
"""Causes scored again even when the lead was already scored in the same batch (new occurrences)."""

SEGMENT_CHANGED = "segment membership changed"
"""The score-history cause of the extra rescore after a segment change."""


def score_message(body: str, scored_in_batch: set[tuple[str, str]], wiring: Wiring) -> list[str]:
    """Score the lead or page a scoring-queue message names and refresh its segments.

    Args:
        body: the SQS message body (see :func:`leadtide.scoring.service.parse_scoring_message`).
        scored_in_batch: ``(tenant_id, lead_id)`` already scored in this SQS batch; updated in place.
        wiring: where the scoring and segment services come from.

    Returns:
        The lead ids scored (empty when the lead was already scored in this batch).

    Raises:
        ValueError: an unreadable message (the record fails and is retried, then dead-lettered).
    """
    request = parse_scoring_message(body)
    scoring, segments = wiring.scoring_service, wiring.segment_service
    if request.cause == LeadEventType.MERGED:
        merged = [i for i in request.data.get("merged_ids") or [] if isinstance(i, str) and i]
        for lead_id in merged:
            segments.refresh_lead(request.tenant_id, lead_id)
        return []
    if request.is_page:
        lead_ids = [o.lead_id for o in scoring.handle(request)]
    else:
        if (request.tenant_id, request.lead_id) in scored_in_batch and request.cause not in ALWAYS_SCORED:
            return []
        scoring.handle(request)
        lead_ids = [request.lead_id]
    for lead_id in lead_ids:
        changed = segments.refresh_lead(request.tenant_id, lead_id)
        moved = [*changed.entered, *changed.exited]
        if moved and scoring.scores_by_segment(request.tenant_id, moved):
            scoring.handle(ScoringRequest(request.tenant_id, lead_id, SEGMENT_CHANGED))
            segments.refresh_lead(request.tenant_id, lead_id)
        scored_in_batch.add((request.tenant_id, lead_id))
    return lead_ids
