"""Export file formats: CSV (BOM, RFC 4180 quoting, formula neutralisation), XLSX (read back), JSON Lines."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from leadtide.bulk.ports import CustomFieldColumn
from leadtide.exports.formats import LEAD_FIELDS, columns_for, neutralize, row_writer
from leadtide.models.common import ChannelType
from leadtide.models.errors import UnprocessableError
from leadtide.models.leads import Lead

CUSTOM = [
    CustomFieldColumn("budget", "Budget", "number"),
    CustomFieldColumn("interests", "Interests", "multi_select"),
    CustomFieldColumn("email", "email", "text"),  # a label that collides with a lead field
]


class Sink(io.BytesIO):
    """A BytesIO whose close() keeps the bytes readable."""

    def close(self):
        self.final = self.getvalue()


def lead(**fields) -> Lead:
    at = datetime(2024, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)
    values = {
        "lead_id": "a" * 32,
        "tenant_id": "t1",
        "source_channel": ChannelType.WHATSAPP,
        "created_at": at,
        "updated_at": at,
        "last_activity_at": at,
        **fields,
    }
    return Lead(**values)


HOSTILE = lead(
    name='=HYPERLINK("http://evil.example","click")',
    company='Smith, "Jones" & Co\nLtd',
    job_title="@SUM(A1:A2)",
    first_name="-2+3",
    last_name="\tTabbed",
    phone="+15551234567",
    email="ana@example.com",
    score=-5,
    tags=["vip", "spring sale"],
    custom_fields={"budget": 1200.5, "interests": ["boats", "kayaks"], "email": "=1+1"},
)


def write(fmt: str, leads, fields=None) -> bytes:
    sink = Sink()
    writer = row_writer(fmt, sink, columns_for(fields, CUSTOM))
    assert writer.write(leads) == len(leads)
    writer.close()
    return sink.final


def test_default_columns_are_every_lead_field_then_custom_fields_by_label():
    headers = [c.header for c in columns_for(None, CUSTOM)]
    assert headers[: len(LEAD_FIELDS)] == list(LEAD_FIELDS)
    assert headers[len(LEAD_FIELDS) :] == ["Budget", "Interests", "email (custom)"]
    assert "tenant_id" not in headers and "custom_fields" not in headers
    assert {"lead_id", "email", "status", "tags", "created_at"} <= set(headers)


def test_chosen_fields_keep_their_order_and_unknown_ones_are_named():
    cols = columns_for(["email", "budget", "custom_fields.interests", "lead_id"], CUSTOM)
    assert [c.header for c in cols] == ["email", "Budget", "Interests", "lead_id"]
    with pytest.raises(UnprocessableError) as err:
        columns_for(["email", "shoe_size", "tenant_id"], CUSTOM)
    assert "shoe_size" in err.value.message and "tenant_id" in err.value.message
    with pytest.raises(UnprocessableError, match="repeated"):
        columns_for(["email", "email"], CUSTOM)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1555", "'+1555"),
        ("-3", "'-3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralize_follows_owasp_trigger_characters(text, expected):
    assert neutralize(text) == expected


def test_csv_has_bom_rfc4180_quoting_and_neutralised_cells():
    data = write("csv", [HOSTILE, lead(lead_id="b" * 32)])
    # UTF-8 byte-order mark first, CRLF line ends
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    header, first, second = rows[0], dict(zip(rows[0], rows[1], strict=True)), rows[2]
    assert len(rows) == 3 and len(second) == len(header)
    # quoting round-trips commas, quotes and line breaks
    assert first["company"] == 'Smith, "Jones" & Co\nLtd'
    assert '"Smith, ""Jones"" & Co\nLtd"' in data.decode("utf-8-sig")
    # every formula trigger is neutralised with a leading apostrophe
    assert first["name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert first["job_title"] == "'@SUM(A1:A2)"
    assert first["first_name"] == "'-2+3"
    assert first["last_name"] == "'\tTabbed"
    assert first["phone"] == "'+15551234567"
    assert first["email (custom)"] == "'=1+1"
    # numbers stay numbers, lists join with "; ", times are ISO-8601 UTC, empty is empty
    assert first["score"] == "-5"
    assert first["tags"] == "vip; spring sale"
    assert first["Interests"] == "boats; kayaks"
    assert first["Budget"] == "1200.5"
    assert first["created_at"] == "2024-03-01T09:30:15.250Z"
    assert first["status"] == "New" and first["source_channel"] == "whatsapp"
    assert first["grade"] == "" and first["scored_at"] == ""


def test_xlsx_opens_back_with_every_value_and_no_formula():
    data = write("xlsx", [HOSTILE, lead(lead_id="b" * 32, name="Bo\x00b")])
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == "Leads"
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    second = dict(zip(header, rows[2], strict=True))
    assert first["name"] == '=HYPERLINK("http://evil.example","click")'  # shown as typed ...
    cells = {c.value: c.data_type for c in next(sheet.iter_rows(min_row=2, max_row=2))}
    assert cells[first["name"]] == "s"  # ... as a string cell, never a formula
    assert all(t != "f" for row in sheet.iter_rows() for t in (c.data_type for c in row))
    assert first["score"] == -5 and first["Budget"] == 1200.5
    assert first["tags"] == "vip; spring sale"
    assert first["created_at"] == "2024-03-01T09:30:15.250Z"
    assert first["company"] == 'Smith, "Jones" & Co\nLtd'
    assert second["name"] == "Bob"  # a character XML forbids is dropped rather than failing the export


def test_json_lines_keep_json_types():
    data = write(
        "json", [HOSTILE, lead(lead_id="b" * 32)], fields=["lead_id", "tags", "score", "budget", "created_at"]
    )
    lines = data.decode().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == {
        "lead_id": "a" * 32,
        "tags": ["vip", "spring sale"],
        "score": -5,
        "custom_fields.budget": 1200.5,
        "created_at": "2024-03-01T09:30:15.250Z",
    }
    assert json.loads(lines[1])["tags"] == [] and json.loads(lines[1])["score"] is None


def test_a_header_only_file_when_nothing_is_selected():
    data = write("csv", [])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [[*list(LEAD_FIELDS), "Budget", "Interests", "email (custom)"]]
    assert write("json", []) == b""
