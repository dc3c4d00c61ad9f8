"""Generated, nearly valid input to the routes whose bodies carry the most structure: the condition
language (segment previews and segments), the scoring-model rules, lead profiles, tracked events, and bulk
actions, exports and merges over the tenant's leads.
Hypothesis builds condition trees from the real field names, mostly with an operator of the field's type and
a value of the operator's shape (so many are valid and reach the evaluation), scoring models with mostly
well-formed rules (the valid ones are activated), lead bodies of arbitrary text, and batches of events that
are mostly valid (recorded, then re-scored by the Scoring worker) and otherwise anything. Each answer must
be a success or a 4xx in the error document, never a 5xx; every event of a batch is accounted for, and no
re-score, export or bulk step ends in a dead-letter queue. ``LEADTIDE_GENERATED_EXAMPLES`` raises the 60
examples per test for an exploratory run (3,000 each for the first three, 1,500 for the events and 1,000 for
the bulk actions, exports and merges ran clean when this was written)."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from leadtide.conditions.fields import LEAD_FIELDS, OPS_BY_TYPE, FieldType, Op

ADMIN = {"sub": "u-gen", "custom:tenant_id": "gen", "custom:role": "admin"}
GENERATED = settings(
    max_examples=int(os.environ.get("LEADTIDE_GENERATED_EXAMPLES", "60")),  # more for an exploratory run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["2025-01-01T00:00:00Z", "2025-01-01", "New", "hot", "-1", "1e309"]),
)
VALUES = st.one_of(
    SCALARS, st.lists(SCALARS, max_size=4), st.dictionaries(st.text(max_size=5), SCALARS, max_size=2)
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64), st.floats(allow_nan=False, allow_infinity=False)
)
INSTANTS = st.one_of(
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.dates().map(str),
    st.sampled_from(["2025-13-40", "now"]),
)
VALUE_BY_OP = {
    "eq": st.one_of(st.text(max_size=20), NUMBERS, st.booleans()),
    "in": st.lists(st.one_of(st.text(max_size=20), NUMBERS), max_size=5),
    "contains": st.text(max_size=30),
    "gt": NUMBERS,
    "between": st.one_of(
        st.lists(NUMBERS, min_size=2, max_size=2), st.lists(INSTANTS, min_size=2, max_size=2)
    ),
    "before": INSTANTS,
    "within_last": st.dictionaries(
        st.sampled_from(["days", "hours", "weeks"]), NUMBERS, min_size=1, max_size=2
    ),
    "has_any": st.lists(st.text(max_size=20), max_size=5),
    "is_empty": st.none(),
}
SAME_VALUES = {
    "neq": "eq",
    "not_in": "in",
    "not_contains": "contains",
    "starts_with": "contains",
    "ends_with": "contains",
    "gte": "gt",
    "lt": "gt",
    "lte": "gt",
    "after": "before",
    "not_within_last": "within_last",
    "has_all": "has_any",
    "has_none": "has_any",
    "is_not_empty": "is_empty",
}
OPS_OF = {t: sorted(o.value for o in ops) for t, ops in OPS_BY_TYPE.items()}
FIELD_TYPES = {
    **LEAD_FIELDS,
    "custom.budget": FieldType.NUMBER,
    "custom.tier": FieldType.KEYWORD,
    "custom.missing": FieldType.ANY,
    "activity.email_opened": FieldType.DATETIME,
    "activity_count.page_viewed": FieldType.NUMBER,
    "lists": FieldType.LISTS,
}


@st.composite
def _leaf(draw) -> dict[str, Any]:
    """A condition on a real field with, mostly, an operator of its type and a value of the operator's
    shape; sometimes any operator and any value."""
    field = draw(st.sampled_from(sorted(FIELD_TYPES)))
    if draw(st.integers(0, 9)) == 0:
        return {"field": field, "op": draw(st.sampled_from([o.value for o in Op])), "value": draw(VALUES)}
    op = draw(st.sampled_from(OPS_OF[FIELD_TYPES[field]]))
    value = draw(VALUE_BY_OP[SAME_VALUES.get(op, op)])
    return {"field": field, "op": op} if value is None else {"field": field, "op": op, "value": value}


LEAF = _leaf()
CONDITIONS = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"any": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=6,
)
TEXT = st.text(max_size=60)


def _answer_is_clean(response) -> None:
    assert response.status < 500, response.text
    if response.status >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"], response.text


@GENERATED
@given(include=CONDITIONS, exclude=st.none() | CONDITIONS)
def test_generated_conditions_never_get_a_5xx(stack, include, exclude):
    for definition in (
        {"key": "budget", "label": "Budget", "type": "number"},
        {"key": "tier", "label": "Tier", "type": "select", "options": ["gold", "silver"]},
    ):
        stack.request(
            "POST", "/custom-fields", json_body=definition, claims=ADMIN
        )  # 409 after the first example
    body: dict[str, Any] = {"include": include, "sample_size": 3}
    if exclude is not None:
        body["exclude"] = exclude
    _answer_is_clean(stack.request("POST", "/segments/preview", json_body=body, claims=ADMIN))
    segment = {"name": "g", **{k: v for k, v in body.items() if k != "sample_size"}}
    _answer_is_clean(stack.request("POST", "/segments", json_body=segment, claims=ADMIN))


RULE_IDS = st.one_of(*[st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z")] * 19, TEXT)
LABELS = st.text(min_size=1, max_size=30)
POINTS = st.one_of(*[st.integers(1, 100), st.integers(-100, -1), st.floats(0.5, 1e6)] * 2, NUMBERS, VALUES)
FIT_RULES = st.fixed_dictionaries(
    {
        "id": RULE_IDS,
        "label": LABELS,
        "field": st.sampled_from(
            ["job_title", "company_size", "country", "tags", "custom.budget", "custom.x", "x"]
        ),
        "op": st.sampled_from(
            ["eq", "in", "contains", "gte", "lte", "between", "is_empty", "is_not_empty", "x"]
        ),
        "points": POINTS,
    },
    optional={
        "value": st.one_of(VALUE_BY_OP["eq"], VALUE_BY_OP["in"], VALUE_BY_OP["between"], VALUES),
        "group": RULE_IDS,
    },
)
BEHAVIOUR_RULES = st.fixed_dictionaries(
    {
        "id": RULE_IDS,
        "label": LABELS,
        "event_type": st.sampled_from(["email_opened", "page_viewed", "custom_thing", "x y", ""]),
        "points": POINTS,
    },
    optional={"max_occurrences": st.one_of(st.integers(-5, 200), VALUES), "group": RULE_IDS},
)
DECAY = st.one_of(
    st.none(),
    st.fixed_dictionaries({"kind": st.just("half_life"), "days": POINTS}),
    st.fixed_dictionaries({"kind": st.just("linear"), "points_per_period": POINTS, "period_days": POINTS}),
)


@GENERATED
@given(
    fit=st.lists(FIT_RULES, max_size=4, unique_by=lambda r: r["id"]),
    behaviour=st.lists(BEHAVIOUR_RULES, max_size=3, unique_by=lambda r: r["id"]),
    groups=st.none() | st.lists(st.fixed_dictionaries({"name": RULE_IDS, "cap": POINTS}), max_size=2),
    grades=st.dictionaries(st.sampled_from(["hot", "warm", "x"]), POINTS, max_size=2),
    decay=DECAY,
)
def test_generated_scoring_models_never_get_a_5xx(stack, fit, behaviour, groups, grades, decay):
    body = {
        "name": "generated",
        "fit_rules": fit,
        "behaviour_rules": behaviour,
        "grades": grades,
        "decay": decay,
    }
    if groups is not None:
        body["groups"] = groups
    created = stack.request("POST", "/scoring-models", json_body=body, claims=ADMIN)
    _answer_is_clean(created)
    if created.status == 201:  # activate it and score a lead with it
        model_id = created.json()["model_id"]
        _answer_is_clean(stack.request("POST", f"/scoring-models/{model_id}/activate", claims=ADMIN))


@GENERATED
@given(
    profile=st.fixed_dictionaries(
        {},
        optional={
            "name": TEXT,
            "first_name": TEXT,
            "email": st.one_of(TEXT, st.emails()),
            "phone": st.one_of(TEXT, st.from_regex(r"\+?[0-9 ()-]{3,20}", fullmatch=True)),
            "company": TEXT,
            "job_title": TEXT,
            "tags": st.lists(TEXT, max_size=5),
            "custom_fields": st.dictionaries(st.sampled_from(["budget", "x", ""]), VALUES, max_size=2),
            "status": st.sampled_from(["New", "Lost", "x"]),
        },
    ),
    search=TEXT,
)
def test_generated_lead_profiles_and_searches_never_get_a_5xx(stack, profile, search):
    created = stack.request("POST", "/leads", json_body=profile, claims=ADMIN)
    _answer_is_clean(created)
    if created.status == 201:
        lead_id = created.json()["lead_id"]
        _answer_is_clean(stack.request("PATCH", f"/leads/{lead_id}", json_body=profile, claims=ADMIN))
    _answer_is_clean(stack.request("GET", "/leads", query={"q": search}, claims=ADMIN))


EVENT_TYPES = st.sampled_from(
    ["email_opened", "email_clicked", "page_viewed", "meeting_booked", "custom.thing"]
)
_SERIAL = itertools.count()  # fresh ids each example: hypothesis would repeat its simplest id, a duplicate
BAD_EVENT_IDS = st.one_of(st.text(max_size=20), st.just(""), st.just("../x"), VALUES)


def _mostly(draw, good, bad, one_in: int = 8) -> Any:
    """``good`` drawn, except once in ``one_in`` draws ``bad``."""
    return draw(bad) if draw(st.integers(1, one_in)) == 1 else draw(good)


@st.composite
def _event(draw, known_lead: str) -> dict[str, Any]:
    """A tracked event, each part valid most of the time (so most events are recorded) and otherwise
    anything: unknown leads, malformed ids, naive or future times, extra keys."""
    lead = _mostly(
        draw,
        st.just({"lead_id": known_lead}) | st.just({"email": "known@example.com"}),
        st.one_of(
            st.fixed_dictionaries({"email": st.one_of(st.emails(), TEXT)}),
            st.fixed_dictionaries({"phone": st.from_regex(r"\A\+?[0-9 ]{4,16}\Z")}),
            st.fixed_dictionaries({"lead_id": st.from_regex(r"\A[0-9a-f]{32}\Z")}),
            VALUES,
        ),
    )
    aware = st.datetimes(max_value=datetime(2026, 1, 1), timezones=st.just(UTC)).map(lambda d: d.isoformat())
    event = {
        "event_id": _mostly(draw, st.integers(0, 3).map(lambda n: f"evt-{next(_SERIAL)}-{n}"), BAD_EVENT_IDS),
        "type": _mostly(draw, EVENT_TYPES, st.text(max_size=10)),
        "lead": lead,
        "occurred_at": _mostly(draw, aware, st.one_of(st.datetimes().map(lambda d: d.isoformat()), TEXT)),
    }
    if draw(st.booleans()):
        event["properties"] = draw(st.dictionaries(st.text(max_size=10), VALUES, max_size=4))
    return event


@GENERATED
@given(data=st.data())
def test_generated_tracked_events_are_recorded_or_rejected_one_by_one(stack, data):
    created = stack.request("POST", "/leads", json_body={"email": "known@example.com"}, claims=ADMIN)
    if created.status == 201:
        known = created.json()["lead_id"]
    else:  # 409 after the first example: the lead exists
        known = stack.request("GET", "/leads", claims=ADMIN).json()["items"][0]["lead_id"]
    events = data.draw(st.lists(_event(known), min_size=1, max_size=8))
    response = stack.request("POST", "/events", json_body={"events": events}, claims=ADMIN)
    _answer_is_clean(response)
    if (
        response.status == 200
    ):  # every event is accounted for: recorded, a duplicate, or rejected with a reason
        result = response.json()
        assert result["accepted"] + result["duplicates"] + len(result["rejected"]) == len(events), result
        assert all(r["reason"] for r in result["rejected"])
        event("some recorded" if result["accepted"] else "none recorded")
    stack.settle()
    assert stack.queue_depth("ScoringDeadLetterQueue") == 0


FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["New", "Contacted", "Lost", "x"]),
        "owner": st.sampled_from(["me", "unassigned", "u-gen", ""]),
        "grade": st.sampled_from(["hot", "cold", "x"]),
        "created_from": INSTANTS,
        "created_to": INSTANTS,
        "q": TEXT,
    },
)
BULK_PARAMS = {
    "set_status": st.fixed_dictionaries({"status": st.sampled_from(["Contacted", "Lost", "x"])}),
    "set_owner": st.fixed_dictionaries(
        {"owner_id": st.one_of(st.none(), st.sampled_from(["u-1", ""]), TEXT)}
    ),
    "add_tags": st.fixed_dictionaries({"tags": st.lists(TEXT, max_size=4)}),
    "remove_tags": st.fixed_dictionaries({"tags": st.lists(TEXT, max_size=4)}),
    "add_to_list": st.fixed_dictionaries({"list_id": st.one_of(st.just("LIST"), TEXT)}),
    "remove_from_list": st.fixed_dictionaries({"list_id": st.one_of(st.just("LIST"), TEXT)}),
    "export": st.fixed_dictionaries(
        {"format": st.sampled_from(["csv", "xlsx", "json", "x"])},
        optional={
            "fields": st.lists(st.sampled_from(["name", "email", "tags", "custom.x", "x"]), max_size=3)
        },
    ),
    "delete": st.just({}),
}


def _leads_and_list(stack) -> tuple[list[str], str]:
    """At least four leads and a static list in the tenant (topped up before each example: merges remove
    leads)."""
    page = stack.request("GET", "/leads", query={"limit": 100}, claims=ADMIN).json()["items"]
    for _ in range(len(page), 4):
        body = {"email": f"g{next(_SERIAL)}@example.com", "tags": ["t"]}
        made = stack.request("POST", "/leads", json_body=body, claims=ADMIN)
        assert made.status == 201, made.text
    ids = [
        row["lead_id"]
        for row in stack.request("GET", "/leads", query={"limit": 100}, claims=ADMIN).json()["items"]
    ]
    lists = stack.request("GET", "/lists", claims=ADMIN).json()["items"]
    if not lists:
        return ids, stack.request("POST", "/lists", json_body={"name": "g"}, claims=ADMIN).json()["list_id"]
    return ids, lists[0]["list_id"]


# Leads are named by position (taken modulo the leads there are), so what hypothesis draws never depends
# on the stack's state (it replays draws to shrink a failure).
PICKS = st.integers(0, 7)
SELECTIONS = st.one_of(
    st.fixed_dictionaries(
        {"lead_ids": st.lists(PICKS | st.from_regex(r"\A[0-9a-f]{32}\Z"), min_size=1, max_size=5)}
    ),
    st.just({"list_id": "LIST"}),
    st.fixed_dictionaries({"filter": FILTERS}),
    st.fixed_dictionaries({"segment_id": TEXT}),
    VALUES,
)


def _resolve(value: Any, ids: list[str], list_id: str) -> Any:
    """``value`` with each position replaced by a lead id and ``"LIST"`` by the list's id."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and 0 <= value <= 7:
        return ids[value % len(ids)]
    if value == "LIST":
        return list_id
    if isinstance(value, list):
        return [_resolve(v, ids, list_id) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, ids, list_id) for k, v in value.items()}
    return value


@GENERATED
@given(
    action=st.sampled_from(sorted(BULK_PARAMS)).flatmap(lambda a: st.tuples(st.just(a), BULK_PARAMS[a])),
    selection=SELECTIONS,
    export_format=st.sampled_from(["csv", "xlsx", "json"]),
    export_filter=st.none() | FILTERS,
    export_selection=SELECTIONS,
    merge=st.fixed_dictionaries(
        {
            "survivor_id": PICKS,
            "merged_ids": st.lists(PICKS | TEXT, min_size=1, max_size=3),
            "rule": st.sampled_from(["keep_survivor", "keep_most_recent", "keep_highest_score", "x"]),
            "fields": st.dictionaries(st.sampled_from(["name", "email", "x"]), PICKS | TEXT, max_size=2),
        }
    ),
)
def test_generated_bulk_actions_exports_and_merges_never_get_a_5xx(
    stack, action, selection, export_format, export_filter, export_selection, merge
):
    ids, list_id = _leads_and_list(stack)
    kind, params = action
    bulk = {"selection": selection, "action": kind, "params": params}
    _answer_is_clean(
        stack.request("POST", "/bulk-actions", json_body=_resolve(bulk, ids, list_id), claims=ADMIN)
    )
    export = {"format": export_format, **(export_filter or {})}
    if export_filter is None:
        export = {"format": export_format, "selection": export_selection}
    _answer_is_clean(
        stack.request("POST", "/exports", json_body=_resolve(export, ids, list_id), claims=ADMIN)
    )
    _answer_is_clean(
        stack.request("POST", "/leads/merge", json_body=_resolve(merge, ids, list_id), claims=ADMIN)
    )
    stack.settle()
    depths = {q: stack.queue_depth(q) for q in ("JobsDeadLetterQueue", "ScoringDeadLetterQueue")}
    assert set(depths.values()) == {0}, depths
