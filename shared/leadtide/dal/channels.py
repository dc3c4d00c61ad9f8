"""DynamoDB implementation of :class:`ChannelRepository` (PynamoDB over the channels table).

Items (docs/data-model.md, "ChannelsTable"): the channel (``T#<t>``/``C#<channel_id>``), its route item in
``R#<type>#<route key>`` - sk ``C#<tenant>`` for a provider account (one claim per tenant and account;
several tenants may claim one account) or ``ROUTE`` for a web form (and for provider channels connected
before claims existed, read as active claims) - and Meta's verify-token lookup (``V#<type>#<hash>``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from leadtide.channels.ports import ChannelRepository
from leadtide.dal.base import DynamoRepository
from leadtide.dal.errors import condition_failed, refused_by_condition
from leadtide.dal.items import ChannelItem, ChannelRouteItem, VerifyTokenItem
from leadtide.models.channels import Channel, ChannelRoute, ChannelStatus
from leadtide.models.common import ChannelType, iso
from leadtide.models.errors import ChannelConflictError, ChannelNotFoundError

log = logging.getLogger(__name__)

ROUTE_SK = "ROUTE"


def _channel_sk(channel_id: str) -> str:
    return f"C#{channel_id}"


def _route_pk(channel_type: str, route_key: str) -> str:
    return f"R#{channel_type}#{route_key}"


def _claim_sk(tenant_id: str) -> str:
    return f"C#{tenant_id}"


def _verify_pk(channel_type: str, token_hash: str) -> str:
    return f"V#{channel_type}#{token_hash}"


def _channel_of(item: ChannelItem) -> Channel:
    doc: dict[str, Any] = dict(item.doc)
    if item.status:
        doc["status"] = item.status
    if item.activated_at:
        doc["activated_at"] = item.activated_at
    return Channel.model_validate(doc)


def _claim_of(item: ChannelRouteItem, route_key: str) -> ChannelRoute:
    doc: dict[str, Any] = {**item.doc, "route_key": route_key}
    if item.sk == ROUTE_SK:
        doc["status"] = ChannelStatus.ACTIVE  # a route from before claims: it owned the account alone
    else:
        doc["status"] = item.status or ChannelStatus.PENDING
        doc["claimed_at"] = item.claimed_at
        doc["activated_at"] = item.activated_at
    return ChannelRoute.model_validate(doc)


def _claim_order(claim: ChannelRoute) -> tuple[int, str]:
    """Active claims first, the earliest activated first (a route from before claims before all); then
    pending ones, the earliest claimed first."""
    if claim.status == ChannelStatus.ACTIVE:
        return 0, iso(claim.activated_at) if claim.activated_at else ""
    return 1, iso(claim.claimed_at) if claim.claimed_at else ""


class DynamoChannelRepository(DynamoRepository, ChannelRepository):
    """Channels over DynamoDB; create, delete and activation are single transactions."""

    def create(
        self,
        tenant_id: str,
        channel: Channel,
        route_key: str,
        route: ChannelRoute,
        verify_token_hash: str | None,
    ) -> None:
        route_doc = route.model_dump(mode="json", exclude_none=True)
        is_form = channel.type == ChannelType.WEB_FORM
        claim_sk = ROUTE_SK if is_form else _claim_sk(tenant_id)
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.save(
                    ChannelItem(
                        f"T#{tenant_id}",
                        _channel_sk(channel.channel_id),
                        doc=channel.model_dump(mode="json", exclude_none=True),
                        route_key=route_key,
                        verify_token_hash=verify_token_hash,
                        secret_name=route.secret_name,
                        status=channel.status.value,
                        activated_at=iso(channel.activated_at) if channel.activated_at else None,
                        claim_sk=claim_sk,
                    ),
                    condition=ChannelItem.pk.does_not_exist(),
                )
                tx.save(
                    ChannelRouteItem(
                        _route_pk(channel.type, route_key),
                        claim_sk,
                        doc=route_doc,
                        channel_id=channel.channel_id,
                        status=route.status.value,
                        claimed_at=iso(route.claimed_at) if route.claimed_at else None,
                        activated_at=iso(route.activated_at) if route.activated_at else None,
                    ),
                    condition=ChannelRouteItem.pk.does_not_exist(),
                )
                if verify_token_hash:
                    tx.save(
                        VerifyTokenItem(_verify_pk(channel.type, verify_token_hash), "VERIFY", doc=route_doc),
                        condition=VerifyTokenItem.pk.does_not_exist(),
                    )
        except TransactWriteError as err:
            refused = [*refused_by_condition(err), False, False, False]
            if refused[1]:
                # Only this tenant's own claim on the account can collide (the sort key is the tenant).
                raise ChannelConflictError(
                    f"this {channel.type} account is already connected to a channel of this tenant",
                    details=[{"field": "route_key", "problem": "already connected in this tenant"}],
                ) from err
            if refused[2]:
                raise ChannelConflictError(
                    "verify_token is already used by another channel; choose a unique token",
                    details=[{"field": "verify_token", "problem": "already in use"}],
                ) from err
            raise

    def list(self, tenant_id: str) -> list[Channel]:
        items = ChannelItem.query(f"T#{tenant_id}", ChannelItem.sk.startswith("C#"))
        channels = [_channel_of(item) for item in items]
        return sorted(channels, key=lambda c: c.created_at)

    def _item(self, tenant_id: str, channel_id: str) -> ChannelItem:
        try:
            return ChannelItem.get(f"T#{tenant_id}", _channel_sk(channel_id))
        except DoesNotExist:
            raise ChannelNotFoundError(f"channel {channel_id} not found") from None

    def get(self, tenant_id: str, channel_id: str) -> tuple[Channel, str, str | None, str | None]:
        item = self._item(tenant_id, channel_id)
        return _channel_of(item), item.route_key, item.verify_token_hash, item.secret_name

    def delete(self, tenant_id: str, channel_id: str) -> None:
        item = self._item(tenant_id, channel_id)
        channel = _channel_of(item)
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.delete(
                    ChannelItem(f"T#{tenant_id}", _channel_sk(channel_id)), condition=ChannelItem.pk.exists()
                )
                tx.delete(
                    ChannelRouteItem(_route_pk(channel.type, item.route_key), item.claim_sk or ROUTE_SK)
                )
                if item.verify_token_hash:
                    tx.delete(VerifyTokenItem(_verify_pk(channel.type, item.verify_token_hash), "VERIFY"))
        except TransactWriteError as err:
            if condition_failed(err):  # deleted meanwhile
                raise ChannelNotFoundError(f"channel {channel_id} not found") from err
            raise

    def find_route(self, channel_type: ChannelType, route_key: str) -> ChannelRoute | None:
        try:
            item = ChannelRouteItem.get(_route_pk(channel_type, route_key), ROUTE_SK)
        except DoesNotExist:
            return None
        return ChannelRoute.model_validate(item.doc)

    def find_claims(self, channel_type: ChannelType, route_key: str) -> Sequence[ChannelRoute]:
        items = ChannelRouteItem.query(_route_pk(channel_type, route_key), consistent_read=True)
        return sorted((_claim_of(item, route_key) for item in items), key=_claim_order)

    def activate(self, claim: ChannelRoute, now: datetime) -> bool:
        if claim.route_key is None:
            raise ValueError("a claim to activate needs its route_key")
        at = iso(now)
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.update(
                    ChannelRouteItem(
                        _route_pk(claim.channel_type, claim.route_key), _claim_sk(claim.tenant_id)
                    ),
                    actions=[
                        ChannelRouteItem.status.set(ChannelStatus.ACTIVE.value),
                        ChannelRouteItem.activated_at.set(at),
                    ],
                    condition=(ChannelRouteItem.channel_id == claim.channel_id)
                    & (ChannelRouteItem.status == ChannelStatus.PENDING.value),
                )
                tx.update(
                    ChannelItem(f"T#{claim.tenant_id}", _channel_sk(claim.channel_id)),
                    actions=[
                        ChannelItem.status.set(ChannelStatus.ACTIVE.value),
                        ChannelItem.activated_at.set(at),
                    ],
                    condition=ChannelItem.pk.exists(),
                )
        except TransactWriteError as err:
            if not condition_failed(err):
                raise
            # Already active (a concurrent delivery won), or disconnected meanwhile: nothing to do.
            log.info(
                "channel %s of tenant %s was not activated (no longer pending)",
                claim.channel_id,
                claim.tenant_id,
            )
            return False
        return True

    def find_route_by_verify_token(self, channel_type: ChannelType, token_hash: str) -> ChannelRoute | None:
        try:
            item = VerifyTokenItem.get(_verify_pk(channel_type, token_hash), "VERIFY")
        except DoesNotExist:
            return None
        return ChannelRoute.model_validate(item.doc)
