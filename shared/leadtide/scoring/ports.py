"""The port through which predictive (ML) scoring plugs into the scoring service.

The ML side (``leadtide.ml``) implements :class:`ConversionPredictor` and exposes a factory
``leadtide.ml.<module>.get_conversion_predictor() -> ConversionPredictor | None``; the scoring service
imports it lazily and runs without ML when the import fails or the factory returns None.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from leadtide.models.scoring import Prediction, PredictionFactor

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
