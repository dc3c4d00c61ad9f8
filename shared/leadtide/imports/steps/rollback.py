"""Step 4 of an import, ``rollback_chunk`` (after ``start``, on ``POST /imports/{id}/rollback``): undo
one chunk of a finished import. Deletes the leads the chunk created, puts back the before-images of the
leads it updated (verbatim), fixes identity items and dashboard counters; leads changed after the import
are restored too and counted as ``changed_since_import``. The last chunk flips the status to
``rolled_back``.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from leadtide.imports.models import FINISHED, ImportRecord, ImportStatus, RollbackState
from leadtide.imports.steps.common import (
    StepContext,
    chunk_marker,
    claims_of,
    dumps,
    plan_key,
    rollback_marker,
    undo_key,
)
from leadtide.models.common import iso
from leadtide.models.leads import Lead


class RollbackStep:
    """Starting a rollback and the ``rollback_chunk`` step (see the module docstring)."""

    def __init__(self, ctx: StepContext):
        self._ctx = ctx

    def start(self, tenant_id: str, import_id: str) -> bool:
        """Queue one rollback step per chunk of a finished import (False: not in a finished state)."""
        record = self._ctx.repo.get(tenant_id, import_id)
        if not self._ctx.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.ROLLING_BACK,
            changes={"rollback": RollbackState(previous_status=record.status, started_at=self._ctx.clock())},
            expect_status=[*FINISHED],
        ):
            return False
        total = record.chunks_total or 0
        self._ctx.enqueue(
            [
                {"kind": "imports.rollback_chunk", "tenant_id": tenant_id, "import_id": import_id, "chunk": n}
                for n in range(total)
            ]
        )
        self._finish_if_done(tenant_id, import_id)
        return True

    def run(self, tenant_id: str, import_id: str, n: int) -> None:
        """Undo chunk ``n``: delete the leads it created, restore the before-images of those it updated.

        Idempotent: the undo plan (which leads to delete and restore, their statuses for the counters) is
        saved before anything is deleted and reused by a redelivery; the counts land with a marker.
        """
        ctx = self._ctx
        marker = rollback_marker(n)
        if ctx.repo.chunk_committed(tenant_id, import_id, marker):
            return self._finish_if_done(tenant_id, import_id)
        record = ctx.repo.get(tenant_id, import_id)
        if record.status != ImportStatus.ROLLING_BACK:
            return None
        undo = self._saved_undo_plan(record, n)
        deletes = [a for a in undo["actions"] if a["action"] == "delete"]
        restores = [a for a in undo["actions"] if a["action"] == "restore"]
        self._apply(record, deletes, restores)
        ctx.publish(record, undo, rollback=True)
        ctx.repo.commit_chunk(
            tenant_id,
            import_id,
            marker,
            progress={
                "rollback_chunks_done": 1,
                "rolled_back_deleted": len(deletes),
                "rolled_back_restored": len(restores),
                "rollback_conflicts": sum(1 for a in undo["actions"] if a.get("changed_since_import")),
            },
            counters=_counter_deltas(deletes, restores),
            outcome={
                "changed_since_import": [a["lead_id"] for a in restores if a.get("changed_since_import")][:50]
            },
        )
        return self._finish_if_done(tenant_id, import_id)

    def _saved_undo_plan(self, record: ImportRecord, n: int) -> dict[str, Any]:
        """Chunk ``n``'s undo plan: the one saved by an earlier attempt, else one made from the chunk's
        plan and the leads as they are now, saved before anything is undone."""
        ctx = self._ctx
        tenant_id, import_id = record.tenant_id, record.import_id
        key = undo_key(tenant_id, import_id, n)
        try:
            return ctx.load(key)
        except KeyError:
            pass
        failed = {c.chunk for c in ctx.repo.failed_chunks(tenant_id, import_id)}
        plan: dict[str, Any] = {"actions": []}
        # a failed chunk was discarded when it failed: nothing of it remains
        if n not in failed and ctx.repo.chunk_committed(tenant_id, import_id, chunk_marker(n)):
            with contextlib.suppress(KeyError):  # no plan: the chunk decided nothing
                plan = ctx.load(plan_key(tenant_id, import_id, n))
        undo = self._undo_plan(tenant_id, plan, record.started_at)
        ctx.artifacts.put(key, dumps(undo))
        return undo

    def _apply(
        self, record: ImportRecord, deletes: list[dict[str, Any]], restores: list[dict[str, Any]]
    ) -> None:
        """Delete the created leads, put back the updated ones' before-images (and remove the score
        history the import's re-scoring wrote)."""
        store, tenant_id = self._ctx.store, record.tenant_id
        if deletes:
            store.delete_leads(
                tenant_id,
                [a["lead_id"] for a in deletes],
                [((k[0], k[1]), a["lead_id"]) for a in deletes for k in a["identities"]],
                profile_only=[a["lead_id"] for a in deletes if a.get("profile_only")],
            )
        if restores:
            store.restore_leads(
                tenant_id,
                [a["before"] for a in restores],
                remove_identities=[((k[0], k[1]), a["lead_id"]) for a in restores for k in a["remove"]],
                add_identities=[((k[0], k[1]), a["lead_id"]) for a in restores for k in a["add"]],
                claimed_at=claims_of([k for a in restores for k in a["add"]]),
            )
            rescored = [a["lead_id"] for a in restores if a.get("rescored")]
            if rescored and record.started_at is not None:
                # Score history written because of the import (lead.updated -> re-score) goes with it.
                store.delete_score_history_since(tenant_id, rescored, record.started_at)

    def _undo_plan(
        self, tenant_id: str, plan: dict[str, Any], since: datetime | None = None
    ) -> dict[str, Any]:
        created = [a for a in plan["actions"] if a["action"] == "create"]
        updated = [a for a in plan["actions"] if a["action"] == "update"]
        current = self._ctx.store.get_leads(tenant_id, [a["lead_id"] for a in created + updated])
        actions: list[dict[str, Any]] = []
        for a in created:
            stored = current.get(a["lead_id"])
            if stored is None:
                continue  # deleted since (its counters moved then)
            written = Lead.model_validate(a["lead"])
            actions.append(
                {
                    "action": "delete",
                    "lead_id": a["lead_id"],
                    "status": str(stored.lead.status),
                    "source": str(stored.lead.source_channel),
                    "identities": a.get("add", []),
                    "profile_only": _untouched(stored.lead, written),
                }
            )
        for a in updated:
            stored = current.get(a["lead_id"])
            if stored is None:
                continue  # deleted since: restoring would resurrect a lead someone deleted
            written = Lead.model_validate(a["lead"])
            actions.append(
                {
                    "action": "restore",
                    "lead_id": a["lead_id"],
                    "before": a["before"],
                    "status": str(stored.lead.status),
                    "before_status": a["before_status"],
                    "remove": a.get("add", []),
                    "add": a.get("remove", []),
                    "changed_since_import": iso(stored.lead.updated_at) != iso(written.updated_at),
                    # scored since the import started: its score history has entries to remove (the
                    # profile's scored_at is the newest entry's time, written in the same transaction)
                    "rescored": stored.lead.scored_at is not None
                    and (since is None or iso(stored.lead.scored_at) >= iso(since)),
                }
            )
        return {"actions": actions}

    def _finish_if_done(self, tenant_id: str, import_id: str) -> None:
        record = self._ctx.repo.get(tenant_id, import_id)
        if record.status != ImportStatus.ROLLING_BACK:
            return
        if record.rollback_chunks_done < (record.chunks_total or 0):
            return
        rollback = record.rollback
        self._ctx.repo.update(
            tenant_id,
            import_id,
            status=ImportStatus.ROLLED_BACK,
            changes={"rollback": rollback.model_copy(update={"finished_at": self._ctx.clock()})}
            if rollback
            else {},
            expect_status=[ImportStatus.ROLLING_BACK],
        )


def _counter_deltas(deletes: list[dict[str, Any]], restores: list[dict[str, Any]]) -> dict[str, int]:
    """Dashboard counter deltas (sk -> delta) of undoing ``deletes`` and ``restores``."""
    counters: dict[str, int] = {}

    def count(sk: str, delta: int) -> None:
        counters[sk] = counters.get(sk, 0) + delta

    for a in deletes:
        count("total", -1)
        count(f"status#{a['status']}", -1)
        count(f"source#{a['source']}", -1)
    for a in restores:
        if a["status"] != a["before_status"]:
            count(f"status#{a['status']}", -1)
            count(f"status#{a['before_status']}", 1)
    return counters


def _untouched(stored: Lead, written: Lead) -> bool:
    """Whether a lead the import created has had nothing happen to it since: no message, score, edit or
    activity (then its partition holds only the profile and a rollback skips the Query of it). A note
    added without other change is the one thing this cannot see (see docs/decisions.md)."""
    return (
        stored.message_count == 0
        and stored.score is None
        and stored.scored_at is None
        and iso(stored.updated_at) == iso(written.updated_at)
        and iso(stored.last_activity_at) == iso(written.last_activity_at)
    )
