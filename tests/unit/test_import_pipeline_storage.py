"""The import pipeline's storage helpers: the fast lead encoding equals the lead repository's, S3 events
are dispatched by key prefix, the error report is spreadsheet-safe."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from leadtide.dal.items import LeadItem
from leadtide.dal.lead_codec import encode_lead
from leadtide.dal.leads import DynamoLeadRepository, _lead_from_item
from leadtide.imports.ports import LeadWrite
from leadtide.imports.report import ErrorReportWriter
from leadtide.jobs import dispatch
from leadtide.models.common import ChannelType, Grade, LeadStatus
from leadtide.models.leads import Lead, ScoreFactor

AT = datetime(2025, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"first_name": "Zoë", "last_name": "Müller", "name": "Zoë Müller", "email": "zoe@example.com"},
        {
            "phone": "+14155550101",
            "company": "Acme \u2603",
            "tags": ["vip", "trade show"],
            "custom_fields": {"budget": 1200.5, "plan": "Growth", "when": "2024-03-01", "ok": True},
            "status": LeadStatus.CONTACTED,
            "owner_id": "u-9",
            "score": 42,
            "grade": Grade.WARM,
            "score_breakdown": [ScoreFactor(factor="f", label="F", points=4.5, detail="d")],
            "scored_at": AT,
            "import_id": "ab" * 16,
            "message_count": 3,
        },
    ],
)
def test_fast_encoding_equals_the_lead_repositorys(values):
    lead = Lead(
        lead_id="c" * 32,
        tenant_id="t1",
        source_channel=ChannelType.IMPORT,
        created_at=AT,
        updated_at=AT,
        last_activity_at=AT,
        **values,
    )
    expected = DynamoLeadRepository._lead_item(lead).serialize()
    assert encode_lead(LeadWrite(lead=lead)) == expected
    assert _lead_from_item(LeadItem.from_raw_data(encode_lead(LeadWrite(lead=lead)))) == lead


def test_encoding_keeps_attributes_of_other_features_from_the_stored_item():
    lead = Lead(
        lead_id="d" * 32,
        tenant_id="t1",
        source_channel="manual",
        created_at=AT,
        updated_at=AT,
        last_activity_at=AT,
    )
    base = {**encode_lead(LeadWrite(lead=lead)), "segments": {"SS": ["s1"]}, "first_name": {"S": "Old"}}
    item = encode_lead(LeadWrite(lead=lead, base_raw=base))
    assert item["segments"] == {"SS": ["s1"]}
    assert "first_name" not in item  # a known attribute the new profile clears is not kept


def test_s3_object_created_events_dispatch_by_key_prefix(monkeypatch):
    seen = []
    monkeypatch.setattr(
        "leadtide.imports.jobs.on_upload", lambda event, wiring: seen.append(event["detail"]["object"]["key"])
    )
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "bucket": {"name": "b"},
            "object": {"key": "imports/t1/" + "a" * 32 + "/source.csv", "size": 3},
        },
    }
    assert dispatch.job_kind(event) == dispatch.S3_OBJECT_CREATED
    dispatch.run_job(event, None)
    assert seen == ["imports/t1/" + "a" * 32 + "/source.csv"]
    dispatch.run_job({**event, "detail": {"object": {"key": "elsewhere/x"}}}, None)  # ignored, no error
    assert len(seen) == 1


def test_error_report_neutralises_formulas_and_keeps_extra_cells():
    writer = ErrorReportWriter(["Name", "Email"])
    writer.add(7, ['=HYPERLINK("x")', "a@b", "extra"], ["Email: not valid", "row has 3 cells"])
    text = writer.getvalue()
    assert text.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert rows[0] == ["row_number", "outcome", "reasons", "Name", "Email"]
    assert rows[1] == [
        "7",
        "rejected",
        "Email: not valid; row has 3 cells",
        '\'=HYPERLINK("x")',
        "a@b",
        "extra",
    ]
    assert (writer.rows, writer.rejected, writer.values_dropped) == (1, 1, 0)
    # a kept row whose values were dropped says so; a reason starting like a formula is quoted too
    writer.add(8, ["Ana", "ana@b"], ["=Phone: '+1 555' is not valid"], outcome="values_dropped")
    last = list(csv.reader(io.StringIO(writer.getvalue().decode("utf-8-sig"))))[-1]
    assert last[:3] == ["8", "values_dropped", "'=Phone: '+1 555' is not valid"]
    assert (writer.rows, writer.rejected, writer.values_dropped) == (2, 1, 1)
