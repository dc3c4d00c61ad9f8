"""DynamoDB implementation of :class:`ChannelRepository` (PynamoDB over the channels table)."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.items import ChannelItem, ChannelRouteItem, VerifyTokenItem
from leadtide.dal.ports import ChannelRepository
from leadtide.models.channels import Channel, ChannelRoute
from leadtide.models.common import ChannelType
from leadtide.models.errors import ChannelConflictError, ChannelNotFoundError


def _channel_sk(channel_id: str) -> str:
    return f"C#{channel_id}"


def _route_pk(channel_type: str, route_key: str) -> str:
    return f"R#{channel_type}#{route_key}"


def _verify_pk(channel_type: str, token_hash: str) -> str:
    return f"V#{channel_type}#{token_hash}"


class DynamoChannelRepository(DynamoRepository, ChannelRepository):
    """Channels over DynamoDB; create and delete are single transactions over channel, route and token."""

    def create(
        self,
        tenant_id: str,
        channel: Channel,
        route_key: str,
        route: ChannelRoute,
        verify_token_hash: str | None,
    ) -> None:
        route_doc = route.model_dump(mode="json", exclude_none=True)
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
                    ),
                    condition=ChannelItem.pk.does_not_exist(),
                )
                tx.save(
                    ChannelRouteItem(_route_pk(channel.type, route_key), "ROUTE", doc=route_doc),
                    condition=ChannelRouteItem.pk.does_not_exist(),
                )
                if verify_token_hash:
                    tx.save(
                        VerifyTokenItem(_verify_pk(channel.type, verify_token_hash), "VERIFY", doc=route_doc),
                        condition=VerifyTokenItem.pk.does_not_exist(),
                    )
        except TransactWriteError as err:
            codes = [r.code if r else None for r in err.cancellation_reasons]
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise ChannelConflictError(
                    f"this {channel.type} account is already connected to a channel",
                    details=[{"field": "route_key", "problem": "already connected"}],
                ) from err
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                raise ChannelConflictError(
                    "verify_token is already used by another channel; choose a unique token",
                    details=[{"field": "verify_token", "problem": "already in use"}],
                ) from err
            raise

    def list(self, tenant_id: str) -> list[Channel]:
        items = ChannelItem.query(f"T#{tenant_id}", ChannelItem.sk.startswith("C#"))
        channels = [Channel.model_validate(item.doc) for item in items]
        return sorted(channels, key=lambda c: c.created_at)

    def get(self, tenant_id: str, channel_id: str) -> tuple[Channel, str, str | None, str | None]:
        try:
            item = ChannelItem.get(f"T#{tenant_id}", _channel_sk(channel_id))
        except DoesNotExist:
            raise ChannelNotFoundError(f"channel {channel_id} not found") from None
        return Channel.model_validate(item.doc), item.route_key, item.verify_token_hash, item.secret_name

    def delete(self, tenant_id: str, channel_id: str) -> None:
        channel, route_key, token_hash, _ = self.get(tenant_id, channel_id)
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.delete(
                    ChannelItem(f"T#{tenant_id}", _channel_sk(channel_id)), condition=ChannelItem.pk.exists()
                )
                tx.delete(ChannelRouteItem(_route_pk(channel.type, route_key), "ROUTE"))
                if token_hash:
                    tx.delete(VerifyTokenItem(_verify_pk(channel.type, token_hash), "VERIFY"))
        except TransactWriteError as err:
            raise ChannelNotFoundError(f"channel {channel_id} not found") from err

    def find_route(self, channel_type: ChannelType, route_key: str) -> ChannelRoute | None:
        try:
            item = ChannelRouteItem.get(_route_pk(channel_type, route_key), "ROUTE")
        except DoesNotExist:
            return None
        return ChannelRoute.model_validate(item.doc)

    def find_route_by_verify_token(self, channel_type: ChannelType, token_hash: str) -> ChannelRoute | None:
        try:
            item = VerifyTokenItem.get(_verify_pk(channel_type, token_hash), "VERIFY")
        except DoesNotExist:
            return None
        return ChannelRoute.model_validate(item.doc)
