"""The fields a condition may read, their value types and the operators each type accepts.

A condition reads a *lead record*: a mapping shaped like the stored lead profile item (attribute name ->
value; see ``leadtide.dal.items.LeadItem``). Four kinds of field:

* lead fields, by their attribute name (``status``, ``score``, ``tags``, ``last_activity_at`` ...);
* custom fields, ``custom.<key>``, read from the record's ``custom_fields`` mapping; their type comes from
  the tenant's custom-field definitions (``field_types``: key -> type name) when the caller has them;
* ``lists``: static-list membership, read from the record's ``list_ids`` set;
* activity by behaviour event type: ``activity.<event_type>`` (datetime: when the lead last did it) and
  ``activity_count.<event_type>`` (number: how many times ever, 0 when never), read from the record's
  ``last_engaged`` / ``engaged_counts`` maps.

Activity ("replied in the last 14 days") is expressed over those per-type maps, e.g. ``{"field":
"activity.email_replied", "op": "within_last", "value": {"days": 14}}``, ``{"field":
"activity.meeting_booked", "op": "is_not_empty"}`` ("ever booked a meeting") or ``{"field":
"activity_count.email_opened", "op": "gte", "value": 3}``; any activity at all is ``last_activity_at``.
The maps are denormalised onto the lead profile from its engagement record (the behaviour occurrences
of tracked events and captured messages) by every writer of that record (``leadtide.dal.engagement``),
so every condition still evaluates from the lead record alone, which is what makes one read per lead
event (and a projected Query for a preview) enough.

=================================  =========  =========================================================
field                              type       read from
=================================  =========  =========================================================
``<lead field>``                   per field  the attribute of the same name (:data:`LEAD_FIELDS`)
``custom.<key>``                   per field  ``custom_fields[<key>]``, typed by the tenant's definitions
``lists``                          lists      ``list_ids``
``activity.<event_type>``          datetime   ``last_engaged[<event_type>]`` (ISO-8601 instant)
``activity_count.<event_type>``    number     ``engaged_counts[<event_type>]`` (absent: 0)
=================================  =========  =========================================================

Event types: the built-in behaviour types (``leadtide.models.scoring.BUILTIN_EVENT_TYPES``: email_opened,
email_clicked, email_replied, form_submitted, page_viewed, content_downloaded, meeting_booked,
whatsapp_message, instagram_message, and the message-intent types ``intent.pricing`` ...
``intent.negative.too_expensive`` recorded from what inbound messages say) or any custom type the tracking API accepts
(``leadtide.models.scoring.EVENT_TYPE_PATTERN``: lower-case letters, digits, ``_`` and ``.``,
starting with a letter, at most 64 characters).
"""

from __future__ import annotations

from enum import StrEnum

from leadtide.models.common import ChannelType, Grade, LeadStatus


class FieldType(StrEnum):
    """Value types of condition fields."""

    TEXT = "text"  # free text, matched case-insensitively
    KEYWORD = "keyword"  # one value from a set (status, source, grade, owner, single-select)
    NUMBER = "number"
    DATETIME = "datetime"  # aware UTC instants (naive values are read as UTC)
    BOOLEAN = "boolean"
    TAGS = "tags"  # a set of strings (tags, multi-select), matched case-insensitively
    LISTS = "lists"  # static-list membership (list ids)
    ANY = "any"  # a custom field whose type is not known: every operator, values compared as found


class Op(StrEnum):
    """Condition operators. Each negative operator is exactly the negation of its positive partner
    (:data:`NEGATION`), including on a missing value: ``neq`` is true when the field is empty."""

    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    BEFORE = "before"
    AFTER = "after"
    WITHIN_LAST = "within_last"
    NOT_WITHIN_LAST = "not_within_last"
    HAS_ANY = "has_any"
    HAS_ALL = "has_all"
    HAS_NONE = "has_none"


NEGATION: dict[Op, Op] = {
    Op.NEQ: Op.EQ,
    Op.NOT_IN: Op.IN,
    Op.NOT_CONTAINS: Op.CONTAINS,
    Op.IS_NOT_EMPTY: Op.IS_EMPTY,
    Op.NOT_WITHIN_LAST: Op.WITHIN_LAST,
    Op.HAS_NONE: Op.HAS_ANY,
}
"""negative operator -> the positive operator it negates."""

_EMPTINESS = {Op.IS_EMPTY, Op.IS_NOT_EMPTY}

OPS_BY_TYPE: dict[FieldType, frozenset[Op]] = {
    FieldType.TEXT: frozenset(
        {
            Op.EQ,
            Op.NEQ,
            Op.IN,
            Op.NOT_IN,
            Op.CONTAINS,
            Op.NOT_CONTAINS,
            Op.STARTS_WITH,
            Op.ENDS_WITH,
            *_EMPTINESS,
        }
    ),
    FieldType.KEYWORD: frozenset({Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, *_EMPTINESS}),
    FieldType.NUMBER: frozenset(
        {Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, *_EMPTINESS}
    ),
    FieldType.DATETIME: frozenset(
        {Op.BEFORE, Op.AFTER, Op.BETWEEN, Op.WITHIN_LAST, Op.NOT_WITHIN_LAST, *_EMPTINESS}
    ),
    FieldType.BOOLEAN: frozenset({Op.EQ, Op.NEQ, *_EMPTINESS}),
    FieldType.TAGS: frozenset({Op.HAS_ANY, Op.HAS_ALL, Op.HAS_NONE, *_EMPTINESS}),
    FieldType.LISTS: frozenset({Op.IN, Op.NOT_IN}),
    FieldType.ANY: frozenset(Op),
}
"""The operators each field type accepts (anything else is a 422 naming the node)."""

LEAD_FIELDS: dict[str, FieldType] = {
    "name": FieldType.TEXT,
    "first_name": FieldType.TEXT,
    "last_name": FieldType.TEXT,
    "email": FieldType.TEXT,
    "phone": FieldType.TEXT,
    "instagram_id": FieldType.TEXT,
    "company": FieldType.TEXT,
    "job_title": FieldType.TEXT,
    "last_message_preview": FieldType.TEXT,
    "status": FieldType.KEYWORD,
    "source_channel": FieldType.KEYWORD,
    "owner_id": FieldType.KEYWORD,
    "grade": FieldType.KEYWORD,
    "score": FieldType.NUMBER,
    "message_count": FieldType.NUMBER,
    "tags": FieldType.TAGS,
    "created_at": FieldType.DATETIME,
    "updated_at": FieldType.DATETIME,
    "last_activity_at": FieldType.DATETIME,
    "scored_at": FieldType.DATETIME,
}
"""Lead fields by stored attribute name."""

KEYWORD_VALUES: dict[str, frozenset[str]] = {
    "status": frozenset(s.value for s in LeadStatus),
    "source_channel": frozenset(c.value for c in ChannelType),
    "grade": frozenset(g.value for g in Grade),
}
"""Closed value sets of keyword lead fields (values are checked against them, case-insensitively)."""

LISTS_FIELD = "lists"
CUSTOM_PREFIX = "custom."
CUSTOM_FIELDS_ATTRIBUTE = "custom_fields"
LIST_IDS_ATTRIBUTE = "list_ids"
ACTIVITY_PREFIX = "activity."
ACTIVITY_COUNT_PREFIX = "activity_count."
LAST_ENGAGED_ATTRIBUTE = "last_engaged"
ENGAGED_COUNTS_ATTRIBUTE = "engaged_counts"

# Custom-field definition types (leadtide.customfields) -> condition field types. Unknown names: ANY.
CUSTOM_TYPE_MAP: dict[str, FieldType] = {
    "text": FieldType.TEXT,
    "string": FieldType.TEXT,
    "textarea": FieldType.TEXT,
    "long_text": FieldType.TEXT,
    "email": FieldType.TEXT,
    "phone": FieldType.TEXT,
    "url": FieldType.TEXT,
    "number": FieldType.NUMBER,
    "integer": FieldType.NUMBER,
    "decimal": FieldType.NUMBER,
    "currency": FieldType.NUMBER,
    "date": FieldType.DATETIME,
    "datetime": FieldType.DATETIME,
    "boolean": FieldType.BOOLEAN,
    "checkbox": FieldType.BOOLEAN,
    "select": FieldType.KEYWORD,
    "single_select": FieldType.KEYWORD,
    "dropdown": FieldType.KEYWORD,
    "enum": FieldType.KEYWORD,
    "multi_select": FieldType.TAGS,
    "multiselect": FieldType.TAGS,
    "multi_select_list": FieldType.TAGS,
    "tags": FieldType.TAGS,
}


def storage_attribute(field: str) -> str:
    """The lead-record attribute a field is read from (``custom.x`` -> ``custom_fields``,
    ``lists`` -> ``list_ids``, ``activity.x`` -> ``last_engaged``, ``activity_count.x`` ->
    ``engaged_counts``, a lead field -> itself)."""
    if field.startswith(CUSTOM_PREFIX):
        return CUSTOM_FIELDS_ATTRIBUTE
    if field.startswith(ACTIVITY_PREFIX):
        return LAST_ENGAGED_ATTRIBUTE
    if field.startswith(ACTIVITY_COUNT_PREFIX):
        return ENGAGED_COUNTS_ATTRIBUTE
    if field == LISTS_FIELD:
        return LIST_IDS_ATTRIBUTE
    return field
