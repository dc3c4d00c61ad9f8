"""Segment service against an in-memory repository: refresh (enter/exit/idempotent/events), version guard
against stale writes, rebuild steps, deleted leads, compiled-predicate cache by version, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadtide.models.auth import Principal, owner_visible
from leadtide.models.common import Role
from leadtide.models.errors import ForbiddenError, SegmentNotFoundError
from leadtide.segments import service as segment_service
from leadtide.segments.models import Segment, SegmentCreate, SegmentPreviewRequest, SegmentUpdate
from leadtide.segments.ports import RecordPage, SegmentRepository, StaleSegmentError
from leadtide.segments.service import SegmentService

NOW = datetime(2024, 6, 15, tzinfo=UTC)
ADMIN = Principal("t1", "u-admin", Role.ADMIN)
REP = Principal("t1", "u-rep", Role.REP)


class FakeSegmentRepository(SegmentRepository):
    def __init__(self, page_size: int = 2):
        self.segments: dict[tuple[str, str], Segment] = {}
        self.members: dict[tuple[str, str], set[str]] = {}
        self.leads: dict[tuple[str, str], dict] = {}
        self.page_size = page_size
        self.before_write = None  # hook: simulate a concurrent rule change

    def create(self, tenant_id, segment):
        self.segments[(tenant_id, segment.segment_id)] = segment
        self.members[(tenant_id, segment.segment_id)] = set()

    def list_segments(self, tenant_id):
        return [s for (t, _), s in self.segments.items() if t == tenant_id]

    def get(self, tenant_id, segment_id):
        try:
            return self.segments[(tenant_id, segment_id)]
        except KeyError:
            raise SegmentNotFoundError("nope") from None

    def update(self, tenant_id, segment_id, changes, *, new_rules, updated_at):
        seg = self.get(tenant_id, segment_id)
        update = {**changes, "updated_at": updated_at}
        if new_rules:
            update |= {"version": seg.version + 1, "status": "building"}
        self.segments[(tenant_id, segment_id)] = seg.model_copy(update=update)
        return self.segments[(tenant_id, segment_id)]

    def delete(self, tenant_id, segment_id):
        self.get(tenant_id, segment_id)
        del self.segments[(tenant_id, segment_id)]

    def mark_ready(self, tenant_id, segment_id, version, built_at):
        seg = self.segments.get((tenant_id, segment_id))
        if seg is None or seg.version != version:
            return False
        self.segments[(tenant_id, segment_id)] = seg.model_copy(
            update={"status": "ready", "built_at": built_at}
        )
        return True

    def lead_record(self, tenant_id, lead_id):
        rec = self.leads.get((tenant_id, lead_id))
        return dict(rec) if rec else None

    def read_lead_records(self, tenant_id, attributes, *, start_key=None):
        rows = sorted((r for (t, _), r in self.leads.items() if t == tenant_id), key=lambda r: r["lead_id"])
        start = int(start_key["i"]) if start_key else 0
        for i in range(start, len(rows), self.page_size):
            chunk = [
                {k: v for k, v in r.items() if k in {*attributes, "lead_id"}}
                for r in rows[i : i + self.page_size]
            ]
            nxt = {"i": i + self.page_size} if i + self.page_size < len(rows) else None
            yield RecordPage(records=chunk, next_key=nxt)

    def _check(self, tenant_id, segment_id, version):
        if self.before_write:
            hook, self.before_write = self.before_write, None
            hook()
        seg = self.segments.get((tenant_id, segment_id))
        if seg is None or (version is not None and seg.version != version):
            raise StaleSegmentError(segment_id)
        return seg

    def enter(self, tenant_id, segment_id, version, lead_id, *, created_at, at):
        seg = self._check(tenant_id, segment_id, version)
        members = self.members[(tenant_id, segment_id)]
        if lead_id in members or (tenant_id, lead_id) not in self.leads:
            return False
        members.add(lead_id)
        self.leads[(tenant_id, lead_id)].setdefault("segment_ids", set()).add(segment_id)
        self.segments[(tenant_id, segment_id)] = seg.model_copy(update={"count": seg.count + 1})
        return True

    def exit(self, tenant_id, segment_id, lead_id, *, version):
        members = self.members.get((tenant_id, segment_id), set())
        if version is not None:
            self._check(tenant_id, segment_id, version)
        lead = self.leads.get((tenant_id, lead_id))
        if lead:
            lead.get("segment_ids", set()).discard(segment_id)
        if lead_id not in members:
            return False
        members.discard(lead_id)
        seg = self.segments.get((tenant_id, segment_id))
        if seg:
            self.segments[(tenant_id, segment_id)] = seg.model_copy(update={"count": seg.count - 1})
        return True

    def memberships_of(self, tenant_id, segment_ids, lead_id):
        return {s for s in segment_ids if lead_id in self.members.get((tenant_id, s), set())}

    def page_members(self, tenant_id, segment_id, *, limit, cursor, visible_to=None):
        ids = sorted(self.members[(tenant_id, segment_id)])
        if visible_to is not None:
            ids = [
                i
                for i in ids
                if owner_visible(self.leads.get((tenant_id, i), {}).get("owner_id"), visible_to)
            ]
        return ids[:limit], None

    def iter_member_ids(self, tenant_id, segment_id):
        return iter(sorted(self.members[(tenant_id, segment_id)]))

    def lead_summaries(self, tenant_id, lead_ids):
        from leadtide.models.leads import LeadSummary

        return [
            LeadSummary(
                lead_id=i,
                source_channel="manual",
                status=self.leads[(tenant_id, i)].get("status", "New"),
                owner_id=self.leads[(tenant_id, i)].get("owner_id"),
                created_at=NOW,
                last_activity_at=NOW,
            )
            for i in lead_ids
            if (tenant_id, i) in self.leads
        ]


@pytest.fixture
def repo():
    return FakeSegmentRepository()


@pytest.fixture
def svc(repo, events):
    segment_service._compiled.clear()
    return SegmentService(repo, events, enqueue=None, clock=lambda: NOW)


def _lead(repo, lead_id, tenant="t1", **fields):
    repo.leads[(tenant, lead_id)] = {"lead_id": lead_id, "created_at": NOW, **fields}


def test_create_builds_and_refresh_follows_changes(repo, svc, events):
    for i, status in enumerate(["New", "Contacted", "New", "Lost", "New"]):
        _lead(repo, f"l{i}", status=status)
    seg = svc.create(
        ADMIN, SegmentCreate(name="new", include={"field": "status", "op": "eq", "value": "New"})
    )
    stored = repo.get("t1", seg.segment_id)
    assert stored.status == "ready" and stored.count == 3
    assert repo.members[("t1", seg.segment_id)] == {"l0", "l2", "l4"}
    assert events.types() == []  # first build is silent
    repo.leads[("t1", "l1")]["status"] = "New"
    repo.leads[("t1", "l0")]["status"] = "Lost"
    r1 = svc.refresh_lead("t1", "l1")
    r0 = svc.refresh_lead("t1", "l0")
    assert (r1.entered, r0.exited) == ([seg.segment_id], [seg.segment_id])
    assert events.types() == ["segment.entered", "segment.exited"]
    assert events.events[0].data["segment_name"] == "new" and events.events[0].lead_id == "l1"
    # idempotent
    assert svc.refresh_lead("t1", "l1").entered == [] and len(events.events) == 2
    assert repo.get("t1", seg.segment_id).count == 3


def test_a_rule_change_during_refresh_is_retried_with_the_new_rules(repo, svc):
    _lead(repo, "a", status="New", score=10)
    seg = svc.create(ADMIN, SegmentCreate(name="s", include={"field": "status", "op": "eq", "value": "Lost"}))
    repo.leads[("t1", "a")]["status"] = "Lost"

    def concurrent_change():
        repo.update(
            "t1",
            seg.segment_id,
            {"include": {"field": "score", "op": "gt", "value": 50}},
            new_rules=True,
            updated_at=NOW,
        )

    repo.before_write = concurrent_change
    result = svc.refresh_lead("t1", "a")
    # the stale (v1) enter was refused; under v2 (score > 50) the lead does not belong
    assert result.entered == [] and repo.members[("t1", seg.segment_id)] == set()


def test_rebuild_steps_stop_when_the_version_moved(repo, svc):
    for i in range(5):
        _lead(repo, f"l{i}", score=i * 20)
    seg = svc.create(ADMIN, SegmentCreate(name="s", include={"field": "score", "op": "gte", "value": 40}))
    assert repo.members[("t1", seg.segment_id)] == {"l2", "l3", "l4"}
    assert svc.rebuild("t1", seg.segment_id, version=99, start_key=None, publish=True) is None
    # a small step size returns a continuation key
    segment_service.REBUILD_STEP_LEADS, old = 2, segment_service.REBUILD_STEP_LEADS
    try:
        assert svc.rebuild("t1", seg.segment_id, 1, start_key=None, publish=False) == {"i": 2}
    finally:
        segment_service.REBUILD_STEP_LEADS = old


def test_update_moves_version_and_publishes_rebuild_changes(repo, svc, events):
    _lead(repo, "a", status="New")
    _lead(repo, "b", status="Lost")
    seg = svc.create(ADMIN, SegmentCreate(name="s", include={"field": "status", "op": "eq", "value": "New"}))
    updated = svc.update(
        ADMIN, seg.segment_id, SegmentUpdate(include={"field": "status", "op": "eq", "value": "Lost"})
    )
    assert updated.version == 2
    assert repo.members[("t1", seg.segment_id)] == {"b"}
    assert sorted((e.type, e.lead_id, e.data["cause"]) for e in events.events) == [
        ("segment.entered", "b", "rebuild"),
        ("segment.exited", "a", "rebuild"),
    ]
    assert svc.update(ADMIN, seg.segment_id, SegmentUpdate(name="renamed")).version == 2


def test_deleted_lead_leaves_its_segments(repo, events):
    cleaned = []
    lists = type("L", (), {"remove_lead_everywhere": lambda self, t, lead: cleaned.append(lead)})()
    svc = SegmentService(repo, events, enqueue=None, lists=lambda: lists, clock=lambda: NOW)
    _lead(repo, "a", status="New")
    seg = svc.create(ADMIN, SegmentCreate(name="s", include={"field": "status", "op": "eq", "value": "New"}))
    del repo.leads[("t1", "a")]
    svc.refresh_lead("t1", "a")
    assert repo.members[("t1", seg.segment_id)] == set() and repo.get("t1", seg.segment_id).count == 0
    assert cleaned == ["a"]


def test_time_dependent_rules_are_evaluated_at_refresh_time(repo, events):
    segment_service._compiled.clear()
    clock = {"now": NOW}
    svc = SegmentService(repo, events, clock=lambda: clock["now"])
    _lead(repo, "a", last_activity_at=NOW - timedelta(days=1))
    seg = svc.create(
        ADMIN,
        SegmentCreate(
            name="active", include={"field": "last_activity_at", "op": "within_last", "value": {"days": 7}}
        ),
    )
    assert seg.time_dependent and repo.members[("t1", seg.segment_id)] == {"a"}
    clock["now"] = NOW + timedelta(days=10)  # the nightly pass, ten days later, with the cached predicate
    assert svc.refresh_lead("t1", "a").exited == [seg.segment_id]


def test_preview_counts_and_rep_visibility(repo, svc):
    _lead(repo, "a", status="New", owner_id=None)
    _lead(repo, "b", status="New", owner_id="u-rep")
    _lead(repo, "c", status="New", owner_id="someone")
    _lead(repo, "d", status="Lost")
    req = SegmentPreviewRequest(include={"field": "status", "op": "eq", "value": "New"}, sample_size=2)
    admin = svc.preview(ADMIN, req)
    assert (admin.count, admin.evaluated, len(admin.sample)) == (3, 4, 2)
    rep = svc.preview(REP, req)
    assert (rep.count, rep.evaluated) == (2, 3)


def test_roles_and_tenants(repo, svc):
    seg = svc.create(ADMIN, SegmentCreate(name="s", include={"all": []}))
    with pytest.raises(ForbiddenError):
        svc.delete(REP, seg.segment_id)
    with pytest.raises(SegmentNotFoundError):
        svc.get(Principal("t2", "x", Role.ADMIN), seg.segment_id)
    own = svc.create(REP, SegmentCreate(name="mine", include={"all": []}))
    svc.delete(REP, own.segment_id)
    assert [s.segment_id for s in svc.list_segments(ADMIN).items] == [seg.segment_id]


def test_a_rep_counts_and_pages_only_the_members_they_can_see(repo, svc):
    # Given a segment of three leads: the rep's, another rep's and an unassigned one
    _lead(repo, "mine", status="New", owner_id="u-rep")
    _lead(repo, "theirs", status="New", owner_id="u-ron")
    _lead(repo, "free", status="New")
    seg = svc.create(REP, SegmentCreate(name="new", include={"field": "status", "op": "eq", "value": "New"}))
    # Then the admin counts every member and the rep only the two they can see, everywhere
    assert svc.get(ADMIN, seg.segment_id).count == 3
    assert svc.get(REP, seg.segment_id).count == 2
    assert [s.count for s in svc.list_segments(REP).items] == [2]
    rows = svc.list_leads(REP, seg.segment_id, limit=10, cursor=None).items
    assert {r.lead_id for r in rows} == {"mine", "free"}
    assert svc.update(REP, seg.segment_id, SegmentUpdate(name="renamed")).count == 2
    # and the stored count stays the tenant's
    assert repo.get("t1", seg.segment_id).count == 3
