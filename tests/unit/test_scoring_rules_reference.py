"""The compiled rules engine against a straightforward reference implementation, on random models and leads.

``CompiledModel.score`` shares field reads between rules, matches ``contains`` with one compiled regular
expression and precomputes labels; the reference below evaluates every rule on its own, exactly as the
module docstring of :mod:`leadtide.scoring.rules` states, with plain loops. Both must agree on every
factor (id, label, points, detail), the group totals, the score and the grade.
"""

import math
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from leadtide.scoring.rules import (
    ENUM_VALUES,
    FIT_FIELDS,
    OPS_BY_KIND,
    SECONDS_PER_DAY,
    CompiledModel,
    RuleScore,
    email_domain_type,
    parse_spec,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
EVENTS = ["email_opened", "email_clicked", "page_viewed", "meeting_booked", "form_submitted"]
WORDS = ["CEO", "vp", "Head of Sales", "Straße", "STRASSE", "intern", "student", "Director", "c++", "a.b", ""]
CUSTOM_KEYS = ["company_size", "industry", "plan", "seats"]


# ---------------------------------------------------------------------------------------------- reference
def _value(lead, field):
    custom = lead.get("custom_fields") or {}
    if field.startswith("custom."):
        return custom.get(field[7:])
    if field == "email_domain_type":
        return email_domain_type(lead.get("email"))
    if field in ("company_size", "industry", "country") and lead.get(field) is None:
        return custom.get(field)
    return lead.get(field)


def _number(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            return float(v.replace(",", "").strip())
        except ValueError:
            return None
    return None


def _fold(v):
    return v.casefold() if isinstance(v, str) else v


def reference_holds(field, op, value, lead):
    """One fit condition, evaluated from scratch."""
    kind = "any" if field.startswith("custom.") else FIT_FIELDS[field]
    v = _value(lead, field)
    values = value if isinstance(value, list) else [value]
    empty = v is None or v == "" or v == [] or v == {}
    if op == "is_empty":
        return empty
    if op == "is_not_empty":
        return not empty
    if kind == "list":
        return any(_fold(t) == _fold(w) for t in (v or ()) for w in values)
    if op in ("gte", "lte", "between") or kind == "number":
        n = _number(v)
        if n is None:
            return False
        if op == "gte":
            return n >= value
        if op == "lte":
            return n <= value
        if op == "between":
            return value[0] <= n <= value[1]
        return any(n == float(w) for w in values)
    if op == "contains":
        text = str(v or "").casefold()
        return any(str(w).casefold() in text for w in values)
    return any(_fold(v) == _fold(w) for w in values)


def reference_score(spec, lead, occurrences, now_ts):
    factors, totals = [], {}
    for r in spec.fit_rules:
        if reference_holds(r.field, r.op, r.value, lead):
            totals[r.group] = totals.get(r.group, 0.0) + float(r.points)
            factors.append((r.id, r.label, float(r.points), None))
    for r in spec.behaviour_rules:
        times = list(occurrences.get(r.event_type) or [])
        if not times:
            continue
        if r.max_occurrences is not None and len(times) > r.max_occurrences:
            times = sorted(times, reverse=True)[: r.max_occurrences]
        points = float(r.points)
        if spec.decay is not None and spec.decay.kind == "half_life":
            rate = math.log(2) / (spec.decay.days * SECONDS_PER_DAY)
            weights = [math.exp(rate * (ts - now_ts)) if ts < now_ts else 1.0 for ts in times]
            value = points * sum(weights)
        elif spec.decay is not None:
            value = 0.0
            for ts in times:
                age = max((now_ts - ts) / SECONDS_PER_DAY, 0.0)
                left = abs(points) - spec.decay.points_per_period * math.floor(age / spec.decay.period_days)
                value += math.copysign(left, points) if left > 0 else 0.0
        else:
            value = points * len(times)
        if abs(value) >= 0.05:
            totals[r.group] = totals.get(r.group, 0.0) + value
            factors.append((r.id, r.label, value, f"{len(times)} occurrence(s)"))
    fit_groups = {r.group for r in spec.fit_rules}
    fit = engagement = total = 0.0
    for g in spec.groups:
        if g.name not in totals:
            continue
        raw = totals[g.name]
        capped = max(-g.cap, min(g.cap, raw))
        if capped != raw:
            factors.append((f"cap.{g.name}", f"{g.label or g.name} capped at {g.cap:g}", capped - raw, None))
        total += capped
        if g.name in fit_groups:
            fit += capped
        else:
            engagement += capped
    top = min(spec.total_cap, 100.0)
    clamped = min(max(total, 0.0), top)
    if clamped != total:
        factors.append(("cap.total", f"Score kept within 0-{top:g}", clamped - total, None))
    score = math.floor(clamped + 0.5)
    grade = "hot" if score >= spec.grades.hot else "warm" if score >= spec.grades.warm else "cold"
    return RuleScore(score, grade, clamped, round(fit, 2), round(engagement, 2), factors)


# ---------------------------------------------------------------------------------------------- generators
texts = st.sampled_from(WORDS) | st.text(alphabet="abcCEOß .+-", min_size=1, max_size=8)
numbers = st.integers(-5, 5000) | st.floats(-10, 5000, allow_nan=False)


@st.composite
def conditions(draw):
    field = draw(st.sampled_from([*FIT_FIELDS, "custom.plan", "custom.seats"]))
    kind = "any" if field.startswith("custom.") else FIT_FIELDS[field]
    op = draw(st.sampled_from(sorted(OPS_BY_KIND[kind])))
    if op in ("is_empty", "is_not_empty"):
        return field, op, None
    if op == "between":
        lo, hi = sorted([draw(numbers), draw(numbers)])
        return field, op, [lo, hi]
    if op in ("gte", "lte"):
        return field, op, draw(numbers)
    if kind == "enum":
        atom = st.sampled_from(sorted(ENUM_VALUES[field]))
    elif kind == "number":
        atom = numbers
    elif kind == "any":
        atom = texts.filter(str.strip) | numbers | st.booleans()
    else:
        atom = texts.filter(str.strip)
    if op == "in" or (op == "contains" and draw(st.booleans())):
        return field, op, draw(st.lists(atom, min_size=1, max_size=4))
    return field, op, draw(atom)


@st.composite
def specs(draw):
    fit = [
        {"id": f"f{i}", "label": f"F{i}", "field": f, "op": op, "value": v, "points": p, "group": "fit"}
        for i, ((f, op, v), p) in enumerate(
            draw(st.lists(st.tuples(conditions(), st.sampled_from([-20, -5, 3, 8, 15, 30])), max_size=8))
        )
    ]
    behaviour = [
        {"id": f"b{i}", "label": f"B{i}", "event_type": e, "points": p, "max_occurrences": m}
        for i, (e, p, m) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(EVENTS),
                        st.sampled_from([-4, 1, 3, 10, 25]),
                        st.none() | st.integers(1, 5),
                    ),
                    max_size=6,
                )
            )
        )
    ]
    decay = draw(
        st.sampled_from(
            [None, {"kind": "half_life", "days": 21}, {"kind": "half_life", "days": 3.5},
             {"kind": "linear", "points_per_period": 2, "period_days": 7}]
        )
    )  # fmt: skip
    return parse_spec(
        {
            "name": "random",
            "fit_rules": fit,
            "behaviour_rules": behaviour,
            "groups": [
                {"name": "fit", "label": "Fit", "cap": draw(st.sampled_from([10, 40, 100]))},
                {"name": "engagement", "cap": draw(st.sampled_from([5, 60, 100]))},
            ],
            "total_cap": draw(st.sampled_from([30, 100])),
            "decay": decay,
        }
    )


values = st.none() | texts | numbers | st.booleans() | st.sampled_from(["1,200", " 75 ", "n/a"])
leads = st.fixed_dictionaries(
    {
        "job_title": st.none() | texts,
        "company": st.none() | texts,
        "email": st.none() | st.sampled_from(["a@gmail.com", "b@ACME.io", "c@Hotmail.com", "bad", ""]),
        "source_channel": st.sampled_from(["manual", "whatsapp", "web_form", "import"]),
        "status": st.sampled_from(["New", "Contacted", "Qualified"]),
        "tags": st.lists(texts, max_size=3),
        "custom_fields": st.dictionaries(st.sampled_from(CUSTOM_KEYS), values, max_size=4),
    },
    optional={"industry": st.none() | texts, "country": st.none() | texts, "company_size": values},
)
occurrence_maps = st.dictionaries(
    st.sampled_from(EVENTS),
    st.lists(
        st.floats(-90, 2, allow_nan=False).map(lambda d: NOW - d * SECONDS_PER_DAY), min_size=1, max_size=12
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(spec=specs(), lead=leads, occurrences=occurrence_maps)
def test_compiled_model_agrees_with_the_reference(spec, lead, occurrences):
    # Given a random valid model and a random lead with behaviour
    model = CompiledModel(spec)
    # When both engines score it
    got = model.score(lead, occurrences, NOW)
    want = reference_score(spec, lead, occurrences, NOW)
    # Then every factor, total, the score and the grade are the same
    assert got == want


@settings(max_examples=200, deadline=None)
@given(spec=specs(), batch=st.lists(st.tuples(leads, occurrence_maps), min_size=2, max_size=6))
def test_one_compiled_model_scores_a_batch_without_state_leaking_between_leads(spec, batch):
    # Given one compiled model reused over several leads (as on a page)
    model = CompiledModel(spec)
    # Then each result equals the reference for that lead alone
    for lead, occurrences in batch:
        assert model.score(lead, occurrences, NOW) == reference_score(spec, lead, occurrences, NOW)
