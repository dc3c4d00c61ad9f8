"""Exports: their records in the leads table and their files in the artifacts bucket (S3).

Records: pk=``T#<tenant>#EXPORTS``, sk=``<export_id>`` (time-ordered, so a Query reads newest first).
Files: ``exports/<tenant>/<export_id>/leads.<ext>``, written with S3 multipart upload as rows are produced,
and handed out as short-lived presigned GET URLs.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from leadtide.dal.base import StorageAdapter
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.errors import condition_failed
from leadtide.dal.items import ExportItem
from leadtide.exports.ports import ArtifactStorage, ExportRepository, UploadStream
from leadtide.models.errors import ExportNotFoundError
from leadtide.models.exports import ExportRecord

# S3 multipart upload: every part but the last must be at least 5 MiB ("Amazon S3 multipart upload
# limits", S3 User Guide); 8 MiB keeps memory bounded at one part while staying well under 10,000 parts
# (80 GB) for any export Leadtide produces.
PART_SIZE = 8 * 1024 * 1024


def exports_pk(tenant_id: str) -> str:
    """Partition key of the tenant's export records."""
    return f"T#{tenant_id}#EXPORTS"


class DynamoExportRepository(StorageAdapter, ExportRepository):
    """Export records over DynamoDB (PynamoDB)."""

    def create(self, record: ExportRecord) -> None:
        item = _item(record)
        item.save(condition=ExportItem.pk.does_not_exist())

    def get(self, tenant_id: str, export_id: str) -> ExportRecord:
        try:
            item = ExportItem.get(exports_pk(tenant_id), export_id)
        except DoesNotExist:
            raise ExportNotFoundError(f"export {export_id} not found") from None
        return _record(item)

    def save(self, record: ExportRecord, *, expect_status: Iterable[str]) -> bool:
        statuses = list(expect_status)
        try:
            _item(record).save(condition=ExportItem.status.is_in(*statuses))
        except PutError as err:
            if condition_failed(err):
                return False
            raise
        return True

    def list(
        self, tenant_id: str, *, requested_by: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ExportRecord], str | None]:
        pk = exports_pk(tenant_id)
        start = decode_cursor(cursor, scope="exports", tenant_prefix=f"T#{tenant_id}")
        items, last = query_newest_first(ExportItem, pk, requested_by, limit, start)
        return [_record(i) for i in items], encode_cursor(last, scope="exports")


def query_newest_first(
    model: Any, pk: str, requested_by: str | None, limit: int, start: dict[str, Any] | None
) -> tuple[list[Any], dict[str, Any] | None]:
    """One page of a job partition (exports, bulk actions) newest first, optionally only one user's.

    Returns the items and the key to continue from (None at the end). With a filter, the continuation
    key is the last item returned, so no filtered-in item is skipped between pages.
    """
    results = model.query(
        pk,
        scan_index_forward=False,
        filter_condition=(model.requested_by == requested_by) if requested_by else None,
        last_evaluated_key=start,
        page_size=limit if not requested_by else 100,
    )
    items: list[Any] = []
    for item in results:
        items.append(item)
        if len(items) == limit:
            return items, {"pk": {"S": item.pk}, "sk": {"S": item.sk}}
    return items, None


def pack_selection(doc: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """Split an explicit selection's lead ids out of a record document, packed 16 bytes per id (DynamoDB's
    400 KB item limit would not hold 10,000 ids as JSON text). Returns the document without them."""
    selection = doc.get("selection") or {}
    ids = selection.get("lead_ids")
    if ids is None:
        return doc, None
    rest = {k: v for k, v in selection.items() if k != "lead_ids"}
    return {**doc, "selection": {**rest, "lead_ids": []}}, b"".join(bytes.fromhex(i) for i in ids)


def unpack_selection(doc: dict[str, Any], packed: bytes | None) -> dict[str, Any]:
    """The inverse of :func:`pack_selection`."""
    if packed is None:
        return doc
    ids = [packed[i : i + 16].hex() for i in range(0, len(packed), 16)]
    return {**doc, "selection": {**(doc.get("selection") or {}), "lead_ids": ids}}


def _item(record: ExportRecord) -> ExportItem:
    doc, packed = pack_selection(record.model_dump(mode="json"))
    return ExportItem(
        exports_pk(record.tenant_id),
        record.export_id,
        status=record.status,
        requested_by=record.requested_by,
        attempts=record.attempts,
        doc=doc,
        lead_ids=packed,
    )


def _record(item: ExportItem) -> ExportRecord:
    return ExportRecord.model_validate(unpack_selection(item.doc, item.lead_ids))


class S3ArtifactStorage(StorageAdapter, ArtifactStorage):
    """The artifacts bucket. Large files go up as multipart uploads, one part in memory at a time."""

    def __init__(self, bucket: str):
        self._bucket = bucket

    @cached_property
    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        # SigV4 and the regional endpoint: presigned URLs must work in every region and with KMS/SSE.
        return boto3.client("s3", config=Config(signature_version="s3v4"))

    def open_upload(self, key: str, *, content_type: str) -> UploadStream:
        return S3MultipartUpload(self._client, self._bucket, key, content_type=content_type)

    def put(self, key: str, body: bytes, *, content_type: str) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def presigned_get(self, key: str, *, expires_in: int, filename: str) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_in,
        )
        return url


class S3MultipartUpload(StorageAdapter):
    """A write-only stream that uploads ``part_size`` parts as they fill (CreateMultipartUpload on the first
    full part, UploadPart per part, CompleteMultipartUpload on close). An object smaller than one part is
    written with a single PutObject on close. Memory: at most one part plus the last write.

    Not seekable, so ``zipfile`` (openpyxl's XLSX writer) streams into it with data descriptors.
    """

    def __init__(self, client: Any, bucket: str, key: str, *, content_type: str, part_size: int = PART_SIZE):
        self._client = client
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._written = 0
        self.closed = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed upload")
        self._buffer += data
        self._written += len(data)
        while len(self._buffer) >= self._part_size:
            with memoryview(self._buffer) as view:
                part = bytes(view[: self._part_size])  # one copy of the part, not two
            self._upload_part(part)
            del self._buffer[: self._part_size]
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        """Parts are sent when full; nothing to do until then."""

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._content_type
            )["UploadId"]
        number = len(self._parts) + 1
        etag = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})

    def close(self) -> None:
        if self.closed:
            return
        if self._upload_id is None:
            self._client.put_object(
                Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer), ContentType=self._content_type
            )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer.clear()
        self.closed = True

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._buffer.clear()
        if self._upload_id is not None:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
