"""Column mapping of an import: which file column feeds which lead field, and why a column feeds none.

Targets (:data:`TARGETS`):

- Lead attributes: ``first_name, last_name, name, email, phone, company, job_title, status, tags``.
- Built-in custom fields (stored in ``lead.custom_fields`` under the same key, defined for every tenant;
  see ``leadtide.customfields.models.BUILTIN_FIELDS``): ``lead_source, country, city, address, website,
  notes, owner_email, source_created_at``. ``source`` and ``custom:<built-in key>`` are accepted as
  aliases.
- ``custom:<key>``: one of the tenant's own custom fields.
- ``None``: the column is ignored.

``tags`` and ``notes`` may be fed by several columns (values are merged); every other target by one.

:func:`propose_mapping` knows the standard export headers of Salesforce (Lead and Contact API names such
as ``FirstName``, ``LeadSource``, ``OwnerId``, ``MailingCity``, ``Address`` as JSON, custom ``*__c``
fields; report labels such as ``Company / Account``, ``Zip/Postal Code``), HubSpot (the contacts-view
export labels ``Email``, ``Phone Number``, ``Contact owner``, ``Create Date`` ... and the internal names
``hs_lead_status``, ``hubspot_owner_id``, ``createdate``), Mailchimp (audience exports, subscribed,
unsubscribed and cleaned: ``MEMBER_RATING``, ``OPTIN_TIME``, ``UNSUB_*``, ``CLEAN_*``, ``CC``), Zoho CRM
(Leads and Contacts modules: ``Lead Owner``, ``Contact Owner``, ``LEADID``, ``CONTACTID``, ``Account Id``,
``Mobile``, ``Created Time``), Pipedrive (``Person - Email - Work``, ``Lead - Lead created``,
``Organization - Name``) and the X Education lead-scoring data (``Prospect ID``, ``Lead Origin``). Each
standard column either feeds a field or is a known column no field holds (ids, system fields, address
parts), which is never fuzzily matched. Headers are normalised (accents, case, camelCase, punctuation,
the Salesforce ``__c`` suffix, the Pipedrive ``Person -`` prefix), looked up in a synonym table, then
matched to the tenant's custom fields by key or label, then fuzzily (rapidfuzz ``fuzz.ratio`` >= 88 on
headers of 6+ characters) against both. Given the file's first rows, a column with values beats an empty
one for the same field. :func:`explain_unmapped` says why each other column is not mapped.

The vocabulary (synonyms, source signatures) is in :mod:`leadtide.imports.mapping_vocabulary`.

Sources: Salesforce Lead and Contact object references (developer.salesforce.com/docs/atlas.en-us.
object_reference.meta/object_reference/sforce_api_objects_lead.htm, .../sforce_api_objects_contact.htm);
HubSpot default contact properties (knowledge.hubspot.com "HubSpot's default contact properties");
Mailchimp "View or export an audience" (audience export columns); Zoho CRM Leads and Contacts module
standard fields (help.zoho.com "Standard modules and fields"); Pipedrive "Exporting data" (the
``<Item> - <Field>`` column naming); the real files in ``../shared/data/crm_exports``,
``../shared/data/zoho_crm_analytics_sample`` and ``../shared/data/xeducation_leads.csv``, and the
synthetic header sets in ``tests/fixtures/crm_exports``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field, field_validator

from leadtide.customfields.models import (
    BUILTIN_KEYS,
    KEY_PATTERN,
    CustomFieldDefinition,
    CustomFieldType,
    parse_checkbox,
    parse_date,
    parse_number,
)
from leadtide.imports.mapping_vocabulary import (
    PIPEDRIVE_PREFIX,
    SECONDARY_PREFIXES,
    SECONDARY_RECORD_FACTOR,
    SIGNATURES,
    SOURCE_NULLS,
    SYNONYMS,
    normalize_header,
)
from leadtide.imports.models import UnmappedColumn
from leadtide.models.errors import UnprocessableError

LEAD_TARGETS = ("first_name", "last_name", "name", "email", "phone", "company", "job_title", "status", "tags")
"""Targets that are attributes of :class:`leadtide.models.leads.Lead`."""
EXTRA_TARGETS = (
    "lead_source",
    "country",
    "city",
    "address",
    "website",
    "notes",
    "owner_email",
    "source_created_at",
)
"""Targets stored as built-in custom fields of the same key."""
TARGETS = LEAD_TARGETS + EXTRA_TARGETS
MULTI_VALUED = frozenset({"tags", "notes"})
IDENTITY_TARGETS = ("email", "phone", "name", "first_name", "last_name")
CUSTOM_PREFIX = "custom:"
ALIASES = {"source": "lead_source", "owner": "owner_email", "title": "job_title"}

FUZZY_CUTOFF = 88.0
FUZZY_MIN_LENGTH = 6

_KEY = re.compile(KEY_PATTERN)


class InvalidMappingError(UnprocessableError):
    """The column mapping cannot be used (HTTP 422, code ``invalid_mapping``); ``details`` names each problem."""

    code = "invalid_mapping"


def canonical_target(target: str | None) -> str | None:
    """``source`` -> ``lead_source``, ``custom:country`` -> ``country``; other values unchanged."""
    if target is None:
        return None
    target = target.strip()
    if not target:
        return None
    target = ALIASES.get(target, target)
    if target.startswith(CUSTOM_PREFIX) and target[len(CUSTOM_PREFIX) :] in BUILTIN_KEYS:
        return target[len(CUSTOM_PREFIX) :]
    return target


class FieldMapping(BaseModel):
    """``columns``: file header -> target (see the module docstring); None or absent ignores the column."""

    columns: dict[str, str | None] = Field(max_length=500)

    @field_validator("columns")
    @classmethod
    def _targets(cls, columns: dict[str, str | None]) -> dict[str, str | None]:
        cleaned = {header: canonical_target(target) for header, target in columns.items()}
        bad = [
            t
            for t in cleaned.values()
            if t is not None
            and t not in TARGETS
            and not (t.startswith(CUSTOM_PREFIX) and _KEY.match(t[len(CUSTOM_PREFIX) :]))
        ]
        if bad:
            raise ValueError(
                f"unknown targets {sorted(set(bad))[:10]}: use one of {', '.join(TARGETS)}, "
                "custom:<key> or null"
            )
        return cleaned


class MappingProposal(BaseModel):
    """What :func:`propose_mapping` suggests: the mapping, a 0-1 confidence per mapped header, the CRM the
    file seems to come from, cell values that mean "empty" in that source (X Education's ``Select``), and
    why each other column is not mapped (``unmapped``, see :func:`explain_unmapped`)."""

    mapping: FieldMapping
    confidence: dict[str, float]
    detected_source: str | None = None
    null_values: list[str] = Field(default_factory=list)
    unmapped: list[UnmappedColumn] = Field(default_factory=list)


def detect_source(headers: Sequence[str]) -> str | None:
    """The CRM a header row comes from (``salesforce``, ``hubspot``, ``mailchimp``, ``zoho``, ``pipedrive``,
    ``xeducation``) when at least two of its characteristic columns are present, else None."""
    if sum(1 for h in headers if PIPEDRIVE_PREFIX.match(h)) >= 2:
        return "pipedrive"
    normalized = {normalize_header(h) for h in headers}
    hits = {source: len(normalized & signature) for source, signature in SIGNATURES.items()}
    if any(h.endswith("__c") for h in headers):
        hits["salesforce"] += 1
    best = max(hits, key=lambda s: hits[s])
    return best if hits[best] >= 2 else None


def _custom_index(custom_fields: Iterable[CustomFieldDefinition]) -> dict[str, str]:
    """normalised key and label -> ``custom:<key>`` for the tenant's own (non built-in) fields."""
    index: dict[str, str] = {}
    for definition in custom_fields:
        if definition.builtin or definition.key in BUILTIN_KEYS:
            continue
        target = CUSTOM_PREFIX + definition.key
        index.setdefault(normalize_header(definition.key.replace("_", " ")), target)
        index.setdefault(normalize_header(definition.label), target)
    return index


def _match(header: str, custom: dict[str, str]) -> tuple[str | None, float, bool]:
    """(target, confidence, known) of one header; ``known``: a known export column without a target."""
    norm = normalize_header(header)
    if not norm:
        return None, 0.0, False
    prefix = PIPEDRIVE_PREFIX.match(header)
    stripped = normalize_header(header[prefix.end() :]) if prefix else norm
    secondary = prefix is not None and prefix.group(1).lower() in SECONDARY_PREFIXES
    for candidate in dict.fromkeys((norm, stripped)):
        hit = SYNONYMS.get(candidate)
        if hit is not None and hit[0] is not None:  # a synonym of a lead or built-in field
            target, score = hit
            if secondary and candidate == stripped and target != "company":
                score = round(score * SECONDARY_RECORD_FACTOR, 3)
            return target, score, True
        if candidate in custom:  # the tenant's own field, by key or label
            return custom[candidate], 0.99, True
        if hit is not None:  # a known column that maps to nothing
            return None, 0.0, True
    if len(norm) < FUZZY_MIN_LENGTH:
        return None, 0.0, False
    from rapidfuzz import fuzz, process

    choices = {**{k: v[0] for k, v in SYNONYMS.items()}, **custom}
    found = process.extractOne(norm, list(choices), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    if found is None:
        return None, 0.0, False
    target = choices[found[0]]
    return (target, round(found[1] / 100 * 0.9, 3), True) if target else (None, 0.0, True)


def _filled(
    headers: Sequence[str], sample: Sequence[Sequence[str]] | None, null_values: Iterable[str] = ()
) -> list[bool]:
    """Per column: whether any sampled row has a value in it (all True without a sample)."""
    if not sample:
        return [True] * len(headers)
    from leadtide.imports.reading import NULL_MARKERS

    nulls = NULL_MARKERS | frozenset(null_values)
    filled = [False] * len(headers)
    for cells in sample:
        for i, cell in enumerate(cells[: len(headers)]):
            if not filled[i] and isinstance(cell, str) and (text := cell.strip()) and text not in nulls:
                filled[i] = True
    return filled


def propose_mapping(
    headers: Sequence[str],
    custom_fields: Sequence[CustomFieldDefinition],
    *,
    sample: Sequence[Sequence[str]] | None = None,
) -> MappingProposal:
    """Suggest a mapping for a header row (see the module docstring), and say why each other column is
    left unmapped (:func:`explain_unmapped`).

    ``sample``: the file's first rows (cells in header order). When several columns would feed one
    single-valued target, a column with a value in the sample beats one without, then the most confident
    wins, then the leftmost; the others are left unmapped. Unmapped columns have no ``confidence`` entry.
    """
    custom = _custom_index(custom_fields)
    source = detect_source(headers)
    nulls = SOURCE_NULLS.get(source or "", [])
    filled = _filled(headers, sample, nulls)
    matches = [(header, *_match(header, custom)) for header in headers]
    columns: dict[str, str | None] = {header: None for header in headers}
    confidence: dict[str, float] = {}
    taken: set[str] = set()
    order = sorted(range(len(matches)), key=lambda i: (not filled[i], -matches[i][2], i))
    for i in order:
        header, target, score, _known = matches[i]
        if target is None or score <= 0:
            continue
        if target not in MULTI_VALUED and target in taken:
            continue
        taken.add(target)
        columns[header] = target
        confidence[header] = score
    return MappingProposal(
        mapping=FieldMapping(columns=columns),
        confidence=confidence,
        detected_source=source,
        null_values=list(nulls),
        unmapped=explain_unmapped(headers, columns, custom_fields, sample, null_values=nulls, source=source),
    )


def explain_unmapped(
    headers: Sequence[str],
    columns: dict[str, str | None],
    custom_fields: Sequence[CustomFieldDefinition],
    sample: Sequence[Sequence[str]] | None = None,
    *,
    null_values: Iterable[str] = (),
    source: str | None = None,
    chosen: bool = False,
) -> list[UnmappedColumn]:
    """Why each header that ``columns`` leaves unmapped is not imported, in header order.

    ``chosen``: the mapping was given by a person (in the request, saved by name, or corrected), so a
    column it leaves out is ``ignored`` whatever it looks like (the detail says what Leadtide would make
    of it). Otherwise (a proposed mapping) the reasons are, first that applies: ``no_values`` (no
    sampled row has a value in the column: empty cells, spreadsheet error values such as ``#N/A`` and
    ``null_values`` count as empty); ``ambiguous`` (the column looks like a single-valued field that
    another column feeds; the detail names both); ``ignored`` (it looks like a field, but the mapping
    leaves it out); ``not_imported`` (a known CRM export column that no Leadtide field holds: ids, system
    fields, address parts...); ``unknown_header`` (nothing matches it). ``detail`` is a sentence naming
    the column (never a cell value).
    """
    custom = _custom_index(custom_fields)
    filled = _filled(headers, sample, null_values)
    fed_by: dict[str, str] = {}
    for header in headers:
        target = canonical_target(columns.get(header))
        if target is not None:
            fed_by.setdefault(target, header)
    crm = {"salesforce": "Salesforce", "hubspot": "HubSpot", "mailchimp": "Mailchimp", "zoho": "Zoho CRM"}
    crm.update({"pipedrive": "Pipedrive", "xeducation": "X Education"})
    exported = f"a {crm[source]} export column" if source in crm else "a known CRM export column"
    unmapped: list[UnmappedColumn] = []
    for i, header in enumerate(headers):
        if canonical_target(columns.get(header)) is not None:
            continue
        target, score, known = _match(header, custom)
        if chosen:
            reason = "ignored"
            left = "is not in the mapping" if header not in columns else "is mapped to null"
            if target is not None and score > 0:
                looks = f"it looks like {target}"
            elif known:
                looks = f"it is {exported} that no Leadtide field holds"
            else:
                looks = "Leadtide does not recognise it"
            empty = "; it has no value in the first rows" if sample and not filled[i] else ""
            detail = f"'{header}' {left} ({looks}){empty}"
        elif sample and not filled[i]:
            reason = "no_values"
            detail = (
                f"'{header}' has no value in the first {len(sample)} rows (empty cells and spreadsheet "
                "error values such as #N/A count as empty)"
            )
            if target is not None and score > 0:
                detail += f"; it looks like {target}"
        elif target is not None and score > 0 and target not in MULTI_VALUED and target in fed_by:
            reason = "ambiguous"
            detail = (
                f"'{header}' also looks like {target}, which '{fed_by[target]}' feeds (a column with values "
                f"in the first rows, more confident or further left wins); map {target} from one of them"
            )
        elif target is not None and score > 0:
            reason = "ignored"
            left = "is not in the mapping" if header not in columns else "is mapped to null"
            detail = f"'{header}' looks like {target} but {left}"
        elif known:
            reason = "not_imported"
            detail = (
                f"'{header}' is {exported} that no Leadtide field holds (an id, a system field, an address "
                "part...); create a custom field and map the column to it to keep its values"
            )
        else:
            reason = "unknown_header"
            detail = (
                f"no lead field, built-in field or custom field matches '{header}'; map it to one, or create "
                "a custom field for it"
            )
        unmapped.append(UnmappedColumn(header=header, reason=reason, detail=detail))
    return unmapped


def validate_mapping(
    mapping: FieldMapping,
    headers: Sequence[str],
    custom_fields: Sequence[CustomFieldDefinition],
    *,
    unique_key: str | None = None,
) -> None:
    """Check a mapping against the file's headers and the tenant's custom fields.

    Problems (all reported at once): a mapped column that is not in the file; a target that is not a
    lead field, built-in field or one of the tenant's custom fields; two columns on one single-valued
    target; no identity column (email, phone, name, first_name or last_name, or the ``unique_key``
    custom field when one is given: X Education's ``Prospect ID`` has no email); a required custom
    field of the tenant left unmapped; a ``unique_key`` (``email``, ``phone`` or ``custom:<key>``) that
    no column feeds.

    Raises:
        InvalidMappingError (422): ``details`` lists ``{"field": <header or target>, "problem": ...}``.
    """
    known_headers = set(headers)
    own = {d.key: d for d in custom_fields if not d.builtin and d.key not in BUILTIN_KEYS}
    problems: list[dict[str, str]] = []
    for header in mapping.columns:
        if header not in known_headers:
            problems.append({"field": header, "problem": "no column with this header in the file"})
    fed: dict[str, list[str]] = {}
    for header, target in mapping.columns.items():
        if target is None:
            continue
        fed.setdefault(target, []).append(header)
        if target.startswith(CUSTOM_PREFIX) and target[len(CUSTOM_PREFIX) :] not in own:
            problems.append({"field": header, "problem": f"{target}: the tenant has no such custom field"})
    for target, sources in fed.items():
        if len(sources) > 1 and target not in MULTI_VALUED:
            problems.append(
                {"field": target, "problem": f"several columns map to {target}: {', '.join(sources)}"}
            )
    unique = canonical_target(unique_key) if unique_key else None
    identities = [t for t in IDENTITY_TARGETS if t in fed]
    if not identities and not (unique and unique.startswith(CUSTOM_PREFIX) and unique in fed):
        problems.append(
            {"field": "mapping", "problem": "map a column to email, phone or a name (or to the unique key)"}
        )
    if unique and unique not in fed:
        problems.append({"field": "unique_key", "problem": f"no column maps to the unique key {unique}"})
    for key, definition in own.items():
        if definition.required and CUSTOM_PREFIX + key not in fed:
            problems.append(
                {
                    "field": CUSTOM_PREFIX + key,
                    "problem": f"custom field '{key}' is required: map a column to it",
                }
            )
    if problems:
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InvalidMappingError(f"the column mapping cannot be used: {summary}{more}", details=problems)


def slugify(header: str) -> str:
    """A custom field key from a header: ``"Lead Quality"`` -> ``"lead_quality"`` (``KEY_PATTERN``)."""
    slug = normalize_header(header).replace(" ", "_")[:40].strip("_") or "field"
    if not slug[0].isalpha():
        slug = ("f_" + slug)[:40]
    return slug


_EMAILISH = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_URLISH = re.compile(r"^(https?://)?[\w-]+(\.[\w-]+)+(/\S*)?$", re.IGNORECASE)
_PHONEISH = re.compile(r"^\+?[\d\s().-]{7,20}$")


def suggest_custom_field(
    header: str, sample_values: Sequence[str], *, null_values: Iterable[str] = ()
) -> CustomFieldDefinition:
    """A custom field definition for an unmapped column, its type inferred from sample values.

    Every non-empty sample must fit a type for it to be chosen, in this order: checkbox, number, date,
    email, url, phone; then dropdown when there are at least 10 samples with at most 20 distinct values
    repeating (distinct <= half the samples), else text. ``null_values`` (e.g. ``["Select"]``) are
    ignored.
    """
    nulls = set(null_values)
    values = [v.strip() for v in sample_values if v and v.strip() and v.strip() not in nulls]
    key, label = slugify(header), (header.strip() or "Field")[:100]
    kind = CustomFieldType.TEXT
    options: list[str] | None = None

    def every(test: Any) -> bool:
        return bool(values) and all(test(v) for v in values)

    if every(lambda v: parse_checkbox(v) is not None and v.lower() not in ("0", "1")) or (
        every(lambda v: v in ("0", "1")) and len(set(values)) == 2
    ):
        kind = CustomFieldType.CHECKBOX
    elif every(lambda v: parse_number(v) is not None):
        kind = CustomFieldType.NUMBER
    elif every(lambda v: parse_date(v) is not None):
        kind = CustomFieldType.DATE
    elif every(lambda v: _EMAILISH.match(v) is not None):
        kind = CustomFieldType.EMAIL
    elif every(lambda v: _URLISH.match(v) is not None and "." in v):
        kind = CustomFieldType.URL
    elif every(lambda v: _PHONEISH.match(v) is not None and sum(c.isdigit() for c in v) >= 7):
        kind = CustomFieldType.PHONE
    else:
        distinct = list(dict.fromkeys(values))
        folded = {v.casefold() for v in distinct}
        repeating = len(values) >= 10 and len(distinct) <= 20 and len(distinct) * 2 <= len(values)
        if (
            repeating
            and len(folded) == len(distinct)
            and all(len(v) <= 100 and ";" not in v for v in distinct)
        ):
            kind = CustomFieldType.DROPDOWN
            options = sorted(distinct, key=str.casefold)
    return CustomFieldDefinition(key=key, label=label, type=kind, options=options)
