"""How the dal reads SDK errors (leadtide.dal.errors) and turns the transient ones into
StorageUnavailableError at every adapter's edge (leadtide.dal.base.StorageAdapter)."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError
from pynamodb.exceptions import DeleteError, GetError, PutError, UpdateError

from leadtide.dal.base import StorageAdapter
from leadtide.dal.errors import (
    cancellation_codes,
    condition_failed,
    refused_by_condition,
    storage_unavailable,
    unavailable_error,
)
from leadtide.models.errors import LeadtideError, StorageUnavailableError
from tests.sdk_errors import cancelled, client_error, pynamo_error


# ------------------------------------------------------------------------------ a failed condition
@pytest.mark.parametrize("kind", [PutError, UpdateError, DeleteError])
def test_a_single_item_write_refused_by_its_condition_is_a_failed_condition(kind):
    assert condition_failed(pynamo_error(kind, "ConditionalCheckFailedException"))


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ValidationException", "ThrottlingException"]
)
def test_a_write_refused_for_another_reason_is_not_a_failed_condition(code):
    assert not condition_failed(pynamo_error(UpdateError, code))
    assert not condition_failed(client_error(code))


def test_a_transaction_cancelled_by_a_condition_names_the_refused_items():
    err = cancelled(None, "ConditionalCheckFailed", "ThrottlingError")
    assert condition_failed(err)
    assert cancellation_codes(err) == [None, "ConditionalCheckFailed", "ThrottlingError"]
    assert refused_by_condition(err) == [False, True, False]


def test_a_transaction_cancelled_only_by_throttling_is_not_a_failed_condition():
    assert not condition_failed(cancelled(None, "ThrottlingError"))


def test_a_raw_client_error_reads_the_same():
    assert condition_failed(client_error("ConditionalCheckFailedException", "PutItem"))
    raw = client_error("TransactionCanceledException", "TransactWriteItems")
    raw.response["CancellationReasons"] = [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]
    assert cancellation_codes(raw) == [None, "ConditionalCheckFailed"] and condition_failed(raw)


def test_an_error_that_is_not_the_sdks_is_neither():
    assert not condition_failed(ValueError("ConditionalCheckFailed"))
    assert not storage_unavailable(ValueError("ThrottlingException"))
    assert cancellation_codes(KeyError("x")) == []


# ------------------------------------------------------------------------------ the store unavailable
@pytest.mark.parametrize(
    "err",
    [
        pynamo_error(UpdateError, "ProvisionedThroughputExceededException"),
        pynamo_error(GetError, "ThrottlingException"),
        pynamo_error(PutError, "RequestLimitExceeded"),
        pynamo_error(PutError, "InternalServerError"),
        cancelled(None, "ThrottlingError"),
        cancelled("ProvisionedThroughputExceeded"),
        client_error("SlowDown", "PutObject", status=503),
        client_error("InternalError", "GetObject", status=500),
        EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ],
)
def test_throttling_and_transient_failures_mean_the_store_is_unavailable(err):
    assert storage_unavailable(err)
    translated = unavailable_error(err)
    assert isinstance(translated, StorageUnavailableError)
    assert translated.code == "storage_unavailable" and translated.cause_code


@pytest.mark.parametrize(
    "err",
    [
        pynamo_error(UpdateError, "ConditionalCheckFailedException"),
        pynamo_error(PutError, "ValidationException"),
        cancelled("ConditionalCheckFailed", None),
        client_error("NoSuchKey", "GetObject", status=404),
        client_error("AccessDeniedException", "Query"),
    ],
)
def test_other_failures_do_not(err):
    assert not storage_unavailable(err)
    assert unavailable_error(err) is None


def test_storage_unavailable_is_not_a_request_error():
    # Loops that record a LeadtideError as an item's final failure must let a transient one propagate.
    assert not issubclass(StorageUnavailableError, LeadtideError)


# ------------------------------------------------------------------------------ at the adapter's edge
class _Adapter(StorageAdapter):
    def __init__(self, err: Exception):
        self.err = err

    def write(self) -> None:
        raise self.err

    def pages(self):
        yield 1
        raise self.err

    def _private(self) -> None:
        raise self.err


def test_an_adapter_raises_storage_unavailable_for_a_throttled_call():
    throttled = pynamo_error(UpdateError, "ProvisionedThroughputExceededException")
    with pytest.raises(StorageUnavailableError) as raised:
        _Adapter(throttled).write()
    assert raised.value.__cause__ is throttled
    assert raised.value.cause_code == "ProvisionedThroughputExceededException"


def test_an_adapter_translates_a_generator_while_it_is_iterated():
    pages = _Adapter(cancelled("ThrottlingError")).pages()
    assert next(pages) == 1
    with pytest.raises(StorageUnavailableError):
        next(pages)


def test_an_adapter_lets_every_other_error_through_unchanged():
    refused = pynamo_error(UpdateError, "ConditionalCheckFailedException")
    with pytest.raises(UpdateError) as raised:
        _Adapter(refused).write()
    assert raised.value is refused
    with pytest.raises(ZeroDivisionError):
        _Adapter(ZeroDivisionError()).write()


def test_private_methods_see_the_sdks_error():
    with pytest.raises(UpdateError):
        _Adapter(pynamo_error(UpdateError, "ThrottlingException"))._private()
