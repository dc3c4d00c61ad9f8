"""Step 3 of an import, ``chunk``: write one chunk of drafts as leads.

BatchGetItem of the chunk's identity items; per draft skip / update / create (:meth:`ChunkStep.decide`);
the decisions with the before-images of updated leads are saved to ``plans/<n>.json`` *before* any
write; writes are conditional TransactWriteItems (lead + identity items together, ~33 leads per call);
rows whose conditions failed (a concurrent capture or edit) are decided again and written in another
round. The chunk's counts land in one transaction with a per-chunk marker (a redelivered chunk counts
once); the last chunk flips the status (:meth:`StepContext.finish_if_done`).

A plan is ``{"actions": [...]}``, one action per draft: ``{"row", "action": create|update|skip|failed,
"lead_id", "lead" (the new profile's values), "before" (update: the stored item), "before_status",
"add"/"remove" (identity keys ``[kind, value]``, a released one with its ``claimed_at``), "stale"
(``[kind, value, lead id]`` of claimed keys naming a lead without profile), "done"}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from leadtide.imports.models import ImportRecord, ImportStatus
from leadtide.imports.ports import IdentityKey, ImportStorageError, LeadBulkStore, LeadWrite, StoredLead
from leadtide.imports.steps.common import (
    BUILT,
    MAX_ATTEMPTS,
    MAX_WRITE_ROUNDS,
    StepContext,
    chunk_key,
    chunk_marker,
    claims_of,
    dumps,
    new_lead_id,
    plan_key,
)
from leadtide.models.common import ChannelType, LeadStatus, display_name, iso
from leadtide.models.leads import Lead

_log = logging.getLogger(__name__)

LEAD_FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "job_title",
    "status",
    "owner_id",
)
_LEAD_FIELD_SET = frozenset(LEAD_FIELDS)
_IDENTITY_FIELDS = ("email", "phone")
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def identity_keys(draft: dict[str, Any], unique_key: str) -> list[IdentityKey]:
    """Identity keys of a stored draft: email, phone and the unique custom field used as key."""
    keys: list[IdentityKey] = []
    if draft.get("email"):
        keys.append(("email", draft["email"]))
    if draft.get("phone"):
        keys.append(("phone", draft["phone"]))
    if unique_key.startswith("custom:") and draft.get("unique") not in (None, ""):
        keys.append((unique_key, str(draft["unique"])))
    return keys


def match_key(draft: dict[str, Any], unique_key: str) -> IdentityKey | None:
    """The identity key rows are matched on (the import's de-duplication key)."""
    value = draft.get(unique_key) if unique_key in ("email", "phone") else draft.get("unique")
    return (unique_key, str(value)) if value not in (None, "") else None


def split_fields(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A draft's mapped values as (standard lead fields, custom fields by key, tags).

    Lead attributes stay lead attributes; ``custom:<key>`` and the built-in custom fields (``lead_source``,
    ``country``, ``notes``...) go to ``custom_fields`` under their key; empty values are dropped."""
    standard: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    tags: list[str] = []
    for name, value in fields.items():
        if value is None or value == "" or value == []:
            continue
        if name in _LEAD_FIELD_SET:
            standard[name] = value
        elif name == "custom_fields" and type(value) is dict:
            for k, v in value.items():
                if v is not None and v != "" and v != []:
                    custom[k] = v
        elif name.startswith("custom:"):
            custom[name[7:]] = value
        elif name == "custom_fields" and isinstance(value, dict):
            custom.update({k: v for k, v in value.items() if v not in (None, "", [])})
        elif name == "tags":
            tags = [value] if isinstance(value, str) else [str(t) for t in value]
        else:  # built-in custom fields (lead_source, country, city, notes, owner_email...)
            custom[name] = value
    return standard, custom, tags


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass
class ChunkCounts:
    """Outcome counts of one chunk (and dashboard counter deltas)."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, sk: str, delta: int) -> None:
        self.counters[sk] = self.counters.get(sk, 0) + delta


class ChunkStep:
    """The ``chunk`` step (see the module docstring)."""

    def __init__(self, ctx: StepContext):
        self._ctx = ctx

    def run(self, tenant_id: str, import_id: str, n: int) -> None:
        """Apply chunk ``n`` (see the module docstring). Idempotent; the attempt that reaches
        :data:`MAX_ATTEMPTS` records the chunk as failed (its rows count as failed) and re-raises, so the
        message still goes to the dead-letter queue and the import never sticks in ``processing``."""
        ctx = self._ctx
        marker = chunk_marker(n)
        if ctx.repo.chunk_committed(tenant_id, import_id, marker):
            return ctx.finish_if_done(tenant_id, import_id)
        record = ctx.repo.get(tenant_id, import_id)
        if record.status != ImportStatus.PROCESSING:
            return None
        attempts = ctx.repo.count_attempt(tenant_id, import_id, marker)
        try:
            self._apply(record, n)
        except Exception as err:  # the step's process boundary: whatever failed, re-raised (SQS retries)
            if attempts >= MAX_ATTEMPTS:
                self._record_failure(record, n, err)
            raise
        return ctx.finish_if_done(tenant_id, import_id)

    def _record_failure(self, record: ImportRecord, n: int, err: Exception) -> None:
        """The last attempt of chunk ``n`` failed: undo what it wrote, count its rows as failed (with the
        error on the chunk's marker) and finish the import if it was the last chunk."""
        ctx, tenant_id, import_id = self._ctx, record.tenant_id, record.import_id
        rows = self._chunk_rows(tenant_id, import_id, n)
        self._discard(tenant_id, import_id, n)
        ctx.repo.commit_chunk(
            tenant_id,
            import_id,
            chunk_marker(n),
            progress={"chunks_failed": 1, "failed": rows, "rows_processed": rows},
            counters={},
            outcome={
                "chunk": n,
                "rows": rows,
                "error": f"{type(err).__name__}: {err}"[:500] + " (none of its rows were kept)",
            },
        )
        ctx.finish_if_done(tenant_id, import_id)

    def _discard(self, tenant_id: str, import_id: str, n: int) -> None:
        """Undo whatever a failing chunk wrote (its rows count as failed, so none of them may remain):
        delete the leads it planned to create with their identity claims, restore the before-images of
        the updates it applied. Nothing to undo without a saved plan (it is saved before any write).
        Best effort: a storage failure is logged, never raised (the chunk is failing already)."""
        store = self._ctx.store
        try:
            plan = self._ctx.load(plan_key(tenant_id, import_id, n))
        except KeyError:
            return
        except (ValueError, ImportStorageError):
            _log.exception("could not read the plan of failed chunk %s of import %s", n, import_id)
            return
        creates = [a for a in plan["actions"] if a["action"] == "create"]
        updates = [a for a in plan["actions"] if a["action"] == "update"]
        try:
            if creates:
                store.delete_leads(
                    tenant_id,
                    [a["lead_id"] for a in creates],
                    [((k[0], k[1]), a["lead_id"]) for a in creates for k in a.get("add", [])],
                )
            current = store.get_leads(tenant_id, [a["lead_id"] for a in updates])
            applied = [
                a
                for a in updates
                if a["lead_id"] in current
                and iso(current[a["lead_id"]].lead.updated_at)
                == iso(Lead.model_validate(a["lead"]).updated_at)
            ]
            if applied:
                store.restore_leads(
                    tenant_id,
                    [a["before"] for a in applied],
                    remove_identities=[
                        ((k[0], k[1]), a["lead_id"]) for a in applied for k in a.get("add", [])
                    ],
                    add_identities=[
                        ((k[0], k[1]), a["lead_id"]) for a in applied for k in a.get("remove", [])
                    ],
                    claimed_at=claims_of([k for a in applied for k in a.get("remove", [])]),
                )
        except (ImportStorageError, ValueError):
            _log.exception("could not discard the writes of failed chunk %s of import %s", n, import_id)

    def _chunk_rows(self, tenant_id: str, import_id: str, n: int) -> int:
        """Rows of chunk ``n`` (0 when its file cannot be read)."""
        try:
            return len(self._ctx.load(chunk_key(tenant_id, import_id, n))["drafts"])
        except (KeyError, ValueError, ImportStorageError):
            return 0

    def _apply(self, record: ImportRecord, n: int) -> None:
        """Decide (or reuse an earlier attempt's decisions), write, publish and count chunk ``n``."""
        ctx, tenant, import_id = self._ctx, record.tenant_id, record.import_id
        drafts = ctx.load(chunk_key(tenant, import_id, n))["drafts"]
        key = plan_key(tenant, import_id, n)
        replay = True
        try:
            plan = ctx.load(key)  # an earlier attempt decided (and maybe wrote) this chunk
        except KeyError:
            plan, replay = self.decide(record, drafts), False
            ctx.artifacts.put(key, dumps(plan))
        plan = self._execute(record, drafts, plan, key, replay=replay)
        counts = _counts(plan)
        ctx.publish(record, plan)
        ctx.repo.commit_chunk(
            tenant,
            import_id,
            chunk_marker(n),
            progress={
                "chunks_done": 1,
                "rows_processed": len(drafts),
                "created": counts.created,
                "updated": counts.updated,
                "skipped": counts.skipped,
                "failed": counts.failed,
            },
            counters=counts.counters,
        )

    def decide(
        self, record: ImportRecord, drafts: list[dict[str, Any]], only: set[int] | None = None
    ) -> dict[str, Any]:
        """Decide create / update / skip for each draft (rows in ``only`` when given) from the identity
        items and profiles as they are now. Returns the plan ``{"actions": [...]}`` whose update actions
        carry the before-image (``before``: the stored item) and every write's new profile (``lead``)."""
        tenant, import_id = record.tenant_id, record.import_id
        dedupe = record.options.dedupe
        strategy, unique_key, mode = dedupe.strategy, dedupe.key, dedupe.update_mode
        selected = [d for d in drafts if only is None or d["row"] in only]
        own_ids = {d["row"]: new_lead_id(tenant, import_id, d["row"]) for d in selected}
        draft_keys = {d["row"]: identity_keys(d, unique_key) for d in selected}
        keys = list(dict.fromkeys(k for d in selected for k in draft_keys[d["row"]]))
        owners, stale, existing = self._live_owners(tenant, selected, keys, own_ids, unique_key, strategy)
        matched: dict[int, str] = {}
        for d in selected:
            key = match_key(d, unique_key)
            owner = owners.get(key) if key else None
            if owner is not None and owner != own_ids[d["row"]] and strategy != "create":
                matched[d["row"]] = owner
        now = self._ctx.clock()
        times = {"created_at": now, "updated_at": now, "last_activity_at": now}
        saved_times = dict.fromkeys(times, _DATETIME.dump_python(now, mode="json"))
        claimed: set[IdentityKey] = set()
        actions: list[dict[str, Any]] = []
        built: dict[str, Lead] = {}  # the new profiles as objects (not saved): no re-validation to write them
        for d in selected:
            row = d["row"]
            standard, custom, tags = split_fields(d["fields"])
            if row in matched:
                lead_id = matched[row]
                stored = existing.get(lead_id)
                if strategy == "skip" or stored is None:
                    actions.append({"row": row, "action": "skip", "lead_id": lead_id})
                    continue
                action = self._update_action(
                    tenant, d, stored, standard, custom, tags, mode, owners, claimed, now
                )
                _note_stale(action, stale)
                actions.append(action)
                continue
            lead_id = own_ids[row]
            add = []
            for key in draft_keys[row]:
                if owners.get(key) in (None, lead_id) and key not in claimed:
                    add.append(key)
                    claimed.add(key)
            values = {
                "lead_id": lead_id,
                "tenant_id": tenant,
                "name": standard.get("name")
                or display_name(standard.get("first_name"), standard.get("last_name")),
                "first_name": standard.get("first_name"),
                "last_name": standard.get("last_name"),
                "email": d.get("email") or standard.get("email"),
                "phone": d.get("phone") or standard.get("phone"),
                "company": standard.get("company"),
                "job_title": standard.get("job_title"),
                "status": standard.get("status") or LeadStatus.NEW,
                "owner_id": standard.get("owner_id"),
                "source_channel": ChannelType.IMPORT,
                "tags": tags,
                "custom_fields": custom,
                "import_id": import_id,
            }
            values = {k: v for k, v in values.items() if v is not None}
            lead = Lead(**values, **times)  # validated: types, the status, the tags' shape
            built[lead_id] = lead
            # The saved plan keeps the values the lead was built from (a redelivery validates them into
            # the same Lead): no per-lead pydantic dump; the plan is encoded once per chunk.
            values["status"], values["source_channel"] = str(lead.status), str(lead.source_channel)
            action = {
                "row": row,
                "action": "create",
                "lead_id": lead_id,
                "lead": {**values, **saved_times},
                "add": [list(k) for k in add],
            }
            _note_stale(action, stale)
            actions.append(action)
        _note_released_claims(self._ctx.store, tenant, actions)
        return {"actions": actions, BUILT: built}

    def _live_owners(
        self,
        tenant: str,
        selected: list[dict[str, Any]],
        keys: list[IdentityKey],
        own_ids: dict[int, str],
        unique_key: str,
        strategy: str,
    ) -> tuple[dict[IdentityKey, str], dict[IdentityKey, str], dict[str, StoredLead]]:
        """The identity items of ``keys`` split into ``(live, stale, profiles)``: key -> lead id for
        items naming an existing lead (or one of this chunk's own ids), key -> lead id for items naming a
        lead whose profile is gone (free: claimed on condition that they still name it), and, for the
        ``update`` strategy, the stored profiles of the leads rows match.

        Calls: one BatchGetItem of the identity items; when any is found, one of the owners' profiles
        (``update``: the matched owners' full profiles, plus ``pk`` only for the other owners if any;
        else ``pk`` only for all owners).
        """
        found = self._ctx.store.get_identities(tenant, keys)
        own = set(own_ids.values())
        others = {lid for lid in found.values() if lid not in own}
        profiles: dict[str, StoredLead] = {}
        live: set[str] = set()
        if strategy == "update":
            candidates = {
                found[key]
                for d in selected
                if (key := match_key(d, unique_key)) is not None and found.get(key) in others
            }
            if candidates:
                profiles = self._ctx.store.get_leads(tenant, list(candidates))
            live = set(profiles)
            others -= candidates
        if others:
            live |= self._ctx.store.existing_lead_ids(tenant, list(others))
        owners = {k: lid for k, lid in found.items() if lid in own or lid in live}
        stale = {k: lid for k, lid in found.items() if k not in owners}
        return owners, stale, profiles

    def _update_action(
        self,
        tenant: str,
        draft: dict[str, Any],
        stored: StoredLead,
        standard: dict[str, Any],
        custom: dict[str, Any],
        tags: list[str],
        mode: str,
        owners: dict[IdentityKey, str],
        claimed: set[IdentityKey],
        now: datetime,
    ) -> dict[str, Any]:
        lead = stored.lead
        changes: dict[str, Any] = {}
        add: list[IdentityKey] = []
        remove: list[IdentityKey] = []
        for name, value in standard.items():
            current = getattr(lead, name)
            if current == value or (mode == "fill_empty" and not _empty(current)):
                continue
            if name in _IDENTITY_FIELDS:
                key = (name, value)
                if owners.get(key) not in (None, lead.lead_id) or key in claimed:
                    continue  # that email/phone belongs to another lead: keep this lead's own
                add.append(key)
                claimed.add(key)
                if current:
                    remove.append((name, current))
            changes[name] = value
        merged_custom = dict(lead.custom_fields)
        for name, value in custom.items():
            if merged_custom.get(name) == value or (
                mode == "fill_empty" and not _empty(merged_custom.get(name))
            ):
                continue
            merged_custom[name] = value
        if merged_custom != lead.custom_fields:
            changes["custom_fields"] = merged_custom
        if tags:
            merged_tags = list(dict.fromkeys([*lead.tags, *tags]))
            if merged_tags != lead.tags:
                changes["tags"] = merged_tags
        if not changes:
            return {"row": draft["row"], "action": "skip", "lead_id": lead.lead_id, "unchanged": True}
        if ("first_name" in changes or "last_name" in changes) and "name" not in standard:
            derived = display_name(lead.first_name, lead.last_name)
            if lead.name in (None, derived):
                changes["name"] = display_name(
                    changes.get("first_name", lead.first_name), changes.get("last_name", lead.last_name)
                )
        new = lead.model_copy(update={**changes, "updated_at": now})
        return {
            "row": draft["row"],
            "action": "update",
            "lead_id": lead.lead_id,
            "lead": new.model_dump(mode="json"),
            "before": stored.raw,
            "before_status": str(lead.status),
            "add": [list(k) for k in add],
            "remove": [list(k) for k in remove],
        }

    def _execute(
        self,
        record: ImportRecord,
        drafts: list[dict[str, Any]],
        plan: dict[str, Any],
        key: str,
        *,
        replay: bool,
    ) -> dict[str, Any]:
        """Write the plan's creates and updates; re-decide rows whose conditions failed (a concurrent
        capture or edit) and try again, saving the revised plan (to ``key``) before each new round of
        writes. Rows still conflicting after :data:`MAX_WRITE_ROUNDS` rounds fail."""
        # Whether the saved plan already says everything a redelivery needs: it does when only creates
        # were pending and all were written at the first try (a redelivery re-sends them conditionally,
        # refused as ``lead_exists``, nothing released); updates and failures are saved again below.
        as_saved = True
        for round_number in range(MAX_WRITE_ROUNDS):
            pending = [
                a for a in plan["actions"] if a["action"] in ("create", "update") and not a.get("done")
            ]
            if not pending:
                break
            if round_number > 0 or any(a["action"] == "update" for a in pending):
                as_saved = False
            redo = self._write(record.tenant_id, plan, pending, replay=replay or round_number > 0)
            if not redo:
                break
            as_saved = False
            if round_number == MAX_WRITE_ROUNDS - 1:
                for action in plan["actions"]:
                    if action["row"] in redo:
                        action.update(
                            {"action": "failed", "reason": "kept conflicting with concurrent changes"}
                        )
                break
            self._redecide(record, drafts, plan, redo)
            self._ctx.artifacts.put(key, dumps(plan))
        for action in plan["actions"]:
            if action["action"] in ("create", "update") and not action.get("done"):
                action.update({"action": "failed", "reason": "not written"})
                as_saved = False
        if not as_saved:
            self._ctx.artifacts.put(key, dumps(plan))
        return plan

    def _write(
        self, tenant: str, plan: dict[str, Any], pending: list[dict[str, Any]], *, replay: bool
    ) -> set[int]:
        """One round of writes of the ``pending`` actions (marked ``done`` when written); the rows whose
        write was refused for a concurrent change (to decide again)."""
        built = plan.get(BUILT) or {}
        writes = [
            LeadWrite(
                lead=built.get(a["lead_id"]) or Lead.model_validate(a["lead"]),
                base_raw=a.get("before"),
                add_identities=[tuple(k) for k in a.get("add", [])],  # type: ignore[misc]
                remove_identities=[(k[0], k[1]) for k in a.get("remove", [])],
                stale_owners={(k[0], k[1]): k[2] for k in a.get("stale", [])},
            )
            for a in pending
        ]
        conflicts = {c.lead_id: c for c in self._ctx.store.write_leads(tenant, writes, replay=replay)}
        redo: set[int] = set()
        for action in pending:
            conflict = conflicts.get(action["lead_id"])
            if conflict is None:
                action["done"] = True
            elif conflict.reason == "lead_exists":
                action["done"] = True  # our own lead (deterministic id), written by an earlier attempt
            else:
                redo.add(action["row"])
        return redo

    def _redecide(
        self, record: ImportRecord, drafts: list[dict[str, Any]], plan: dict[str, Any], rows: set[int]
    ) -> None:
        """Decide ``rows`` again from the leads as they are now and put the new actions in ``plan``."""
        decided = self.decide(record, drafts, only=rows)
        plan.setdefault(BUILT, {}).update(decided[BUILT])
        revised = {a["row"]: a for a in decided["actions"]}
        for i, action in enumerate(plan["actions"]):
            if action["row"] in revised:
                # The state just read is the one a rollback restores (someone changed it meanwhile).
                plan["actions"][i] = revised[action["row"]]


def _counts(plan: dict[str, Any]) -> ChunkCounts:
    counts = ChunkCounts()
    for a in plan["actions"]:
        kind = a["action"]
        if kind == "create":
            counts.created += 1
            lead = a["lead"]
            counts.count("total", 1)
            counts.count(f"status#{lead['status']}", 1)
            counts.count(f"source#{lead['source_channel']}", 1)
        elif kind == "update":
            counts.updated += 1
            new_status = a["lead"]["status"]
            if new_status != a["before_status"]:
                counts.count(f"status#{a['before_status']}", -1)
                counts.count(f"status#{new_status}", 1)
        elif kind == "skip":
            counts.skipped += 1
        else:
            counts.failed += 1
    return counts


def _note_stale(action: dict[str, Any], stale: dict[IdentityKey, str]) -> None:
    """Record on a write action the stale owners of the keys it claims (``[kind, value, lead id]``)."""
    found = [[*key, stale[key]] for key in map(tuple, action.get("add", [])) if key in stale]
    if found:
        action["stale"] = found


def _note_released_claims(store: LeadBulkStore, tenant_id: str, actions: list[dict[str, Any]]) -> None:
    """Append each released identity's ``claimed_at`` to its ``remove`` entry (``[kind, value, claimed_at]``)
    so that a rollback puts the identity item back exactly. One BatchGetItem, only when updates release
    keys."""
    released = [(k[0], k[1]) for a in actions if a["action"] == "update" for k in a.get("remove", [])]
    if not released:
        return
    claims = store.identity_claims(tenant_id, list(dict.fromkeys(released)))
    if not claims:
        return
    for a in actions:
        if a["action"] == "update" and a.get("remove"):
            a["remove"] = [
                [*k[:2], claims[(k[0], k[1])]] if (k[0], k[1]) in claims else k for k in a["remove"]
            ]
