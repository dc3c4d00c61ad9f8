"""PynamoDB item classes of the leads and channels tables (keys and indexes as in template.yaml).

Key layout (see docs/data-model.md for the access pattern each serves):

LeadsTable
    lead profile      pk=T#<tenant>#L#<lead_id>          sk=PROFILE     list_pk=T#<tenant> (+3 GSI sort keys)
                                                                        cond_pk=T#<tenant>#COND#<shard 00-15>,
                                                                        cond_sk=<lead_id> (condition index)
    activity          pk=T#<tenant>#L#<lead_id>          sk=A#<iso time>#<activity_id>
    score history     pk=T#<tenant>#L#<lead_id>          sk=S#<iso time>
    identity key      pk=T#<tenant>#I#<kind>#<value>     sk=IDENTITY    -> lead_id (listed in the profile's
                                                                        identity_keys: <kind>#<value>)
    message marker    pk=T#<tenant>#M#<channel>#<id>     sk=MESSAGE     -> lead_id, activity sk, delivery status
    counter           pk=T#<tenant>#STATS                sk=total | status#<status> | source#<channel>
    static list       pk=T#<tenant>#LISTS                sk=LIST#<list_id>   name, count (ADD), status
    list membership   pk=T#<tenant>#LIST#<list_id>       sk=L#<lead_id>      list_pk=<pk>,
                                                                             created_sk=<added iso>#<lead_id>
    list job          pk=T#<tenant>#LISTJOBS             sk=<list_id>#<job_id> (time-ordered hex id) status,
                                                                             counters (ADD), steps, cursor
    backfill run      pk=T#<tenant>#BACKFILL             sk=<run_id> (time-ordered hex id) status, counters (ADD),
                                                                             attributes map, steps, cursor
    segment           pk=T#<tenant>#SEGMENTS             sk=SEG#<segment_id> rules, version, status, count (ADD)
    segment member    pk=T#<tenant>#SEG#<segment_id>     sk=L#<lead_id>      list_pk=<pk>,
                                                                             created_sk=<lead created iso>#<lead_id>
    ML model version  pk=T#<tenant>#MLM                  sk=V#<model_version>   (registry entry, doc)
    ML pointer        pk=T#<tenant>#MLM                  sk=POINTER   champion, challenger, traffic %
    ML outcome        pk=T#<tenant>#MLO#<model_version>  sk=<lead_id> probability at scoring + outcome
    ML tenant         pk=MLTENANTS                       sk=<tenant>  tenants retrained on schedule
    starter model     pk=MLSTARTER                       sk=V#<model_version> | POINTER
    export            pk=T#<tenant>#EXPORTS              sk=<export_id> (time-ordered hex id)
    bulk action       pk=T#<tenant>#BULK                 sk=<bulk_action_id> (time-ordered hex id)
    bulk chunk done   pk=T#<tenant>#BULK#<action_id>     sk=C#<chunk index, 6 digits>  -> outcome counts, failures
    import            pk=T#<tenant>#IMPORTS              sk=<import_id> (time-ordered hex id) status, counters, doc
    import chunk mark pk=T#<tenant>#IMPORT#<import_id>   sk=C#<n> | R#<n> (rollback) | A#<n> (attempts), 6 digits
    import mapping    pk=T#<tenant>#IMPORTMAPS           sk=<mapping name> -> columns, headers
    custom field      pk=T#<tenant>#CF                   sk=F#<key>          doc (the definition), version
    scoring model     pk=T#<tenant>#SCORING              sk=M#<model_id> doc, version | CONFIG -> default model
    engagement        pk=T#<tenant>#L#<lead_id>          sk=ENGAGEMENT  behaviour occurrences for scoring
                                                                        (summary copied to the profile:
                                                                        last_engaged, engaged_counts)
    score history     (scoring models)                   sk=S#<iso>#<8 hex>
    tracked event     pk=T#<tenant>#EV#<event_id>        sk=EVENT       -> lead_id, activity sk (idempotency)
    API key           pk=K#<key_id>                      sk=APIKEY      tenant, SHA-256 of the key, revoked_at
    API key (list)    pk=T#<tenant>#APIKEYS              sk=K#<key_id>  same attributes
    duplicate pair    pk=T#<tenant>#DUP                  sk=P#<lead_a>#<lead_b>  list_pk=<pk>,
                                                                             score_sk=<000-100>#<a>#<b>
    merge record      pk=T#<tenant>#MERGE                sk=<merge_id> (time-ordered hex id) status, before-images
    merge engagement  pk=T#<tenant>#MERGE#<merge_id>     sk=E#<lead_id>  engagement records as the merge found
                                                                        them (undo restores them)
ChannelsTable
    channel           pk=T#<tenant>                      sk=C#<channel_id>
    route             pk=R#<channel type>#<route key>    sk=ROUTE
    verify token      pk=V#<channel type>#<sha256>       sk=VERIFY
"""

from __future__ import annotations

import zlib
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from leadtide.dal.jsoncodec import JSONValueAttribute


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


CONDITION_SHARDS = 16
"""Partitions of a tenant's condition index; a preview reads them in parallel (leadtide.dal.segments)."""

CONDITION_INDEX_ATTRIBUTES: tuple[str, ...] = (
    "name",
    "last_name",
    "email",
    "phone",
    "company",
    "job_title",
    "status",
    "source_channel",
    "owner_id",
    "grade",
    "score",
    "message_count",
    "tags",
    "custom_fields",
    "list_ids",
    "created_at",
    "updated_at",
    "last_activity_at",
    "last_engaged",
    "engaged_counts",
)
"""Non-key attributes projected into ``leads_by_condition_shard`` (template.yaml lists the same; a unit test
compares them). DynamoDB allows at most 20 per INCLUDE projection (and 100 across a table's indexes), so
four condition fields are left out: ``first_name`` (``name`` holds it), ``scored_at``, ``instagram_id``
and ``last_message_preview``; rules naming them read the full index instead. ``last_engaged`` and
``engaged_counts`` are in, so activity rules ("replied in the last 14 days", ``activity_count.*``) use
the index; volatile non-condition attributes (``segment_ids``,
``score_breakdown``, ``search_text``) stay out so that changing them does not write the index."""


def condition_shard(lead_id: str) -> int:
    """The lead's condition-index shard, 0..CONDITION_SHARDS-1: CRC-32 of the lead id (stable across
    processes and Python versions, unlike ``hash()``)."""
    return zlib.crc32(lead_id.encode()) % CONDITION_SHARDS


def condition_pk(tenant_id: str, shard: int) -> str:
    """Partition key of one shard of the tenant's condition index."""
    return f"T#{tenant_id}#COND#{shard:02d}"


def condition_keys(tenant_id: str, lead_id: str) -> dict[str, str]:
    """``cond_pk``/``cond_sk`` of a lead profile: every writer of a whole profile item sets both."""
    return {"cond_pk": condition_pk(tenant_id, condition_shard(lead_id)), "cond_sk": lead_id}


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


class LeadsByConditionShard(GlobalSecondaryIndex["LeadItem"]):
    """Sparse, sharded condition index: only lead profiles carry ``cond_pk`` (``T#<t>#COND#<shard>``) and
    ``cond_sk`` (the lead id); projects :data:`CONDITION_INDEX_ATTRIBUTES` only."""

    class Meta:
        index_name = "leads_by_condition_shard"
        projection = IncludeProjection(list(CONDITION_INDEX_ATTRIBUTES))

    cond_pk = UnicodeAttribute(hash_key=True)
    cond_sk = UnicodeAttribute(range_key=True)


class LeadItem(_LeadsTableModel):
    """A lead's profile (sk=PROFILE). Attribute names equal the fields of ``models.leads.Lead``."""

    list_pk = UnicodeAttribute()
    created_sk = UnicodeAttribute()
    activity_sk = UnicodeAttribute()
    score_sk = UnicodeAttribute()
    by_created = LeadsByCreated()
    by_activity = LeadsByActivity()
    by_score = LeadsByScore()
    cond_pk = UnicodeAttribute(null=True)  # condition_keys(); null only on items written before the index
    cond_sk = UnicodeAttribute(null=True)
    by_condition_shard = LeadsByConditionShard()

    @staticmethod
    def condition_keys(tenant_id: str, lead_id: str) -> dict[str, str]:
        """See :func:`condition_keys` (reachable from the item class for raw encoders)."""
        return condition_keys(tenant_id, lead_id)

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
    referral = JSONValueAttribute(null=True)
    status = UnicodeAttribute()
    owner_id = UnicodeAttribute(null=True)
    score = NumberAttribute(null=True)
    grade = UnicodeAttribute(null=True)
    score_breakdown = JSONValueAttribute(null=True)
    scored_at = UTCDateTimeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, null=True)
    custom_fields = JSONValueAttribute(null=True)
    message_count = NumberAttribute(default=0)
    last_message_preview = UnicodeAttribute(null=True)
    import_id = UnicodeAttribute(null=True)  # provenance: the import that created the lead
    list_ids = UnicodeSetAttribute(null=True)  # static lists the lead is in (leadtide.lists)
    segment_ids = UnicodeSetAttribute(null=True)  # segments the lead is a member of (leadtide.segments)
    # Identity items (``<kind>#<value>``) claimed by or repointed to the lead: delete removes them all
    # (leadtide.dal.lead_profile.owned_identity_keys; docs/data-model.md "Identity ownership").
    identity_keys = UnicodeSetAttribute(null=True)
    # Scoring models (leadtide.scoring): grade above is the displayed one (an override wins).
    computed_grade = UnicodeAttribute(null=True)
    fit_score = NumberAttribute(null=True)
    engagement_score = NumberAttribute(null=True)
    conversion_probability = NumberAttribute(null=True)
    prediction_factors = JSONValueAttribute(null=True)
    prediction_model_version = UnicodeAttribute(null=True)
    scoring_model_id = UnicodeAttribute(null=True)
    grade_override = JSONValueAttribute(null=True)
    # Activity by behaviour event type, denormalised from the engagement record (leadtide.dal.engagement)
    # for the condition language's activity.<type> / activity_count.<type> fields: {type: ISO instant of
    # the latest occurrence}, {type: all-time count}, and the engagement record version they reflect.
    last_engaged = JSONValueAttribute(null=True)
    engaged_counts = JSONValueAttribute(null=True)
    engaged_version = NumberAttribute(null=True)
    search_text = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    last_activity_at = UTCDateTimeAttribute()


class ActivityItem(_LeadsTableModel):
    """A timeline entry (sk=A#<iso>#<id>). The entry itself is ``doc``; delivery state is kept beside it so
    status callbacks update it without a read."""

    doc = JSONValueAttribute()
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
    breakdown = JSONValueAttribute(null=True)
    scored_at = UTCDateTimeAttribute()
    # Scoring models (leadtide.scoring); sk=S#<iso>#<8 hex> for entries written by them.
    cause_event_id = UnicodeAttribute(null=True)
    cause_event_type = UnicodeAttribute(null=True)
    previous_breakdown = JSONValueAttribute(null=True)
    fit_score = NumberAttribute(null=True)
    engagement_score = NumberAttribute(null=True)
    conversion_probability = NumberAttribute(null=True)
    scoring_model_id = UnicodeAttribute(null=True)
    override = JSONValueAttribute(null=True)


class IdentityItem(_LeadsTableModel):
    """Identity key -> lead id (sk=IDENTITY). Conditional puts make identities unique per tenant.

    ``claimed_at``: epoch seconds, set by imports, whose claims precede the profile's write; a claim
    naming a lead without a profile is taken over only once older than
    :data:`leadtide.dal.lead_profile.STALE_CLAIM_SECONDS` (absent: at once)."""

    lead_id = UnicodeAttribute()
    claimed_at = NumberAttribute(null=True)


class MessageMarkerItem(_LeadsTableModel):
    """Provider message id -> lead and activity (sk=MESSAGE); the idempotency key of captured messages."""

    lead_id = UnicodeAttribute(null=True)
    activity_sk = UnicodeAttribute(null=True)
    delivery_status = UnicodeAttribute(null=True)
    delivery_status_at = UTCDateTimeAttribute(null=True)
    delivery_errors = JSONValueAttribute(null=True)
    status_history: ListAttribute[Any] = ListAttribute(null=True)  # [{status, at}] oldest first
    retracted = BooleanAttribute(null=True)


class CounterItem(_LeadsTableModel):
    """A dashboard counter (pk=T#<tenant>#STATS, sk=total | status#<s> | source#<c>)."""

    # Named ``value`` in Python: ``count`` would shadow PynamoDB's Model.count(); stored as "count".
    value = NumberAttribute(default=0, attr_name="count")


class ExportItem(_LeadsTableModel):
    """An export of leads (pk=T#<tenant>#EXPORTS, sk=<export_id>); ``doc`` is the request and outcome."""

    status = UnicodeAttribute()
    requested_by = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    doc = JSONValueAttribute()
    # An explicit selection's lead ids, 16 bytes each (10,000 ids = 160 KB, within the 400 KB item limit).
    lead_ids = BinaryAttribute(null=True, legacy_encoding=False)


class BulkActionItem(_LeadsTableModel):
    """A bulk action (pk=T#<tenant>#BULK, sk=<bulk_action_id>). Progress counters are top-level numbers so
    each chunk adds to them atomically; ``doc`` holds the request."""

    status = UnicodeAttribute()
    requested_by = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    total = NumberAttribute(null=True)
    chunks = NumberAttribute(null=True)
    processed = NumberAttribute(default=0)
    succeeded = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    doc = JSONValueAttribute()
    lead_ids = BinaryAttribute(null=True, legacy_encoding=False)  # as ExportItem.lead_ids


class BulkChunkItem(_LeadsTableModel):
    """One finished chunk of a bulk action (pk=T#<tenant>#BULK#<id>, sk=C#<index>): written with a
    does-not-exist condition in the same transaction as the counter update, so a redelivered chunk counts
    once. ``outcomes`` lists the failed and skipped leads: ``[[lead_id, "failed"|"skipped", reason]]``."""

    succeeded = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    outcomes = JSONValueAttribute(null=True)


class ImportItem(_LeadsTableModel):
    """A file import (pk=T#<tenant>#IMPORTS, sk=<import_id>). Progress counters are top-level numbers so each
    chunk step adds to them atomically (ADD); ``doc`` holds file, options, mapping, preview and errors."""

    status = UnicodeAttribute()
    requested_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    started_at = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)
    rows_total = NumberAttribute(null=True)
    rows_processed = NumberAttribute(default=0)
    created = NumberAttribute(default=0)
    updated = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    chunks_total = NumberAttribute(null=True)
    chunks_done = NumberAttribute(default=0)
    chunks_failed = NumberAttribute(default=0)
    rollback_chunks_done = NumberAttribute(default=0)
    rolled_back_deleted = NumberAttribute(default=0)
    rolled_back_restored = NumberAttribute(default=0)
    rollback_conflicts = NumberAttribute(default=0)
    doc = JSONValueAttribute()
    preview_swept_at = UTCDateTimeAttribute(null=True)  # file rows removed from doc after retention


class ImportChunkItem(_LeadsTableModel):
    """A finished (or failed) import/rollback chunk (pk=T#<tenant>#IMPORT#<id>, sk=C#/R#<n>), written with a
    does-not-exist condition in the transaction that adds its counts, so a redelivered chunk counts once;
    sk=A#<n> counts delivery attempts of chunk n."""

    state = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    outcome = JSONValueAttribute(null=True)


class ImportMappingItem(_LeadsTableModel):
    """A saved column mapping (pk=T#<tenant>#IMPORTMAPS, sk=<name>): ``columns`` header -> target and the
    ``headers`` of the file it was saved from (an identical header row suggests it automatically)."""

    columns = JSONValueAttribute()
    headers = JSONValueAttribute()
    saved_by = UnicodeAttribute()
    saved_at = UTCDateTimeAttribute()


class StaticListItem(_LeadsTableModel):
    """A static list (pk=T#<tenant>#LISTS, sk=LIST#<list_id>); ``member_count`` moves (ADD) in the same
    transaction as each membership change."""

    list_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    member_count = NumberAttribute(default=0)
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class ListMemberItem(_LeadsTableModel):
    """A lead in a static list (pk=T#<tenant>#LIST#<list_id>, sk=L#<lead_id>). ``list_pk``/``created_sk``
    put it in the leads_by_created index under its own partition, so members page newest-added first."""

    list_pk = UnicodeAttribute()
    created_sk = UnicodeAttribute()
    lead_id = UnicodeAttribute()
    added_at = UTCDateTimeAttribute()
    added_by = UnicodeAttribute(null=True)


class ListJobItem(_LeadsTableModel):
    """A static list's background job, a filter add past the synchronous limit
    (pk=T#<tenant>#LISTJOBS, sk=<list_id>#<job_id>). ``added``/``already_members`` grow by ADD in the
    UpdateItem that also moves ``steps`` (condition: ``steps`` = the step - 1), so a redelivered step counts
    once; ``cursor`` is where the next step starts; ``queued_step`` the last step sent to the jobs queue."""

    list_id = UnicodeAttribute()
    job_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    lead_filter = JSONValueAttribute()
    added = NumberAttribute(default=0)
    already_members = NumberAttribute(default=0)
    steps = NumberAttribute(default=0)
    queued_step = NumberAttribute(default=0)
    attempts = NumberAttribute(default=0)
    cursor = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute()
    created_role = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)


class BackfillRunItem(_LeadsTableModel):
    """A lead-profile backfill run (pk=T#<tenant>#BACKFILL, sk=<run_id>, time-ordered, so a Query lists
    newest first). The counters (and each ``attribute_counts`` entry: attribute name -> profiles written)
    grow in the UpdateItem that also moves ``steps`` (condition: ``status = running AND steps`` = the step
    - 1), so a redelivered step counts once; ``cursor`` is where the next step starts; ``queued_step`` the
    last step sent to the jobs queue."""

    run_id = UnicodeAttribute()
    status = UnicodeAttribute()
    scanned = NumberAttribute(default=0)
    updated = NumberAttribute(default=0)
    up_to_date = NumberAttribute(default=0)
    skipped_concurrent = NumberAttribute(default=0)
    unreadable = NumberAttribute(default=0)
    attribute_counts = MapAttribute[str, Any](default=dict)
    steps = NumberAttribute(default=0)
    queued_step = NumberAttribute(default=0)
    attempts = NumberAttribute(default=0)
    cursor = UnicodeAttribute(null=True)
    started_by = UnicodeAttribute()
    started_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)


class SegmentItem(_LeadsTableModel):
    """A dynamic segment (pk=T#<tenant>#SEGMENTS, sk=SEG#<segment_id>). ``version`` moves on every rule
    change; membership writes are conditioned on it. ``member_count`` moves (ADD) with each membership
    change."""

    segment_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    include = JSONValueAttribute()
    exclude = JSONValueAttribute(null=True)
    version = NumberAttribute()
    status = UnicodeAttribute()
    time_dependent = BooleanAttribute(default=False)
    member_count = NumberAttribute(default=0)
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    built_at = UTCDateTimeAttribute(null=True)


class SegmentMemberItem(_LeadsTableModel):
    """A lead in a segment (pk=T#<tenant>#SEG#<segment_id>, sk=L#<lead_id>); indexed in leads_by_created
    under its own partition by the lead's creation time, like the inbox."""

    list_pk = UnicodeAttribute()
    created_sk = UnicodeAttribute()
    lead_id = UnicodeAttribute()
    entered_at = UTCDateTimeAttribute()
    version = NumberAttribute()


class ChannelItem(_ChannelsTableModel):
    """A tenant's channel (pk=T#<tenant>, sk=C#<channel_id>); ``doc`` is the public ``Channel`` model as
    connected. ``status``/``activated_at`` (absent on channels from before activation: active) override the
    doc's once a signed delivery activates it; ``claim_sk`` is the sort key of its route item (absent:
    ``ROUTE``)."""

    doc = JSONValueAttribute()
    route_key = UnicodeAttribute()
    verify_token_hash = UnicodeAttribute(null=True)
    secret_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    activated_at = UnicodeAttribute(null=True)
    claim_sk = UnicodeAttribute(null=True)


class ChannelRouteItem(_ChannelsTableModel):
    """Routing entry for webhooks (pk=R#<type>#<key>); ``doc`` is a ``ChannelRoute``.

    sk ``ROUTE``: a web form's route (and a provider channel connected before claims). sk ``C#<tenant>``:
    one tenant's claim on a provider account, with ``channel_id``, ``status`` (pending/active),
    ``claimed_at`` and ``activated_at`` beside the doc so activation is one conditional update.
    """

    doc = JSONValueAttribute()
    channel_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    claimed_at = UnicodeAttribute(null=True)
    activated_at = UnicodeAttribute(null=True)


class VerifyTokenItem(_ChannelsTableModel):
    """Meta verify-token lookup (pk=V#<type>#<sha256 of token>); ``doc`` is a ``ChannelRoute``."""

    doc = JSONValueAttribute()


class ModelVersionItem(_LeadsTableModel):
    """A model version in the registry (pk=T#<tenant>#MLM or MLSTARTER, sk=V#<version>); ``doc`` is the
    public ``models.ml.ModelVersion``; ``status`` is kept beside it for conditional transitions."""

    doc = JSONValueAttribute()
    status = UnicodeAttribute()


class ModelPointerItem(_LeadsTableModel):
    """The serving pointer (sk=POINTER): champion/challenger versions and the challenger's traffic share;
    ``revision`` guards concurrent changes (conditional put)."""

    champion = UnicodeAttribute(null=True)
    challenger = UnicodeAttribute(null=True)
    traffic_percent = NumberAttribute(default=0)
    revision = NumberAttribute(default=0)
    updated_by = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class ModelOutcomeItem(_LeadsTableModel):
    """Outcome of a lead a model version scored (pk=T#<tenant>#MLO#<version>, sk=<lead_id>)."""

    probability = NumberAttribute()
    converted = NumberAttribute()
    recorded_at = UTCDateTimeAttribute()


class CustomFieldItem(_LeadsTableModel):
    """A tenant's custom field definition (pk=T#<tenant>#CF, sk=F#<key>); ``doc`` is the definition."""

    doc = JSONValueAttribute()
    version = NumberAttribute(default=1)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class MlTenantItem(_LeadsTableModel):
    """A tenant that asked for predictive scoring (pk=MLTENANTS, sk=<tenant>): the scheduled retraining
    visits these. ``scoring_model_id`` is the scoring model of the last training request."""

    scoring_model_id = UnicodeAttribute(null=True)
    registered_at = UTCDateTimeAttribute()


class ScoringModelItem(_LeadsTableModel):
    """A scoring model (pk=T#<tenant>#SCORING, sk=M#<model_id>); ``doc`` is the ``ScoringModel``."""

    doc = JSONValueAttribute()
    version = NumberAttribute(default=1)


class ScoringConfigItem(_LeadsTableModel):
    """The tenant's scoring pointer (pk=T#<tenant>#SCORING, sk=CONFIG): the active default model."""

    default_model_id = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class EngagementItem(_LeadsTableModel):
    """A lead's behaviour occurrences for scoring (pk=T#<tenant>#L#<lead_id>, sk=ENGAGEMENT).

    ``occ`` = ``{event_type: [[epoch_seconds, dedupe_id], ...]}`` oldest first, the newest 100 per type;
    ``counts`` = ``{event_type: all-time total}``. Written with an optimistic ``version`` condition.
    """

    occ = JSONValueAttribute(null=True)
    counts = JSONValueAttribute(null=True)
    last_event_at = UTCDateTimeAttribute(null=True)
    version = NumberAttribute(default=0)


class TrackedEventMarkerItem(_LeadsTableModel):
    """Idempotency key of a tracked behaviour event (pk=T#<tenant>#EV#<event_id>, sk=EVENT)."""

    lead_id = UnicodeAttribute()
    activity_sk = UnicodeAttribute()


class ApiKeyItem(_LeadsTableModel):
    """An integration API key: lookup (pk=K#<key_id>, sk=APIKEY) and tenant listing (pk=T#<tenant>#APIKEYS,
    sk=K#<key_id>), both with the same attributes. Only the SHA-256 of the key is stored."""

    key_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    key_hash = UnicodeAttribute()
    prefix = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)
    last_used_at = UTCDateTimeAttribute(null=True)


class DuplicatesByScore(GlobalSecondaryIndex["DuplicatePairItem"]):
    """The leads_by_score index, read under a tenant's duplicates partition (``list_pk`` = T#<t>#DUP)."""

    class Meta:
        index_name = "leads_by_score"
        projection = AllProjection()

    list_pk = UnicodeAttribute(hash_key=True)
    score_sk = UnicodeAttribute(range_key=True)


class DuplicatePairItem(_LeadsTableModel):
    """A candidate duplicate pair (pk=T#<tenant>#DUP, sk=P#<lead_a>#<lead_b>, lead_a < lead_b).

    ``list_pk``/``score_sk`` (``<score:03d>#<a>#<b>``) put it in the leads_by_score index under its own
    partition, so pairs page best-first; ``status`` is open, dismissed or merged."""

    list_pk = UnicodeAttribute()
    score_sk = UnicodeAttribute()
    by_score = DuplicatesByScore()
    lead_a = UnicodeAttribute()
    lead_b = UnicodeAttribute()
    score = NumberAttribute()
    reasons = ListAttribute(of=UnicodeAttribute)
    status = UnicodeAttribute()
    detected_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute(null=True)


class MergeRecordItem(_LeadsTableModel):
    """A lead merge and its journal (pk=T#<tenant>#MERGE, sk=<merge_id>, time-ordered).

    ``doc`` is the public record; ``before`` the zlib-compressed JSON before-images (profiles as raw items,
    identities, timeline keys), or ``before_key`` the S3 key holding them when too large for an item."""

    doc = JSONValueAttribute()
    status = UnicodeAttribute()
    before = BinaryAttribute(null=True, legacy_encoding=False)
    before_key = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class MergeEngagementItem(_LeadsTableModel):
    """A lead's engagement record as a merge found it, kept for undo (pk=T#<tenant>#MERGE#<merge_id>,
    sk=E#<lead_id>; see :mod:`leadtide.dal.merge_engagement`).

    ``occ``/``counts``/``last_event_at``/``version`` copy the :class:`EngagementItem` (``version`` absent:
    the lead had none). ``role`` is ``merged`` or ``survivor``; the survivor's item also holds
    ``folded_version``/``folded_counts``, its record's version and counts right after the last fold."""

    role = UnicodeAttribute()
    occ = JSONValueAttribute(null=True)
    counts = JSONValueAttribute(null=True)
    last_event_at = UTCDateTimeAttribute(null=True)
    version = NumberAttribute(null=True)
    folded_version = NumberAttribute(null=True)
    folded_counts = JSONValueAttribute(null=True)


LEADS_TABLE_MODELS: tuple[type[Model], ...] = (
    DuplicatePairItem,
    MergeRecordItem,
    MergeEngagementItem,
    ScoringModelItem,
    ScoringConfigItem,
    EngagementItem,
    TrackedEventMarkerItem,
    ApiKeyItem,
    ModelVersionItem,
    ModelPointerItem,
    ModelOutcomeItem,
    MlTenantItem,
    LeadItem,
    ActivityItem,
    ScoreHistoryItem,
    IdentityItem,
    MessageMarkerItem,
    CounterItem,
    ExportItem,
    BulkActionItem,
    BulkChunkItem,
    ImportItem,
    ImportChunkItem,
    ImportMappingItem,
    StaticListItem,
    ListMemberItem,
    ListJobItem,
    BackfillRunItem,
    SegmentItem,
    SegmentMemberItem,
    CustomFieldItem,
)
CHANNELS_TABLE_MODELS: tuple[type[Model], ...] = (ChannelItem, ChannelRouteItem, VerifyTokenItem)


def bind_tables(leads_table: str, channels_table: str) -> None:
    """Point every item class at the deployed table names (idempotent; resets cached connections on change)."""
    for models, name in ((LEADS_TABLE_MODELS, leads_table), (CHANNELS_TABLE_MODELS, channels_table)):
        for model in models:
            if model.Meta.table_name != name:
                model.Meta.table_name = name
                model._connection = None


def forget_connections() -> None:
    """Drop the connection PynamoDB caches on every item class (it keeps the endpoint it was opened with)."""
    from pynamodb.models import Model

    pending = list(Model.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__dict__.get("_connection") is not None:
            model._connection = None
