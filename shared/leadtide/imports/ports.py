"""Data-access interfaces of the import pipeline (DynamoDB/S3 implementations: ``leadtide.dal.imports``
for the records, ``leadtide.dal.import_bulk`` for the lead bulk store, ``leadtide.dal.import_artifacts``
for the files; in-memory fakes in ``tests/import_fakes.py``). Nothing here imports boto3.

Identity keys are ``(kind, value)`` pairs as in the rest of Leadtide (``("email", "a@b.c")``,
``("phone", "+14155550100")``) plus ``("custom:<key>", value)`` for a unique custom field used as the
import's de-duplication key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from leadtide.imports.models import FailedChunk, ImportRecord, ImportStatus, SavedMapping
from leadtide.models.leads import Lead

IdentityKey = tuple[str, str]


class ImportStorageError(RuntimeError):
    """A bulk lead read or write, or an artifacts file, that the store could not complete: the service
    refused or failed the call (after its retries), or conditional writes stayed contended. The step
    that met it fails and is retried by its queue (every step is idempotent). ``code``: the service's
    error code when it gave one (``TransactionCanceledException``...)."""

    def __init__(self, message: str, *, code: str | None = None, response: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.response: Mapping[str, Any] = response or {}


@dataclass
class StoredLead:
    """A lead profile as read: the parsed ``lead`` and the exact stored item ``raw`` (DynamoDB JSON, every
    attribute, including ones this code does not know) - the before-image a rollback restores verbatim."""

    lead: Lead
    raw: dict[str, Any]


@dataclass
class LeadWrite:
    """One lead to write: its full new profile plus the identity items to add or remove.

    ``base_raw`` None: a new lead (written only if no lead with that id exists). Otherwise the stored item
    this profile replaces: attributes the code does not know are kept from it, and the write only succeeds
    if the stored ``updated_at`` (and ``last_activity_at``, ``engaged_version``, ``identity_keys``, which
    other writers change without moving it) are still the ones read (optimistic concurrency).

    ``stale_owners``: keys of ``add_identities`` whose identity item was found naming a lead with no
    profile (key -> that lead id): the claim also succeeds while the item still names that lead, unless an
    import claimed it within ``leadtide.dal.leads.STALE_CLAIM_SECONDS`` (its profile may be on its way).
    """

    lead: Lead
    base_raw: dict[str, Any] | None = None
    add_identities: list[IdentityKey] = field(default_factory=list)
    remove_identities: list[IdentityKey] = field(default_factory=list)
    stale_owners: dict[IdentityKey, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteConflict:
    """Why a :class:`LeadWrite` was not applied: ``lead_exists`` (create of an existing id), ``lead_changed``
    (updated or deleted since it was read), ``identity_taken`` (``key`` belongs to another lead)."""

    lead_id: str
    reason: Literal["lead_exists", "lead_changed", "identity_taken"]
    key: IdentityKey | None = None


class LeadBulkStore(ABC):
    """Bulk reads and writes of lead profiles and identity items (the import's chunk and rollback steps).

    Every method raises :class:`ImportStorageError` when the store cannot complete it."""

    @abstractmethod
    def get_identities(self, tenant_id: str, keys: Sequence[IdentityKey]) -> dict[IdentityKey, str]:
        """Map each existing identity key to its lead id (BatchGetItem, 100 keys per call)."""

    @abstractmethod
    def identity_claims(self, tenant_id: str, keys: Sequence[IdentityKey]) -> dict[IdentityKey, int]:
        """``claimed_at`` (epoch seconds) of the identity items among ``keys`` that carry one (BatchGetItem):
        what a rollback must put back on an identity item the import releases."""

    @abstractmethod
    def get_leads(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, StoredLead]:
        """The profiles that exist among ``lead_ids`` (BatchGetItem, 100 keys per call)."""

    @abstractmethod
    def existing_lead_ids(self, tenant_id: str, lead_ids: Sequence[str]) -> set[str]:
        """The ids among ``lead_ids`` whose profile exists (BatchGetItem projecting ``pk``, 100 keys per
        call): an identity item naming any other lead is stale (free to claim)."""

    @abstractmethod
    def write_leads(
        self, tenant_id: str, writes: Sequence[LeadWrite], *, replay: bool = False
    ) -> list[WriteConflict]:
        """Apply every write whose conditions hold; return the ones refused (their profile is not written
        and their identity claims are given back).

        ``replay``: the writes may have been applied by an earlier attempt; new leads are then written
        only if absent (``lead_exists`` otherwise) so later changes to them are not overwritten, and an
        update whose stored profile already carries the write's ``updated_at`` counts as applied (its
        claims are kept, its replaced identities released).
        """

    @abstractmethod
    def restore_leads(
        self,
        tenant_id: str,
        before_images: Sequence[dict[str, Any]],
        *,
        remove_identities: Sequence[tuple[IdentityKey, str]] = (),
        add_identities: Sequence[tuple[IdentityKey, str]] = (),
        claimed_at: Mapping[IdentityKey, int] | None = None,
    ) -> None:
        """Put back stored items verbatim (``StoredLead.raw``); remove identity items still owned by the
        given lead id and put back identity items -> lead id, with their ``claimed_at`` when they had one
        (rollback of updates)."""

    @abstractmethod
    def delete_leads(
        self,
        tenant_id: str,
        lead_ids: Sequence[str],
        identities: Sequence[tuple[IdentityKey, str]],
        *,
        profile_only: Sequence[str] = (),
    ) -> None:
        """Delete each lead with everything under its partition (profile, timeline, score history, message
        markers) and the given identity items that still point at it (rollback of creates). Leads in
        ``profile_only`` are known to have nothing but their profile: no Query of their partition."""

    @abstractmethod
    def delete_score_history_since(self, tenant_id: str, lead_ids: Sequence[str], since: datetime) -> None:
        """Delete the score-history entries (``S#<iso>``) of the leads written at or after ``since``."""


class ImportArtifacts(ABC):
    """Files of an import in the artifacts bucket (source upload, chunks, plans, error report).

    Every method that reaches the bucket raises :class:`ImportStorageError` when it cannot complete."""

    @abstractmethod
    def presign_put(
        self, key: str, *, content_type: str | None, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        """A presigned PUT URL for ``key`` and the headers the client must send with it."""

    @abstractmethod
    def presign_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A presigned GET URL (``filename`` sets Content-Disposition)."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """Object size in bytes, or None when it does not exist."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes. Raises KeyError when it does not exist."""

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        """Write an object."""


class ImportRepository(ABC):
    """Import records (:class:`leadtide.imports.models.ImportRecord`), chunk markers and saved mappings.

    How a record is stored (which fields are attributes of their own, which sit in one JSON document) is
    the adapter's business: callers read and change fields by their record names.
    """

    @abstractmethod
    def create(self, record: ImportRecord) -> None:
        """Store a new import record."""

    @abstractmethod
    def get(self, tenant_id: str, import_id: str) -> ImportRecord:
        """The record (strongly consistent). Raises ImportNotFoundError."""

    @abstractmethod
    def list_imports(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ImportRecord], str | None]:
        """Newest first, one page and the next cursor. Raises InvalidRequestError for a bad cursor."""

    @abstractmethod
    def update(
        self,
        tenant_id: str,
        import_id: str,
        *,
        status: ImportStatus | None = None,
        changes: Mapping[str, Any] | None = None,
        expect_status: Sequence[ImportStatus] | None = None,
    ) -> bool:
        """Set the status and the fields in ``changes`` (record field name -> new value, checked by
        :meth:`ImportRecord.with_changes`); with ``expect_status`` only if the current status is one of
        them. Returns False when that condition failed.

        Raises:
            ImportNotFoundError. ValueError: a change names no field or does not fit it.
        """

    @abstractmethod
    def iter_import_tenants(self) -> Iterator[str]:
        """Every tenant that has at least one import record (the nightly sweep's fan-out)."""

    @abstractmethod
    def iter_unswept_before(self, tenant_id: str, id_before: str) -> Iterator[ImportRecord]:
        """Records of the tenant whose import id sorts before ``id_before`` (created earlier: ids start
        with the creation time) and that were not swept yet (no ``preview_swept_at``), oldest first."""

    @abstractmethod
    def sweep(self, record: ImportRecord, *, swept_at: datetime) -> bool:
        """Store the descriptive fields of ``record`` (the sweep's copy, file content emptied; counters
        and times are left as stored) and set ``preview_swept_at``, only if the stored status is still
        ``record.status`` and it was not swept yet; False (nothing written) otherwise."""

    @abstractmethod
    def commit_chunk(
        self,
        tenant_id: str,
        import_id: str,
        marker: str,
        *,
        progress: dict[str, int],
        counters: dict[str, int],
        outcome: dict[str, Any] | None = None,
    ) -> bool:
        """In one transaction: the chunk marker ``marker`` (``C#000003``) if absent, ``ADD`` each
        ``progress`` number to the record's counter of that name and each ``counters`` delta to the
        tenant's dashboard counters (sk -> delta). ``outcome``: kept on the marker (a failed chunk's
        ``{chunk, rows, error}``, see :meth:`failed_chunks`). Returns False (and changes nothing) when the
        marker already existed."""

    @abstractmethod
    def chunk_committed(self, tenant_id: str, import_id: str, marker: str) -> bool:
        """Whether the marker exists (a redelivered step that already ran)."""

    @abstractmethod
    def failed_chunks(self, tenant_id: str, import_id: str) -> list[FailedChunk]:
        """The chunks recorded as failed, by chunk number."""

    @abstractmethod
    def count_attempt(self, tenant_id: str, import_id: str, marker: str) -> int:
        """Add one delivery attempt to the chunk ``marker`` and return the new count."""

    @abstractmethod
    def save_mapping(
        self, tenant_id: str, name: str, columns: dict[str, str | None], headers: list[str], saved_by: str
    ) -> SavedMapping:
        """Create or replace the saved mapping ``name``; return it."""

    @abstractmethod
    def get_mapping(self, tenant_id: str, name: str) -> SavedMapping:
        """Raises ImportNotFoundError."""

    @abstractmethod
    def list_mappings(self, tenant_id: str) -> list[SavedMapping]:
        """Every saved mapping of the tenant, by name."""

    @abstractmethod
    def delete_mapping(self, tenant_id: str, name: str) -> None:
        """Raises ImportNotFoundError."""
