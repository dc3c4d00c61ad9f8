"""The one JSON text encoding of every JSON attribute the dal stores (``JSONValueAttribute`` in
:mod:`leadtide.dal.items`, the import's raw item encoder, the raw item decoder).

Values reach a JSON attribute as Python objects: pydantic's ``model_dump(mode="python")`` of a nested model
(a grade override's ``at`` is a ``datetime``), ``custom_fields`` values set by code, enums. PynamoDB's own
``JSONAttribute`` calls plain ``json.dumps`` and raises ``TypeError: Object of type datetime is not JSON
serializable`` for any of them (issue 10, defect 1). :func:`dumps` encodes what ``json.dumps`` encodes
exactly as it does (the text of values stored before is unchanged) and everything else the way pydantic's
JSON mode does (``pydantic_core.to_jsonable_python``): a ``datetime`` as ISO-8601 in UTC
(``2025-02-03T04:05:06.789123Z``, a naive one taken to be UTC, as the API does), a ``date`` as
``2025-02-03``, an enum as its value, a set as a list, a ``Decimal`` as text, a pydantic model as its JSON
dump. So a value written through the lead API's pydantic JSON dump (``GradeOverride.model_dump(mode="json")``)
and the same value written from a lead read back are the same text, and pydantic turns the text back into
the typed value when the lead is validated. :func:`loads` is PynamoDB's decoding (``strict=False``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from pynamodb.attributes import JSONAttribute

from leadtide.models.common import as_utc


def _default(value: Any) -> Any:
    """``json.dumps``'s ``default``: pydantic's JSON form of a value JSON has no type for.

    Raises:
        TypeError: a value neither JSON nor pydantic can encode (an arbitrary object).
    """
    if isinstance(value, datetime):
        value = as_utc(value)
    try:
        return to_jsonable_python(value)
    except ValueError as err:  # PydanticSerializationError
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable") from err


def dumps(value: Any) -> str:
    """The stored JSON text of ``value`` (see the module docstring). Raises TypeError as :func:`_default`."""
    return json.dumps(value, default=_default)


def loads(text: str) -> Any:
    """The value of stored JSON text, as PynamoDB's ``JSONAttribute`` decodes it (control characters
    allowed inside strings)."""
    return json.loads(text, strict=False)


class JSONValueAttribute(JSONAttribute):
    """A ``JSONAttribute`` whose values may hold datetimes, dates, enums and nested pydantic models
    (encoded by :func:`dumps`, decoded by :func:`loads`); stored as a DynamoDB string (``S``) like its
    base class, so items written before read the same."""

    def serialize(self, value: Any) -> str | None:
        return None if value is None else dumps(value)

    def deserialize(self, value: str) -> Any:
        return loads(value)
