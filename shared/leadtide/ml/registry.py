"""The model registry's use cases: request training, list and read versions with their live performance,
promote a challenger to champion, set a challenger's traffic, route a lead to champion or challenger, and
record outcomes.

Pure Python on purpose (no numpy, no scikit-learn): the Api function runs this module and never gets the ML
layer. Training and the paired comparison run in the Training function (:mod:`leadtide.ml.train_job`).

One conversion-model lineage per tenant: the probability that a lead converts does not depend on which rules
a scoring model applies, so every scoring model with ``predictive.enabled`` blends the tenant's champion.
``scoring_model_id`` records which scoring model asked for a version (the API lists a scoring model's own
versions under ``/scoring-models/{id}/versions``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from leadtide.leads.ports import LeadRepository
from leadtide.ml.ports import STARTER_SCOPE, ModelRegistryRepository, PointerConflictError, artifact_key
from leadtide.models.auth import Principal
from leadtide.models.common import LeadStatus, Role, utc_now
from leadtide.models.errors import (
    ForbiddenError,
    InvalidRequestError,
    ModelVersionNotFoundError,
    NotEnoughOutcomesError,
    PromotionRefusedError,
    UnprocessableError,
)
from leadtide.models.ml import (
    LivePerformance,
    ModelOrigin,
    ModelOutcome,
    ModelPointer,
    ModelStatus,
    ModelVersion,
    ModelVersionList,
    PromotionResult,
    TrainAccepted,
)
from leadtide.ports import CommandQueue

log = logging.getLogger(__name__)

MIN_CONVERTED = 30
"""Converted leads a tenant needs before its own model is trained (fewer: the ROC AUC of the held-out
20 % rests on a handful of positives and says nothing)."""
MIN_LOST = 30
"""Lost leads needed, for the same reason."""
MIN_OUTCOMES_FOR_AUC = 10
"""Live ROC AUC is shown once each class has this many recorded outcomes."""
TERMINAL_STATUSES = (LeadStatus.CONVERTED, LeadStatus.LOST)

_SCORING_MODEL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def new_model_version(now: datetime | None = None) -> str:
    """A new, sortable model version id: ``<UTC yyyymmddTHHMMSSZ>-<6 random hex>``."""
    ts = (now or utc_now()).strftime("%Y%m%dT%H%M%SZ")
    return f"{ts}-{secrets.token_hex(3)}"


def lead_bucket(tenant_id: str, lead_id: str) -> int:
    """The lead's traffic bucket, 0..99: the first 8 bytes of SHA-256("<tenant>:<lead_id>") modulo 100.

    Stable across processes and deployments (unlike ``hash()``), so a lead is always scored by the same
    model while the split stays the same.
    """
    digest = hashlib.sha256(f"{tenant_id}:{lead_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def routes_to_challenger(tenant_id: str, lead_id: str, traffic_percent: int) -> bool:
    """True when the lead falls in the challenger's share (bucket < ``traffic_percent``)."""
    return traffic_percent > 0 and lead_bucket(tenant_id, lead_id) < traffic_percent


def serving_version(pointer: ModelPointer, tenant_id: str, lead_id: str) -> str | None:
    """The model version that scores this lead under ``pointer`` (None when the tenant has no champion)."""
    if pointer.champion is None:
        return None
    if pointer.challenger and routes_to_challenger(tenant_id, lead_id, pointer.traffic_percent):
        return pointer.challenger
    return pointer.champion


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC AUC by the Mann-Whitney U statistic with mid-ranks for ties (Hanley & McNeil, Radiology 1982).

    Returns None when a class is absent.
    """
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = mid
        i = j + 1
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def live_performance(outcomes: Sequence[ModelOutcome]) -> LivePerformance:
    """Running metrics of a version on its recorded outcomes: count, positives, Brier score, mean predicted
    probability, and ROC AUC once both classes have :data:`MIN_OUTCOMES_FOR_AUC` outcomes."""
    if not outcomes:
        return LivePerformance()
    labels = [o.converted for o in outcomes]
    probs = [o.probability for o in outcomes]
    positives = sum(labels)
    auc = None
    if min(positives, len(labels) - positives) >= MIN_OUTCOMES_FOR_AUC:
        auc = roc_auc(labels, probs)
    return LivePerformance(
        count=len(outcomes),
        positives=positives,
        brier=sum((p - y) ** 2 for p, y in zip(probs, labels, strict=True)) / len(labels),
        roc_auc=auc,
        mean_probability=sum(probs) / len(probs),
    )


def _check_manager(principal: Principal) -> None:
    if principal.role not in (Role.ADMIN, Role.MANAGER):
        raise ForbiddenError("only admins and managers manage predictive models")


def _check_ids(scoring_model_id: str, model_version: str | None = None) -> None:
    if not _SCORING_MODEL_ID.match(scoring_model_id):
        raise InvalidRequestError(f"invalid scoring model id {scoring_model_id!r}")
    if model_version is not None and not _VERSION.match(model_version):
        raise ModelVersionNotFoundError(f"model version {model_version} not found")


class ModelRegistryService:
    """Registry use cases for the API and the workers (see the module docstring).

    Args:
        registry: versions, pointer and outcomes.
        leads: the lead repository (outcome counts from the dashboard counters; leads for outcomes).
        training_queue: where training requests go (``{"kind": "train", ...}``).
        starter_available: tells whether a starter model is stored (``STARTER_SCOPE`` has a champion).
    """

    def __init__(
        self,
        registry: ModelRegistryRepository,
        leads: LeadRepository,
        training_queue: CommandQueue | None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ):
        self._registry = registry
        self._leads = leads
        self._queue = training_queue
        self._clock = clock

    # ------------------------------------------------------------------ training requests
    def outcome_counts(self, tenant_id: str) -> tuple[int, int]:
        """(converted, lost) leads of the tenant, from the dashboard counters (one query, no scan)."""
        summary = self._leads.dashboard(tenant_id)
        return (
            int(summary.by_status.get(str(LeadStatus.CONVERTED), 0)),
            int(summary.by_status.get(str(LeadStatus.LOST), 0)),
        )

    def starter_version(self) -> str | None:
        """The stored starter model's version, or None."""
        return self._registry.get_pointer(STARTER_SCOPE).champion

    def request_training(
        self, principal: Principal, scoring_model_id: str, *, starter: bool = False
    ) -> TrainAccepted:
        """Queue the training of a new version on the tenant's converted/lost leads (or, with ``starter``,
        adopt the shared starter model at once).

        Raises:
            ForbiddenError (403): reps.
            NotEnoughOutcomesError (422): fewer than MIN_CONVERTED converted or MIN_LOST lost leads;
                ``details`` give the counts, what is needed and whether the starter model is available.
            UnprocessableError (422): ``starter`` asked but no starter model is stored, or the tenant already
                has a champion.
        """
        _check_manager(principal)
        _check_ids(scoring_model_id)
        tenant = principal.tenant_id
        converted, lost = self.outcome_counts(tenant)
        if starter:
            version = self.adopt_starter(tenant, scoring_model_id, requested_by=principal.user_id)
            return TrainAccepted(
                model_version=version.model_version, status=version.status, converted=converted, lost=lost
            )
        if converted < MIN_CONVERTED or lost < MIN_LOST:
            starter_version = self.starter_version()
            has_champion = self._registry.get_pointer(tenant).champion is not None
            hint = (
                " The starter model (trained on public lead data) can score your leads meanwhile: "
                'POST this route with {"starter": true}.'
                if starter_version and not has_champion
                else ""
            )
            raise NotEnoughOutcomesError(
                f"training needs at least {MIN_CONVERTED} converted and {MIN_LOST} lost leads; the tenant has "
                f"{converted} converted and {lost} lost.{hint}",
                details=[
                    {"field": "converted", "problem": f"have {converted}, need {MIN_CONVERTED}"},
                    {"field": "lost", "problem": f"have {lost}, need {MIN_LOST}"},
                    {
                        "field": "starter",
                        "problem": "starter model available"
                        if starter_version
                        else "no starter model stored",
                        "starter_model_available": bool(starter_version) and not has_champion,
                    },
                ],
            )
        version = self.create_queued_version(tenant, scoring_model_id, requested_by=principal.user_id)
        self._registry.register_tenant(tenant, scoring_model_id)
        self.enqueue_training(tenant, version.model_version, scoring_model_id)
        return TrainAccepted(
            model_version=version.model_version, status=version.status, converted=converted, lost=lost
        )

    def create_queued_version(
        self,
        tenant_id: str,
        scoring_model_id: str,
        *,
        requested_by: str | None,
        origin: ModelOrigin = ModelOrigin.TENANT,
    ) -> ModelVersion:
        """Register a new version in state ``queued`` (the training function picks it up)."""
        now = self._clock()
        version = ModelVersion(
            tenant_id=tenant_id,
            model_version=new_model_version(now),
            scoring_model_id=scoring_model_id,
            status=ModelStatus.QUEUED,
            origin=origin,
            requested_by=requested_by,
            created_at=now,
            updated_at=now,
        )
        self._registry.create_version(tenant_id, version)
        return version

    def enqueue_training(self, tenant_id: str, model_version: str, scoring_model_id: str) -> None:
        """Send the training message of a queued version."""
        import json

        if self._queue is None:
            raise RuntimeError("no training queue configured")
        self._queue.send(
            [
                json.dumps(
                    {
                        "kind": "train",
                        "tenant_id": tenant_id,
                        "model_version": model_version,
                        "scoring_model_id": scoring_model_id,
                    }
                )
            ]
        )

    def adopt_starter(
        self, tenant_id: str, scoring_model_id: str, *, requested_by: str | None
    ) -> ModelVersion:
        """Register the shared starter model as the tenant's champion (its artifact is shared, not copied).

        Raises:
            UnprocessableError (422): no starter model stored, or the tenant already has a champion.
        """
        starter_version = self.starter_version()
        if starter_version is None:
            raise UnprocessableError(
                "no starter model is stored in this deployment (see `leadtide model train --starter`)",
                code="starter_model_unavailable",
            )
        pointer = self._registry.get_pointer(tenant_id)
        if pointer.champion is not None:
            raise UnprocessableError(
                f"the tenant already has a champion model ({pointer.champion}); the starter model is for new "
                "tenants",
                code="champion_exists",
            )
        starter = self._registry.get_version(STARTER_SCOPE, starter_version)
        now = self._clock()
        version = starter.model_copy(
            update={
                "tenant_id": tenant_id,
                "scoring_model_id": scoring_model_id,
                "status": ModelStatus.CHAMPION,
                "origin": ModelOrigin.STARTER,
                "artifact_key": starter.artifact_key or artifact_key(STARTER_SCOPE, starter_version),
                "requested_by": requested_by,
                "promoted_at": now,
                "promotion": {"reason": "starter model adopted by a new tenant"},
                "created_at": now,
                "updated_at": now,
            }
        )
        with contextlib.suppress(ValueError):  # adopted before (same starter version): idempotent
            self._registry.create_version(tenant_id, version)
        self._registry.register_tenant(tenant_id, scoring_model_id)
        self._registry.save_pointer(
            tenant_id,
            ModelPointer(champion=version.model_version, updated_by=requested_by),
            expected_revision=pointer.revision,
        )
        return version

    # ------------------------------------------------------------------ reads
    def list_versions(self, principal: Principal, scoring_model_id: str) -> ModelVersionList:
        """The scoring model's versions, newest first, each with its live performance, plus the pointer."""
        _check_manager(principal)
        _check_ids(scoring_model_id)
        tenant = principal.tenant_id
        versions = [v for v in self._registry.list_versions(tenant) if v.scoring_model_id == scoring_model_id]
        items = [self._with_performance(tenant, v) for v in versions]
        return ModelVersionList(items=items, pointer=self._registry.get_pointer(tenant))

    def get_version(self, principal: Principal, scoring_model_id: str, model_version: str) -> ModelVersion:
        """One version with its live performance.

        Raises:
            ModelVersionNotFoundError (404): no such version for this scoring model in the tenant.
        """
        _check_manager(principal)
        _check_ids(scoring_model_id, model_version)
        return self._with_performance(
            principal.tenant_id, self._version_of(principal.tenant_id, scoring_model_id, model_version)
        )

    def _version_of(self, tenant_id: str, scoring_model_id: str, model_version: str) -> ModelVersion:
        version = self._registry.get_version(tenant_id, model_version)
        if version.scoring_model_id != scoring_model_id:
            raise ModelVersionNotFoundError(
                f"model version {model_version} not found for scoring model {scoring_model_id}"
            )
        return version

    def _with_performance(self, tenant_id: str, version: ModelVersion) -> ModelVersion:
        if version.status in (ModelStatus.QUEUED, ModelStatus.TRAINING, ModelStatus.FAILED):
            return version
        outcomes = self._registry.list_outcomes(tenant_id, version.model_version)
        return version.model_copy(update={"performance": live_performance(outcomes)})

    # ------------------------------------------------------------------ champion / challenger
    def promote(
        self,
        principal: Principal,
        scoring_model_id: str,
        model_version: str,
        *,
        force: bool = False,
        reason: str | None = None,
    ) -> PromotionResult:
        """Make ``model_version`` the champion.

        Allowed when the version's stored comparison (made by the training function on the same recent
        held-out outcomes, paired bootstrap of the ROC AUC difference) was made against the *current*
        champion and its 95 % interval lies above 0 — or with ``force`` by an admin who gives a reason.
        The old champion becomes ``retired``; a promoted challenger leaves the challenger slot.

        Raises:
            ForbiddenError (403): reps; ``force`` by a non-admin.
            UnprocessableError (422): ``force`` without a reason.
            ModelVersionNotFoundError (404).
            PromotionRefusedError (409): not ready, already champion, or not measurably better.
        """
        _check_manager(principal)
        _check_ids(scoring_model_id, model_version)
        if force and principal.role != Role.ADMIN:
            raise ForbiddenError("only admins may force a promotion")
        if force and not (reason and reason.strip()):
            raise UnprocessableError(
                "a forced promotion needs a reason", details=[{"field": "reason", "problem": "required"}]
            )
        tenant = principal.tenant_id
        version = self._version_of(tenant, scoring_model_id, model_version)
        pointer = self._registry.get_pointer(tenant)
        if version.status not in (ModelStatus.READY, ModelStatus.CHALLENGER, ModelStatus.RETIRED):
            raise PromotionRefusedError(
                f"model version {model_version} is {version.status}; only a ready model can be promoted"
            )
        if pointer.champion == model_version:
            raise PromotionRefusedError(f"model version {model_version} is already the champion")
        comparison = dict(version.comparison or {})
        if force:
            evidence = {
                "forced": True,
                "reason": reason,
                "by": principal.user_id,
                **({"comparison": comparison} if comparison else {}),
            }
        else:
            problem = self._promotion_problem(pointer, comparison)
            if problem:
                raise PromotionRefusedError(
                    f"model version {model_version} cannot be promoted: {problem}",
                    details=[{"field": "comparison", "problem": problem, **comparison}],
                )
            evidence = {"forced": False, **comparison}
        self._switch_champion(tenant, pointer, version, evidence, principal.user_id)
        return PromotionResult(pointer=self._registry.get_pointer(tenant), comparison=evidence)

    @staticmethod
    def _promotion_problem(pointer: ModelPointer, comparison: dict[str, Any]) -> str | None:
        if pointer.champion is None:
            return None  # nothing to beat
        if not comparison:
            return "no comparison with the champion was made at training time (train again, or force)"
        if comparison.get("champion") != pointer.champion:
            return (
                f"it was compared with {comparison.get('champion')}, but the champion is now {pointer.champion} "
                "(train again to compare, or force)"
            )
        if comparison.get("error"):
            return str(comparison["error"])
        if not comparison.get("better"):
            return (
                "its ROC AUC is not measurably higher than the champion's on the same held-out outcomes "
                f"(difference {comparison.get('delta')}, 95 % CI [{comparison.get('ci_low')}, "
                f"{comparison.get('ci_high')}])"
            )
        return None

    def _switch_champion(
        self,
        tenant_id: str,
        pointer: ModelPointer,
        version: ModelVersion,
        evidence: dict[str, Any],
        by: str | None,
    ) -> None:
        now = self._clock()
        new_pointer = ModelPointer(
            champion=version.model_version,
            challenger=None if pointer.challenger == version.model_version else pointer.challenger,
            traffic_percent=0 if pointer.challenger == version.model_version else pointer.traffic_percent,
            updated_by=by,
        )
        try:
            self._registry.save_pointer(tenant_id, new_pointer, expected_revision=pointer.revision)
        except PointerConflictError:
            raise PromotionRefusedError("the champion changed meanwhile; reload and try again") from None
        self._registry.save_version(
            tenant_id,
            version.model_copy(
                update={
                    "status": ModelStatus.CHAMPION,
                    "promoted_at": now,
                    "promotion": evidence,
                    "updated_at": now,
                }
            ),
        )
        if pointer.champion and pointer.champion != version.model_version:
            try:
                old = self._registry.get_version(tenant_id, pointer.champion)
                self._registry.save_version(
                    tenant_id, old.model_copy(update={"status": ModelStatus.RETIRED, "updated_at": now})
                )
            except ModelVersionNotFoundError:
                log.warning("old champion %s missing from the registry", pointer.champion)

    def set_challenger(
        self, principal: Principal, scoring_model_id: str, model_version: str | None, traffic_percent: int
    ) -> ModelPointer:
        """Let ``model_version`` score ``traffic_percent`` (1..50) % of leads beside the champion; ``None``
        stops the challenger (its status goes back to ``ready``).

        Raises:
            ForbiddenError (403), ModelVersionNotFoundError (404),
            PromotionRefusedError (409): no champion yet, the version is the champion or not ready.
            UnprocessableError (422): traffic outside 1..50.
        """
        _check_manager(principal)
        _check_ids(scoring_model_id, model_version)
        if not 1 <= traffic_percent <= 50:
            raise UnprocessableError("traffic_percent must be between 1 and 50")
        tenant = principal.tenant_id
        pointer = self._registry.get_pointer(tenant)
        now = self._clock()
        if model_version is not None:
            version = self._version_of(tenant, scoring_model_id, model_version)
            if pointer.champion is None:
                raise PromotionRefusedError("the tenant has no champion yet; promote a model first")
            if pointer.champion == model_version:
                raise PromotionRefusedError(f"model version {model_version} is the champion")
            if version.status not in (ModelStatus.READY, ModelStatus.CHALLENGER, ModelStatus.RETIRED):
                raise PromotionRefusedError(f"model version {model_version} is {version.status}, not ready")
        new_pointer = pointer.model_copy(
            update={
                "challenger": model_version,
                "traffic_percent": traffic_percent if model_version else 0,
                "updated_by": principal.user_id,
            }
        )
        try:
            stored = self._registry.save_pointer(tenant, new_pointer, expected_revision=pointer.revision)
        except PointerConflictError:
            raise PromotionRefusedError("the model pointer changed meanwhile; reload and try again") from None
        if pointer.challenger and pointer.challenger != model_version:
            try:
                old = self._registry.get_version(tenant, pointer.challenger)
                self._registry.save_version(
                    tenant, old.model_copy(update={"status": ModelStatus.READY, "updated_at": now})
                )
            except ModelVersionNotFoundError:
                pass
        if model_version is not None:
            self._registry.save_version(
                tenant, version.model_copy(update={"status": ModelStatus.CHALLENGER, "updated_at": now})
            )
        return stored

    # ------------------------------------------------------------------ outcomes
    def record_outcome(self, tenant_id: str, lead_id: str) -> ModelOutcome | None:
        """When the lead is Converted or Lost and carries a prediction (``model_version`` and
        ``conversion_probability`` on the lead), record (version, probability at that time, outcome).

        Idempotent (one outcome item per lead and version). Returns what was recorded, or None.
        """
        from leadtide.models.errors import LeadNotFoundError

        try:
            lead = self._leads.get_lead(tenant_id, lead_id)
        except LeadNotFoundError:
            return None
        if lead.status not in TERMINAL_STATUSES:
            return None
        version, probability = prediction_of(lead.model_dump(mode="json"))
        if version is None or probability is None:
            return None
        outcome = ModelOutcome(
            model_version=version,
            lead_id=lead_id,
            probability=probability,
            converted=int(lead.status == LeadStatus.CONVERTED),
            recorded_at=self._clock(),
        )
        self._registry.put_outcome(tenant_id, outcome)
        return outcome


def prediction_of(lead: dict[str, Any]) -> tuple[str | None, float | None]:
    """``(model version, conversion_probability)`` stored on a lead (``prediction_model_version`` as the
    scoring service writes it, or ``model_version``), or ``(None, None)``."""
    raw = lead.get("prediction")
    nested: dict[str, Any] = raw if isinstance(raw, dict) else {}
    version = lead.get("prediction_model_version") or lead.get("model_version") or nested.get("model_version")
    probability = lead.get("conversion_probability")
    if probability is None:
        probability = nested.get("probability")
    try:
        return (str(version) if version else None, float(probability) if probability is not None else None)
    except (TypeError, ValueError):
        return None, None
