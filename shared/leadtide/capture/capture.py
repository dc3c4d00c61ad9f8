"""Turn ingest commands into leads and timeline activities (the Ingest worker's logic)."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from leadtide.capture.identity import IdentityKey, identity_keys
from leadtide.leads.ports import IdentityTakenError, LeadRepository, MessageTextStore
from leadtide.models.common import ChannelType, IdentityKind, as_utc, display_name, iso, utc_now
from leadtide.models.errors import DuplicateDeliveryError, LeadNotFoundError
from leadtide.models.events import LeadEvent, LeadEventType
from leadtide.models.leads import ACTIVITY_TEXT_MAX_CHARS, Activity, ActivityType, Lead
from leadtide.models.messages import (
    DeliveryStatusUpdate,
    Direction,
    InboundMessage,
    MessageRetraction,
)
from leadtide.ports import EventPublisher

log = logging.getLogger(__name__)

# Profile fields a message may fill on an existing lead when they are still empty.
_FILLABLE = ("name", "first_name", "last_name", "company")


class CaptureOutcome(StrEnum):
    """What capturing one command did."""

    CREATED_LEAD = "created_lead"
    APPENDED = "appended"
    DUPLICATE = "duplicate"
    STATUS_RECORDED = "status_recorded"
    RETRACTED = "retracted"
    SKIPPED = "skipped"  # e.g. an echo or status for someone who is not a lead: nothing to attach it to


@dataclass(frozen=True)
class CaptureResult:
    """Outcome of one command, with the lead it touched (if any)."""

    outcome: CaptureOutcome
    lead_id: str | None = None


def _keys(message: InboundMessage, default_region: str) -> list[tuple[IdentityKind, str]]:
    """The sender's normalised identity keys. Messaging providers always send international numbers
    (WhatsApp's wa_id has no "+"); only numbers typed into a form use the tenant's default region."""
    typed = message.channel_type == ChannelType.WEB_FORM
    keys: list[IdentityKey] = identity_keys(
        message.sender, default_region=default_region if typed else None, strict=False
    )
    return [(k.kind, k.value) for k in keys]


class CaptureService:
    """Find-or-create the lead behind each inbound message and put the message on its timeline.

    Concurrency: identity keys are created with conditional writes in the same transaction as the lead,
    so two concurrent first messages from one sender create one lead; the loser appends to the winner's
    lead. Idempotency: each provider message id has a marker item written in the same transaction as its
    activity, so a redelivered webhook adds nothing and publishes nothing.

    A message text longer than :data:`~leadtide.models.leads.ACTIVITY_TEXT_MAX_CHARS` is kept whole in
    ``message_texts`` (before the activity is written) and cut to that length on the activity, flagged
    ``text_truncated`` with its ``text_length``: no DynamoDB item outgrows 400 KB and nothing is lost.
    """

    def __init__(
        self,
        leads: LeadRepository,
        events: EventPublisher,
        *,
        message_texts: MessageTextStore | None = None,
        default_region: str = "US",
    ):
        self._leads = leads
        self._events = events
        self._texts = message_texts
        self._region = default_region

    def capture(self, command: InboundMessage | DeliveryStatusUpdate | MessageRetraction) -> CaptureResult:
        """Apply one ingest command.

        Raises:
            IdentityTakenError / LeadNotFoundError: only after retrying the race they describe; the caller
            lets the queue redeliver.
        """
        if isinstance(command, InboundMessage):
            return self.capture_message(command)
        if isinstance(command, DeliveryStatusUpdate):
            known = self._leads.record_delivery_status(
                command.tenant_id,
                command.channel_type,
                command.provider_message_id,
                command.status,
                command.occurred_at,
                command.errors,
            )
            if not known:
                log.info(
                    "status %s for message %s not sent through Leadtide",
                    command.status,
                    command.provider_message_id,
                )
            return CaptureResult(CaptureOutcome.STATUS_RECORDED)
        known = self._leads.retract_message(
            command.tenant_id, command.channel_type, command.provider_message_id
        )
        return CaptureResult(CaptureOutcome.RETRACTED if known else CaptureOutcome.SKIPPED)

    def capture_message(self, message: InboundMessage) -> CaptureResult:
        """Find or create the sender's lead, append the message, publish lead events."""
        tenant = message.tenant_id
        keys = _keys(message, self._region)
        if not keys:
            log.warning("message %s has no usable sender identity; skipped", message.provider_message_id)
            return CaptureResult(CaptureOutcome.SKIPPED)
        self._keep_whole_text(message)
        missing: set[str] = set()  # leads an identity named but that are gone: their keys are free
        for _attempt in range(3):
            found = self._leads.lookup_identities(tenant, keys)
            found = {k: v for k, v in found.items() if v not in missing}
            lead_id = next((found[k] for k in keys if k in found), None)
            if lead_id is None:
                if message.direction == Direction.OUTBOUND:
                    # The business wrote first to someone who is not a lead (e.g. an Instagram echo): no lead.
                    return CaptureResult(CaptureOutcome.SKIPPED)
                try:
                    return self._create(message, keys)
                except IdentityTakenError:
                    continue  # another message created the lead first: append to it
                except DuplicateDeliveryError:
                    return CaptureResult(CaptureOutcome.DUPLICATE)
            new_keys = [k for k in keys if k not in found]
            try:
                return self._append(message, lead_id, new_keys)
            except DuplicateDeliveryError:
                return CaptureResult(CaptureOutcome.DUPLICATE, lead_id)
            except IdentityTakenError as err:
                # A second identity belongs to another lead (a possible duplicate): keep the message on
                # the first lead and leave merging to a person.
                log.info(
                    "identity %s:%s belongs to lead %s; not linked to %s",
                    err.kind,
                    err.value,
                    err.lead_id,
                    lead_id,
                )
                return self._append(message, lead_id, [])
            except LeadNotFoundError:
                # Deleted between lookup and write, or a key left naming a lead that is gone: look again,
                # treating its keys as free (the repository claims them on that condition).
                missing.add(lead_id)
                continue
        raise LeadNotFoundError("lead kept changing while capturing; will retry")

    def _keep_whole_text(self, message: InboundMessage) -> None:
        """Store the whole text of a message longer than an activity keeps, before any activity names it
        (a retried capture overwrites the same object: the activity id is the message's own)."""
        if message.text is None or len(message.text) <= ACTIVITY_TEXT_MAX_CHARS:
            return
        if self._texts is None:
            raise RuntimeError("a message text store is needed to capture texts this long")
        self._texts.put(
            message.tenant_id,
            message_activity_id(message),
            message.text,
            channel_type=message.channel_type,
            provider_message_id=message.provider_message_id,
        )

    def _activity(self, message: InboundMessage, lead_id: str) -> Activity:
        text = message.text
        truncated = text is not None and len(text) > ACTIVITY_TEXT_MAX_CHARS
        return Activity(
            activity_id=message_activity_id(message),
            lead_id=lead_id,
            type=ActivityType.MESSAGE,
            occurred_at=message.occurred_at,
            channel=message.channel_type,
            channel_id=message.channel_id,
            direction=message.direction,
            kind=message.kind,
            raw_type=message.raw_type,
            text=text[:ACTIVITY_TEXT_MAX_CHARS] if text is not None and truncated else text,
            text_truncated=truncated,
            text_length=len(text) if text is not None and truncated else None,
            media=list(message.media),
            interactive=message.interactive,
            location=message.location,
            referral=message.referral,
            reply_to_provider_message_id=message.reply_to_provider_message_id,
            forwarded=message.forwarded,
            form_fields=message.form_fields,
            provider_message_id=message.provider_message_id,
        )

    def _create(self, message: InboundMessage, keys: list[tuple[IdentityKind, str]]) -> CaptureResult:
        """Create the sender's lead from its first message. The lead came in when that message was sent,
        so ``created_at`` is the message's time (never later than now: a provider clock ahead of ours),
        and ``last_activity_at`` the message's time as well: a message stamped seconds before the worker
        ran never leaves the lead "active before it existed", and the next message, even one stamped
        before the worker ran, still moves the clock and the preview (docs/data-model.md, "Last
        activity")."""
        lead_id = uuid.uuid4().hex
        now = utc_now()
        created = min(now, as_utc(message.occurred_at))
        values = dict(keys)
        sender = message.sender
        lead = Lead(
            lead_id=lead_id,
            tenant_id=message.tenant_id,
            name=sender.name or display_name(sender.first_name, sender.last_name),
            first_name=sender.first_name,
            last_name=sender.last_name,
            company=sender.company,
            phone=values.get("phone"),
            email=values.get("email"),
            instagram_id=values.get("instagram"),
            source_channel=message.channel_type,
            source_channel_id=message.channel_id,
            referral=message.referral,
            created_at=created,
            updated_at=now,
            last_activity_at=message.occurred_at,
            message_count=1,
            last_message_preview=(message.text or "")[:160] or None,
            custom_fields=_custom_fields(message),
        )
        self._leads.create_lead(lead, keys, self._activity(message, lead_id))
        self._events.publish(
            [
                LeadEvent(
                    type=LeadEventType.CREATED,
                    tenant_id=lead.tenant_id,
                    lead_id=lead_id,
                    occurred_at=iso(now),
                    data={"source_channel": str(message.channel_type)},
                ),
                self._message_event(message, lead_id),
            ]
        )
        return CaptureResult(CaptureOutcome.CREATED_LEAD, lead_id)

    def _append(
        self, message: InboundMessage, lead_id: str, new_keys: list[tuple[IdentityKind, str]]
    ) -> CaptureResult:
        sender = message.sender
        fill: dict[str, Any] = {}
        if message.direction == Direction.INBOUND:
            fill = {
                f: v
                for f, v in (
                    ("name", sender.name or display_name(sender.first_name, sender.last_name)),
                    ("first_name", sender.first_name),
                    ("last_name", sender.last_name),
                    ("company", sender.company),
                )
                if v
            }
            fill.update({_FIELD_OF[kind]: value for kind, value in new_keys})
        self._leads.append_activity(
            message.tenant_id,
            self._activity(message, lead_id),
            touch_lead=True,
            fill_fields=fill,
            new_identities=new_keys if message.direction == Direction.INBOUND else (),
        )
        if message.direction == Direction.INBOUND:
            self._events.publish([self._message_event(message, lead_id)])
        return CaptureResult(CaptureOutcome.APPENDED, lead_id)

    @staticmethod
    def _message_event(message: InboundMessage, lead_id: str) -> LeadEvent:
        return LeadEvent(
            type=LeadEventType.MESSAGE_RECEIVED,
            tenant_id=message.tenant_id,
            lead_id=lead_id,
            occurred_at=iso(message.occurred_at),
            data={
                "channel": str(message.channel_type),
                "channel_id": message.channel_id,
                "kind": str(message.kind),
                "provider_message_id": message.provider_message_id,
            },
        )


_FIELD_OF = {"phone": "phone", "email": "email", "instagram": "instagram_id"}


def message_activity_id(message: InboundMessage) -> str:
    """The timeline activity id of a captured message: 32 hex digits of SHA-256 over tenant, channel and
    provider message id, so every attempt to capture one message names the same activity (and the same
    stored whole text)."""
    key = "\x1f".join((message.tenant_id, str(message.channel_type), message.provider_message_id))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _custom_fields(message: InboundMessage) -> dict[str, Any]:
    """Form answers that are not lead attributes become custom fields on the new lead."""
    skip = {"first_name", "last_name", "name", "email", "phone", "company", "job_title", "message"}
    return {k: v for k, v in message.form_fields.items() if k not in skip}
