"""Domain events published on the Leadtide EventBridge bus (source ``leadtide.leads``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

EVENT_SOURCE = "leadtide.leads"


class LeadEventType(StrEnum):
    """EventBridge ``detail-type`` values."""

    CREATED = "lead.created"
    MESSAGE_RECEIVED = "lead.message_received"
    UPDATED = "lead.updated"
    DELETED = "lead.deleted"
    SCORE_CHANGED = "lead.score_changed"
    GRADE_CHANGED = "lead.grade_changed"
    EVENT_TRACKED = "lead.event_tracked"  # behaviour events recorded by POST /events (data: event ids/types)
    LIST_MEMBERSHIP_CHANGED = "lead.list_membership_changed"  # data: list_id, change (added|removed)
    MERGED = "lead.merged"  # lead_id = survivor; data: merge_id, merged_ids (published again on undo: undone)
    SEGMENT_ENTERED = "segment.entered"  # data: segment_id, segment_name, version, cause
    SEGMENT_EXITED = "segment.exited"  # data: segment_id, segment_name, version, cause


class LeadEvent(BaseModel):
    """The ``detail`` of a lead event. ``data`` is type-specific (e.g. the channel of a message)."""

    type: LeadEventType = Field(exclude=True)
    tenant_id: str
    lead_id: str
    occurred_at: str = Field(description="ISO-8601 UTC")
    data: dict[str, Any] = Field(default_factory=dict)
