"""PynamoDB item classes of the leads and channels tables (keys and indexes as in template.yaml).

Key layout (see docs/data-model.md for the access pattern each serves):

LeadsTable
    lead profile      pk=T#<tenant>#L#<lead_id>          sk=PROFILE     list_pk=T#<tenant> (+3 GSI sort keys)
    activity          pk=T#<tenant>#L#<lead_id>          sk=A#<iso time>#<activity_id>
    score history     pk=T#<tenant>#L#<lead_id>          sk=S#<iso time>
    identity key      pk=T#<tenant>#I#<kind>#<value>     sk=IDENTITY    -> lead_id
    message marker    pk=T#<tenant>#M#<channel>#<id>     sk=MESSAGE     -> lead_id, activity sk, delivery status
    counter           pk=T#<tenant>#STATS                sk=total | status#<status> | source#<channel>
ChannelsTable
    channel           pk=T#<tenant>                      sk=C#<channel_id>
    route             pk=R#<channel type>#<route key>    sk=ROUTE
    verify token      pk=V#<channel type>#<sha256>       sk=VERIFY
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


def lead_pk(tenant_id: str, lead_id: str) -> str:
    """Partition key of a lead's profile, timeline and score history."""
    return f"T#{tenant_id}#L#{lead_id}"


def tenant_list_pk(tenant_id: str) -> str:
    """Partition key of the tenant's lead lists (the three GSIs)."""
    return f"T#{tenant_id}"


def identity_pk(tenant_id: str, kind: str, value: str) -> str:
    """Partition key of an identity lookup item (phone, email, instagram)."""
    return f"T#{tenant_id}#I#{kind}#{value}"


def marker_pk(tenant_id: str, channel_type: str, provider_message_id: str) -> str:
    """Partition key of a provider message marker (idempotency + delivery status)."""
    return f"T#{tenant_id}#M#{channel_type}#{provider_message_id}"


def stats_pk(tenant_id: str) -> str:
    """Partition key of the tenant's dashboard counters."""
    return f"T#{tenant_id}#STATS"


class _LeadsTableModel(Model):
    class Meta:
        table_name = "leadtide-leads"  # bound to Settings.leads_table by bind_tables()

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _ChannelsTableModel(Model):
    class Meta:
        table_name = "leadtide-channels"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class LeadsByCreated(GlobalSecondaryIndex["LeadItem"]):
    """Tenant's leads by creation time (``created_sk`` = ``<iso>#<lead_id>``)."""

    class Meta:
        index_name = "leads_by_created"
        projection = AllProjection()

    list_pk = UnicodeAttribute(hash_key=True)
    created_sk = UnicodeAttribute(range_key=True)


class LeadsByActivity(GlobalSecondaryIndex["LeadItem"]):
    """Tenant's leads by last activity (``activity_sk`` = ``<iso>#<lead_id>``)."""

    class Meta:
        index_name = "leads_by_activity"
        projection = AllProjection()

    list_pk = UnicodeAttribute(hash_key=True)
    activity_sk = UnicodeAttribute(range_key=True)


class LeadsByScore(GlobalSecondaryIndex["LeadItem"]):
    """Tenant's leads by score (``score_sk`` = ``<000-100>#<lead_id>``, ``-01`` unscored)."""

    class Meta:
        index_name = "leads_by_score"
        projection = AllProjection()

    list_pk = UnicodeAttribute(hash_key=True)
    score_sk = UnicodeAttribute(range_key=True)


class LeadItem(_LeadsTableModel):
    """A lead's profile (sk=PROFILE). Attribute names equal the fields of ``models.leads.Lead``."""

    list_pk = UnicodeAttribute()
    created_sk = UnicodeAttribute()
    activity_sk = UnicodeAttribute()
    score_sk = UnicodeAttribute()
    by_created = LeadsByCreated()
    by_activity = LeadsByActivity()
    by_score = LeadsByScore()

    lead_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    instagram_id = UnicodeAttribute(null=True)
    company = UnicodeAttribute(null=True)
    job_title = UnicodeAttribute(null=True)
    source_channel = UnicodeAttribute()
    source_channel_id = UnicodeAttribute(null=True)
    referral = JSONAttribute(null=True)
    status = UnicodeAttribute()
    owner_id = UnicodeAttribute(null=True)
    score = NumberAttribute(null=True)
    grade = UnicodeAttribute(null=True)
    score_breakdown = JSONAttribute(null=True)
    scored_at = UTCDateTimeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, null=True)
    custom_fields = JSONAttribute(null=True)
    message_count = NumberAttribute(default=0)
    last_message_preview = UnicodeAttribute(null=True)
    search_text = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    last_activity_at = UTCDateTimeAttribute()


class ActivityItem(_LeadsTableModel):
    """A timeline entry (sk=A#<iso>#<id>). The entry itself is ``doc``; delivery state is kept beside it so
    status callbacks update it without a read."""

    doc = JSONAttribute()
    provider_message_id = UnicodeAttribute(null=True)
    delivery_status = UnicodeAttribute(null=True)
    delivery_status_at = UTCDateTimeAttribute(null=True)
    retracted = BooleanAttribute(null=True)


class ScoreHistoryItem(_LeadsTableModel):
    """One score change of a lead (sk=S#<iso>)."""

    score = NumberAttribute()
    grade = UnicodeAttribute()
    previous_score = NumberAttribute(null=True)
    previous_grade = UnicodeAttribute(null=True)
    cause = UnicodeAttribute()
    breakdown = JSONAttribute(null=True)
    scored_at = UTCDateTimeAttribute()


class IdentityItem(_LeadsTableModel):
    """Identity key -> lead id (sk=IDENTITY). Conditional puts make identities unique per tenant."""

    lead_id = UnicodeAttribute()


class MessageMarkerItem(_LeadsTableModel):
    """Provider message id -> lead and activity (sk=MESSAGE); the idempotency key of captured messages."""

    lead_id = UnicodeAttribute(null=True)
    activity_sk = UnicodeAttribute(null=True)
    delivery_status = UnicodeAttribute(null=True)
    delivery_status_at = UTCDateTimeAttribute(null=True)
    delivery_errors = JSONAttribute(null=True)
    status_history: ListAttribute[Any] = ListAttribute(null=True)  # [{status, at}] oldest first
    retracted = BooleanAttribute(null=True)


class CounterItem(_LeadsTableModel):
    """A dashboard counter (pk=T#<tenant>#STATS, sk=total | status#<s> | source#<c>)."""

    # Named ``value`` in Python: ``count`` would shadow PynamoDB's Model.count(); stored as "count".
    value = NumberAttribute(default=0, attr_name="count")


class ChannelItem(_ChannelsTableModel):
    """A tenant's channel (pk=T#<tenant>, sk=C#<channel_id>); ``doc`` is the public ``Channel`` model."""

    doc = JSONAttribute()
    route_key = UnicodeAttribute()
    verify_token_hash = UnicodeAttribute(null=True)
    secret_name = UnicodeAttribute(null=True)


class ChannelRouteItem(_ChannelsTableModel):
    """Routing entry for webhooks (pk=R#<type>#<key>); ``doc`` is a ``ChannelRoute``."""

    doc = JSONAttribute()


class VerifyTokenItem(_ChannelsTableModel):
    """Meta verify-token lookup (pk=V#<type>#<sha256 of token>); ``doc`` is a ``ChannelRoute``."""

    doc = JSONAttribute()


LEADS_TABLE_MODELS: tuple[type[Model], ...] = (
    LeadItem,
    ActivityItem,
    ScoreHistoryItem,
    IdentityItem,
    MessageMarkerItem,
    CounterItem,
)
CHANNELS_TABLE_MODELS: tuple[type[Model], ...] = (ChannelItem, ChannelRouteItem, VerifyTokenItem)


def bind_tables(leads_table: str, channels_table: str) -> None:
    """Point every item class at the deployed table names (idempotent; resets cached connections on change)."""
    for models, name in ((LEADS_TABLE_MODELS, leads_table), (CHANNELS_TABLE_MODELS, channels_table)):
        for model in models:
            if model.Meta.table_name != name:
                model.Meta.table_name = name
                model._connection = None
