"""Activity fields of the condition language (``activity.<type>``, ``activity_count.<type>``): parsing,
validation paths, evaluation over profile records (decoded maps and JSON strings as a projected Query
returns them), missing-value semantics, fields used; and the engagement summary the profile carries,
checked against a brute force over every occurrence merged (Hypothesis)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadtide.conditions import ConditionError, compile_condition, compile_rules
from leadtide.dal.engagement import engagement_summary
from leadtide.models.common import iso
from leadtide.scoring.ports import MAX_OCCURRENCES_PER_TYPE, Occurrence, merge_occurrences

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


def ago(**kw):
    return iso(NOW - timedelta(**kw))


def match(tree, record):
    return compile_condition(tree, now=NOW)(record)


REPLIED = {"email_replied": ago(days=3), "email_opened": ago(days=20)}
COUNTS = {"email_replied": 1, "email_opened": 4}
RECORD = {"last_engaged": REPLIED, "engaged_counts": COUNTS}
AS_STORED = {"last_engaged": json.dumps(REPLIED), "engaged_counts": json.dumps(COUNTS)}  # projected Query


@pytest.mark.parametrize("record", [RECORD, AS_STORED], ids=["decoded", "json"])
@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"field": "activity.email_replied", "op": "within_last", "value": {"days": 14}}, True),
        ({"field": "activity.email_opened", "op": "within_last", "value": {"days": 14}}, False),
        ({"field": "activity.email_opened", "op": "not_within_last", "value": {"days": 14}}, True),
        ({"field": "activity.email_replied", "op": "within_last", "value": {"hours": 71}}, False),
        # never done: only emptiness and the negative operators hold
        ({"field": "activity.meeting_booked", "op": "within_last", "value": {"days": 3650}}, False),
        ({"field": "activity.meeting_booked", "op": "not_within_last", "value": {"days": 1}}, True),
        ({"field": "activity.meeting_booked", "op": "is_empty"}, True),
        ({"field": "activity.email_replied", "op": "is_not_empty"}, True),
        ({"field": "activity.email_opened", "op": "before", "value": "2024-06-01"}, True),
        ({"field": "activity.email_opened", "op": "after", "value": "2024-06-01"}, False),
        ({"field": "activity.email_replied", "op": "between", "value": ["2024-06-10", "2024-06-13"]}, True),
        ({"field": "activity_count.email_opened", "op": "gte", "value": 4}, True),
        ({"field": "activity_count.email_opened", "op": "gt", "value": 4}, False),
        ({"field": "activity_count.email_opened", "op": "between", "value": [2, 5]}, True),
        ({"field": "activity_count.email_opened", "op": "in", "value": [1, 4]}, True),
        # a count of something never done is 0, not empty
        ({"field": "activity_count.meeting_booked", "op": "eq", "value": 0}, True),
        ({"field": "activity_count.meeting_booked", "op": "lt", "value": 1}, True),
        ({"field": "activity_count.meeting_booked", "op": "gte", "value": 1}, False),
        # custom event types with dots read their own key
        ({"field": "activity.webinar.attended", "op": "is_empty"}, True),
    ],
)
def test_activity_operators(node, record, expected):
    assert match(node, record) is expected


def test_a_lead_without_any_engagement_summary():
    empty = {"lead_id": "x"}
    assert match({"field": "activity.email_replied", "op": "is_empty"}, empty) is True
    assert (
        match({"field": "activity.email_replied", "op": "within_last", "value": {"days": 9}}, empty) is False
    )
    assert match({"field": "activity_count.email_replied", "op": "eq", "value": 0}, empty) is True
    # unreadable stored values read as missing, never raise
    broken = {"last_engaged": "{not json", "engaged_counts": "[1, 2]"}
    assert match({"field": "activity.email_replied", "op": "is_empty"}, broken) is True
    assert match({"field": "activity_count.email_replied", "op": "eq", "value": 0}, broken) is True


def test_fields_used_name_the_profile_attributes_and_time_dependence():
    c = compile_rules(
        {"all": [{"field": "activity.email_replied", "op": "within_last", "value": {"days": 14}}]},
        {"field": "activity_count.email_opened", "op": "gte", "value": 10},
        now=NOW,
    )
    assert c.fields == {"activity.email_replied", "activity_count.email_opened"}
    assert c.fields_used == {"last_engaged", "engaged_counts"}
    assert c.time_dependent is True
    ever = compile_condition({"field": "activity.meeting_booked", "op": "is_not_empty"}, now=NOW)
    assert ever.fields_used == {"last_engaged"} and ever.time_dependent is False
    # exclusion wins: replied recently but opened 10+ times -> out
    assert c({"last_engaged": REPLIED, "engaged_counts": {"email_opened": 12}}) is False
    assert c(RECORD) is True


@pytest.mark.parametrize(
    ("node", "path", "problem"),
    [
        ({"field": "activity.", "op": "is_empty"}, "rules.field", "'' is not an event type"),
        ({"field": "activity.Email", "op": "is_empty"}, "rules.field", "'Email' is not an event type"),
        ({"field": "activity.9lives", "op": "is_empty"}, "rules.field", "'9lives' is not an event type"),
        (
            {"field": "activity." + "a" * 65, "op": "is_empty"},
            "rules.field",
            "is not an event type",
        ),
        ({"field": "activity_count.x y", "op": "gt", "value": 1}, "rules.field", "not an event type"),
        (
            {"field": "activity.email_opened", "op": "gte", "value": 3},
            "rules.op",
            "'gte' is not valid for datetime field 'activity.email_opened'",
        ),
        (
            {"field": "activity_count.email_opened", "op": "within_last", "value": {"days": 1}},
            "rules.op",
            "'within_last' is not valid for number field",
        ),
        (
            {"field": "activity_count.email_opened", "op": "is_empty"},
            "rules.op",
            "use 'activity.email_opened' is_empty",
        ),
        (
            {"field": "activity.email_opened", "op": "within_last", "value": 14},
            "rules.value",
            '{"days": n}',
        ),
        ({"field": "activity_count.email_opened", "op": "gte", "value": "3"}, "rules.value", "number"),
    ],
)
def test_activity_validation_names_the_node(node, path, problem):
    with pytest.raises(ConditionError) as info:
        compile_condition(node, now=NOW)
    detail = info.value.details[0]
    assert detail["field"] == path and problem in detail["problem"], detail
    assert info.value.status_code == 422


def test_the_error_lists_the_builtin_event_types():
    with pytest.raises(ConditionError) as info:
        compile_condition({"any": [{"field": "activity.Replied", "op": "is_empty"}]}, now=NOW)
    assert info.value.details[0]["field"] == "rules.any[0].field"
    assert "email_replied" in info.value.details[0]["problem"]
    assert "meeting_booked" in info.value.details[0]["problem"]


# ---------------------------------------------------------------------------------------------- summary
def test_engagement_summary_takes_the_latest_occurrence_and_all_time_counts():
    t = datetime(2024, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
    occ = {
        "email_opened": [[t.timestamp() - 60, "a"], [t.timestamp(), "b"], [t.timestamp() - 5, "c"]],
        "page_viewed": [],
        "email_clicked": [[t.timestamp() - 1.5, "d"]],
    }
    last, counts = engagement_summary(occ, {"email_opened": 250, "email_clicked": 0})
    assert last == {"email_opened": "2024-03-01T09:30:15.123Z", "email_clicked": "2024-03-01T09:30:13.623Z"}
    # counts are all-time (more than the occurrences kept); a type with occurrences but no count counts them
    assert counts == {"email_opened": 250, "email_clicked": 1}


_OCCURRENCE = st.tuples(
    st.sampled_from(["email_opened", "email_replied", "page_viewed"]),
    st.integers(min_value=0, max_value=400 * 86400 * 1000),  # ms within ~400 days
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_OCCURRENCE, max_size=80), max_size=5))
def test_summary_after_merges_equals_brute_force_over_every_occurrence(batches):
    # Given batches merged as the two writers do (newest 100 per type kept, out-of-order arrivals)
    occ: dict = {}
    counts: dict = {}
    base = datetime(2023, 1, 1, tzinfo=UTC)
    everything: dict[str, list[int]] = {}
    n = 0
    for batch in batches:
        new = []
        for event_type, ms in batch:
            n += 1
            new.append(Occurrence(event_type, base + timedelta(milliseconds=ms), f"ev:{n}"))
            everything.setdefault(event_type, []).append(ms)
        merge_occurrences(occ, counts, new)
    # When the profile summary is computed from what the record kept
    last, totals = engagement_summary(occ, counts)
    # Then it equals a brute force over every occurrence ever merged: pruning never loses the latest one
    assert last == {t: iso(base + timedelta(milliseconds=max(ms))) for t, ms in everything.items()}
    assert totals == {t: len(ms) for t, ms in everything.items()}
    assert all(len(entries) <= MAX_OCCURRENCES_PER_TYPE for entries in occ.values())
