"""The condition language: every operator, groups, exclusion, missing values, validation paths, limits,
time dependence, fields used; Hypothesis for the NOT/AND/OR laws and operator negations."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from leadtide.conditions import (
    MAX_DEPTH,
    MAX_LEAVES,
    ConditionError,
    compile_condition,
    compile_rules,
)

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


def match(tree, record, **kw):
    return compile_condition(tree, now=NOW, **kw)(record)


def leaf(field, op, value=None, **extra):
    node = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    node.update(extra)
    return node


# ---------------------------------------------------------------------------------------------- operators
@pytest.mark.parametrize(
    ("node", "record", "expected"),
    [
        # text: case-insensitive, no regex
        (leaf("company", "eq", "ACME"), {"company": "acme"}, True),
        (leaf("company", "eq", "acme"), {"company": "acme inc"}, False),
        (leaf("company", "neq", "acme"), {"company": "globex"}, True),
        (leaf("company", "neq", "acme"), {}, True),
        (leaf("company", "in", ["a", "Globex"]), {"company": "globex"}, True),
        (leaf("company", "not_in", ["a", "Globex"]), {"company": "globex"}, False),
        (leaf("company", "contains", "CME"), {"company": "Acme"}, True),
        (leaf("company", "contains", ".*"), {"company": "Acme"}, False),
        (leaf("company", "not_contains", "cme"), {"company": "Acme"}, False),
        (leaf("email", "ends_with", "@EXAMPLE.com"), {"email": "ana@example.com"}, True),
        (leaf("email", "starts_with", "ana"), {"email": "ana@example.com"}, True),
        (leaf("email", "starts_with", "bob"), {"email": "ana@example.com"}, False),
        (leaf("company", "is_empty"), {"company": ""}, True),
        (leaf("company", "is_empty"), {"company": None}, True),
        (leaf("company", "is_empty"), {"company": "x"}, False),
        (leaf("company", "is_not_empty"), {"company": "x"}, True),
        # keyword
        (leaf("status", "eq", "contacted"), {"status": "Contacted"}, True),
        (leaf("status", "in", ["New", "Lost"]), {"status": "Contacted"}, False),
        (leaf("owner_id", "eq", "u-1"), {"owner_id": "u-1"}, True),
        (leaf("owner_id", "is_empty"), {}, True),
        # number
        (leaf("score", "gt", 50), {"score": 51}, True),
        (leaf("score", "gt", 50), {"score": 50}, False),
        (leaf("score", "gte", 50), {"score": 50}, True),
        (leaf("score", "lt", 10), {"score": 9.5}, True),
        (leaf("score", "lte", 10), {"score": 10}, True),
        (leaf("score", "lt", 10), {}, False),
        (leaf("score", "between", [10, 20]), {"score": 20}, True),
        (leaf("score", "between", [10, 20]), {"score": 21}, False),
        (leaf("score", "eq", 7), {"score": 7}, True),
        (leaf("message_count", "in", [1, 2]), {"message_count": 2}, True),
        (leaf("score", "neq", 7), {}, True),
        # datetimes: datetime objects, PynamoDB strings, Z strings
        (leaf("created_at", "before", "2024-06-01"), {"created_at": datetime(2024, 5, 31, tzinfo=UTC)}, True),
        (
            leaf("created_at", "after", "2024-06-01T00:00:00Z"),
            {"created_at": "2024-06-02T00:00:00.000000+0000"},
            True,
        ),
        (leaf("created_at", "after", "2024-06-01"), {"created_at": "2024-05-02T00:00:00.000Z"}, False),
        (
            leaf("created_at", "between", ["2024-06-01", "2024-06-30"]),
            {"created_at": "2024-06-10T00:00:00Z"},
            True,
        ),
        (
            leaf("last_activity_at", "within_last", {"days": 14}),
            {"last_activity_at": NOW - timedelta(days=13)},
            True,
        ),
        (
            leaf("last_activity_at", "within_last", {"days": 14}),
            {"last_activity_at": NOW - timedelta(days=15)},
            False,
        ),
        (
            leaf("last_activity_at", "within_last", {"hours": 2}),
            {"last_activity_at": NOW - timedelta(hours=1)},
            True,
        ),
        (
            leaf("last_activity_at", "not_within_last", {"days": 14}),
            {"last_activity_at": NOW - timedelta(days=15)},
            True,
        ),
        (leaf("last_activity_at", "not_within_last", {"days": 14}), {}, True),
        (leaf("scored_at", "within_last", {"days": 1}), {}, False),
        # tags
        (leaf("tags", "has_any", ["VIP", "x"]), {"tags": ["vip"]}, True),
        (leaf("tags", "has_all", ["vip", "fair"]), {"tags": ["VIP"]}, False),
        (leaf("tags", "has_all", ["vip", "fair"]), {"tags": ["fair", "vip", "z"]}, True),
        (leaf("tags", "has_none", ["spam"]), {"tags": ["vip"]}, True),
        (leaf("tags", "has_none", ["spam"]), {}, True),
        (leaf("tags", "is_empty"), {"tags": []}, True),
        # lists (exact ids, sets or lists)
        (leaf("lists", "in", "L1"), {"list_ids": {"L1", "L2"}}, True),
        (leaf("lists", "in", ["L3", "L2"]), {"list_ids": ["L2"]}, True),
        (leaf("lists", "in", "l1"), {"list_ids": {"L1"}}, False),
        (leaf("lists", "not_in", "L1"), {}, True),
        # custom fields, untyped
        (leaf("custom.plan", "eq", "Pro"), {"custom_fields": {"plan": "pro"}}, True),
        (leaf("custom.seats", "gt", 5), {"custom_fields": {"seats": 6}}, True),
        (leaf("custom.seats", "gt", 5), {"custom_fields": '{"seats": "10"}'}, True),
        (leaf("custom.seats", "eq", 5), {"custom_fields": {"seats": 5}}, True),
        (leaf("custom.active", "eq", True), {"custom_fields": {"active": True}}, True),
        (leaf("custom.plan", "is_empty"), {"custom_fields": {}}, True),
        (leaf("custom.plan", "is_empty"), {}, True),
    ],
)
def test_operator(node, record, expected):
    assert match(node, record) is expected


def test_typed_custom_fields_use_the_definitions():
    types = {
        "renewal": "date",
        "plan": "dropdown",
        "modules": "multi_select",
        "vip": "checkbox",
        "seats": "number",
    }
    rec = {
        "custom_fields": {
            "renewal": "2024-07-01",
            "plan": "Pro",
            "modules": ["crm", "ads"],
            "vip": True,
            "seats": 3,
        }
    }
    assert match(leaf("custom.renewal", "after", "2024-06-30"), rec, field_types=types)
    assert match(leaf("custom.plan", "in", ["pro", "team"]), rec, field_types=types)
    assert match(leaf("custom.modules", "has_all", ["ADS"]), rec, field_types=types)
    assert match(leaf("custom.vip", "eq", True), rec, field_types=types)
    assert match(leaf("custom.seats", "between", [1, 3]), rec, field_types=types)
    with pytest.raises(ConditionError) as err:
        compile_condition(leaf("custom.renewal", "contains", "x"), field_types=types)
    assert err.value.details[0]["field"] == "rules.op"
    with pytest.raises(ConditionError, match="unknown custom field 'nope'"):
        compile_condition(leaf("custom.nope", "eq", "x"), field_types=types)


# ---------------------------------------------------------------------------------------------- groups
def test_groups_and_exclusion():
    record = {"status": "New", "tags": ["vip"], "score": 80}
    assert match({"all": [leaf("status", "eq", "New"), leaf("score", "gte", 50)]}, record)
    assert not match({"all": [leaf("status", "eq", "New"), leaf("score", "gte", 90)]}, record)
    assert match({"any": [leaf("status", "eq", "Lost"), leaf("score", "gte", 50)]}, record)
    assert match({"not": leaf("status", "eq", "Lost")}, record)
    assert match({"all": []}, record) and not match({"any": []}, record)
    # exclusion wins over inclusion
    seg = compile_rules(leaf("status", "eq", "New"), leaf("tags", "has_any", ["vip"]), now=NOW)
    assert not seg(record)
    assert seg({"status": "New", "tags": []})
    assert compile_rules(leaf("status", "eq", "New"), now=NOW)(record)


def test_fields_used_and_time_dependence():
    c = compile_rules(
        {
            "all": [
                leaf("status", "eq", "New"),
                leaf("custom.plan", "eq", "x"),
                {"not": leaf("lists", "in", "L")},
            ]
        },
        leaf("last_activity_at", "within_last", {"days": 3}),
        now=NOW,
    )
    assert c.fields == {"status", "custom.plan", "lists", "last_activity_at"}
    assert c.fields_used == {"status", "custom_fields", "list_ids", "last_activity_at"}
    assert c.time_dependent
    assert not compile_condition(leaf("created_at", "before", "2024-01-01")).time_dependent
    # the same condition measured from a later "now" gives a different answer
    rec = {"status": "New", "custom_fields": {"plan": "X"}, "last_activity_at": NOW - timedelta(days=1)}
    late = c.at(NOW + timedelta(days=5))
    assert not c(rec) and late(rec) is True  # excluded now (active), included once it went quiet


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("tree", "path", "problem"),
    [
        (
            {"all": [leaf("status", "eq", "New"), leaf("company", "gte", 3)]},
            "rules.all[1].op",
            "'gte' is not valid for text field 'company'",
        ),
        (leaf("nope", "eq", "x"), "rules.field", "unknown field 'nope'"),
        (leaf("status", "eq", "Closed"), "rules.value", "'Closed' is not a valid status"),
        (leaf("score", "gt", "high"), "rules.value", "must be a number"),
        (leaf("score", "gt", True), "rules.value", "must be a number"),
        (leaf("score", "between", [5, 1]), "rules.value", "low <= high"),
        (leaf("created_at", "before", "yesterday"), "rules.value", "not an ISO-8601"),
        (leaf("last_activity_at", "within_last", {"weeks": 2}), "rules.value", '{"days": n}'),
        (leaf("last_activity_at", "within_last", {"days": 0}), "rules.value", "more than 0"),
        (leaf("tags", "has_any", []), "rules.value", "non-empty list"),
        (leaf("company", "is_empty", "x"), "rules.value", "takes no value"),
        (leaf("company", "eq"), "rules.value", "needs a value"),
        (leaf("company", "eq", "x", extra=1), "rules.extra", "unknown key"),
        (leaf("company", "matches", "x"), "rules.op", "unknown operator 'matches'"),
        ({"any": [{"all": [{"nope": 1}]}]}, "rules.any[0].all[0]", "exactly one of"),
        ({"all": "x"}, "rules.all", "must be a list"),
        ([1], "rules", "must be an object"),
        (leaf("lists", "eq", "L1"), "rules.op", "'eq' is not valid for lists field 'lists'"),
    ],
)
def test_validation_names_the_node(tree, path, problem):
    with pytest.raises(ConditionError) as err:
        compile_condition(tree)
    assert err.value.status_code == 422
    assert err.value.details[0]["field"] == path
    assert problem in err.value.details[0]["problem"]
    assert err.value.message.startswith(f"{path}: ")


def test_errors_of_include_and_exclude_are_reported_together():
    with pytest.raises(ConditionError) as err:
        compile_rules(leaf("company", "gt", 1), {"all": [leaf("x", "eq", "y")]})
    assert [d["field"] for d in err.value.details] == ["include.op", "exclude.all[0].field"]
    assert "(and 1 more)" in err.value.message


def test_depth_and_size_limits():
    tree = leaf("status", "eq", "New")
    for _ in range(MAX_DEPTH - 1):
        tree = {"not": tree}
    compile_condition(tree)  # exactly at the limit
    with pytest.raises(ConditionError, match="deeper than"):
        compile_condition({"not": tree})
    many = {"any": [{"all": [leaf("score", "eq", i)] * 50} for i in range(MAX_LEAVES // 50 + 1)]}
    with pytest.raises(ConditionError, match=f"more than {MAX_LEAVES} conditions"):
        compile_condition(many)


# ---------------------------------------------------------------------------------------------- laws
STATUSES = ["New", "Contacted", "Lost"]
records = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(STATUSES),
        "score": st.integers(0, 100),
        "company": st.sampled_from(["Acme", "acme corp", "Globex", ""]),
        "tags": st.lists(st.sampled_from(["vip", "spam", "fair"]), max_size=3),
        "list_ids": st.sets(st.sampled_from(["L1", "L2"]), max_size=2),
        "last_activity_at": st.integers(0, 40).map(lambda d: NOW - timedelta(days=d)),
    },
)
leaves = st.one_of(
    st.builds(lambda v: leaf("status", "eq", v), st.sampled_from(STATUSES)),
    st.builds(lambda v: leaf("status", "neq", v), st.sampled_from(STATUSES)),
    st.builds(lambda v: leaf("score", "gte", v), st.integers(0, 100)),
    st.builds(lambda v: leaf("company", "contains", v), st.sampled_from(["acme", "glob", "x"])),
    st.builds(lambda v: leaf("company", "not_contains", v), st.sampled_from(["acme", "glob"])),
    st.builds(lambda v: leaf("tags", "has_any", v), st.lists(st.sampled_from(["vip", "spam"]), min_size=1)),
    st.builds(lambda v: leaf("tags", "has_none", v), st.lists(st.sampled_from(["vip", "spam"]), min_size=1)),
    st.builds(lambda v: leaf("lists", "in", v), st.sampled_from(["L1", "L2"])),
    st.builds(lambda d: leaf("last_activity_at", "within_last", {"days": d}), st.integers(1, 30)),
    st.just(leaf("company", "is_empty")),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(lambda c: {"all": c}, st.lists(children, max_size=3)),
        st.builds(lambda c: {"any": c}, st.lists(children, max_size=3)),
        st.builds(lambda c: {"not": c}, children),
    ),
    max_leaves=6,
)


def _depth(tree):
    if "not" in tree:
        return 1 + _depth(tree["not"])
    kids = tree.get("all", tree.get("any"))
    return 1 + max((_depth(k) for k in kids), default=0) if kids is not None else 1


def _eval(tree, record):
    return compile_condition(tree, now=NOW)(record)


@settings(max_examples=200, deadline=None)
@given(trees, trees, records)
def test_boolean_laws(a, b, record):
    assume(_depth(a) <= MAX_DEPTH - 2 and _depth(b) <= MAX_DEPTH - 2)
    x, y = _eval(a, record), _eval(b, record)
    assert _eval({"not": {"not": a}}, record) == x
    assert _eval({"all": [a, b]}, record) == (x and y)
    assert _eval({"any": [a, b]}, record) == (x or y)
    assert _eval({"not": {"all": [a, b]}}, record) == _eval({"any": [{"not": a}, {"not": b}]}, record)
    assert _eval({"not": {"any": [a, b]}}, record) == _eval({"all": [{"not": a}, {"not": b}]}, record)
    assert compile_rules(a, b, now=NOW)(record) == (x and not y)


NEGATIONS = [
    ("eq", "neq", "status", "New"),
    ("in", "not_in", "company", ["acme"]),
    ("contains", "not_contains", "company", "cme"),
    ("is_empty", "is_not_empty", "company", None),
    ("has_any", "has_none", "tags", ["vip"]),
    ("within_last", "not_within_last", "last_activity_at", {"days": 7}),
    ("in", "not_in", "lists", "L1"),
]


@settings(max_examples=100, deadline=None)
@given(records, st.sampled_from(NEGATIONS))
def test_negative_operators_are_exact_negations_even_when_empty(record, pair):
    positive, negative, field, value = pair
    assert _eval(leaf(field, negative, value), record) == (not _eval(leaf(field, positive, value), record))
