"""DynamoDB implementation of :class:`leadtide.leads.backfill.ProfileBackfillStore`.

Pages a tenant's lead profiles through ``leads_by_created`` (``list_pk=T#<tenant>``, one Query per step),
computes what a fresh write of each lead stores (:func:`leadtide.dal.lead_profile.lead_item_values`), reads the
identity items the leads may own in one BatchGetItem, and writes one conditional UpdateItem per profile
whose condition compares the attributes as read, byte for byte (raw DynamoDB JSON, so a timestamp stored
in an older format still compares equal to itself).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.errors import condition_failed
from leadtide.dal.items import IdentityItem, LeadItem, identity_pk, tenant_list_pk
from leadtide.dal.lead_profile import (
    PROFILE,
    identity_entry,
    identity_of_entry,
    lead_from_item,
    lead_item_values,
    owned_identity_keys,
)
from leadtide.leads.ports import IdentityKey, ProfileBackfillStore, ProfilePatch, StoredProfile

DERIVED_SOURCES: dict[str, tuple[str, ...]] = {
    "list_pk": (),
    "created_sk": ("created_at",),
    "activity_sk": ("last_activity_at",),
    "score_sk": ("score",),
    "search_text": ("name", "first_name", "last_name", "email", "phone", "company", "instagram_id"),
    "cond_pk": (),
    "cond_sk": (),
}
"""Derived attributes of a profile (what :func:`leadtide.dal.lead_profile.profile_keys` adds besides ``pk``/``sk``;
a unit test keeps both in step) -> the stored attributes each derives from (besides the immutable tenant
and lead ids). A backfill write is conditioned on ``updated_at`` and on these sources as read: writers that
change a source without moving ``updated_at`` (scores, tracked activity) also make the write fail."""

CUSTOM_IDENTITY_CANDIDATES = 20
"""At most this many scalar custom-field values per profile are checked as ``custom:<key>`` identity keys
(a unique custom field an import matched on)."""

_SCOPE = "leads:backfill"


def identity_candidates(item: LeadItem) -> list[IdentityKey]:
    """Identity keys a stored profile may own: :func:`~leadtide.dal.lead_profile.owned_identity_keys` (its
    ``identity_keys`` entries and contact fields) plus ``("custom:<key>", str(value))`` for its first
    :data:`CUSTOM_IDENTITY_CANDIDATES` string or number custom-field values (imports claim those for a
    unique custom field). Callers keep only the keys whose identity item names the lead."""
    keys = list(owned_identity_keys(item))
    custom = item.custom_fields if isinstance(item.custom_fields, dict) else {}
    extra = [
        (f"custom:{name}", str(value))
        for name, value in sorted(custom.items())
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value) != ""
    ]
    keys += extra[:CUSTOM_IDENTITY_CANDIDATES]
    return list(dict.fromkeys(keys))


class DynamoProfileBackfillStore(DynamoRepository, ProfileBackfillStore):
    """Backfill reads and conditional writes over the leads table (see the module docstring)."""

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("dynamodb")

    def page_profiles(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[StoredProfile], int, str | None]:
        """See :meth:`ProfileBackfillStore.page_profiles`: one Query of ``leads_by_created`` (newest first)
        of at most ``limit`` items; the cursor is the page's LastEvaluatedKey, bound to the tenant."""
        start_key = decode_cursor(cursor, scope=_SCOPE, tenant_prefix=f"T#{tenant_id}")
        results = LeadItem.by_created.query(
            tenant_list_pk(tenant_id),
            scan_index_forward=False,
            last_evaluated_key=start_key,
            limit=limit,
            page_size=limit,
        )
        profiles: list[StoredProfile] = []
        unreadable = 0
        last_key: dict[str, Any] | None = None
        for page in results.page_iter:
            items = page.get("Items", [])
            for raw in items:
                if raw.get("sk", {}).get("S") != PROFILE:
                    continue
                profile = _stored_profile(raw)
                if profile is None:
                    unreadable += 1
                else:
                    profiles.append(profile)
            last_key = page.get("LastEvaluatedKey")
            break  # one page (Limit=limit items) per step
        return profiles, unreadable, encode_cursor(last_key, scope=_SCOPE)

    def identity_owners(self, tenant_id: str, keys: Sequence[IdentityKey]) -> dict[IdentityKey, str]:
        """BatchGetItem of the identity items (100 keys per call; PynamoDB retries unprocessed keys)."""
        by_pk = {identity_pk(tenant_id, kind, value): (kind, value) for kind, value in keys}
        return {
            by_pk[item.pk]: item.lead_id
            for item in IdentityItem.batch_get([(pk, "IDENTITY") for pk in by_pk])
            if item.pk in by_pk
        }

    def apply(self, tenant_id: str, profile: StoredProfile, patch: ProfilePatch) -> bool:
        """One UpdateItem: SET the derived attributes, ADD the identity entries, on condition that the
        profile exists and ``updated_at``, every source of a written attribute (:data:`DERIVED_SOURCES`)
        and, when identities are added, ``identity_keys`` are as read. False on ConditionalCheckFailed."""
        from botocore.exceptions import ClientError

        raw: Mapping[str, Any] = profile.version
        names: dict[str, str] = {"#pk": "pk"}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for n, (name, value) in enumerate(sorted(patch.set.items())):
            names[f"#s{n}"] = name
            values[f":s{n}"] = {"S": str(value)}
            sets.append(f"#s{n} = :s{n}")
        watched = {"updated_at"}
        for name in patch.set:
            watched.update(DERIVED_SOURCES.get(name, ()))
        expression = "SET " + ", ".join(sets) if sets else ""
        if patch.add_identities:
            watched.add("identity_keys")
            names["#ik"] = "identity_keys"
            values[":ik"] = {"SS": sorted(identity_entry(k, v) for k, v in patch.add_identities)}
            expression = f"{expression} ADD #ik :ik".strip()
        conditions = ["attribute_exists(#pk)"]
        for n, name in enumerate(sorted(watched)):
            names[f"#c{n}"] = name
            if name in raw:
                values[f":c{n}"] = raw[name]
                conditions.append(f"#c{n} = :c{n}")
            else:
                conditions.append(f"attribute_not_exists(#c{n})")
        try:
            self._client.update_item(
                TableName=LeadItem.Meta.table_name,
                Key={"pk": raw["pk"], "sk": raw["sk"]},
                UpdateExpression=expression,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as err:
            if condition_failed(err):
                return False
            raise
        return True


def _stored_profile(raw: dict[str, Any]) -> StoredProfile | None:
    """The :class:`StoredProfile` of a raw profile item, or None when it does not parse as a lead."""
    try:
        item = LeadItem.from_raw_data(raw)
        lead = lead_from_item(item)
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError):
        return None
    fresh_values = lead_item_values(lead)
    fresh = {name: fresh_values[name] for name in DERIVED_SOURCES if name in fresh_values}
    stored = {name: raw[name]["S"] for name in DERIVED_SOURCES if "S" in raw.get(name, {})}
    entries = item.identity_keys or set()
    return StoredProfile(
        lead_id=lead.lead_id,
        stored=stored,
        fresh=fresh,
        identity_keys=frozenset(identity_of_entry(entry) for entry in entries),
        candidates=tuple(identity_candidates(item)),
        version=raw,
    )
