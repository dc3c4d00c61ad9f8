"""In-memory fakes of the scoring and tracking stores, over the FakeLeadRepository's leads (same contracts as
leadtide.dal.scoring_models / leadtide.dal.tracking)."""

from __future__ import annotations

from typing import Any

from leadtide.models.errors import (
    ApiKeyNotFoundError,
    ConflictError,
    LeadNotFoundError,
    ScoringModelNotFoundError,
)
from leadtide.models.leads import Lead
from leadtide.models.scoring import ScoreHistoryEntry, ScoringModel
from leadtide.models.tracking import ApiKey
from leadtide.scoring.ports import Occurrence, ScoringInput, ScoringStore, merge_occurrences
from leadtide.tracking.ports import StoredApiKey, TrackingStore
from tests.fakes import FakeLeadRepository


class FakeScoringStore(ScoringStore):
    def __init__(self, leads: FakeLeadRepository):
        self.leads = leads
        self.models: dict[tuple[str, str], ScoringModel] = {}
        self.defaults: dict[str, str] = {}
        self.engagement: dict[tuple[str, str], tuple[dict[str, Any], dict[str, int]]] = {}
        self.history: dict[tuple[str, str], list[ScoreHistoryEntry]] = {}
        self.loads: list[int] = []
        self.saves = 0

    def list_models(self, tenant_id):
        return [self.get_model(t, m) for (t, m) in self.models if t == tenant_id]

    def get_model(self, tenant_id, model_id):
        try:
            model = self.models[(tenant_id, model_id)]
        except KeyError:
            raise ScoringModelNotFoundError("not found") from None
        default = self.defaults.get(tenant_id) == model_id
        return model.model_copy(update={"is_default": default, "active": model.active or default})

    def put_model(self, model, *, expected_version):
        key = (model.tenant_id, model.model_id)
        current = self.models.get(key)
        if (expected_version is None) != (current is None) or (
            current is not None and current.version != expected_version
        ):
            raise ConflictError("changed meanwhile")
        self.models[key] = model.model_copy(update={"is_default": False})

    def delete_model(self, tenant_id, model_id):
        if self.defaults.get(tenant_id) == model_id:
            raise ConflictError("active default")
        if self.models.pop((tenant_id, model_id), None) is None:
            raise ScoringModelNotFoundError("not found")

    def default_model_id(self, tenant_id):
        return self.defaults.get(tenant_id)

    def set_default_model(self, tenant_id, model_id):
        self.get_model(tenant_id, model_id)
        self.defaults[tenant_id] = model_id

    def load_for_scoring(self, tenant_id, lead_ids):
        self.loads.append(len(lead_ids))
        out = {}
        for lead_id in lead_ids:
            lead = self.leads.leads.get((tenant_id, lead_id))
            if lead is None:
                continue
            values = lead.model_dump()
            values["grade_override"] = lead.grade_override.model_dump() if lead.grade_override else None
            occ, counts = self.engagement.get((tenant_id, lead_id), ({}, {}))
            out[lead_id] = ScoringInput(
                lead=values,
                occurrences={t: [float(e[0]) for e in entries] for t, entries in occ.items()},
                counts=dict(counts),
            )
        return out

    def record_occurrences(self, tenant_id, lead_id, occurrences: list[Occurrence]):
        if (tenant_id, lead_id) not in self.leads.leads:
            return 0
        occ, counts = self.engagement.setdefault((tenant_id, lead_id), ({}, {}))
        return merge_occurrences(occ, counts, occurrences)

    def save_score(self, tenant_id, lead_id, values, history):
        lead = self.leads.get_lead(tenant_id, lead_id)
        values = {k: v for k, v in values.items() if not (v is None and k == "prediction_factors")}
        self.leads.leads[(tenant_id, lead_id)] = Lead.model_validate({**lead.model_dump(), **values})
        self.history.setdefault((tenant_id, lead_id), []).append(history)
        self.saves += 1

    def list_history(self, tenant_id, lead_id, *, limit, cursor):
        items = list(reversed(self.history.get((tenant_id, lead_id), [])))
        start = int(cursor or 0)
        more = start + limit < len(items)
        return items[start : start + limit], str(start + limit) if more else None

    def iter_lead_id_pages(self, tenant_id, page_size):
        pages: dict[str, list[str]] = {}
        for t, lead_id in self.leads.leads:
            if tenant_id is None or t == tenant_id:
                pages.setdefault(t, []).append(lead_id)
        for t, ids in pages.items():
            for start in range(0, len(ids), page_size):
                yield t, ids[start : start + page_size]


class FakeTrackingStore(TrackingStore):
    def __init__(self, leads: FakeLeadRepository, scoring: FakeScoringStore):
        self.leads = leads
        self.scoring = scoring
        self.markers: set[tuple[str, str]] = set()
        self.keys: dict[str, dict[str, Any]] = {}
        self.uses = 0  # record_api_key_use calls that wrote

    def record_events(self, tenant_id, lead_id, events):
        if (tenant_id, lead_id) not in self.leads.leads:
            raise LeadNotFoundError("lead not found")
        stored = []
        for e in events:
            if (tenant_id, e.event_id) in self.markers:
                stored.append(False)
                continue
            self.markers.add((tenant_id, e.event_id))
            self.leads.activities[(tenant_id, lead_id)].append(e.activity)
            self.scoring.record_occurrences(
                tenant_id, lead_id, [Occurrence(e.event_type, e.occurred_at, f"ev:{e.event_id}")]
            )
            stored.append(True)
        return stored

    def create_api_key(self, tenant_id, key, key_hash):
        self.keys[key.key_id] = {"tenant": tenant_id, "hash": key_hash, "key": key}

    def list_api_keys(self, tenant_id):
        return [v["key"] for v in self.keys.values() if v["tenant"] == tenant_id]

    def revoke_api_key(self, tenant_id, key_id, at):
        entry = self.keys.get(key_id)
        if entry is None or entry["tenant"] != tenant_id:
            raise ApiKeyNotFoundError("not found")
        entry["key"] = ApiKey(**{**entry["key"].model_dump(), "revoked_at": at})

    def find_api_key(self, key_id):
        entry = self.keys.get(key_id)
        if entry is None:
            return None
        key = entry["key"]
        return StoredApiKey(entry["tenant"], entry["hash"], key.revoked_at, key.last_used_at)

    def record_api_key_use(self, key_id, at, *, unless_since):
        entry = self.keys.get(key_id)
        if entry is None or (entry["key"].last_used_at and entry["key"].last_used_at > unless_since):
            return False
        self.uses += 1
        entry["key"] = ApiKey(**{**entry["key"].model_dump(), "last_used_at": at})
        return True
