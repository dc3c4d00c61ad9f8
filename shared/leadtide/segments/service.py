"""Dynamic segments: saved rule trees whose membership stays current as leads change.

How membership stays current (see docs/decisions.md):

* every lead event that can change a condition's inputs (created, message_received, updated,
  list_membership_changed, deleted, and the nightly ``lead.rescore``) reaches the Scoring worker, which
  re-scores the lead and then calls :meth:`SegmentService.refresh_lead`: one read of the lead, every
  segment of the tenant evaluated with cached compiled predicates, membership written where it changed
  and ``segment.entered``/``segment.exited`` published. A change is reflected within one event hop;
  score-based segments see the new score because the refresh runs after the rescore.
* creating a segment or changing its rules moves its ``version`` and queues ``segments.rebuild`` on the
  jobs queue, which evaluates every lead of the tenant (projected Query) in steps and marks the segment
  ``ready``. Membership writes are conditioned on the version, so a write computed from old rules fails
  and is recomputed instead of landing.
* time-dependent rules (``within_last``) are re-evaluated nightly because the nightly re-score fan-out
  passes every lead through the same refresh.

Roles: every role may create and use segments; reps see only their own and unassigned leads in member
pages, member counts and previews (count, evaluated, sample): a segment's stored ``count`` is the whole
tenant's, so a rep's is counted on request; changing or deleting a segment is for admins, managers and its
creator.
"""

from __future__ import annotations

import heapq
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leadtide.conditions import CompiledCondition, ConditionError, compile_rules, to_epoch
from leadtide.models.auth import Principal
from leadtide.models.common import iso, utc_now
from leadtide.models.errors import ForbiddenError, SegmentNotFoundError, UnprocessableError
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.leads import LeadPage
from leadtide.ports import EventPublisher
from leadtide.segments.models import (
    Segment,
    SegmentCollection,
    SegmentCreate,
    SegmentPreview,
    SegmentPreviewRequest,
    SegmentStatus,
    SegmentUpdate,
)
from leadtide.segments.ports import SegmentRepository, StaleSegmentError

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

log = logging.getLogger(__name__)

REBUILD_JOB = "segments.rebuild"
PURGE_JOB = "segments.purge"
REBUILD_STEP_LEADS = 25_000  # leads evaluated per background step before it queues the rest
SYNC_PURGE_MEMBERS = 200
_ALWAYS_READ = ("lead_id", "owner_id", "created_at", "segment_ids")
_CACHE_LIMIT = 4096
_compiled: dict[tuple[str, str, int], CompiledCondition | None] = {}

FieldTypes = Callable[[str], Mapping[str, str] | None]


def _no_field_types(tenant_id: str) -> Mapping[str, str] | None:
    return None


@dataclass
class RefreshResult:
    """What :meth:`SegmentService.refresh_lead` changed: segment ids entered and exited."""

    entered: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    evaluated: int = 0


class SegmentService:
    """Segment use cases over a :class:`SegmentRepository` and the event publisher; ``enqueue`` queues
    jobs-queue steps; ``field_types`` gives a tenant's custom field types."""

    def __init__(
        self,
        segments: SegmentRepository,
        events: EventPublisher,
        *,
        enqueue: Callable[[Sequence[Mapping[str, Any]]], None] | None = None,
        field_types: FieldTypes = _no_field_types,
        lists: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self._segments = segments
        self._lists = lists
        self._events = events
        self._enqueue = enqueue
        self._field_types = field_types
        self._clock = clock

    # ------------------------------------------------------------------ CRUD
    def create(self, principal: Principal, request: SegmentCreate) -> Segment:
        """Validate the rules, store the segment (``building``) and queue its initial membership.

        Raises:
            ConditionError (422): invalid rules, naming the bad node's path.
        """
        compiled = self._validate(principal.tenant_id, request.include, request.exclude)
        now = self._clock()
        segment = Segment(
            segment_id=uuid.uuid4().hex,
            name=request.name,
            description=request.description,
            include=request.include,
            exclude=request.exclude,
            version=1,
            status=SegmentStatus.BUILDING,
            count=0,
            time_dependent=compiled.time_dependent,
            fields=sorted(compiled.fields),
            created_by=principal.user_id,
            created_at=now,
            updated_at=now,
        )
        self._segments.create(principal.tenant_id, segment)
        self._queue_rebuild(principal.tenant_id, segment, publish=False)
        return segment

    def list_segments(self, principal: Principal) -> SegmentCollection:
        """Every segment of the tenant, most recently updated first; ``count`` as :meth:`get`."""
        items = [self._with_fields(s) for s in self._segments.list_segments(principal.tenant_id)]
        items = self._counted_for(principal, items)
        return SegmentCollection(items=sorted(items, key=lambda s: s.updated_at, reverse=True))

    def get(self, principal: Principal, segment_id: str) -> Segment:
        """The segment; its ``count`` is the members the caller may see (a rep: their own and unassigned
        leads, as the member pages show them; admins and managers: every member). Raises
        SegmentNotFoundError (404)."""
        return self._counted_for(
            principal, [self._with_fields(self._segments.get(principal.tenant_id, segment_id))]
        )[0]

    def _counted_for(self, principal: Principal, segments: list[Segment]) -> list[Segment]:
        """``segments`` with ``count`` over what ``principal`` may see: the stored member counts for admins
        and managers; for a rep, counted on request (:meth:`SegmentRepository.visible_member_counts`), so
        a rule naming another rep's leads counts nothing a rep could not page through."""
        if principal.visible_to is None or not segments:
            return segments
        counts = self._segments.visible_member_counts(
            principal.tenant_id, [s.segment_id for s in segments], principal.visible_to
        )
        return [s.model_copy(update={"count": counts.get(s.segment_id, 0)}) for s in segments]

    def update(self, principal: Principal, segment_id: str, request: SegmentUpdate) -> Segment:
        """Rename, describe or change the rules. A rule change moves the version, sets ``building`` and
        rebuilds the membership in the background (members that leave or join publish events).

        Raises:
            SegmentNotFoundError (404), ForbiddenError (403), ConditionError (422).
        """
        current = self._check_manage(principal, segment_id)
        changes = request.model_dump(exclude_unset=True)
        for required in ("name", "include"):
            if required in changes and changes[required] is None:
                raise UnprocessableError(
                    f"{required} cannot be null", details=[{"field": required, "problem": "required"}]
                )
        new_rules = any(k in changes and changes[k] != getattr(current, k) for k in ("include", "exclude"))
        if new_rules:
            compiled = self._validate(
                principal.tenant_id,
                changes.get("include", current.include),
                changes.get("exclude", current.exclude),
            )
            changes["time_dependent"] = compiled.time_dependent
        else:
            changes.pop("include", None)
            changes.pop("exclude", None)
        if not changes:
            return self._counted_for(principal, [current])[0]
        updated = self._segments.update(
            principal.tenant_id, segment_id, changes, new_rules=new_rules, updated_at=self._clock()
        )
        if new_rules:
            self._queue_rebuild(principal.tenant_id, updated, publish=True)
        return self._counted_for(principal, [self._with_fields(updated)])[0]

    def delete(self, principal: Principal, segment_id: str) -> None:
        """Delete the segment; memberships go now when few, else in the background.

        Raises SegmentNotFoundError (404), ForbiddenError (403)."""
        current = self._check_manage(principal, segment_id)
        self._segments.delete(principal.tenant_id, segment_id)
        if current.count > SYNC_PURGE_MEMBERS and self._enqueue is not None:
            self._enqueue([{"kind": PURGE_JOB, "tenant_id": principal.tenant_id, "segment_id": segment_id}])
        else:
            self.purge(principal.tenant_id, segment_id)

    def purge(self, tenant_id: str, segment_id: str, *, limit: int | None = None) -> int:
        """Remove the memberships of a deleted segment (idempotent); returns how many were removed."""
        removed = 0
        for lead_id in list(self._segments.iter_member_ids(tenant_id, segment_id)):
            removed += self._segments.exit(tenant_id, segment_id, lead_id, version=None)
            if limit is not None and removed >= limit:
                break
        return removed

    def iter_member_ids(self, tenant_id: str, segment_id: str) -> Iterator[str]:
        """Every member's lead id (service API for bulk actions, exports...). Raises SegmentNotFoundError."""
        self._segments.get(tenant_id, segment_id)
        return self._segments.iter_member_ids(tenant_id, segment_id)

    def list_leads(
        self, principal: Principal, segment_id: str, *, limit: int, cursor: str | None
    ) -> LeadPage:
        """One page of members, newest created first (reps: only leads they can see, the page filled up to
        ``limit`` of them)."""
        self._segments.get(principal.tenant_id, segment_id)
        ids, next_cursor = self._segments.page_members(
            principal.tenant_id, segment_id, limit=limit, cursor=cursor, visible_to=principal.visible_to
        )
        rows = self._segments.lead_summaries(principal.tenant_id, ids)
        return LeadPage(items=[r for r in rows if principal.can_see(r.owner_id)], next_cursor=next_cursor)

    def preview(self, principal: Principal, request: SegmentPreviewRequest) -> SegmentPreview:
        """Count the leads the rules match now (reps: among the leads they can see) and sample the newest,
        without saving. Reads every lead of the tenant once, projected to the fields the rules use.

        Raises:
            ConditionError (422).
        """
        started = time.perf_counter()
        compiled = self._validate(principal.tenant_id, request.include, request.exclude)
        attributes = {*compiled.fields_used, "owner_id"}
        if attributes | {"created_at"} <= self._segments.condition_attributes:
            count, evaluated, sample = self._preview_from_index(principal, compiled, attributes, request)
        else:  # a rule names an attribute the condition index does not project
            count, evaluated, sample = self._preview_from_profiles(principal, compiled, attributes, request)
        rows = self._segments.lead_summaries(principal.tenant_id, sample) if sample else []
        return SegmentPreview(
            count=count,
            sample=rows,
            evaluated=evaluated,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def _preview_from_profiles(
        self,
        principal: Principal,
        compiled: CompiledCondition,
        attributes: set[str],
        request: SegmentPreviewRequest,
    ) -> tuple[int, int, list[str]]:
        """Count/evaluated/sample over ``leads_by_created`` (newest first: the sample is the first matches)."""
        count = evaluated = 0
        sample: list[str] = []
        for page in self._segments.read_lead_records(principal.tenant_id, attributes):
            for record in page.records:
                if not principal.can_see(record.get("owner_id")):
                    continue
                evaluated += 1
                if compiled(record):
                    count += 1
                    if len(sample) < request.sample_size:
                        sample.append(record["lead_id"])
        return count, evaluated, sample

    def _preview_from_index(
        self,
        principal: Principal,
        compiled: CompiledCondition,
        attributes: set[str],
        request: SegmentPreviewRequest,
    ) -> tuple[int, int, list[str]]:
        """Count/evaluated/sample over the sharded condition index (pages arrive in no order, so the sample
        keeps the ``sample_size`` newest matches by ``(created_at, lead_id)``: the same leads, in the same
        order, as :meth:`_preview_from_profiles` picks)."""
        count = evaluated = 0
        newest: list[tuple[str, str]] = []  # min-heap of the newest matches
        size = request.sample_size
        for page in self._segments.read_condition_records(principal.tenant_id, attributes | {"created_at"}):
            for record in page.records:
                if not principal.can_see(record.get("owner_id")):
                    continue
                evaluated += 1
                if compiled(record):
                    count += 1
                    if size:
                        key = (_created_key(record.get("created_at")), record["lead_id"])
                        if len(newest) < size:
                            heapq.heappush(newest, key)
                        elif key > newest[0]:
                            heapq.heapreplace(newest, key)
        return count, evaluated, [lead_id for _, lead_id in sorted(newest, reverse=True)]

    # ------------------------------------------------------------------ membership
    def refresh_lead(self, tenant_id: str, lead_id: str, *, cause: str = "lead_change") -> RefreshResult:
        """Re-evaluate every segment of the tenant for one lead and write what changed; publish
        ``segment.entered``/``segment.exited``. A deleted lead leaves every segment (and static list).

        Idempotent: running it twice changes nothing the second time.
        """
        result = RefreshResult()
        by_id: dict[str, Segment] = {}
        for _attempt in range(3):
            segments = self._segments.list_segments(tenant_id)
            by_id = {s.segment_id: s for s in segments}
            record = self._segments.lead_record(tenant_id, lead_id)
            if record is None:
                self._forget_lead(tenant_id, lead_id, segments)
                return result
            try:
                self._apply(tenant_id, record, segments, result)
                break
            except StaleSegmentError:
                continue  # a segment's rules changed meanwhile: read them again
        self._publish(tenant_id, lead_id, result, by_id, cause)
        return result

    def _apply(
        self, tenant_id: str, record: Mapping[str, Any], segments: list[Segment], result: RefreshResult
    ) -> None:
        lead_id = record["lead_id"]
        current = set(record.get("segment_ids") or ())
        now = self._clock()
        known = set()
        for segment in segments:
            known.add(segment.segment_id)
            predicate = self._predicate(tenant_id, segment)
            if predicate is None:
                continue
            result.evaluated += 1
            matches = predicate.at(now)(record)
            member = segment.segment_id in current
            if matches and not member:
                if self._segments.enter(
                    tenant_id,
                    segment.segment_id,
                    segment.version,
                    lead_id,
                    created_at=record.get("created_at"),
                    at=now,
                ):
                    result.entered.append(segment.segment_id)
            elif (
                member
                and not matches
                and self._segments.exit(tenant_id, segment.segment_id, lead_id, version=segment.version)
            ):
                result.exited.append(segment.segment_id)
        for stale in current - known:  # segments deleted meanwhile
            self._segments.exit(tenant_id, stale, lead_id, version=None)

    def _forget_lead(self, tenant_id: str, lead_id: str, segments: list[Segment]) -> None:
        for segment_id in self._segments.memberships_of(tenant_id, [s.segment_id for s in segments], lead_id):
            self._segments.exit(tenant_id, segment_id, lead_id, version=None)
        if self._lists is None:
            return
        try:
            self._lists().remove_lead_everywhere(tenant_id, lead_id)
        except Exception:  # the segment cleanup stands even if the list cleanup must be retried
            log.exception("list cleanup of deleted lead %s failed", lead_id)
            raise

    def rebuild(
        self,
        tenant_id: str,
        segment_id: str,
        version: int,
        *,
        start_key: dict[str, Any] | None,
        publish: bool,
    ) -> dict[str, Any] | None:
        """Evaluate the segment (at ``version``) on the tenant's leads from ``start_key``, for up to
        :data:`REBUILD_STEP_LEADS` leads; write membership changes; mark ``ready`` at the end.

        Returns the key to continue from, or None when done (or when the segment moved on / is gone).
        """
        try:
            segment = self._segments.get(tenant_id, segment_id)
        except SegmentNotFoundError:
            return None
        if segment.version != version:
            return None  # a newer rebuild is queued
        predicate = self._predicate(tenant_id, segment)
        if predicate is None:
            return None
        now = self._clock()
        predicate = predicate.at(now)
        attributes = {*predicate.fields_used, *_ALWAYS_READ}
        seen = 0
        entered_by_lead: list[tuple[str, str]] = []
        try:
            for page in self._segments.read_lead_records(tenant_id, attributes, start_key=start_key):
                for record in page.records:
                    lead_id = record["lead_id"]
                    member = segment_id in (record.get("segment_ids") or ())
                    matches = predicate(record)
                    if matches and not member:
                        if self._segments.enter(
                            tenant_id,
                            segment_id,
                            version,
                            lead_id,
                            created_at=record.get("created_at"),
                            at=now,
                        ):
                            entered_by_lead.append((lead_id, "entered"))
                    elif (
                        member
                        and not matches
                        and self._segments.exit(tenant_id, segment_id, lead_id, version=version)
                    ):
                        entered_by_lead.append((lead_id, "exited"))
                seen += len(page.records)
                if page.next_key is not None and seen >= REBUILD_STEP_LEADS:
                    self._publish_many(tenant_id, segment, entered_by_lead, publish)
                    return page.next_key
        except StaleSegmentError:
            return None
        self._publish_many(tenant_id, segment, entered_by_lead, publish)
        self._segments.mark_ready(tenant_id, segment_id, version, now)
        return None

    # ------------------------------------------------------------------ helpers
    def _validate(self, tenant_id: str, include: Any, exclude: Any) -> CompiledCondition:
        return compile_rules(include, exclude, field_types=self._field_types(tenant_id), now=self._clock())

    def _predicate(self, tenant_id: str, segment: Segment) -> CompiledCondition | None:
        key = (tenant_id, segment.segment_id, segment.version)
        if key not in _compiled:
            if len(_compiled) >= _CACHE_LIMIT:
                _compiled.clear()
            try:
                _compiled[key] = compile_rules(
                    segment.include,
                    segment.exclude,
                    field_types=self._field_types(tenant_id),
                    now=self._clock(),
                )
            except ConditionError:
                try:  # a custom field was deleted or retyped since: evaluate it untyped
                    _compiled[key] = compile_rules(segment.include, segment.exclude, now=self._clock())
                except ConditionError:
                    log.warning("segment %s has rules that no longer validate", segment.segment_id)
                    _compiled[key] = None
        return _compiled[key]

    def _with_fields(self, segment: Segment) -> Segment:
        try:
            fields = sorted(compile_rules(segment.include, segment.exclude).fields)
        except ConditionError:
            fields = []
        return segment.model_copy(update={"fields": fields})

    def _check_manage(self, principal: Principal, segment_id: str) -> Segment:
        current = self._with_fields(self._segments.get(principal.tenant_id, segment_id))
        if not principal.sees_all_leads and current.created_by != principal.user_id:
            raise ForbiddenError("only admins, managers and the segment's creator change or delete a segment")
        return current

    def _queue_rebuild(self, tenant_id: str, segment: Segment, *, publish: bool) -> None:
        message = {
            "kind": REBUILD_JOB,
            "tenant_id": tenant_id,
            "segment_id": segment.segment_id,
            "version": segment.version,
            "publish": publish,
        }
        if self._enqueue is None:
            run_rebuild_with(self, message)
        else:
            self._enqueue([message])

    def _publish(
        self, tenant_id: str, lead_id: str, result: RefreshResult, by_id: Mapping[str, Segment], cause: str
    ) -> None:
        at = iso(self._clock())
        events = [
            LeadEvent(
                type=kind,
                tenant_id=tenant_id,
                lead_id=lead_id,
                occurred_at=at,
                data={
                    "segment_id": segment_id,
                    "segment_name": by_id[segment_id].name if segment_id in by_id else None,
                    "version": by_id[segment_id].version if segment_id in by_id else None,
                    "cause": cause,
                },
            )
            for kind, ids in (
                (LeadEventType.SEGMENT_ENTERED, result.entered),
                (LeadEventType.SEGMENT_EXITED, result.exited),
            )
            for segment_id in ids
        ]
        if events:
            self._events.publish(events)

    def _publish_many(
        self, tenant_id: str, segment: Segment, changes: list[tuple[str, str]], publish: bool
    ) -> None:
        if not publish or not changes:
            return
        at = iso(self._clock())
        data = {
            "segment_id": segment.segment_id,
            "segment_name": segment.name,
            "version": segment.version,
            "cause": "rebuild",
        }
        self._events.publish(
            [
                LeadEvent(
                    type=LeadEventType.SEGMENT_ENTERED
                    if change == "entered"
                    else LeadEventType.SEGMENT_EXITED,
                    tenant_id=tenant_id,
                    lead_id=lead_id,
                    occurred_at=at,
                    data=data,
                )
                for lead_id, change in changes
            ]
        )


def _created_key(value: Any) -> str:
    """``created_at`` as the millisecond ISO prefix ``leads_by_created`` sorts by (``created_sk`` =
    ``<iso ms>Z#<lead_id>``), so ties break by lead id exactly as there. Stored values look like
    ``2024-06-15T12:00:00.123456+0000`` (PynamoDB); anything else is parsed."""
    if isinstance(value, str) and len(value) >= 23 and value[10] == "T" and value[19] == ".":
        return value[:23]
    epoch = to_epoch(value)
    if epoch is None:
        return ""
    return iso(datetime.fromtimestamp(epoch, UTC))[:23]


def run_rebuild_with(service: SegmentService, message: Mapping[str, Any]) -> None:
    """Run one ``segments.rebuild`` step with ``service``; queue the next step when there is more."""
    next_key = service.rebuild(
        message["tenant_id"],
        message["segment_id"],
        int(message["version"]),
        start_key=message.get("start_key"),
        publish=bool(message.get("publish")),
    )
    if next_key is None:
        return
    follow = {**message, "start_key": next_key}
    if service._enqueue is None:
        run_rebuild_with(service, follow)
    else:
        service._enqueue([follow])


def run_rebuild(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue step ``segments.rebuild`` {tenant_id, segment_id, version, publish, start_key?}."""
    run_rebuild_with(wiring.segment_service, message)


def run_purge(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue step ``segments.purge`` {tenant_id, segment_id}: remove a deleted segment's members."""
    service = wiring.segment_service
    removed = service.purge(message["tenant_id"], message["segment_id"], limit=REBUILD_STEP_LEADS)
    if removed >= REBUILD_STEP_LEADS and service._enqueue is not None:
        service._enqueue([dict(message)])
