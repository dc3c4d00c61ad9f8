"""Which leads an export or a bulk action applies to: a :class:`LeadSelection` (exactly one selector)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadtide.models.common import ChannelType, Grade, IsoDateTime, LeadStatus, bounds_problem
from leadtide.models.errors import UnprocessableError
from leadtide.models.leads import LEAD_ID_PATTERN, validate_tags

MAX_SELECTED_IDS = 10_000
"""Most lead ids one selection may name explicitly (use a list, segment or filter for more)."""

_SELECTORS = ("lead_ids", "list_id", "segment_id", "filter")
_LEAD_ID = re.compile(LEAD_ID_PATTERN)


MAX_FILTER_TAGS = 50
"""Most tags one filter may name (any of them matches)."""
MAX_FILTER_CUSTOM_FIELDS = 20
"""Most custom fields one filter may test (all of them must match)."""

CustomFieldFilterValue = str | bool | int | float | None


class LeadFilter(BaseModel):
    """The filters of ``GET /leads``, combined with AND, under the query parameters' own names: status,
    source channel, owner (a user id, ``me`` or ``unassigned``), grade, creation time and last activity
    time (inclusive ISO-8601 bounds), a search text ``q`` (name, email, phone or company), ``tag`` (any of
    these tags, case-insensitively) and ``custom_field`` (custom field key -> value, every pair must match;
    see :mod:`leadtide.leads.filters` for how each custom field type compares).

    The same model is the ``filter`` of a selection (lists, exports, bulk actions), so a filter that works
    on the inbox selects the same leads everywhere.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: LeadStatus | None = None
    source: ChannelType | None = None
    owner: str | None = Field(default=None, min_length=1, max_length=128)
    grade: Grade | None = None
    created_from: IsoDateTime | None = None
    created_to: IsoDateTime | None = None
    last_activity_from: IsoDateTime | None = Field(
        default=None, description="last activity (any interaction) at or after this instant"
    )
    last_activity_to: IsoDateTime | None = Field(
        default=None, description="last activity (any interaction) at or before this instant"
    )
    q: str | None = Field(default=None, max_length=100)
    tag: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_FILTER_TAGS,
        description="leads with any of these tags (case-insensitive)",
    )
    custom_field: dict[str, CustomFieldFilterValue] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_FILTER_CUSTOM_FIELDS,
        description="custom field key -> value the lead must hold, read as the field's type "
        "(empty or null: the lead has no value); every pair must match",
    )

    @field_validator("tag")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else validate_tags(v)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> LeadFilter:
        for name in ("created", "last_activity"):
            problem = bounds_problem(getattr(self, f"{name}_from"), getattr(self, f"{name}_to"), name)
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


def parse_filter(**values: Any) -> LeadFilter:
    """A :class:`LeadFilter` from query parameter values (None: not given).

    Raises:
        UnprocessableError (422): a value the filter refuses (a malformed tag, too many tags, reversed
            bounds); ``details`` name each parameter (``tag``; a rule across parameters, such as reversed
            bounds, names the first one: ``created_from``).
    """
    try:
        return LeadFilter.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        details: list[dict[str, Any]] = []
        parts: list[str] = []
        for e in err.errors():
            problem = e["msg"].removeprefix("Value error, ")
            name = str(e["loc"][0]) if e["loc"] else problem.split(" ", 1)[0]
            field = name if name in LeadFilter.model_fields else None
            details.append({"field": field, "problem": problem})
            parts.append(problem if not field or problem.startswith(field) else f"{field}: {problem}")
        shown = "; ".join(parts[:3])
        raise UnprocessableError(f"invalid filter: {shown}", details=details) from None


def selection_of(**values: Any) -> LeadSelection:
    """A :class:`LeadSelection` built from values already read (a deprecated body spelling), for a model
    validator: a problem is a ``ValueError`` naming it, so the request is a 422, never a 500.

    Raises:
        ValueError: the values do not make a valid selection (the first problem, with its field).
    """
    try:
        return LeadSelection.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ValueError(
            f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid")
        ) from None
