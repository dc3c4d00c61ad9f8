"""The one JSON loader for bodies that come from outside: bounded in size, nesting depth and number length.

``json.loads`` has three ways to fail on hostile input that are not a ``JSONDecodeError``, so callers that
map ``ValueError`` to a 400 still answered 500:

- **nesting**: the C decoder recurses once per ``[``/``{``, so ``[[[[...]]]]`` about 1,000 deep raises
  ``RecursionError`` (and a shallower document can still exhaust the stack of whatever walks it next);
- **long integers**: since CPython 3.11 (and the 3.10.7 / 3.9.14 security releases) converting a decimal
  string of more than 4,300 digits to ``int`` raises ``ValueError`` ("Exceeds the limit ... for integer
  string conversion", CVE-2020-10735, https://docs.python.org/3/library/stdtypes.html#int-max-str-digits)
  because the conversion is quadratic; the 4,300 limit itself still costs milliseconds per number;
- **out-of-range floats and non-JSON constants**: ``1e999`` becomes ``inf`` and ``NaN``/``Infinity`` are
  accepted, none of which DynamoDB, pydantic's JSON output or any JSON client can take back (RFC 8259
  section 6: "Numeric values that cannot be represented ... such as Infinity and NaN are not permitted").

:func:`load_json` checks all three before (depth, size) or while (numbers) decoding:

- the size first (:data:`MAX_BODY_BYTES` by default): above it, 413 :class:`PayloadTooLargeError`;
- the depth by a linear scan of the text (:func:`nests_deeper_than`): string literals are removed with
  one regular expression that cannot backtrack (possessive quantifiers), the remaining brackets are
  matched; above :data:`MAX_DEPTH`, 400 :class:`MalformedJsonError`;
- each number through ``parse_int`` / ``parse_float`` hooks: more than :data:`MAX_NUMBER_CHARS`
  characters, or a float that is not finite, is a 400; ``NaN`` / ``Infinity`` / ``-Infinity`` too;
- what is not JSON at all (``JSONDecodeError``) or, for bytes, not UTF-8 (RFC 8259 section 8.1) is a 400.

Every error is a :class:`~leadtide.models.errors.LeadtideError` (the normal error shape, mapped by the
Api and Webhooks functions) and also a ``ValueError``, so code that treats a ``ValueError`` from decoding
as "not valid" (cursors, import cells) keeps working.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from leadtide.models.errors import MalformedJsonError, PayloadTooLargeError

MAX_DEPTH = 64
"""Deepest nesting of arrays/objects accepted (``[]`` is depth 1). Leadtide's deepest legitimate bodies
(condition trees of at most 6 levels, Meta webhooks) stay under 20."""

MAX_NUMBER_CHARS = 100
"""Longest number literal accepted, in characters (sign, digits, point, exponent). Far above any id,
amount or timestamp (DynamoDB keeps 38 significant digits) and far below the 4,300-digit limit of
``int()``."""

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest JSON body of the API and of web forms, in bytes (UTF-8): about twice the largest body a route
accepts (500 tracked events with 4 KB of properties each) and below Lambda's 6 MB request payload."""

MAX_DELIVERY_BYTES = 10 * 1024 * 1024
"""Largest signed provider delivery, in bytes: API Gateway's HTTP API payload limit (10 MB), so
nothing the gateway lets through is refused here (a verified delivery is never lost)."""

# A JSON string literal: the opening quote, then runs of ordinary characters or escape pairs, then the
# closing quote when there is one. Possessive (``*+``, ``++``) and optional at the end, so a match can never
# fail once started and the scan is linear even on an unterminated string full of ``\"``.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SQUARE = str.maketrans("{}", "[]")


def _reject_constant(name: str) -> Any:
    raise MalformedJsonError(
        f"request body is not valid JSON: {name} is not a JSON number (RFC 8259 section 6)",
        details=[{"field": "body", "problem": f"{name} is not permitted in JSON"}],
    )


def _too_long(literal: str, max_chars: int) -> MalformedJsonError:
    shown = literal[:12] + "..." if len(literal) > 12 else literal
    problem = f"a number of {len(literal)} characters ({shown}) is longer than {max_chars}"
    return MalformedJsonError(
        f"request body holds a number too large: {problem}",
        details=[{"field": "body", "problem": problem}],
    )


def nests_deeper_than(text: str, max_depth: int) -> bool:
    """Whether a JSON text nests arrays/objects more than ``max_depth`` levels deep (``[]`` is one level).

    Exact for valid JSON; for malformed text it answers True whenever a decoder could recurse more than
    ``max_depth`` levels before failing (and possibly for some text a decoder would refuse anyway).
    Brackets inside string literals do not count.

    Linear time, all in C string operations: string literals are removed with one regular expression
    that cannot backtrack, everything but brackets is dropped, ``{}`` become ``[]``; then each pass of
    ``str.replace("[]", "")`` removes the innermost pairs, so a valid document of depth ``d`` is empty
    after exactly ``d`` passes (at most ``max_depth`` are made). Brackets still open after the passes
    (an unterminated document) enclose everything after them and are counted on top.
    """
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text)).translate(_SQUARE)
    if "[" * (max_depth + 1) in skeleton:
        return True
    passes = 0
    while passes < max_depth:
        reduced = skeleton.replace("[]", "")
        if len(reduced) == len(skeleton):
            break
        skeleton, passes = reduced, passes + 1
    else:
        if "[]" in skeleton:  # a pair still enclosing another after max_depth passes
            return True
    return passes + skeleton.count("[") > max_depth


def _as_text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")  # RFC 8259 8.1: UTF-8; a leading BOM may be ignored
    except UnicodeDecodeError as err:
        raise MalformedJsonError(
            "request body is not UTF-8 text", details=[{"field": "body", "problem": str(err)}]
        ) from None


def _size(data: str | bytes) -> int:
    if isinstance(data, bytes):
        return len(data)
    return len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))


def check_size(size: int, max_bytes: int) -> None:
    """Refuse a body of ``size`` bytes above ``max_bytes``.

    Raises:
        PayloadTooLargeError (413, code ``payload_too_large``).
    """
    if size > max_bytes:
        problem = f"the body is {size} bytes; at most {max_bytes} are accepted"
        raise PayloadTooLargeError(
            f"request body is too large: {problem}", details=[{"field": "body", "problem": problem}]
        )


def load_json(
    data: str | bytes,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
    max_number_chars: int = MAX_NUMBER_CHARS,
) -> Any:
    """Decode one JSON document from outside Leadtide, within bounds (see the module docstring).

    ``data`` is text, or bytes that must be UTF-8. The result is what ``json.loads`` gives for the same
    document: dicts, lists, str, int, float, bool, None (lone surrogates are left for
    :mod:`leadtide.models.text` to refuse or replace).

    Raises:
        PayloadTooLargeError (413, ``payload_too_large``): more than ``max_bytes`` bytes.
        MalformedJsonError (400, ``malformed_json``): not UTF-8, not JSON, nested deeper than
            ``max_depth``, a number longer than ``max_number_chars`` characters or out of the float range,
            or ``NaN`` / ``Infinity``. ``details`` is ``[{"field": "body", "problem": ...}]``.
    """
    check_size(_size(data), max_bytes)
    text = _as_text(data)
    # cheap first: a document with few brackets cannot be too deep
    if text.count("[") + text.count("{") > max_depth and nests_deeper_than(text, max_depth):
        problem = f"arrays and objects nest more than {max_depth} levels deep"
        raise MalformedJsonError(
            f"request body is nested too deeply: {problem}", details=[{"field": "body", "problem": problem}]
        )

    def parse_int(literal: str) -> int:
        if len(literal) > max_number_chars:
            raise _too_long(literal, max_number_chars)
        return int(literal)

    def parse_float(literal: str) -> float:
        if len(literal) > max_number_chars:
            raise _too_long(literal, max_number_chars)
        value = float(literal)
        if not math.isfinite(value):
            problem = f"the number {literal} is outside the range of a double"
            raise MalformedJsonError(
                f"request body holds a number too large: {problem}",
                details=[{"field": "body", "problem": problem}],
            )
        return value

    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise MalformedJsonError(
            "request body is not valid JSON", details=[{"field": "body", "problem": str(err)}]
        ) from None
    except RecursionError:  # only if a caller raised max_depth past what the stack holds
        raise MalformedJsonError(
            "request body is nested too deeply",
            details=[{"field": "body", "problem": "arrays and objects nest too deeply"}],
        ) from None
