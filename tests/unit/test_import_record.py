"""The typed import record (:class:`leadtide.imports.models.ImportRecord`) and how the DynamoDB adapter
stores it: status, times and counters as attributes, every other field in the JSON ``doc``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from leadtide.dal.imports import item_from_record, record_from_item
from leadtide.dal.items import ImportItem
from leadtide.imports.models import (
    DedupeOptions,
    ImportOptions,
    ImportRecord,
    ImportStatus,
    PreviewRow,
    RollbackState,
    UnmappedColumn,
)

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _record(**changes) -> ImportRecord:
    return ImportRecord(
        tenant_id="t1",
        import_id="a" * 32,
        status=ImportStatus.COMPLETED,
        requested_by="admin-1",
        created_at=AT,
        started_at=AT,
        filename="leads.csv",
        source_key="imports/t1/" + "a" * 32 + "/source.csv",
        options=ImportOptions(
            dedupe=DedupeOptions(strategy="update", key="phone"), invalid_values="drop_field"
        ),
        **changes,
    )


def test_a_record_survives_the_trip_through_its_item():
    # Given a record with every kind of field filled
    record = _record(
        rows_total=3,
        created=2,
        failed=1,
        chunks_total=1,
        chunks_done=1,
        headers=["Email", "Phone"],
        sample=[(2, ["ada@example.com", "+14155550100"])],
        mapping={"Email": "email", "Phone": None},
        confidence={"Email": 1.0},
        unmapped=[UnmappedColumn(header="Phone", reason="ignored", detail="Phone is left out")],
        preview=[PreviewRow(row_number=2, values={"email": "ada@example.com"})],
        error_rows=1,
        rollback=RollbackState(previous_status=ImportStatus.COMPLETED, started_at=AT),
    )
    # When it is turned into its stored item and read back
    item = item_from_record(record)
    # Then the counters are attributes, the rest sits in doc, and nothing is lost
    assert item.created == 2 and item.status == "completed" and "created" not in item.doc
    assert item.doc["options"]["dedupe"] == {
        "strategy": "update",
        "key": "phone",
        "update_mode": "fill_empty",
    }
    assert item.doc["rollback"]["started_at"] == "2025-03-01T12:00:00.000Z"
    assert record_from_item(ImportItem.from_raw_data(item.serialize())) == record


def test_a_stored_doc_from_before_an_option_reads_as_what_it_meant_then():
    # Given an item written before invalid_values existed, with a doc key no field knows any more
    item = item_from_record(_record())
    del item.doc["options"]["invalid_values"]
    item.doc["retired_key"] = "x"
    # When it is read
    record = record_from_item(ImportItem.from_raw_data(item.serialize()))
    # Then the missing option is the strict behaviour those imports had, and the old key is ignored
    assert record.options.invalid_values == "reject_row"
    assert record.options.dedupe.key == "phone"


def test_changes_are_validated_against_the_fields():
    record = _record()
    changed = record.with_changes({"error": "no data rows", "finished_at": AT, "rows_total": 0})
    assert (changed.error, changed.finished_at, changed.rows_total) == ("no data rows", AT, 0)
    assert record.error is None  # the original is untouched
    with pytest.raises(ValueError, match="no field"):
        record.with_changes({"eror": "typo"})
    with pytest.raises(ValueError, match="cannot change"):
        record.with_changes({"tenant_id": "t2"})
    with pytest.raises(ValidationError):
        record.with_changes({"rows_total": "many"})
