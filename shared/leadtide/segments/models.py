"""Dynamic segments: request and response shapes of ``/segments``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadtide.models.common import Count
from leadtide.models.leads import LeadSummary

RULES_DESCRIPTION = (
    'condition tree: {"all"|"any": [...]}, {"not": {...}} or {"field", "op", "value"} '
    "(see leadtide.conditions)"
)


class SegmentStatus(StrEnum):
    """``building``: the initial (or post-change) membership is being computed; ``ready``: complete."""

    BUILDING = "building"
    READY = "ready"


class Segment(BaseModel):
    """A dynamic segment: the leads matching ``include`` and not ``exclude``, kept current as leads change."""

    segment_id: str
    name: str
    description: str | None = None
    include: dict[str, Any]
    exclude: dict[str, Any] | None = None
    version: int = Field(description="moves on every rule change")
    status: SegmentStatus
    count: int = Field(
        description="number of member leads the caller may see (a rep: their own and unassigned ones)"
    )
    time_dependent: bool = Field(description="uses relative dates: re-evaluated nightly too")
    fields: list[str] = Field(description="the fields the rules read")
    created_by: str
    created_at: datetime
    updated_at: datetime
    built_at: datetime | None = None


class SegmentCollection(BaseModel):
    """``GET /segments``."""

    items: list[Segment]


class SegmentCreate(BaseModel):
    """Body of ``POST /segments``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    include: dict[str, Any] = Field(description=RULES_DESCRIPTION)
    exclude: dict[str, Any] | None = Field(default=None, description="leads matching this are left out")


class SegmentUpdate(BaseModel):
    """Body of ``PATCH /segments/{segment_id}``: only fields sent change; ``exclude: null`` removes it.
    A rule change moves the version and rebuilds the membership in the background."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    include: dict[str, Any] | None = None
    exclude: dict[str, Any] | None = None


class SegmentPreviewRequest(BaseModel):
    """Body of ``POST /segments/preview``: rules to try without saving."""

    model_config = ConfigDict(extra="forbid")

    include: dict[str, Any] = Field(description=RULES_DESCRIPTION)
    exclude: dict[str, Any] | None = None
    sample_size: Count = Field(default=10, ge=0, le=50)


class SegmentPreview(BaseModel):
    """How many leads the rules match now, a sample of them (newest first), and what it cost - all over the
    leads the caller may see (a rep: their own and unassigned ones)."""

    count: int
    sample: list[LeadSummary]
    evaluated: int = Field(description="leads evaluated (those the caller may see)")
    elapsed_ms: float
