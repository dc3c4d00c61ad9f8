"""The configurable scoring rules engine: validate a scoring model, compile it, score leads fast.

Scoring a lead with a model (all points are floats until the final rounding):

1. every fit rule whose condition holds on the profile adds its ``points`` to its group;
2. every behaviour rule adds, for each occurrence of its event type (the newest ``max_occurrences`` when
   set), ``points`` decayed by the occurrence's age: half-life ``points * 0.5 ** (age_days / days)`` (the
   exponential score decay of marketing-automation tools such as HubSpot and Marketo) or linear
   ``sign(points) * max(0, |points| - points_per_period * floor(age_days / period_days))``;
3. each group's total is clamped to ``[-cap, cap]``; the groups are summed and the sum clamped to
   ``[0, total_cap]`` (and 0..100);
4. with ``predictive.enabled`` and a prediction, ``score = (1 - w) * rules + w * 100 * probability``;
5. the rounded score gets its grade from the thresholds.

Every step that moves points is a factor in the breakdown (rule ids, then ``cap.<group>``, ``cap.total``,
``predictive``), so the factors always add up to the unrounded score. ``fit_score`` is the sum of the
capped totals of groups holding fit rules, ``engagement_score`` the same for behaviour rules (a group may
not mix both, so the two are well defined).

The hot path works on plain dicts and floats: a model is compiled once; per lead,
:meth:`CompiledModel.score` reads each field a rule uses once, derives each (field, view) once (folded
text, number, folded list items), tests every fit rule on its view (``contains`` lists are one compiled
regular-expression alternation), and allocates only the factor tuples and the result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from leadtide.models.common import ChannelType, LeadStatus
from leadtide.models.errors import UnprocessableError
from leadtide.models.scoring import (
    BUILTIN_EVENT_TYPES,
    EVENT_TYPE_PATTERN,
    INTENT_EVENT_PREFIX,
    HalfLifeDecay,
    LinearDecay,
    ScoringModelSpec,
)

SECONDS_PER_DAY = 86400.0
MAX_ABS_POINTS = 100.0
# Occurrences older than this many half-lives (0.4 % of their points) are not worth reading.
HALF_LIVES_HORIZON = 8

# Field -> kind. "any" fields (custom.<key>) accept every op; numbers compare numerically.
FIT_FIELDS: dict[str, str] = {
    "job_title": "text",
    "company": "text",
    "company_size": "number",
    "industry": "text",
    "country": "text",
    "source_channel": "enum",
    "status": "enum",
    "email_domain_type": "enum",
    "tags": "list",
}
OPS_BY_KIND: dict[str, frozenset[str]] = {
    "text": frozenset({"eq", "in", "contains", "is_empty", "is_not_empty"}),
    "enum": frozenset({"eq", "in", "is_empty", "is_not_empty"}),
    "number": frozenset({"eq", "in", "gte", "lte", "between", "is_empty", "is_not_empty"}),
    "list": frozenset({"contains", "in", "is_empty", "is_not_empty"}),
    "any": frozenset({"eq", "in", "contains", "gte", "lte", "between", "is_empty", "is_not_empty"}),
}
ENUM_VALUES: dict[str, frozenset[str]] = {
    "source_channel": frozenset(str(c) for c in ChannelType),
    "status": frozenset(str(s) for s in LeadStatus),
    "email_domain_type": frozenset({"free", "business"}),
}
# Values scoring itself derives: a rule on them would make the score depend on itself.
DERIVED_FIELDS = frozenset(
    {
        "score",
        "grade",
        "fit_score",
        "engagement_score",
        "conversion_probability",
        "score_breakdown",
        "scoring_model_id",
        "grade_override",
    }
)
# Common free-mail providers (webmail anyone can sign up to); every other domain counts as business.
FREE_EMAIL_DOMAINS = frozenset(
    (
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.es",
        "yahoo.com.br",
        "yahoo.co.in",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.es",
        "hotmail.it",
        "outlook.com",
        "outlook.es",
        "live.com",
        "live.co.uk",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "inbox.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "zoho.com",
        "mail.com",
        "tutanota.com",
        "fastmail.com",
        "hey.com",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "ig.com.br",
        "libero.it",
        "virgilio.it",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "wanadoo.fr",
        "t-online.de",
        "btinternet.com",
        "rediffmail.com",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
    )
)


def _problem(path: str, problem: str) -> dict[str, str]:
    return {"field": path, "problem": problem}


def parse_spec(data: Mapping[str, Any]) -> ScoringModelSpec:
    """Parse and fully validate a scoring model definition.

    Raises:
        UnprocessableError (422): ``details`` list every problem as ``{"field": <dotted path>, "problem"}``.
    """
    try:
        spec = ScoringModelSpec.model_validate(dict(data))
    except ValidationError as err:
        details = [_problem(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in err.errors()]
        raise UnprocessableError(
            f"invalid scoring model: {details[0]['field']}: {details[0]['problem']}", details=details
        ) from None
    validate_spec(spec)
    return spec


def validate_spec(spec: ScoringModelSpec) -> None:
    """Check what the schema alone cannot: fields, ops and values per field type, points, caps, group
    membership, duplicate ids, event types, decay, thresholds, self-references.

    Cycles: rules read only profile fields and event counts; none reads a group, a score or another rule,
    and derived scoring fields are rejected, so the dependency graph (rules -> groups -> total) is a tree.

    Raises:
        UnprocessableError (422) naming every offending path.
    """
    problems, groups = _group_problems(spec)
    rules = _RuleChecks(groups)
    for i, rule in enumerate(spec.fit_rules):
        path = f"fit_rules[{i}]"
        problems += rules.common(path, rule.id, rule.points, rule.group, "fit")
        problems += _check_fit_condition(path, rule.field, rule.op, rule.value)
    event_problems, custom = _custom_event_type_problems(spec)
    problems += event_problems
    known_events = set(BUILTIN_EVENT_TYPES) | custom
    for i, brule in enumerate(spec.behaviour_rules):
        path = f"behaviour_rules[{i}]"
        problems += rules.common(path, brule.id, brule.points, brule.group, "behaviour")
        if brule.event_type not in known_events:
            problems.append(
                _problem(
                    f"{path}.event_type",
                    f"unknown event type {brule.event_type!r}: use a built-in type or declare it in "
                    "custom_event_types",
                )
            )
    problems += rules.mixed_groups(spec)
    problems += _decay_and_grade_problems(spec)
    if problems:
        raise UnprocessableError(
            f"invalid scoring model: {problems[0]['field']}: {problems[0]['problem']}", details=problems
        )


def _group_problems(spec: ScoringModelSpec) -> tuple[list[dict[str, str]], dict[str, float]]:
    """Duplicate group names and caps out of (0, 100] (the groups' and the total's); and the caps by name."""
    problems: list[dict[str, str]] = []
    groups: dict[str, float] = {}
    for i, group in enumerate(spec.groups):
        path = f"groups[{i}]"
        if group.name in groups:
            problems.append(_problem(f"{path}.name", f"duplicate group {group.name!r}"))
        groups[group.name] = group.cap
        if not 0 < group.cap <= 100:
            problems.append(_problem(f"{path}.cap", "a group cap must be > 0 and <= 100"))
    if not 0 < spec.total_cap <= 100:
        problems.append(_problem("total_cap", "the total cap must be > 0 and <= 100"))
    return problems, groups


class _RuleChecks:
    """What every rule (fit or behaviour) is checked for, across the rules of one spec: unique ids, points,
    a declared group, and groups holding one kind of rule only."""

    def __init__(self, groups: dict[str, float]):
        self._groups = groups
        self._seen_ids: set[str] = set()
        self._kinds: dict[str, set[str]] = {}

    def common(self, path: str, rule_id: str, points: float, group: str, kind: str) -> list[dict[str, str]]:
        problems = []
        if rule_id in self._seen_ids:
            problems.append(_problem(f"{path}.id", f"duplicate rule id {rule_id!r}"))
        self._seen_ids.add(rule_id)
        if not math.isfinite(points) or abs(points) > MAX_ABS_POINTS:
            problems.append(_problem(f"{path}.points", "points must be between -100 and 100"))
        elif points == 0:
            problems.append(_problem(f"{path}.points", "a rule worth 0 points does nothing"))
        if group not in self._groups:
            problems.append(_problem(f"{path}.group", f"unknown group {group!r} (declare it in groups)"))
        self._kinds.setdefault(group, set()).add(kind)
        return problems

    def mixed_groups(self, spec: ScoringModelSpec) -> list[dict[str, str]]:
        """A problem for each group holding both fit and behaviour rules (checked after every rule)."""
        problems = []
        for name, kinds in self._kinds.items():
            if len(kinds) > 1:
                index = (
                    next(i for i, g in enumerate(spec.groups) if g.name == name)
                    if name in self._groups
                    else 0
                )
                problems.append(
                    _problem(f"groups[{index}]", f"group {name!r} mixes fit and behaviour rules; split it")
                )
        return problems


def _custom_event_type_problems(spec: ScoringModelSpec) -> tuple[list[dict[str, str]], set[str]]:
    """Malformed, built-in and repeated custom event types; and the declared ones."""
    problems: list[dict[str, str]] = []
    custom: set[str] = set()
    for i, name in enumerate(spec.custom_event_types):
        if not re.fullmatch(EVENT_TYPE_PATTERN, name):
            problems.append(_problem(f"custom_event_types[{i}]", "lower-case letters, digits, _ and ."))
        elif name in BUILTIN_EVENT_TYPES:
            problems.append(_problem(f"custom_event_types[{i}]", f"{name!r} is a built-in event type"))
        elif name.startswith(INTENT_EVENT_PREFIX):
            problems.append(
                _problem(
                    f"custom_event_types[{i}]",
                    f"{INTENT_EVENT_PREFIX}* is reserved for the message-intent types Leadtide derives",
                )
            )
        elif name in custom:
            problems.append(_problem(f"custom_event_types[{i}]", f"duplicate event type {name!r}"))
        custom.add(name)
    return problems, custom


def _decay_and_grade_problems(spec: ScoringModelSpec) -> list[dict[str, str]]:
    """Non-positive decay parameters, and grade thresholds not ordered 100 >= hot > warm > 0."""
    problems: list[dict[str, str]] = []
    if isinstance(spec.decay, HalfLifeDecay) and not spec.decay.days > 0:
        problems.append(_problem("decay.days", "half-life days must be > 0"))
    if isinstance(spec.decay, LinearDecay):
        if not spec.decay.period_days > 0:
            problems.append(_problem("decay.period_days", "period_days must be > 0"))
        if not spec.decay.points_per_period > 0:
            problems.append(_problem("decay.points_per_period", "points_per_period must be > 0"))
    hot, warm = spec.grades.hot, spec.grades.warm
    if not 100 >= hot > warm > 0:
        problems.append(
            _problem(
                "grades", f"thresholds must be strictly ordered 100 >= hot > warm > 0 (got {hot}, {warm})"
            )
        )
    return problems


def _field_kind(field: str) -> str | None:
    if field.startswith("custom.") and len(field) > 7:
        return "any"
    return FIT_FIELDS.get(field)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_fit_condition(path: str, field: str, op: str, value: Any) -> list[dict[str, str]]:
    if field in DERIVED_FIELDS:
        return [_problem(f"{path}.field", f"{field!r} is derived by scoring itself (a self-reference)")]
    kind = _field_kind(field)
    if kind is None:
        known = ", ".join([*FIT_FIELDS, "custom.<key>"])
        return [_problem(f"{path}.field", f"unknown field {field!r}; use one of {known}")]
    if op not in OPS_BY_KIND[kind]:
        allowed = ", ".join(sorted(OPS_BY_KIND[kind]))
        return [_problem(f"{path}.op", f"op {op!r} is not valid for {field} ({kind}); use {allowed}")]
    vpath = f"{path}.value"
    if op in ("is_empty", "is_not_empty"):
        return [] if value is None else [_problem(vpath, f"{op} takes no value")]
    if op == "in" or (op == "contains" and isinstance(value, list)):
        if not isinstance(value, list) or not value or len(value) > 200:
            return [_problem(vpath, f"'{op}' needs a list of 1-200 values")]
        values = value
    elif op == "between":
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(_is_number(v) for v in value)
            or value[0] > value[1]
        ):
            return [_problem(vpath, "'between' needs [low, high] numbers with low <= high")]
        return []
    elif op in ("gte", "lte"):
        return [] if _is_number(value) else [_problem(vpath, f"'{op}' needs a number")]
    else:
        values = [value]
    for v in values:
        if kind == "number" and not _is_number(v):
            return [_problem(vpath, f"{field} compares numbers; {v!r} is not one")]
        if kind in ("text", "enum", "list") and not (isinstance(v, str) and v.strip()):
            return [_problem(vpath, f"{field} compares non-empty text; {v!r} is not")]
        if kind == "any" and not (isinstance(v, str | bool) or _is_number(v)):
            return [_problem(vpath, f"{v!r} must be text, a number or a boolean")]
        if kind == "enum" and str(v) not in ENUM_VALUES[field]:
            allowed = ", ".join(sorted(ENUM_VALUES[field]))
            return [_problem(vpath, f"{v!r} is not a {field} ({allowed})")]
    return []


# ---------------------------------------------------------------------------------------------- compile + score
Predicate = Callable[[Mapping[str, Any]], bool]
Factor = tuple[str, str, float, str | None]  # (factor, label, points, detail)


_exp = math.exp
_OCCURRENCES = [f"{n} occurrence(s)" for n in range(101)]


@lru_cache(maxsize=65536)
def email_domain_type(email: str | None) -> str | None:
    """``"free"`` for a free-mail provider, ``"business"`` for any other domain, None without an email."""
    if not email or "@" not in email:
        return None
    return "free" if email.rsplit("@", 1)[1].lower() in FREE_EMAIL_DOMAINS else "business"


def _getter(field: str) -> Callable[[Mapping[str, Any]], Any]:
    if field.startswith("custom."):
        key = field[7:]
        return lambda lead: (lead.get("custom_fields") or {}).get(key)
    if field == "email_domain_type":
        return lambda lead: email_domain_type(lead.get("email"))
    if field in ("company_size", "industry", "country"):
        # Not (yet) first-class lead fields: read the attribute, else the custom field of the same name.
        return lambda lead: (
            lead.get(field) if lead.get(field) is not None else (lead.get("custom_fields") or {}).get(field)
        )
    return lambda lead: lead.get(field)


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or v == {}


def _as_number(v: Any) -> float | None:
    if _is_number(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.replace(",", "").strip())
        except ValueError:
            return None
    return None


def _fold(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def compile_condition(field: str, op: str, value: Any) -> Predicate:
    """A predicate over a lead dict for a validated fit condition (see :class:`FitRule`)."""
    get = _getter(field)
    view, test = compile_test(field, op, value)
    return lambda lead: test(view(get(lead)))


def _identity(v: Any) -> Any:
    return v


def _folded_text(v: Any) -> str:
    return str(v or "").casefold()


def _folded_items(v: Any) -> tuple[Any, ...]:
    return tuple(_fold(t) for t in (v or ()))


def compile_test(field: str, op: str, value: Any) -> tuple[Callable[[Any], Any], Callable[[Any], bool]]:
    """A validated fit condition as ``(view, test)``: ``test(view(value_of_field))`` is the condition.

    The view is one of a few shared functions (raw value, folded text, number, folded list items), so a
    compiled model computes each ``(field, view)`` once per lead however many rules read it. Matching, in
    order: ``is_empty``/``is_not_empty`` on the raw value; list fields by case-folded membership; numeric ops
    (and every op on number fields) on the value read as a number; ``contains`` as a case-folded substring
    search of any needle (one compiled alternation); ``eq``/``in`` by case-folded equality.
    """
    kind = _field_kind(field) or "any"
    values = value if isinstance(value, list) else [value]
    if op == "is_empty":
        return _identity, _empty
    if op == "is_not_empty":
        return _identity, lambda v: not _empty(v)
    if kind == "list":
        wanted = frozenset(_fold(v) for v in values)
        return _folded_items, lambda items: not wanted.isdisjoint(items)
    if op in ("gte", "lte", "between") or kind == "number":
        lo, hi = -math.inf, math.inf
        if op == "gte":
            lo = float(value)
        elif op == "lte":
            hi = float(value)
        elif op == "between":
            lo, hi = float(value[0]), float(value[1])
        else:  # eq / in on numbers
            targets = frozenset(float(v) for v in values)
            return _as_number, lambda n: n is not None and n in targets
        return _as_number, lambda n: n is not None and lo <= n <= hi
    if op == "contains":
        needles = sorted({str(v).casefold() for v in values}, key=len, reverse=True)
        search = re.compile("|".join(re.escape(n) for n in needles)).search
        return _folded_text, lambda text: search(text) is not None
    targets_text = frozenset(_fold(v) for v in values)
    return _fold, lambda v: v in targets_text


@dataclass(frozen=True)
class RuleScore:
    """The result of scoring one lead: final ``score`` (0..100) and its ``grade`` (from thresholds), the
    rules-only score, group totals and factors (``(factor, label, points, detail)``)."""

    score: int
    grade: str
    rules_score: float
    fit_score: float
    engagement_score: float
    factors: list[Factor]


class CompiledModel:
    """A validated :class:`ScoringModelSpec` compiled for fast scoring (immutable; share freely)."""

    def __init__(self, spec: ScoringModelSpec, model_id: str | None = None):
        self.spec = spec
        self.model_id = model_id
        # Fit rules read "views" of fields (raw, folded text, number...): each distinct field is read once
        # per lead and each distinct (field, view) computed once, however many rules share it.
        fields: dict[str, int] = {}
        views: dict[tuple[int, Callable[[Any], Any]], int] = {}
        self._readers: list[Callable[[Mapping[str, Any]], Any]] = []
        self._views: list[tuple[int, Callable[[Any], Any]]] = []
        self._fit: list[tuple[str, str, float, str, int, Callable[[Any], bool]]] = []
        for r in spec.fit_rules:
            if r.field not in fields:
                fields[r.field] = len(self._readers)
                self._readers.append(_getter(r.field))
            view, test = compile_test(r.field, r.op, r.value)
            key = (fields[r.field], view)
            if key not in views:
                views[key] = len(self._views)
                self._views.append(key)
            self._fit.append((r.id, r.label, float(r.points), r.group, views[key], test))
        self._behaviour = [
            (r.id, r.label, float(r.points), r.group, r.event_type, r.max_occurrences)
            for r in spec.behaviour_rules
        ]
        self._fit_groups = {r.group for r in spec.fit_rules}
        self.event_types = frozenset(r.event_type for r in spec.behaviour_rules)
        decay = spec.decay
        self._half_life = decay.days if isinstance(decay, HalfLifeDecay) else None
        # per-second decay rate of the half-life: 0.5 ** (age / h) == exp(-ln2 * age / h)
        self._rate = math.log(2) / (self._half_life * SECONDS_PER_DAY) if self._half_life else None
        self._linear = (
            (decay.points_per_period, decay.period_days) if isinstance(decay, LinearDecay) else None
        )
        self._total_cap = min(spec.total_cap, 100.0)
        self._total_label = f"Score kept within 0-{self._total_cap:g}"
        self._group_caps = [
            (
                g.name,
                g.cap,
                f"cap.{g.name}",
                f"{g.label or g.name} capped at {g.cap:g}",
                g.name in self._fit_groups,
            )
            for g in spec.groups
        ]
        self._hot, self._warm = spec.grades.hot, spec.grades.warm
        biggest = max((abs(r.points) for r in spec.behaviour_rules), default=0.0)
        if self._half_life is not None:
            self.horizon_days: float | None = self._half_life * HALF_LIVES_HORIZON
        elif self._linear is not None:
            per, period = self._linear
            self.horizon_days = math.ceil(biggest / per) * period if biggest else 0.0
        else:
            self.horizon_days = None

    def decayed(self, points: float, age_days: float) -> float:
        """``points`` of one occurrence ``age_days`` old after the model's decay (future counts as now)."""
        if age_days < 0:
            age_days = 0.0
        if self._half_life is not None:
            return points * 0.5 ** (age_days / self._half_life)
        if self._linear is not None:
            per, period = self._linear
            left = abs(points) - per * math.floor(age_days / period)
            return math.copysign(left, points) if left > 0 else 0.0
        return points

    def grade_of(self, score: float) -> str:
        """Grade of a score under this model's thresholds."""
        if score >= self._hot:
            return "hot"
        if score >= self._warm:
            return "warm"
        return "cold"

    def score(
        self,
        lead: Mapping[str, Any],
        occurrences: Mapping[str, Sequence[float]],
        now_ts: float,
        probability: float | None = None,
    ) -> RuleScore:
        """Score a lead dict.

        Args:
            lead: the profile as a dict (``Lead`` field names; ``custom_fields`` a dict, ``tags`` a list).
            occurrences: event type -> occurrence times (epoch seconds, any order).
            now_ts: the scoring time (epoch seconds).
            probability: predicted conversion probability (0..1), blended in when ``predictive.enabled``.
        """
        factors: list[Factor] = []
        totals: dict[str, float] = {}
        rate = self._rate
        if self._fit:
            values = [read(lead) for read in self._readers]
            seen = [view(values[i]) for i, view in self._views]
            for rule_id, label, points, group, vi, test in self._fit:
                if test(seen[vi]):
                    totals[group] = totals.get(group, 0.0) + points
                    factors.append((rule_id, label, points, None))
        for rule_id, label, points, group, event_type, max_occ in self._behaviour:
            times = occurrences.get(event_type)
            if not times:
                continue
            if max_occ is not None and len(times) > max_occ:
                times = sorted(times, reverse=True)[:max_occ]
            if rate is not None:  # half-life: points * exp(-ln2 * age / half_life), future = now
                value = points * sum([_exp(rate * (ts - now_ts)) if ts < now_ts else 1.0 for ts in times])
            elif self._linear is not None:
                value = 0.0
                for ts in times:
                    value += self.decayed(points, (now_ts - ts) / SECONDS_PER_DAY)
            else:
                value = points * len(times)
            if value >= 0.05 or value <= -0.05:
                totals[group] = totals.get(group, 0.0) + value
                n = len(times)
                factors.append((rule_id, label, value, _OCCURRENCES[n] if n < 101 else f"{n} occurrence(s)"))
        total, fit, engagement = self._capped(totals, factors)
        clamped = min(max(total, 0.0), self._total_cap)
        if clamped != total:
            factors.append(("cap.total", self._total_label, clamped - total, None))
        score = math.floor(clamped + 0.5)
        result = RuleScore(
            score,
            "hot" if score >= self._hot else "warm" if score >= self._warm else "cold",
            clamped,
            round(fit, 2),
            round(engagement, 2),
            factors,
        )
        return result if probability is None else self.blend(result, probability)

    def _capped(self, totals: Mapping[str, float], factors: list[Factor]) -> tuple[float, float, float]:
        """The groups' points within their caps, summed: (total, fit part, engagement part). Each cap that
        bites adds its factor (``cap.<group>``, the points it took away) to ``factors``."""
        total = fit = engagement = 0.0
        for group, cap, cap_id, cap_label, is_fit in self._group_caps:
            raw = totals.get(group)
            if raw is None:
                continue
            capped = cap if raw > cap else -cap if raw < -cap else raw
            if capped != raw:
                factors.append((cap_id, cap_label, capped - raw, None))
            total += capped
            if is_fit:
                fit += capped
            else:
                engagement += capped
        return total, fit, engagement

    def blend(self, result: RuleScore, probability: float | None) -> RuleScore:
        """Blend a predicted conversion probability (0..1) into a rules score when the model enables
        predictive scoring: ``(1 - w) * rules + w * 100 * probability``; otherwise return ``result``."""
        if probability is None or not self.spec.predictive.enabled:
            return result
        w = self.spec.predictive.weight
        final = (1 - w) * result.rules_score + w * 100.0 * probability
        factor = (
            "predictive",
            f"Predicted conversion {probability:.0%} (weight {w:g})",
            final - result.rules_score,
            None,
        )
        score = math.floor(final + 0.5)
        return RuleScore(
            score=score,
            grade=self.grade_of(score),
            rules_score=result.rules_score,
            fit_score=result.fit_score,
            engagement_score=result.engagement_score,
            factors=[*result.factors, factor],
        )
