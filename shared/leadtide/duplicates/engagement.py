"""Behaviour engagement records across a merge: fold a merged lead's record into the survivor's, and
separate them again on undo. Pure functions (no storage); the DynamoDB side is
:mod:`leadtide.dal.merge_engagement`.

An engagement record (``sk=ENGAGEMENT``, :class:`leadtide.dal.items.EngagementItem`) holds, per behaviour
event type, the newest :data:`~leadtide.scoring.ports.MAX_OCCURRENCES_PER_TYPE` occurrences as
``[epoch seconds, dedupe id]`` pairs, oldest first, and all-time counts. The dedupe id (``ev:<event id>``
for tracked events, ``msg:<provider message id>`` for captured messages, see
:func:`leadtide.scoring.ports.merge_occurrences`) is an occurrence's identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from leadtide.duplicates.ports import EngagementRecord
from leadtide.scoring.ports import MAX_OCCURRENCES_PER_TYPE


def _ids(occ: Mapping[str, Sequence[Sequence[Any]]]) -> dict[str, set[str]]:
    return {t: {str(e[1]) for e in entries} for t, entries in occ.items()}


def _latest(*instants: datetime | None) -> datetime | None:
    known = [i for i in instants if i is not None]
    return max(known) if known else None


def _union(
    base: Mapping[str, Sequence[Sequence[Any]]], extra: Mapping[str, Sequence[Sequence[Any]]], keep: int
) -> tuple[dict[str, list[list[Any]]], dict[str, int]]:
    """``(occ, overlaps)``: per type, the entries of both without repeating a dedupe id (the first seen
    wins), sorted by (time, id), the newest ``keep`` kept; ``overlaps`` = how many of ``extra``'s entries
    were already in ``base``."""
    occ: dict[str, list[list[Any]]] = {}
    overlaps: dict[str, int] = {}
    for event_type in dict.fromkeys([*base, *extra]):
        seen: set[str] = set()
        merged: list[list[Any]] = []
        for from_extra, entries in ((False, base.get(event_type) or ()), (True, extra.get(event_type) or ())):
            for entry in entries:
                dedupe = str(entry[1])
                if dedupe in seen:
                    if from_extra:
                        overlaps[event_type] = overlaps.get(event_type, 0) + 1
                    continue
                seen.add(dedupe)
                merged.append([entry[0], dedupe])
        merged.sort(key=lambda e: (float(e[0]), e[1]))
        if len(merged) > keep:
            del merged[: len(merged) - keep]
        if merged:
            occ[event_type] = merged
    return occ, overlaps


def combine_engagement(
    survivor: EngagementRecord | None, merged: EngagementRecord, *, keep: int = MAX_OCCURRENCES_PER_TYPE
) -> EngagementRecord:
    """The survivor's record after folding ``merged`` into it (``survivor`` None: it had none).

    Per event type: occurrences united without repeating a dedupe id, oldest first, the newest ``keep``
    kept (the writers' cap); all-time counts summed, less the occurrences both records held (the same
    occurrence counted once); ``last_event_at`` the later one; ``version`` the survivor's plus one (1 when
    it had no record), the version to write under the optimistic lock. Neither input is changed.
    """
    base = survivor or EngagementRecord()
    occ, overlaps = _union(base.occ, merged.occ, keep)
    counts: dict[str, int] = {}
    for event_type in dict.fromkeys([*base.counts, *merged.counts, *occ]):
        total = int(base.counts.get(event_type, 0)) + int(merged.counts.get(event_type, 0))
        total -= overlaps.get(event_type, 0)
        # a record may hold occurrences of a type without a count (never written so, but be safe)
        total = max(total, len(occ.get(event_type, ())))
        if total > 0:
            counts[event_type] = total
    return EngagementRecord(
        occ=occ,
        counts=counts,
        last_event_at=_latest(base.last_event_at, merged.last_event_at),
        version=(survivor.version + 1) if survivor is not None else 1,
    )


def separate_engagement(
    before: EngagementRecord | None,
    merged: Sequence[EngagementRecord],
    folded_counts: Mapping[str, int],
    current: EngagementRecord,
    *,
    keep: int = MAX_OCCURRENCES_PER_TYPE,
) -> EngagementRecord:
    """The survivor's record on undo when it changed after the merge: its record before the merge plus
    what arrived since.

    Args:
        before: the survivor's record just before the first fold (None: it had none).
        merged: the merged leads' records as folded in (they go back to their leads).
        folded_counts: the survivor's counts right after the last fold.
        current: the survivor's record now.

    Returns:
        ``before``'s occurrences plus those of ``current`` whose dedupe id is in neither ``before`` nor
        any of ``merged`` (they arrived after the merge), capped at ``keep``; counts ``before``'s plus the
        growth since the fold (``current - folded_counts``, never negative); ``version`` the current one
        plus one.
    """
    base = before or EngagementRecord()
    known = _ids(base.occ)
    for record in merged:
        for event_type, ids in _ids(record.occ).items():
            known.setdefault(event_type, set()).update(ids)
    arrived = {
        event_type: [e for e in entries if str(e[1]) not in known.get(event_type, set())]
        for event_type, entries in current.occ.items()
    }
    occ, _ = _union(base.occ, arrived, keep)
    counts: dict[str, int] = {}
    for event_type in dict.fromkeys([*base.counts, *current.counts, *occ]):
        growth = max(0, int(current.counts.get(event_type, 0)) - int(folded_counts.get(event_type, 0)))
        total = max(int(base.counts.get(event_type, 0)) + growth, len(occ.get(event_type, ())))
        if total > 0:
            counts[event_type] = total
    newest = [float(e[0]) for entries in arrived.values() for e in entries]
    last = _latest(base.last_event_at, datetime.fromtimestamp(max(newest), UTC) if newest else None)
    return EngagementRecord(occ=occ, counts=counts, last_event_at=last, version=current.version + 1)
