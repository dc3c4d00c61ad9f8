"""Reading an uploaded CSV or Excel (XLSX) file into a header and a stream of rows.

``open_table(data, filename)`` decides what the bytes are and returns a :class:`Table` whose ``rows``
yields ``(row_number, cells)`` lazily; every cell is a stripped string, ``""`` when empty.

CSV
    Encodings, in order: a BOM (UTF-8, UTF-16 LE/BE), then strict UTF-8, then Windows-1252, then
    Latin-1 (which never fails); UTF-16 without a BOM is recognised by its NUL pattern. Anything not
    UTF-8 is reported in ``issues``. The delimiter is one of ``, ; TAB |``: ``csv.Sniffer`` proposes one
    on the first 64 KiB and it is kept when its field counts are at least as consistent as the best
    candidate's (otherwise the most consistent candidate wins; a one-column file reads as ``,``).
    Quoted cells may span lines (RFC 4180). Row numbers are spreadsheet row numbers: the header is
    row 1, and each record (even one spanning lines) counts one row, blank records included.
Excel
    ``.xlsx``/``.xlsm`` (a ZIP starting ``PK``): openpyxl in read-only, data-only mode (a formula cell
    gives its cached value), the first sheet, or the sheet with most rows when the first is empty.
    Dates become ISO strings (``2024-03-01``, or ``2024-03-01T09:30:00`` with a time), whole numbers
    lose the spurious ``.0``, booleans become ``TRUE``/``FALSE``. Legacy ``.xls`` is refused.
    Before openpyxl parses anything, the workbook must pass :class:`XlsxLimits` (decompression bombs):
    checked from the ZIP central directory (member count, declared uncompressed sizes, compression
    ratios) and a streaming count of the shared-string table, which openpyxl would otherwise load whole.

In both formats: spreadsheet error values and null markers (``#N/A``, ``#VALUE!``, ``#REF!``, ``NULL``,
``n/a``, ``-`` ...: :data:`NULL_MARKERS`) read as empty; fully blank rows are skipped; short rows are padded
with ``""``; trailing empty cells beyond the header are dropped, but a row with *non-empty* cells
beyond the header is yielded longer than the header so the row processor rejects it ("row has 9
cells, header has 7"). Blank header cells (and header cells holding a null marker such as ``#N/A``)
are named ``column_<n>`` (1-based column, noted in ``issues``) and blank header cells after the last
named one are dropped; repeated header names make the file unusable (which column would the mapping
mean?).

Formula injection: cells are *not* altered here. ``leadtide.imports.rows`` neutralises text that a
spreadsheet would run as a formula (see ``neutralize_formula``).

Every problem with the file as a whole raises :class:`ImportFileError` (422, ``invalid_import_file``).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Literal

from leadtide.models.errors import LeadtideError

MAX_COLUMNS = 500
SNIFF_BYTES = 64 * 1024
SPREADSHEET_ERRORS = (
    "#N/A",
    "#N/A N/A",
    "#N/A!",
    "#NA",
    "#VALUE!",
    "#REF!",
    "#DIV/0!",
    "#NUM!",
    "#NAME?",
    "#NULL!",
    "#SPILL!",
    "#CALC!",
    "#FIELD!",
    "#BLOCKED!",
    "#CONNECT!",
    "#BUSY!",
    "#UNKNOWN!",
    "#EXTERNAL!",
    "#PYTHON!",
    "#GETTING_DATA",
    "#ERROR!",
    "NULL",
    "N/A",
    "N.A.",
    "(NULL)",
    "<NULL>",
    "(BLANK)",
    "(EMPTY)",
)
"""Error values of Excel (support.microsoft.com "How to correct a #... error"; ``#N/A N/A`` is
Bloomberg's), Google Sheets (``#ERROR!``) and the usual null spellings of exports: empty in any case."""
NULL_SPELLINGS = ("NaN", "nan", "NAN", "None", "none", "NONE", "-", "--", "---", "\u2013", "\u2014")
"""Further "no value" cells, in exactly these spellings (``Nan`` is a first name)."""


def _any_case(text: str) -> set[str]:
    """Every upper/lower-case spelling of ``text`` (``#n/A``, ``#N/a`` ...): the cell test stays one set
    lookup per cell (a few thousand strings in all)."""
    variants = [""]
    for char in text:
        spellings = {char.lower(), char.upper()}
        variants = [v + c for v in variants for c in spellings]
    return set(variants)


NULL_MARKERS = frozenset(
    {spelling for marker in SPREADSHEET_ERRORS for spelling in _any_case(marker)} | set(NULL_SPELLINGS)
)
"""Cell values that mean "no value" (:data:`SPREADSHEET_ERRORS` in any case, :data:`NULL_SPELLINGS`)."""

_DELIMITERS = (",", ";", "\t", "|")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f\ufffe\uffff]")
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class ImportFileError(LeadtideError):
    """The whole file is unusable: empty, no header, binary, undecodable, unreadable XLSX, too many columns,
    repeated header names (HTTP 422, code ``invalid_import_file``; the message says which)."""

    status_code = 422
    code = "invalid_import_file"


@dataclass
class Table:
    """A file's header and rows.

    ``rows`` yields ``(row_number, cells)`` once (a generator): ``row_number`` is the spreadsheet row
    (header = 1); ``cells`` are stripped strings padded to ``len(headers)``, longer only when cells
    beyond the header hold data. ``encoding``/``delimiter`` are None for XLSX; ``issues`` holds
    file-level notes for the user ("decoded as windows-1252 ...").
    """

    headers: list[str]
    rows: Iterator[tuple[int, list[str]]]
    format: Literal["csv", "xlsx"]
    encoding: str | None = None
    delimiter: str | None = None
    issues: list[str] = field(default_factory=list)
    sheet: str | None = None


def open_table(data: bytes, filename: str, *, xlsx_limits: XlsxLimits | None = None) -> Table:
    """Open an uploaded file as a :class:`Table` (see the module docstring for the rules).

    ``filename`` only helps tell XLSX from CSV (the content decides when they disagree).
    ``xlsx_limits``: the decompression limits of a workbook (default: :class:`XlsxLimits`'s defaults,
    which are the settings' defaults).

    Raises:
        ImportFileError: the file is unusable as a whole, or a workbook exceeds ``xlsx_limits``; the
            message names the reason (and the limit).
    """
    if not data or (len(data) <= SNIFF_BYTES and not data.strip()):
        raise ImportFileError("the file is empty")
    name = (filename or "").lower()
    if data.startswith(_XLS_MAGIC) or name.endswith(".xls"):
        raise ImportFileError("legacy Excel .xls files are not supported: save the sheet as .xlsx or CSV")
    if data.startswith(b"PK\x03\x04") or name.endswith((".xlsx", ".xlsm")):
        return _open_xlsx(data, xlsx_limits or XlsxLimits())
    return _open_csv(data)


# ---------------------------------------------------------------------------------------------- CSV
def _decode(data: bytes) -> tuple[str, str, list[str]]:
    """(text, encoding, issues). Raises ImportFileError for binary content."""
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data, "utf-8-sig"), "utf-8-sig", []
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return _strict(data, encoding), encoding, []
    _reject_binary(data)
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
        return (
            text,
            "windows-1252",
            ["the file is not UTF-8; it was decoded as windows-1252 (Western European)"],
        )
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        return text, "latin-1", ["the file is not UTF-8; it was decoded as latin-1 (ISO-8859-1)"]


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise ImportFileError(
            f"the file starts with a {encoding} byte-order mark but is not valid {encoding} "
            f"(byte {err.start}): save it again as UTF-8 CSV"
        ) from None


def _samples(data: bytes) -> list[bytes]:
    """Up to three 64 KiB windows (start, middle, end): a quick look without scanning 50 MB."""
    if len(data) <= 3 * SNIFF_BYTES:
        return [data]
    middle = len(data) // 2
    return [data[:SNIFF_BYTES], data[middle : middle + SNIFF_BYTES], data[-SNIFF_BYTES:]]


def _reject_binary(data: bytes) -> None:
    """Refuse binary content by NUL bytes and the share of control characters in a few samples.

    UTF-16 without a BOM has NULs in every other byte of ASCII text; it is decoded instead.
    """
    for sample in _samples(data):
        if b"\x00" in sample:
            even, odd = sample[0::2].count(0), sample[1::2].count(0)
            half = len(sample) // 2 or 1
            if max(even, odd) > 0.3 * half and min(even, odd) < 0.05 * half:
                encoding = "utf-16-be" if even > odd else "utf-16-le"
                raise _Utf16(encoding)
            raise ImportFileError("the file is binary, not CSV text or XLSX (it contains NUL bytes)")
        controls = len(_CONTROL.findall(sample))
        if controls > max(2, len(sample) // 200):
            raise ImportFileError(
                "the file is binary or corrupted, not CSV text or XLSX (it has control characters)"
            )


class _Utf16(Exception):
    def __init__(self, encoding: str):
        self.encoding = encoding


def _sniff(sample: str) -> str:
    """The delimiter of a CSV sample (see the module docstring)."""
    lines = sample.splitlines()[:50]
    if len(sample) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # probably cut in the middle
    text = "\n".join(lines)
    scores: dict[str, tuple[float, int]] = {}
    for delimiter in _DELIMITERS:
        try:
            records = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not records:
            continue
        header = len(records[0])
        if header < 2:
            continue
        consistent = sum(1 for r in records if len(r) == header) / len(records)
        scores[delimiter] = (consistent, header)
    if not scores:
        return ","
    best = max(scores, key=lambda d: scores[d])
    try:
        sniffed = csv.Sniffer().sniff(text, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        return best
    if sniffed in scores and scores[sniffed][0] >= scores[best][0]:
        return sniffed
    return best


def _clean(cell: str) -> str:
    value = cell.strip()
    return "" if value in NULL_MARKERS else value


def _open_csv(data: bytes) -> Table:
    try:
        text, encoding, issues = _decode(data)
    except _Utf16 as hint:
        try:
            text, encoding, issues = data.decode(hint.encoding), hint.encoding, []
        except UnicodeDecodeError:
            raise ImportFileError(
                "the file is binary, not CSV text or XLSX (it contains NUL bytes)"
            ) from None
    head = text[:SNIFF_BYTES]
    if "\x00" in head or len(_CONTROL_TEXT.findall(head)) > max(2, len(head) // 200):
        raise ImportFileError("the file is binary or corrupted, not CSV text or XLSX (control characters)")
    delimiter = _sniff(text[:SNIFF_BYTES])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    records = enumerate(reader, start=1)
    raw_header: list[str] = []
    try:
        for _, record in records:
            if any(c.strip() for c in record):
                raw_header = record
                break
    except csv.Error as err:
        raise ImportFileError(f"the file is not readable CSV: {err}") from None
    if not raw_header:
        raise ImportFileError("the file has no header row")
    headers, header_issues = _headers(raw_header)
    if len(headers) == 1 and "\ufffd" in headers[0]:
        raise ImportFileError("the file is not readable text")
    return Table(
        headers=headers,
        rows=_csv_rows(records, len(headers)),
        format="csv",
        encoding=encoding,
        delimiter=delimiter,
        issues=issues + header_issues,
    )


def _csv_rows(records: Iterator[tuple[int, list[str]]], width: int) -> Iterator[tuple[int, list[str]]]:
    nulls = NULL_MARKERS
    try:
        for number, record in records:
            cells = [c if (c := v.strip()) not in nulls else "" for v in record]
            if len(cells) != width:
                if len(cells) < width:
                    cells.extend([""] * (width - len(cells)))
                else:
                    while len(cells) > width and not cells[-1]:
                        cells.pop()
            if not any(cells):
                continue
            yield number, cells
    except csv.Error as err:
        raise ImportFileError(f"the file is not readable CSV: {err}") from None


def _headers(raw: list[Any]) -> tuple[list[str], list[str]]:
    """Clean header names: strip, drop trailing blanks, name inner blanks, refuse repeats and width."""
    names = ["" if v is None else str(v).strip().strip('"').strip() for v in raw]
    names = ["" if name in NULL_MARKERS else name for name in names]  # a #N/A header cell names nothing
    while names and not names[-1]:
        names.pop()
    if not names:
        raise ImportFileError("the file has no header row")
    if len(names) > MAX_COLUMNS:
        raise ImportFileError(f"the file has {len(names)} columns; at most {MAX_COLUMNS} are supported")
    issues: list[str] = []
    blank = [i for i, n in enumerate(names) if not n]
    for i in blank:
        names[i] = f"column_{i + 1}"
    if blank:
        issues.append("header cells without a name were named " + ", ".join(names[i] for i in blank[:10]))
    seen: dict[str, int] = {}
    repeated: list[str] = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        if seen[name] == 2:
            repeated.append(name)
    if repeated:
        raise ImportFileError(
            "the header repeats column names: "
            + ", ".join(repr(n) for n in repeated[:10])
            + "; give each column a distinct name",
            details=[{"field": name, "problem": "repeated header"} for name in repeated[:50]],
        )
    return names, issues


# ---------------------------------------------------------------------------------------------- XLSX
_MiB = 1 << 20
MAX_XLSX_PARTS = 10_000
"""ZIP members a workbook may have (a real one has tens; each member costs ``zipfile`` an object)."""
MAX_XLSX_MANIFEST_BYTES = 4 * _MiB
"""Uncompressed size of ``[Content_Types].xml``, parsed whole to find the shared-string table (real
ones are a few KB)."""
RATIO_GRACE_BYTES = _MiB
"""Members up to this uncompressed size are not held to the compression ratio (tiny parts compress
erratically and cannot hurt)."""
_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_STRING_ITEM = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,63}:)?si[\s/>]")
"""The start tag of a shared-string item (``<si>``, ``<si/>``, a prefixed ``<x:si>``); ``<`` cannot occur
in XML character data, so a count of these is at least what openpyxl's parser would build."""
_STRING_ITEM_MAX = 70
_SCAN_CHUNK = _MiB

UNREADABLE_WORKBOOK_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,  # not a ZIP, a part whose CRC does not match
    zipfile.LargeZipFile,
    zlib.error,  # a corrupt deflate stream
    EOFError,  # a part cut short
    RuntimeError,  # a compression method zipfile lacks (NotImplementedError), an encrypted part, XML nested
    # too deep to parse (RecursionError)
    OSError,
    SyntaxError,  # XML that does not parse (ElementTree's ParseError, lxml's XMLSyntaxError)
    LookupError,  # a part, a relationship or a style that is not there (KeyError, IndexError)
    ValueError,  # a value openpyxl cannot read (a bad number or date; defusedxml's refusals; UnicodeError)
    TypeError,
    AttributeError,  # openpyxl meeting an element where it expects another
    ArithmeticError,
)
"""What reading a damaged workbook raises (zipfile, zlib, the XML parser, openpyxl): each becomes an
:class:`ImportFileError` naming the kind. Anything else is a defect of this code and is not hidden."""


@dataclass(frozen=True)
class XlsxLimits:
    """Limits on an XLSX workbook, checked before it is parsed (:func:`check_xlsx_limits`).

    An XLSX file is a ZIP of XML parts; deflate compresses repetitive XML up to ~1000:1, so a file under
    the upload limit can inflate to gigabytes (the reported workbook: 3.3 MB holding 1.5 GB of shared
    strings, which raised the Jobs worker from 1.1 to 2.4 GB). openpyxl's read-only mode streams the
    sheets but loads the shared-string table whole, as a list of Python strings.

    - ``max_uncompressed_bytes``: the sum of every member's uncompressed size (bytes).
    - ``max_compression_ratio``: uncompressed / compressed size of any member larger than
      :data:`RATIO_GRACE_BYTES` (real sheets compress ~5-20:1; Apache POI's ``ZipSecureFile`` refuses
      beyond 100:1 by default, its "minimum inflate ratio" 0.01).
    - ``max_shared_strings_bytes``: the shared-string table's uncompressed size (bytes).
    - ``max_shared_strings``: the entries (``<si>``) of the shared-string table.

    The defaults are the settings' defaults (``IMPORT_XLSX_MAX_*``, :mod:`leadtide.settings`).
    """

    max_uncompressed_bytes: int = 512 * _MiB
    max_compression_ratio: float = 100.0
    max_shared_strings_bytes: int = 128 * _MiB
    max_shared_strings: int = 2_000_000

    @classmethod
    def from_settings(cls, settings: Any) -> XlsxLimits:
        """The limits a :class:`leadtide.settings.Settings` configures (``IMPORT_XLSX_MAX_*``)."""
        return cls(
            max_uncompressed_bytes=settings.import_xlsx_max_uncompressed_bytes,
            max_compression_ratio=settings.import_xlsx_max_compression_ratio,
            max_shared_strings_bytes=settings.import_xlsx_max_shared_strings_bytes,
            max_shared_strings=settings.import_xlsx_max_shared_strings,
        )


def _size(n: float) -> str:
    if n >= _MiB:
        return f"{n / _MiB:,.0f} MiB"
    if n >= 1024:
        return f"{n / 1024:,.0f} KiB"
    return f"{n:,.0f} bytes"


_TOO_BIG_HINT = "; save the sheet as CSV, or split it"


def check_xlsx_limits(data: bytes, limits: XlsxLimits) -> None:
    """Refuse a workbook that would inflate beyond ``limits`` before anything parses it.

    Reads only the ZIP central directory (sizes as declared there: Python's ``zipfile``, which openpyxl
    reads through, stops a member at its declared size and fails its CRC if the data is longer), the
    small ``[Content_Types].xml`` (to find the shared-string table as openpyxl does) and the
    shared-string table as a stream, counting its entries without building them: memory stays at one
    1 MiB chunk whatever the workbook holds.

    Raises:
        ImportFileError: not a ZIP, or a limit is exceeded (the message names the size and the limit).
    """
    # Each central directory entry starts with this signature: an upper bound on the member count that
    # is known before zipfile builds an object per entry.
    if data.count(b"PK\x01\x02") > MAX_XLSX_PARTS:
        raise ImportFileError(f"the workbook holds more than {MAX_XLSX_PARTS:,} files" + _TOO_BIG_HINT)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except UNREADABLE_WORKBOOK_ERRORS as err:
        raise ImportFileError(f"the file is not a readable XLSX workbook ({type(err).__name__})") from None
    with archive:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        if total > limits.max_uncompressed_bytes:
            raise ImportFileError(
                f"the workbook is {_size(total)} uncompressed; at most {_size(limits.max_uncompressed_bytes)}"
                " uncompressed is accepted" + _TOO_BIG_HINT
            )
        for member in members:
            if member.file_size <= RATIO_GRACE_BYTES:
                continue
            ratio = member.file_size / member.compress_size if member.compress_size else float("inf")
            if ratio > limits.max_compression_ratio:
                raise ImportFileError(
                    f"the workbook part {member.filename} is compressed {ratio:,.0f}:1; at most "
                    f"{limits.max_compression_ratio:,.0f}:1 is accepted (a decompression bomb?)"
                )
        strings = _shared_strings_member(archive)
        if strings is None:
            return
        if strings.file_size > limits.max_shared_strings_bytes:
            raise ImportFileError(
                f"the workbook's shared-string table is {_size(strings.file_size)} uncompressed; at most "
                f"{_size(limits.max_shared_strings_bytes)} is accepted" + _TOO_BIG_HINT
            )
        count = _count_string_items(archive, strings, stop_after=limits.max_shared_strings)
        if count > limits.max_shared_strings:
            raise ImportFileError(
                f"the workbook's shared-string table holds more than {limits.max_shared_strings:,} strings"
                + _TOO_BIG_HINT
            )


def _shared_strings_member(archive: Any) -> Any:
    """The ZipInfo of the shared-string table, found as openpyxl finds it (the part whose content type
    in ``[Content_Types].xml`` is sharedStrings), or None (no table, or no readable manifest: openpyxl
    then reports the workbook as unreadable)."""
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.xml.functions import fromstring

    try:
        manifest = archive.getinfo("[Content_Types].xml")
    except KeyError:
        return None
    if manifest.file_size > MAX_XLSX_MANIFEST_BYTES:
        raise ImportFileError(
            f"the workbook's [Content_Types].xml is {_size(manifest.file_size)}; at most "
            f"{_size(MAX_XLSX_MANIFEST_BYTES)} is accepted"
        )
    try:
        part = Manifest.from_tree(fromstring(archive.read(manifest))).find(_SHARED_STRINGS_TYPE)
    except UNREADABLE_WORKBOOK_ERRORS:
        return None
    if part is None:
        return None
    try:
        return archive.getinfo(part.PartName[1:])
    except KeyError:
        return None


def _count_string_items(archive: Any, member: Any, *, stop_after: int) -> int:
    """Shared-string items (``<si>`` start tags) in ``member``, read as a stream in 1 MiB chunks;
    counting stops once past ``stop_after``. A part that does not decompress counts what was read
    (openpyxl then reports the workbook as unreadable)."""
    count = 0
    carry = b""
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_SCAN_CHUNK):
                buffer = carry + chunk
                # a tag starting in the last _STRING_ITEM_MAX bytes may be cut: count it next round
                limit = len(buffer) - _STRING_ITEM_MAX
                for match in _STRING_ITEM.finditer(buffer):
                    if match.start() >= limit:
                        break
                    count += 1
                carry = buffer[max(limit, 0) :]
                if count > stop_after:
                    return count
    except UNREADABLE_WORKBOOK_ERRORS:
        return count
    return count + len(_STRING_ITEM.findall(carry))


def _xlsx_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        return "" if text in NULL_MARKERS else text
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _open_xlsx(data: bytes, limits: XlsxLimits) -> Table:
    check_xlsx_limits(data, limits)
    try:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, *UNREADABLE_WORKBOOK_ERRORS) as err:
        raise ImportFileError(f"the file is not a readable XLSX workbook ({type(err).__name__})") from None
    sheets = list(workbook.worksheets)
    if not sheets:
        workbook.close()
        raise ImportFileError("the workbook has no sheets")
    sheet = sheets[0]
    issues: list[str] = []
    if (sheet.max_row or 0) <= 1 and len(sheets) > 1:
        fuller = max(sheets, key=lambda s: s.max_row or 0)
        if (fuller.max_row or 0) > (sheet.max_row or 0):
            sheet = fuller
            issues.append(f"the first sheet is empty; read sheet '{sheet.title}'")
    if len(sheets) > 1:
        issues.append(f"the workbook has {len(sheets)} sheets; only '{sheet.title}' was read")
    sheet.reset_dimensions()  # some writers declare a wrong range; read what is there
    rows = sheet.iter_rows(values_only=True)
    header_row = 0
    raw_header: list[Any] = []
    try:
        for index, values in enumerate(rows, start=1):
            if any(_xlsx_cell(v) for v in values):
                header_row = index
                raw_header = list(values)
                break
    except UNREADABLE_WORKBOOK_ERRORS as err:
        workbook.close()
        raise ImportFileError(f"the file is not a readable XLSX workbook ({type(err).__name__})") from None
    if not raw_header:
        workbook.close()
        raise ImportFileError("the sheet has no header row")
    try:
        headers, header_issues = _headers(raw_header)
    except ImportFileError:
        workbook.close()
        raise
    return Table(
        headers=headers,
        rows=_xlsx_rows(workbook, rows, header_row, len(headers)),
        format="xlsx",
        issues=issues + header_issues,
        sheet=sheet.title,
    )


def _xlsx_rows(
    workbook: Any, rows: Iterator[tuple[Any, ...]], header_row: int, width: int
) -> Iterator[tuple[int, list[str]]]:
    try:
        for number, values in enumerate(rows, start=header_row + 1):
            cells = [_xlsx_cell(v) for v in values]
            if len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            else:
                while len(cells) > width and not cells[-1]:
                    cells.pop()
            if any(cells):
                yield number, cells
    except ImportFileError:
        raise
    except UNREADABLE_WORKBOOK_ERRORS as err:
        raise ImportFileError(f"the workbook could not be read to the end ({type(err).__name__})") from None
    finally:
        workbook.close()
