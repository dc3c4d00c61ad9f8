"""Ports of leadtide.channels: the interfaces its logic depends on (implemented in leadtide.dal, faked in tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from leadtide.models.channels import Channel, ChannelRoute
from leadtide.models.common import ChannelType


class ChannelRepository(ABC):
    """Channel records and the routing entries webhooks use to find a tenant."""

    @abstractmethod
    def create(
        self,
        tenant_id: str,
        channel: Channel,
        route_key: str,
        route: ChannelRoute,
        verify_token_hash: str | None,
    ) -> None:
        """Store channel + route (+ verify-token lookup) atomically.

        A web form gets its route (``find_route``); a provider channel gets the tenant's *claim* on the
        account (``find_claims``): other tenants' claims on the same account neither block it nor are told.

        Raises:
            ChannelConflictError: this tenant already claims the provider account, or the verify token is
                already used.
        """

    @abstractmethod
    def list(self, tenant_id: str) -> list[Channel]:
        """Every channel of the tenant, oldest first."""

    @abstractmethod
    def get(self, tenant_id: str, channel_id: str) -> tuple[Channel, str, str | None, str | None]:
        """(channel, route_key, verify_token_hash, secret_name). Raises ChannelNotFoundError."""

    @abstractmethod
    def delete(self, tenant_id: str, channel_id: str) -> None:
        """Remove channel, route and verify-token lookup. Raises ChannelNotFoundError."""

    @abstractmethod
    def find_route(self, channel_type: ChannelType, route_key: str) -> ChannelRoute | None:
        """The route of a web form (by form id); None when there is none."""

    @abstractmethod
    def find_claims(self, channel_type: ChannelType, route_key: str) -> Sequence[ChannelRoute]:
        """Every tenant's claim on a provider account (phone_number_id, Instagram account id,
        ``<AccountSid>:<E.164 number>``), each with ``route_key`` and ``status``: active claims first (the
        earliest activated first), then pending ones (the earliest claimed first). Strongly consistent."""

    @abstractmethod
    def activate(self, claim: ChannelRoute, now: datetime) -> bool:
        """Make a pending claim and its channel active (one transaction); False when it no longer is pending
        (activated concurrently, or disconnected)."""

    @abstractmethod
    def find_route_by_verify_token(self, channel_type: ChannelType, token_hash: str) -> ChannelRoute | None:
        """The route whose verify token hashes to ``token_hash`` (Meta's GET handshake)."""
