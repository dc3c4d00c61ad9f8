"""Which leads an export or a bulk action applies to: a :class:`LeadSelection` (exactly one selector)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadtide.models.common import ChannelType, Grade, IsoDateTime, LeadStatus, created_bounds_problem
from leadtide.models.leads import LEAD_ID_PATTERN

MAX_SELECTED_IDS = 10_000
"""Most lead ids one selection may name explicitly (use a list, segment or filter for more)."""

_SELECTORS = ("lead_ids", "list_id", "segment_id", "filter")
_LEAD_ID = re.compile(LEAD_ID_PATTERN)


class LeadFilter(BaseModel):
    """The filters of ``GET /leads``, combined with AND: status, source channel, owner (a user id, ``me``
    or ``unassigned``), grade, creation time (inclusive ISO-8601 bounds) and a search text ``q`` (name,
    email, phone or company)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: LeadStatus | None = None
    source: ChannelType | None = None
    owner: str | None = Field(default=None, min_length=1, max_length=128)
    grade: Grade | None = None
    created_from: IsoDateTime | None = None
    created_to: IsoDateTime | None = None
    q: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> LeadFilter:
        problem = created_bounds_problem(self.created_from, self.created_to)
        if problem:
            raise ValueError(problem)
        return self


class LeadSelection(BaseModel):
    """Exactly one of: ``lead_ids`` (1-10,000 lead ids), ``list_id`` (a static list), ``segment_id`` (a
    segment's current members) or ``filter`` (the ``GET /leads`` filters; ``{}`` selects every lead the
    caller can see).

    Reps only ever act on their own and unassigned leads, whichever selector they use.
    A request with none or several selectors fails validation (422 naming the selectors).
    """

    model_config = ConfigDict(extra="forbid")

    lead_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SELECTED_IDS,
        description="explicit lead ids (32 hex characters each), at most 10,000",
    )
    list_id: str | None = Field(default=None, min_length=1, max_length=64, description="a static list")
    segment_id: str | None = Field(default=None, min_length=1, max_length=64, description="a segment")
    filter: LeadFilter | None = Field(default=None, description="the GET /leads filters")

    @model_validator(mode="after")
    def _exactly_one(self) -> LeadSelection:
        given = [name for name in _SELECTORS if getattr(self, name) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of lead_ids, list_id, segment_id or filter (found: {found})")
        if self.lead_ids is not None:
            bad = [lead_id for lead_id in self.lead_ids if not _LEAD_ID.match(lead_id)]
            if bad:
                raise ValueError(f"lead_ids are 32 hex characters; not: {', '.join(bad[:5])}")
            self.lead_ids = list(dict.fromkeys(self.lead_ids))
        return self

    @property
    def kind(self) -> str:
        """Which selector is used: ``lead_ids``, ``list_id``, ``segment_id`` or ``filter``."""
        return next(name for name in _SELECTORS if getattr(self, name) is not None)

    def describe(self) -> dict[str, Any]:
        """A small JSON summary for history listings (ids are counted, not repeated)."""
        if self.lead_ids is not None:
            return {"lead_ids": len(self.lead_ids)}
        return self.model_dump(mode="json", exclude_none=True)
