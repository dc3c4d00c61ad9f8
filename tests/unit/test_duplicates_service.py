"""Duplicate service over in-memory fakes: scans replace open pairs, dismissed pairs stay dismissed,
pairs of deleted leads go, the fan-out queues one step per tenant, reps are limited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadtide.duplicates.ports import DuplicateRepository, MatchRecord, ReplaceOutcome
from leadtide.duplicates.service import DuplicateService
from leadtide.models.auth import Principal
from leadtide.models.common import ChannelType, Role
from leadtide.models.duplicates import DuplicatePair, PairStatus, pair_id_of
from leadtide.models.errors import DuplicatePairNotFoundError, ForbiddenError
from leadtide.models.leads import Lead
from tests.fakes import FakeLeadRepository

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class FakeDuplicateRepository(DuplicateRepository):
    def __init__(self, leads: FakeLeadRepository):
        self.leads = leads
        self.pairs: dict[tuple[str, str], DuplicatePair] = {}

    def iter_match_records(self, tenant_id):
        for (t, _), lead in self.leads.leads.items():
            if t == tenant_id:
                yield MatchRecord(
                    lead.lead_id, name=lead.name, email=lead.email, phone=lead.phone, company=lead.company
                )

    def iter_tenant_ids(self):
        yield from sorted({t for t, _ in self.leads.leads})

    def replace_open_pairs(self, tenant_id, pairs, live_lead_ids, now):
        out = ReplaceOutcome()
        fresh = {pair_id_of(p.lead_a, p.lead_b): p for p in pairs}
        for key, stored in list(self.pairs.items()):
            if key[0] != tenant_id:
                continue
            gone = stored.lead_a not in live_lead_ids or stored.lead_b not in live_lead_ids
            if stored.status != PairStatus.OPEN and not gone:
                out.kept_reviewed += 1
            elif gone or key[1] not in fresh:
                del self.pairs[key]
                out.removed += 1
        for pid, p in fresh.items():
            old = self.pairs.get((tenant_id, pid))
            if old is not None and old.status != PairStatus.OPEN:
                continue
            self.pairs[(tenant_id, pid)] = DuplicatePair(
                pair_id=pid,
                lead_a=p.lead_a,
                lead_b=p.lead_b,
                score=p.score,
                reasons=p.reasons,
                status=PairStatus.OPEN,
                detected_at=now,
                updated_at=now,
            )
            out.written += 1
        return out

    def query_pairs(self, tenant_id, *, min_score, status, limit, cursor):
        rows = [p for (t, _), p in self.pairs.items() if t == tenant_id and p.score >= min_score]
        rows = [p for p in rows if status is None or p.status == status]
        return sorted(rows, key=lambda p: -p.score)[:limit], None

    def get_pair(self, tenant_id, pair_id):
        try:
            return self.pairs[(tenant_id, pair_id)]
        except KeyError:
            raise DuplicatePairNotFoundError(pair_id) from None

    def set_pair_status(self, tenant_id, pair_id, status, by):
        pair = self.get_pair(tenant_id, pair_id).model_copy(update={"status": status, "updated_by": by})
        self.pairs[(tenant_id, pair_id)] = pair
        return pair

    def delete_pairs(self, tenant_id, pair_ids):
        for pid in pair_ids:
            self.pairs.pop((tenant_id, pid), None)


def _add(repo: FakeLeadRepository, tenant: str, n: int, **values) -> str:
    lead = Lead(
        lead_id=f"{n:032x}",
        tenant_id=tenant,
        source_channel=ChannelType.MANUAL,
        created_at=T0,
        updated_at=T0,
        last_activity_at=T0,
        **values,
    )
    repo.create_lead(lead, [])
    return lead.lead_id


@pytest.fixture
def world():
    leads = FakeLeadRepository()
    pairs = FakeDuplicateRepository(leads)
    queued: list[dict] = []
    return leads, pairs, queued, DuplicateService(pairs, leads, queued.extend)


def test_rescan_replaces_open_pairs_keeps_dismissed_and_drops_deleted(world):
    leads, pairs, _, service = world
    a = _add(leads, "t1", 1, name="Ana Souza", company="Acme")
    b = _add(leads, "t1", 2, name="Ana Sousa", company="Acme")
    c = _add(leads, "t1", 3, name="Joao Lima", email="j@x.com")
    d = _add(leads, "t1", 4, name="Joao Lima", email="j@x.com")
    admin = Principal(tenant_id="t1", user_id="boss", role=Role.ADMIN)
    service.scan_tenant("t1")
    assert {
        p.pair_id for p in service.list_pairs(admin, min_score=0, status=None, limit=50, cursor=None).items
    } == {pair_id_of(a, b), pair_id_of(c, d)}
    service.dismiss(admin, pair_id_of(a, b))
    del leads.leads[("t1", d)]  # d deleted meanwhile
    outcome = service.scan_tenant("t1")
    assert outcome.kept_reviewed == 1 and outcome.removed == 1
    assert pairs.get_pair("t1", pair_id_of(a, b)).status == PairStatus.DISMISSED
    assert service.list_pairs(admin, min_score=0, status=PairStatus.OPEN, limit=50, cursor=None).items == []


def test_fan_out_queues_one_scan_per_tenant_and_reps_are_limited(world):
    leads, _, queued, service = world
    _add(leads, "t1", 1, name="A B")
    _add(leads, "t2", 2, name="C D")
    assert service.scan_all() == 2
    assert queued == [
        {"kind": "duplicates.scan", "tenant_id": "t1"},
        {"kind": "duplicates.scan", "tenant_id": "t2"},
    ]
    rep = Principal(tenant_id="t1", user_id="r1", role=Role.REP)
    with pytest.raises(ForbiddenError):
        service.request_scan(rep)
