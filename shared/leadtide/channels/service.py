"""Connect, list and disconnect channels (admin only). Secrets go to Secrets Manager, never DynamoDB."""

from __future__ import annotations

import logging
import uuid

from leadtide.capture.identity import normalize_phone
from leadtide.channels.ports import ChannelRepository
from leadtide.channels.verify_tokens import verify_token_hash
from leadtide.models.auth import Principal
from leadtide.models.channels import (
    Channel,
    ChannelCreate,
    ChannelRoute,
    ChannelStatus,
    InstagramChannelCreate,
    TwilioChannelCreate,
    WebFormChannelCreate,
    WhatsAppChannelCreate,
)
from leadtide.models.common import ChannelType, Role, utc_now
from leadtide.models.errors import (
    ChannelConflictError,
    ChannelUnavailableError,
    ForbiddenError,
    UnprocessableError,
)
from leadtide.ports import SecretStore

log = logging.getLogger(__name__)

MAX_CLAIMS_PER_ACCOUNT = 10
"""Connections (claims) one provider account may have across all tenants (one per tenant). A delivery
whose signature matches no active claim is checked against each claim's secret, so this bounds the work an
unverifiable delivery causes; filling it takes that many tenants."""

WEBHOOK_PATHS = {
    ChannelType.WHATSAPP: "/webhooks/whatsapp",
    ChannelType.INSTAGRAM: "/webhooks/instagram",
    ChannelType.TWILIO: "/webhooks/twilio",
}


def _require_admin(principal: Principal) -> None:
    if principal.role != Role.ADMIN:
        raise ForbiddenError("only admins manage channels", code="admin_only")


class ChannelService:
    """Channel lifecycle. ``secrets_prefix`` is ``leadtide/<stage>``; secret names are
    ``<prefix>/<tenant>/channels/<channel_id>``."""

    def __init__(self, channels: ChannelRepository, secrets: SecretStore, *, secrets_prefix: str):
        self._channels = channels
        self._secrets = secrets
        self._prefix = secrets_prefix.rstrip("/")

    def connect(self, principal: Principal, request: ChannelCreate) -> Channel:
        """Connect a channel; returns it without secrets.

        A WhatsApp, Instagram or Twilio channel starts ``pending``: it is a claim on the provider account
        that receives only deliveries signed with its own secret, the first of which activates it
        (``leadtide.channels.routing``). Other tenants' claims on the same account neither block the
        connection nor are mentioned. A web form is ``active`` at once.

        Raises:
            ForbiddenError (403): caller is not an admin.
            ChannelConflictError (409): this tenant already has a channel on the account (named), or the
                verify token is already used.
            ChannelUnavailableError (409): the account already has :data:`MAX_CLAIMS_PER_ACCOUNT` claims;
                the answer says only that it cannot be connected.
            UnprocessableError (422): e.g. the Twilio phone number is not a valid number.
        """
        _require_admin(principal)
        tenant = principal.tenant_id
        channel_id = uuid.uuid4().hex
        now = utc_now()
        secret_value: dict[str, str] | None = None
        token_hash: str | None = None
        base = {
            "channel_id": channel_id,
            "name": request.name,
            "created_at": now,
            "created_by": principal.user_id,
            "status": ChannelStatus.PENDING,
        }
        if isinstance(request, WhatsAppChannelCreate | InstagramChannelCreate):
            ctype = ChannelType(request.type)
            key = (
                request.phone_number_id if isinstance(request, WhatsAppChannelCreate) else request.account_id
            )
            secret_value = {
                "app_secret": request.app_secret.get_secret_value(),
                "verify_token": request.verify_token.get_secret_value(),
            }
            token_hash = verify_token_hash(secret_value["verify_token"])
            field = "phone_number_id" if ctype == ChannelType.WHATSAPP else "account_id"
            channel = Channel(type=ctype, webhook_path=WEBHOOK_PATHS[ctype], **base, **{field: key})
            route_key = key
        elif isinstance(request, TwilioChannelCreate):
            try:
                number = normalize_phone(request.phone_number, strict=True)
            except UnprocessableError as err:
                raise UnprocessableError(
                    err.message, details=[{"field": "phone_number", "problem": err.message}]
                ) from None
            secret_value = {"auth_token": request.auth_token.get_secret_value()}
            channel = Channel(
                type=ChannelType.TWILIO,
                webhook_path=WEBHOOK_PATHS[ChannelType.TWILIO],
                account_sid=request.account_sid,
                phone_number=number,
                **base,
            )
            route_key = f"{request.account_sid}:{number}"
            field = "phone_number"
        else:
            assert isinstance(request, WebFormChannelCreate)
            channel = Channel(
                type=ChannelType.WEB_FORM,
                webhook_path=f"/forms/{channel_id}/submissions",
                form_id=channel_id,
                fields=request.fields,
                honeypot_field=request.honeypot_field,
                **{**base, "status": ChannelStatus.ACTIVE, "activated_at": now},
            )
            route_key = channel_id
            field = None
        if field is not None:
            self._check_claimable(tenant, channel.type, route_key, field)
        secret_name = None
        if secret_value is not None:
            secret_name = f"{self._prefix}/{tenant}/channels/{channel_id}"
            self._secrets.put(secret_name, secret_value, tags={"tenant_id": tenant, "channel_id": channel_id})
        route = ChannelRoute(
            tenant_id=tenant,
            channel_id=channel_id,
            channel_type=channel.type,
            secret_name=secret_name,
            form_fields=channel.fields,
            honeypot_field=channel.honeypot_field,
            route_key=route_key,
            status=channel.status,
            claimed_at=now,
            activated_at=channel.activated_at,
        )
        try:
            self._channels.create(tenant, channel, route_key, route, token_hash)
        except Exception:  # undo and re-raise: the secret must not outlive a channel that was not stored
            if secret_name:
                self._secrets.delete(secret_name)  # nothing half-written: the secret goes with the failure
            raise
        log.info("channel %s (%s) connected", channel_id, channel.type)
        return channel

    def _check_claimable(self, tenant: str, channel_type: ChannelType, route_key: str, field: str) -> None:
        """Refuse a second channel of this tenant on the account (naming its own channel), and an account
        already claimed :data:`MAX_CLAIMS_PER_ACCOUNT` times (saying nothing about who claims it)."""
        claims = self._channels.find_claims(channel_type, route_key)
        own = next((c for c in claims if c.tenant_id == tenant), None)
        if own is not None:
            raise ChannelConflictError(
                f"this {channel_type} account is already connected to channel {own.channel_id} of this tenant",
                details=[{"field": field, "problem": f"already connected (channel {own.channel_id})"}],
            )
        if len(claims) >= MAX_CLAIMS_PER_ACCOUNT:
            log.warning("a %s account reached %d claims; connect refused", channel_type, len(claims))
            raise ChannelUnavailableError(
                f"this {channel_type} account cannot be connected",
                details=[{"field": field, "problem": "cannot be connected"}],
            )

    def list(self, principal: Principal) -> list[Channel]:
        """Every channel of the caller's tenant. Raises ForbiddenError unless admin."""
        _require_admin(principal)
        return self._channels.list(principal.tenant_id)

    def disconnect(self, principal: Principal, channel_id: str) -> None:
        """Remove a channel and schedule its secret for deletion.

        Raises:
            ForbiddenError (403), ChannelNotFoundError (404).
        """
        _require_admin(principal)
        _, _, _, secret_name = self._channels.get(principal.tenant_id, channel_id)
        self._channels.delete(principal.tenant_id, channel_id)
        if secret_name:
            self._secrets.delete(secret_name)
