"""Large inbound traffic in the artifacts bucket: claim-checked deliveries and whole message texts.

- ``deliveries/<channel>/<yyyy-mm-dd>/<id>``: a verified delivery too large for a queue message
  (:class:`leadtide.models.messages.StoredDelivery`), written by the Webhooks function and read by the
  Ingest worker. Expired by the bucket's lifecycle after the ingest queue and its dead-letter queue can
  no longer name it (template.yaml).
- ``message-texts/<tenant>/<activity_id>.txt``: the whole text of a message longer than its timeline
  activity keeps, written by the Ingest worker (before the activity, so an activity never names a missing
  text), served by presigned URL through the Api function, deleted with its lead. The object's metadata
  names the message (channel and provider message id) so the Api can check which lead holds it now.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cached_property
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from leadtide.capture.ports import DeliveryStore
from leadtide.leads.ports import MessageTextStore, StoredText
from leadtide.models.common import ChannelType, utc_now

DELIVERIES_PREFIX = "deliveries/"
MESSAGE_TEXTS_PREFIX = "message-texts/"
_MISSING = ("NoSuchKey", "404", "NotFound")


def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    # SigV4 and the regional endpoint: presigned URLs must work in every region and with SSE.
    return boto3.client("s3", config=Config(signature_version="s3v4"))


class S3DeliveryStore(DeliveryStore):
    """Claim-checked deliveries under ``deliveries/`` of ``bucket``."""

    def __init__(self, bucket: str):
        self._bucket = bucket

    @cached_property
    def _client(self) -> Any:
        return _s3_client()

    def put(self, channel_type: ChannelType, data: bytes) -> str:
        key = f"{DELIVERIES_PREFIX}{channel_type}/{utc_now():%Y-%m-%d}/{uuid.uuid4().hex}"
        self._client.put_object(
            Bucket=self._bucket, Key=key, Body=data, ContentType="application/octet-stream"
        )
        return key

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as err:
            if err.response["Error"]["Code"] in _MISSING:
                raise KeyError(key) from err
            raise
        return body


class S3MessageTextStore(MessageTextStore):
    """Whole message texts under ``message-texts/`` of ``bucket``."""

    def __init__(self, bucket: str):
        self._bucket = bucket

    @cached_property
    def _client(self) -> Any:
        return _s3_client()

    @staticmethod
    def _key(tenant_id: str, activity_id: str) -> str:
        return f"{MESSAGE_TEXTS_PREFIX}{quote(tenant_id, safe='')}/{quote(activity_id, safe='')}.txt"

    def put(
        self,
        tenant_id: str,
        activity_id: str,
        text: str,
        *,
        channel_type: ChannelType,
        provider_message_id: str,
    ) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=self._key(tenant_id, activity_id),
            Body=text.encode("utf-8"),
            ContentType="text/plain; charset=utf-8",
            # S3 metadata is ASCII: the provider id is percent-encoded
            Metadata={
                "channel": str(channel_type),
                "message": quote(provider_message_id, safe=""),
                "length": str(len(text)),
            },
        )

    def find(self, tenant_id: str, activity_id: str) -> StoredText | None:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self._key(tenant_id, activity_id))
        except ClientError as err:
            if err.response["Error"]["Code"] in _MISSING:
                return None
            raise
        metadata = head.get("Metadata") or {}
        if not {"channel", "message", "length"} <= set(metadata):
            return None
        return StoredText(
            ChannelType(metadata["channel"]), unquote(metadata["message"]), int(metadata["length"])
        )

    def presigned_get(self, tenant_id: str, activity_id: str, *, expires_in: int) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": self._key(tenant_id, activity_id),
                "ResponseContentType": "text/plain; charset=utf-8",
            },
            ExpiresIn=expires_in,
        )
        return url

    def delete(self, tenant_id: str, activity_ids: Sequence[str]) -> None:
        keys = [self._key(tenant_id, a) for a in dict.fromkeys(activity_ids)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            chunk = keys[start : start + 1000]
            self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
