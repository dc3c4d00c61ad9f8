"""Data-access interface of static lists (DynamoDB: leadtide.dal.lists; in-memory fake in the tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from leadtide.lists.models import StaticList
from leadtide.models.leads import LeadSummary


@dataclass(frozen=True)
class LeadRef:
    """What list operations need to know about a lead: its owner (visibility) and its lists."""

    lead_id: str
    owner_id: str | None
    list_ids: frozenset[str]


class ListRepository(ABC):
    """Static lists, their memberships and the ``list_ids`` set on each lead."""

    @abstractmethod
    def create_list(self, tenant_id: str, static_list: StaticList) -> None:
        """Store a new list."""

    @abstractmethod
    def list_lists(self, tenant_id: str) -> list[StaticList]:
        """Every list of the tenant (any order)."""

    @abstractmethod
    def get_list(self, tenant_id: str, list_id: str) -> StaticList:
        """Raises ListNotFoundError."""

    @abstractmethod
    def update_list(
        self, tenant_id: str, list_id: str, *, changes: dict[str, str | None], updated_at: datetime
    ) -> StaticList:
        """Set ``name``/``description`` (None clears the description). Raises ListNotFoundError."""

    @abstractmethod
    def delete_list(self, tenant_id: str, list_id: str) -> None:
        """Delete the list's meta item (memberships are purged separately). Raises ListNotFoundError."""

    @abstractmethod
    def add_member(
        self, tenant_id: str, list_id: str, lead_id: str, *, added_at: datetime, added_by: str | None
    ) -> bool:
        """Add one lead: membership item + the lead's ``list_ids`` + the list's count, in one transaction.

        Returns False when the lead was already a member (nothing written).

        Raises:
            ListNotFoundError: the list does not exist (or was deleted meanwhile).
            LeadNotFoundError: the lead does not exist.
        """

    @abstractmethod
    def remove_member(self, tenant_id: str, list_id: str, lead_id: str, *, adjust_count: bool = True) -> bool:
        """Remove one lead (membership item, the lead's ``list_ids``, the count when ``adjust_count``) in
        one transaction. Returns False when it was not a member. A deleted lead's set is simply gone."""

    @abstractmethod
    def page_members(
        self, tenant_id: str, list_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        """Lead ids of one page of members, newest added first, and the next cursor.

        Raises:
            InvalidRequestError: bad cursor.
        """

    @abstractmethod
    def iter_member_ids(self, tenant_id: str, list_id: str) -> Iterator[str]:
        """Every member's lead id (any order)."""

    @abstractmethod
    def lists_with_member(self, tenant_id: str, lead_id: str, list_ids: Sequence[str]) -> set[str]:
        """The ids among ``list_ids`` that have ``lead_id`` as a member, read from the membership items
        (for a lead whose profile, and with it its ``list_ids``, is gone)."""

    @abstractmethod
    def lead_refs(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, LeadRef]:
        """Owner and lists of each existing lead among ``lead_ids`` (missing ones are left out)."""

    @abstractmethod
    def lead_summaries(self, tenant_id: str, lead_ids: Sequence[str]) -> list[LeadSummary]:
        """Inbox rows of the existing leads among ``lead_ids``, in the given order."""
