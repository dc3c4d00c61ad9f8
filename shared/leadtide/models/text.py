"""Valid text at the boundary: lone UTF-16 surrogates are refused (user input) or replaced (provider input).

JSON can escape any UTF-16 code unit, so ``"\\ud800"`` (half of a surrogate pair, with no other half) is
syntactically valid JSON (RFC 8259 section 8.2 leaves the behaviour of such strings "unpredictable"), and
``json.loads`` turns it into a Python ``str`` holding the code point U+D800. That string is not Unicode
text: it cannot be encoded as UTF-8, so SQS, DynamoDB, JSON serialisation and every export fail on it, far
from where it came in. A paired escape (``"\\ud83d\\ude00"``) is decoded into one code point (U+1F600)
and is fine; so every surrogate code point left in a decoded ``str`` is a lone one.

The rule, applied once where text enters Leadtide:

- **API and form input** (``POST``/``PUT``/``PATCH`` bodies of the Api function, ``POST /track/events``,
  web-form submissions): a lone surrogate anywhere - a value, a key, inside a list or a custom field - is
  refused with a 422 :class:`~leadtide.models.errors.InvalidTextError` naming every such field
  (``custom_fields.note``, ``tags.0``). The client sent something that is not text; telling it beats
  storing a guess.
- **Signed provider deliveries** (WhatsApp Cloud API, Instagram): the message is real and must not be lost,
  so each lone surrogate is replaced with U+FFFD REPLACEMENT CHARACTER (what a UTF-8 decoder does with an
  invalid sequence, Unicode 15 section 3.9) and the delivery is captured. Form-encoded deliveries (Twilio,
  urlencoded forms) cannot carry one: percent-decoding already yields U+FFFD for invalid UTF-8.
- **Stored text from before this rule** is written out with U+FFFD by :func:`encode_utf8` (exports).
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from leadtide.models.bounded_json import MAX_BODY_BYTES, load_json
from leadtide.models.errors import InvalidTextError

REPLACEMENT = "\ufffd"
"""U+FFFD REPLACEMENT CHARACTER, what a lone surrogate becomes where input must not be refused."""

MAX_REPORTED = 20
"""At most this many fields are named in one :class:`InvalidTextError` (the count says how many more)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_ERROR_HANDLER = "leadtide.replace_surrogates"


_REPLACEMENT_UTF8 = REPLACEMENT.encode("utf-8")


def _replace_unencodable(err: UnicodeError) -> tuple[bytes, int]:
    # bytes, not str: CPython's UTF-8 encoder only takes ASCII text back from an error handler
    if not isinstance(err, UnicodeEncodeError):
        raise err
    return _REPLACEMENT_UTF8 * (err.end - err.start), err.end


codecs.register_error(_ERROR_HANDLER, _replace_unencodable)


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a surrogate code point (U+D800-U+DFFF), i.e. is not encodable as UTF-8."""
    return _SURROGATE.search(text) is not None


def replace_surrogates(text: str) -> str:
    """``text`` with every surrogate code point replaced by U+FFFD (unchanged when it has none)."""
    return _SURROGATE.sub(REPLACEMENT, text)


def encode_utf8(text: str) -> bytes:
    """``text`` as UTF-8, any lone surrogate written as U+FFFD instead of raising UnicodeEncodeError.

    Costs nothing extra for valid text (the error handler runs only where encoding fails).
    """
    return text.encode("utf-8", _ERROR_HANDLER)


def _shown(part: str | int) -> str:
    """A path part safe to put into an error document (a surrogate in a key is shown as ``\\ud800``)."""
    return str(part) if isinstance(part, int) else part.encode("utf-8", "backslashreplace").decode("utf-8")


def lone_surrogate_fields(value: Any) -> list[str]:
    """Dotted paths (``custom_fields.note``, ``tags.0``; ``""`` for a top-level string) of the strings in a
    decoded JSON document that hold a lone surrogate, keys included, in document order.

    Iterative, so a deeply nested document cannot exhaust the stack.
    """
    found: list[str] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if has_lone_surrogate(node):
                found.append(".".join(_shown(p) for p in path))
        elif isinstance(node, dict):
            children = []
            for key, child in node.items():
                if isinstance(key, str) and has_lone_surrogate(key):
                    found.append(".".join(_shown(p) for p in (*path, key)))
                children.append(((*path, key), child))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(node))))
    return found


def reject_invalid_text(value: Any, *, where: str = "body") -> None:
    """Refuse a decoded JSON document holding a lone surrogate anywhere (the rule for API and form input).

    ``where`` names the whole document when it is itself a string.

    Raises:
        InvalidTextError (HTTP 422, code ``invalid_text``): ``details`` has one
            ``{"field": <dotted path>, "problem": ...}`` per field (at most :data:`MAX_REPORTED`).
    """
    fields = lone_surrogate_fields(value)
    if not fields:
        return
    named = [f or where for f in fields[:MAX_REPORTED]]
    more = f" (+{len(fields) - MAX_REPORTED} more)" if len(fields) > MAX_REPORTED else ""
    problem = "is not valid Unicode text: it holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape)"
    raise InvalidTextError(
        f"invalid text in {', '.join(named)}{more}: send each character as UTF-8 or as a complete "
        "\\u surrogate pair",
        details=[{"field": name, "problem": problem} for name in named],
    )


def replace_invalid_text(value: Any) -> Any:
    """A copy of a decoded JSON document with every lone surrogate (in values and keys) replaced by
    U+FFFD; the document itself when it holds none (the rule for signed provider deliveries)."""
    if not lone_surrogate_fields(value):
        return value
    # Round-tripping through JSON text (in C) keeps every type; json.dumps(ensure_ascii=False) writes
    # each lone surrogate as itself, which is then replaced in the text.
    text = json.dumps(value, ensure_ascii=False)
    return json.loads(replace_surrogates(text))


def might_hold_surrogates(json_text: str) -> bool:
    """False when a JSON text can decode to no lone surrogate: it has neither a ``\\u`` escape nor a
    surrogate code point itself (a cheap test that spares walking ordinary documents)."""
    return "\\u" in json_text or has_lone_surrogate(json_text)


def loads_valid_text(json_text: str | bytes, *, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """Decode a JSON body within bounds and refuse a lone surrogate anywhere in it: the deserializer of
    every API body (the Api resolver's ``json_body_deserializer``) and of JSON web forms.

    Bounds (size, nesting depth, number length) are those of
    :func:`leadtide.models.bounded_json.load_json`.

    Raises:
        PayloadTooLargeError (413): more than ``max_bytes`` bytes.
        MalformedJsonError (400, a ``ValueError``): not UTF-8, not JSON, too deep, a number too large.
        InvalidTextError (422): a string holds a lone surrogate; the details name each field.
    """
    document = load_json(json_text, max_bytes=max_bytes)
    text = json_text if isinstance(json_text, str) else None
    if text is None or might_hold_surrogates(text):
        reject_invalid_text(document)
    return document
