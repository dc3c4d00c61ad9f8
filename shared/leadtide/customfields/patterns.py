"""User-supplied regular expressions, matched in linear time by RE2 (google-re2), never by Python's ``re``.

A custom field's ``pattern`` is written by a tenant's admin and matched against every value typed,
imported or sent for that field. Python's ``re`` backtracks: ``^(a|a)*$`` or ``^((a+))+$`` take
exponential time on ``"aaaa...b"`` (28 characters ran 17.7 s), and no screening of the pattern's text
catches every such shape. RE2 (https://github.com/google/re2) compiles a pattern into an automaton and
matches in time linear in the value's length, whatever the pattern, so the engine itself is the bound.

Syntax (https://github.com/google/re2/wiki/Syntax): what Python's ``re`` and RE2 share - literals,
``.``, classes ``[a-z]``, ``\\d \\w \\s \\b`` (ASCII only: ``\\d`` is 0-9), ``* + ? {m,n}`` (counts up to
1,000), lazy quantifiers, ``|``, groups ``(...)``, ``(?:...)``, ``(?P<name>...)``, anchors ``^ $ \\A \\z``,
flags ``(?i) (?s) (?m)``, Unicode classes ``\\p{L}``. Not supported (refused when the field is defined):
backreferences (``\\1``), lookahead and lookbehind (``(?=...)``, ``(?!...)``, ``(?<=...)``), ``\\Z``,
possessive and atomic groups, and patterns whose automaton is larger than RE2's memory budget.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

import re2  # google-re2: the bindings of RE2, a linear-time matcher

ENGINE = "re2"
"""The engine user patterns run on (tests assert it)."""


class CompiledPattern(Protocol):
    """What a compiled user pattern offers (RE2's ``_Regexp``)."""

    def fullmatch(self, text: str) -> Any: ...

    def search(self, text: str) -> Any: ...


class UnsupportedPatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why (``invalid escape sequence: \\1``)."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    return options


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> CompiledPattern:
    """The pattern compiled by RE2 (cached per process).

    Raises:
        UnsupportedPatternError: not a regular expression RE2 accepts (see the module docstring).
    """
    try:
        return re2.compile(pattern, _options())  # type: ignore[no-any-return]
    except re2.error as err:
        reason = err.args[0] if err.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UnsupportedPatternError(str(reason)) from None
    except UnicodeEncodeError:
        raise UnsupportedPatternError("the pattern is not valid Unicode text") from None


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used as a user pattern (a sentence for a 422), or None when it can."""
    try:
        compile_pattern(pattern)
    except UnsupportedPatternError as err:
        return (
            f"pattern is not a valid regular expression for RE2, the linear-time matcher ({err}); "
            "backreferences, lookarounds and \\Z are not supported (RE2 syntax)"
        )
    return None
