"""Scoring-model validation (one test per class of error), templates, and the rules engine's math."""

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadtide.models.errors import UnprocessableError
from leadtide.scoring.rules import CompiledModel, email_domain_type, parse_spec
from leadtide.scoring.templates import TEMPLATES, list_templates, template_spec

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def _spec(**kw):
    base = {"name": "m", "fit_rules": [], "behaviour_rules": []}
    return {**base, **kw}


def _fit(rule_id="f1", field="job_title", op="eq", value="ceo", points=10, **kw):
    return {"id": rule_id, "label": rule_id, "field": field, "op": op, "value": value, "points": points, **kw}


def _beh(rule_id="b1", event="email_opened", points=1, **kw):
    return {"id": rule_id, "label": rule_id, "event_type": event, "points": points, **kw}


def _fields_of(err: pytest.ExceptionInfo) -> list[str]:
    return [d["field"] for d in err.value.details]


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (_spec(fit_rules=[_fit(field="shoe_size")]), "fit_rules[0].field"),  # unknown field
        (_spec(behaviour_rules=[_beh(event="webinar_attended")]), "behaviour_rules[0].event_type"),
        (_spec(fit_rules=[_fit(field="company_size", op="contains", value="5")]), "fit_rules[0].op"),
        (_spec(fit_rules=[_fit(field="job_title", op="gte", value=3)]), "fit_rules[0].op"),
        (_spec(fit_rules=[_fit(field="company_size", op="gte", value="big")]), "fit_rules[0].value"),
        (_spec(fit_rules=[_fit(field="company_size", op="between", value=[500, 10])]), "fit_rules[0].value"),
        (_spec(fit_rules=[_fit(field="source_channel", op="eq", value="fax")]), "fit_rules[0].value"),
        (_spec(fit_rules=[_fit(op="is_empty", value="x")]), "fit_rules[0].value"),
        (_spec(fit_rules=[_fit(points=150)]), "fit_rules[0].points"),  # absurd points
        (_spec(behaviour_rules=[_beh(points=-101)]), "behaviour_rules[0].points"),
        (_spec(groups=[{"name": "fit", "cap": 0}, {"name": "engagement", "cap": 60}]), "groups[0].cap"),
        (_spec(groups=[{"name": "fit", "cap": 40}, {"name": "engagement", "cap": 160}]), "groups[1].cap"),
        (_spec(total_cap=0), "total_cap"),
        (_spec(grades={"hot": 20, "warm": 50}), "grades"),  # out of order
        (_spec(grades={"hot": 50, "warm": 50}), "grades"),  # not strictly ordered
        (_spec(grades={"hot": 120, "warm": 50}), "grades"),
        (_spec(fit_rules=[_fit(), _fit(value="cto")]), "fit_rules[1].id"),  # duplicate rule id
        (_spec(fit_rules=[_fit(rule_id="x")], behaviour_rules=[_beh(rule_id="x")]), "behaviour_rules[0].id"),
        (_spec(decay={"kind": "half_life", "days": 0}), "decay.days"),
        (_spec(decay={"kind": "linear", "points_per_period": 5, "period_days": -7}), "decay.period_days"),
        (_spec(fit_rules=[_fit(field="score", op="gte", value=50)]), "fit_rules[0].field"),  # self-ref
        (_spec(fit_rules=[_fit(group="bonus")]), "fit_rules[0].group"),  # undeclared group
        (_spec(fit_rules=[_fit(group="engagement")], behaviour_rules=[_beh()]), "groups[1]"),  # mixed
        (_spec(custom_event_types=["email_opened"]), "custom_event_types[0]"),
        (_spec(fit_rules=[{**_fit(), "colour": "red"}]), "fit_rules.0.colour"),  # unknown property
    ],
)
def test_each_class_of_invalid_model_is_a_422_naming_the_path(spec, path):
    with pytest.raises(UnprocessableError) as err:
        parse_spec(spec)
    assert err.value.status_code == 422
    assert path in _fields_of(err), err.value.details


def test_custom_event_types_must_be_declared_and_then_validate():
    spec = _spec(behaviour_rules=[_beh(event="trial_booked", points=20)], custom_event_types=["trial_booked"])
    assert parse_spec(spec).behaviour_rules[0].event_type == "trial_booked"


def test_several_problems_are_reported_together():
    with pytest.raises(UnprocessableError) as err:
        parse_spec(_spec(fit_rules=[_fit(points=500), _fit(rule_id="f2", field="nope")], total_cap=-1))
    assert {"fit_rules[0].points", "fit_rules[1].field", "total_cap"} <= set(_fields_of(err))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_is_valid_and_full_engagement_fills_its_cap(name):
    spec = parse_spec(template_spec(name))
    model = CompiledModel(spec)
    assert spec.fit_rules and spec.behaviour_rules
    # every positive behaviour (negative message intent, e.g. "not interested", is not engagement)
    occurrences = {
        r.event_type: [NOW] * (r.max_occurrences or 3) for r in spec.behaviour_rules if r.points > 0
    }
    result = model.score({"tags": [], "custom_fields": {}}, occurrences, NOW)
    behaviour_groups = {r.group for r in spec.behaviour_rules}
    assert behaviour_groups == {"engagement", "intent"}
    assert result.engagement_score == sum(g.cap for g in spec.groups if g.name in behaviour_groups)
    assert result.grade == "hot"  # engagement alone (capped) reaches the hot threshold in every template
    assert {t.name for t in list_templates()} == set(TEMPLATES)


# ---------------------------------------------------------------------------------------------- math
def _model(**kw) -> CompiledModel:
    return CompiledModel(parse_spec(_spec(**kw)))


def test_fit_rules_with_negative_points_and_group_cap():
    model = _model(
        fit_rules=[
            _fit("exec", op="contains", value=["vp", "chief"], points=30),
            _fit("size", field="company_size", op="between", value=[50, 500], points=20),
            _fit("free", field="email_domain_type", op="eq", value="free", points=-15),
        ]
    )
    lead = {"job_title": "VP Sales", "email": "x@gmail.com", "custom_fields": {"company_size": "120"}}
    r = model.score(lead, {}, NOW)
    # 30 + 20 = 50 capped at 40, then -15 -> 25 (cap applies to the group total: 30 + 20 - 15 = 35 < 40)
    assert r.fit_score == 35 and r.score == 35
    lead_business = {**lead, "email": "x@acme.io"}
    r2 = model.score(lead_business, {}, NOW)
    assert r2.fit_score == 40 and r2.score == 40
    assert ("cap.fit", "Fit capped at 40", -10.0, None) in r2.factors
    assert sum(f[2] for f in r2.factors) == pytest.approx(r2.rules_score)


def test_half_life_decay_per_occurrence():
    model = _model(
        behaviour_rules=[_beh(event="email_clicked", points=8)], decay={"kind": "half_life", "days": 14}
    )
    r = model.score({}, {"email_clicked": [NOW, NOW - 14 * DAY, NOW - 28 * DAY]}, NOW)
    assert r.engagement_score == pytest.approx(8 + 4 + 2, abs=0.01)


def test_linear_decay_steps_per_full_period_and_stops_at_zero():
    model = _model(
        behaviour_rules=[_beh(event="meeting_booked", points=20)],
        decay={"kind": "linear", "points_per_period": 5, "period_days": 7},
        groups=[{"name": "engagement", "cap": 100}],
    )
    ages = [0, 6.9, 7, 20, 100]
    r = model.score({}, {"meeting_booked": [NOW - a * DAY for a in ages]}, NOW)
    assert r.engagement_score == pytest.approx(20 + 20 + 15 + 10 + 0)
    assert model.horizon_days == 28


def test_max_occurrences_counts_only_the_newest():
    model = _model(behaviour_rules=[_beh(event="page_viewed", points=2, max_occurrences=3)], decay=None)
    times = [NOW - d * DAY for d in range(10)]
    assert model.score({}, {"page_viewed": times}, NOW).engagement_score == 6


def test_total_clamped_to_zero_and_thresholds_give_grades():
    model = _model(
        fit_rules=[_fit("student", op="contains", value="student", points=-30)],
        behaviour_rules=[_beh(event="email_opened", points=5)],
        grades={"hot": 60, "warm": 10},
        decay=None,
    )
    r = model.score({"job_title": "Student"}, {"email_opened": [NOW]}, NOW)
    assert r.score == 0 and r.grade == "cold"
    assert r.factors[-1][0] == "cap.total" and r.factors[-1][2] == pytest.approx(25)
    r2 = model.score({}, {"email_opened": [NOW] * 3}, NOW)
    assert (r2.score, r2.grade) == (15, "warm")


def test_predictive_blend_only_when_enabled():
    spec = _spec(behaviour_rules=[_beh(event="email_replied", points=40)], decay=None)
    off = CompiledModel(parse_spec(spec))
    on = CompiledModel(parse_spec({**spec, "predictive": {"enabled": True, "weight": 0.5}}))
    occ = {"email_replied": [NOW]}
    assert off.score({}, occ, NOW, probability=0.9).score == 40
    blended = on.score({}, occ, NOW, probability=0.9)
    assert blended.score == round(0.5 * 40 + 0.5 * 90) and blended.factors[-1][0] == "predictive"


def test_field_lookups_tags_custom_and_email_domain():
    model = _model(
        fit_rules=[
            _fit("tag", field="tags", op="contains", value="VIP", points=5),
            _fit("plan", field="custom.plan", op="in", value=["gold", "platinum"], points=7),
            _fit("country", field="country", op="eq", value="br", points=3),
            _fit("nocompany", field="company", op="is_empty", value=None, points=-2),
        ]
    )
    lead = {"tags": ["vip"], "custom_fields": {"plan": "Gold", "country": "BR"}, "company": ""}
    assert model.score(lead, {}, NOW).fit_score == 5 + 7 + 3 - 2
    assert model.score({**lead, "tags": ["new"], "company": "Acme"}, {}, NOW).fit_score == 7 + 3
    assert email_domain_type("a@Gmail.com") == "free" and email_domain_type("a@acme.com") == "business"
    assert email_domain_type(None) is None


@given(
    st.lists(st.floats(min_value=0, max_value=400), max_size=30),
    st.floats(min_value=-100, max_value=100).filter(lambda p: abs(p) >= 1),
    st.sampled_from(
        [{"kind": "half_life", "days": 14}, {"kind": "linear", "points_per_period": 3, "period_days": 7}]
    ),
)
def test_score_is_bounded_grade_consistent_and_decay_never_grows(ages, points, decay):
    model = _model(behaviour_rules=[_beh(event="email_clicked", points=points)], decay=decay)
    r = model.score({}, {"email_clicked": [NOW - a * DAY for a in ages]}, NOW)
    assert 0 <= r.score <= 100 and r.grade == model.grade_of(r.score)
    assert math.isclose(sum(f[2] for f in r.factors), r.rules_score, abs_tol=0.05 * (len(r.factors) + 1))
    for age in ages:
        assert abs(model.decayed(points, age)) <= abs(points) + 1e-9
