"""The Training function's logic: train a queued model version on the tenant's converted/lost leads, ship it
to S3, register it with its metrics, compare it with the champion; fan out the scheduled retraining; record
outcomes of scored leads; train the starter model.

Messages (TrainingQueue, or the schedule's input):

* ``{"kind": "train", "tenant_id", "model_version", "scoring_model_id"}`` - train one queued version.
* ``{"kind": "retrain_all"}`` - queue a new version for every registered tenant with enough outcomes.
* an EventBridge ``lead.updated`` event whose ``detail.data.changed`` has ``status`` - record the outcome.

Training data: status Converted = 1, Lost = 0; features from :func:`leadtide.ml.features.lead_record` as
of the lead's ``updated_at`` (about when it closed, so nothing after the close is seen); timestamps =
``created_at`` (time-based held-out split). Known limitation: the snapshot is taken *at* the close, not at
the moments the lead was scored while open, so the timing features (``days_since_created``,
``days_since_last_activity``, the decayed ``rule_score``) carry how and when the outcome came (a lead
converted on a reply has a fresh last activity; a lead closed as lost after going quiet has a stale one).
Point-in-time snapshots - the features logged when the lead was last scored before it closed - would
remove that; they are not recorded yet.

Champion/challenger evidence: when the tenant has a champion, the candidate is also fitted on the older
80 % of leads only (``train_model(refit=False)``), and both it and the champion score the same most recent
20 % (the held-out outcomes). The ROC AUC difference gets a paired bootstrap 95 % interval (resampling
leads, both models' scores kept together; Efron & Tibshirani 1993, ch. 13); ``better`` when the interval
lies above 0. The champion may have been trained on part of that window, which favours the champion:
the rule errs towards keeping it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from leadtide.leads.ports import LeadRepository
from leadtide.ml.ports import (
    STARTER_SCOPE,
    ArtifactStore,
    ModelRegistryRepository,
    TrainingDataSource,
    artifact_key,
)
from leadtide.ml.registry import (
    MIN_CONVERTED,
    MIN_LOST,
    ModelRegistryService,
    new_model_version,
)
from leadtide.models.common import LeadStatus, utc_now
from leadtide.models.errors import InsufficientTrainingDataError, ModelVersionNotFoundError
from leadtide.models.leads import Lead
from leadtide.models.ml import ModelMetrics, ModelOrigin, ModelPointer, ModelStatus, ModelVersion
from leadtide.ports import CommandQueue

log = logging.getLogger(__name__)

BOOTSTRAP_RESAMPLES = 1000
MIN_HOLDOUT_CLASS = 5
"""The comparison needs this many converted and lost leads in the held-out window."""
_TRAINABLE = {str(ModelStatus.QUEUED), str(ModelStatus.TRAINING), str(ModelStatus.FAILED)}


# ------------------------------------------------------------------------------------------------ data
def infer_custom_field_types(leads: Iterable[Lead], max_categories: int = 50) -> dict[str, str]:
    """Custom field name -> type for :func:`lead_feature_spec`, inferred from the values (numbers ->
    ``number``, booleans -> ``boolean``, strings with at most ``max_categories`` distinct values ->
    ``select``, other strings -> ``text``; lists -> ``multi_select``). Fields set on < 5 % of leads are
    left out."""
    seen: dict[str, list[Any]] = {}
    total = 0
    for lead in leads:
        total += 1
        for name, value in (lead.custom_fields or {}).items():
            if value is not None and value != "":
                seen.setdefault(name, []).append(value)
    types: dict[str, str] = {}
    for name, values in seen.items():
        if len(values) < max(1, 0.05 * total):
            continue
        if all(isinstance(v, bool) for v in values):
            types[name] = "boolean"
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            types[name] = "number"
        elif all(isinstance(v, list) for v in values):
            types[name] = "multi_select"
        elif len({str(v) for v in values}) <= max_categories:
            types[name] = "select"
        else:
            types[name] = "text"
    return dict(sorted(types.items()))


def custom_field_types_of(spec: Any) -> dict[str, str]:
    """The custom field types a feature spec was built from (``custom.<name>`` fields, by kind)."""
    kind_type = {"numeric": "number", "boolean": "boolean", "categorical": "select", "text": "text"}
    return {
        name[len("custom.") :]: kind_type[spec.kind_of(name)]
        for name in spec.columns()
        if name.startswith("custom.")
    }


def without_empty_fields(spec: Any, records: Sequence[Mapping[str, Any]]) -> Any:
    """The spec minus numeric and boolean fields that no record has a value for (e.g. ``rule_score`` before
    any lead was scored): a column with no value at all carries nothing, and scikit-learn's histogram
    binning rejects it."""
    from dataclasses import replace

    def present(name: str) -> bool:
        for record in records:
            value = record.get(name)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                return True
        return False

    return replace(
        spec,
        numeric=[f for f in spec.numeric if present(f)],
        boolean=[f for f in spec.boolean if present(f)],
    )


def training_set(
    leads: Sequence[Lead], custom_field_types: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[int], list[datetime]]:
    """(records, labels, timestamps) for :func:`train_model` from closed leads (see the module docstring)."""
    from leadtide.ml.features import lead_record

    records, labels, stamps = [], [], []
    for lead in leads:
        dump = lead.model_dump(mode="json")
        records.append(lead_record(dump, as_of=lead.updated_at, custom_field_types=custom_field_types))
        labels.append(1 if lead.status == LeadStatus.CONVERTED else 0)
        stamps.append(lead.created_at)
    return records, labels, stamps


# ------------------------------------------------------------------------------------------------ comparison
def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC from mid-ranks (Mann-Whitney U), the same value as scikit-learn's roc_auc_score, without its
    input checks (the bootstrap calls it thousands of times)."""
    from scipy.stats import rankdata

    positives = int(y.sum())
    negatives = len(y) - positives
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def paired_bootstrap_auc(
    labels: Sequence[int],
    p_champion: Sequence[float] | np.ndarray,
    p_candidate: Sequence[float] | np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare two models' ROC AUC on the same leads with a paired bootstrap.

    Each resample draws leads with replacement and recomputes both AUCs on the same draw (resamples with
    one class only are skipped). Returns ``n``, ``positives``, ``roc_auc_champion``, ``roc_auc_candidate``,
    ``delta`` (candidate - champion), the percentile 95 % interval ``ci_low``/``ci_high`` and ``better``
    (``ci_low > 0``).

    Raises:
        ValueError: a class is absent, or the sequences differ in length.
    """
    y = np.asarray(labels, dtype=int)
    a = np.asarray(p_champion, dtype=float)
    b = np.asarray(p_candidate, dtype=float)
    if not (len(y) == len(a) == len(b)):
        raise ValueError("labels and both score sequences must have the same length")
    if y.min() == y.max():
        raise ValueError("the held-out leads need both converted and lost leads")
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        deltas.append(_auc(yy, b[idx]) - _auc(yy, a[idx]))
    auc_a, auc_b = _auc(y, a), _auc(y, b)
    low, high = (float(v) for v in np.percentile(deltas, [2.5, 97.5]))
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "roc_auc_champion": round(auc_a, 4),
        "roc_auc_candidate": round(auc_b, 4),
        "delta": round(auc_b - auc_a, 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
        "resamples": len(deltas),
        "better": bool(low > 0),
    }


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def metrics_of(trained: Any, labels: Sequence[int]) -> ModelMetrics:
    """Registry metrics from a ``TrainedModel`` (held-out ROC AUC, PR AUC, Brier, ECE; rows; positives)."""
    report = trained.metrics
    return ModelMetrics(
        roc_auc=_finite(report.roc_auc),
        pr_auc=_finite(report.pr_auc),
        brier=_finite(report.brier),
        ece=_finite(report.ece),
        rows=int(trained.training_rows),
        positives=int(sum(labels)),
        test_rows=int(report.test_rows),
        split=str(report.split),
    )


# ------------------------------------------------------------------------------------------------ the job
class TrainingJob:
    """Runs training messages (see the module docstring).

    Args:
        registry, artifacts, data: the ports (DynamoDB registry, S3 artifacts, labelled leads).
        leads: lead repository (dashboard counters for the retraining fan-out; outcomes).
        training_queue: where the fan-out queues ``train`` messages.
        loader: artifact bytes -> serving model (:func:`leadtide.ml.serving.load_serving_model`).
    """

    def __init__(
        self,
        registry: ModelRegistryRepository,
        artifacts: ArtifactStore,
        data: TrainingDataSource,
        leads: LeadRepository,
        training_queue: CommandQueue | None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ):
        self._registry = registry
        self._artifacts = artifacts
        self._data = data
        self._leads = leads
        self._clock = clock
        self._service = ModelRegistryService(registry, leads, training_queue, clock=clock)

    @property
    def service(self) -> ModelRegistryService:
        """The registry service over the same ports."""
        return self._service

    # ---------------------------------------------------------------- dispatch
    def handle(self, message: Mapping[str, Any]) -> Any:
        """Run one message (train / retrain_all / lead.updated event). Raises ValueError for an unknown one."""
        kind = message.get("kind")
        if kind == "train":
            return self.train(
                str(message["tenant_id"]),
                str(message["model_version"]),
                str(message.get("scoring_model_id") or "default"),
            )
        if kind == "retrain_all":
            return self.retrain_all()
        if message.get("detail-type") == "lead.updated":
            detail = message.get("detail") or {}
            return self._service.record_outcome(str(detail["tenant_id"]), str(detail["lead_id"]))
        raise ValueError(f"unknown training message {str(message)[:200]}")

    # ---------------------------------------------------------------- training
    def train(self, tenant_id: str, model_version: str, scoring_model_id: str) -> ModelVersion:
        """Train the queued version (idempotent: a version already trained is returned as it is).

        On too little data the version is marked ``failed`` with the reason (no retry can help); on any
        other error it is marked ``failed`` and the error re-raised so SQS retries it (a retry may train it).
        """
        try:
            version = self._registry.get_version(tenant_id, model_version)
        except ModelVersionNotFoundError:
            now = self._clock()
            version = ModelVersion(
                tenant_id=tenant_id,
                model_version=model_version,
                scoring_model_id=scoring_model_id,
                status=ModelStatus.QUEUED,
                created_at=now,
                updated_at=now,
            )
            self._registry.create_version(tenant_id, version)
        if str(version.status) not in _TRAINABLE:
            return version
        version = self._save(tenant_id, version, status=ModelStatus.TRAINING, error=None)
        try:
            return self._train(tenant_id, version)
        except InsufficientTrainingDataError as err:
            return self._save(tenant_id, version, status=ModelStatus.FAILED, error=err.message)
        except Exception as err:  # job boundary: record why the version failed, re-raise so SQS retries
            self._save(
                tenant_id, version, status=ModelStatus.FAILED, error=f"{type(err).__name__}: {err}"[:500]
            )
            raise

    def _save(self, scope: str, version: ModelVersion, **changes: Any) -> ModelVersion:
        updated = version.model_copy(update={**changes, "updated_at": self._clock()})
        self._registry.save_version(scope, updated)
        return updated

    def _train(self, tenant_id: str, version: ModelVersion) -> ModelVersion:
        from leadtide.ml.features import lead_feature_spec
        from leadtide.ml.serving import package as package_model
        from leadtide.ml.training import train_model

        leads = list(self._data.labelled_leads(tenant_id))
        types = infer_custom_field_types(leads)
        spec = lead_feature_spec(types)
        records, labels, stamps = training_set(leads, types)
        spec = without_empty_fields(spec, records)
        trained = train_model(records, labels, spec, timestamps=stamps)
        key = artifact_key(tenant_id, version.model_version)
        self._artifacts.put(
            key,
            package_model(trained),
            metadata={"tenant": tenant_id, "model-version": version.model_version},
        )
        pointer = self._registry.get_pointer(tenant_id)
        comparison = None
        if pointer.champion:
            comparison = self._compare(tenant_id, pointer.champion, leads, records, labels, stamps, spec)
        ready = self._save(
            tenant_id,
            version,
            status=ModelStatus.READY,
            metrics=metrics_of(trained, labels),
            features=spec.columns(),
            date_from=min(stamps),
            date_to=max(stamps),
            artifact_key=key,
            library_versions=dict(trained.library_versions),
            comparison=comparison,
        )
        if pointer.champion is None:
            ready = self._make_first_champion(tenant_id, ready, pointer)
        log.info("trained %s for %s: %s", version.model_version, tenant_id, ready.metrics)
        return ready

    def _make_first_champion(self, scope: str, version: ModelVersion, pointer: ModelPointer) -> ModelVersion:
        from leadtide.ml.ports import PointerConflictError

        try:
            self._registry.save_pointer(
                scope,
                ModelPointer(champion=version.model_version, updated_by="training"),
                expected_revision=pointer.revision,
            )
        except PointerConflictError:
            return version  # another version became champion meanwhile: this one stays ready
        now = self._clock()
        return self._save(
            scope,
            version,
            status=ModelStatus.CHAMPION,
            promoted_at=now,
            promotion={"reason": "first model of the tenant"},
        )

    def _compare(
        self,
        tenant_id: str,
        champion_version: str,
        leads: Sequence[Lead],
        records: Sequence[Mapping[str, Any]],
        labels: Sequence[int],
        stamps: Sequence[datetime],
        spec: Any,
    ) -> dict[str, Any]:
        from leadtide.ml.evaluation import split
        from leadtide.ml.features import records_to_matrix
        from leadtide.ml.serving import load_serving_model
        from leadtide.ml.training import train_model

        base = {"champion": champion_version, "method": "paired bootstrap of ROC AUC, 95 % percentile CI"}
        try:
            champion = self._registry.get_version(tenant_id, champion_version)
            model = load_serving_model(
                self._artifacts.get(champion.artifact_key or artifact_key(tenant_id, champion_version))
            )
            _, test_idx = split(records, labels, stamps)
            y = [labels[i] for i in test_idx]
            if min(sum(y), len(y) - sum(y)) < MIN_HOLDOUT_CLASS:
                return {
                    **base,
                    "error": f"too few held-out outcomes to compare ({sum(y)} converted, "
                    f"{len(y) - sum(y)} lost; need {MIN_HOLDOUT_CLASS} of each)",
                }
            held = train_model(records, labels, spec, timestamps=stamps, refit=False)
            p_candidate = held.pipeline.predict_proba(
                records_to_matrix([records[i] for i in test_idx], spec)
            )[:, 1]
            window = [leads[i] for i in test_idx]
            p_champion = model.probabilities(
                [lead.model_dump(mode="json") for lead in window], as_of=[lead.updated_at for lead in window]
            )
            result = paired_bootstrap_auc(y, p_champion, p_candidate)
        except Exception as err:  # a comparison problem must not lose the trained model
            log.exception("comparison with champion %s failed", champion_version)
            return {**base, "error": f"comparison failed: {type(err).__name__}: {err}"[:300]}
        return {**base, **result, "window_from": min(stamps[i] for i in test_idx).isoformat()}

    # ---------------------------------------------------------------- fan-out
    def retrain_all(self) -> int:
        """Queue a new version for every registered tenant with at least MIN_CONVERTED converted and
        MIN_LOST lost leads and no training already queued or running. Returns how many were queued."""
        queued = 0
        for tenant_id, scoring_model_id in self._registry.iter_tenants():
            converted, lost = self._service.outcome_counts(tenant_id)
            if converted < MIN_CONVERTED or lost < MIN_LOST:
                continue
            latest = self._registry.list_versions(tenant_id, limit=1)
            if latest and latest[0].status in (ModelStatus.QUEUED, ModelStatus.TRAINING):
                continue
            version = self._service.create_queued_version(
                tenant_id, scoring_model_id or "default", requested_by="schedule"
            )
            self._service.enqueue_training(tenant_id, version.model_version, version.scoring_model_id)
            queued += 1
        return queued

    # ---------------------------------------------------------------- starter
    def train_starter(self, leads: Sequence[Lead], *, source: str) -> ModelVersion:
        """Train the shared starter model on closed leads from public data (generic lead fields only: a new
        tenant has none of the source's custom fields), store it under ``models/_starter/`` and make it the
        starter champion.

        Raises:
            InsufficientTrainingDataError: too few converted or lost leads.
        """
        from leadtide.ml.features import lead_feature_spec
        from leadtide.ml.serving import package as package_model
        from leadtide.ml.training import train_model

        spec = lead_feature_spec({})
        records, labels, stamps = training_set(leads, {})
        spec = without_empty_fields(spec, records)
        trained = train_model(records, labels, spec, timestamps=stamps)
        now = self._clock()
        model_version = new_model_version(now)
        key = artifact_key(STARTER_SCOPE, model_version)
        self._artifacts.put(
            key, package_model(trained), metadata={"tenant": "_starter", "model-version": model_version}
        )
        version = ModelVersion(
            tenant_id="_starter",
            model_version=model_version,
            scoring_model_id="starter",
            status=ModelStatus.CHAMPION,
            origin=ModelOrigin.STARTER,
            metrics=metrics_of(trained, labels),
            features=spec.columns(),
            date_from=min(stamps),
            date_to=max(stamps),
            artifact_key=key,
            library_versions=dict(trained.library_versions),
            promotion={"reason": f"starter model trained on {source}"},
            promoted_at=now,
            created_at=now,
            updated_at=now,
        )
        self._registry.create_version(STARTER_SCOPE, version)
        pointer = self._registry.get_pointer(STARTER_SCOPE)
        self._registry.save_pointer(
            STARTER_SCOPE,
            ModelPointer(champion=model_version, updated_by="starter"),
            expected_revision=pointer.revision,
        )
        return version


def parse_training_message(body: str) -> dict[str, Any]:
    """A TrainingQueue message body as a dict. Raises ValueError when it is not a JSON object."""
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("training message is not a JSON object")
    return message
