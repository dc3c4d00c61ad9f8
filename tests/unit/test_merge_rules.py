"""How a merge fills the survivor: explicit choices, rules, empty values, unions and sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadtide.duplicates.merge import new_merge_id, rank_leads, resolve_survivor
from leadtide.models.common import ChannelType, LeadStatus
from leadtide.models.errors import UnprocessableError
from leadtide.models.leads import Lead

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _lead(n: int, **values) -> Lead:
    base = {
        "lead_id": f"{n:032x}",
        "tenant_id": "t1",
        "source_channel": ChannelType.MANUAL,
        "created_at": T0,
        "updated_at": T0,
        "last_activity_at": T0,
    }
    return Lead(**{**base, **values})


def test_keep_survivor_fills_only_empty_fields_and_unites_collections():
    survivor = _lead(
        1, name="Ana", email="ana@x.com", tags=["vip"], custom_fields={"size": "M"}, message_count=2
    )
    other = _lead(
        2,
        name="Ana Souza",
        company="Acme",
        tags=["expo", "vip"],
        custom_fields={"size": "L", "city": "Porto"},
        message_count=5,
        created_at=T0 - timedelta(days=3),
    )
    changes = resolve_survivor(survivor, [other], {}, "keep_survivor")
    assert changes["company"] == "Acme"  # empty on the survivor: filled
    assert "name" not in changes  # survivor's non-empty value kept
    assert changes["tags"] == ["vip", "expo"]
    assert changes["custom_fields"] == {"size": "M", "city": "Porto"}  # survivor wins its key
    assert changes["message_count"] == 7
    assert changes["created_at"] == T0 - timedelta(days=3)


def test_explicit_choice_wins_but_an_empty_choice_never_erases():
    survivor = _lead(1, name="Ana", phone="+14155550100", company="Old Co")
    other = _lead(2, name="Ana Souza", phone=None, company="New Co")
    changes = resolve_survivor(
        survivor, [other], {"company": other.lead_id, "phone": other.lead_id}, "keep_survivor"
    )
    assert changes["company"] == "New Co"
    assert "phone" not in changes  # the chosen lead has no phone: the survivor's stays


def test_keep_most_recent_and_keep_highest_score():
    survivor = _lead(1, name="A", status=LeadStatus.NEW, score=10, last_activity_at=T0)
    recent = _lead(2, name="B", status=LeadStatus.CONTACTED, score=5, last_activity_at=T0 + timedelta(days=1))
    best = _lead(3, name="C", status=LeadStatus.LOST, score=90, last_activity_at=T0 - timedelta(days=1))
    assert resolve_survivor(survivor, [recent, best], {}, "keep_most_recent")["name"] == "B"
    assert resolve_survivor(survivor, [recent, best], {}, "keep_highest_score")["status"] == LeadStatus.LOST
    assert [lead.lead_id for lead in rank_leads(survivor, [recent, best], "keep_survivor")] == [
        survivor.lead_id,
        recent.lead_id,
        best.lead_id,
    ]
    changes = resolve_survivor(survivor, [recent, best], {}, "keep_survivor")
    assert "name" not in changes and "status" not in changes
    assert changes["last_activity_at"] == recent.last_activity_at


def test_a_choice_must_name_a_lead_of_the_merge():
    with pytest.raises(UnprocessableError) as err:
        resolve_survivor(_lead(1), [_lead(2)], {"company": f"{9:032x}"}, "keep_survivor")
    assert err.value.details[0]["field"] == "fields.company"


def test_merge_ids_sort_by_time():
    first = new_merge_id()
    assert len(first) == 32 and int(first, 16) >= 0
    # the first 12 hex digits are the millisecond timestamp: ids made later never sort earlier by it
    assert new_merge_id()[:12] >= first[:12]
