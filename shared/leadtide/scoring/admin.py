"""Scoring models, grade overrides and score history as the API serves them.

Roles: everyone reads models; admins and managers create, change, activate and delete them. A change to an
active model, or an activation, queues a background re-score of the tenant (jobs queue, kind
``scoring.rescore_tenant`` -> pages of lead ids on the scoring queue, like the nightly fan-out).

Grade overrides: any user who may see the lead sets or clears one, with a reason; the override becomes the
displayed ``grade`` and sticks through re-scoring (which keeps updating ``score`` and ``computed_grade``)
until cleared. Both go on the timeline and into the score history.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from leadtide.leads.ports import LeadRepository
from leadtide.models.auth import Principal
from leadtide.models.common import iso, utc_now
from leadtide.models.errors import ForbiddenError, UnprocessableError
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.leads import Activity, ActivityType, Lead
from leadtide.models.scoring import (
    GradeOverride,
    GradeOverrideRequest,
    ScoreHistoryEntry,
    ScoreHistoryPage,
    ScoringModel,
    ScoringModelCreate,
    ScoringModelList,
    ScoringModelSpec,
    ScoringTemplateList,
)
from leadtide.ports import EventPublisher
from leadtide.scoring.ports import ScoringStore
from leadtide.scoring.rules import parse_spec
from leadtide.scoring.service import CAUSE_MODEL_CHANGED
from leadtide.scoring.templates import list_templates, template_spec

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

RESCORE_TENANT_JOB = "scoring.rescore_tenant"
CAUSE_OVERRIDE = "manual override"
CAUSE_OVERRIDE_CLEARED = "manual override cleared"


class ScoringAdminService:
    """Scoring-model CRUD, activation, overrides and history."""

    def __init__(
        self,
        store: ScoringStore,
        leads: LeadRepository,
        events: EventPublisher,
        *,
        enqueue: Callable[[Sequence[Mapping[str, Any]]], None],
    ):
        self._store = store
        self._leads = leads
        self._events = events
        self._enqueue = enqueue

    # ------------------------------------------------------------------ models
    def templates(self) -> ScoringTemplateList:
        """Every template with its validated spec."""
        return ScoringTemplateList(items=list_templates())

    def list_models(self, principal: Principal) -> ScoringModelList:
        """The tenant's models, active default first."""
        return ScoringModelList(items=self._store.list_models(principal.tenant_id))

    def get_model(self, principal: Principal, model_id: str) -> ScoringModel:
        """One model. Raises ScoringModelNotFoundError (404)."""
        return self._store.get_model(principal.tenant_id, model_id)

    def create_model(self, principal: Principal, request: ScoringModelCreate) -> ScoringModel:
        """Create a model from scratch or from a template (fields sent override the template's). New models
        are inactive. Raises ForbiddenError (403), UnprocessableError (422, naming each bad path)."""
        _require_writer(principal)
        given = request.model_dump(exclude_unset=True, mode="json")
        template = given.pop("template", None)
        data: dict[str, Any] = template_spec(template) if template else {}
        data.update(given)
        if "name" not in data:
            raise UnprocessableError(
                "a scoring model needs a name", details=[{"field": "name", "problem": "required"}]
            )
        spec = parse_spec(data)
        now = utc_now()
        model = ScoringModel(
            **spec.model_dump(),
            model_id=uuid.uuid4().hex,
            tenant_id=principal.tenant_id,
            template=template,
            created_at=now,
            updated_at=now,
            created_by=principal.user_id,
        )
        self._store.put_model(model, expected_version=None)
        return model

    def replace_model(
        self, principal: Principal, model_id: str, spec_data: Mapping[str, Any]
    ) -> ScoringModel:
        """Replace a model's definition; re-scores the tenant when the model is active.

        Raises:
            ScoringModelNotFoundError (404), ForbiddenError (403), UnprocessableError (422),
            ConflictError (409) when it changed meanwhile.
        """
        _require_writer(principal)
        current = self._store.get_model(principal.tenant_id, model_id)
        spec = parse_spec(spec_data)
        model = ScoringModel.model_validate(
            {
                **current.model_dump(),
                **spec.model_dump(),
                "version": current.version + 1,
                "updated_at": utc_now(),
            }
        )
        self._store.put_model(model, expected_version=current.version)
        if current.active or current.is_default:
            self._queue_rescore(principal.tenant_id)
        return self._store.get_model(principal.tenant_id, model_id)

    def delete_model(self, principal: Principal, model_id: str) -> None:
        """Delete a model (not the active default: 409). Re-scores when an active segment model goes."""
        _require_writer(principal)
        current = self._store.get_model(principal.tenant_id, model_id)
        self._store.delete_model(principal.tenant_id, model_id)
        if current.active:
            self._queue_rescore(principal.tenant_id)

    def activate_model(self, principal: Principal, model_id: str) -> ScoringModel:
        """Activate a model: without ``segment_id`` it becomes the tenant's one default (replacing the
        previous default); with one it starts scoring that segment's leads. Queues a re-score."""
        _require_writer(principal)
        current = self._store.get_model(principal.tenant_id, model_id)
        if current.segment_id is None:
            self._store.set_default_model(principal.tenant_id, model_id)
        if not current.active:
            updated = current.model_copy(
                update={"active": True, "version": current.version + 1, "updated_at": utc_now()}
            )
            self._store.put_model(updated, expected_version=current.version)
        self._queue_rescore(principal.tenant_id)
        return self._store.get_model(principal.tenant_id, model_id)

    def _queue_rescore(self, tenant_id: str) -> None:
        self._enqueue([{"kind": RESCORE_TENANT_JOB, "tenant_id": tenant_id, "cause": CAUSE_MODEL_CHANGED}])

    # ------------------------------------------------------------------ overrides
    def set_grade_override(self, principal: Principal, lead_id: str, request: GradeOverrideRequest) -> Lead:
        """Pin the lead's displayed grade. Raises LeadNotFoundError (404), ForbiddenError (403)."""
        lead = self._visible_lead(principal, lead_id)
        now = utc_now()
        override = GradeOverride(grade=request.grade, reason=request.reason, by=principal.user_id, at=now)
        doc = override.model_dump(mode="json")
        self._apply_override(principal, lead, str(request.grade), doc, CAUSE_OVERRIDE)
        return self._leads.get_lead(principal.tenant_id, lead_id)

    def clear_grade_override(self, principal: Principal, lead_id: str) -> Lead:
        """Remove the override: the displayed grade is the computed one again. Raises as above."""
        lead = self._visible_lead(principal, lead_id)
        if lead.grade_override is None:
            return lead
        computed = lead.computed_grade or (lead.grade if lead.score is not None else None)
        self._apply_override(
            principal, lead, str(computed) if computed else None, None, CAUSE_OVERRIDE_CLEARED
        )
        return self._leads.get_lead(principal.tenant_id, lead_id)

    def _apply_override(
        self,
        principal: Principal,
        lead: Lead,
        grade: str | None,
        override: dict[str, Any] | None,
        cause: str,
    ) -> None:
        now = utc_now()
        old_grade = str(lead.grade) if lead.grade else None
        values: dict[str, Any] = {"grade": grade, "grade_override": override}
        if lead.computed_grade is None and lead.grade is not None and lead.grade_override is None:
            values["computed_grade"] = str(lead.grade)  # scored before overrides existed
        breakdown = [f.model_dump(mode="json") for f in lead.score_breakdown]
        history = ScoreHistoryEntry(
            at=now,
            cause=cause,
            score=lead.score,
            previous_score=lead.score,
            grade=grade,  # type: ignore[arg-type]
            previous_grade=old_grade,  # type: ignore[arg-type]
            breakdown=breakdown,
            previous_breakdown=breakdown,
            fit_score=lead.fit_score,
            engagement_score=lead.engagement_score,
            conversion_probability=lead.conversion_probability,
            scoring_model_id=lead.scoring_model_id,
            override={**(override or {}), "by": principal.user_id}
            if override
            else {"cleared_by": principal.user_id},
        )
        self._store.save_score(principal.tenant_id, lead.lead_id, values, history)
        self._leads.append_activity(
            principal.tenant_id,
            Activity(
                activity_id=uuid.uuid4().hex,
                lead_id=lead.lead_id,
                type=ActivityType.GRADE_OVERRIDE,
                occurred_at=now,
                author_id=principal.user_id,
                text=(override or {}).get("reason"),
                data={"from": old_grade, "to": grade, "override": override is not None},
            ),
            touch_lead=False,
        )
        if old_grade != grade:
            self._events.publish(
                [
                    LeadEvent(
                        type=LeadEventType.GRADE_CHANGED,
                        tenant_id=principal.tenant_id,
                        lead_id=lead.lead_id,
                        occurred_at=iso(now),
                        data={
                            "score": lead.score,
                            "grade": grade,
                            "previous_score": lead.score,
                            "previous_grade": old_grade,
                            "cause": cause,
                        },
                    )
                ]
            )

    # ------------------------------------------------------------------ history
    def score_history(
        self, principal: Principal, lead_id: str, *, limit: int, cursor: str | None
    ) -> ScoreHistoryPage:
        """The lead's score changes, newest first. Raises as :meth:`set_grade_override`, and
        InvalidRequestError (400) for a bad cursor."""
        self._visible_lead(principal, lead_id)
        items, next_cursor = self._store.list_history(
            principal.tenant_id, lead_id, limit=limit, cursor=cursor
        )
        return ScoreHistoryPage(items=items, next_cursor=next_cursor)

    def _visible_lead(self, principal: Principal, lead_id: str) -> Lead:
        lead = self._leads.get_lead(principal.tenant_id, lead_id)
        if not principal.can_see(lead.owner_id):
            raise ForbiddenError("this lead is owned by another user", code="not_lead_owner")
        return lead


def _require_writer(principal: Principal) -> None:
    if not principal.sees_all_leads:
        raise ForbiddenError("only admins and managers change scoring models")


def rescore_tenant(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue step ``scoring.rescore_tenant``: queue pages of the tenant's leads on the scoring queue
    (idempotent: re-scoring twice writes nothing the second time)."""

    tenant_id = message.get("tenant_id")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ValueError("rescore job without tenant_id")
    wiring.scoring_service.queue_tenant_rescore(tenant_id, str(message.get("cause") or CAUSE_MODEL_CHANGED))


__all__ = ["ScoringAdminService", "ScoringModelSpec", "rescore_tenant"]
