"""Patches of moto for the local runtime (never used by the deployed code): :func:`install`.

Four patches, all for moto 5.2.1: two about scale (a 100,000-lead table), two about S3 request bodies.

1. ``DynamoDBBackend.transact_write_items``: per-item rollback instead of whole-table copies (below).
2. ``Table.query`` on the table itself (not an index): moto builds the list of *every* item of the table
   and sorts it (``Table.all_items``) to pick one partition, ~10 s per Query on 200,000 items, so reading
   one lead's partition or an import's chunk markers timed out. The patch makes ``all_items`` return only
   the queried partition's items for that call (a thread-local hint set by the patched ``query``); the
   rest of moto's query (range condition, sort, paging, filter, projection) runs unchanged on them, so
   the results are the same. Index queries and scans are not changed.
3. ``DomainDispatcherApplication._get_body`` (moto's server): to find the service of an unsigned request
   (a presigned URL), moto reads an ``application/x-www-form-urlencoded`` body and puts it back only when
   it decodes as UTF-8. A body that does not (an XLSX uploaded with ``curl --data-binary``, whose default
   content type that is) stayed consumed, and the S3 handler then waited for ``Content-Length`` bytes that
   never came: the upload hung until the client's timeout. The patch always puts the bytes back.
4. ``S3Response.setup_class`` (moto's server): moto's Flask request parses a form body
   (``application/x-www-form-urlencoded``, ``multipart/form-data``) before S3 sees it, so a PUT with such a
   content type stored an empty object (``request.data`` is empty once a form is parsed), or only the
   ``file`` part of a multipart body, and took form fields for S3 parameters. Real S3 stores a PUT's raw
   body whatever its content type (forms are for browser uploads, which are POSTs): for PUT, the patch
   reads the raw body first and gives moto no form, so moto's own code stores exactly those bytes (and
   the content type as sent). POST, and the in-process ``mock_aws`` (no Flask request), are unchanged.

Patch 1: ``moto.dynamodb.models.DynamoDBBackend.transact_write_items``. moto's own
implementation ``copy.deepcopy``\\ s every table a transaction names, once per item of the transaction,
so that it can put the whole table back when the transaction is cancelled: a TransactWriteItems of
100 items on a table of 100,000 leads copies the table 100 times (an import of 100,000 rows ran out of
23 GB). The replacement journals the before-image of only the items the transaction touches (a deep
copy of each item, or "absent") and, when the transaction is cancelled, puts back exactly those. It
keeps moto's semantics otherwise, line for line: the 100-item limit (``ValidationException``), one
operation per item and one item once per transaction (``ValidationException``, nothing applied; moto
leaves the items before a second operation on one item applied, this does not),
conditions checked before each write, ``ReturnValuesOnConditionCheckFailure``, and a
``TransactionCanceledException`` whose ``CancellationReasons`` has one entry per item (``None`` for
the items that did not fail) with nothing applied.

One addition: transactions are serialised against each other. moto's server
answers requests in threads and its backend has no locks, so two concurrent transactions could
interleave (and moto's whole-table restore would undo a concurrent transaction's writes); DynamoDB
isolates transactions (serializable), which this approximates with one lock for the process.
Single-item writes are not locked (as in moto).

Guarded: :func:`install` checks that each method it replaces is the one it was written against (its
signature and a fingerprint of its source); if moto changes, it raises :class:`MotoPatchError` when the
local stack starts rather than silently running a stale copy. Re-check the patch against moto's new
code, then update ``_TARGETS``.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import io
import threading
from typing import Any

__all__ = ["MotoPatchError", "install", "installed"]

_TARGET_MOTO_VERSION = "5.2.1"
# "module:Class.method" -> (signature, sha256 of the source) of the moto code each patch was written for
_TARGETS = {
    "moto.dynamodb.models:DynamoDBBackend.transact_write_items": (
        "(self, transact_items: list[dict[str, typing.Any]]) -> None",
        "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4",
    ),
    "moto.dynamodb.models.table:Table.query": (
        None,  # long; the source fingerprint covers it
        "002b4d00be6df07cf37f6cbe0132e5eb89455ae12a8e79b23db3fb492450f21e",
    ),
    "moto.dynamodb.models.table:Table.all_items": (
        "(self) -> list[moto.dynamodb.models.dynamo_type.Item]",
        "c80d2ee3c896acd0cab6ca35aaeae3ab3fb65858933f8a3403d4e027c240f31d",
    ),
    "moto.moto_server.werkzeug_app:DomainDispatcherApplication._get_body": (
        "(self, environ: dict[str, typing.Any]) -> str | None",
        "626504bc77fb18080d44bd3fd4c4cbb1d6531a8d97d2d9527a14ce261caacb82",
    ),
    "moto.s3.responses:S3Response.setup_class": (
        "(self, request: Any, full_url: str, headers: Any) -> None",
        "6302839a50871ecdacc78129ab6c9b46762e13dec1e74b848e2e198e794e914d",
    ),
}
_INSTALL_LOCK = threading.Lock()
_originals: dict[str, Any] = {}
_partition = threading.local()  # .hint = (table, hash key) while a patched base-table query runs


class MotoPatchError(RuntimeError):
    """moto is not the version the local runtime's patch was written for."""


def _fingerprint(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def installed() -> bool:
    """Whether :func:`install` has patched moto in this process."""
    return bool(_originals)


def _resolve(target: str) -> tuple[Any, str, Any]:
    import importlib

    module_name, qualname = target.split(":")
    owner_name, attribute = qualname.split(".")
    owner = getattr(importlib.import_module(module_name), owner_name)
    return owner, attribute, getattr(owner, attribute)


def install() -> None:
    """Patch moto (idempotent): ``DynamoDBBackend.transact_write_items`` by :func:`transact_write_items`,
    ``Table.query``/``Table.all_items`` by :func:`table_query`/:func:`table_all_items`, the server's
    ``DomainDispatcherApplication._get_body`` by :func:`dispatcher_get_body` and
    ``S3Response.setup_class`` by :func:`s3_setup_class`.

    Applies to every moto backend of the process: ``mock_aws()`` and the in-process
    ``ThreadedMotoServer`` of the local stack.

    Raises:
        MotoPatchError: a method is not the one the patch targets (moto 5.2.1): its signature or its source
            changed. Nothing is patched then.
    """
    import moto

    replacements = {
        "moto.dynamodb.models:DynamoDBBackend.transact_write_items": transact_write_items,
        "moto.dynamodb.models.table:Table.query": table_query,
        "moto.dynamodb.models.table:Table.all_items": table_all_items,
        "moto.moto_server.werkzeug_app:DomainDispatcherApplication._get_body": dispatcher_get_body,
        "moto.s3.responses:S3Response.setup_class": s3_setup_class,
    }
    with _INSTALL_LOCK:
        if _originals:
            return
        resolved = {target: _resolve(target) for target in _TARGETS}
        for target, (want_signature, want_source) in _TARGETS.items():
            current = resolved[target][2]
            signature = str(inspect.signature(current))
            source = _fingerprint(current)
            if (want_signature is not None and signature != want_signature) or source != want_source:
                raise MotoPatchError(
                    f"{target} of moto {getattr(moto, '__version__', '?')} is not the one "
                    f"leadtide_local.moto_patches replaces (written for moto {_TARGET_MOTO_VERSION}): "
                    f"signature {signature}, source sha256 {source}. Compare the patch with moto's new code, "
                    "then update _TARGETS (or drop the patch if moto no longer needs it)."
                )
        for target, (owner, attribute, current) in resolved.items():
            _originals[target] = current
            setattr(owner, attribute, replacements[target])


def uninstall() -> None:
    """Put moto's own methods back (tests)."""
    with _INSTALL_LOCK:
        for target, original in _originals.items():
            owner, attribute, _ = _resolve(target)
            setattr(owner, attribute, original)
        _originals.clear()


# -------------------------------------------------------------------------------- S3 request bodies
def dispatcher_get_body(self: Any, environ: dict[str, Any]) -> str | None:
    """moto's ``DomainDispatcherApplication._get_body``: the UTF-8 text of a form-encoded body (None for
    another content type, no body, or bytes that are not UTF-8), with the bytes it read always put back
    in ``environ["wsgi.input"]`` for the handler (moto put them back only when they decoded)."""
    try:
        simple_form = environ["CONTENT_TYPE"].startswith("application/x-www-form-urlencoded")
        size = int(environ["CONTENT_LENGTH"])
    except (KeyError, ValueError):
        return None
    if not (simple_form and size):
        return None
    raw = environ["wsgi.input"].read(size)
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        return raw.decode("utf-8") or None
    except UnicodeDecodeError:
        return None


def s3_setup_class(self: Any, request: Any, full_url: str, headers: Any) -> None:
    """moto's ``S3Response.setup_class``; for a PUT through moto's server, the raw body is read (and cached
    by werkzeug) before moto looks at it, and the request carries no form fields or files, so moto takes
    the bytes as sent whatever the content type (as S3 does)."""
    target = request._get_current_object() if hasattr(request, "_get_current_object") else request
    if (
        getattr(target, "method", None) == "PUT"
        and hasattr(target, "get_data")
        and "form" not in vars(target)
    ):
        target.get_data(cache=True, parse_form_data=False)  # raw bytes; request.data returns them from now on
        state = vars(target)
        state["form"] = target.parameter_storage_class()
        state["files"] = target.parameter_storage_class()
    _originals["moto.s3.responses:S3Response.setup_class"](self, request, full_url, headers)


# -------------------------------------------------------------------------------- base-table Query
def table_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's ``Table.query``, with ``all_items`` limited to ``hash_key``'s partition for a query on the
    table itself (``index_name`` not given)."""
    original = _originals["moto.dynamodb.models.table:Table.query"]
    if kwargs.get("index_name") or (len(args) > 6 and args[6]) or hash_key is None:
        return original(self, hash_key, *args, **kwargs)
    previous = getattr(_partition, "hint", None)
    _partition.hint = (self, hash_key)
    try:
        return original(self, hash_key, *args, **kwargs)
    finally:
        _partition.hint = previous


def table_all_items(self: Any) -> Any:
    """moto's ``Table.all_items``; during a patched base-table query of this table, only the queried
    partition's items (moto keeps only those anyway: ``item.hash_key == hash_key``)."""
    hint = getattr(_partition, "hint", None)
    if hint is None or hint[0] is not self:
        return _originals["moto.dynamodb.models.table:Table.all_items"](self)
    partition = self.items.get(hint[1])  # .get: items is a defaultdict, a lookup must not add a key
    if partition is None:
        return []
    return list(partition.values()) if self.range_key_attr else [partition]  # query sorts them


# -------------------------------------------------------------------------------- transactions
# Serialises transactions (all backends of the process: they are few and moto is bound by the GIL anyway).
_TRANSACTIONS = threading.RLock()


class _Journal:
    """Before-images of the items a transaction touched: (table name, hash, range) -> item copy or None."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.entries: list[tuple[str, Any, Any, Any, bool]] = []
        self.stream_lengths: dict[str, int] = {}

    def read(self, table_name: str, key: dict[str, Any]) -> Any:
        """``backend.get_item(table_name, key)`` (same errors), journaling the item's before-image."""
        table = self.backend.get_table(table_name)
        hash_value, range_value = self.backend.get_keys_value(table, key)
        bucket_existed = hash_value in table.items
        current = table.get_item(hash_value, range_value)
        if table.stream_shard is not None and table_name not in self.stream_lengths:
            self.stream_lengths[table_name] = len(table.stream_shard.items)
        self.entries.append((table_name, hash_value, range_value, copy.deepcopy(current), bucket_existed))
        return current

    def restore(self) -> None:
        """Put every journaled item back as it was (absent items removed), newest first."""
        for table_name, hash_value, range_value, before, bucket_existed in reversed(self.entries):
            items = self.backend.tables[table_name].items
            if range_value is None:
                if before is None:
                    items.pop(hash_value, None)
                else:
                    items[hash_value] = before
                continue
            if before is not None:
                items[hash_value][range_value] = before
                continue
            bucket = items.get(hash_value)
            if bucket is not None:
                bucket.pop(range_value, None)
                if not bucket and not bucket_existed:
                    del items[hash_value]
        for table_name, length in self.stream_lengths.items():
            shard = self.backend.tables[table_name].stream_shard
            if shard is not None:
                del shard.items[length:]


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:  # noqa: C901 - moto's own function, statement by statement, so it diffs against upstream
    """moto 5.2.1's ``DynamoDBBackend.transact_write_items`` with a per-item journal instead of whole-table
    copies (see the module docstring); the statements are moto's, in moto's order."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _TRANSACTIONS:
        journal = _Journal(self)
        target_items: set[tuple[str, str]] = set()

        def check_unicity(table_name: str, key: dict[str, Any]) -> None:
            item = (str(table_name), str(dict(sorted(key.items()))))
            if item in target_items:
                raise MultipleTransactionsException()
            target_items.add(item)

        errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                journal.restore()  # moto raises without undoing the items before: nothing applied here
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]

                check_unicity(table_name, key)

                current = journal.read(table_name, key)  # moto: self.get_item(table_name, key)
                if condition_expression is not None:
                    condition_op = get_filter_expression(
                        condition_expression, expression_attribute_names, expression_attribute_values
                    )
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                journal.restore()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
            except Exception as e:  # moto reports any other failure as the item's reason
                errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

        if any(code is not None for code, _, _ in errors):
            journal.restore()
            raise TransactionCanceledException(errors)
