"""Ports of capture: where verified deliveries too large for a queue message are kept (claim check)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from leadtide.models.common import ChannelType


class DeliveryStore(ABC):
    """Verified deliveries too large for a queue message (claim check, ``deliveries/`` in the artifacts
    bucket); see :class:`leadtide.models.messages.StoredDelivery`."""

    @abstractmethod
    def put(self, channel_type: ChannelType, data: bytes) -> str:
        """Store one delivery object (context line + body); return its key
        (``deliveries/<channel>/<yyyy-mm-dd>/<id>``)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object stored at ``key``. Raises KeyError when it is gone."""
