"""Connect, list and disconnect channels (admin only). Secrets go to Secrets Manager, never DynamoDB."""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache

from leadtide.capture.identity import normalize_phone
from leadtide.channels.verify_tokens import verify_token_hash
from leadtide.dal.ports import ChannelRepository, SecretStore
from leadtide.models.auth import Principal
from leadtide.models.channels import (
    Channel,
    ChannelCreate,
    ChannelRoute,
    InstagramChannelCreate,
    TwilioChannelCreate,
    WebFormChannelCreate,
    WhatsAppChannelCreate,
)
from leadtide.models.common import ChannelType, Role, utc_now
from leadtide.models.errors import ForbiddenError, UnprocessableError

log = logging.getLogger(__name__)

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

        Raises:
            ForbiddenError (403): caller is not an admin.
            ChannelConflictError (409): the account or verify token is already connected.
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
            extra = {"phone_number_id": key} if ctype == ChannelType.WHATSAPP else {"account_id": key}
            channel = Channel(type=ctype, webhook_path=WEBHOOK_PATHS[ctype], **base, **extra)
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
        else:
            assert isinstance(request, WebFormChannelCreate)
            channel = Channel(
                type=ChannelType.WEB_FORM,
                webhook_path=f"/forms/{channel_id}/submissions",
                form_id=channel_id,
                fields=request.fields,
                honeypot_field=request.honeypot_field,
                **base,
            )
            route_key = channel_id
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
        )
        try:
            self._channels.create(tenant, channel, route_key, route, token_hash)
        except Exception:
            if secret_name:
                self._secrets.delete(secret_name)  # nothing half-written: the secret goes with the failure
            raise
        log.info("channel %s (%s) connected", channel_id, channel.type)
        return channel

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


@lru_cache(maxsize=1)
def get_channel_service() -> ChannelService:
    """The process-wide channel service (built on first use)."""
    from leadtide.dal.factory import get_channel_repository, get_secret_store
    from leadtide.settings import get_settings

    return ChannelService(
        get_channel_repository(), get_secret_store(), secrets_prefix=get_settings().secrets_prefix
    )
