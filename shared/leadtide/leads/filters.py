"""The inbox filters (:class:`~leadtide.models.selection.LeadFilter`) as a repository query.

One translation serves every reader of leads by filter: the inbox (``GET /leads``), selections (exports,
bulk actions) and static lists' adds by filter, so a filter selects the same leads everywhere.

* status, source, owner, grade, creation and last-activity ranges, search text: repository conditions
  (DynamoDB key and filter expressions, see ``leadtide.dal.leads``);
* ``tag`` and ``custom_field``: a rule tree of the condition language (:mod:`leadtide.conditions`, the
  one segments and automations use), compiled against the tenant's custom field types and evaluated on
  each profile the query reads.

How a ``custom_field`` value compares, by the field's type (the value is first read as the field reads
input, :meth:`~leadtide.customfields.models.CustomFieldDefinition.coerce`: ``"1,200"`` is 1200 for a
number, ``yes`` is true for a checkbox, ``pro`` is ``Pro`` for a dropdown with that option):

================================  =============================================================
type                              a lead matches when its value ...
================================  =============================================================
text, url, email, phone           equals it, case-insensitively (``eq``)
number, checkbox                  equals it (``eq``)
dropdown                          is that option (``eq``, case-insensitive)
date                              is that day (``between [day, day]``)
multi_select                      holds any of the options given (``has_any``; ``a;b`` gives two)
(empty value, or null in JSON)    is empty: the lead has no value (``is_empty``)
================================  =============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from leadtide.conditions import ConditionError, Node, parse_condition
from leadtide.conditions.language import CompiledCondition, Group
from leadtide.models.auth import Principal
from leadtide.models.common import utc_now
from leadtide.models.errors import UnprocessableError
from leadtide.models.leads import LeadQuery, SortField
from leadtide.models.selection import LeadFilter

if TYPE_CHECKING:
    from leadtide.customfields.service import CustomFieldService

_OP_BY_TYPE = {"date": "between", "multi_select": "has_any"}


def custom_field_parameter(key: str) -> str:
    """How errors name the filter on custom field ``key``: ``custom_field[<key>]`` (the query parameter)."""
    return f"custom_field[{key}]"


def lead_query(
    principal: Principal,
    lead_filter: LeadFilter,
    *,
    custom_fields: CustomFieldService | None = None,
    sort: SortField = "created",
    descending: bool = True,
    limit: int = 25,
    cursor: str | None = None,
) -> LeadQuery:
    """The repository query of ``lead_filter`` for ``principal``: ``owner="me"`` means the caller, and reps
    are restricted to their own and unassigned leads (the inbox rule).

    Args:
        custom_fields: the custom field service whose definitions type ``custom_field`` values (default:
            the process-wide one, read only when the filter has custom fields).
        sort, descending, limit, cursor: order and page (``limit`` leads per page; ``cursor`` the
            ``next_cursor`` of the previous page of the same query).

    Raises:
        UnprocessableError (422): a custom field filter names an unknown field or a value the field cannot
            hold (``details`` name ``custom_field[<key>]``), or a range is reversed.
    """
    q = lead_filter.q.strip() if lead_filter.q else None
    return LeadQuery(
        status=lead_filter.status.value if lead_filter.status else None,
        source_channel=lead_filter.source.value if lead_filter.source else None,
        owner_id=principal.user_id if lead_filter.owner == "me" else lead_filter.owner,
        grade=lead_filter.grade.value if lead_filter.grade else None,
        created_from=lead_filter.created_from,
        created_to=lead_filter.created_to,
        last_activity_from=lead_filter.last_activity_from,
        last_activity_to=lead_filter.last_activity_to,
        search=q or None,
        condition=filter_condition(principal.tenant_id, lead_filter, custom_fields=custom_fields),
        sort=sort,
        descending=descending,
        limit=limit,
        cursor=cursor,
        visible_to=principal.visible_to,
    )


def filter_condition(
    tenant_id: str, lead_filter: LeadFilter, *, custom_fields: CustomFieldService | None = None
) -> CompiledCondition | None:
    """The compiled condition of the filter's ``tag`` and ``custom_field`` parts (None when it has neither):
    ``{"all": [{"field": "tags", "op": "has_any", "value": tags}, {"field": "custom.<key>", ...}, ...]}``.

    Raises:
        UnprocessableError (422): as :func:`lead_query`.
    """
    nodes: list[Node] = []
    if lead_filter.tag:
        nodes.append(_leaf({"field": "tags", "op": "has_any", "value": list(lead_filter.tag)}, "tag", None))
    if lead_filter.custom_field:
        nodes += _custom_field_nodes(tenant_id, lead_filter.custom_field, custom_fields)
    if not nodes:
        return None
    node = nodes[0] if len(nodes) == 1 else Group("filter", "all", tuple(nodes))
    return CompiledCondition(node, utc_now())


def _custom_field_nodes(
    tenant_id: str, wanted: Mapping[str, Any], custom_fields: CustomFieldService | None
) -> list[Node]:
    if custom_fields is None:
        raise RuntimeError("a custom_field filter needs the custom field service (a wiring mistake)")
    definitions = custom_fields.definitions_by_key(tenant_id)
    unknown = sorted(key for key in wanted if key not in definitions)
    if unknown:
        names = ", ".join(custom_field_parameter(key) for key in unknown)
        raise UnprocessableError(
            f"unknown custom field in {names}",
            details=[
                {"field": custom_field_parameter(key), "problem": "no custom field with this key"}
                for key in unknown
            ],
        )
    given = {key: raw for key, raw in wanted.items() if not _is_empty(raw)}
    try:
        values = custom_fields.validate_values(tenant_id, given, partial=True) if given else {}
    except UnprocessableError as err:
        details = [_renamed(detail) for detail in err.details]
        names = ", ".join(str(d.get("field")) for d in details)
        raise UnprocessableError(
            f"invalid value for {names}: " + "; ".join(str(d.get("problem")) for d in details[:3]),
            details=details,
        ) from None
    types = {key: str(definitions[key].type) for key in wanted}
    nodes: list[Node] = []
    for key in sorted(wanted):
        field = f"custom.{key}"
        if key not in given:
            rule: dict[str, Any] = {"field": field, "op": "is_empty"}
        else:
            value = values[key]
            op = _OP_BY_TYPE.get(types[key], "eq")
            rule = {"field": field, "op": op, "value": [value, value] if op == "between" else value}
        nodes.append(_leaf(rule, custom_field_parameter(key), types))
    return nodes


def _leaf(rule: dict[str, Any], name: str, field_types: Mapping[str, str] | None) -> Node:
    """One validated rule; a value the condition language refuses (e.g. longer than its 500 characters)
    is a 422 naming the filter parameter."""
    try:
        return parse_condition(rule, field_types=field_types, path=name)
    except ConditionError as err:
        problem = "; ".join(str(d.get("problem")) for d in err.details) or err.message
        raise UnprocessableError(
            f"invalid value for {name}: {problem}", details=[{"field": name, "problem": problem}]
        ) from None


def _renamed(detail: Mapping[str, Any]) -> dict[str, Any]:
    field = str(detail.get("field") or "")
    key = field.removeprefix("custom_fields.")
    return {**detail, "field": custom_field_parameter(key) if key != field else field}


def _is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())
