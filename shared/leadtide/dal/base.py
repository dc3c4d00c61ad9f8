"""What every DynamoDB repository shares: one PynamoDB connection, opened on first use."""

from __future__ import annotations

from pynamodb.connection import Connection


class DynamoRepository:
    """Base of the DynamoDB repositories; ``connection`` is created lazily (transactions need one)."""

    def __init__(self, connection: Connection | None = None):
        self._connection = connection

    @property
    def connection(self) -> Connection:
        """The PynamoDB connection used for TransactWriteItems (region and endpoint from botocore's config)."""
        if self._connection is None:
            self._connection = Connection()
        return self._connection
