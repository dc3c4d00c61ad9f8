"""leadtide_local.stack without starting anything: forgetting what was built for the previous endpoint."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from leadtide.wiring import get_wiring
from leadtide_local.stack import forget_process_caches


class _ItemForTest(Model):
    class Meta:
        table_name = "t"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)


def test_endpoint_bound_objects_are_forgotten(monkeypatch):
    # Given a wiring (with a client-holding adapter) built from one environment, and a PynamoDB model
    # holding a connection made for the previous endpoint
    import leadtide.dal.items  # noqa: F401 - the reset forgets connections only once the dal is loaded

    monkeypatch.setenv("EVENT_BUS_NAME", "bus-before")
    forget_process_caches()
    before = get_wiring()
    assert before.event_publisher is before.event_publisher
    monkeypatch.setattr(_ItemForTest, "_connection", object(), raising=False)
    # When the runtime switches the process's environment
    monkeypatch.setenv("EVENT_BUS_NAME", "bus-after")
    forget_process_caches()
    # Then the next wiring is new and reads the new settings, and the model will reconnect
    after = get_wiring()
    assert after is not before and after.settings.event_bus_name == "bus-after"
    assert after.event_publisher is not before.event_publisher
    assert _ItemForTest._connection is None
