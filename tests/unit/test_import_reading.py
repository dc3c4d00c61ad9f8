"""Reading uploaded CSV/XLSX files: encodings, delimiters, quoting, ragged rows, markers, bad files."""

import io
import os
from datetime import date, datetime

import openpyxl
import pytest

from leadtide.imports import reading
from leadtide.imports.reading import MAX_COLUMNS, ImportFileError, open_table


def _read(data: bytes, name: str = "leads.csv"):
    table = open_table(data, name)
    return table, list(table.rows)


def test_utf8_bom_is_stripped_from_the_first_header():
    # Given a UTF-8 file with a byte-order mark (Excel's "CSV UTF-8")
    data = "\ufeffEmail,Name\nana@example.com,Ana Souza\n".encode()
    # When it is read
    table, rows = _read(data)
    # Then the first header is clean and nothing is reported
    assert table.headers == ["Email", "Name"]
    assert (table.encoding, table.issues) == ("utf-8-sig", [])
    assert rows == [(2, ["ana@example.com", "Ana Souza"])]


def test_windows_1252_falls_back_and_is_reported():
    data = "Name;City\nJosé Müller;São Paulo\nRenée;Zürich\n".encode("cp1252")
    table, rows = _read(data)
    assert table.encoding == "windows-1252" and table.delimiter == ";"
    assert any("windows-1252" in issue for issue in table.issues)
    assert rows[0] == (2, ["José Müller", "São Paulo"])


def test_latin1_when_bytes_are_undefined_in_windows_1252():
    data = b"Name,Note\nAna,\x81odd\n"
    table, rows = _read(data)
    assert table.encoding == "latin-1"
    assert rows[0][1] == ["Ana", "\x81odd"]


def test_utf16_with_bom_and_tab_delimiter():
    data = "Email\tPhone\nana@example.com\t+5511999990000\n".encode("utf-16")
    table, rows = _read(data)
    assert (table.delimiter, table.headers) == ("\t", ["Email", "Phone"])
    assert rows == [(2, ["ana@example.com", "+5511999990000"])]


def test_utf16_without_bom_is_recognised():
    data = "Email,Name\nana@example.com,Ana\n".encode("utf-16-le")
    table, rows = _read(data)
    assert table.encoding == "utf-16-le" and rows == [(2, ["ana@example.com", "Ana"])]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter):
    lines = [
        "First Name,Last Name,Email,Company",
        "Ana,Souza,ana@x.com,Casa Praia",
        "Bo,Li,bo@x.com,Acme, Inc.",
    ]
    text = "\n".join(line.replace(",", delimiter) for line in lines[:2])
    # the third row has a comma inside a quoted company name when the delimiter is not a comma
    text += "\n" + delimiter.join(["Bo", "Li", "bo@x.com", '"Acme, Inc."']) + "\n"
    table, rows = _read(text.encode())
    assert table.delimiter == delimiter
    assert table.headers == ["First Name", "Last Name", "Email", "Company"]
    assert rows[1] == (3, ["Bo", "Li", "bo@x.com", "Acme, Inc."])


def test_quoted_multiline_cells_count_as_one_row():
    data = b'Name,Notes,Email\nAna,"line one\nline two\nline three",ana@x.com\nBo,short,bo@x.com\n'
    _, rows = _read(data)
    assert rows == [
        (2, ["Ana", "line one\nline two\nline three", "ana@x.com"]),
        (3, ["Bo", "short", "bo@x.com"]),
    ]


def test_ragged_rows_are_padded_or_exposed_longer():
    data = b"a,b,c\n1\n1,2,3,,\n1,2,3,4,5\n"
    _, rows = _read(data)
    # a short row is padded; trailing empty extras are dropped; real extras are kept for rejection
    assert rows == [(2, ["1", "", ""]), (3, ["1", "2", "3"]), (4, ["1", "2", "3", "4", "5"])]


def test_error_markers_blank_rows_and_whitespace():
    data = b"Name,Email,Phone\n  Ana  ,#N/A, NULL \n,,\n\n#VALUE!,#REF!,n/a\nBo,bo@x.com,#DIV/0!\n"
    _, rows = _read(data)
    # the fully blank and all-marker rows are skipped; row numbers stay spreadsheet row numbers
    assert rows == [(2, ["Ana", "", ""]), (6, ["Bo", "bo@x.com", ""])]


def test_blank_headers_are_named_and_trailing_ones_dropped():
    table, rows = _read(b"Email,,Name,,\nana@x.com,x,Ana,,\n")
    assert table.headers == ["Email", "column_2", "Name"]
    assert any("column_2" in issue for issue in table.issues)
    assert rows == [(2, ["ana@x.com", "x", "Ana"])]


def test_header_is_found_after_leading_blank_lines():
    table, rows = _read(b"\n\nEmail\nana@x.com\n")
    assert table.headers == ["Email"] and table.delimiter == ","
    assert rows == [(4, ["ana@x.com"])]


@pytest.mark.parametrize(
    ("data", "name", "phrase"),
    [
        (b"", "a.csv", "empty"),
        (b"   \n\n", "a.csv", "empty"),
        (b"Email,Name,Email\n1,2,3\n", "a.csv", "repeats"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", ".xls"),
        (b"PK\x03\x04garbage that is not a zip", "x.xlsx", "XLSX"),
        (b"not a workbook", "x.xlsx", "XLSX"),
        (b"\x00\x01\x02\x03" * 100, "a.csv", "binary"),
        (",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)).encode(), "a.csv", "columns"),
    ],
)
def test_unusable_files_raise_one_clear_422(data, name, phrase):
    with pytest.raises(ImportFileError) as caught:
        open_table(data, name)
    assert caught.value.status_code == 422 and caught.value.code == "invalid_import_file"
    assert phrase in caught.value.message


class _DecodeSpy(bytes):
    """File bytes that record every decode of the whole file (slices are plain bytes)."""

    decoded: list[str]

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        self.decoded.append(encoding)
        return super().decode(encoding, errors)


def test_large_random_bytes_are_refused_from_samples_without_decoding_the_file(monkeypatch):
    # Given 20 MB of random bytes named .csv, and a record of the samples looked at
    data = _DecodeSpy(os.urandom(20 * 1024 * 1024))
    data.decoded = []
    looked: list[int] = []
    samples = reading._samples
    monkeypatch.setattr(reading, "_samples", lambda d: [looked.append(len(s)) or s for s in samples(d)])
    # When it is opened
    with pytest.raises(ImportFileError, match="binary"):
        open_table(data, "leads.csv")
    # Then the refusal came from at most three 64 KiB samples, and the file was never decoded
    assert 0 < sum(looked) <= 3 * reading.SNIFF_BYTES
    assert data.decoded == []


def test_text_header_followed_by_binary_is_refused():
    data = b"Email,Name\n" + bytes(range(1, 32)) * 5000
    with pytest.raises(ImportFileError, match="binary"):
        open_table(data, "x.csv")


def _xlsx(rows, *, sheets=None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Leads"
    for row in rows:
        sheet.append(row)
    for title, extra in (sheets or {}).items():
        other = workbook.create_sheet(title)
        for row in extra:
            other.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_round_trip_types_and_formulas():
    # Given a workbook written by openpyxl with numbers, dates, booleans, a formula and an error value
    data = _xlsx(
        [
            ["Email", "Budget", "Since", "Met", "Score", "Total", "Note"],
            ["ana@x.com", 1200.0, date(2024, 3, 1), True, 7.25, "=B2*2", "#N/A"],
            [None, None, None, None, None, None, None],
            ["bo@x.com", 3, datetime(2024, 3, 1, 9, 30), False, 0.1, None, "  hi  "],
        ]
    )
    table, rows = _read(data, "leads.xlsx")
    assert (table.format, table.encoding, table.delimiter, table.sheet) == ("xlsx", None, None, "Leads")
    assert table.headers == ["Email", "Budget", "Since", "Met", "Score", "Total", "Note"]
    # openpyxl stores no cached value for the formula, so data_only reads it as empty
    assert rows == [
        (2, ["ana@x.com", "1200", "2024-03-01", "TRUE", "7.25", "", ""]),
        (4, ["bo@x.com", "3", "2024-03-01T09:30:00", "FALSE", "0.1", "", "hi"]),
    ]


def test_xlsx_uses_the_sheet_with_rows_when_the_first_is_empty():
    data = _xlsx([], sheets={"Export": [["Email"], ["ana@x.com"], ["bo@x.com"]]})
    table, rows = _read(data, "book.xlsx")
    assert table.sheet == "Export" and [r[1] for r in rows] == [["ana@x.com"], ["bo@x.com"]]
    assert any("Export" in issue for issue in table.issues)


def test_xlsx_ragged_rows_and_extra_cells():
    data = _xlsx([["Email", "Name"], ["ana@x.com"], ["bo@x.com", "Bo", "extra"]])
    _, rows = _read(data, "x.xlsx")
    assert rows == [(2, ["ana@x.com", ""]), (3, ["bo@x.com", "Bo", "extra"])]


def test_xlsx_content_wins_over_a_csv_name():
    data = _xlsx([["Email"], ["ana@x.com"]])
    table, _ = _read(data, "export.csv")
    assert table.format == "xlsx"


def test_csv_formula_cells_are_read_verbatim_for_the_row_processor():
    # Reading does not alter values; rows.neutralize_formula decides (tested in test_import_rows)
    _, rows = _read(b'Name,Email\n"=HYPERLINK(""http://x"",""y"")",a@x.com\n')
    assert rows[0][1][0] == '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize(
    "marker",
    [
        *("#N/A", "#n/a", "N/A", "n/a", "NULL", "null", "-", "--", "—", "#VALUE!", "#value!", "#REF!"),
        *("#ERROR!", "#NAME?", "#DIV/0!", "#SPILL!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "N.A.", "(blank)"),
        *("None", "NaN"),
    ],
)
def test_spreadsheet_error_values_and_null_spellings_read_as_empty(marker):
    # Given a CSV and an XLSX whose phone cell holds a spreadsheet error value or a null spelling
    data = f"Name,Email,Phone\nAna,ana@x.com,{marker}\n".encode()
    rows = list(open_table(data, "a.csv").rows)
    # Then the cell reads as empty, in both formats
    assert rows == [(2, ["Ana", "ana@x.com", ""])]
    assert list(
        open_table(_xlsx([["Name", "Email", "Phone"], ["Ana", "ana@x.com", marker]]), "a.xlsx").rows
    ) == [(2, ["Ana", "ana@x.com", ""])]


@pytest.mark.parametrize("value", ["Nan", "-Dash-", "n/a please", "Null Island", "#1 customer", "N.A. Smith"])
def test_values_that_only_look_like_null_markers_are_kept(value):
    data = f"Name,Email\n{value},ana@x.com\n".encode()
    assert list(open_table(data, "a.csv").rows) == [(2, [value, "ana@x.com"])]


def test_header_cells_holding_an_error_value_are_blank_headers():
    table, rows = _read(b"Email,#N/A,Name,#REF!,Phone\nana@x.com,1,Ana,2,\n")
    assert table.headers == ["Email", "column_2", "Name", "column_4", "Phone"]
    assert rows == [(2, ["ana@x.com", "1", "Ana", "2", ""])]
