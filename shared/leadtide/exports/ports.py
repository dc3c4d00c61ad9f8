"""Ports of leadtide.exports: the interfaces its logic depends on (implemented in leadtide.dal, faked in tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Protocol

from leadtide.models.exports import ExportRecord


class ExportRepository(ABC):
    """Export records of every tenant (the tenant id is always explicit)."""

    @abstractmethod
    def create(self, record: ExportRecord) -> None:
        """Store a new export (its id must be new)."""

    @abstractmethod
    def get(self, tenant_id: str, export_id: str) -> ExportRecord:
        """Raises ExportNotFoundError."""

    @abstractmethod
    def save(self, record: ExportRecord, *, expect_status: Iterable[str]) -> bool:
        """Replace the record if its stored status is one of ``expect_status``; False (nothing written)
        when it is not, e.g. a redelivered step finding the export already completed."""

    @abstractmethod
    def list(
        self, tenant_id: str, *, requested_by: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ExportRecord], str | None]:
        """The tenant's exports newest first (only ``requested_by``'s when given), one page.

        Raises:
            InvalidRequestError: the cursor is malformed or from another tenant.
        """


class UploadStream(Protocol):
    """A write-only binary stream to one object; ``close()`` completes it, ``abort()`` discards it."""

    def write(self, data: bytes) -> int: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class ArtifactStorage(ABC):
    """Files in the artifacts bucket (exports, bulk-action failure reports)."""

    @abstractmethod
    def open_upload(self, key: str, *, content_type: str) -> UploadStream:
        """Start writing the object ``key``; nothing is visible until the stream is closed."""

    @abstractmethod
    def put(self, key: str, body: bytes, *, content_type: str) -> None:
        """Write a small object in one request."""

    @abstractmethod
    def presigned_get(self, key: str, *, expires_in: int, filename: str) -> str:
        """A GET URL for ``key`` valid ``expires_in`` seconds, downloading as ``filename``."""
