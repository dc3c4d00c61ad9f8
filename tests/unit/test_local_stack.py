"""leadtide_local.stack without starting anything: forgetting caches tied to the previous endpoint."""

from __future__ import annotations

import sys
import types
from functools import lru_cache

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from leadtide_local.stack import forget_process_caches


class _ItemForTest(Model):
    class Meta:
        table_name = "t"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)


def test_endpoint_bound_caches_are_forgotten(monkeypatch):
    # Given a leadtide module with a cached client factory, a foreign module with one too,
    # and a PynamoDB model holding a connection made for the previous endpoint
    calls = {"leadtide": 0, "other": 0}
    domain = types.ModuleType("leadtide.fake_dal")
    other = types.ModuleType("not_leadtide_mod")

    def make(kind):
        @lru_cache(maxsize=1)
        def client():
            calls[kind] += 1
            return object()

        return client

    domain.get_client = make("leadtide")
    domain.get_client.__module__ = "leadtide.fake_dal"
    other.get_client = make("other")
    other.get_client.__module__ = "not_leadtide_mod"
    monkeypatch.setitem(sys.modules, "leadtide.fake_dal", domain)
    monkeypatch.setitem(sys.modules, "not_leadtide_mod", other)
    domain.get_client(), other.get_client()
    monkeypatch.setattr(_ItemForTest, "_connection", object(), raising=False)
    # When the runtime switches the process's endpoint
    forget_process_caches()
    domain.get_client(), other.get_client()
    # Then leadtide's cache was rebuilt and the model will reconnect; other packages are left alone
    assert calls == {"leadtide": 2, "other": 1}
    assert _ItemForTest._connection is None
