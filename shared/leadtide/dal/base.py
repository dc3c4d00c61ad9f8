"""What every adapter of the dal shares: SDK errors turned into domain errors at its edge, and (DynamoDB
repositories) one PynamoDB connection, opened on first use (this module imports neither boto3 nor
PynamoDB's connection, so the lazily importing adapters - custom fields, the AWS clients - stay light)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from leadtide.dal.errors import SDK_ERRORS, unavailable_error

if TYPE_CHECKING:
    from pynamodb.connection import Connection


class StorageAdapter:
    """Base of the dal's adapters: every public method a subclass defines raises
    :class:`~leadtide.models.errors.StorageUnavailableError` in place of a botocore/PynamoDB error that
    means the store throttled or failed transiently (:func:`leadtide.dal.errors.storage_unavailable`).
    Every other error (a failed condition an adapter did not map, a validation error, a bug) propagates
    unchanged. Generator methods are translated while they are iterated; private methods (``_x``) are
    left alone, so an adapter's own handling inside them sees the SDK's errors."""

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(member):
                setattr(cls, name, translate_storage_errors(member))


def translate_storage_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` raising :class:`~leadtide.models.errors.StorageUnavailableError` (chained to the SDK's
    error) when the store is unavailable; see :class:`StorageAdapter`."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                return (yield from method(*args, **kwargs))
            except SDK_ERRORS as err:
                unavailable = unavailable_error(err)
                if unavailable is None:
                    raise
                raise unavailable from err

        return generator

    @functools.wraps(method)
    def translated(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except SDK_ERRORS as err:
            unavailable = unavailable_error(err)
            if unavailable is None:
                raise
            raise unavailable from err

    return translated


class DynamoRepository(StorageAdapter):
    """Base of the DynamoDB repositories; ``connection`` is created lazily (transactions need one)."""

    def __init__(self, connection: Connection | None = None):
        self._connection = connection

    @property
    def connection(self) -> Connection:
        """The PynamoDB connection used for TransactWriteItems (region and endpoint from botocore's config)."""
        if self._connection is None:
            from pynamodb.connection import Connection

            self._connection = Connection()
        return self._connection
