"""DynamoDB implementation of :class:`leadtide.scoring.ports.ScoringStore`.

Items (see :mod:`leadtide.dal.items`): ``ScoringModelItem``/``ScoringConfigItem`` under
``T#<tenant>#SCORING``; ``EngagementItem`` (sk=ENGAGEMENT) beside the lead profile; score history under the
lead's partition (sk=S#<iso>#<8 hex>). Batch scoring reads profiles and engagement records with one
BatchGetItem per 100 keys of each kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.engagement import store_engaged
from leadtide.dal.errors import CONDITION_REASON, cancellation_codes, condition_failed
from leadtide.dal.items import (
    EngagementItem,
    LeadItem,
    ScoreHistoryItem,
    ScoringConfigItem,
    ScoringModelItem,
    lead_pk,
    tenant_list_pk,
)
from leadtide.dal.lead_profile import PROFILE, score_sort_key
from leadtide.dal.rawdecode import ItemDecoder, batch_get_raw
from leadtide.models.common import iso
from leadtide.models.errors import ConflictError, LeadNotFoundError, ScoringModelNotFoundError
from leadtide.models.scoring import ScoreHistoryEntry, ScoringModel
from leadtide.scoring.ports import Occurrence, ScoringInput, ScoringStore, merge_occurrences

ENGAGEMENT = "ENGAGEMENT"
CONFIG = "CONFIG"
_BATCH = 100
_OPTIMISTIC_RETRIES = 5


def scoring_pk(tenant_id: str) -> str:
    """Partition key of the tenant's scoring models and pointer."""
    return f"T#{tenant_id}#SCORING"


def engagement_to_input(lead: dict[str, Any], item: EngagementItem | None) -> ScoringInput:
    """A :class:`ScoringInput` from a profile dict and its engagement record (if any)."""
    if item is None or not item.occ:
        return ScoringInput(lead=lead)
    occ = {t: [float(e[0]) for e in entries] for t, entries in item.occ.items()}
    counts = {t: int(c) for t, c in (item.counts or {}).items()}
    return ScoringInput(lead=lead, occurrences=occ, counts=counts, last_event_at=item.last_event_at)


def engagement_values_to_input(lead: dict[str, Any], values: dict[str, Any] | None) -> ScoringInput:
    """:func:`engagement_to_input` from an engagement record's decoded attribute values (or None)."""
    occ_map = values.get("occ") if values else None
    if not occ_map:
        return ScoringInput(lead=lead)
    assert values is not None
    occ = {t: [float(e[0]) for e in entries] for t, entries in occ_map.items()}
    counts = {t: int(c) for t, c in (values.get("counts") or {}).items()}
    return ScoringInput(lead=lead, occurrences=occ, counts=counts, last_event_at=values.get("last_event_at"))


@lru_cache(maxsize=1)
def _decoders() -> tuple[ItemDecoder, ItemDecoder]:
    return ItemDecoder(LeadItem), ItemDecoder(EngagementItem)


def lead_values(item: LeadItem) -> dict[str, Any]:
    """The profile item's attributes as a plain dict (``Lead`` field names; sets become sorted lists)."""
    return profile_values(dict(item.attribute_values))


def profile_values(values: dict[str, Any]) -> dict[str, Any]:
    """:func:`lead_values` of decoded profile attribute values (changed in place and returned)."""
    for name in ("segment_ids", "list_ids"):
        if isinstance(values.get(name), set):
            values[name] = sorted(values[name])
    values["custom_fields"] = values.get("custom_fields") or {}
    values["tags"] = values.get("tags") or []
    return values


class DynamoScoringStore(DynamoRepository, ScoringStore):
    """Scoring models, engagement records and scores over the leads table."""

    # ------------------------------------------------------------------ models
    def list_models(self, tenant_id: str) -> list[ScoringModel]:
        default = self.default_model_id(tenant_id)
        models = [
            self._model(item, default)
            for item in ScoringModelItem.query(scoring_pk(tenant_id), ScoringModelItem.sk.startswith("M#"))
        ]
        return sorted(models, key=lambda m: (not m.is_default, m.created_at))

    def get_model(self, tenant_id: str, model_id: str) -> ScoringModel:
        try:
            item = ScoringModelItem.get(scoring_pk(tenant_id), f"M#{model_id}")
        except DoesNotExist:
            raise ScoringModelNotFoundError(f"scoring model {model_id} not found") from None
        return self._model(item, self.default_model_id(tenant_id))

    @staticmethod
    def _model(item: ScoringModelItem, default_id: str | None) -> ScoringModel:
        model = ScoringModel.model_validate(item.doc)
        is_default = model.model_id == default_id
        return model.model_copy(update={"is_default": is_default, "active": model.active or is_default})

    def put_model(self, model: ScoringModel, *, expected_version: int | None) -> None:
        doc = model.model_dump(mode="json", exclude={"is_default"})
        item = ScoringModelItem(
            scoring_pk(model.tenant_id), f"M#{model.model_id}", doc=doc, version=model.version
        )
        condition = (
            ScoringModelItem.pk.does_not_exist()
            if expected_version is None
            else ScoringModelItem.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as err:
            if condition_failed(err):
                raise ConflictError(
                    f"scoring model {model.model_id} changed meanwhile; reload and retry",
                    code="scoring_model_conflict",
                ) from err
            raise

    def delete_model(self, tenant_id: str, model_id: str) -> None:
        if self.default_model_id(tenant_id) == model_id:
            raise ConflictError(
                "this is the active default model; activate another model first",
                code="scoring_model_active",
            )
        try:
            ScoringModelItem(scoring_pk(tenant_id), f"M#{model_id}").delete(
                condition=ScoringModelItem.pk.exists()
            )
        except DeleteError as err:
            if condition_failed(err):
                raise ScoringModelNotFoundError(f"scoring model {model_id} not found") from None
            raise

    def default_model_id(self, tenant_id: str) -> str | None:
        try:
            return ScoringConfigItem.get(scoring_pk(tenant_id), CONFIG).default_model_id
        except DoesNotExist:
            return None

    def set_default_model(self, tenant_id: str, model_id: str) -> None:
        pk = scoring_pk(tenant_id)
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.condition_check(
                    ScoringModelItem, pk, f"M#{model_id}", condition=ScoringModelItem.pk.exists()
                )
                tx.save(
                    ScoringConfigItem(pk, CONFIG, default_model_id=model_id, updated_at=datetime.now(UTC))
                )
        except TransactWriteError as err:
            if cancellation_codes(err)[:1] == [CONDITION_REASON]:
                raise ScoringModelNotFoundError(f"scoring model {model_id} not found") from err
            raise

    # ------------------------------------------------------------------ scoring inputs
    def load_for_scoring(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, ScoringInput]:
        """Profiles and engagement records by BatchGetItem (100 keys a request), decoded from the raw
        items by :mod:`leadtide.dal.rawdecode` (the same values as PynamoDB's ``from_raw_data``, several
        times cheaper). Leads without a profile are left out."""
        ids = list(dict.fromkeys(lead_ids))
        profile_decoder, engagement_decoder = _decoders()
        profiles: dict[str, dict[str, Any]] = {}
        engagement: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            for raw in batch_get_raw(LeadItem, [(lead_pk(tenant_id, i), PROFILE) for i in chunk]):
                values = profile_values(profile_decoder.decode(raw))
                profiles[values["lead_id"]] = values
            for raw in batch_get_raw(EngagementItem, [(lead_pk(tenant_id, i), ENGAGEMENT) for i in chunk]):
                decoded = engagement_decoder.decode(raw)
                engagement[decoded["pk"].rsplit("#", 1)[1]] = decoded
        return {
            lead_id: engagement_values_to_input(values, engagement.get(lead_id))
            for lead_id, values in profiles.items()
        }

    def record_occurrences(self, tenant_id: str, lead_id: str, occurrences: Sequence[Occurrence]) -> int:
        pk = lead_pk(tenant_id, lead_id)
        for _ in range(_OPTIMISTIC_RETRIES):
            try:
                current = EngagementItem.get(pk, ENGAGEMENT, consistent_read=True)
            except DoesNotExist:
                current = None
            occ = dict(current.occ or {}) if current else {}
            counts = dict(current.counts or {}) if current else {}
            added = merge_occurrences(occ, counts, occurrences)
            if not added:
                if current is not None:
                    # A redelivery: the record has them already, but the summary write that followed the
                    # first delivery may have been lost (conditional: no-op when already stored).
                    store_engaged(pk, occ, counts, int(current.version or 0))
                return 0
            version = int(current.version or 0) if current else 0
            last = max(o.at for o in occurrences)
            if current and current.last_event_at and current.last_event_at > last:
                last = current.last_event_at
            try:
                with TransactWrite(connection=self.connection) as tx:
                    tx.condition_check(LeadItem, pk, PROFILE, condition=LeadItem.pk.exists())
                    tx.save(
                        EngagementItem(
                            pk, ENGAGEMENT, occ=occ, counts=counts, last_event_at=last, version=version + 1
                        ),
                        condition=(
                            EngagementItem.version == version
                            if current
                            else EngagementItem.pk.does_not_exist()
                        ),
                    )
            except TransactWriteError as err:
                if not condition_failed(err):
                    raise
                if cancellation_codes(err)[:1] == [CONDITION_REASON]:
                    return 0  # the lead is gone
                continue  # someone else wrote the record meanwhile: merge again
            store_engaged(pk, occ, counts, version + 1)  # profile summary (leadtide.dal.engagement)
            return added
        raise ConflictError("engagement record kept changing; retry", code="engagement_conflict")

    # ------------------------------------------------------------------ scores
    def save_score(
        self, tenant_id: str, lead_id: str, values: dict[str, Any], history: ScoreHistoryEntry
    ) -> None:
        pk = lead_pk(tenant_id, lead_id)
        actions: list[Action] = []
        for name, value in values.items():
            attr = getattr(LeadItem, name)
            actions.append(attr.remove() if value is None else attr.set(value))
        if "score" in values:
            actions.append(LeadItem.score_sk.set(score_sort_key(values["score"], lead_id)))
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.update(LeadItem(pk, PROFILE), actions=actions, condition=LeadItem.pk.exists())
                tx.save(self._history_item(pk, history))
        except TransactWriteError as err:
            if cancellation_codes(err)[:1] == [CONDITION_REASON]:
                raise LeadNotFoundError(f"lead {lead_id} not found") from err
            raise

    @staticmethod
    def _history_item(pk: str, h: ScoreHistoryEntry) -> ScoreHistoryItem:
        return ScoreHistoryItem(
            pk,
            f"S#{iso(h.at)}#{uuid.uuid4().hex[:8]}",
            score=h.score if h.score is not None else 0,
            grade=str(h.grade) if h.grade else "cold",
            previous_score=h.previous_score,
            previous_grade=str(h.previous_grade) if h.previous_grade else None,
            cause=h.cause,
            breakdown=h.breakdown,
            scored_at=h.at,
            cause_event_id=h.cause_event_id,
            cause_event_type=h.cause_event_type,
            previous_breakdown=h.previous_breakdown or None,
            fit_score=h.fit_score,
            engagement_score=h.engagement_score,
            conversion_probability=h.conversion_probability,
            scoring_model_id=h.scoring_model_id,
            override=h.override,
        )

    def list_history(
        self, tenant_id: str, lead_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ScoreHistoryEntry], str | None]:
        pk = lead_pk(tenant_id, lead_id)
        scope = f"score-history:{lead_id}"
        start = decode_cursor(cursor, scope=scope, tenant_prefix=f"T#{tenant_id}")
        results = ScoreHistoryItem.query(
            pk,
            ScoreHistoryItem.sk.startswith("S#"),
            scan_index_forward=False,
            last_evaluated_key=start,
            limit=limit,
            page_size=limit,
        )
        entries = [
            ScoreHistoryEntry(
                at=i.scored_at,
                cause=i.cause,
                cause_event_id=i.cause_event_id,
                cause_event_type=i.cause_event_type,
                score=int(i.score) if i.score is not None else None,
                previous_score=int(i.previous_score) if i.previous_score is not None else None,
                grade=i.grade,
                previous_grade=i.previous_grade,
                breakdown=i.breakdown or [],
                previous_breakdown=i.previous_breakdown or [],
                fit_score=i.fit_score,
                engagement_score=i.engagement_score,
                conversion_probability=i.conversion_probability,
                scoring_model_id=i.scoring_model_id,
                override=i.override,
            )
            for i in results
        ]
        return entries, encode_cursor(results.last_evaluated_key, scope=scope)

    def iter_lead_id_pages(self, tenant_id: str | None, page_size: int) -> Iterator[tuple[str, list[str]]]:
        """One tenant: a keys-only walk of its leads_by_created partition. Every tenant: a scan of the
        leads_by_created index, which only lead profiles populate (a sparse index), so timeline and history
        items are never read."""
        if tenant_id is not None:
            rows: Iterator[Any] = LeadItem.by_created.query(
                tenant_list_pk(tenant_id), attributes_to_get=["list_pk", "created_sk"]
            )
        else:
            rows = LeadItem.by_created.scan(attributes_to_get=["list_pk", "created_sk"])
        pages: dict[str, list[str]] = {}
        for row in rows:
            if row.list_pk.count("#") != 1:
                continue  # static-list / segment members share the index under their own partitions
            tenant = row.list_pk[2:]
            lead_id = row.created_sk.rsplit("#", 1)[1]
            page = pages.setdefault(tenant, [])
            page.append(lead_id)
            if len(page) >= page_size:
                yield tenant, page
                pages[tenant] = []
        for tenant, page in pages.items():
            if page:
                yield tenant, page
