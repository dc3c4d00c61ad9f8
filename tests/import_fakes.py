"""In-memory fakes of the import pipeline's ports (unit tests and the import benchmark).

:class:`FakeLeadBulkStore` keeps lead profiles as the exact stored items (DynamoDB JSON built by the real
``encode_lead``), enforces the same conditions as the DynamoDB store (create only if absent, update only
if ``updated_at`` is unchanged, identity items unique per tenant) and counts the service calls the
DynamoDB store would make for the same work (100 keys per BatchGetItem, 100 items per TransactWriteItems,
25 per BatchWriteItem).
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from leadtide.dal.items import LeadItem
from leadtide.dal.lead_codec import encode_lead
from leadtide.dal.leads import _lead_from_item
from leadtide.imports.models import COUNTER_FIELDS, FailedChunk, ImportRecord, SavedMapping
from leadtide.imports.ports import (
    IdentityKey,
    ImportArtifacts,
    ImportRepository,
    LeadBulkStore,
    LeadWrite,
    StoredLead,
    WriteConflict,
)
from leadtide.models.common import iso
from leadtide.models.errors import ImportNotFoundError, InvalidRequestError


class FakeImportRepository(ImportRepository):
    """Records as :class:`ImportRecord` objects (copied in and out, as a store would), markers and
    mappings in dicts; the same conditions as :class:`DynamoImportRepository`."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], ImportRecord] = {}
        self.markers: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.attempts: Counter[tuple[str, str, str]] = Counter()
        self.mappings: dict[tuple[str, str], SavedMapping] = {}
        self.counters: Counter[tuple[str, str]] = Counter()

    def create(self, record):
        self.records[(record.tenant_id, record.import_id)] = record.model_copy(deep=True)

    def get(self, tenant_id, import_id):
        try:
            return self.records[(tenant_id, import_id)].model_copy(deep=True)
        except KeyError:
            raise ImportNotFoundError(f"import {import_id} not found") from None

    def list_imports(self, tenant_id, *, limit, cursor):
        ids = sorted((i for t, i in self.records if t == tenant_id), reverse=True)
        start = 0
        if cursor:
            if cursor not in ids:
                raise InvalidRequestError("bad cursor")
            start = ids.index(cursor) + 1
        page = ids[start : start + limit]
        more = start + limit < len(ids)
        return [self.get(tenant_id, i) for i in page], (page[-1] if more and page else None)

    def update(self, tenant_id, import_id, *, status=None, changes=None, expect_status=None):
        record = self.records.get((tenant_id, import_id))
        if record is None:
            raise ImportNotFoundError(f"import {import_id} not found")
        if expect_status is not None and record.status not in expect_status:
            return False
        values = dict(copy.deepcopy(changes or {}))
        if status is not None:
            values["status"] = status
        self.records[(tenant_id, import_id)] = record.with_changes(values)
        return True

    def iter_import_tenants(self):
        yield from sorted({t for t, _ in self.records})

    def iter_unswept_before(self, tenant_id, id_before):
        for t, i in sorted(self.records):
            if t == tenant_id and i < id_before and self.records[(t, i)].preview_swept_at is None:
                yield self.get(t, i)

    def sweep(self, record, *, swept_at):
        key = (record.tenant_id, record.import_id)
        stored = self.records[key]
        if stored.status != record.status or stored.preview_swept_at is not None:
            return False
        kept = {name: getattr(stored, name) for name in _NOT_SWEPT}  # counters and times stay as stored
        self.records[key] = record.model_copy(deep=True, update={**kept, "preview_swept_at": swept_at})
        return True

    def commit_chunk(self, tenant_id, import_id, marker, *, progress, counters, outcome=None):
        key = (tenant_id, import_id, marker)
        if key in self.markers:
            return False
        self.markers[key] = {
            "state": "failed" if progress.get("chunks_failed") else "done",
            "outcome": outcome,
        }
        record = self.records[(tenant_id, import_id)]
        added = {name: (getattr(record, name) or 0) + value for name, value in progress.items()}
        self.records[(tenant_id, import_id)] = record.with_changes(added)
        for sk, delta in counters.items():
            self.counters[(tenant_id, sk)] += delta
        return True

    def chunk_committed(self, tenant_id, import_id, marker):
        return (tenant_id, import_id, marker) in self.markers

    def failed_chunks(self, tenant_id, import_id):
        return [
            FailedChunk.model_validate(m["outcome"])
            for (t, i, sk), m in sorted(self.markers.items())
            if t == tenant_id and i == import_id and sk.startswith("C#") and m["state"] == "failed"
        ]

    def count_attempt(self, tenant_id, import_id, marker):
        self.attempts[(tenant_id, import_id, marker)] += 1
        return self.attempts[(tenant_id, import_id, marker)]

    def save_mapping(self, tenant_id, name, columns, headers, saved_by):
        self.mappings[(tenant_id, name)] = SavedMapping(
            name=name,
            mapping=dict(columns),
            headers=list(headers),
            saved_by=saved_by,
            saved_at=datetime(2025, 1, 1),
        )
        return self.mappings[(tenant_id, name)]

    def get_mapping(self, tenant_id, name):
        try:
            return self.mappings[(tenant_id, name)]
        except KeyError:
            raise ImportNotFoundError(f"no saved import mapping named {name!r}") from None

    def list_mappings(self, tenant_id):
        return [m for (t, _), m in sorted(self.mappings.items()) if t == tenant_id]

    def delete_mapping(self, tenant_id, name):
        if self.mappings.pop((tenant_id, name), None) is None:
            raise ImportNotFoundError(f"no saved import mapping named {name!r}")


_NOT_SWEPT = ("requested_by", "created_at", "started_at", "finished_at", *COUNTER_FIELDS)
"""Fields the sweep leaves as stored (as DynamoImportRepository, which writes only the record's document)."""


class FakeLeadBulkStore(LeadBulkStore):
    """See the module docstring. ``before_write`` runs before each ``write_leads`` (simulate a concurrent
    capture); ``fail_writes`` makes ``write_leads`` raise (a poison chunk)."""

    def __init__(self) -> None:
        self.leads: dict[tuple[str, str], dict[str, Any]] = {}
        self.identities: dict[tuple[str, str, str], str] = {}
        self.history: dict[tuple[str, str], list[str]] = {}  # (tenant, lead) -> score-history sort keys
        self.calls: Counter[str] = Counter()
        self.before_write: Callable[[], None] | None = None
        self.fail_writes = False

    # helpers for tests
    def put_lead(self, lead, identities: Sequence[IdentityKey] = ()) -> None:
        self.leads[(lead.tenant_id, lead.lead_id)] = encode_lead(LeadWrite(lead=lead))
        for kind, value in identities:
            self.identities[(lead.tenant_id, kind, value)] = lead.lead_id

    def lead(self, tenant_id: str, lead_id: str):
        return _lead_from_item(LeadItem.from_raw_data(self.leads[(tenant_id, lead_id)]))

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy({"leads": self.leads, "identities": self.identities, "history": self.history})

    # port
    def get_identities(self, tenant_id, keys):
        self.calls["BatchGetItem"] += math.ceil(len(set(keys)) / 100)
        return {k: self.identities[(tenant_id, *k)] for k in keys if (tenant_id, *k) in self.identities}

    def identity_claims(self, tenant_id, keys):
        self.calls["BatchGetItem"] += math.ceil(len(set(keys)) / 100)
        return {}  # the fake's identity items carry no claimed_at

    def existing_lead_ids(self, tenant_id, lead_ids):
        ids = list(dict.fromkeys(lead_ids))
        self.calls["BatchGetItem"] += math.ceil(len(ids) / 100)
        return {lead_id for lead_id in ids if (tenant_id, lead_id) in self.leads}

    def get_leads(self, tenant_id, lead_ids):
        ids = list(dict.fromkeys(lead_ids))
        self.calls["BatchGetItem"] += math.ceil(len(ids) / 100)
        found = {}
        for lead_id in ids:
            raw = self.leads.get((tenant_id, lead_id))
            if raw is not None:
                found[lead_id] = StoredLead(
                    lead=_lead_from_item(LeadItem.from_raw_data(copy.deepcopy(raw))), raw=copy.deepcopy(raw)
                )
        return found

    def write_leads(self, tenant_id, writes, *, replay=False):
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook()
        if self.fail_writes:
            raise RuntimeError("simulated DynamoDB outage")
        # As DynamoLeadBulkStore when nothing is refused: identity claims 100 per TransactWriteItems,
        # BatchWriteItem for new leads (conditional Puts on a replay), conditional Puts of updates 100 per
        # TransactWriteItems, releases of replaced identities 100 per TransactWriteItems.
        creates = sum(1 for w in writes if w.base_raw is None)
        puts = (len(writes) - creates) + (creates if replay else 0)
        self.calls["TransactWriteItems"] += (
            math.ceil(sum(len(w.add_identities) for w in writes) / 100)
            + math.ceil(puts / 100)
            + math.ceil(sum(len(w.remove_identities) for w in writes) / 100)
        )
        if not replay:
            self.calls["BatchWriteItem"] += math.ceil(creates / 25)
        conflicts = []
        for write in writes:
            lead = write.lead
            key = (tenant_id, lead.lead_id)
            stored = self.leads.get(key)
            if write.base_raw is None and stored is not None and replay:
                conflicts.append(WriteConflict(lead.lead_id, "lead_exists"))
                continue
            if write.base_raw is not None and (
                stored is None or stored["updated_at"] != write.base_raw["updated_at"]
            ):
                if replay and stored is not None and stored["updated_at"] == encode_lead(write)["updated_at"]:
                    continue  # as DynamoLeadBulkStore: an earlier attempt applied it (its claims kept)
                conflicts.append(WriteConflict(lead.lead_id, "lead_changed"))
                continue
            taken = next(
                (
                    k
                    for k in write.add_identities
                    if self.identities.get((tenant_id, *k), lead.lead_id)
                    not in (lead.lead_id, write.stale_owners.get(k))
                ),
                None,
            )
            if taken is not None:
                conflicts.append(WriteConflict(lead.lead_id, "identity_taken", taken))
                continue
            self.leads[key] = encode_lead(write)
            for k in write.add_identities:
                self.identities[(tenant_id, *k)] = lead.lead_id
            for k in write.remove_identities:
                if self.identities.get((tenant_id, *k)) == lead.lead_id:
                    del self.identities[(tenant_id, *k)]
        return conflicts

    def restore_leads(
        self, tenant_id, before_images, *, remove_identities=(), add_identities=(), claimed_at=None
    ):
        self.calls["BatchWriteItem"] += math.ceil(
            (len(before_images) + len(remove_identities) + len(add_identities)) / 25
        )
        for raw in before_images:
            self.leads[(tenant_id, raw["lead_id"]["S"])] = copy.deepcopy(raw)
        for k, lead_id in remove_identities:
            if self.identities.get((tenant_id, *k)) == lead_id:
                del self.identities[(tenant_id, *k)]
        for k, lead_id in add_identities:
            self.identities[(tenant_id, *k)] = lead_id

    def delete_leads(self, tenant_id, lead_ids, identities, *, profile_only=()):
        self.calls["Query"] += len(set(lead_ids) - set(profile_only))
        self.calls["BatchWriteItem"] += math.ceil((len(lead_ids) + len(identities)) / 25)
        for lead_id in lead_ids:
            self.leads.pop((tenant_id, lead_id), None)
            self.history.pop((tenant_id, lead_id), None)
        for k, lead_id in identities:
            if self.identities.get((tenant_id, *k)) == lead_id:
                del self.identities[(tenant_id, *k)]

    def delete_score_history_since(self, tenant_id, lead_ids, since):
        self.calls["Query"] += len(lead_ids)
        for lead_id in lead_ids:
            entries = self.history.get((tenant_id, lead_id))
            if entries:
                kept = [sk for sk in entries if sk < f"S#{iso(since)}"]
                if kept:
                    self.history[(tenant_id, lead_id)] = kept
                else:
                    del self.history[(tenant_id, lead_id)]


class FakeArtifacts(ImportArtifacts):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def presign_put(self, key, *, content_type, expires_in):
        return f"https://uploads.example/{key}?expires={expires_in}", (
            {"Content-Type": content_type} if content_type else {}
        )

    def presign_get(self, key, *, expires_in, filename=None):
        return f"https://downloads.example/{key}?expires={expires_in}"

    def size(self, key):
        return len(self.objects[key]) if key in self.objects else None

    def get(self, key):
        try:
            return self.objects[key]
        except KeyError:
            raise KeyError(key) from None

    def put(self, key, data, content_type="application/json"):
        self.objects[key] = bytes(data)


class RecordingQueue:
    """``enqueue`` stand-in: keeps the steps; ``run_all`` feeds them to the pipeline until none are left."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def __call__(self, steps: Sequence[dict[str, Any]]) -> None:
        self.steps.extend(dict(s) for s in steps)
