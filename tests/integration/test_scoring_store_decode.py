"""Batch loading of scoring inputs under moto: the raw BatchGetItem + fast decoder path returns exactly what
PynamoDB's ``batch_get`` + ``from_raw_data`` path returns, for more than one page of 100 keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadtide.dal.items import EngagementItem, LeadItem, lead_pk
from leadtide.dal.scoring_models import ENGAGEMENT, engagement_to_input, lead_values
from leadtide.scoring.ports import Occurrence
from leadtide.wiring import get_wiring

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _pynamodb_inputs(tenant: str, ids: list[str]):
    profiles = {
        i.lead_id: lead_values(i) for i in LeadItem.batch_get([(lead_pk(tenant, x), "PROFILE") for x in ids])
    }
    engagement = {
        e.pk.rsplit("#", 1)[1]: e
        for e in EngagementItem.batch_get([(lead_pk(tenant, x), ENGAGEMENT) for x in ids])
    }
    return {k: engagement_to_input(v, engagement.get(k)) for k, v in profiles.items()}


def test_load_for_scoring_equals_pynamodbs_decoding_over_several_pages(stack):
    # Given 130 leads of t1 (varied optional attributes), behaviour on every third, and one lead of t2
    store = get_wiring().scoring_store
    ids = [f"{n:032x}" for n in range(130)]
    for n, lead_id in enumerate(ids):
        LeadItem(
            lead_pk("t1", lead_id),
            "PROFILE",
            list_pk="t1",
            created_sk=f"x#{lead_id}",
            activity_sk=f"x#{lead_id}",
            score_sk=f"-01#{lead_id}",
            lead_id=lead_id,
            tenant_id="t1",
            job_title=["CEO", None, "Intern"][n % 3],
            email=f"p{n}@acme.io" if n % 2 else None,
            source_channel="manual",
            status="New",
            score=n % 100 if n % 4 else None,
            fit_score=n / 7 if n % 5 else None,
            custom_fields={"company_size": n * 10, "plan": "pro"} if n % 2 else None,
            tags=["vip", "eu"] if n % 3 == 0 else None,
            segment_ids={"s1", "s0"} if n % 4 == 0 else None,
            score_breakdown=[{"factor": "fit.x", "label": "X", "points": 10.5}],
            created_at=T0,
            updated_at=T0,
            last_activity_at=T0 + timedelta(minutes=n),
        ).save()
        if n % 3 == 0:
            store.record_occurrences(
                "t1",
                lead_id,
                [
                    Occurrence("email_opened", T0 + timedelta(hours=k), f"ev:{n}:{k}")
                    for k in range(n % 5 + 1)
                ],
            )
    # When both paths load the page (with a missing lead and a lead of another tenant asked for)
    asked = [*ids, "f" * 32]
    got = store.load_for_scoring("t1", asked)
    want = _pynamodb_inputs("t1", asked)
    # Then every lead is there with identical profile values and behaviour inputs
    assert len(got) == 130
    assert got == want
    assert got[ids[3]].occurrences["email_opened"] and got[ids[4]].lead["segment_ids"] == ["s0", "s1"]
    assert store.load_for_scoring("t2", ids[:5]) == {}
