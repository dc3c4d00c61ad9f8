"""Behaviour engagement records across a merge: the fold (union, dedupe, cap, summed counts), its inverse
on undo, and where the merge service runs them (before ``lead.updated``; idempotent on redelivery)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leadtide.duplicates.engagement import combine_engagement, separate_engagement
from leadtide.duplicates.merge import ENGAGEMENT_KEPT_NOTE, MergeService
from leadtide.duplicates.ports import EngagementRecord, MergeEngagement, MergeStore
from leadtide.models.duplicates import MergeRecord, MergeStatus
from tests.fakes import FakeEventPublisher

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _at(minutes: float) -> float:
    return round((T0 + timedelta(minutes=minutes)).timestamp(), 3)


def _record(version: int = 1, **types: list[tuple[float, str]]) -> EngagementRecord:
    occ = {t: sorted([_at(m), i] for m, i in entries) for t, entries in types.items() if entries}
    last = max((e[0] for entries in occ.values() for e in entries), default=None)
    return EngagementRecord(
        occ=occ,
        counts={t: len(e) for t, e in occ.items()},
        last_event_at=datetime.fromtimestamp(last, UTC) if last is not None else None,
        version=version,
    )


# ---------------------------------------------------------------------------------------------- combine
def test_combine_unites_occurrences_sorted_and_sums_all_time_counts():
    # Given a survivor with 2 opens (all-time 7: older ones were pruned) and a merged lead with 3 opens
    # and a reply
    survivor = _record(4, email_opened=[(1, "ev:a"), (5, "ev:b")])
    survivor.counts["email_opened"] = 7
    merged = _record(2, email_opened=[(0, "ev:c"), (3, "ev:d"), (9, "ev:e")], email_replied=[(4, "ev:r")])
    before = copy.deepcopy((survivor, merged))
    # When they are combined
    out = combine_engagement(survivor, merged)
    # Then occurrences are united oldest first, counts summed, the latest instant kept, version + 1
    assert [e[1] for e in out.occ["email_opened"]] == ["ev:c", "ev:a", "ev:d", "ev:b", "ev:e"]
    assert out.occ["email_replied"] == [[_at(4), "ev:r"]]
    assert out.counts == {"email_opened": 10, "email_replied": 1}
    assert out.last_event_at == datetime.fromtimestamp(_at(9), UTC)
    assert out.version == 5
    # and neither input changed
    assert (survivor, merged) == before


def test_combine_counts_an_occurrence_both_leads_hold_once():
    survivor = _record(1, email_clicked=[(1, "msg:x"), (2, "ev:1")])
    merged = _record(1, email_clicked=[(1, "msg:x"), (3, "ev:2")])
    out = combine_engagement(survivor, merged)
    assert [e[1] for e in out.occ["email_clicked"]] == ["msg:x", "ev:1", "ev:2"]
    assert out.counts == {"email_clicked": 3}


def test_combine_keeps_the_newest_n_per_type_and_a_survivor_without_record_starts_at_version_one():
    merged = _record(3, email_opened=[(m, f"ev:m{m}") for m in range(0, 8, 2)])
    survivor = _record(1, email_opened=[(m, f"ev:s{m}") for m in range(1, 8, 2)])
    out = combine_engagement(survivor, merged, keep=5)
    assert [e[1] for e in out.occ["email_opened"]] == ["ev:s3", "ev:m4", "ev:s5", "ev:m6", "ev:s7"]
    assert out.counts == {"email_opened": 8}  # all-time counts are not capped
    alone = combine_engagement(None, merged)
    assert alone.occ == merged.occ and alone.counts == merged.counts and alone.version == 1


# ---------------------------------------------------------------------------------------------- separate
def test_separate_gives_back_the_survivor_before_plus_what_arrived_since():
    before = _record(4, email_opened=[(1, "ev:a")], email_replied=[(2, "ev:r")])
    merged = _record(2, email_opened=[(3, "ev:b"), (4, "ev:c")])
    folded = combine_engagement(before, merged)
    # When nothing arrived since the merge, the survivor's record comes back as it was
    same = separate_engagement(before, [merged], folded.counts, folded)
    assert (same.occ, same.counts, same.last_event_at) == (before.occ, before.counts, before.last_event_at)
    assert same.version == folded.version + 1
    # When an open and a click arrived after the merge, they stay with the survivor
    now = combine_engagement(folded, _record(1, email_opened=[(10, "ev:n")], email_clicked=[(11, "ev:k")]))
    out = separate_engagement(before, [merged], folded.counts, now)
    assert [e[1] for e in out.occ["email_opened"]] == ["ev:a", "ev:n"]
    assert out.occ["email_clicked"] == [[_at(11), "ev:k"]]
    assert out.occ["email_replied"] == before.occ["email_replied"]
    assert out.counts == {"email_opened": 2, "email_replied": 1, "email_clicked": 1}
    assert out.last_event_at == datetime.fromtimestamp(_at(11), UTC)
    # and a survivor that had no record keeps only the new arrivals
    bare = separate_engagement(
        None, [merged], merged.counts, combine_engagement(merged, _record(1, x=[(5, "e")]))
    )
    assert bare.occ == {"x": [[_at(5), "e"]]} and bare.counts == {"x": 1}


_entries = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30, unique=True)


@settings(max_examples=60, deadline=None)
@given(
    a=_entries, b=_entries, extra_a=st.integers(0, 50), extra_b=st.integers(0, 50), keep=st.integers(1, 25)
)
def test_fold_then_undo_properties(a, b, extra_a, extra_b, keep):
    # Given two records of one type with distinct ids and all-time counts beyond what is kept
    survivor = _record(3, email_opened=[(m, f"ev:s{m}") for m in a])
    merged = _record(7, email_opened=[(m, f"ev:m{m}") for m in b])
    for record, extra in ((survivor, extra_a), (merged, extra_b)):
        if record.occ:
            record.counts["email_opened"] += extra
    out = combine_engagement(survivor, merged, keep=keep)
    got = out.occ.get("email_opened", [])
    # Then the combined count is the sum, the newest ``keep`` of the union are kept, oldest first, no repeats
    assert out.counts.get("email_opened", 0) == survivor.counts.get("email_opened", 0) + merged.counts.get(
        "email_opened", 0
    )
    union = sorted([*survivor.occ.get("email_opened", []), *merged.occ.get("email_opened", [])])
    assert got == union[len(union) - min(keep, len(union)) :]
    assert len({e[1] for e in got}) == len(got)
    # and with nothing new since, undo gives back the survivor's record (up to the cap it had)
    back = separate_engagement(survivor, [merged], out.counts, out, keep=keep)
    assert back.counts == survivor.counts
    assert back.occ.get("email_opened", []) == survivor.occ.get("email_opened", [])[-keep:]


# ---------------------------------------------------------------------------------------------- service
class _Store(MergeStore):
    """Just the journal a finish / finish_undo reads (the rest is exercised by the integration tests)."""

    def __init__(self, record: MergeRecord):
        self.record = record
        self.before: dict[str, Any] = {
            "merged": [{"lead_id": m, "timeline_keys": []} for m in record.merged_ids]
        }

    def get_record(self, tenant_id, merge_id):
        return self.record

    def save_record(self, record, *, expected):
        assert self.record.status == expected
        self.record = record

    def get_before(self, tenant_id, merge_id):
        return self.before

    def timeline_keys(self, tenant_id, lead_id):
        return []

    def move_timeline(self, tenant_id, from_lead, to_lead, keys, *, chunk=25):
        return 0

    def snapshot(self, tenant_id, lead_id):  # pragma: no cover - not used here
        raise NotImplementedError

    def create_record(self, record, before):  # pragma: no cover
        raise NotImplementedError

    def list_records(self, tenant_id, *, limit, cursor):  # pragma: no cover
        raise NotImplementedError

    def commit(self, commit):  # pragma: no cover
        raise NotImplementedError

    def raw_profile(self, tenant_id, lead_id):  # pragma: no cover
        raise NotImplementedError


class _Engagement(MergeEngagement):
    """In-memory engagement records with the port's contract (fold deletes the merged record, keeping
    copies; restore puts them back)."""

    def __init__(self, records: dict[str, EngagementRecord], events: FakeEventPublisher):
        self.records = records
        self.copies: dict[str, EngagementRecord | None] = {}
        self.events = events
        self.calls: list[tuple[str, str, int]] = []  # (what, lead, events published before the call)

    def fold(self, tenant_id: str, merge_id: str, survivor_id: str, merged_id: str) -> bool:
        self.calls.append(("fold", merged_id, len(self.events.events)))
        merged = self.records.pop(merged_id, None)
        if merged is None:
            return False
        self.copies.setdefault(survivor_id, self.records.get(survivor_id))
        self.copies[merged_id] = merged
        self.records[survivor_id] = combine_engagement(self.records.get(survivor_id), merged)
        return True

    def restore(self, tenant_id: str, merge_id: str, survivor_id: str, merged_ids: Sequence[str]) -> bool:
        self.calls.append(("restore", survivor_id, len(self.events.events)))
        if survivor_id in self.copies:
            before = self.copies.pop(survivor_id)
            if before is None:
                self.records.pop(survivor_id, None)
            else:
                self.records[survivor_id] = before
        for lead_id in merged_ids:
            if lead_id in self.copies:
                self.records[lead_id] = self.copies.pop(lead_id)  # type: ignore[assignment]
        return True


def _service(status: MergeStatus, records: dict[str, EngagementRecord]):
    record = MergeRecord(
        merge_id="m1",
        tenant_id="t1",
        status=status,
        survivor_id="s",
        merged_ids=["a", "b"],
        rule="keep_survivor",
        created_by="u1",
        created_at=T0,
    )
    events = FakeEventPublisher()
    engagement = _Engagement(records, events)
    store = _Store(record)
    return MergeService(store, events, engagement=engagement), store, engagement, events


def test_finish_folds_every_merged_lead_before_publishing_and_a_redelivery_folds_nothing_again():
    # Given a committed merge of a and b (b without engagement) into s
    records = {
        "s": _record(2, email_opened=[(1, "ev:1")]),
        "a": _record(5, email_opened=[(2, "ev:2"), (3, "ev:3")], email_replied=[(4, "ev:4")]),
    }
    service, _, engagement, events = _service(MergeStatus.PROFILES_MERGED, records)
    # When the merge finishes
    done = service.finish("t1", "m1")
    # Then both merged leads were folded before any event was published, then lead.updated went out
    assert done.status == MergeStatus.COMPLETED
    assert engagement.calls == [("fold", "a", 0), ("fold", "b", 0)]
    assert events.types()[0] == "lead.updated" and events.events[0].lead_id == "s"
    assert records["s"].counts == {"email_opened": 3, "email_replied": 1} and "a" not in records
    # When the finish step is redelivered, nothing runs again: counts are not doubled
    service.finish("t1", "m1")
    assert len(engagement.calls) == 2 and records["s"].counts == {"email_opened": 3, "email_replied": 1}
    # and a fold run twice by hand is a no-op the second time
    assert engagement.fold("t1", "m1", "s", "a") is False
    assert records["s"].counts == {"email_opened": 3, "email_replied": 1}


def test_finish_undo_restores_engagement_and_notes_kept_arrivals():
    records = {"s": _record(2, email_opened=[(1, "ev:1")]), "a": _record(5, email_opened=[(2, "ev:2")])}
    original = copy.deepcopy(records)
    service, store, _, _ = _service(MergeStatus.PROFILES_MERGED, records)
    service.finish("t1", "m1")
    store.record = store.record.model_copy(update={"status": MergeStatus.UNDOING, "undo_notes": ["x"]})
    undone = service.finish_undo("t1", "m1")
    assert undone.status == MergeStatus.UNDONE
    assert records == original
    assert undone.undo_notes == ["x", ENGAGEMENT_KEPT_NOTE]  # the fake reports kept arrivals
