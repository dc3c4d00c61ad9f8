"""The scoring parts a lead profile carries: a grade set by hand and the factors of its ML prediction.

Kept apart from :mod:`leadtide.models.scoring` (which re-exports both) so that reading or writing a lead
does not build every scoring-model schema: the leads API's cold start imports only this.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from leadtide.models.common import Grade


class PredictionFactor(BaseModel):
    """One explanation of a prediction: ``field`` (e.g. ``"source_channel"``, ``"events.email_clicked"``)
    with the lead's ``value`` moved the probability by ``impact`` (signed; the unit is the predictor's own,
    e.g. a log-odds contribution or a SHAP-style value, larger magnitude = stronger)."""

    model_config = ConfigDict(frozen=True)

    field: str = Field(description="lead field or derived feature name")
    label: str = Field(description="plain-language explanation shown to users")
    value: str | None = Field(default=None, description="the lead's value of the feature, as text")
    impact: float = Field(description="signed contribution; positive raises the probability")


class GradeOverride(BaseModel):
    """A grade set by hand; it sticks (re-scoring keeps updating the score) until cleared."""

    grade: Grade
    reason: str
    by: str
    at: datetime
