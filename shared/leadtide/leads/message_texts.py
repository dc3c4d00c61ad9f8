"""The whole text of a message longer than its timeline activity keeps (``GET
/leads/{lead_id}/activities/{activity_id}/text``).

The Ingest worker keeps the first :data:`~leadtide.models.leads.ACTIVITY_TEXT_MAX_CHARS` characters on the
activity (``text_truncated``, ``text_length``) and the whole text beside it
(:class:`~leadtide.leads.ports.MessageTextStore`), so nothing a provider delivered is lost and no DynamoDB
item outgrows 400 KB. The text is served by a presigned URL rather than in the answer: a text may be
close to API Gateway's 10 MB, past Lambda's 6 MB response limit.

Access: the caller must see the lead (:meth:`LeadService.get_lead`), and the message must be on that
lead's timeline now - the message marker says which lead holds it (merges move it), so a lead id one may
see cannot be paired with another lead's activity id.
"""

from __future__ import annotations

from datetime import timedelta

from leadtide.leads.ports import LeadRepository, MessageTextStore
from leadtide.leads.service import LeadService
from leadtide.models.auth import Principal
from leadtide.models.common import utc_now
from leadtide.models.errors import NotFoundError
from leadtide.models.leads import ActivityText

TEXT_URL_SECONDS = 15 * 60
"""How long a whole-text URL stays valid."""


class MessageTextService:
    """Reads the whole texts of truncated message activities."""

    def __init__(self, lead_service: LeadService, leads: LeadRepository, texts: MessageTextStore):
        self._lead_service = lead_service
        self._leads = leads
        self._texts = texts

    def activity_text(self, principal: Principal, lead_id: str, activity_id: str) -> ActivityText:
        """Where to download the whole text of the message behind ``activity_id`` on ``lead_id``.

        Raises:
            LeadNotFoundError (404) / ForbiddenError (403): as :meth:`LeadService.get_lead`.
            NotFoundError (404, ``text_not_found``): the activity is not on this lead's timeline, or its
                text was not truncated (``text`` on the activity is all of it).
        """
        self._lead_service.get_lead(principal, lead_id)
        missing = NotFoundError(
            f"activity {activity_id} of lead {lead_id} has no stored whole text "
            "(only activities with text_truncated have one)",
            code="text_not_found",
        )
        found = self._texts.find(principal.tenant_id, activity_id)
        if found is None:
            raise missing
        if (
            self._leads.message_lead(principal.tenant_id, found.channel_type, found.provider_message_id)
            != lead_id
        ):
            raise missing
        url = self._texts.presigned_get(principal.tenant_id, activity_id, expires_in=TEXT_URL_SECONDS)
        return ActivityText(
            activity_id=activity_id,
            lead_id=lead_id,
            length=found.length,
            text_url=url,
            expires_at=utc_now() + timedelta(seconds=TEXT_URL_SECONDS),
        )
