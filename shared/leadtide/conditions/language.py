"""The condition language: rule trees over a lead record, validated into a typed tree and compiled into a
fast predicate. Segments use it for their include/exclude rules; automations reuse it for their conditions.

Format (JSON)::

    {"all": [<node>, ...]}           AND (an empty list is true)
    {"any": [<node>, ...]}           OR  (an empty list is false)
    {"not": <node>}                  negation
    {"field": "<field>", "op": "<op>", "value": <value>}      a leaf condition

Fields (lead fields, ``custom.<key>``, ``lists``, ``activity.<event_type>`` - when the lead last did it -
and ``activity_count.<event_type>``), their types and the operators each type accepts:
:mod:`leadtide.conditions.fields`. "Replied in the last 14 days" is ``{"field": "activity.email_replied",
"op": "within_last", "value": {"days": 14}}``. Values per operator:

=====================================  ==============================================================
operator                               value
=====================================  ==============================================================
eq, neq                                a string (text/keyword), a number, or a boolean
in, not_in                             a non-empty list of those; for ``lists`` a list id or a list of ids
contains, not_contains, starts_with,   a non-empty string (text fields; case-insensitive, no regex)
ends_with
gt, gte, lt, lte                       a number
between                                ``[low, high]`` inclusive: numbers, or ISO-8601 dates/instants
before, after                          an ISO-8601 date or instant (strict comparison)
within_last, not_within_last           ``{"days": n}`` or ``{"hours": n}``, n > 0 (relative to "now")
has_any, has_all, has_none             a non-empty list of strings (tags, multi-select; case-insensitive)
is_empty, is_not_empty                 no value (or null)
=====================================  ==============================================================

Missing values: an empty field (absent, null, "", empty list) satisfies only ``is_empty`` and the
negative operators (``neq``, ``not_in``, ``not_contains``, ``not_within_last``, ``has_none``), each of
which is exactly ``not`` its positive partner. Text and keyword matching is case-insensitive
(``str.casefold``); list ids are matched exactly.

Limits: depth <= :data:`MAX_DEPTH` (the root is depth 1), at most :data:`MAX_LEAVES` leaf conditions,
:data:`MAX_CHILDREN` children per group, :data:`MAX_VALUES` values per list, :data:`MAX_TEXT` characters
per string. Errors are :class:`ConditionError` (HTTP 422) whose details name the path of each bad node,
e.g. ``include.all[2].op: 'gte' is not valid for text field 'company'``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from leadtide.conditions.fields import (
    ACTIVITY_COUNT_PREFIX,
    ACTIVITY_PREFIX,
    CUSTOM_PREFIX,
    CUSTOM_TYPE_MAP,
    KEYWORD_VALUES,
    LEAD_FIELDS,
    LISTS_FIELD,
    NEGATION,
    OPS_BY_TYPE,
    FieldType,
    Op,
    storage_attribute,
)
from leadtide.models.common import to_epoch, utc_now
from leadtide.models.errors import UnprocessableError
from leadtide.models.scoring import BUILTIN_EVENT_TYPES, EVENT_TYPE_PATTERN

MAX_DEPTH = 6
MAX_LEAVES = 200
MAX_CHILDREN = 100
MAX_VALUES = 500
MAX_TEXT = 500
MAX_WINDOW_DAYS = 3650
_MAX_ERRORS = 20
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]


class ConditionError(UnprocessableError):
    """A rule tree failed validation (HTTP 422). ``details``: ``[{"field": <node path>, "problem": ...}]``."""

    code = "invalid_condition"


# ---------------------------------------------------------------------------------------------- tree
@dataclass(frozen=True)
class Leaf:
    """A validated leaf condition; ``value`` is normalised for evaluation (casefolded strings, frozensets,
    epoch seconds, window seconds)."""

    path: str
    field: str
    type: FieldType
    op: Op
    value: Any


@dataclass(frozen=True)
class Group:
    """``all`` (AND) or ``any`` (OR) of children."""

    path: str
    kind: str
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """Negation of one child."""

    path: str
    child: Node


Node = Leaf | Group | Not


class _Validator:
    def __init__(self, field_types: Mapping[str, str] | None):
        self.field_types = field_types
        self.errors: list[dict[str, str]] = []
        self.leaves = 0

    def fail(self, path: str, problem: str) -> None:
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append({"field": path, "problem": problem})

    def node(self, raw: Any, path: str, depth: int) -> Node | None:
        if depth > MAX_DEPTH:
            self.fail(path, f"rules nest deeper than {MAX_DEPTH} levels")
            return None
        if not isinstance(raw, Mapping):
            self.fail(
                path, "a condition must be an object: {all|any: [...]}, {not: {...}} or {field, op, value}"
            )
            return None
        kinds = [k for k in ("all", "any", "not", "field") if k in raw]
        if len(kinds) != 1:
            self.fail(path, "a condition needs exactly one of 'all', 'any', 'not' or 'field'")
            return None
        kind = kinds[0]
        allowed = {"field", "op", "value"} if kind == "field" else {kind}
        extra = sorted(str(k) for k in raw if k not in allowed)
        if extra:
            self.fail(f"{path}.{extra[0]}", f"unknown key {extra[0]!r}")
        if kind == "not":
            child = self.node(raw["not"], f"{path}.not", depth + 1)
            return Not(path, child) if child is not None else None
        if kind in ("all", "any"):
            items = raw[kind]
            if not isinstance(items, list):
                self.fail(f"{path}.{kind}", f"'{kind}' must be a list of conditions")
                return None
            if len(items) > MAX_CHILDREN:
                self.fail(f"{path}.{kind}", f"at most {MAX_CHILDREN} conditions per group")
                return None
            children = [self.node(c, f"{path}.{kind}[{i}]", depth + 1) for i, c in enumerate(items)]
            if any(c is None for c in children):
                return None
            return Group(path, kind, tuple(c for c in children if c is not None))
        return self.leaf(raw, path)

    def field_type(self, field: Any, path: str) -> FieldType | None:
        if not isinstance(field, str) or not field:
            self.fail(f"{path}.field", "'field' must be a non-empty string")
            return None
        if field == LISTS_FIELD:
            return FieldType.LISTS
        if field.startswith(CUSTOM_PREFIX):
            key = field[len(CUSTOM_PREFIX) :]
            if not key:
                self.fail(f"{path}.field", "custom field key missing after 'custom.'")
                return None
            if self.field_types is None:
                return FieldType.ANY
            if key not in self.field_types:
                self.fail(f"{path}.field", f"unknown custom field {key!r}")
                return None
            return CUSTOM_TYPE_MAP.get(str(self.field_types[key]).lower(), FieldType.ANY)
        for prefix, ftype in (
            (ACTIVITY_PREFIX, FieldType.DATETIME),
            (ACTIVITY_COUNT_PREFIX, FieldType.NUMBER),
        ):
            if field.startswith(prefix):
                event_type = field[len(prefix) :]
                if not _EVENT_TYPE.fullmatch(event_type):
                    self.fail(
                        f"{path}.field",
                        f"{event_type!r} is not an event type: one of {', '.join(BUILTIN_EVENT_TYPES)} or "
                        "a custom type (lower-case letters, digits, _ and ., starting with a letter, "
                        "at most 64 characters)",
                    )
                    return None
                return ftype
        if field in LEAD_FIELDS:
            return LEAD_FIELDS[field]
        self.fail(f"{path}.field", f"unknown field {field!r}")
        return None

    def leaf(self, raw: Mapping[str, Any], path: str) -> Leaf | None:
        self.leaves += 1
        if self.leaves == MAX_LEAVES + 1:
            self.fail(path, f"more than {MAX_LEAVES} conditions")
        ftype = self.field_type(raw["field"], path)
        op_raw = raw.get("op")
        try:
            op = Op(str(op_raw)) if isinstance(op_raw, str) else Op("")
        except ValueError:
            self.fail(f"{path}.op", f"unknown operator {op_raw!r}; one of {', '.join(o.value for o in Op)}")
            return None
        if ftype is None:
            return None
        field = raw["field"]
        if op not in OPS_BY_TYPE[ftype]:
            self.fail(f"{path}.op", f"{op.value!r} is not valid for {ftype.value} field {field!r}")
            return None
        if field.startswith(ACTIVITY_COUNT_PREFIX) and op in (Op.IS_EMPTY, Op.IS_NOT_EMPTY):
            never = field.replace(ACTIVITY_COUNT_PREFIX, ACTIVITY_PREFIX, 1)
            self.fail(f"{path}.op", f"a count is never empty (0 when never); use {never!r} {op.value}")
            return None
        try:
            value = _normalise_value(field, ftype, op, raw.get("value"), "value" in raw)
        except ValueError as err:
            self.fail(f"{path}.value", str(err))
            return None
        return Leaf(path, field, ftype, op, value)


def parse_condition(tree: Any, *, field_types: Mapping[str, str] | None = None, path: str = "rules") -> Node:
    """Validate a rule tree into a :data:`Node`.

    Args:
        tree: the JSON rule tree (see the module docstring).
        field_types: custom field key -> type name (``CustomFieldDefinition.type``); None accepts any
            ``custom.<key>`` with any operator.
        path: the name of the tree in error paths (``include``, ``exclude``, ``rules``...).

    Raises:
        ConditionError: the tree is invalid; ``details`` lists every problem (up to 20) by node path.
    """
    validator = _Validator(field_types)
    node = validator.node(tree, path, 1)
    if validator.errors or node is None:
        first = validator.errors[0] if validator.errors else {"field": path, "problem": "invalid"}
        more = len(validator.errors) - 1
        message = f"{first['field']}: {first['problem']}" + (f" (and {more} more)" if more > 0 else "")
        raise ConditionError(message, details=list(validator.errors))
    return node


# ---------------------------------------------------------------------------------------------- values
def _text(value: Any, what: str = "value") -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{what} is longer than {MAX_TEXT} characters")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("value must be a number")
    return float(value)


def _values(value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValueError("value must be a non-empty list")
    if len(value) > MAX_VALUES:
        raise ValueError(f"at most {MAX_VALUES} values")
    return value


def _instant(value: Any) -> float:
    """An ISO-8601 date (midnight UTC) or instant (naive = UTC) as epoch seconds."""
    if not isinstance(value, str):
        raise ValueError("value must be an ISO-8601 date or date-time string")
    parsed = to_epoch(value)
    if parsed is None:
        raise ValueError(f"{value!r} is not an ISO-8601 date or date-time")
    return parsed


def _window(value: Any) -> float:
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in ("days", "hours"):
        raise ValueError('value must be {"days": n} or {"hours": n}')
    unit, amount = next(iter(value.items()))
    n = _number(amount)
    seconds = n * (86400 if unit == "days" else 3600)
    if n <= 0 or seconds > MAX_WINDOW_DAYS * 86400:
        raise ValueError(f"the window must be more than 0 and at most {MAX_WINDOW_DAYS} days")
    return seconds


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(value)
    return _text(value).casefold()


def _keyword(field: str, value: Any) -> str:
    text = _text(value)
    allowed = KEYWORD_VALUES.get(field)
    if allowed is not None and text.casefold() not in {a.casefold() for a in allowed}:
        raise ValueError(f"{text!r} is not a valid {field}; one of {', '.join(sorted(allowed))}")
    return text.casefold()


def _normalise_value(field: str, ftype: FieldType, op: Op, value: Any, present: bool) -> Any:
    if op in (Op.IS_EMPTY, Op.IS_NOT_EMPTY):
        if present and value is not None:
            raise ValueError(f"{op.value} takes no value")
        return None
    if not present or value is None:
        raise ValueError(f"{op.value} needs a value")
    if ftype is FieldType.LISTS:
        ids = [value] if isinstance(value, str) else _values(value)
        return frozenset(_text(v, "a list id") for v in ids)
    if op in (Op.WITHIN_LAST, Op.NOT_WITHIN_LAST):
        return _window(value)
    if op in (Op.BEFORE, Op.AFTER):
        return _instant(value)
    if op in (Op.HAS_ANY, Op.HAS_ALL, Op.HAS_NONE):
        return frozenset(_text(v, "each value").casefold() for v in _values(value))
    if op in (Op.CONTAINS, Op.NOT_CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH):
        return _text(value).casefold()
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        return _number(value)
    if op is Op.BETWEEN:
        return _range(ftype, value)
    return _equality_value(field, ftype, op, value)  # eq, neq, in, not_in


def _range(ftype: FieldType, value: Any) -> tuple[Any, Any]:
    """``between``'s ``[low, high]``: instants (epoch seconds) for a datetime field - or text bounds on a
    field of unknown type - else numbers; ``low <= high``."""
    pair = _values(value)
    if len(pair) != 2:
        raise ValueError("between takes [low, high]")
    if ftype is FieldType.DATETIME or (ftype is FieldType.ANY and isinstance(pair[0], str)):
        low, high = _instant(pair[0]), _instant(pair[1])
    else:
        low, high = _number(pair[0]), _number(pair[1])
    if low > high:
        raise ValueError("between needs low <= high")
    return (low, high)


def _equality_value(field: str, ftype: FieldType, op: Op, value: Any) -> Any:
    """The value ``eq``/``neq`` compare with, or the set ``in``/``not_in`` test, normalised by the field's
    type (numbers as floats, booleans as given, keywords and text case-folded)."""
    items = _values(value) if op in (Op.IN, Op.NOT_IN) else [value]
    if ftype is FieldType.NUMBER:
        normalised: list[Any] = [_number(v) for v in items]
    elif ftype is FieldType.BOOLEAN:
        if not all(isinstance(v, bool) for v in items):
            raise ValueError("value must be true or false")
        normalised = list(items)
    elif ftype is FieldType.KEYWORD:
        normalised = [_keyword(field, v) for v in items]
    elif ftype is FieldType.TEXT:
        normalised = [_text(v).casefold() for v in items]
    else:
        normalised = [_scalar(v) for v in items]
    return frozenset(normalised) if op in (Op.IN, Op.NOT_IN) else normalised[0]


def _is_empty(value: Any) -> bool:
    return (
        value is None
        or value == ""
        or (isinstance(value, list | set | frozenset | dict | tuple) and not value)
    )


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_set(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset({value.casefold()}) if value else frozenset()
    if isinstance(value, list | set | frozenset | tuple):
        return frozenset(str(v).casefold() for v in value)
    return frozenset()


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    return None


def _as_scalar(value: Any, like: Any) -> Any:
    """The record value in the shape of a condition value (for untyped custom fields)."""
    if isinstance(like, bool):
        return _as_bool(value)
    if isinstance(like, float):
        return _as_number(value)
    if _is_empty(value):
        return None
    return str(value).casefold()


# ---------------------------------------------------------------------------------------------- compile
def _map_entry(attribute: str, key: str, default: Any = None) -> Callable[[Record], Any]:
    """A getter of ``record[attribute][key]``; the map may be stored as a JSON string (a projected
    Query returns JSONAttribute values undecoded)."""

    def get(record: Record) -> Any:
        values = record.get(attribute)
        if isinstance(values, str):
            try:
                values = json.loads(values)
            except ValueError:
                return default
        if not isinstance(values, Mapping):
            return default
        value = values.get(key)
        return default if value is None else value

    return get


def _getter(field: str) -> Callable[[Record], Any]:
    attribute = storage_attribute(field)
    if field.startswith(CUSTOM_PREFIX):
        return _map_entry(attribute, field[len(CUSTOM_PREFIX) :])
    if field.startswith(ACTIVITY_PREFIX):
        return _map_entry(attribute, field[len(ACTIVITY_PREFIX) :])
    if field.startswith(ACTIVITY_COUNT_PREFIX):
        return _map_entry(attribute, field[len(ACTIVITY_COUNT_PREFIX) :], 0)  # never done: 0 times
    return lambda record: record.get(attribute)


def _compile_positive(leaf: Leaf, op: Op, now: float) -> Predicate:
    """The predicate of a leaf whose operator is positive (the negative ones are compiled as ``not`` of
    these): one small closure per operator family, reading the field with :func:`_getter`."""
    get = _getter(leaf.field)
    v = leaf.value
    t = leaf.type
    if op is Op.IS_EMPTY:
        return lambda r: _is_empty(get(r))
    if t is FieldType.LISTS:
        return lambda r: not v.isdisjoint(get(r) or ())
    if op is Op.HAS_ANY:
        return lambda r: not v.isdisjoint(_as_set(get(r)))
    if op is Op.HAS_ALL:
        return lambda r: v <= _as_set(get(r))
    if op in (Op.WITHIN_LAST, Op.BEFORE, Op.AFTER):
        return _time_predicate(get, op, v, now)
    if op is Op.BETWEEN:
        return _between_predicate(get, t, v)
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        return _comparison_predicate(get, op, v)
    if op in (Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH):
        return _text_predicate(get, op, v)
    return _equality_predicate(get, t, v if op is Op.IN else frozenset({v}))  # eq / in


def _time_predicate(get: Callable[[Record], Any], op: Op, v: Any, now: float) -> Predicate:
    """``within_last`` (``v`` seconds before ``now``), ``before`` / ``after`` (``v`` an instant): a value
    that is not a time never matches."""
    if op is Op.WITHIN_LAST:
        cutoff = now - v

        def within(r: Record) -> bool:
            ts = to_epoch(get(r))
            return ts is not None and ts >= cutoff

        return within
    before = op is Op.BEFORE

    def compare_time(r: Record) -> bool:
        ts = to_epoch(get(r))
        return ts is not None and (ts < v if before else ts > v)

    return compare_time


def _between_predicate(get: Callable[[Record], Any], t: FieldType, v: tuple[Any, Any]) -> Predicate:
    """``low <= value <= high`` on instants (datetime fields) or numbers; a field of unknown type is read
    as a number, else as an instant."""
    low, high = v
    read = to_epoch if t is FieldType.DATETIME else _as_number

    def between(r: Record) -> bool:
        raw = get(r)
        x = read(raw)
        if x is None and t is FieldType.ANY:
            x = to_epoch(raw)
        return x is not None and low <= x <= high

    return between


def _comparison_predicate(get: Callable[[Record], Any], op: Op, v: float) -> Predicate:
    """``gt``/``gte``/``lt``/``lte`` on the value read as a number (not a number: no match)."""
    cmp: Callable[[float], bool] = {
        Op.GT: lambda x: x > v,
        Op.GTE: lambda x: x >= v,
        Op.LT: lambda x: x < v,
        Op.LTE: lambda x: x <= v,
    }[op]

    def compare(r: Record) -> bool:
        x = _as_number(get(r))
        return x is not None and cmp(x)

    return compare


def _text_predicate(get: Callable[[Record], Any], op: Op, v: str) -> Predicate:
    """``contains`` / ``starts_with`` / ``ends_with``, case-insensitive (``v`` case-folded already); an
    empty value never matches."""

    def text_op(r: Record) -> bool:
        x = get(r)
        if _is_empty(x):
            return False
        s = str(x).casefold()
        if op is Op.CONTAINS:
            return v in s
        return s.startswith(v) if op is Op.STARTS_WITH else s.endswith(v)

    return text_op


def _equality_predicate(get: Callable[[Record], Any], t: FieldType, options: frozenset[Any]) -> Predicate:
    """``eq`` / ``in``: the value, read by the field's type, is one of ``options``."""
    if t is FieldType.NUMBER:
        return lambda r: _as_number(get(r)) in options
    if t is FieldType.BOOLEAN:
        return lambda r: _as_bool(get(r)) in options
    if t in (FieldType.TEXT, FieldType.KEYWORD):

        def text_eq(r: Record) -> bool:
            x = get(r)
            return not _is_empty(x) and str(x).casefold() in options

        return text_eq

    def any_eq(r: Record) -> bool:
        x = get(r)
        return not _is_empty(x) and any(_as_scalar(x, o) == o for o in options)

    return any_eq


def _compile(node: Node, now: float) -> Predicate:
    if isinstance(node, Not):
        inner = _compile(node.child, now)
        return lambda r: not inner(r)
    if isinstance(node, Group):
        preds = [_compile(c, now) for c in node.children]
        if node.kind == "all":
            if len(preds) == 1:
                return preds[0]
            if len(preds) == 2:
                a, b = preds
                return lambda r: a(r) and b(r)
            return lambda r: all(p(r) for p in preds)
        if len(preds) == 1:
            return preds[0]
        if len(preds) == 2:
            a, b = preds
            return lambda r: a(r) or b(r)
        return lambda r: any(p(r) for p in preds)
    positive = NEGATION.get(node.op)
    if positive is not None:
        inner = _compile_positive(node, positive, now)
        return lambda r: not inner(r)
    return _compile_positive(node, node.op, now)


def _walk(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, Not):
        return _walk(node.child)
    return [leaf for child in node.children for leaf in _walk(child)]


class CompiledCondition:
    """A compiled rule tree: call it with a lead record to get True/False.

    Attributes:
        node: the validated tree.
        fields: the condition fields the tree reads (``status``, ``custom.plan``, ``lists``...).
        fields_used: the lead-record attributes those fields are read from (project only these).
        time_dependent: the result can change with time alone (``within_last``/``not_within_last``), so
            a nightly job must re-evaluate it.
        now: the reference instant of relative-date operators.
    """

    __slots__ = ("_predicate", "fields", "fields_used", "node", "now", "time_dependent")

    def __init__(self, node: Node, now: datetime):
        leaves = _walk(node)
        self.node = node
        self.now = now
        self.fields = frozenset(leaf.field for leaf in leaves)
        self.fields_used = frozenset(storage_attribute(f) for f in self.fields)
        self.time_dependent = any(leaf.op in (Op.WITHIN_LAST, Op.NOT_WITHIN_LAST) for leaf in leaves)
        self._predicate = _compile(node, now.timestamp())

    def __call__(self, record: Record) -> bool:
        return self._predicate(record)

    def at(self, now: datetime) -> CompiledCondition:
        """The same condition with relative dates measured from ``now`` (self when not time-dependent)."""
        return CompiledCondition(self.node, now) if self.time_dependent else self


def compile_condition(
    tree: Any,
    *,
    field_types: Mapping[str, str] | None = None,
    now: datetime | None = None,
    path: str = "rules",
) -> CompiledCondition:
    """Validate and compile a rule tree into a predicate over lead records.

    Args:
        tree: the JSON rule tree.
        field_types: custom field key -> type name; None accepts any custom field, untyped.
        now: reference instant for ``within_last``/``not_within_last`` (default: the current time).
        path: name of the tree in error paths.

    Raises:
        ConditionError (422): see :func:`parse_condition`.
    """
    return CompiledCondition(parse_condition(tree, field_types=field_types, path=path), now or utc_now())


def compile_rules(
    include: Any,
    exclude: Any = None,
    *,
    field_types: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> CompiledCondition:
    """A segment's membership rule: ``include`` and not ``exclude`` (exclusion wins).

    Errors name ``include...`` or ``exclude...`` paths; both trees are validated and every problem of
    both is reported together.

    Raises:
        ConditionError (422).
    """
    errors: list[dict[str, Any]] = []
    nodes: list[Node] = []
    for tree, path in ((include, "include"), (exclude, "exclude")):
        if tree is None and path == "exclude":
            continue
        try:
            nodes.append(parse_condition(tree, field_types=field_types, path=path))
        except ConditionError as err:
            errors.extend(err.details)
    if errors:
        first = errors[0]
        more = len(errors) - 1
        raise ConditionError(
            f"{first['field']}: {first['problem']}" + (f" (and {more} more)" if more > 0 else ""),
            details=errors,
        )
    node: Node = (
        nodes[0] if len(nodes) == 1 else Group("segment", "all", (nodes[0], Not("exclude", nodes[1])))
    )
    return CompiledCondition(node, now or utc_now())
