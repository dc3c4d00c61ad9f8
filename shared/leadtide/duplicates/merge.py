"""Lead merges: fill the survivor field by field, move everything the merged leads owned, keep a journal
with before-images, and undo.

A merge is journaled (docs/decisions.md, "Merges are journaled"):

1. ``pending``: the record and the before-images (raw profiles, identity keys, timeline keys) are stored
   before anything changes.
2. ``profiles_merged``: ONE transaction writes the survivor's merged profile, deletes the merged profiles,
   repoints their identity keys, moves the dashboard counters, adds the "merged" timeline entry and moves
   the record's status. Conditions on every lead's ``updated_at`` make a concurrent change fail it whole.
3. ``moving``: timeline entries (messages, notes, status changes...) are re-keyed under the survivor in
   chunked transactions that skip what is already moved, so a crash resumes by running the step again
   (:meth:`MergeService.finish`, also a jobs-queue kind). Message markers are repointed with their entry,
   so later delivery statuses still find it. Then each merged lead's behaviour engagement record is folded
   into the survivor's (:class:`leadtide.duplicates.ports.MergeEngagement`; idempotent), so the re-score
   that ``lead.updated`` triggers counts its events.
4. ``completed``: events published. (Static-list memberships move just before step 2, while the merged
   profiles still say which lists they are in.)

Undo (``completed`` only) checks that the survivor's user-editable fields are still what the merge wrote
(409 otherwise: restoring would silently discard someone's edit), restores every profile from its raw
before-image in one transaction (keeping activity-driven fields moved on by messages that arrived since,
and reporting it), then moves the timeline entries back and restores the engagement records (exactly, or
keeping on the survivor what reached it since, and reporting it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadtide.duplicates.ports import (
    DuplicateRepository,
    LeadSnapshot,
    ListMemberships,
    MergeCommit,
    MergeEngagement,
    MergeStore,
)
from leadtide.models.auth import Principal
from leadtide.models.common import iso, utc_now
from leadtide.models.duplicates import (
    MERGEABLE_FIELDS,
    MergeDetail,
    MergeRecord,
    MergeRecordPage,
    MergeRequest,
    MergeResult,
    MergeRule,
    MergeStatus,
    PairStatus,
    pair_id_of,
)
from leadtide.models.errors import (
    ConflictError,
    DuplicatePairNotFoundError,
    ForbiddenError,
    MergeConflictError,
    UnprocessableError,
)
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.leads import Activity, ActivityType, Lead
from leadtide.ports import EventPublisher

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

# Merges whose timelines hold more entries than this finish on the jobs queue rather than in the request.
SYNC_TIMELINE_LIMIT = 500
# Fields compared on undo: a change to any of them since the merge makes undo refuse (409).
USER_FIELDS = (*MERGEABLE_FIELDS, "tags", "custom_fields")
# Fields that move with activity; undo keeps their newer values (and says so) rather than refusing.
_ACTIVITY_FIELDS = ("last_activity_at", "last_message_preview", "message_count")
ENGAGEMENT_KEPT_NOTE = (
    "behaviour events recorded on the survivor after the merge stay on the survivor (its engagement "
    "record and activity counts include them)"
)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def rank_leads(survivor: Lead, merged: Sequence[Lead], rule: MergeRule) -> list[Lead]:
    """The order in which leads give their values under ``rule`` (first non-empty value wins).

    ``keep_survivor``: survivor, then merged leads as listed; ``keep_most_recent``: latest
    ``last_activity_at`` first; ``keep_highest_score``: highest score first (unscored last). Ties keep the
    survivor first.
    """
    leads = [survivor, *merged]
    if rule == "keep_most_recent":
        return sorted(leads, key=lambda lead: lead.last_activity_at, reverse=True)
    if rule == "keep_highest_score":
        return sorted(leads, key=lambda lead: -1 if lead.score is None else lead.score, reverse=True)
    return leads


def resolve_survivor(
    survivor: Lead, merged: Sequence[Lead], choices: dict[str, str], rule: MergeRule
) -> dict[str, Any]:
    """The survivor's attribute changes (name -> new value) after merging ``merged`` into it.

    Explicit ``choices`` (field -> lead id) win, then ``rule``; an empty value never overwrites a non-empty
    one (a choice of an empty value falls back to the rule). Tags are united (survivor's first, order
    kept), custom fields united (higher-ranked lead wins a key), message counts summed, ``created_at`` the
    earliest, ``last_activity_at`` and its preview from the most recently active lead.

    Raises:
        UnprocessableError: a choice names a lead that is not part of the merge.
    """
    by_id = {lead.lead_id: lead for lead in (survivor, *merged)}
    bad = {f: i for f, i in choices.items() if i not in by_id}
    if bad:
        raise UnprocessableError(
            "field choices must name the survivor or a merged lead",
            details=[
                {"field": f"fields.{f}", "problem": f"{i} is not part of this merge"} for f, i in bad.items()
            ],
        )
    ranked = rank_leads(survivor, merged, rule)
    values: dict[str, Any] = {}
    for name in MERGEABLE_FIELDS:
        chosen = by_id[choices[name]] if name in choices else None
        value = getattr(chosen, name) if chosen is not None else None
        if _empty(value):
            value = next((getattr(lead, name) for lead in ranked if not _empty(getattr(lead, name))), None)
        values[name] = value
    values["tags"] = list(dict.fromkeys(tag for lead in (survivor, *merged) for tag in lead.tags))
    custom: dict[str, Any] = {}
    for lead in reversed(ranked):
        custom.update({k: v for k, v in lead.custom_fields.items() if not _empty(v)})
    values["custom_fields"] = custom
    values["message_count"] = sum(lead.message_count for lead in (survivor, *merged))
    latest = max((survivor, *merged), key=lambda lead: lead.last_activity_at)
    values["last_activity_at"] = latest.last_activity_at
    values["last_message_preview"] = latest.last_message_preview or survivor.last_message_preview
    values["created_at"] = min(lead.created_at for lead in (survivor, *merged))
    changes: dict[str, Any] = {}
    for name, value in values.items():
        current = getattr(survivor, name)
        if hasattr(value, "model_dump"):
            value = value.model_dump(mode="json", exclude_none=True)
            current = current.model_dump(mode="json", exclude_none=True) if current is not None else None
        if _plain(value) != _plain(current):
            changes[name] = value
    return changes


def _plain(value: Any) -> Any:
    return str(value) if hasattr(value, "value") else value  # enums compare by value


def new_merge_id() -> str:
    """A time-ordered id (ms timestamp + random), 32 hex characters: history sorts newest first by key."""
    return f"{int(time.time() * 1000):012x}{uuid.uuid4().hex[:20]}"


@dataclass
class _Loaded:
    survivor: LeadSnapshot
    merged: list[LeadSnapshot]


class MergeService:
    """Merge, history, undo (see the module docstring)."""

    def __init__(
        self,
        store: MergeStore,
        events: EventPublisher,
        pairs: DuplicateRepository | None = None,
        lists: ListMemberships | None = None,
        enqueue: Callable[[list[dict[str, Any]]], None] | None = None,
        *,
        sync_timeline_limit: int = SYNC_TIMELINE_LIMIT,
        engagement: MergeEngagement | None = None,
    ):
        self._store = store
        self._events = events
        self._pairs = pairs
        self._lists = lists
        self._enqueue = enqueue
        self._sync_limit = sync_timeline_limit
        self._engagement = engagement

    # ------------------------------------------------------------------ merge
    def merge(self, principal: Principal, request: MergeRequest) -> MergeResult:
        """Merge ``request.merged_ids`` into ``request.survivor_id``.

        Raises:
            UnprocessableError (422): the survivor is also listed as merged; a choice names another lead.
            LeadNotFoundError (404): a lead is not in the caller's tenant.
            ForbiddenError (403): a rep who does not own every lead involved.
            MergeConflictError (409): a lead changed while merging (nothing was changed; retry).
        """
        if request.survivor_id in request.merged_ids:
            raise UnprocessableError(
                "the survivor cannot also be merged",
                details=[{"field": "merged_ids", "problem": "contains survivor_id"}],
            )
        tenant = principal.tenant_id
        loaded = _Loaded(
            self._store.snapshot(tenant, request.survivor_id),
            [self._store.snapshot(tenant, lead_id) for lead_id in request.merged_ids],
        )
        survivor = loaded.survivor.lead
        merged = [s.lead for s in loaded.merged]
        if not principal.sees_all_leads and any(
            lead.owner_id != principal.user_id for lead in (survivor, *merged)
        ):
            raise ForbiddenError("reps can only merge leads they own", code="not_lead_owner")
        changes = resolve_survivor(survivor, merged, request.fields, request.rule)
        now = utc_now()
        merge_id = new_merge_id()
        activity = Activity(
            activity_id=uuid.uuid4().hex,
            lead_id=survivor.lead_id,
            type=ActivityType.MERGED,
            occurred_at=now,
            author_id=principal.user_id,
            data={
                "merge_id": merge_id,
                "merged": [{"lead_id": lead.lead_id, "name": lead.name} for lead in merged],
            },
        )
        record = MergeRecord(
            merge_id=merge_id,
            tenant_id=tenant,
            status=MergeStatus.PENDING,
            survivor_id=survivor.lead_id,
            merged_ids=list(request.merged_ids),
            rule=request.rule,
            fields=dict(request.fields),
            merged_names={lead.lead_id: lead.name for lead in merged},
            created_by=principal.user_id,
            created_at=now,
        )
        after = survivor.model_copy(update={**changes, "updated_at": now})
        before = {
            "survivor": _snapshot_json(loaded.survivor),
            "merged": [_snapshot_json(s) for s in loaded.merged],
            "survivor_after": json.loads(after.model_dump_json()),
            "merge_activity_sk": f"A#{iso(now)}#{activity.activity_id}",
        }
        self._store.create_record(record, before)
        counters: dict[str, int] = {"total": -len(merged)}
        for lead in merged:
            _add(counters, f"status#{lead.status}", -1)
            _add(counters, f"source#{lead.source_channel}", -1)
        if "status" in changes:
            _add(counters, f"status#{survivor.status}", -1)
            _add(counters, f"status#{changes['status']}", 1)
        commit = MergeCommit(
            tenant_id=tenant,
            merge_id=merge_id,
            survivor_id=survivor.lead_id,
            survivor_updated_at=survivor.updated_at,
            survivor_set={**changes, "updated_at": now},
            delete_leads={lead.lead_id: lead.updated_at for lead in merged},
            repoint=[
                (kind, value, snap.lead_id, survivor.lead_id)
                for snap in loaded.merged
                for kind, value in snap.identities
            ],
            counters={k: v for k, v in counters.items() if v},
            add_activity=activity,
            record_from=MergeStatus.PENDING,
            record_to=MergeStatus.PROFILES_MERGED,
            record_doc=record.model_copy(update={"status": MergeStatus.PROFILES_MERGED}),
        )
        # Static lists move first, while the merged profiles (and their list ids) still exist: the lists
        # area finds a lead's lists through its profile. A conflict below leaves them with the survivor.
        in_lists = [snap.lead_id for snap in loaded.merged if snap.raw_profile.get("list_ids")]
        if self._lists is not None and in_lists:
            for lead_id in in_lists:
                self._lists.move(tenant, lead_id, survivor.lead_id)
            commit.record_doc = commit.record_doc.model_copy(update={"list_memberships_moved": True})  # type: ignore[union-attr]
            commit.survivor_updated_at = self._store.snapshot(tenant, survivor.lead_id).lead.updated_at
            commit.delete_leads = {
                lead_id: self._store.snapshot(tenant, lead_id).lead.updated_at
                for lead_id in commit.delete_leads
            }
        try:
            self._store.commit(commit)
        except MergeConflictError:
            self._store.save_record(
                record.model_copy(update={"status": MergeStatus.ABANDONED}), expected=MergeStatus.PENDING
            )
            raise
        record = commit.record_doc  # type: ignore[assignment]
        timeline = sum(len(s.timeline_keys) for s in loaded.merged)
        if timeline > self._sync_limit and self._enqueue is not None:
            self._enqueue([{"kind": "merges.finish", "tenant_id": tenant, "merge_id": merge_id}])
        else:
            try:
                record = self.finish(tenant, merge_id)
            except ConflictError:
                # The merge is committed; a step lost a race (e.g. the survivor's engagement record kept
                # changing). Finish on the jobs queue rather than answer 409 for a merge that happened.
                if self._enqueue is None:
                    raise
                self._enqueue([{"kind": "merges.finish", "tenant_id": tenant, "merge_id": merge_id}])
                record = self._store.get_record(tenant, merge_id)
        return MergeResult(merge_id=merge_id, status=record.status, survivor=after)

    def finish(self, tenant_id: str, merge_id: str) -> MergeRecord:
        """Run (or resume) the chunked steps of a committed merge; idempotent. Returns the record.

        A ``pending`` record is left alone (its transaction may still be running, or failed and changed
        nothing); a ``completed``/``undone`` one is returned as is.
        """
        record = self._store.get_record(tenant_id, merge_id)
        if record.status not in (MergeStatus.PROFILES_MERGED, MergeStatus.MOVING):
            return record
        if record.status == MergeStatus.PROFILES_MERGED:
            record = self._transition(record, MergeStatus.MOVING)
        before = self._store.get_before(tenant_id, merge_id)
        moved = record.moved_activities
        for snap in before["merged"]:
            keys = sorted(
                set(snap["timeline_keys"]) | set(self._store.timeline_keys(tenant_id, snap["lead_id"]))
            )
            moved += self._store.move_timeline(tenant_id, snap["lead_id"], record.survivor_id, keys)
        if self._engagement is not None:
            # Behaviour engagement records: folded before "completed" and before lead.updated is published,
            # so the re-score that event triggers reads the combined record (idempotent per merged lead).
            for lead_id in record.merged_ids:
                self._engagement.fold(tenant_id, merge_id, record.survivor_id, lead_id)
        record = self._transition(
            record, MergeStatus.COMPLETED, moved_activities=moved, completed_at=utc_now()
        )
        self._mark_pairs(
            tenant_id, record.survivor_id, record.merged_ids, PairStatus.MERGED, record.created_by
        )
        now = iso(utc_now())
        self._events.publish(
            [
                LeadEvent(
                    type=LeadEventType.UPDATED,
                    tenant_id=tenant_id,
                    lead_id=record.survivor_id,
                    occurred_at=now,
                    data={"changed": ["merged"], "merge_id": merge_id},
                ),
                LeadEvent(
                    type=LeadEventType.MERGED,
                    tenant_id=tenant_id,
                    lead_id=record.survivor_id,
                    occurred_at=now,
                    data={"merge_id": merge_id, "merged_ids": record.merged_ids, "by": record.created_by},
                ),
            ]
        )
        return record

    def _transition(self, record: MergeRecord, status: MergeStatus, **updates: Any) -> MergeRecord:
        new = record.model_copy(update={"status": status, **updates})
        self._store.save_record(new, expected=record.status)
        return new

    def _mark_pairs(
        self, tenant_id: str, survivor_id: str, others: Sequence[str], status: PairStatus, by: str | None
    ) -> None:
        if self._pairs is None:
            return
        for other in others:
            try:
                self._pairs.set_pair_status(tenant_id, pair_id_of(survivor_id, other), status, by)
            except DuplicatePairNotFoundError:
                continue

    # ------------------------------------------------------------------ history
    def list_merges(self, principal: Principal, *, limit: int, cursor: str | None) -> MergeRecordPage:
        """Merge history of the tenant, newest first (admins and managers; reps see merges they made)."""
        items, next_cursor = self._store.list_records(principal.tenant_id, limit=limit, cursor=cursor)
        if not principal.sees_all_leads:
            items = [r for r in items if r.created_by == principal.user_id]
        return MergeRecordPage(items=items, next_cursor=next_cursor)

    def get_merge(self, principal: Principal, merge_id: str) -> MergeDetail:
        """One merge with the profiles as they were before it. Raises MergeNotFoundError (404), Forbidden."""
        record = self._store.get_record(principal.tenant_id, merge_id)
        if not principal.sees_all_leads and record.created_by != principal.user_id:
            raise ForbiddenError("reps can only read merges they made")
        before = self._store.get_before(principal.tenant_id, merge_id)
        return MergeDetail(
            **record.model_dump(),
            survivor_before=Lead.model_validate(before["survivor"]["lead"]),
            merged_before=[Lead.model_validate(s["lead"]) for s in before["merged"]],
        )

    # ------------------------------------------------------------------ undo
    def undo(self, principal: Principal, merge_id: str) -> MergeResult:
        """Restore the merged leads, their identities and timeline entries, and the survivor's previous
        profile.

        Messages that reached the survivor after the merge stay on the survivor, and its last activity,
        preview and message count keep counting them (``undo_notes`` says so).

        Raises:
            MergeNotFoundError (404); ForbiddenError (403): reps, unless they made the merge and own the
            survivor; MergeConflictError (409): the merge is not completed (in progress or undone), the
            survivor is gone, or its fields (contact details, status, owner, tags, custom fields) changed
            since the merge.
        """
        tenant = principal.tenant_id
        record = self._store.get_record(tenant, merge_id)
        if not principal.sees_all_leads and record.created_by != principal.user_id:
            raise ForbiddenError("reps can only undo merges they made")
        if record.status != MergeStatus.COMPLETED:
            raise MergeConflictError(f"merge is {record.status}; only a completed merge can be undone")
        before = self._store.get_before(tenant, merge_id)
        current_raw = self._store.raw_profile(tenant, record.survivor_id)
        if current_raw is None:
            raise MergeConflictError("the surviving lead was deleted; the merge cannot be undone")
        current = self._store.snapshot(tenant, record.survivor_id).lead
        if not principal.sees_all_leads and current.owner_id != principal.user_id:
            raise ForbiddenError("reps can only undo merges of leads they own", code="not_lead_owner")
        after = Lead.model_validate(before["survivor_after"])
        changed = [
            name
            for name in USER_FIELDS
            if _jsonable(getattr(current, name)) != _jsonable(getattr(after, name))
        ]
        if changed:
            raise MergeConflictError(
                "the surviving lead changed since the merge; undoing would discard those changes",
                details=[{"field": name, "problem": "changed since the merge"} for name in changed],
            )
        survivor_before = Lead.model_validate(before["survivor"]["lead"])
        overrides: dict[str, Any] = {}
        notes: list[str] = []
        if current.last_activity_at > after.last_activity_at:
            new_messages = current.message_count - after.message_count
            overrides = {
                "last_activity_at": current.last_activity_at,
                "last_message_preview": current.last_message_preview,
                "message_count": survivor_before.message_count + max(0, new_messages),
            }
            notes.append(
                "activity that reached the survivor after the merge stays on the survivor "
                f"({max(0, new_messages)} message(s)); its last activity and message count include it"
            )
        if record.list_memberships_moved:
            notes.append("static-list memberships moved by the merge stay with the survivor")
        merged_before = [Lead.model_validate(s["lead"]) for s in before["merged"]]
        counters: dict[str, int] = {"total": len(merged_before)}
        for lead in merged_before:
            _add(counters, f"status#{lead.status}", 1)
            _add(counters, f"source#{lead.source_channel}", 1)
        if str(survivor_before.status) != str(current.status):
            _add(counters, f"status#{current.status}", -1)
            _add(counters, f"status#{survivor_before.status}", 1)
        now = utc_now()
        undoing = record.model_copy(
            update={
                "status": MergeStatus.UNDOING,
                "undone_by": principal.user_id,
                "undone_at": now,
                "undo_notes": notes,
            }
        )
        self._store.commit(
            MergeCommit(
                tenant_id=tenant,
                merge_id=merge_id,
                survivor_id=record.survivor_id,
                survivor_updated_at=current.updated_at,
                survivor_raw=before["survivor"]["raw_profile"],
                survivor_set=overrides,
                # Static-list memberships moved by the merge stay with the survivor (see the lists area):
                # keep the survivor's current list ids, and restore merged leads outside those lists.
                # Segment ids mirror the segment member items, which undo does not touch: keep the
                # survivor's, and the segment refresh that follows lead.updated moves it out where it no
                # longer matches (restoring the old set would leave member items it no longer lists).
                # The merged leads left every segment when the merge completed (their member items are
                # gone): they come back with none, and the same refresh puts them where they match.
                keep_current=["segment_ids", *(["list_ids"] if record.list_memberships_moved else [])],
                strip_restored=["segment_ids", *(["list_ids"] if record.list_memberships_moved else [])],
                put_profiles=[s["raw_profile"] for s in before["merged"]],
                repoint=[
                    (kind, value, record.survivor_id, snap["lead_id"])
                    for snap in before["merged"]
                    for kind, value in snap["identities"]
                ],
                counters={k: v for k, v in counters.items() if v},
                delete_activity_sk=before["merge_activity_sk"],
                record_from=MergeStatus.COMPLETED,
                record_to=MergeStatus.UNDOING,
                record_doc=undoing,
            )
        )
        self.finish_undo(tenant, merge_id)
        self._mark_pairs(tenant, record.survivor_id, record.merged_ids, PairStatus.OPEN, principal.user_id)
        restored = [self._store.snapshot(tenant, lead.lead_id).lead for lead in merged_before]
        survivor = self._store.snapshot(tenant, record.survivor_id).lead
        at = iso(utc_now())
        self._events.publish(
            [
                LeadEvent(
                    type=LeadEventType.UPDATED,
                    tenant_id=tenant,
                    lead_id=lead_id,
                    occurred_at=at,
                    data={"changed": ["merge_undone"], "merge_id": merge_id},
                )
                for lead_id in (record.survivor_id, *record.merged_ids)
            ]
            + [
                LeadEvent(
                    type=LeadEventType.MERGED,
                    tenant_id=tenant,
                    lead_id=record.survivor_id,
                    occurred_at=at,
                    data={"merge_id": merge_id, "merged_ids": record.merged_ids, "undone": True},
                )
            ]
        )
        return MergeResult(merge_id=merge_id, status=MergeStatus.UNDONE, survivor=survivor, restored=restored)

    def finish_undo(self, tenant_id: str, merge_id: str) -> MergeRecord:
        """Move the timeline entries back to the restored leads (idempotent; resumes an ``undoing`` record)."""
        record = self._store.get_record(tenant_id, merge_id)
        if record.status != MergeStatus.UNDOING:
            return record
        before = self._store.get_before(tenant_id, merge_id)
        for snap in before["merged"]:
            self._store.move_timeline(tenant_id, record.survivor_id, snap["lead_id"], snap["timeline_keys"])
        notes = list(record.undo_notes)
        if self._engagement is not None and self._engagement.restore(
            tenant_id, merge_id, record.survivor_id, record.merged_ids
        ):
            notes.append(ENGAGEMENT_KEPT_NOTE)
        return self._transition(record, MergeStatus.UNDONE, undo_notes=notes)


def _add(counters: dict[str, int], key: str, delta: int) -> None:
    counters[key] = counters.get(key, 0) + delta


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value) if hasattr(value, "value") else value


def _snapshot_json(snap: LeadSnapshot) -> dict[str, Any]:
    return {
        "lead_id": snap.lead_id,
        "lead": json.loads(snap.lead.model_dump_json()),
        "raw_profile": snap.raw_profile,
        "identities": [list(k) for k in snap.identities],
        "timeline_keys": snap.timeline_keys,
    }


def run_finish_job(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue kind ``merges.finish``: ``{"tenant_id", "merge_id"}`` -> :meth:`MergeService.finish`."""
    service = wiring.merge_service
    service.finish(message["tenant_id"], message["merge_id"])
    service.finish_undo(message["tenant_id"], message["merge_id"])
