"""leadtide.leads.filters: the inbox filters as one repository query, with tag and custom field filters
compiled in the condition language and typed by the tenant's custom fields; the same filter through a
selection (exports, bulk actions) and the inbox service."""

from datetime import UTC, datetime

import pytest

from leadtide.bulk.selection import LeadSelection, SelectionResolver
from leadtide.customfields.service import CustomFieldService, parse_definition
from leadtide.leads.filters import filter_condition, lead_query
from leadtide.leads.service import LeadService
from leadtide.models.auth import Principal
from leadtide.models.common import Role
from leadtide.models.errors import UnprocessableError
from leadtide.models.selection import LeadFilter, parse_filter
from tests.bulk_fakes import FakeCollections, add_lead
from tests.fakes import FakeEventPublisher
from tests.unit.test_custom_fields import FakeCustomFieldRepository

ADMIN = Principal("t1", "boss", Role.ADMIN)
REP = Principal("t1", "rep-a", Role.REP)


@pytest.fixture
def custom_fields():
    definitions = FakeCustomFieldRepository()
    for data in (
        {"key": "seats", "type": "number"},
        {"key": "plan", "type": "dropdown", "options": ["Basic", "Pro"]},
        {"key": "trial", "type": "checkbox"},
        {"key": "renewal", "type": "date"},
        {"key": "interests", "type": "multi_select", "options": ["surf", "ski", "golf"]},
        {"key": "work_email", "type": "email"},
    ):
        definitions.items[("t1", data["key"])] = parse_definition({"label": data["key"].title(), **data})
    return CustomFieldService(definitions)


def _record(**custom):
    return {"tags": [], "custom_fields": custom}


@pytest.mark.parametrize(
    ("wanted", "matching", "other"),
    [
        ({"seats": "1,200"}, {"seats": 1200}, {"seats": 12}),
        ({"plan": "pro"}, {"plan": "Pro"}, {"plan": "Basic"}),
        ({"trial": "yes"}, {"trial": True}, {"trial": False}),
        ({"trial": "no"}, {"trial": False}, {}),
        ({"renewal": "03/15/2025"}, {"renewal": "2025-03-15"}, {"renewal": "2025-03-16"}),
        ({"interests": "ski;golf"}, {"interests": ["surf", "golf"]}, {"interests": ["surf"]}),
        ({"work_email": "Ana@Example.COM"}, {"work_email": "ana@example.com"}, {"work_email": "bo@x.com"}),
        ({"plan": ""}, {}, {"plan": "Pro"}),
        ({"plan": None}, {"seats": 3}, {"plan": "Basic"}),
        ({"seats": 5, "plan": "Pro"}, {"seats": 5, "plan": "Pro"}, {"seats": 5, "plan": "Basic"}),
    ],
)
def test_a_custom_field_value_is_read_as_its_type_and_compared_as_documented(
    custom_fields, wanted, matching, other
):
    # Given a filter on custom fields, When it is compiled for the tenant
    condition = filter_condition("t1", LeadFilter(custom_field=wanted), custom_fields=custom_fields)
    # Then it accepts a lead holding the value and refuses one that does not
    assert condition is not None
    assert condition(_record(**matching)) is True
    assert condition(_record(**other)) is False


def test_tags_are_any_of_case_insensitive_and_combine_with_custom_fields(custom_fields):
    condition = filter_condition(
        "t1", LeadFilter(tag=["VIP", "hot"], custom_field={"plan": "Pro"}), custom_fields=custom_fields
    )
    assert condition({"tags": ["vip"], "custom_fields": {"plan": "Pro"}})
    assert condition({"tags": ["Hot", "x"], "custom_fields": {"plan": "pro"}})
    assert not condition({"tags": ["vip"], "custom_fields": {"plan": "Basic"}})
    assert not condition({"tags": ["cold"], "custom_fields": {"plan": "Pro"}})
    assert not condition({"custom_fields": {"plan": "Pro"}})


def test_a_filter_without_tags_or_custom_fields_needs_no_condition_nor_definitions():
    class NoDefinitions:
        def definitions_by_key(self, tenant_id):  # pragma: no cover - must not be called
            raise AssertionError("definitions read for a filter without custom fields")

    assert filter_condition("t1", LeadFilter(status="New"), custom_fields=NoDefinitions()) is None


@pytest.mark.parametrize(
    ("wanted", "named", "phrase"),
    [
        ({"nope": "x"}, "custom_field[nope]", "no custom field"),
        ({"seats": "many"}, "custom_field[seats]", "not a number"),
        ({"plan": "Gold"}, "custom_field[plan]", "options"),
        ({"interests": "surf;darts"}, "custom_field[interests]", "darts"),
    ],
)
def test_a_custom_field_filter_the_field_cannot_read_is_a_422_naming_it(custom_fields, wanted, named, phrase):
    with pytest.raises(UnprocessableError) as err:
        filter_condition("t1", LeadFilter(custom_field=wanted), custom_fields=custom_fields)
    assert named in err.value.message
    assert [d["field"] for d in err.value.details] == [named]
    assert phrase in str(err.value.details)


def test_lead_query_keeps_the_rep_rule_and_the_last_activity_range(custom_fields):
    lo, hi = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    query = lead_query(
        REP,
        LeadFilter(owner="me", last_activity_from=lo, last_activity_to=hi, tag=["vip"]),
        custom_fields=custom_fields,
        sort="last_activity",
        limit=7,
    )
    assert (query.owner_id, query.visible_to, query.sort, query.limit) == (
        "rep-a",
        "rep-a",
        "last_activity",
        7,
    )
    assert (query.last_activity_from, query.last_activity_to) == (lo, hi)
    assert query.condition is not None and query.condition({"tags": ["VIP"]})


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"tag": ["ok", "not<ok>"]}, "tag"),
        ({"tag": [f"t{i}" for i in range(51)]}, "tag"),
        (
            {
                "last_activity_from": datetime(2025, 2, 1, tzinfo=UTC),
                "last_activity_to": datetime(2025, 1, 1, tzinfo=UTC),
            },
            "last_activity_from",
        ),
        ({"custom_field": {f"k{i}": "x" for i in range(21)}}, "custom_field"),
    ],
)
def test_query_values_the_filter_refuses_are_a_422_naming_the_parameter(values, field):
    with pytest.raises(UnprocessableError) as err:
        parse_filter(**values)
    assert field in [d["field"] for d in err.value.details]


def test_a_selection_and_the_inbox_select_the_same_leads_by_tag_and_custom_field(repo, custom_fields):
    # Given leads with and without the tag and the custom value, one of them a rep's
    match = add_lead(repo, n=1, tags=["vip"], custom_fields={"plan": "Pro"})
    add_lead(repo, n=2, tags=["vip"], custom_fields={"plan": "Basic"})
    add_lead(repo, n=3, tags=["other"], custom_fields={"plan": "Pro"})
    reps = add_lead(repo, n=4, tags=["VIP"], custom_fields={"plan": "pro"}, owner_id="rep-b")
    lead_filter = {"tag": ["vip"], "custom_field": {"plan": "pro"}}
    # When the filter selects leads for an export or bulk action, and filters the inbox
    resolver = SelectionResolver(repo, FakeCollections(), custom_fields=custom_fields)
    selected = list(resolver.candidate_ids(ADMIN, LeadSelection(filter=lead_filter)))
    inbox = LeadService(repo, FakeEventPublisher(), custom_fields=custom_fields)
    listed = [
        lead.lead_id for lead in inbox.list_leads(ADMIN, LeadFilter(**lead_filter), descending=False).items
    ]
    # Then both give exactly the matching leads, and a rep still only their own and unassigned ones
    assert selected == listed == [match.lead_id, reps.lead_id]
    assert list(resolver.candidate_ids(REP, LeadSelection(filter=lead_filter))) == [match.lead_id]
    # And an unknown custom field fails the selection up front (422), before any background work
    with pytest.raises(UnprocessableError):
        resolver.check(ADMIN, LeadSelection(filter={"custom_field": {"nope": "x"}}))
