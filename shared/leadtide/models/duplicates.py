"""Duplicate detection and lead merges: stored shapes and the API's request/response models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadtide.models.leads import LEAD_ID_PATTERN, Lead, LeadSummary


class PairStatus(StrEnum):
    """Review state of a candidate duplicate pair."""

    OPEN = "open"
    DISMISSED = "dismissed"  # "not a duplicate": kept dismissed across rescans
    MERGED = "merged"


class DuplicatePair(BaseModel):
    """A stored candidate pair; ``pair_id`` is ``<lead_a>-<lead_b>`` (lead_a < lead_b)."""

    pair_id: str
    lead_a: str
    lead_b: str
    score: int = Field(ge=0, le=100, description="100 = same email, phone or Instagram account")
    reasons: list[str]
    status: PairStatus
    detected_at: datetime
    updated_at: datetime
    updated_by: str | None = None


class DuplicatePairView(DuplicatePair):
    """A pair as ``GET /duplicates`` returns it: both leads' summaries beside the score and reasons."""

    lead_a_summary: LeadSummary
    lead_b_summary: LeadSummary


class DuplicatePage(BaseModel):
    """One page of candidate pairs, best score first; pass ``next_cursor`` back as ``cursor``."""

    items: list[DuplicatePairView]
    next_cursor: str | None = None


class ScanAccepted(BaseModel):
    """``POST /duplicates/scan``: the scan was queued (results replace the open pairs when it ends)."""

    status: Literal["queued"] = "queued"
    tenant_id: str


MergeRule = Literal["keep_most_recent", "keep_highest_score", "keep_survivor"]
MERGEABLE_FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "instagram_id",
    "company",
    "job_title",
    "status",
    "owner_id",
    "referral",
    "source_channel_id",
)


class MergeRequest(BaseModel):
    """Body of ``POST /leads/merge``.

    ``fields`` picks, per field, the lead to take the value from (the survivor or one of ``merged_ids``);
    other fields follow ``rule``: ``keep_survivor`` (default), ``keep_most_recent`` (the most recently
    active lead's value first) or ``keep_highest_score``. An empty value never overwrites a non-empty one;
    tags and custom fields are united, message counts summed.
    """

    model_config = ConfigDict(extra="forbid")

    survivor_id: str = Field(pattern=LEAD_ID_PATTERN)
    merged_ids: list[str] = Field(min_length=1, max_length=9)
    fields: dict[str, str] = Field(default_factory=dict, description="field name -> lead id to take it from")
    rule: MergeRule = "keep_survivor"

    @field_validator("merged_ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        import re

        bad = [i for i in v if not re.match(LEAD_ID_PATTERN, i)]
        if bad:
            raise ValueError(f"not lead ids: {bad}")
        if len(set(v)) != len(v):
            raise ValueError("merged_ids repeat a lead")
        return v

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(MERGEABLE_FIELDS))
        if unknown:
            raise ValueError(f"fields {unknown} cannot be chosen; choose among {list(MERGEABLE_FIELDS)}")
        return v


class MergeStatus(StrEnum):
    """Journal state of a merge (see docs/decisions.md, "Merges are journaled")."""

    PENDING = "pending"  # record written, nothing changed yet
    PROFILES_MERGED = "profiles_merged"  # survivor written, merged profiles deleted, identities repointed
    MOVING = "moving"  # timeline entries being re-keyed under the survivor (chunked, idempotent)
    COMPLETED = "completed"
    UNDOING = "undoing"  # profiles restored, timeline entries moving back
    UNDONE = "undone"
    ABANDONED = "abandoned"  # the first transaction never committed: nothing changed


class MergeRecord(BaseModel):
    """A merge as ``GET /merges`` and ``GET /merges/{id}`` return it (before-images stay server-side)."""

    merge_id: str
    tenant_id: str
    status: MergeStatus
    survivor_id: str
    merged_ids: list[str]
    rule: MergeRule
    fields: dict[str, str] = Field(default_factory=dict)
    merged_names: dict[str, str | None] = Field(default_factory=dict, description="merged lead id -> name")
    created_by: str
    created_at: datetime
    completed_at: datetime | None = None
    moved_activities: int = 0
    undone_by: str | None = None
    undone_at: datetime | None = None
    undo_notes: list[str] = Field(default_factory=list, description="what undo kept from after the merge")
    list_memberships_moved: bool = False


class MergeRecordPage(BaseModel):
    """One page of merge history, newest first."""

    items: list[MergeRecord]
    next_cursor: str | None = None


class MergeDetail(MergeRecord):
    """``GET /merges/{id}``: the record plus the profiles before the merge."""

    survivor_before: Lead | None = None
    merged_before: list[Lead] = Field(default_factory=list)


class MergeResult(BaseModel):
    """``POST /leads/merge`` and ``POST /merges/{id}/undo``: the merge record and the surviving profile."""

    merge_id: str
    status: MergeStatus
    survivor: Lead
    restored: list[Lead] = Field(default_factory=list, description="undo: the merged leads, restored")


def pair_id_of(lead_a: str, lead_b: str) -> str:
    """The pair id of two leads, order-independent."""
    a, b = sorted((lead_a, lead_b))
    return f"{a}-{b}"


JsonDict = dict[str, Any]
