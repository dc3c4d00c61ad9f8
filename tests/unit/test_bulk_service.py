"""Bulk actions: params checked up front, every action kind lead by lead through LeadService, progress,
partial success (visible / forbidden / missing), idempotent chunk redelivery, reports, tenant isolation."""

import csv
import io

import pytest

from leadtide.bulk.selection import SelectionResolver
from leadtide.bulk.service import CHUNK_KIND, PLAN_KIND, BulkActionService, parse_params
from leadtide.exports.service import RUN_KIND, ExportService
from leadtide.leads.service import LeadService
from leadtide.models.auth import Principal
from leadtide.models.bulk import MAX_INLINE_FAILURES, BulkActionCreate
from leadtide.models.common import Role
from leadtide.models.errors import (
    BulkActionNotFoundError,
    ForbiddenError,
    ListNotFoundError,
    UnprocessableError,
)
from leadtide.models.leads import ActivityType, LeadUpdate
from leadtide.models.selection import LeadFilter, LeadSelection
from tests.bulk_fakes import (
    FakeBulkActionRepository,
    FakeCollections,
    FakeCustomFields,
    FakeExportRepository,
    FakeStorage,
    RecordingEnqueue,
    add_lead,
)

ADMIN = Principal("t1", "boss", Role.ADMIN)
MANAGER = Principal("t1", "mgr", Role.MANAGER)
REP = Principal("t1", "rep-a", Role.REP)
MISSING = "f" * 32


class Env:
    def __init__(self, repo, events, chunk_size=2):
        self.repo, self.events = repo, events
        self.actions = FakeBulkActionRepository()
        self.storage = FakeStorage()
        self.collections = FakeCollections()
        self.queue = RecordingEnqueue()
        self.exports = ExportService(
            FakeExportRepository(),
            self.storage,
            SelectionResolver(repo, self.collections),
            FakeCustomFields(),
            self.queue,
        )
        self.service = BulkActionService(
            self.actions,
            repo,
            LeadService(repo, events),
            SelectionResolver(repo, self.collections),
            self.collections,
            self.storage,
            lambda: self.exports,
            self.queue,
            chunk_size=chunk_size,
        )

    def start(self, principal, action, selection, **params):
        return self.service.create(
            principal, BulkActionCreate(selection=selection, action=action, params=params)
        )

    def settle(self):
        """Run every queued step (plans first, then chunks) until none is left."""
        while self.queue.messages:
            for m in self.queue.take(PLAN_KIND):
                self.service.plan(m["tenant_id"], m["bulk_action_id"])
            for m in self.queue.take(CHUNK_KIND):
                self.service.run_chunk(m["tenant_id"], m["bulk_action_id"], m["index"], m["lead_ids"])
            for m in self.queue.take(RUN_KIND):
                self.exports.run(m["tenant_id"], m["export_id"])


@pytest.fixture
def env(repo, events):
    return Env(repo, events)


@pytest.fixture
def team(repo):
    """Two leads of rep-a, one of rep-b, one unassigned (t1) and one lead of t2."""
    return {
        "a1": add_lead(repo, owner_id="rep-a", n=1, tags=["old"]),
        "a2": add_lead(repo, owner_id="rep-a", n=2),
        "b1": add_lead(repo, owner_id="rep-b", n=3),
        "u1": add_lead(repo, n=4),
        "other": add_lead(repo, tenant_id="t2", n=5),
    }


def ids(team, *names):
    return [team[n].lead_id for n in names]


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        ("set_status", {"status": "Archived"}, "params.status"),
        ("set_status", {}, "params.status"),
        ("set_owner", {"owner_id": 42}, "params.owner_id"),
        ("set_owner", {"owner_id": "has space"}, "params.owner_id"),
        ("set_owner", {"owner_id": ""}, "params.owner_id"),
        ("add_tags", {"tags": []}, "params.tags"),
        ("remove_tags", {"tags": ["bad<tag>"]}, "params.tags"),
        ("add_to_list", {}, "params.list_id"),
        ("export", {"format": "pdf"}, "params.format"),
        ("delete", {"force": True}, "params.force"),
    ],
)
def test_invalid_params_are_422_naming_the_param(action, params, field):
    with pytest.raises(UnprocessableError) as err:
        parse_params(action, params)
    assert field in err.value.message
    assert any(d["field"] == field for d in err.value.details)


def test_refusals_up_front_queue_nothing(env, team):
    everyone = LeadSelection(filter=LeadFilter())
    with pytest.raises(ForbiddenError):
        env.start(REP, "delete", everyone)
    with pytest.raises(ForbiddenError):
        env.start(REP, "set_owner", everyone, owner_id="rep-b")
    with pytest.raises(ListNotFoundError):
        env.start(ADMIN, "add_to_list", everyone, list_id="nope")
    with pytest.raises(ListNotFoundError):
        env.start(ADMIN, "set_status", LeadSelection(list_id="nope"), status="Lost")
    assert env.queue.messages == [] and env.actions.records == {}


# ------------------------------------------------------------------------------------------ actions
def test_set_status_goes_through_lead_rules_with_progress(env, team, repo, events):
    # Given: 4 ids (chunks of 2) in 2 chunks, one already Contacted
    LeadService(repo, events).update_lead(ADMIN, team["a2"].lead_id, LeadUpdate(status="Contacted"))
    repo.activities[("t1", team["a2"].lead_id)].clear()
    events.events.clear()
    action = env.start(
        ADMIN, "set_status", LeadSelection(lead_ids=ids(team, "a1", "a2", "b1", "u1")), status="Contacted"
    )
    assert action.status == "queued" and action.total is None
    env.settle()
    done = env.service.get(ADMIN, action.bulk_action_id)
    # Then: all four succeed; three changed (timeline + event + counters), the fourth was already there
    assert (done.status, done.total, done.processed, done.succeeded, done.failed, done.skipped) == (
        "completed",
        4,
        4,
        4,
        0,
        0,
    )
    assert all(repo.get_lead("t1", i).status == "Contacted" for i in ids(team, "a1", "a2", "b1", "u1"))
    changes = [a for i in ids(team, "a1", "b1", "u1") for a in repo.activities[("t1", i)]]
    assert [a.type for a in changes] == [ActivityType.STATUS_CHANGE] * 3
    assert changes[0].data == {"from": "New", "to": "Contacted"} and changes[0].author_id == "boss"
    assert events.types().count("lead.updated") == 3
    assert repo.dashboard("t1").by_status == {"Contacted": 4}
    assert done.report is not None and done.report.failures == []


def test_partial_success_mixes_visible_forbidden_and_missing_leads(env, team, repo):
    # When: rep-a sets Lost on own, unassigned, rep-b's, a missing and another tenant's lead
    selection = LeadSelection(lead_ids=[*ids(team, "a1", "u1", "b1"), MISSING, team["other"].lead_id])
    action = env.start(REP, "set_status", selection, status="Lost")
    env.settle()
    done = env.service.get(REP, action.bulk_action_id)
    # Then: two succeed, rep-b's lead fails "forbidden", the missing and foreign leads are skipped
    assert (done.total, done.processed, done.succeeded, done.failed, done.skipped) == (5, 5, 2, 1, 2)
    report = {(f.lead_id, f.outcome, f.reason) for f in done.report.failures}
    assert report == {
        (team["b1"].lead_id, "failed", "forbidden"),
        (MISSING, "skipped", "not found"),
        (team["other"].lead_id, "skipped", "not found"),
    }
    assert repo.get_lead("t1", team["b1"].lead_id).status == "New"
    assert repo.get_lead("t2", team["other"].lead_id).status == "New"
    assert repo.get_lead("t1", team["u1"].lead_id).status == "Lost"


def test_set_owner_records_owner_changes(env, team, repo):
    action = env.start(MANAGER, "set_owner", LeadSelection(lead_ids=ids(team, "a1", "u1")), owner_id="rep-b")
    env.settle()
    assert env.service.get(MANAGER, action.bulk_action_id).succeeded == 2
    assert {repo.get_lead("t1", i).owner_id for i in ids(team, "a1", "u1")} == {"rep-b"}
    entry = repo.activities[("t1", team["u1"].lead_id)][-1]
    assert entry.type == ActivityType.OWNER_CHANGE and entry.data == {"from": None, "to": "rep-b"}


def test_reps_may_claim_leads_for_themselves(env, team, repo):
    action = env.start(REP, "set_owner", LeadSelection(lead_ids=ids(team, "u1", "b1")), owner_id="rep-a")
    env.settle()
    done = env.service.get(REP, action.bulk_action_id)
    assert (done.succeeded, done.failed) == (1, 1)
    assert repo.get_lead("t1", team["u1"].lead_id).owner_id == "rep-a"


def test_add_and_remove_tags(env, team, repo):
    selection = LeadSelection(lead_ids=ids(team, "a1", "a2"))
    env.start(ADMIN, "add_tags", selection, tags=["vip", "old", "vip"])
    env.settle()
    assert repo.get_lead("t1", team["a1"].lead_id).tags == ["old", "vip"]
    assert repo.get_lead("t1", team["a2"].lead_id).tags == ["vip", "old"]
    env.start(ADMIN, "remove_tags", selection, tags=["old"])
    env.settle()
    assert repo.get_lead("t1", team["a1"].lead_id).tags == ["vip"]
    assert repo.get_lead("t1", team["a2"].lead_id).tags == ["vip"]


def test_adding_past_fifty_tags_fails_that_lead_only(env, repo):
    full = add_lead(repo, tags=[f"t{i}" for i in range(50)])
    roomy = add_lead(repo)
    action = env.start(ADMIN, "add_tags", LeadSelection(lead_ids=[full.lead_id, roomy.lead_id]), tags=["new"])
    env.settle()
    done = env.service.get(ADMIN, action.bulk_action_id)
    assert (done.succeeded, done.failed) == (1, 1)
    assert "50 tags" in done.report.failures[0].reason
    assert repo.get_lead("t1", roomy.lead_id).tags == ["new"]


def test_add_to_and_remove_from_list(env, team):
    env.collections.lists[("t1", "vip")] = []
    action = env.start(REP, "add_to_list", LeadSelection(lead_ids=ids(team, "a1", "b1", "u1")), list_id="vip")
    env.settle()
    done = env.service.get(REP, action.bulk_action_id)
    assert env.collections.lists[("t1", "vip")] == ids(team, "a1", "u1")
    assert (done.succeeded, done.failed) == (2, 1)
    env.start(ADMIN, "remove_from_list", LeadSelection(list_id="vip"), list_id="vip")
    env.settle()
    assert env.collections.lists[("t1", "vip")] == []


def test_delete_removes_leads_and_list_memberships(env, team, repo, events):
    env.collections.lists[("t1", "vip")] = ids(team, "a1", "u1")
    action = env.start(ADMIN, "delete", LeadSelection(lead_ids=[*ids(team, "a1", "a2"), MISSING]))
    env.settle()
    done = env.service.get(ADMIN, action.bulk_action_id)
    assert (done.succeeded, done.skipped) == (2, 1)
    assert ("t1", team["a1"].lead_id) not in repo.leads and ("t1", team["a2"].lead_id) not in repo.leads
    assert env.collections.lists[("t1", "vip")] == [team["u1"].lead_id]
    assert events.types().count("lead.deleted") == 2
    assert repo.dashboard("t1").total_leads == 2


def test_filter_selection_and_export_action(env, team, repo):
    action = env.start(ADMIN, "export", LeadSelection(filter=LeadFilter(owner="rep-a")), format="csv")
    assert action.export_id is not None and action.status == "queued"
    env.settle()
    done = env.service.get(ADMIN, action.bulk_action_id)
    assert done.status == "completed" and done.total == 2 and done.download is not None
    data = env.storage.objects[f"exports/t1/{action.export_id}/leads.csv"].decode("utf-8-sig")
    assert team["a1"].lead_id in data and team["b1"].lead_id not in data


def test_an_empty_selection_completes_at_once(env):
    action = env.start(ADMIN, "set_status", LeadSelection(filter=LeadFilter(status="Lost")), status="New")
    env.settle()
    done = env.service.get(ADMIN, action.bulk_action_id)
    assert (done.status, done.total, done.processed) == ("completed", 0, 0)


# ------------------------------------------------------------------------------------------ idempotency
def test_a_redelivered_chunk_counts_once(env, team, repo, events):
    action = env.start(
        ADMIN, "set_status", LeadSelection(lead_ids=ids(team, "a1", "a2", "b1")), status="Lost"
    )
    plan = env.queue.take(PLAN_KIND)[0]
    env.service.plan(plan["tenant_id"], plan["bulk_action_id"])
    chunks = env.queue.take(CHUNK_KIND)
    assert [len(c["lead_ids"]) for c in chunks] == [2, 1]
    # When: the first chunk is delivered twice, and the plan step is redelivered too
    env.service.run_chunk("t1", action.bulk_action_id, chunks[0]["index"], chunks[0]["lead_ids"])
    after_first = env.service.get(ADMIN, action.bulk_action_id)
    published = len(events.events)
    env.service.run_chunk("t1", action.bulk_action_id, chunks[0]["index"], chunks[0]["lead_ids"])
    env.service.plan(plan["tenant_id"], plan["bulk_action_id"])
    again = env.service.get(ADMIN, action.bulk_action_id)
    # Then: counts are unchanged, nothing is published twice, the action is still running
    assert (again.processed, again.succeeded, again.status) == (
        after_first.processed,
        after_first.succeeded,
        "running",
    )
    assert (again.processed, again.total) == (2, 3)
    assert len(events.events) == published
    # When: the remaining chunks (and the re-queued duplicates) run
    for c in [chunks[1], *env.queue.take(CHUNK_KIND)]:
        env.service.run_chunk("t1", action.bulk_action_id, c["index"], c["lead_ids"])
    done = env.service.get(ADMIN, action.bulk_action_id)
    assert (done.status, done.processed, done.succeeded) == ("completed", 3, 3)
    assert len([a for i in ids(team, "a1", "a2", "b1") for a in repo.activities[("t1", i)]]) == 3


def test_more_failures_than_listed_inline_go_to_a_csv(repo, events):
    env = Env(repo, events, chunk_size=500)
    missing = [f"{i:032x}" for i in range(MAX_INLINE_FAILURES + 5)]
    action = env.start(ADMIN, "set_status", LeadSelection(lead_ids=missing), status="Lost")
    env.settle()
    done = env.service.get(ADMIN, action.bulk_action_id)
    assert (done.status, done.skipped) == ("completed", MAX_INLINE_FAILURES + 5)
    assert len(done.report.failures) == MAX_INLINE_FAILURES and done.report.truncated
    assert done.report.download is not None
    key = f"bulk-actions/t1/{action.bulk_action_id}/failures.csv"
    rows = list(csv.DictReader(io.StringIO(env.storage.objects[key].decode("utf-8-sig"))))
    assert len(rows) == MAX_INLINE_FAILURES + 5
    assert {r["lead_id"] for r in rows} == set(missing)
    assert rows[0]["outcome"] == "skipped" and rows[0]["reason"] == "not found"


# ------------------------------------------------------------------------------------------ access
def test_history_and_isolation(env, team):
    mine = env.start(REP, "add_tags", LeadSelection(lead_ids=ids(team, "a1")), tags=["x"])
    boss = env.start(ADMIN, "add_tags", LeadSelection(lead_ids=ids(team, "a1")), tags=["y"])
    assert [a.bulk_action_id for a in env.service.history(ADMIN, limit=10, cursor=None).items] == [
        boss.bulk_action_id,
        mine.bulk_action_id,
    ]
    assert [a.bulk_action_id for a in env.service.history(REP, limit=10, cursor=None).items] == [
        mine.bulk_action_id
    ]
    with pytest.raises(ForbiddenError):
        env.service.get(REP, boss.bulk_action_id)
    with pytest.raises(BulkActionNotFoundError):
        env.service.get(Principal("t2", "boss", Role.ADMIN), boss.bulk_action_id)
    assert env.service.history(Principal("t2", "boss", Role.ADMIN), limit=10, cursor=None).items == []
