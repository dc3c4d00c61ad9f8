"""Column mapping of an import: which file column feeds which lead field.

Targets (:data:`TARGETS`):

- Lead attributes: ``first_name, last_name, name, email, phone, company, job_title, status, tags``.
- Built-in custom fields (stored in ``lead.custom_fields`` under the same key, defined for every tenant;
  see ``leadtide.customfields.models.BUILTIN_FIELDS``): ``lead_source, country, city, address, website,
  notes, owner_email``. ``source`` and ``custom:<built-in key>`` are accepted as aliases.
- ``custom:<key>``: one of the tenant's own custom fields.
- ``None``: the column is ignored.

``tags`` and ``notes`` may be fed by several columns (values are merged); every other target by one.

:func:`propose_mapping` recognises real CRM exports by their headers: Salesforce (API names such as
``FirstName``, ``LeadSource``, ``OwnerId``, ``Address`` as JSON, custom ``*__c`` fields), HubSpot
(``Email Address``, ``Contact owner``, ``Lead Status``), Mailchimp (``MEMBER_RATING``, ``OPTIN_TIME``,
``CC``), Zoho CRM (``Lead Owner``, ``Lead Source``, ``Mobile``, ``LEADID``), Pipedrive
(``Person - Email - Work``, ``Organization - Name``) and the X Education lead-scoring data
(``Prospect ID``, ``Lead Origin``, ``TotalVisits``). Headers are normalised (accents, case, camelCase,
punctuation, the Salesforce ``__c`` suffix, the Pipedrive ``Person -`` prefix), looked up in a synonym
table, then matched to the tenant's custom fields by key or label, then fuzzily (rapidfuzz
``fuzz.ratio`` >= 88 on headers of 6+ characters) against both.

Sources: Salesforce Lead object reference (developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
object_reference/sforce_api_objects_lead.htm); HubSpot default contact properties; Mailchimp audience
export columns; Zoho CRM Leads module fields; Pipedrive export column naming; the real files in
``../shared/data/crm_exports`` and ``../shared/data/xeducation_leads.csv``.
"""

from __future__ import annotations

import re
import unicodedata
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
from leadtide.models.errors import UnprocessableError

LEAD_TARGETS = ("first_name", "last_name", "name", "email", "phone", "company", "job_title", "status", "tags")
"""Targets that are attributes of :class:`leadtide.models.leads.Lead`."""
EXTRA_TARGETS = ("lead_source", "country", "city", "address", "website", "notes", "owner_email")
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
    file seems to come from, and cell values that mean "empty" in that source (X Education's ``Select``)."""

    mapping: FieldMapping
    confidence: dict[str, float]
    detected_source: str | None = None
    null_values: list[str] = Field(default_factory=list)


def normalize_header(header: str) -> str:
    """Comparable form of a header: ``"FirstName"`` -> ``"first name"``, ``"Person - Email - Work"`` ->
    ``"person email work"``, ``"Gender__c"`` -> ``"gender"``, ``"MEMBER_RATING"`` -> ``"member rating"``."""
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode("ascii").strip()
    text = re.sub(r"__c$", "", text)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    text = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


# normalised header -> (target, confidence). None targets are known columns that map to nothing.
_SYNONYMS: dict[str, tuple[str | None, float]] = {}


def _add(target: str | None, confidence: float, *phrases: str) -> None:
    for phrase in phrases:
        _SYNONYMS[normalize_header(phrase)] = (target, confidence)


_add("email", 1.0, "email", "e-mail", "email address", "e-mail address", "emailaddress", "mail", "email id")
_add("email", 0.95, "primary email", "work email", "business email", "person email", "person email work")
_add("email", 0.9, "email 1", "contact email", "lead email", "emial", "emal", "e-mial")
_add("email", 0.85, "person email home", "home email", "personal email", "person email other")
_add("phone", 1.0, "phone", "phone number", "telephone", "telephone number", "tel", "phone no")
_add("phone", 0.95, "mobile", "mobile phone", "mobile number", "cell", "cell phone", "cellphone")
_add("phone", 0.95, "person phone", "person phone work", "person phone mobile", "whatsapp", "whatsapp number")
_add("phone", 0.9, "work phone", "business phone", "contact number", "phone 1", "direct phone")
_add("phone", 0.8, "home phone", "person phone home", "person phone other", "other phone")
_add("first_name", 1.0, "first name", "firstname", "given name", "forename", "fname", "person first name")
_add("last_name", 1.0, "last name", "lastname", "surname", "family name", "lname", "person last name")
_add("name", 1.0, "name", "full name", "contact name", "lead name", "person name", "display name")
_add("name", 0.8, "contact", "prospect name")
_add("company", 1.0, "company", "company name", "organization", "organisation", "organization name")
_add("company", 0.95, "organisation name", "account name", "business name", "employer")
_add("company", 0.9, "associated company", "account", "org", "firm")
_add("job_title", 1.0, "job title", "title", "jobtitle", "position", "designation", "person job title")
_add("job_title", 0.9, "role", "job role", "job position")
_add("status", 1.0, "status", "lead status", "contact status", "person lead status")
_add("lead_source", 1.0, "lead source", "source", "leadsource", "original source")
_add("lead_source", 0.9, "lead source detail", "original source type", "utm source", "referral source")
_add("tags", 1.0, "tags", "tag", "labels", "label", "person labels", "lead labels")
_add("notes", 1.0, "notes", "note", "description", "comments", "comment", "remarks")
_add("country", 1.0, "country", "country region", "mailing country", "country name")
_add("country", 0.8, "cc", "country code", "billing country", "geo country")
_add("city", 1.0, "city", "town", "mailing city", "city town")
_add("city", 0.8, "billing city")
_add("address", 1.0, "address", "street address", "full address", "mailing address", "postal address")
_add("website", 1.0, "website", "web site", "company website", "homepage", "home page", "url", "web")
_add("website", 0.9, "company domain name", "domain", "website url")
_add("owner_email", 1.0, "owner", "owner email", "lead owner", "contact owner", "record owner", "owner id")
_add("owner_email", 0.95, "person owner", "lead owner email", "assigned to", "hubspot owner")
_add("owner_email", 0.9, "sales rep", "sales owner", "account owner")
# Known columns that must not be fuzzily matched to a near-looking target (county ~ country, ...).
_add(
    None,
    1.0,
    "county",
    "state",
    "state region",
    "region",
    "province",
    "street",
    "postal code",
    "zip",
    "zip code",
    "postcode",
    "industry",
    "rating",
    "lead number",
    "lead origin",
    "lead title",
    "id",
    "record id",
    "prospect id",
    "leadid",
    "lead id",
    "created time",
    "created date",
    "create date",
    "modified time",
    "last modified date",
    "last activity",
    "last activity date",
    "lifecycle stage",
    "converted",
    "is converted",
    "salutation",
    "latitude",
    "longitude",
    "timezone",
    "member rating",
    "optin time",
    "confirm time",
    "lead quality",
)

# Headers that identify a source: (source, header set, weight of each hit). A source needs >= 2 hits.
_SIGNATURES: dict[str, frozenset[str]] = {
    "salesforce": frozenset(
        normalize_header(h)
        for h in (
            "IsDeleted",
            "MasterRecordId",
            "LeadSource",
            "IsConverted",
            "OwnerId",
            "SystemModstamp",
            "CreatedById",
            "LastModifiedById",
            "IsUnreadByOwner",
            "ConvertedAccountId",
            "Jigsaw",
            "PhotoUrl",
            "GeocodeAccuracy",
        )
    ),
    "hubspot": frozenset(
        normalize_header(h)
        for h in (
            "Record ID",
            "Contact owner",
            "Lifecycle Stage",
            "Marketing contact status",
            "Associated Company",
            "Primary Associated Company ID",
            "Last Activity Date",
            "Create Date",
            "HubSpot Owner",
        )
    ),
    "mailchimp": frozenset(
        normalize_header(h)
        for h in (
            "MEMBER_RATING",
            "OPTIN_TIME",
            "OPTIN_IP",
            "CONFIRM_TIME",
            "CONFIRM_IP",
            "GMTOFF",
            "DSTOFF",
            "LEID",
            "EUID",
            "LAST_CHANGED",
        )
    ),
    "zoho": frozenset(
        normalize_header(h)
        for h in (
            "Lead Owner",
            "LEADID",
            "Created Time",
            "Modified Time",
            "No of Employees",
            "Annual Revenue",
            "Lead Conversion Time",
            "Created By",
            "Modified By",
        )
    ),
    "xeducation": frozenset(
        normalize_header(h)
        for h in (
            "Prospect ID",
            "Lead Number",
            "Lead Origin",
            "TotalVisits",
            "Total Time Spent on Website",
            "Page Views Per Visit",
            "Last Notable Activity",
            "Asymmetrique Activity Index",
            "What is your current occupation",
            "A free copy of Mastering The Interview",
        )
    ),
}
_SOURCE_NULLS = {"xeducation": ["Select"]}
_PIPEDRIVE_PREFIX = re.compile(r"^\s*(person|organization|organisation|lead|deal)\s+-\s+", re.IGNORECASE)


def detect_source(headers: Sequence[str]) -> str | None:
    """The CRM a header row comes from (``salesforce``, ``hubspot``, ``mailchimp``, ``zoho``, ``pipedrive``,
    ``xeducation``) when at least two of its characteristic columns are present, else None."""
    if sum(1 for h in headers if _PIPEDRIVE_PREFIX.match(h)) >= 2:
        return "pipedrive"
    normalized = {normalize_header(h) for h in headers}
    hits = {source: len(normalized & signature) for source, signature in _SIGNATURES.items()}
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


def _match(header: str, custom: dict[str, str]) -> tuple[str | None, float]:
    norm = normalize_header(header)
    if not norm:
        return None, 0.0
    stripped = normalize_header(_PIPEDRIVE_PREFIX.sub("", header))
    for candidate in dict.fromkeys((norm, stripped)):
        hit = _SYNONYMS.get(candidate)
        if hit is not None and hit[0] is not None:  # a synonym of a lead or built-in field
            return hit
        if candidate in custom:  # the tenant's own field, by key or label
            return custom[candidate], 0.99
        if hit is not None:  # a known column that maps to nothing
            return None, 0.0
    if len(norm) < FUZZY_MIN_LENGTH:
        return None, 0.0
    from rapidfuzz import fuzz, process

    choices = {**{k: v[0] for k, v in _SYNONYMS.items()}, **custom}
    found = process.extractOne(norm, list(choices), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    if found is None:
        return None, 0.0
    target = choices[found[0]]
    return (target, round(found[1] / 100 * 0.9, 3)) if target else (None, 0.0)


def propose_mapping(
    headers: Sequence[str], custom_fields: Sequence[CustomFieldDefinition]
) -> MappingProposal:
    """Suggest a mapping for a header row (see the module docstring).

    When several columns would feed one single-valued target, the most confident keeps it (ties: the
    leftmost) and the others are left unmapped. Unmapped columns have no ``confidence`` entry.
    """
    custom = _custom_index(custom_fields)
    matches = [(header, *_match(header, custom)) for header in headers]
    columns: dict[str, str | None] = {header: None for header in headers}
    confidence: dict[str, float] = {}
    taken: dict[str, float] = {}
    order = sorted(range(len(matches)), key=lambda i: (-matches[i][2], i))
    for i in order:
        header, target, score = matches[i]
        if target is None or score <= 0:
            continue
        if target not in MULTI_VALUED and target in taken:
            continue
        taken[target] = score
        columns[header] = target
        confidence[header] = score
    source = detect_source(headers)
    return MappingProposal(
        mapping=FieldMapping(columns=columns),
        confidence=confidence,
        detected_source=source,
        null_values=list(_SOURCE_NULLS.get(source or "", [])),
    )


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
