"""Turning one file row into a lead draft, or into the reasons it cannot be imported.

:class:`RowProcessor` is built once per import (mapping, custom fields, options) and precomputes, per
mapped column, a converter; ``process(row_number, cells)`` then runs a tight loop with no pydantic.
Every problem names the column (the file's header) or the custom field and the value:

- ``row has 9 cells, header has 7``
- ``Email: 'bob@' is not a valid email address: ...``, ``Email: mailinator.com is a disposable email domain``,
  ``Email: nowhere.invalid does not accept email (no MX or address record)``
- ``Phone: '+1 555' is not a valid phone number ...``
- ``Custom field 'budget': 'abc' is not a number``
- ``Company: a value is required``; ``row has no email, phone or name``

Warnings keep the row: a value cut to the field's length, an unknown status imported as New, a tag
that is not a valid tag, an email domain whose MX could not be checked, and formula neutralisation.

Invalid values (:attr:`ValidationOptions.invalid_values`, the import option of the same name):

- ``drop_field`` (default): a cell whose value is unusable (a phone libphonenumber rejects, an invalid or
  disposable email, a custom value that does not fit its field) is left out of the lead and named in
  :attr:`RowOutcome.dropped`; the rest of the row is imported. The row is still rejected (every problem
  in ``errors``) when the dropped value was required, when the row has a problem that is not one value
  (too many cells), or when the row had identity values (email, phone, the ``custom:<key>`` unique key)
  and every one of them is invalid: a lead kept by its name alone could not be matched when the
  corrected row is imported again.
- ``reject_row``: any unusable value rejects the row.

Formula injection (OWASP "CSV injection"): a text value that a spreadsheet would evaluate (starting with
``=``, ``@``, tab or CR, or ``+``/``-`` followed by something that is not a number or phone number) is
stored with a leading apostrophe (``'=HYPERLINK(...)``) and the row gets a warning. The value is kept
(a person may really be called ``-Dash-``) but can never run as a formula when exported or opened in a
spreadsheet. Typed values (email, phone, number, date, url, options) are not text and are checked by
their type instead.

:class:`FileDeduplicator` finds rows repeating an earlier accepted row's email, phone or unique value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from leadtide.capture.identity import normalize_phone
from leadtide.customfields.models import (
    BUILTIN_FIELDS,
    CustomFieldDefinition,
    CustomFieldType,
    CustomFieldValueError,
    shown,
)
from leadtide.imports.mapping import (
    CUSTOM_PREFIX,
    IDENTITY_TARGETS,
    FieldMapping,
    InvalidMappingError,
    canonical_target,
)
from leadtide.imports.models import InvalidValues
from leadtide.imports.validation import DisposableDomains, EmailChecker, InvalidEmailAddress, MxChecker
from leadtide.models.bounded_json import load_json
from leadtide.models.common import LeadStatus, display_name
from leadtide.models.errors import UnprocessableError
from leadtide.models.leads import _TAG as TAG_PATTERN

TEXT_LIMITS = {"name": 200, "first_name": 100, "last_name": 100, "company": 200, "job_title": 200}
"""Lengths of the lead's text attributes (as ``LeadCreate``); longer values are cut with a warning."""
MAX_TAGS = 50
PHONE_CACHE_SIZE = 200_000
"""Distinct phone cells whose normalisation a :class:`RowProcessor` remembers (switchboard numbers repeat
across a company's contacts; parsing is ~20 µs a number)."""

NO_IDENTITY_LEFT = "no valid email, phone or unique key is left to identify the lead"
"""Why a row is rejected whose identity values (email, phone, unique key) were all invalid."""

_FORMULA_START = frozenset("=+-@\t\r")
_NUMERIC_LIKE = re.compile(r"^[+-][\d\s().,/%-]*$")

_STATUS_WORDS: dict[str, LeadStatus] = {}
for _status, _words in {
    LeadStatus.NEW: ("new", "open", "open not contacted", "not contacted", "untouched", "raw", "fresh"),
    LeadStatus.CONTACTED: (
        "contacted",
        "working contacted",
        "working",
        "attempted to contact",
        "attempted",
        "connected",
        "in progress",
        "engaged",
        "responded",
    ),
    LeadStatus.FOLLOW_UP: (
        "follow up",
        "followup",
        "contact in future",
        "qualified",
        "pre qualified",
        "nurturing",
        "nurture",
        "open deal",
        "bad timing",
        "callback",
        "call back",
        "interested",
    ),
    LeadStatus.CONVERTED: ("converted", "closed converted", "customer", "won", "closed won", "client"),
    LeadStatus.LOST: (
        "lost",
        "lost lead",
        "junk",
        "junk lead",
        "closed not converted",
        "closed lost",
        "unqualified",
        "not qualified",
        "disqualified",
        "dead",
        "not interested",
    ),
}.items():
    for _word in _words:
        _STATUS_WORDS[_word] = _status


def status_from_text(text: str) -> LeadStatus | None:
    """A Leadtide lead status from a CRM's status text (Salesforce ``Working - Contacted``, HubSpot
    ``IN_PROGRESS``, Zoho ``Junk Lead`` ...), or None when it is not recognised."""
    words = re.sub(r"[^a-z]+", " ", text.lower()).strip()
    return _STATUS_WORDS.get(words)


def neutralize_formula(text: str) -> str | None:
    """``"'" + text`` when a spreadsheet would run ``text`` as a formula, else None (see module docstring)."""
    if text and text[0] in _FORMULA_START:
        if text[0] in "+-" and _NUMERIC_LIKE.match(text):
            return None
        return "'" + text
    return None


@dataclass(slots=True)
class LeadDraft:
    """A lead ready to write: ``fields`` are Lead attribute names -> values (``custom_fields`` a dict inside),
    ``email`` lower-case, ``phone`` E.164, ``unique_value`` the chosen unique custom field's value."""

    fields: dict[str, Any]
    email: str | None = None
    phone: str | None = None
    unique_value: str | None = None


@dataclass(slots=True)
class RowOutcome:
    """The result of one row: a draft (None when rejected), the errors that rejected it, warnings, and the
    values left out of the draft (``dropped``, ``"<header>: <why>"``; only for a kept row)."""

    row_number: int
    draft: LeadDraft | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


@dataclass
class ValidationOptions:
    """How rows are checked.

    ``required``: targets that must have a value (``"company"``, ``"custom:budget"``); the tenant's
    required custom fields that are mapped are added. ``unique_key``: ``email``, ``phone`` or
    ``custom:<key>`` (the value :class:`FileDeduplicator` and the pipeline match leads on).
    ``null_values``: extra cell values meaning "empty" (X Education's ``Select``).
    ``invalid_values``: ``drop_field`` leaves an unusable value out of the lead and reports it
    (:attr:`RowOutcome.dropped`); ``reject_row`` rejects the row (see the module docstring).
    """

    check_mx: bool = False
    reject_disposable: bool = True
    required: tuple[str, ...] = ()
    default_phone_region: str = "US"
    unique_key: Literal["email", "phone"] | str = "email"
    null_values: frozenset[str] = frozenset()
    invalid_values: InvalidValues = "drop_field"


class _CellError(Exception):
    """A cell's value is unusable; the message follows ``<header>: ``."""


# store kinds
_FIELD, _CUSTOM, _TAGS, _NOTES, _ADDRESS, _EMAIL, _PHONE = range(7)

Converter = Callable[[str, list[str]], Any]


class RowProcessor:
    """Rows -> :class:`RowOutcome`, with every per-column decision made at construction.

    Args:
        headers: the file's header (as :class:`~leadtide.imports.reading.Table` gives it).
        mapping: header -> target (checked with ``validate_mapping`` before, ideally).
        custom_fields: the tenant's definitions (built-in ones are added when missing).
        options: :class:`ValidationOptions`.
        mx_checker: used when ``options.check_mx``; a default :class:`MxChecker` otherwise.

    Raises:
        InvalidMappingError (422): a required target is not mapped, or a ``custom:<key>`` target is not a
        custom field of the tenant.
    """

    def __init__(
        self,
        headers: Sequence[str],
        mapping: FieldMapping,
        custom_fields: Sequence[CustomFieldDefinition],
        options: ValidationOptions,
        mx_checker: MxChecker | None = None,
    ):
        self._width = len(headers)
        self._options = options
        self._emails = EmailChecker()
        self._disposable = DisposableDomains()
        self._mx = (mx_checker or MxChecker()) if options.check_mx else None
        self._nulls = frozenset(options.null_values)
        self._phones: dict[str, tuple[str | None, str | None]] = {}
        definitions = {d.key: d for d in BUILTIN_FIELDS}
        definitions.update({d.key: d for d in custom_fields})
        region = options.default_phone_region

        plan: list[tuple[int, str, str, int, str, Converter]] = []
        mapped: dict[str, str] = {}
        for index, header in enumerate(headers):
            target = canonical_target(mapping.columns.get(header))
            if target is None:
                continue
            mapped.setdefault(target, header)
            plan.append((index, header, target, *self._converter(header, target, definitions, region)))
        self._plan = plan
        self._mapped = mapped
        self._address_fills = [t for t in ("city", "country") if t not in mapped]

        required = {canonical_target(t) or t for t in options.required}
        for target in mapped:
            if target.startswith(CUSTOM_PREFIX):
                definition = definitions.get(target[len(CUSTOM_PREFIX) :])
                if definition is not None and definition.required:
                    required.add(target)
        missing = sorted(t for t in required if t not in mapped)
        if missing:
            raise InvalidMappingError(
                f"required fields are not mapped to any column: {', '.join(missing)}",
                details=[{"field": t, "problem": "required but not mapped"} for t in missing],
            )
        order = {h: i for i, h in enumerate(headers)}
        self._required = sorted(((t, mapped[t]) for t in required), key=lambda pair: order[pair[1]])
        unique = canonical_target(options.unique_key) or "email"
        self._unique_custom = unique[len(CUSTOM_PREFIX) :] if unique.startswith(CUSTOM_PREFIX) else None
        self._reject_invalid = options.invalid_values == "reject_row"

    # ------------------------------------------------------------------ construction
    def _converter(
        self, header: str, target: str, definitions: dict[str, CustomFieldDefinition], region: str
    ) -> tuple[int, str, Converter]:
        """(store kind, store key, converter) of one column."""
        if target == "email":
            return _EMAIL, "email", self._email_converter(header)
        if target == "phone":
            return _PHONE, "phone", _phone_converter(self._phones, region)
        if target in TEXT_LIMITS:
            return _FIELD, target, _text_converter(header, TEXT_LIMITS[target])
        if target == "status":
            return _FIELD, "status", _status_converter(header)
        if target == "tags":
            return _TAGS, "tags", _tags_converter(header)
        key = target[len(CUSTOM_PREFIX) :] if target.startswith(CUSTOM_PREFIX) else target
        definition = definitions.get(key)
        if definition is None:
            raise InvalidMappingError(
                f"{header}: {target} is not a custom field of this tenant",
                details=[{"field": header, "problem": f"unknown target {target}"}],
            )
        custom = _custom_converter(header, definition, region)
        if key == "notes":
            return _NOTES, key, custom
        if key == "address":
            return _ADDRESS, key, _address_converter(custom)
        return _CUSTOM, key, custom

    def _email_converter(self, header: str) -> Converter:
        check = self._emails.check
        disposable = self._disposable.match
        reject = self._options.reject_disposable
        mx = self._mx

        def email(raw: str, warnings: list[str]) -> str:
            try:
                address = check(raw)
            except InvalidEmailAddress as err:
                raise _CellError(f"{shown(raw)} is not a valid email address: {err}") from None
            domain = address[address.rindex("@") + 1 :]
            blocked = disposable(domain)
            if blocked is not None:
                if reject:
                    raise _CellError(f"{blocked} is a disposable email domain")
                warnings.append(f"{header}: {blocked} is a disposable email domain")
            if mx is not None:
                status = mx.check(domain)
                if status == "no_mx":
                    raise _CellError(f"{domain} does not accept email (no MX or address record)")
                if status == "unverified":
                    warnings.append(
                        f"{header}: could not check that {domain} accepts email (DNS unavailable)"
                    )
            return address

        return email

    # ------------------------------------------------------------------ rows
    def process(self, row_number: int, cells: list[str]) -> RowOutcome:
        """Check and convert one row. Never raises for bad data: problems are in ``errors``."""
        if len(cells) > self._width:
            return RowOutcome(row_number, None, [f"row has {len(cells)} cells, header has {self._width}"], [])
        warnings: list[str] = []
        row = self._convert(cells, warnings)
        fields, custom = row.fields, row.custom
        errors = [
            f"{header}: a value is required"
            for target, header in self._required
            if not _has(target, fields, custom)
        ]
        unique_value = None
        if self._unique_custom is not None:
            found = custom.get(self._unique_custom)
            unique_value = None if found is None else str(found)
        rejected = self._rejection(row, errors, unique_value)
        if rejected:
            return RowOutcome(row_number, None, rejected, warnings)
        if "name" not in fields and ("first_name" in fields or "last_name" in fields):
            fields["name"] = display_name(fields.get("first_name"), fields.get("last_name"))
        if "tags" in fields and len(fields["tags"]) > MAX_TAGS:
            warnings.append(f"only the first {MAX_TAGS} tags were kept")
            fields["tags"] = fields["tags"][:MAX_TAGS]
        fields["custom_fields"] = custom
        return RowOutcome(
            row_number, LeadDraft(fields, row.email, row.phone, unique_value), [], warnings, row.invalid
        )

    def _convert(self, cells: list[str], warnings: list[str]) -> _Converted:
        """Every mapped cell of a row through its converter: the values by where they are stored, and the
        unusable ones (``invalid``, ``"<header>: <why>"``)."""
        row = _Converted()
        fields, custom = row.fields, row.custom
        nulls = self._nulls
        unique_custom = self._unique_custom
        for index, header, _target, kind, key, convert in self._plan:
            raw = cells[index]
            if not raw or raw in nulls:
                continue
            if kind in (_EMAIL, _PHONE) or (kind == _CUSTOM and key == unique_custom):
                row.identity_cells += 1
            try:
                value = convert(raw, warnings)
            except _CellError as err:
                row.invalid.append(f"{header}: {err}")
                continue
            if value is None:
                continue
            if kind == _FIELD:
                fields[key] = value
            elif kind == _CUSTOM:
                custom[key] = value
            elif kind == _EMAIL:
                row.email = fields["email"] = value
            elif kind == _PHONE:
                row.phone = fields["phone"] = value
            else:
                self._store_merged(kind, value, fields, custom)
        return row

    def _store_merged(self, kind: int, value: Any, fields: dict[str, Any], custom: dict[str, Any]) -> None:
        """Store a value several columns may feed: tags (merged), notes (joined by lines), an address
        (its text, and its city and country where no column feeds them)."""
        if kind == _TAGS:
            if value:
                tags = fields.setdefault("tags", [])
                tags.extend(t for t in value if t not in tags)
        elif kind == _NOTES:
            custom["notes"] = f"{custom['notes']}\n{value}" if "notes" in custom else value
        else:  # address: (text, {city, country})
            text, parts = value
            custom["address"] = text
            for fill in self._address_fills:
                if parts.get(fill):
                    custom.setdefault(fill, parts[fill])

    def _rejection(self, row: _Converted, errors: list[str], unique_value: str | None) -> list[str]:
        """Why the row is rejected (empty: it is kept); ``errors``: its missing required values."""
        if row.invalid and (self._reject_invalid or errors):
            return row.invalid + errors
        if not errors and row.email is None and row.phone is None and unique_value is None:
            if row.identity_cells:
                return [*row.invalid, NO_IDENTITY_LEFT]
            if not any(t in row.fields for t in IDENTITY_TARGETS):
                return ["row has no email, phone or name"]
        return errors


@dataclass(slots=True)
class _Converted:
    """The converted cells of one row (:meth:`RowProcessor._convert`)."""

    fields: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    identity_cells: int = 0


def _phone_converter(known: dict[str, tuple[str | None, str | None]], region: str) -> Converter:
    """E.164 of a phone cell (libphonenumber, strict), remembering up to :data:`PHONE_CACHE_SIZE` answers
    in ``known``; an unusable number is a :class:`_CellError`."""

    def phone(raw: str, warnings: list[str]) -> str | None:
        # (E.164, None) or (None, why): the answer of normalize_phone, once per distinct value
        answer = known.get(raw)
        if answer is None:
            try:
                answer = (normalize_phone(raw, default_region=region, strict=True), None)
            except UnprocessableError as err:
                answer = (None, err.message)
            if len(known) < PHONE_CACHE_SIZE:
                known[raw] = answer
        e164, problem = answer
        if problem is None:
            return e164
        raise _CellError(problem)

    return phone


def _status_converter(header: str) -> Converter:
    """A Leadtide status from a CRM's status text; an unknown one imports as New with a warning."""

    def status(raw: str, warnings: list[str]) -> str:
        found = status_from_text(raw)
        if found is None:
            warnings.append(f"{header}: {shown(raw)} is not a Leadtide status; imported as New")
            return str(LeadStatus.NEW)
        return str(found)

    return status


def _tags_converter(header: str) -> Converter:
    """The tags of a cell (``;`` or ``,`` separated, Mailchimp's quotes removed); invalid ones are dropped
    with a warning."""

    def tags(raw: str, warnings: list[str]) -> list[str]:
        good = []
        for part in re.split(r"[;,]", raw):
            tag = part.strip().strip('"').strip()  # Mailchimp quotes each tag: "a","b"
            if not tag:
                continue
            if TAG_PATTERN.match(tag):
                good.append(tag)
            else:
                warnings.append(f"{header}: {shown(tag)} is not a valid tag (dropped)")
        return good

    return tags


def _custom_converter(header: str, definition: CustomFieldDefinition, region: str) -> Converter:
    """A custom field's value by its definition's type; a text value that would run as a spreadsheet
    formula is neutralised with a warning; a value that does not fit is a :class:`_CellError`."""
    coerce = definition.converter(default_region=region)
    builtin = definition.builtin
    is_text = definition.type == CustomFieldType.TEXT

    def custom(raw: str, warnings: list[str]) -> Any:
        if is_text and (safe := neutralize_formula(raw)) is not None:
            warnings.append(
                f"{header}: value starts like a spreadsheet formula; stored as text ({shown(safe)})"
            )
            raw = safe
        try:
            return coerce(raw)
        except CustomFieldValueError as err:
            raise _CellError(err.problem if builtin else str(err)) from None

    return custom


def _has(target: str, fields: dict[str, Any], custom: dict[str, Any]) -> bool:
    if target.startswith(CUSTOM_PREFIX):
        return custom.get(target[len(CUSTOM_PREFIX) :]) not in (None, "", [])
    return fields.get(target) not in (None, "", []) or custom.get(target) not in (None, "", [])


def _text_converter(header: str, limit: int) -> Converter:
    def text(raw: str, warnings: list[str]) -> str:
        if raw[0] in _FORMULA_START and (safe := neutralize_formula(raw)) is not None:
            warnings.append(
                f"{header}: value starts like a spreadsheet formula; stored as text ({shown(safe)})"
            )
            raw = safe
        if len(raw) > limit:
            warnings.append(f"{header}: cut to {limit} characters")
            raw = raw[:limit]
        return raw

    return text


def _address_converter(coerce: Converter) -> Converter:
    """Salesforce's compound ``Address`` is JSON: join its parts into one line and offer city/country."""

    def address(raw: str, warnings: list[str]) -> tuple[str, dict[str, str]] | None:
        parts: dict[str, str] = {}
        text = raw
        if raw.startswith("{"):
            try:
                data = load_json(raw)  # bounded: a cell of the user's file
            except ValueError:
                data = None
            if isinstance(data, dict):
                parts = {
                    k: str(v).strip()
                    for k, v in data.items()
                    if v not in (None, "") and not isinstance(v, dict | list)
                }
                locality = " ".join(p for p in (parts.get("state"), parts.get("postalCode")) if p)
                text = ", ".join(
                    p for p in (parts.get("street"), parts.get("city"), locality, parts.get("country")) if p
                )
                if not text:
                    return None
        value = coerce(text, warnings)
        return None if value is None else (value, parts)

    return address


class FileDeduplicator:
    """Finds rows that repeat an earlier accepted row of the same file.

    Two rows are the same lead when they share the email, the phone or the unique value (``unique_key``
    ``custom:<key>``). ``unique_key`` is kept for the pipeline's wording; every identity is checked.
    """

    def __init__(self, unique_key: str = "email"):
        self.unique_key = unique_key
        self._seen: dict[tuple[str, str], int] = {}

    def check(self, outcome: RowOutcome) -> int | None:
        """The row number ``outcome`` duplicates, or None (then its identities are recorded).

        Rejected rows (no draft) are neither checked nor recorded.
        """
        draft = outcome.draft
        if draft is None:
            return None
        keys = []
        if draft.email:
            keys.append(("e", draft.email))
        if draft.phone:
            keys.append(("p", draft.phone))
        if draft.unique_value:
            keys.append(("u", draft.unique_value))
        seen = self._seen
        for key in keys:
            earlier = seen.get(key)
            if earlier is not None:
                return earlier
        for key in keys:
            seen[key] = outcome.row_number
        return None
