"""The lead inbox and profile: list, read, create, change, delete, timeline, notes, dashboard.

Access rule: every call is scoped to the caller's tenant (keys carry the tenant id, so another tenant's
lead is simply not found). Admins and managers see and change every lead; reps only leads they own or
unassigned ones, may claim an unassigned lead for themselves, and cannot assign leads to others or
delete them.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadtide.capture.identity import normalize_email, normalize_phone
from leadtide.leads.filters import lead_query
from leadtide.leads.ports import IdentityTakenError, LeadChanges, LeadRepository
from leadtide.models.auth import Principal
from leadtide.models.common import (
    ChannelType,
    IdentityKind,
    LeadStatus,
    bounds_problem,
    display_name,
    iso,
    utc_now,
)
from leadtide.models.errors import DuplicateLeadError, ForbiddenError, UnprocessableError
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.leads import (
    Activity,
    ActivityPage,
    ActivityType,
    DashboardSummary,
    Lead,
    LeadCreate,
    LeadPage,
    LeadQuery,
    LeadSummary,
    LeadUpdate,
    NoteCreate,
    SortField,
)
from leadtide.models.selection import LeadFilter
from leadtide.ports import EventPublisher

if TYPE_CHECKING:
    from leadtide.customfields.service import CustomFieldService


class LeadService:
    """Lead use cases over a :class:`LeadRepository` and an :class:`EventPublisher`."""

    def __init__(
        self,
        leads: LeadRepository,
        events: EventPublisher,
        *,
        default_region: str = "US",
        custom_fields: CustomFieldService | None = None,
    ):
        self._leads = leads
        self._events = events
        self._region = default_region
        self._custom_fields = custom_fields

    # ------------------------------------------------------------------ reads
    def list_leads(
        self,
        principal: Principal,
        lead_filter: LeadFilter,
        *,
        sort: SortField = "created",
        descending: bool = True,
        limit: int = 25,
        cursor: str | None = None,
    ) -> LeadPage:
        """One page of the inbox: the leads matching ``lead_filter`` (see :mod:`leadtide.leads.filters`),
        in ``sort`` order, up to ``limit``. Reps get only their own and unassigned leads, whatever they
        filter.

        Raises:
            InvalidRequestError (400): bad cursor. UnprocessableError (422): a custom field filter names
            an unknown field or a value it cannot hold.
        """
        query = lead_query(
            principal,
            lead_filter,
            custom_fields=self._custom_fields,
            sort=sort,
            descending=descending,
            limit=limit,
            cursor=cursor,
        )
        return self.query_leads(principal, query)

    def query_leads(self, principal: Principal, query: LeadQuery) -> LeadPage:
        """One page of a repository query; reps are restricted to their own and unassigned leads.

        Raises:
            InvalidRequestError (400): bad cursor.
        """
        if principal.visible_to is not None:
            query = dataclasses.replace(query, visible_to=principal.visible_to)
        leads, cursor = self._leads.query_leads(principal.tenant_id, query)
        return LeadPage(
            items=[LeadSummary.model_validate(lead.model_dump()) for lead in leads], next_cursor=cursor
        )

    def get_lead(self, principal: Principal, lead_id: str) -> Lead:
        """The full lead. Raises LeadNotFoundError (404), ForbiddenError (403) for a rep and another's lead."""
        lead = self._leads.get_lead(principal.tenant_id, lead_id)
        self._check_visible(principal, lead)
        return lead

    def list_activities(
        self,
        principal: Principal,
        lead_id: str,
        *,
        limit: int,
        cursor: str | None,
        types: Collection[ActivityType] = (),
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> ActivityPage:
        """The lead's timeline, oldest first: entries of ``types`` (empty: all) within the inclusive
        ``occurred_from`` .. ``occurred_to`` bounds.

        Raises:
            as :meth:`get_lead`; InvalidRequestError (400) for a bad cursor; UnprocessableError (422) when
            ``occurred_from`` is after ``occurred_to``.
        """
        problem = bounds_problem(occurred_from, occurred_to, "occurred")
        if problem:
            raise UnprocessableError(problem, details=[{"field": "occurred_from", "problem": problem}])
        self.get_lead(principal, lead_id)
        items, next_cursor = self._leads.list_activities(
            principal.tenant_id,
            lead_id,
            limit=limit,
            cursor=cursor,
            types=[str(t) for t in types],
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        )
        return ActivityPage(items=items, next_cursor=next_cursor)

    def dashboard(self, principal: Principal) -> DashboardSummary:
        """Lead counts over what the caller may see: the tenant's counters for admins and managers, the
        rep's own and unassigned leads for a rep (counted on request: :meth:`LeadRepository.dashboard`)."""
        return self._leads.dashboard(principal.tenant_id, visible_to=principal.visible_to)

    # ------------------------------------------------------------------ changes
    def create_lead(self, principal: Principal, request: LeadCreate) -> Lead:
        """Create a lead by hand, de-duplicated by email and phone.

        Raises:
            UnprocessableError (422): no email or phone, or an invalid phone.
            DuplicateLeadError (409): a lead with that email or phone exists (``details`` names it when the
                caller may see it, see :meth:`_duplicate`).
            ForbiddenError (403): a rep assigning the lead to someone else.
        """
        identities = self._identities(request.email, request.phone)
        if not identities:
            raise UnprocessableError(
                "a lead needs an email or a phone",
                details=[{"field": "email", "problem": "email or phone required"}],
            )
        owner = request.owner_id
        if not principal.sees_all_leads:
            if owner not in (None, principal.user_id):
                raise ForbiddenError("reps can only assign leads to themselves")
            owner = principal.user_id
        custom = self._custom_values(principal.tenant_id, request.custom_fields, partial=False)
        existing = self._live_owners(principal.tenant_id, identities)
        if existing:
            raise self._duplicate(principal, existing)
        now = utc_now()
        values = dict(identities)
        lead = Lead(
            lead_id=uuid.uuid4().hex,
            tenant_id=principal.tenant_id,
            name=request.name or display_name(request.first_name, request.last_name),
            first_name=request.first_name,
            last_name=request.last_name,
            email=values.get("email"),
            phone=values.get("phone"),
            company=request.company,
            job_title=request.job_title,
            source_channel=ChannelType.MANUAL,
            status=request.status,
            owner_id=owner,
            tags=request.tags,
            custom_fields=custom,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
        )
        try:
            self._leads.create_lead(lead, identities)
        except IdentityTakenError as err:
            raise self._duplicate(principal, {(err.kind, err.value): err.lead_id or ""}) from None  # type: ignore[dict-item]
        self._publish(
            LeadEventType.CREATED, lead, {"source_channel": "manual", "created_by": principal.user_id}
        )
        return lead

    def update_lead(self, principal: Principal, lead_id: str, request: LeadUpdate) -> Lead:
        """Change the fields present in ``request``; status and owner changes go on the timeline.

        Raises:
            LeadNotFoundError (404), ForbiddenError (403), DuplicateLeadError (409), UnprocessableError (422).
        """
        lead = self.get_lead(principal, lead_id)
        fields = request.model_dump(exclude_unset=True)
        if "custom_fields" in fields:
            given = fields.pop("custom_fields") or {}
            if given:
                checked = self._custom_values(principal.tenant_id, given, partial=True)
                merged = {**lead.custom_fields, **checked}
                fields["custom_fields"] = {k: v for k, v in merged.items() if v is not None}
        changes = LeadChanges()
        if not principal.sees_all_leads:
            if "owner_id" in fields and fields["owner_id"] not in (None, principal.user_id):
                raise ForbiddenError("reps can only assign leads to themselves")
            changes.require_owner_in = (None, principal.user_id)
        for field in ("email", "phone"):
            if field in fields:
                new = (
                    self._identities(fields[field], None)
                    if field == "email"
                    else self._identities(None, fields[field])
                )
                new_value = new[0][1] if new else None
                old_value = getattr(lead, field)
                kind: IdentityKind = "email" if field == "email" else "phone"
                if new_value != old_value:
                    if new_value:
                        changes.add_identities.append((kind, new_value))
                    if old_value:
                        changes.remove_identities.append((kind, old_value))
                fields[field] = new_value
        if "status" in fields:
            if fields["status"] is None:
                raise UnprocessableError(
                    "status cannot be null", details=[{"field": "status", "problem": "required"}]
                )
            changes.old_status, changes.new_status = str(lead.status), str(fields["status"])
            fields["status"] = str(fields["status"])
        fields = {k: v for k, v in fields.items() if _differs(getattr(lead, k), v)}
        if not fields:
            return lead
        fields["updated_at"] = utc_now()
        changes.set = fields
        try:
            updated = self._leads.update_lead(principal.tenant_id, lead_id, changes)
        except IdentityTakenError as err:
            raise self._duplicate(principal, {(err.kind, err.value): err.lead_id or ""}) from None  # type: ignore[dict-item]
        self._record_changes(principal, lead, updated)
        self._publish(
            LeadEventType.UPDATED, updated, {"changed": sorted(k for k in fields if k != "updated_at")}
        )
        return updated

    def delete_lead(self, principal: Principal, lead_id: str) -> None:
        """Delete the lead, its timeline and every identity key pointing at it (its own, those of leads
        merged into it, imported unique custom fields), so those keys are free for new leads.

        Raises:
            ForbiddenError (403): reps. LeadNotFoundError (404). ConflictError (409): the lead kept
            changing while being deleted.
        """
        if not principal.sees_all_leads:
            raise ForbiddenError("only admins and managers delete leads")
        lead = self._leads.delete_lead(principal.tenant_id, lead_id)
        self._publish(LeadEventType.DELETED, lead, {"deleted_by": principal.user_id})

    def add_note(self, principal: Principal, lead_id: str, request: NoteCreate) -> Activity:
        """Add a note to the lead's timeline. Raises as :meth:`get_lead`."""
        self.get_lead(principal, lead_id)
        note = Activity(
            activity_id=uuid.uuid4().hex,
            lead_id=lead_id,
            type=ActivityType.NOTE,
            occurred_at=utc_now(),
            text=request.text,
            author_id=principal.user_id,
        )
        self._leads.append_activity(principal.tenant_id, note, touch_lead=False)
        return note

    # ------------------------------------------------------------------ helpers
    def _custom_values(self, tenant_id: str, values: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        """Custom field values checked and converted by the tenant's definitions (422 naming each problem).

        Without a custom field service (unit tests of other rules), empty values pass unchecked; others raise
        RuntimeError (a wiring mistake).
        """
        if self._custom_fields is None:
            if not values:
                return {}
            raise RuntimeError("this LeadService was built without a custom field service")
        return self._custom_fields.validate_values(tenant_id, values, partial=partial)

    def _live_owners(
        self, tenant_id: str, keys: list[tuple[IdentityKind, str]]
    ) -> dict[tuple[IdentityKind, str], str]:
        """The identity keys that belong to an existing lead. A key naming a lead whose profile is gone
        (left by a crash mid-delete, or stored before deletes removed every key) counts as free: the
        repository claims it on condition that it still names that lead."""
        found = self._leads.lookup_identities(tenant_id, keys)
        if not found:
            return found
        live = self._leads.get_leads(tenant_id, list(set(found.values())))
        return {key: lead_id for key, lead_id in found.items() if lead_id in live}

    def _identities(self, email: str | None, phone: str | None) -> list[tuple[IdentityKind, str]]:
        keys: list[tuple[IdentityKind, str]] = []
        if phone:
            try:
                keys.append(("phone", normalize_phone(phone, default_region=self._region, strict=True)))
            except UnprocessableError as err:
                raise UnprocessableError(
                    err.message, details=[{"field": "phone", "problem": err.message}]
                ) from None
        if email:
            try:
                keys.append(("email", normalize_email(email)))
            except UnprocessableError as err:
                raise UnprocessableError(
                    err.message, details=[{"field": "email", "problem": err.message}]
                ) from None
        return keys

    @staticmethod
    def _check_visible(principal: Principal, lead: Lead) -> None:
        if not principal.can_see(lead.owner_id):
            raise ForbiddenError("this lead is owned by another user", code="not_lead_owner")

    def _duplicate(
        self, principal: Principal, existing: dict[tuple[IdentityKind, str], str]
    ) -> DuplicateLeadError:
        """The 409 of an identity (email, phone) that belongs to another lead: each detail names that lead
        (``lead_id``) only when the caller may see it; otherwise it says only that the identity is taken
        (``problem: "already taken"``), so a rep's create or edit never tells whose lead holds an email."""
        shown: set[str] = set(existing.values())
        if principal.visible_to is not None:
            found = self._leads.get_leads(principal.tenant_id, [i for i in shown if i])
            shown = {i for i, lead in found.items() if principal.can_see(lead.owner_id)}
        details: list[dict[str, Any]] = [
            {"field": kind, "value": value, "lead_id": lead_id}
            if lead_id and lead_id in shown
            else {"field": kind, "problem": "already taken"}
            for (kind, value), lead_id in existing.items()
        ]
        kinds = " and ".join(sorted({d["field"] for d in details}))
        return DuplicateLeadError(f"a lead with this {kinds} already exists", details=details)

    def _record_changes(self, principal: Principal, before: Lead, after: Lead) -> None:
        now = utc_now()
        entries: list[tuple[ActivityType, dict[str, Any]]] = []
        if before.status != after.status:
            entries.append(
                (ActivityType.STATUS_CHANGE, {"from": str(before.status), "to": str(after.status)})
            )
        if before.owner_id != after.owner_id:
            entries.append((ActivityType.OWNER_CHANGE, {"from": before.owner_id, "to": after.owner_id}))
        for kind, data in entries:
            self._leads.append_activity(
                principal.tenant_id,
                Activity(
                    activity_id=uuid.uuid4().hex,
                    lead_id=after.lead_id,
                    type=kind,
                    occurred_at=now,
                    author_id=principal.user_id,
                    data=data,
                ),
                touch_lead=False,
            )

    def _publish(self, kind: LeadEventType, lead: Lead, data: dict[str, Any]) -> None:
        self._events.publish(
            [
                LeadEvent(
                    type=kind,
                    tenant_id=lead.tenant_id,
                    lead_id=lead.lead_id,
                    occurred_at=iso(utc_now()),
                    data=data,
                )
            ]
        )


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, LeadStatus):
        old = str(old)
    return old != new
