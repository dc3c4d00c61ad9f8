"""Unit tests run with the network switched off: logic is tested against in-memory fakes."""

import pytest
from pytest_socket import disable_socket, enable_socket

from tests.fakes import FakeEventPublisher, FakeLeadRepository


@pytest.fixture(autouse=True)
def _network_off():
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture
def repo() -> FakeLeadRepository:
    """An empty in-memory lead repository."""
    return FakeLeadRepository()


@pytest.fixture
def events() -> FakeEventPublisher:
    """An in-memory event publisher that records what was published."""
    return FakeEventPublisher()
