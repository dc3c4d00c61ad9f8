"""Normalised inbound traffic: what the Webhooks function puts on the ingest queue.

Every provider payload (WhatsApp Cloud API, Instagram Messaging, Twilio, web forms) is parsed into one or
more of these commands before it is queued, so the ingest worker never sees a provider format.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadtide.models.channels import ChannelRoute
from leadtide.models.common import ChannelType


class MessageKind(StrEnum):
    """What an inbound message carries."""

    TEXT = "text"
    MEDIA = "media"  # image, video, audio, document, sticker, Instagram attachments
    INTERACTIVE = "interactive"  # button reply, list reply, template quick-reply button
    LOCATION = "location"
    CONTACTS = "contacts"
    REACTION = "reaction"
    STORY_REPLY = "story_reply"  # Instagram reply to a story
    FORM_SUBMISSION = "form_submission"
    UNSUPPORTED = "unsupported"  # a type the provider marks unsupported/unknown; kept on the timeline


class Direction(StrEnum):
    """Inbound: from the lead. Outbound: from the business (e.g. Instagram echoes)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SenderIdentity(_Frozen):
    """Who sent the message, as the channel identifies them (raw; normalised by the ingest worker).

    ``phone`` is any phone form (``972544401243``, ``whatsapp:+1415...``); ``instagram_id`` is the
    Instagram-scoped id (IGSID) of the user; ``email`` as typed.
    """

    phone: str | None = None
    email: str | None = None
    instagram_id: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None


class Media(_Frozen):
    """Metadata of an attachment. Leadtide stores metadata only; the bytes stay with the provider."""

    media_type: str  # image | video | audio | document | sticker | share | story_mention | reel | file ...
    provider_media_id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    url: str | None = None
    caption: str | None = None
    filename: str | None = None


class InteractiveReply(_Frozen):
    """A tap on a button or list row (WhatsApp interactive/button, Instagram quick reply)."""

    reply_type: str  # button_reply | list_reply | quick_reply | template_button
    reply_id: str | None = None  # the payload/id the business defined
    title: str | None = None
    description: str | None = None


class Location(_Frozen):
    """A shared location pin: WGS 84 decimal degrees, with the place's name and address when the sender
    picked a place (WhatsApp Cloud API ``location.{latitude, longitude, name, address, url}``; Twilio
    ``Latitude``, ``Longitude``, ``Label``, ``Address``)."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = None  # Cloud API ``name``, Twilio ``Label``
    address: str | None = None
    url: str | None = None  # Cloud API ``url`` of the place, when sent


class AdReferral(_Frozen):
    """Click-to-WhatsApp / Instagram ad referral carried by the first message after an ad click."""

    source_type: str | None = None  # ad | post
    source_id: str | None = None
    source_url: str | None = None
    headline: str | None = None
    body: str | None = None
    ctwa_clid: str | None = None  # click id Meta gives for conversion tracking


class InboundMessage(_Frozen):
    """One message (or form submission) to put on a lead's timeline.

    ``provider_message_id`` is the provider's id (``wamid...``, Instagram ``mid``, Twilio ``MessageSid``,
    a server-made id for forms); with ``channel_type`` it makes redelivery idempotent.
    """

    type: Literal["message"] = "message"
    tenant_id: str
    channel_id: str
    channel_type: ChannelType
    provider_message_id: str = Field(min_length=1, max_length=512)
    occurred_at: datetime
    direction: Direction = Direction.INBOUND
    kind: MessageKind
    sender: SenderIdentity
    text: str | None = None
    media: tuple[Media, ...] = ()
    interactive: InteractiveReply | None = None
    location: Location | None = None  # kind LOCATION
    reply_to_provider_message_id: str | None = None  # WhatsApp ``context.id``, Instagram ``reply_to.mid``
    forwarded: bool = False
    referral: AdReferral | None = None
    form_fields: dict[str, Any] = Field(default_factory=dict)  # web form submissions only
    raw_type: str | None = None  # the provider's own type name, for the timeline


class DeliveryStatus(StrEnum):
    """Delivery state of a message the business sent, in provider order (sent < delivered < read)."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class DeliveryStatusUpdate(_Frozen):
    """A provider's status callback for an outbound message (WhatsApp ``statuses[]``, Twilio status)."""

    type: Literal["status"] = "status"
    tenant_id: str
    channel_id: str
    channel_type: ChannelType
    provider_message_id: str = Field(min_length=1, max_length=512)
    status: DeliveryStatus
    occurred_at: datetime
    recipient: SenderIdentity
    errors: tuple[dict[str, Any], ...] = ()


class MessageRetraction(_Frozen):
    """The sender unsent (deleted) an earlier message (Instagram ``message.is_deleted``)."""

    type: Literal["retraction"] = "retraction"
    tenant_id: str
    channel_id: str
    channel_type: ChannelType
    provider_message_id: str = Field(min_length=1, max_length=512)
    occurred_at: datetime
    sender: SenderIdentity


IngestCommand = Annotated[
    InboundMessage | DeliveryStatusUpdate | MessageRetraction, Field(discriminator="type")
]
"""One item of the ingest queue (its SQS message body is this model as JSON)."""


CLAIM_CHECK_BYTES = 128 * 1024
"""A verified delivery whose body, or whose commands as queue messages, exceed this many bytes travels by
claim check (:class:`StoredDelivery`): SQS takes at most 256 KiB per message and per batch (1 MiB since
2025), DynamoDB 400 KB per item; well under both, with room for the envelope."""


class DeliveryContext(_Frozen):
    """What the Ingest worker needs, besides the body, to turn a stored delivery into commands: exactly
    what the webhook verified and decided (stored in front of the body, see :class:`StoredDelivery`).

    ``routes`` maps each account the delivery names to the claim whose secret verified it (web forms:
    the form id to its form). ``received_at`` is when the webhook received it (Twilio messages and form
    submissions take it as their time); ``submission_id`` is the web form submission's id.
    """

    channel_type: ChannelType
    received_at: datetime
    routes: dict[str, ChannelRoute]
    content_type: str
    submission_id: str | None = None


class StoredDelivery(_Frozen):
    """A claim check: a verified delivery kept whole in the artifacts bucket, which the queue message names.

    The object at ``key`` (``deliveries/<channel>/<yyyy-mm-dd>/<id>``) is one line of
    :class:`DeliveryContext` JSON, a newline, then the body exactly as received (Meta: the signed bytes;
    Twilio: the signed form; web forms: the validated fields as JSON). ``size`` and ``sha256`` are those
    of the body, checked when it is read back.
    """

    key: str = Field(pattern=r"^deliveries/[A-Za-z0-9_./-]+$", max_length=256)
    channel_type: ChannelType
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class IngestEnvelope(BaseModel):
    """The SQS message body on the ingest queue: one command, or a claim check for a delivery too large
    to queue (``delivery``; the worker fetches and parses it). Exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    command: IngestCommand | None = None
    delivery: StoredDelivery | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> IngestEnvelope:
        if (self.command is None) == (self.delivery is None):
            raise ValueError("an ingest envelope holds exactly one of command and delivery")
        return self
