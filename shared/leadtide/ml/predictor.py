"""The :class:`ConversionPredictor` the scoring worker uses: champion/challenger models from the registry.

For each tenant the predictor reads the serving pointer (champion, challenger, traffic share) at most every
``pointer_ttl_seconds`` (``MODEL_POINTER_CACHE_SECONDS``, default 60 s) and loads each model version's
artifact from S3 once per process (a version's artifact never changes; up to ``max_models`` are kept, least
recently used dropped). A lead goes to the challenger when its stable bucket (SHA-256 of tenant and lead id,
see :func:`leadtide.ml.registry.routes_to_challenger`) is below the traffic share, so the same lead is
always scored by the same version; the leads of one batch are grouped per version and scored vectorised.

Leads already Converted or Lost are not predicted again: their stored prediction (``conversion_probability``,
``prediction_model_version``, ``prediction_factors`` on the lead) is returned as it is, so re-scoring keeps
it and the outcome is recorded against the probability the lead had while it was open.

Explanations are the expensive part ((fields + 1) predictions per lead, see :mod:`leadtide.ml.explain`), so a
page gets one vectorised probability for every open lead and fresh factors only where they may have changed:
a lead is explained again when it has no stored explanation from the same model version, when its
probability moved by more than ``explain_threshold`` (default 0.02, two percentage points) from the stored
one, or on its refresh day (every ``explain_refresh_days``, default 7, on a day fixed per lead by a CRC-32 of
its id, so a seventh of the leads each night). Otherwise the stored factors are kept with the new
probability. Bound: a kept explanation is at most ``explain_refresh_days - 1`` days old and was computed for
a probability within ``explain_threshold`` of the last night's; small nightly drifts can add up between two
refresh days (at most that many times the threshold).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from leadtide.ml.ports import ArtifactStore, ModelRegistryRepository, artifact_key
from leadtide.ml.registry import TERMINAL_STATUSES, serving_version
from leadtide.models.common import utc_now
from leadtide.models.ml import ModelPointer
from leadtide.models.scoring import Prediction
from leadtide.scoring.ports import ConversionPredictor

log = logging.getLogger(__name__)

_TERMINAL = {str(s) for s in TERMINAL_STATUSES}
EXPLAIN_THRESHOLD = 0.02
"""A stored explanation is kept while the probability moved by at most this much (probability units)."""
EXPLAIN_REFRESH_DAYS = 7
"""Every lead is explained afresh at least this often (days), on a day fixed by its id."""


class RegistryConversionPredictor(ConversionPredictor):
    """Predicts with the tenant's champion (and challenger) from the model registry.

    Args:
        registry: pointer and version entries.
        artifacts: the artifact store (``model.tar.gz`` bytes by key).
        loader: artifact bytes -> serving model (default :func:`leadtide.ml.serving.load_serving_model`).
        pointer_ttl_seconds: how long a tenant's pointer is reused before it is read again.
        max_models: loaded models kept in memory.
        top_factors: factors returned each way (up / down).
        explain_threshold: keep a lead's stored explanation while its probability moved by at most this
            much (see the module docstring); a negative value explains every lead every time.
        explain_refresh_days: explain each lead afresh at least this often (days; 1 = every day, 0 = only
            when the probability moved).

    Attributes:
        explained, explanations_kept: leads explained afresh / whose stored factors were kept, so far.
    """

    def __init__(
        self,
        registry: ModelRegistryRepository,
        artifacts: ArtifactStore,
        *,
        loader: Callable[[bytes], Any] | None = None,
        pointer_ttl_seconds: float = 60.0,
        max_models: int = 16,
        top_factors: int = 3,
        monotonic: Callable[[], float] = time.monotonic,
        explain_threshold: float = EXPLAIN_THRESHOLD,
        explain_refresh_days: int = EXPLAIN_REFRESH_DAYS,
    ):
        self._registry = registry
        self._artifacts = artifacts
        self._loader = loader
        self._ttl = pointer_ttl_seconds
        self._max_models = max_models
        self._top = top_factors
        self._now = monotonic
        self._pointers: dict[str, tuple[float, ModelPointer]] = {}
        self._models: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._threshold = explain_threshold
        self._refresh_days = max(0, int(explain_refresh_days))
        self.artifact_loads = 0
        self.pointer_reads = 0
        self.explained = 0
        self.explanations_kept = 0

    def pointer(self, tenant_id: str) -> ModelPointer:
        """The tenant's pointer, read at most every ``pointer_ttl_seconds``."""
        hit = self._pointers.get(tenant_id)
        if hit and hit[0] > self._now():
            return hit[1]
        pointer = self._registry.get_pointer(tenant_id)
        self.pointer_reads += 1
        self._pointers[tenant_id] = (self._now() + self._ttl, pointer)
        return pointer

    def model(self, tenant_id: str, model_version: str) -> Any:
        """The loaded serving model of a version (from S3 on first use, then from memory)."""
        key = (tenant_id, model_version)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        version = self._registry.get_version(tenant_id, model_version)
        data = self._artifacts.get(version.artifact_key or artifact_key(tenant_id, model_version))
        loader = self._loader
        if loader is None:
            from leadtide.ml.serving import load_serving_model

            loader = load_serving_model
        loaded = loader(data)
        self.artifact_loads += 1
        self._models[key] = loaded
        while len(self._models) > self._max_models:
            self._models.popitem(last=False)
        return loaded

    def predict(self, tenant_id: str, leads: Sequence[Mapping[str, Any]]) -> list[Prediction | None]:
        """One :class:`Prediction` per lead (None: no champion, a closed lead, or the model failed on it)."""
        results: list[Prediction | None] = [None] * len(leads)
        try:
            pointer = self.pointer(tenant_id)
        except Exception:  # the ML side never stops rules scoring: no pointer, no predictions
            log.exception("cannot read the model pointer of %s", tenant_id)
            return results
        if pointer.champion is None:
            return results
        groups: dict[str, list[int]] = {}
        for i, lead in enumerate(leads):
            if str(lead.get("status") or "") in _TERMINAL:
                results[i] = stored_prediction(lead)
                continue
            version = serving_version(pointer, tenant_id, str(lead.get("lead_id") or ""))
            if version is not None:
                groups.setdefault(version, []).append(i)
        as_of = utc_now()
        for version, indices in groups.items():
            try:
                model = self.model(tenant_id, version)
            except Exception:  # one version that cannot load must not stop the others
                log.exception("cannot load model %s of %s", version, tenant_id)
                continue
            predictions = self._predict_group(model, version, [leads[i] for i in indices], as_of)
            for i, prediction in zip(indices, predictions, strict=True):
                if prediction is not None:
                    results[i] = prediction
        return results

    def _predict_group(
        self, model: Any, version: str, batch: list[Mapping[str, Any]], as_of: datetime
    ) -> list[Prediction | None]:
        """The predictions of one model version for its leads (``batch``, in order; None where the model
        failed on a lead): one vectorised page, explaining afresh only where a stored explanation cannot
        be kept (see the module docstring); lead by lead when the page as a whole fails."""
        day = as_of.toordinal()
        kept = {
            k: stored
            for k, lead in enumerate(batch)
            if (stored := self._reusable_explanation(lead, version, day)) is not None
        }

        def explain(
            k: int,
            probability: float,
            kept: dict[int, Prediction] = kept,
            threshold: float = self._threshold,
        ) -> bool:
            stored = kept.get(k)
            return stored is None or abs(probability - stored.probability) > threshold

        try:
            if hasattr(model, "score_page"):
                scored = model.score_page(batch, as_of=as_of, top=self._top, explain=explain)
            else:
                scored = model.predict(batch, as_of=as_of, top=self._top)
        except Exception:  # a model (user-trained, scikit-learn) failing on the page: lead by lead
            log.exception("batch prediction failed; scoring one lead at a time")
            scored = []
            for lead in batch:
                try:
                    scored.extend(model.predict([lead], as_of=as_of, top=self._top))
                except Exception:  # one lead the model fails on must not stop the others
                    log.warning("model %s failed on lead %s", version, lead.get("lead_id"))
                    scored.append(None)
        predictions: list[Prediction | None] = []
        for k, item in enumerate(scored):
            if item is None:
                predictions.append(None)
                continue
            probability, up, down = item
            if up is None or down is None:  # not explained afresh: the stored factors stand
                up, down = kept[k].factors_up, kept[k].factors_down
                self.explanations_kept += 1
            else:
                self.explained += 1
            predictions.append(
                Prediction(
                    probability=min(1.0, max(0.0, float(probability))),
                    model_version=version,
                    factors_up=list(up),
                    factors_down=list(down),
                )
            )
        return predictions

    def _reusable_explanation(self, lead: Mapping[str, Any], version: str, day: int) -> Prediction | None:
        """The lead's stored prediction when its explanation may be kept (same model version, factors
        stored, not the lead's refresh day, reuse enabled), else None."""
        if self._threshold < 0 or lead.get("prediction_factors") is None:
            return None
        if lead.get("prediction_model_version") != version:
            return None
        lead_id = str(lead.get("lead_id") or "")
        if self._refresh_days and (day + zlib.crc32(lead_id.encode())) % self._refresh_days == 0:
            return None
        return stored_prediction(lead)


def stored_prediction(lead: Mapping[str, Any]) -> Prediction | None:
    """The prediction a lead already carries (None when it has none or it is malformed)."""
    from leadtide.ml.registry import prediction_of
    from leadtide.models.scoring import PredictionFactor

    version, probability = prediction_of(dict(lead))
    if version is None or probability is None:
        return None
    try:
        factors = [PredictionFactor.model_validate(f) for f in lead.get("prediction_factors") or []]
        return Prediction(
            probability=probability,
            model_version=version,
            factors_up=[f for f in factors if f.impact > 0],
            factors_down=[f for f in factors if f.impact <= 0],
        )
    except ValueError:
        return None
