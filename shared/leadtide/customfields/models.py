"""Custom field definitions (per tenant) and the conversion of raw values into typed, checked values.

A definition names a field (``key``, a slug), its ``type`` and its rules; :meth:`CustomFieldDefinition.coerce`
turns what people type or what a CSV/Excel cell holds into the stored value:

==============  ==========================================================  ==============================
type            accepted input                                              stored as
==============  ==========================================================  ==============================
text            any string (stripped); ``max_length`` (default 1,000),      ``str``
                ``pattern`` (full match, RE2 syntax, linear time)
number          int/float, ``"1,234.5"``, ``"1.234,5"``, ``"$1,200"``,      ``int`` when integral else
                ``"12%"`` is refused; ``min``/``max`` inclusive              ``float``
date            date/datetime, ISO ``2024-03-01`` (time part dropped),      ISO date ``"2024-03-01"``
                ``03/01/2024`` (US month first; day first when the first
                number is > 12), ``01.03.2024`` (day first), ``2024/03/01``,
                ``1 Mar 2024``, ``Mar 1, 2024``, ``15 Apr, 2021 00:03:00``
                (Zoho), ``1/22/2024, 8:36 PM`` (Salesforce reports),
                ``Fri, 16 Apr 2021 00:02:00 GMT`` (RFC 2822); a time part
                is dropped; ``min``/``max`` inclusive
dropdown        one of ``options``, case-insensitively                      the canonical option
multi_select    list, or a string split on ``;`` or ``,``                   list of canonical options
checkbox        bool, 0/1, yes/no, y/n, true/false, x, on/off, checked      ``bool``
url             ``http(s)://host...``; a bare ``example.com/x`` gets        ``str``
                ``https://``
email           any address email-validator accepts (no DNS)               lower-cased normalised address
phone           any number libphonenumber accepts (strict)                  E.164
==============  ==========================================================  ==============================

Empty values (None, ``""``, whitespace, an empty list) coerce to None; whether that is allowed
(``required``) is for the caller to enforce (see ``CustomFieldService.validate_values``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadtide.customfields.patterns import UnsupportedPatternError, compile_pattern, pattern_problem
from leadtide.models.common import Count, Flag
from leadtide.models.text import has_lone_surrogate

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MAX_PATTERN_LENGTH = 200
MAX_OPTIONS = 200
MAX_OPTION_LENGTH = 100
DEFAULT_TEXT_MAX_LENGTH = 1000
TEXT_MAX_LENGTH_LIMIT = 10000
MAX_URL_LENGTH = 2048
PATTERN_DESCRIPTION = (
    "text only: a regular expression the whole value must match, in RE2 syntax "
    "(https://github.com/google/re2/wiki/Syntax), matched in linear time; backreferences, lookarounds and "
    "\\Z are refused; \\d, \\w and \\s are ASCII only"
)
STORED = "stored"
"""Validation context key: ``model_validate(doc, context={STORED: True})`` reads a stored definition, whose
rules were checked when it was written (a pattern RE2 refuses is then reported per value, not per read)."""


class CustomFieldType(StrEnum):
    """The value type of a custom field."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DROPDOWN = "dropdown"
    MULTI_SELECT = "multi_select"
    CHECKBOX = "checkbox"
    URL = "url"
    EMAIL = "email"
    PHONE = "phone"


class CustomFieldValueError(ValueError):
    """A value does not fit its custom field. The message names the field, the value and the rule.

    Example: ``Custom field 'budget': 'abc' is not a number``. ``key`` is the field's key.
    """

    def __init__(self, key: str, message: str):
        super().__init__(f"Custom field '{key}': {message}")
        self.key = key
        self.problem = message


def shown(raw: object, limit: int = 60) -> str:
    """A value quoted for an error message, cut to ``limit`` characters."""
    text = repr(raw) if not isinstance(raw, str) else "'" + raw + "'"
    return text if len(text) <= limit else text[: limit - 4] + "...'"


_TRUE = frozenset({"true", "t", "yes", "y", "1", "x", "on", "checked", "✓", "✔", "si", "sí", "oui", "ja"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off", "unchecked", "", "non", "nein"})

_THOUSANDS_COMMA = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_THOUSANDS_DOT = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_CURRENCY = re.compile(r"^[+-]?\s*[$€£¥₹R]\s*|\s*(?:USD|EUR|GBP|BRL|INR)$|^(?:USD|EUR|GBP|BRL|INR)\s*")

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_YMD_SLASH = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?:[T ].*)?$")
_SLASH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?:,?[ T].*)?$")
_DOT_DASH_DATE = re.compile(r"^(\d{1,2})[.-](\d{1,2})[.-](\d{4})(?:,?[ T].*)?$")
_RFC_2822 = re.compile(r"^[A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{4}\b")
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}
_DAY_MONTH_NAME = re.compile(r"^(\d{1,2})[ -]([A-Za-z]{3,9})\.?,?[ -](\d{4})(?:,?\s.*)?$")
_MONTH_NAME_DAY = re.compile(r"^([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})(?:,?\s.*)?$")
_HOST = re.compile(
    r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?(?::\d{1,5})?$"
)


def parse_number(text: str) -> float | None:
    """Read a number written by a person or a spreadsheet, or None when it is not one.

    ``"1,234.5"`` and ``"1.234,5"`` -> 1234.5; ``"1,5"`` -> 1.5 (decimal comma); ``"$1,200"`` -> 1200;
    ``"1 234"`` -> 1234. Infinity and NaN are refused.
    """
    value = text.strip()
    if not _PLAIN_NUMBER.match(value):
        value = _CURRENCY.sub("", value).replace(" ", "").replace("\u00a0", "").replace("'", "")
    if not value:
        return None
    if _PLAIN_NUMBER.match(value):
        pass
    elif _THOUSANDS_COMMA.match(value):
        value = value.replace(",", "")
    elif _THOUSANDS_DOT.match(value):
        value = value.replace(".", "").replace(",", ".")
    elif _DECIMAL_COMMA.match(value):
        value = value.replace(",", ".")
    else:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """Read a calendar date in the formats listed in the module docstring, or None.

    Slash dates are read month first (``03/01/2024`` is 1 March, as US exports write them) unless the
    first number cannot be a month (``25/12/2024`` is 25 December). Two-digit years are 20xx.
    """
    value = text.strip()
    if m := _ISO_DATE.match(value) or _YMD_SLASH.match(value):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _SLASH_DATE.match(value):
        first, second, year = int(m[1]), int(m[2]), int(m[3])
        if year < 100:
            year += 2000
        if first > 12:
            return _safe_date(year, second, first)
        return _safe_date(year, first, second)
    if m := _DOT_DASH_DATE.match(value):
        return _safe_date(int(m[3]), int(m[2]), int(m[1]))
    if m := _DAY_MONTH_NAME.match(value):
        month = _MONTHS.get(m[2].lower())
        return _safe_date(int(m[3]), month, int(m[1])) if month else None
    if m := _MONTH_NAME_DAY.match(value):
        month = _MONTHS.get(m[1].lower())
        return _safe_date(int(m[3]), month, int(m[2])) if month else None
    if _RFC_2822.match(value):
        from email.utils import parsedate_to_datetime

        try:
            return parsedate_to_datetime(value).date()
        except (TypeError, ValueError):
            return None
    return None


def parse_checkbox(raw: Any) -> bool | None:
    """True/False from a bool, 0/1 or the words listed in the module docstring; None when unrecognised."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return bool(raw) if raw in (0, 1) else None
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def normalize_url(text: str) -> str | None:
    """``http(s)://host/...`` with a real host name (or ``localhost``-free IP-less domain), or None.

    A value without a scheme (``acme.com/pricing``) gets ``https://``. Other schemes (``javascript:``,
    ``ftp:``) are refused.
    """
    value = text.strip()
    if not value or len(value) > MAX_URL_LENGTH or any(c.isspace() for c in value):
        return None
    if "://" not in value:
        if ":" in value.split("/", 1)[0] and not re.match(r"^[^:/]+:\d+(/|$)", value):
            return None  # mailto:, javascript: ...
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not _HOST.match(parts.netloc.rsplit("@", 1)[-1]):
        return None
    return value


class CustomFieldDefinition(BaseModel):
    """A tenant's custom field: ``key`` (slug, unique per tenant), ``label``, ``type`` and its rules.

    Rules by type: ``max_length`` and ``pattern`` (a regular expression in RE2 syntax the whole value must
    match, at most 200 characters; matched in linear time, see :mod:`leadtide.customfields.patterns`) for
    text; ``min``/``max`` (numbers for number fields, ISO dates for date fields, inclusive) for number and
    date; ``options`` (1-200 unique values, case-insensitively) for dropdown and multi_select.
    ``required`` makes a value mandatory when a lead is created. Built-in fields (``builtin: true``) exist
    for every tenant and cannot be changed or deleted.

    Invalid definitions raise pydantic's ``ValidationError`` (a 422 through the API; use
    ``leadtide.customfields.service.parse_definition`` to get an ``InvalidCustomFieldError``).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: str = Field(pattern=KEY_PATTERN, description="slug: a-z, 0-9, _; starts with a letter; <= 40")
    label: str = Field(min_length=1, max_length=100)
    type: CustomFieldType
    description: str | None = Field(default=None, max_length=500)
    required: Flag = False
    pattern: str | None = Field(default=None, max_length=MAX_PATTERN_LENGTH, description=PATTERN_DESCRIPTION)
    min: float | date | None = Field(default=None, description="number or date fields, inclusive")
    max: float | date | None = Field(default=None, description="number or date fields, inclusive")
    options: list[str] | None = Field(default=None, description="dropdown and multi_select only")
    max_length: Count | None = Field(default=None, ge=1, le=TEXT_MAX_LENGTH_LIMIT, description="text only")
    builtin: Flag = Field(default=False, description="Leadtide's own field; read-only")

    _converter: Callable[[Any], Any] | None = PrivateAttr(default=None)

    @field_validator("options")
    @classmethod
    def _options(cls, options: list[str] | None) -> list[str] | None:
        if options is None:
            return None
        cleaned = [o.strip() for o in options]
        if not cleaned:
            raise ValueError("options must not be empty")
        if len(cleaned) > MAX_OPTIONS:
            raise ValueError(f"at most {MAX_OPTIONS} options")
        bad = [o for o in cleaned if not o or len(o) > MAX_OPTION_LENGTH or ";" in o]
        if bad:
            raise ValueError(f"options must be 1-{MAX_OPTION_LENGTH} characters without ';': {bad[:5]}")
        seen: dict[str, str] = {}
        repeats = []
        for option in cleaned:
            folded = option.casefold()
            if folded in seen:
                repeats.append(option)
            seen[folded] = option
        if repeats:
            raise ValueError(f"options must be unique (case-insensitively): {repeats[:5]} repeat")
        return cleaned

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str | None, info: ValidationInfo) -> str | None:
        if pattern is None or pattern == "":
            return None
        if isinstance(info.context, dict) and info.context.get(STORED):
            return pattern  # checked when it was defined; one RE2 refuses is reported per value
        problem = pattern_problem(pattern)
        if problem:
            raise ValueError(problem)
        return pattern

    @model_validator(mode="after")
    def _rules_fit_type(self) -> CustomFieldDefinition:
        kind = self.type
        if self.options is not None and kind not in (CustomFieldType.DROPDOWN, CustomFieldType.MULTI_SELECT):
            raise ValueError(f"options apply to dropdown and multi_select fields, not {kind}")
        if kind in (CustomFieldType.DROPDOWN, CustomFieldType.MULTI_SELECT) and not self.options:
            raise ValueError(f"a {kind} field needs options")
        if (self.pattern is not None or self.max_length is not None) and kind != CustomFieldType.TEXT:
            raise ValueError(f"pattern and max_length apply to text fields, not {kind}")
        if self.min is not None or self.max is not None:
            if kind == CustomFieldType.NUMBER:
                for name in ("min", "max"):
                    if isinstance(getattr(self, name), date):
                        raise ValueError(f"{name} of a number field must be a number")
            elif kind == CustomFieldType.DATE:
                for name in ("min", "max"):
                    value = getattr(self, name)
                    if value is not None and not isinstance(value, date):
                        raise ValueError(f"{name} of a date field must be an ISO date (YYYY-MM-DD)")
            else:
                raise ValueError(f"min and max apply to number and date fields, not {kind}")
            if self.min is not None and self.max is not None and self.min > self.max:  # type: ignore[operator]
                raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    # ------------------------------------------------------------------ values
    def coerce(self, raw: Any, *, default_region: str = "US") -> Any:
        """Convert ``raw`` into this field's stored value (see the module docstring), None when empty.

        ``default_region`` (ISO 3166-1 alpha-2) reads phone numbers written without a country code.

        Raises:
            CustomFieldValueError: the value does not fit the type or a rule; the message names the field.
        """
        if raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list) and not raw):
            return None
        if self.type == CustomFieldType.PHONE and default_region != "US":
            return self._build_converter(default_region)(raw)
        if self._converter is None:
            self._converter = self._build_converter(default_region)
        return self._converter(raw)

    def converter(self, *, default_region: str = "US") -> Callable[[Any], Any]:
        """A function doing :meth:`coerce` for non-empty values, with the rules precompiled (import hot loop)."""
        return self._build_converter(default_region)

    def _fail(self, raw: Any, problem: str) -> CustomFieldValueError:
        return CustomFieldValueError(self.key, f"{shown(raw)} {problem}")

    def _build_converter(self, region: str) -> Callable[[Any], Any]:
        """The converter of this field's type (one builder per type, its rules precompiled)."""
        if self.type == CustomFieldType.PHONE:
            return self._phone_converter(region)
        builders: dict[str, Callable[[], Callable[[Any], Any]]] = {
            CustomFieldType.TEXT: self._text_converter,
            CustomFieldType.NUMBER: self._number_converter,
            CustomFieldType.DATE: self._date_converter,
            CustomFieldType.DROPDOWN: self._option_converter,
            CustomFieldType.MULTI_SELECT: self._options_converter,
            CustomFieldType.CHECKBOX: self._checkbox_converter,
            CustomFieldType.URL: self._url_converter,
            CustomFieldType.EMAIL: self._email_converter,
        }
        return builders[self.type]()

    def _text_converter(self) -> Callable[[Any], str]:
        key = self.key
        limit = self.max_length or DEFAULT_TEXT_MAX_LENGTH
        try:
            regex = compile_pattern(self.pattern) if self.pattern else None
            unusable = None
        except UnsupportedPatternError as err:  # a definition stored before patterns ran on RE2
            regex, unusable = None, str(err)

        def text(raw: Any) -> str:
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise self._fail(raw, "is not text")
            value = raw.strip() if isinstance(raw, str) else str(raw)
            if len(value) > limit:
                raise CustomFieldValueError(key, f"is longer than {limit} characters ({len(value)})")
            if isinstance(raw, str) and has_lone_surrogate(value):
                raise CustomFieldValueError(
                    key, "is not valid Unicode text (it holds a lone UTF-16 surrogate)"
                )
            if unusable is not None:
                raise CustomFieldValueError(
                    key,
                    f"its pattern {self.pattern} is not supported any more ({unusable}); an admin must "
                    "change it (RE2 syntax) before values can be checked",
                )
            if regex is not None and not regex.fullmatch(value):
                raise self._fail(value, f"does not match the pattern {self.pattern}")
            return value

        return text

    def _number_converter(self) -> Callable[[Any], int | float]:
        low, high = self.min, self.max

        def number(raw: Any) -> int | float:
            if isinstance(raw, bool):
                raise self._fail(raw, "is not a number")
            if isinstance(raw, int | float):
                value: float | None = float(raw) if math.isfinite(raw) else None
            elif isinstance(raw, str):
                value = parse_number(raw)
            else:
                value = None
            if value is None:
                raise self._fail(raw, "is not a number")
            if low is not None and value < low:  # type: ignore[operator]
                raise self._fail(raw, f"is less than the minimum {_num(low)}")
            if high is not None and value > high:  # type: ignore[operator]
                raise self._fail(raw, f"is greater than the maximum {_num(high)}")
            return int(value) if value.is_integer() and abs(value) < 2**53 else value

        return number

    def _date_converter(self) -> Callable[[Any], str]:
        earliest, latest = self.min, self.max

        def a_date(raw: Any) -> str:
            if isinstance(raw, datetime):
                value: date | None = raw.date()
            elif isinstance(raw, date):
                value = raw
            elif isinstance(raw, str):
                value = parse_date(raw)
            else:
                value = None
            if value is None:
                raise self._fail(raw, "is not a date (use YYYY-MM-DD)")
            if earliest is not None and value < earliest:  # type: ignore[operator]
                raise self._fail(raw, f"is before {earliest}")
            if latest is not None and value > latest:  # type: ignore[operator]
                raise self._fail(raw, f"is after {latest}")
            return value.isoformat()

        return a_date

    def _option_converter(self) -> Callable[[Any], str]:
        """One of the options, matched case-insensitively, returned as defined (dropdowns, and each
        choice of a multi-select)."""
        canonical = {o.casefold(): o for o in self.options or ()}
        listed = ", ".join(self.options or ())
        if len(listed) > 120:
            listed = listed[:117] + "..."

        def option(raw: Any) -> str:
            value = canonical.get(str(raw).strip().casefold()) if isinstance(raw, str | int) else None
            if value is None:
                raise self._fail(raw, f"is not one of the options ({listed})")
            return value

        return option

    def _options_converter(self) -> Callable[[Any], list[str] | None]:
        """A list of options (or text separated by ``;`` or ``,``, unless the whole text is one option)."""
        option = self._option_converter()
        whole = {o.casefold() for o in self.options or ()}

        def options(raw: Any) -> list[str] | None:
            if isinstance(raw, str):
                parts = re.split(r"[;,]", raw) if raw.strip().casefold() not in whole else [raw]
            elif isinstance(raw, list | tuple | set):
                parts = list(raw)
            else:
                raise self._fail(raw, "is not a list of options")
            chosen = [option(p) for p in parts if not (isinstance(p, str) and not p.strip())]
            return list(dict.fromkeys(chosen)) or None

        return options

    def _checkbox_converter(self) -> Callable[[Any], bool]:
        def checkbox(raw: Any) -> bool:
            value = parse_checkbox(raw)
            if value is None:
                raise self._fail(raw, "is not yes/no (use true/false, yes/no, 1/0 or x)")
            return value

        return checkbox

    def _url_converter(self) -> Callable[[Any], str]:
        def url(raw: Any) -> str:
            value = normalize_url(raw) if isinstance(raw, str) else None
            if value is None:
                raise self._fail(raw, "is not a web address (http:// or https://)")
            return value

        return url

    def _email_converter(self) -> Callable[[Any], str]:
        from leadtide.capture.identity import normalize_email
        from leadtide.models.errors import UnprocessableError

        def email(raw: Any) -> str:
            try:
                return normalize_email(raw)
            except UnprocessableError:
                raise self._fail(raw, "is not a valid email address") from None

        return email

    def _phone_converter(self, region: str) -> Callable[[Any], str]:
        from leadtide.capture.identity import normalize_phone
        from leadtide.models.errors import UnprocessableError

        def phone(raw: Any) -> str:
            try:
                return normalize_phone(str(raw) if isinstance(raw, int) else raw, default_region=region)
            except UnprocessableError:
                raise self._fail(raw, "is not a valid phone number") from None

        return phone


def _num(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


class CustomFieldUpdate(BaseModel):
    """Body of ``PATCH /custom-fields/{key}``: the fields present change (``null`` clears a rule).

    ``key`` and ``type`` cannot change: stored values were checked against them. Delete and recreate
    the field to change its type.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    required: Flag | None = None
    pattern: str | None = Field(default=None, max_length=MAX_PATTERN_LENGTH, description=PATTERN_DESCRIPTION)
    min: float | date | None = None
    max: float | date | None = None
    options: list[str] | None = None
    max_length: Count | None = Field(default=None, ge=1, le=TEXT_MAX_LENGTH_LIMIT)


class CustomFieldList(BaseModel):
    """``GET /custom-fields``: the built-in fields, then the tenant's own, by key."""

    items: list[CustomFieldDefinition]


BUILTIN_FIELDS: tuple[CustomFieldDefinition, ...] = (
    CustomFieldDefinition(
        key="lead_source",
        label="Lead source",
        type=CustomFieldType.TEXT,
        max_length=200,
        builtin=True,
        description="where the lead came from in the source system (Salesforce LeadSource, Zoho Lead Source...)",
    ),
    CustomFieldDefinition(
        key="country", label="Country", type=CustomFieldType.TEXT, max_length=100, builtin=True
    ),
    CustomFieldDefinition(key="city", label="City", type=CustomFieldType.TEXT, max_length=100, builtin=True),
    CustomFieldDefinition(
        key="address", label="Address", type=CustomFieldType.TEXT, max_length=500, builtin=True
    ),
    CustomFieldDefinition(key="website", label="Website", type=CustomFieldType.URL, builtin=True),
    CustomFieldDefinition(
        key="notes", label="Notes", type=CustomFieldType.TEXT, max_length=TEXT_MAX_LENGTH_LIMIT, builtin=True
    ),
    CustomFieldDefinition(
        key="owner_email",
        label="Owner in the source system",
        type=CustomFieldType.TEXT,
        max_length=320,
        builtin=True,
        description="the record owner as the source CRM exported it (email, name or id)",
    ),
    CustomFieldDefinition(
        key="source_created_at",
        label="Created in the source system",
        type=CustomFieldType.DATE,
        builtin=True,
        description="when the record was created in the source CRM (Zoho Created Time, Salesforce "
        "CreatedDate, HubSpot Create Date, Pipedrive Person created...), as a date",
    ),
)
"""Fields every tenant has: values imports map to that are not attributes of a Lead."""

BUILTIN_KEYS = frozenset(f.key for f in BUILTIN_FIELDS)
