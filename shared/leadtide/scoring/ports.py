"""Ports of scoring: the store of scoring models, engagement records and scores (:class:`ScoringStore`,
DynamoDB in :mod:`leadtide.dal.scoring_models`, in-memory fakes in the tests), and the port through which
predictive (ML) scoring plugs in (:class:`ConversionPredictor`).

The ML side (``leadtide.ml``) implements :class:`ConversionPredictor`; the wiring hands it to the scoring
service, or None where ``leadtide.ml``'s dependencies are not installed (rules scoring runs without ML).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadtide.models.scoring import Prediction, PredictionFactor, ScoreHistoryEntry, ScoringModel

__all__ = ["ConversionPredictor", "Prediction", "PredictionFactor"]


class ConversionPredictor(ABC):
    """Predicts, per lead, the probability that it converts.

    ``leads`` are plain mappings: the lead profile as ``Lead.model_dump(mode="json")`` (lead_id,
    source_channel, status, job_title, company, email, tags, custom_fields, created_at, ...) plus

    * ``"fit_score"`` / ``"engagement_score"`` (float, the rules engine's group totals this run),
    * ``"behaviour_counts"``: ``{event_type: occurrences within the decay horizon}``,
    * ``"last_event_at"``: ISO-8601 time of the most recent tracked event or None.

    Called once per page of leads (up to a few hundred) by the batch re-scoring path, and with a single
    lead by the per-event path; implementations should vectorise.
    """

    @abstractmethod
    def predict(self, tenant_id: str, leads: Sequence[Mapping[str, Any]]) -> list[Prediction | None]:
        """One result per input lead, same order; None where no prediction is available (no trained
        model for the tenant, too little data, ...). Must not raise for a single bad lead."""


MAX_OCCURRENCES_PER_TYPE = 100


@dataclass
class ScoringInput:
    """What scoring reads for one lead: the profile as a dict (``Lead`` field names, Python values) and
    the behaviour occurrences (event type -> epoch seconds) with all-time counts."""

    lead: dict[str, Any]
    occurrences: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    last_event_at: datetime | None = None


@dataclass(frozen=True)
class Occurrence:
    """One behaviour occurrence to remember for scoring: ``event_type`` at ``at``; ``dedupe_id`` (event id or
    provider message id) makes recording it idempotent."""

    event_type: str
    at: datetime
    dedupe_id: str


def merge_occurrences(
    occ: dict[str, list[list[Any]]],
    counts: dict[str, int],
    new: Sequence[Occurrence],
    keep: int = MAX_OCCURRENCES_PER_TYPE,
) -> int:
    """Add ``new`` occurrences to ``occ``/``counts`` in place (skipping dedupe ids already present), keep the
    newest ``keep`` per type, oldest first. Returns how many were added."""
    added = 0
    for o in new:
        entries = occ.setdefault(o.event_type, [])
        if any(e[1] == o.dedupe_id for e in entries):
            continue
        entries.append([round(o.at.timestamp(), 3), o.dedupe_id])
        counts[o.event_type] = int(counts.get(o.event_type, 0)) + 1
        added += 1
    for event_type, entries in occ.items():
        entries.sort(key=lambda e: e[0])
        if len(entries) > keep:
            del entries[: len(entries) - keep]
        occ[event_type] = entries
    return added


class ScoringStore(ABC):
    """Scoring models, the tenant's default pointer, behaviour occurrences, scores and score history."""

    # ------------------------------------------------------------------ models
    @abstractmethod
    def list_models(self, tenant_id: str) -> list[ScoringModel]:
        """Every model of the tenant (``is_default`` set on the active default)."""

    @abstractmethod
    def get_model(self, tenant_id: str, model_id: str) -> ScoringModel:
        """Raises ScoringModelNotFoundError (404)."""

    @abstractmethod
    def put_model(self, model: ScoringModel, *, expected_version: int | None) -> None:
        """Create (``expected_version`` None: must not exist) or replace (stored version must equal it).

        Raises:
            ConflictError (409): the model changed meanwhile (or already exists).
        """

    @abstractmethod
    def delete_model(self, tenant_id: str, model_id: str) -> None:
        """Raises ScoringModelNotFoundError; ConflictError when it is the active default."""

    @abstractmethod
    def default_model_id(self, tenant_id: str) -> str | None:
        """The tenant's active default model, or None (built-in engagement scoring)."""

    @abstractmethod
    def set_default_model(self, tenant_id: str, model_id: str) -> None:
        """Make ``model_id`` the active default (it must exist). Raises ScoringModelNotFoundError."""

    # ------------------------------------------------------------------ scoring inputs
    @abstractmethod
    def load_for_scoring(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, ScoringInput]:
        """Profiles + behaviour occurrences of up to a few hundred leads (absent leads are left out)."""

    @abstractmethod
    def record_occurrences(self, tenant_id: str, lead_id: str, occurrences: Sequence[Occurrence]) -> int:
        """Remember occurrences on the lead's engagement record (idempotent by dedupe id) and refresh the
        profile's activity summary (``last_engaged``/``engaged_counts``); returns how many were new. A
        deleted lead records nothing."""

    # ------------------------------------------------------------------ scores
    @abstractmethod
    def save_score(
        self, tenant_id: str, lead_id: str, values: dict[str, Any], history: ScoreHistoryEntry
    ) -> None:
        """Set the lead's scoring attributes (``values``: score, grade, computed_grade, score_breakdown,
        scored_at, fit_score, engagement_score, conversion_probability, prediction_factors,
        prediction_model_version, scoring_model_id, grade_override; None removes) and append ``history``,
        in one transaction. Raises LeadNotFoundError."""

    @abstractmethod
    def list_history(
        self, tenant_id: str, lead_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ScoreHistoryEntry], str | None]:
        """Score history newest first, one page. Raises InvalidRequestError for a bad cursor."""

    @abstractmethod
    def iter_lead_id_pages(self, tenant_id: str | None, page_size: int) -> Iterator[tuple[str, list[str]]]:
        """(tenant_id, up to ``page_size`` lead ids of that tenant) for one tenant, or every tenant (None)."""
