"""Lead selections: exactly one selector, each selector resolved, reps limited to their own and unassigned."""

import pytest
from pydantic import ValidationError

from leadtide.bulk.selection import LeadFilter, LeadSelection, SelectionResolver, filter_query
from leadtide.models.auth import Principal
from leadtide.models.common import Role
from leadtide.models.errors import ListNotFoundError, SegmentNotFoundError
from tests.bulk_fakes import FakeCollections, add_lead

ADMIN = Principal("t1", "boss", Role.ADMIN)
REP = Principal("t1", "rep-a", Role.REP)


@pytest.fixture
def world(repo):
    # Given: six leads of t1 (two per owner: rep-a, rep-b, nobody) and one of t2
    leads = {
        "a1": add_lead(repo, owner_id="rep-a", status="New", n=1),
        "a2": add_lead(repo, owner_id="rep-a", status="Contacted", n=2, company="Acme"),
        "b1": add_lead(repo, owner_id="rep-b", status="New", n=3),
        "b2": add_lead(repo, owner_id="rep-b", status="Contacted", n=4, company="Acme"),
        "u1": add_lead(repo, status="New", n=5),
        "u2": add_lead(repo, status="Lost", n=6, company="Acme"),
        "other": add_lead(repo, tenant_id="t2", status="New", n=7),
    }
    collections = FakeCollections()
    ids = {k: v.lead_id for k, v in leads.items()}
    collections.lists[("t1", "vip")] = [ids["a1"], ids["b1"], ids["u1"], ids["a1"]]
    collections.segments[("t1", "hot")] = [ids["b2"], ids["u2"]]
    return SelectionResolver(repo, collections), ids


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, "found: none"),
        ({"list_id": "x", "segment_id": "y"}, "found: list_id, segment_id"),
        ({"lead_ids": ["a" * 32], "filter": {}}, "found: lead_ids, filter"),
        ({"lead_ids": ["not-an-id"]}, "not-an-id"),
        ({"lead_ids": []}, "at least 1"),
        ({"lead_ids": ["a" * 32] * 10_001}, "at most 10000"),
        ({"filter": {"status": "Nope"}}, "status"),
        ({"list_id": "x", "bogus": 1}, "bogus"),
    ],
)
def test_invalid_selections_are_refused_naming_the_problem(payload, problem):
    with pytest.raises(ValidationError) as err:
        LeadSelection.model_validate(payload)
    assert problem in str(err.value)


def test_repeated_ids_count_once():
    selection = LeadSelection(lead_ids=["a" * 32, "b" * 32, "a" * 32])
    assert selection.lead_ids == ["a" * 32, "b" * 32]
    assert selection.kind == "lead_ids"
    assert selection.describe() == {"lead_ids": 2}


def test_lead_ids_resolve_in_order_and_leave_out_missing_and_foreign_leads(world):
    resolver, ids = world
    missing = "f" * 32
    selection = LeadSelection(lead_ids=[ids["u2"], missing, ids["a1"], ids["other"]])
    # When: an admin resolves it
    candidates = list(resolver.candidate_ids(ADMIN, selection))
    visible = [lead.lead_id for lead in resolver.visible_leads(ADMIN, selection)]
    # Then: every id is a candidate, but only existing leads of the tenant come back as records
    assert candidates == [ids["u2"], missing, ids["a1"], ids["other"]]
    assert visible == [ids["u2"], ids["a1"]]


def test_reps_get_only_their_own_and_unassigned_leads(world):
    resolver, ids = world
    selection = LeadSelection(lead_ids=[ids[k] for k in ("a1", "a2", "b1", "b2", "u1", "u2")])
    assert [lead.lead_id for lead in resolver.visible_leads(REP, selection)] == [
        ids[k] for k in ("a1", "a2", "u1", "u2")
    ]
    # and a rep's filter never returns another rep's lead, whatever the owner filter says
    by_filter = LeadSelection(filter=LeadFilter(owner="rep-b"))
    assert list(resolver.candidate_ids(REP, by_filter)) == []
    everything = LeadSelection(filter=LeadFilter())
    assert sorted(resolver.candidate_ids(REP, everything)) == sorted(ids[k] for k in ("a1", "a2", "u1", "u2"))


def test_list_selection_resolves_distinct_members(world):
    resolver, ids = world
    selection = LeadSelection(list_id="vip")
    assert list(resolver.candidate_ids(ADMIN, selection)) == [ids["a1"], ids["b1"], ids["u1"]]
    assert [lead.lead_id for lead in resolver.visible_leads(REP, selection)] == [ids["a1"], ids["u1"]]


def test_segment_selection_resolves_members(world):
    resolver, ids = world
    assert list(resolver.candidate_ids(ADMIN, LeadSelection(segment_id="hot"))) == [ids["b2"], ids["u2"]]


def test_unknown_list_or_segment_is_404(world):
    resolver, _ = world
    with pytest.raises(ListNotFoundError):
        resolver.check(ADMIN, LeadSelection(list_id="nope"))
    with pytest.raises(SegmentNotFoundError):
        resolver.check(ADMIN, LeadSelection(segment_id="nope"))


def test_filter_selection_pages_through_every_match(world, repo):
    resolver, ids = world
    # Given: 250 more New leads, more than two pages of the inbox
    extra = {add_lead(repo, status="New", n=100 + i).lead_id for i in range(250)}
    selection = LeadSelection(filter=LeadFilter(status="New"))
    # When / Then: all New leads of t1, oldest first, none of t2
    resolved = list(resolver.candidate_ids(ADMIN, selection))
    assert len(resolved) == 253
    assert set(resolved) == extra | {ids["a1"], ids["b1"], ids["u1"]}
    assert resolved[:3] == [ids["a1"], ids["b1"], ids["u1"]]


def test_filters_combine_and_me_means_the_caller(world):
    resolver, ids = world
    acme_contacted = LeadSelection(filter=LeadFilter(q="acme", status="Contacted"))
    assert list(resolver.candidate_ids(ADMIN, acme_contacted)) == [ids["a2"], ids["b2"]]
    mine = LeadSelection(filter=LeadFilter(owner="me"))
    assert list(resolver.candidate_ids(REP, mine)) == [ids["a1"], ids["a2"]]
    assert filter_query(ADMIN, LeadFilter(owner="unassigned")).owner_id == "unassigned"
    assert filter_query(REP, LeadFilter()).visible_to == "rep-a"


def test_explicit_ids_are_stored_packed_and_read_back_unchanged():
    from leadtide.dal.exports import pack_selection, unpack_selection

    ids = [f"{i:032x}" for i in range(10_000)]
    doc = {"export_id": "e", "selection": {"lead_ids": ids}}
    stored, packed = pack_selection(doc)
    assert stored["selection"] == {"lead_ids": []} and packed is not None and len(packed) == 160_000
    assert unpack_selection(stored, packed) == doc
    by_list = {"selection": {"list_id": "vip"}}
    assert pack_selection(by_list) == (by_list, None)
    assert unpack_selection(by_list, None) == by_list
