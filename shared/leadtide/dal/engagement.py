"""Activity by event type on the lead profile: a summary of the engagement record denormalised for the
condition language (``activity.<event_type>`` / ``activity_count.<event_type>``, see
:mod:`leadtide.conditions.fields`).

The engagement record (``sk=ENGAGEMENT``, :class:`leadtide.dal.items.EngagementItem`) keeps the newest 100
occurrences of each behaviour event type and all-time counts; it is written under an optimistic
``version`` by two writers: tracked events (:mod:`leadtide.dal.tracking`) and captured messages
(:meth:`leadtide.dal.scoring_models.DynamoScoringStore.record_occurrences`). After each successful write,
the writer sets on the profile item, whole, with one UpdateItem:

* ``last_engaged`` = ``{event_type: ISO-8601 instant of the latest occurrence}`` (the latest occurrence
  of a type is never pruned: pruning drops the oldest);
* ``engaged_counts`` = ``{event_type: all-time count}``;
* ``engaged_version`` = the engagement record's new version,

conditioned on the profile existing and ``engaged_version`` being absent or lower. A writer that lost
a race (its version is older than the one stored) fails the condition and is ignored: the newer write
already stored a superset (the engagement record only grows). Both maps are JSONAttributes (a string in
DynamoDB) like ``custom_fields``, which the raw decoders of batch scoring and previews read fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from leadtide.dal.errors import condition_failed
from leadtide.dal.items import LeadItem
from leadtide.dal.lead_profile import PROFILE
from leadtide.models.common import iso

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def engagement_summary(
    occ: Mapping[str, Any], counts: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, int]]:
    """``(last_engaged, engaged_counts)`` of an engagement record.

    Args:
        occ: ``{event_type: [[epoch seconds, dedupe id], ...]}`` (any order).
        counts: ``{event_type: all-time count}``.

    Returns:
        ``{event_type: ISO-8601 UTC instant, millisecond precision}`` of each type's latest occurrence
        (types without occurrences left out) and ``{event_type: int count}`` (a type with occurrences
        but no count counts them).
    """
    last: dict[str, str] = {}
    for event_type, entries in occ.items():
        if entries:
            newest = max(float(e[0]) for e in entries)
            last[event_type] = iso(_EPOCH + timedelta(milliseconds=round(newest * 1000)))
    totals = {event_type: int(n) for event_type, n in counts.items() if int(n) > 0}
    for event_type, entries in occ.items():
        if entries and event_type not in totals:
            totals[event_type] = len(entries)
    return last, totals


def engaged_actions(occ: Mapping[str, Any], counts: Mapping[str, Any], version: int) -> list[Action]:
    """The UpdateItem actions setting the profile's activity summary from an engagement record at
    ``version`` (see the module docstring)."""
    last, totals = engagement_summary(occ, counts)
    return [
        LeadItem.last_engaged.set(last),
        LeadItem.engaged_counts.set(totals),
        LeadItem.engaged_version.set(version),
    ]


def newer_engagement(version: int) -> Condition:
    """Condition: the profile's summary is older than ``version`` (or absent)."""
    return LeadItem.engaged_version.does_not_exist() | (LeadItem.engaged_version < version)


def store_engaged(pk: str, occ: Mapping[str, Any], counts: Mapping[str, Any], version: int) -> bool:
    """Copy the summary of the engagement record at ``version`` onto the profile ``pk`` (one UpdateItem).

    Returns False when the condition failed (the profile is gone, or already reflects ``version`` or a
    later one): nothing to do. Other errors (throttling...) are raised.
    """
    try:
        LeadItem(pk, PROFILE).update(
            actions=engaged_actions(occ, counts, version),
            condition=LeadItem.pk.exists() & newer_engagement(version),
        )
    except UpdateError as err:
        if not condition_failed(err):
            raise
        return False
    return True
