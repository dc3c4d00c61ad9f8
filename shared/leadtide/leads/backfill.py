"""Backfill of lead profiles' derived attributes (jobs-queue kind ``leads.backfill``).

Lead profiles gained derived attributes over time - the sparse condition index's ``cond_pk``/``cond_sk``
(``leads_by_condition_shard``, segment previews), ``search_text``, the inbox sort keys, and
``identity_keys`` (the identity items a lead owns, which delete removes). Every writer sets them now
(``leadtide.dal.leads.lead_item_values``/``profile_keys``), but profiles written before an attribute existed
lack it: they are invisible to the condition index, and their delete falls back to the contact fields'
identity keys. This job brings one tenant's profiles up to date.

One step reads one page of the tenant's profiles (``leads_by_created``, newest first; never a table Scan),
compares each with what a fresh write of the same lead stores (:func:`plan_profile`), and writes only the
missing or stale attributes, one conditional UpdateItem per profile, on condition that the profile is
unchanged since read (``updated_at`` and the attributes each written value derives from): a concurrent edit
wins, the profile counts as ``skipped_concurrent`` and the next run fixes it. ``identity_keys`` gains only
keys whose identity item already names the lead (one BatchGetItem per page); no identity is ever claimed.
The step then queues the next one with the page's cursor and the running totals; the last step logs the
summary. Steps are idempotent: a redelivered step finds its profiles up to date and writes nothing.
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from leadtide.models.auth import Principal
from leadtide.models.backfill import BackfillAccepted
from leadtide.models.common import Role
from leadtide.models.errors import ForbiddenError, InvalidRequestError

log = logging.getLogger(__name__)

BACKFILL_JOB = "leads.backfill"
PAGE_SIZE = 100
"""Profiles one step reads (one Query page) and may write (one UpdateItem each): well inside the Jobs
worker's timeout."""
MAX_PAGE_SIZE = 500

IdentityKey = tuple[str, str]
"""``(kind, value)``: ``("email", "a@b.example")``, ``("phone", "+14155550100")``, ``("custom:<key>", v)``."""


@dataclass(frozen=True)
class StoredProfile:
    """A lead profile as one backfill step reads it.

    ``stored``: each derived attribute present on the item, as stored (absent: missing). ``fresh``: each
    derived attribute a fresh write of the same lead stores (``lead_item_values``). ``identity_keys``: the
    profile's ``identity_keys`` entries. ``candidates``: identity keys the lead may own (its stored entries,
    contact fields and scalar custom-field values); only those whose item names the lead count.
    ``version``: opaque to the logic, what the store's conditional write compares (the item as read).
    """

    lead_id: str
    stored: Mapping[str, Any]
    fresh: Mapping[str, Any]
    identity_keys: frozenset[IdentityKey] = frozenset()
    candidates: tuple[IdentityKey, ...] = ()
    version: Any = None


@dataclass(frozen=True)
class ProfilePatch:
    """What to write to one profile: derived attributes to SET (name -> value) and identity keys to ADD to
    ``identity_keys``. Never removes anything."""

    lead_id: str
    set: dict[str, Any] = field(default_factory=dict)
    add_identities: frozenset[IdentityKey] = frozenset()


@dataclass
class BackfillCounts:
    """Counts of one step or of a whole run. ``scanned``: profiles read; ``updated``: written;
    ``up_to_date``: nothing to write; ``skipped_concurrent``: changed (or deleted) between read and write,
    left for the next run; ``unreadable``: items that do not parse as a lead (left alone, logged).
    ``attributes``: attribute name -> profiles it was written to (``identity_keys`` included)."""

    scanned: int = 0
    updated: int = 0
    up_to_date: int = 0
    skipped_concurrent: int = 0
    unreadable: int = 0
    attributes: dict[str, int] = field(default_factory=dict)

    def add(self, other: BackfillCounts) -> BackfillCounts:
        """The sum of both (a new object)."""
        attributes = dict(self.attributes)
        for name, n in other.attributes.items():
            attributes[name] = attributes.get(name, 0) + n
        return BackfillCounts(
            scanned=self.scanned + other.scanned,
            updated=self.updated + other.updated,
            up_to_date=self.up_to_date + other.up_to_date,
            skipped_concurrent=self.skipped_concurrent + other.skipped_concurrent,
            unreadable=self.unreadable + other.unreadable,
            attributes=attributes,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> BackfillCounts:
        """Parse the ``totals`` a step message carries (missing or malformed values count as 0)."""
        data = data or {}

        def num(value: Any) -> int:
            return value if isinstance(value, int) and value >= 0 else 0

        raw_attrs = data.get("attributes")
        attrs = {str(k): num(v) for k, v in raw_attrs.items()} if isinstance(raw_attrs, dict) else {}
        return cls(
            scanned=num(data.get("scanned")),
            updated=num(data.get("updated")),
            up_to_date=num(data.get("up_to_date")),
            skipped_concurrent=num(data.get("skipped_concurrent")),
            unreadable=num(data.get("unreadable")),
            attributes=attrs,
        )


class ProfileBackfillStore(ABC):
    """Data access of the backfill (DynamoDB: :class:`leadtide.dal.lead_backfill.DynamoProfileBackfillStore`)."""

    @abstractmethod
    def page_profiles(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[StoredProfile], int, str | None]:
        """One page of the tenant's profiles from its per-tenant leads index: (profiles, unreadable items
        skipped, cursor of the next page or None at the end).

        Raises:
            InvalidRequestError: ``cursor`` is malformed or another tenant's.
        """

    @abstractmethod
    def identity_owners(self, tenant_id: str, keys: Sequence[IdentityKey]) -> dict[IdentityKey, str]:
        """The lead id each existing identity item of ``keys`` names (missing keys are left out)."""

    @abstractmethod
    def apply(self, tenant_id: str, profile: StoredProfile, patch: ProfilePatch) -> bool:
        """Write ``patch`` on condition that the profile is still as read (``profile.version``); False when
        it changed or was deleted meanwhile (nothing written)."""


def plan_profile(profile: StoredProfile, owners: Mapping[IdentityKey, str]) -> ProfilePatch | None:
    """What a profile lacks: every derived attribute whose stored value is missing or differs from what a
    fresh write stores, and every candidate identity key whose item names this lead (``owners``: key ->
    lead id) but is not in ``identity_keys``. None when the profile is up to date."""
    changed = {name: value for name, value in profile.fresh.items() if profile.stored.get(name) != value}
    owned = {key for key in profile.candidates if owners.get(key) == profile.lead_id}
    missing = frozenset(owned - profile.identity_keys)
    if not changed and not missing:
        return None
    return ProfilePatch(lead_id=profile.lead_id, set=changed, add_identities=missing)


class LeadBackfillService:
    """Runs backfill steps over a :class:`ProfileBackfillStore`; ``enqueue`` queues job steps (None: run
    the next step inline, as unit tests do)."""

    def __init__(
        self,
        store: ProfileBackfillStore,
        *,
        enqueue: Callable[[Sequence[Mapping[str, Any]]], None] | None = None,
    ):
        self._store = store
        self._enqueue = enqueue

    def start(self, principal: Principal) -> BackfillAccepted:
        """Queue the first step of a backfill of the caller's tenant (admins only).

        Raises:
            ForbiddenError (403): the caller is not an admin.
        """
        if principal.role != Role.ADMIN:
            raise ForbiddenError("only admins start a backfill", code="admin_only")
        run_id = uuid.uuid4().hex
        message = {"kind": BACKFILL_JOB, "tenant_id": principal.tenant_id, "run_id": run_id}
        if self._enqueue is None:
            run_backfill_with(self, message)
        else:
            self._enqueue([message])
        log.info("backfill %s of tenant %s queued", run_id, principal.tenant_id)
        return BackfillAccepted(tenant_id=principal.tenant_id, run_id=run_id, kind=BACKFILL_JOB)

    def step(
        self, tenant_id: str, *, cursor: str | None, page_size: int = PAGE_SIZE
    ) -> tuple[BackfillCounts, str | None]:
        """Backfill one page of ``tenant_id``'s profiles: (counts of this page, cursor of the next page or
        None when done).

        Raises:
            InvalidRequestError: malformed cursor.
        """
        profiles, unreadable, next_cursor = self._store.page_profiles(
            tenant_id, limit=max(1, min(page_size, MAX_PAGE_SIZE)), cursor=cursor
        )
        counts = BackfillCounts(scanned=len(profiles) + unreadable, unreadable=unreadable)
        keys = list(dict.fromkeys(key for p in profiles for key in p.candidates))
        owners = self._store.identity_owners(tenant_id, keys) if keys else {}
        for profile in profiles:
            patch = plan_profile(profile, owners)
            if patch is None:
                counts.up_to_date += 1
                continue
            if not self._store.apply(tenant_id, profile, patch):
                counts.skipped_concurrent += 1
                continue
            counts.updated += 1
            for name in _written_names(patch):
                counts.attributes[name] = counts.attributes.get(name, 0) + 1
        return counts, next_cursor


def _written_names(patch: ProfilePatch) -> Iterable[str]:
    yield from patch.set
    if patch.add_identities:
        yield "identity_keys"


def run_backfill_with(service: LeadBackfillService, message: Mapping[str, Any]) -> None:
    """Run one ``leads.backfill`` step {tenant_id, run_id?, cursor?, page_size?, totals?} and queue the next
    one (with the page's cursor and the running totals), or log the run's summary after the last page.

    Raises:
        ValueError: the message has no tenant_id (redelivery cannot fix it; it ends in the DLQ).
    """
    tenant_id = message.get("tenant_id")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ValueError("leads.backfill step without tenant_id")
    page_size = message.get("page_size")
    size = page_size if isinstance(page_size, int) and page_size > 0 else PAGE_SIZE
    cursor = message.get("cursor")
    try:
        counts, next_cursor = service.step(
            tenant_id, cursor=cursor if isinstance(cursor, str) else None, page_size=size
        )
    except InvalidRequestError:
        log.error("backfill %s of tenant %s: invalid cursor; run stopped", message.get("run_id"), tenant_id)
        return
    totals = BackfillCounts.from_dict(message.get("totals")).add(counts)
    log.info(
        "backfill %s of tenant %s: page scanned=%d updated=%d up_to_date=%d skipped_concurrent=%d "
        "unreadable=%d attributes=%s",
        message.get("run_id"),
        tenant_id,
        counts.scanned,
        counts.updated,
        counts.up_to_date,
        counts.skipped_concurrent,
        counts.unreadable,
        counts.attributes,
    )
    if next_cursor is None:
        log.info(
            "backfill %s of tenant %s done: scanned=%d updated=%d up_to_date=%d skipped_concurrent=%d "
            "unreadable=%d attributes=%s",
            message.get("run_id"),
            tenant_id,
            totals.scanned,
            totals.updated,
            totals.up_to_date,
            totals.skipped_concurrent,
            totals.unreadable,
            totals.attributes,
        )
        return
    follow = {**message, "cursor": next_cursor, "totals": asdict(totals)}
    if service._enqueue is None:
        run_backfill_with(service, follow)
    else:
        service._enqueue([follow])


def run_backfill(message: dict[str, Any]) -> None:
    """Jobs-queue step ``leads.backfill`` (see :func:`run_backfill_with`)."""
    run_backfill_with(get_backfill_service(), message)


@lru_cache(maxsize=1)
def get_backfill_service() -> LeadBackfillService:
    """The process-wide backfill service over DynamoDB and the jobs queue (built on first use)."""
    from leadtide.dal.factory import get_profile_backfill_store
    from leadtide.jobs.dispatch import enqueue_jobs

    return LeadBackfillService(get_profile_backfill_store(), enqueue=enqueue_jobs)
