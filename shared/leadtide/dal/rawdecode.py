"""Fast decoding of raw DynamoDB items (the low-level ``{"attr": {"S": ...}}`` JSON) into plain dicts.

PynamoDB's ``Model.from_raw_data`` builds a model instance, runs every attribute's descriptor and walks
all of the model's attributes for each item: about 150-350 µs per lead profile, more than scoring the lead
itself. The batch re-scoring path only needs the values, so :class:`ItemDecoder` compiles, once per model
class, one decoding function per stored attribute name and produces exactly
``Model.from_raw_data(raw).attribute_values`` (Python attribute names, defaults applied, NULL and absent
attributes left out) with the same conversions PynamoDB applies:

=========================  =====  ==========================================================
attribute                  type   value
=========================  =====  ==========================================================
UnicodeAttribute           S      the string
NumberAttribute            N      ``json.loads`` (int, else float); plain digit strings via ``int``
JSONAttribute              S      ``json.loads(..., strict=False)`` (also ``JSONValueAttribute``,
                                  :func:`leadtide.dal.jsoncodec.loads`)
UTCDateTimeAttribute       S      PynamoDB's own ``_fast_parse_utc_date_string``
BooleanAttribute           BOOL   ``bool``
UnicodeSetAttribute        SS     ``set``
ListAttribute(of=Unicode)  L      ``[element["S"] or None for a NULL element]``
=========================  =====  ==========================================================

Any other attribute class, or an item whose stored types do not match (a number under a string
attribute...), is decoded by PynamoDB itself, so the result - or the error - is always PynamoDB's.
:func:`batch_get_raw` is PynamoDB's BatchGetItem loop (pages of 100 keys, unprocessed keys retried)
returning the raw items instead of instances.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from leadtide.dal.jsoncodec import JSONValueAttribute
from leadtide.dal.jsoncodec import loads as _json_loads

BATCH_GET_KEYS = 100
"""Keys per BatchGetItem request (the DynamoDB limit)."""

_loads = json.loads
_parse_time = UTCDateTimeAttribute._fast_parse_utc_date_string


class _Fallback(Exception):
    """The fast path cannot decode this item exactly; PynamoDB decodes it."""


def _number(value: str) -> Any:
    if value.isascii() and value.isdigit() and (value[0] != "0" or len(value) == 1):
        return int(value)  # what json.loads gives for a plain non-negative integer, ~10x faster
    return _loads(value)


def _unicode_list(values: list[dict[str, Any]]) -> list[str | None]:
    out: list[str | None] = []
    for element in values:
        if "NULL" in element:
            out.append(None)
        elif "S" in element:
            out.append(element["S"])
        else:
            raise _Fallback
    return out


def _plan(attr: Any) -> tuple[str, Callable[[Any], Any]] | None:
    """``(dynamo type, decode)`` for an attribute class the fast path handles exactly, else None."""
    kind = type(attr)
    if kind is UnicodeAttribute:
        return "S", str
    if kind is NumberAttribute:
        return "N", _number
    if kind is JSONAttribute or kind is JSONValueAttribute:
        return "S", _json_loads
    if kind is UTCDateTimeAttribute:
        return "S", _parse_time
    if kind is BooleanAttribute:
        return "BOOL", bool
    if kind is UnicodeSetAttribute:
        return "SS", set
    if kind is ListAttribute and attr.element_type is UnicodeAttribute:
        return "L", _unicode_list
    return None


class ItemDecoder:
    """Decodes raw items of one PynamoDB model class into ``attribute_values`` dicts (see the module
    docstring). Build once per class and reuse; thread-safe (no state after construction)."""

    def __init__(self, model: type[Model]):
        self.model = model
        self._plans: dict[str, tuple[str, str, Callable[[Any], Any]]] = {}
        self._slow = False
        self._defaults: list[tuple[str, Any]] = []
        for name, attr in model.get_attributes().items():
            plan = _plan(attr)
            if plan is None:
                self._slow = True  # an attribute kind this decoder does not reproduce: always PynamoDB
                continue
            self._plans[attr.attr_name] = (name, *plan)
            if attr.default is not None:
                if callable(attr.default):
                    self._slow = True  # a computed default (e.g. a timestamp): PynamoDB decides
                else:
                    self._defaults.append((name, attr.default))

    def decode(self, raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """``model.from_raw_data(raw).attribute_values``, computed without building the instance.

        Raises:
            what ``from_raw_data`` raises for an item it cannot decode (the item is handed to it).
        """
        if self._slow:
            return dict(self.model.from_raw_data(raw).attribute_values)
        values: dict[str, Any] = dict(self._defaults)
        plans = self._plans
        try:
            for attr_name, stored in raw.items():
                plan = plans.get(attr_name)
                if plan is None or not stored or "NULL" in stored:
                    continue
                name, dynamo_type, decode = plan
                values[name] = decode(stored[dynamo_type])
        except (_Fallback, KeyError, TypeError, ValueError):
            return dict(self.model.from_raw_data(raw).attribute_values)
        return values


def batch_get_raw(
    model: type[Model], keys: Sequence[tuple[str, str]], *, consistent_read: bool | None = None
) -> Iterator[dict[str, dict[str, Any]]]:
    """Raw items for ``(hash key, range key)`` pairs of a model with string keys: BatchGetItem in pages
    of :data:`BATCH_GET_KEYS`, unprocessed keys asked again (as ``Model.batch_get`` does). Order is
    DynamoDB's; absent items are left out.

    Raises:
        what PynamoDB's connection raises (``GetError`` and friends) on DynamoDB errors.
    """
    hash_name = model._hash_key_attribute().attr_name
    range_name = model._range_key_attribute().attr_name
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), BATCH_GET_KEYS):
        pending: list[dict[str, Any]] | None = [
            {hash_name: {"S": h}, range_name: {"S": r}} for h, r in unique[start : start + BATCH_GET_KEYS]
        ]
        while pending:
            page, pending = model._batch_get_page(pending, consistent_read, None)
            yield from page or ()
