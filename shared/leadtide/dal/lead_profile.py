"""How a lead is stored in the leads table, apart from the repository that reads and writes it
(:mod:`leadtide.dal.leads`): the profile item's values and keys (:func:`lead_item_values`, shared with the
import encoder), the identity entries a profile owns, the last-activity conditional max every writer uses,
the sort keys, and the item -> entity mapping. Item layout: :mod:`leadtide.dal.items` and
docs/data-model.md."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from leadtide.dal.errors import condition_failed
from leadtide.dal.items import ActivityItem, LeadItem, lead_pk, tenant_list_pk
from leadtide.models.common import IdentityKind, iso
from leadtide.models.leads import Activity, Lead

PROFILE = "PROFILE"
"""Sort key of a lead's profile item (its partition ``T#<tenant>#L#<lead>`` holds the timeline too)."""
UNSCORED_SK = "-01"
"""Score part of the by-score sort key of a lead without a score (sorts before ``000``)."""
_SEARCHED_FIELDS = ("name", "first_name", "last_name", "email", "phone", "company", "instagram_id")
# An identity item naming a lead without a profile is free to claim only once its ``claimed_at`` (set by
# imports, which claim identities before writing the profiles) is this old: at least the Jobs worker's
# 900 s timeout, so a chunk still writing keeps its keys. Items without ``claimed_at`` are free at once.
STALE_CLAIM_SECONDS = 1800


def stale_claim_cutoff(now: float | None = None) -> int:
    """Epoch seconds before which an identity item's ``claimed_at`` no longer protects it."""
    return int(time.time() if now is None else now) - STALE_CLAIM_SECONDS


def search_text(values: dict[str, Any]) -> str:
    """The lower-cased text ``GET /leads?q=`` matches against (name, email, phone, company, ...)."""
    return " ".join(str(values[f]).lower() for f in _SEARCHED_FIELDS if values.get(f))


def score_sort_key(score: int | None, lead_id: str) -> str:
    """Sort key of the by-score index: zero-padded score, unscored leads first (``-01``)."""
    return f"{UNSCORED_SK if score is None else f'{score:03d}'}#{lead_id}"


def profile_keys(lead: Any, values: dict[str, Any], *, to_iso: Callable[[Any], str] = iso) -> dict[str, Any]:
    """The keys and index attributes a lead profile item carries besides the lead's fields: ``pk``/``sk``,
    the three inbox GSIs' ``list_pk`` + ``created_sk``/``activity_sk``/``score_sk``, ``search_text`` (from
    ``values``, the lead's fields) and the condition index's ``cond_pk``/``cond_sk``. ``to_iso``: the
    timestamp formatter (the import encoder passes a cached :func:`~leadtide.models.common.iso`)."""
    lead_id, tenant_id = lead.lead_id, lead.tenant_id
    return {
        "pk": lead_pk(tenant_id, lead_id),
        "sk": PROFILE,
        "list_pk": tenant_list_pk(tenant_id),
        "created_sk": f"{to_iso(lead.created_at)}#{lead_id}",
        "activity_sk": f"{to_iso(lead.last_activity_at)}#{lead_id}",
        "score_sk": score_sort_key(lead.score, lead_id),
        "search_text": search_text(values) or " ",
        **LeadItem.condition_keys(tenant_id, lead_id),  # leads_by_condition_shard (segments)
    }


def lead_item_values(lead: Lead) -> dict[str, Any]:
    """Every attribute value of ``lead``'s profile item (``LeadItem``): its fields as stored (nested models
    as JSON-ready dicts, enums as text, ``None`` left out) plus :func:`profile_keys`. The one definition
    of a stored profile: the lead API and the import encoder both build from it."""
    values = lead.model_dump(mode="python", exclude_none=True)
    values["referral"] = lead.referral.model_dump(mode="json", exclude_none=True) if lead.referral else None
    values["score_breakdown"] = [f.model_dump(mode="json") for f in lead.score_breakdown]
    values["source_channel"] = str(lead.source_channel)
    values["status"] = str(lead.status)
    if lead.grade:
        values["grade"] = str(lead.grade)
    values.update(profile_keys(lead, values))
    return {k: v for k, v in values.items() if v is not None}


def last_activity_actions(lead_id: str, at: datetime) -> list[Action]:
    """The update actions that move a lead's last activity to ``at``: ``last_activity_at`` and the inbox's
    ``activity_sk`` (``<iso>#<lead id>``, the ``leads_by_activity`` sort key). Always paired with
    :func:`last_activity_advances` as the condition: together they are the one conditional max every
    path uses (captured messages both ways, tracked events, merges), so the clock never moves back.
    What counts as activity: docs/data-model.md ("Last activity")."""
    return [LeadItem.last_activity_at.set(at), LeadItem.activity_sk.set(f"{iso(at)}#{lead_id}")]


def last_activity_advances(at: datetime) -> Condition:
    """Condition under which :func:`last_activity_actions` may write ``at``: the stored last activity is
    absent or not later than ``at`` (DynamoDB has no ``max()``, so the max is this condition), and ``at``
    is not before the lead's ``created_at`` (an interaction older than the lead - an email open replayed
    for a contact imported later - joins the timeline but leaves the clock at creation). Both timestamps
    are ``UTCDateTimeAttribute`` text of one fixed width, so the string comparison is chronological."""
    return (LeadItem.last_activity_at.does_not_exist() | (LeadItem.last_activity_at <= at)) & (
        LeadItem.created_at.does_not_exist() | (LeadItem.created_at <= at)
    )


def touch_last_activity(tenant_id: str, lead_id: str, at: datetime) -> bool:
    """Move the lead's last activity forward to ``at`` in one conditional UpdateItem
    (:func:`last_activity_actions` on :func:`last_activity_advances`). Returns whether it moved: False
    when the clock is already later, ``at`` predates the lead, or the lead is gone (no error: the
    interaction is stored either way)."""
    try:
        LeadItem(lead_pk(tenant_id, lead_id), PROFILE).update(
            actions=last_activity_actions(lead_id, at),
            condition=LeadItem.pk.exists() & last_activity_advances(at),
        )
    except UpdateError as err:
        if not condition_failed(err):
            raise
        return False
    return True


def activity_sort_key(activity: Activity) -> str:
    """Sort key of a timeline entry: chronological, unique by activity id."""
    return f"A#{iso(activity.occurred_at)}#{activity.activity_id}"


def lead_identities(lead: Lead) -> list[tuple[IdentityKind, str]]:
    """The identity keys a lead owns, from its stored (already normalised) contact fields."""
    keys: list[tuple[IdentityKind, str]] = []
    if lead.phone:
        keys.append(("phone", lead.phone))
    if lead.email:
        keys.append(("email", lead.email))
    if lead.instagram_id:
        keys.append(("instagram", lead.instagram_id))
    return keys


def identity_entry(kind: str, value: str) -> str:
    """A profile's ``identity_keys`` entry for an identity key: ``<kind>#<value>`` (as in the identity
    item's key; kinds - ``email``, ``phone``, ``instagram``, ``custom:<slug>`` - never contain ``#``)."""
    return f"{kind}#{value}"


def identity_of_entry(entry: str) -> tuple[str, str]:
    """The (kind, value) of an ``identity_keys`` entry (inverse of :func:`identity_entry`)."""
    kind, _, value = entry.partition("#")
    return kind, value


def owned_identity_keys(item: LeadItem) -> list[tuple[str, str]]:
    """Every identity key a stored profile may own: its ``identity_keys`` (claimed by it or repointed to it
    by merges), then its contact fields' keys (profiles stored before ``identity_keys`` existed). A key may
    since have been released or be another lead's: callers keep the ones whose item names this lead."""
    keys = [identity_of_entry(entry) for entry in sorted(item.identity_keys or ())]
    keys += lead_identities(lead_from_item(item))
    return list(dict.fromkeys(keys))


def identity_entries_after(
    current: Iterable[str] | None,
    add: Iterable[tuple[str, str]] = (),
    remove: Iterable[tuple[str, str]] = (),
) -> list[str]:
    """The ``identity_keys`` entries of a profile rewritten whole (imports): ``current`` plus the claimed
    keys minus the released ones, sorted (empty: the attribute is left out; DynamoDB has no empty set)."""
    entries = set(current or ()) | {identity_entry(k, v) for k, v in add}
    return sorted(entries - {identity_entry(k, v) for k, v in remove})


def lead_from_item(item: LeadItem) -> Lead:
    """The :class:`Lead` a stored profile item holds (absent lists and maps read as empty, numbers as
    ``int``)."""
    values = dict(item.attribute_values)
    values["score_breakdown"] = values.get("score_breakdown") or []
    values["custom_fields"] = values.get("custom_fields") or {}
    values["tags"] = values.get("tags") or []
    if values.get("score") is not None:
        values["score"] = int(values["score"])
    values["message_count"] = int(values.get("message_count") or 0)
    return Lead.model_validate(values)


def activity_from_item(item: ActivityItem) -> Activity:
    """The :class:`Activity` a stored timeline item holds, with its delivery status and retraction (kept
    as attributes of their own, updated in place)."""
    doc = dict(item.doc or {})
    if item.delivery_status:
        doc["delivery_status"] = item.delivery_status
    if item.retracted:
        doc["retracted"] = True
    return Activity.model_validate(doc)
