"""Resolving a :class:`LeadSelection` into the leads an export or a bulk action works on.

Selectors: explicit ``lead_ids`` (<= 10,000), a static list (``list_id``), a segment (``segment_id``) or
the ``GET /leads`` filters (``filter``), exactly one (checked when the request is parsed: 422).

Visibility is the one rule of :func:`leadtide.models.auth.owner_visible`: admins and managers see every
lead of the tenant, reps their own and unassigned ones. A filter selection is queried with that
restriction, so a rep's filter never even reads another rep's lead; a rep's list or segment selection
yields only the members the rep can see (a bulk action's total and report never count or name the
others); explicit ``lead_ids`` are every id given, and the caller decides: exports leave invisible leads
out, bulk actions report them as failed ``forbidden`` (the rep named them).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING

from leadtide.bulk.ports import LeadCollections
from leadtide.leads.filters import lead_query
from leadtide.leads.ports import LeadRepository
from leadtide.models.auth import Principal
from leadtide.models.leads import Lead, LeadQuery
from leadtide.models.selection import MAX_SELECTED_IDS, LeadFilter, LeadSelection

if TYPE_CHECKING:
    from leadtide.customfields.service import CustomFieldService

__all__ = [
    "MAX_SELECTED_IDS",
    "LeadFilter",
    "LeadSelection",
    "SelectionResolver",
    "is_visible",
]

PAGE_SIZE = 100
"""Leads read per repository call (one inbox page, or one BatchGetItem)."""


def is_visible(principal: Principal, lead: Lead) -> bool:
    """True when ``principal`` may see and change ``lead``: admins and managers always, reps when they own
    it or it is unassigned (:meth:`Principal.can_see`)."""
    return principal.can_see(lead.owner_id)


def filter_query(
    principal: Principal,
    lead_filter: LeadFilter,
    *,
    cursor: str | None = None,
    custom_fields: CustomFieldService | None = None,
) -> LeadQuery:
    """The inbox query of ``lead_filter`` for ``principal`` (:func:`leadtide.leads.filters.lead_query`),
    oldest first, :data:`PAGE_SIZE` per page: ``owner="me"`` means the caller, and reps are restricted to
    their own and unassigned leads.

    Raises:
        UnprocessableError (422): a custom field filter the tenant's fields cannot read.
    """
    return lead_query(
        principal,
        lead_filter,
        custom_fields=custom_fields,
        sort="created",
        descending=False,
        limit=PAGE_SIZE,
        cursor=cursor,
    )


class SelectionResolver:
    """Turns selections into lead ids or lead records, streaming page by page (never the whole tenant in
    memory at once, except the de-duplication set of ids: 33 bytes a lead)."""

    def __init__(
        self,
        leads: LeadRepository,
        collections: LeadCollections,
        *,
        custom_fields: CustomFieldService | None = None,
    ):
        self._leads = leads
        self._collections = collections
        self._custom_fields = custom_fields

    def check(self, principal: Principal, selection: LeadSelection) -> None:
        """Fail fast on a selection that cannot resolve: an unknown list or segment (404), a filter on
        custom fields the tenant does not have or values they cannot hold (422)."""
        if selection.filter is not None:
            filter_query(principal, selection.filter, custom_fields=self._custom_fields)
        elif selection.list_id is not None:
            self._collections.check_list(principal.tenant_id, selection.list_id)
        elif selection.segment_id is not None:
            self._collections.check_segment(principal.tenant_id, selection.segment_id)

    def candidate_ids(self, principal: Principal, selection: LeadSelection) -> Iterator[str]:
        """Distinct lead ids the selection names, in selection order. A filter, and a rep's list or
        segment, yields only leads the caller can see; explicit ids (and an admin's or manager's list or
        segment) yield every id (check each lead with :func:`is_visible`).

        Raises:
            NotFoundError: unknown list or segment (404). InvalidRequestError: never for selections built
            here (cursors are internal).
        """
        if selection.filter is not None:
            for lead in self._filtered(principal, selection.filter):
                yield lead.lead_id
            return
        if selection.lead_ids is None and principal.visible_to is not None:
            for lead in self._visible_members(
                principal, self._distinct(self._member_ids(principal, selection))
            ):
                yield lead.lead_id
            return
        yield from self._distinct(self._member_ids(principal, selection))

    def visible_leads(self, principal: Principal, selection: LeadSelection) -> Iterator[Lead]:
        """The selected leads the caller can see, as full records (missing and invisible ids are left out),
        read :data:`PAGE_SIZE` at a time."""
        if selection.filter is not None:
            yield from self._filtered(principal, selection.filter)
            return
        yield from self._visible_members(principal, self._distinct(self._member_ids(principal, selection)))

    @staticmethod
    def _distinct(ids: Iterator[str]) -> Iterator[str]:
        seen: set[str] = set()
        for lead_id in ids:
            if lead_id not in seen:
                seen.add(lead_id)
                yield lead_id

    def _visible_members(self, principal: Principal, ids: Iterator[str]) -> Iterator[Lead]:
        """The existing leads among ``ids`` the caller can see, in order, :data:`PAGE_SIZE` per read."""
        while batch := list(islice(ids, PAGE_SIZE)):
            found = self._leads.get_leads(principal.tenant_id, batch)
            for lead_id in batch:
                lead = found.get(lead_id)
                if lead is not None and is_visible(principal, lead):
                    yield lead

    def _member_ids(self, principal: Principal, selection: LeadSelection) -> Iterator[str]:
        if selection.lead_ids is not None:
            return iter(selection.lead_ids)
        if selection.list_id is not None:
            return self._collections.list_member_ids(principal.tenant_id, selection.list_id)
        assert selection.segment_id is not None
        return self._collections.segment_member_ids(principal.tenant_id, selection.segment_id)

    def _filtered(self, principal: Principal, lead_filter: LeadFilter) -> Iterator[Lead]:
        cursor: str | None = None
        while True:
            leads, cursor = self._leads.query_leads(
                principal.tenant_id,
                filter_query(principal, lead_filter, cursor=cursor, custom_fields=self._custom_fields),
            )
            yield from leads
            if cursor is None:
                return
