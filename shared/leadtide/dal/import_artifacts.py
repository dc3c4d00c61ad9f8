"""S3 implementation of the import files port (:class:`leadtide.imports.ports.ImportArtifacts`): presigned
URLs and objects in the artifacts bucket (``ARTIFACTS_BUCKET``)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from leadtide.imports.ports import ImportArtifacts, ImportStorageError


class S3ImportArtifacts(ImportArtifacts):
    """Objects of imports in the artifacts bucket (``ARTIFACTS_BUCKET``)."""

    def __init__(self, bucket: str):
        self.bucket = bucket

    @cached_property
    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", config=Config(signature_version="s3v4"))

    def presign_put(
        self, key: str, *, content_type: str | None, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        headers: dict[str, str] = {}
        if content_type:
            params["ContentType"] = content_type
            headers["Content-Type"] = content_type
        url = self._client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        return url, headers

    def presign_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        url: str = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url

    def size(self, key: str) -> int | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as err:
            if _missing(err):
                return None
            raise _storage_error("HeadObject", key, err) from err
        except BotoCoreError as err:
            raise _storage_error("HeadObject", key, err) from err

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as err:
            if _missing(err):
                raise KeyError(key) from err
            raise _storage_error("GetObject", key, err) from err
        except BotoCoreError as err:  # the body's stream broke, no connection
            raise _storage_error("GetObject", key, err) from err
        return body

    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as err:
            raise _storage_error("PutObject", key, err) from err


def _missing(err: Any) -> bool:
    """Whether an S3 ClientError says the object does not exist."""
    return err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def _storage_error(operation: str, key: str, err: Exception) -> ImportStorageError:
    response = getattr(err, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    return ImportStorageError(f"S3 {operation} {key}: {err}", code=code, response=response)
