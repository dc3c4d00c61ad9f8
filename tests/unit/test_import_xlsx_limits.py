"""XLSX decompression limits (issue 10, defect 17): a workbook small on disk but huge once uncompressed -
the reported one was 3.3 MB holding 1.5 GB of shared strings, which raised the Jobs worker from 1.1 to
2.4 GB - is refused from its ZIP central directory and a streaming count of its shared-string table,
before openpyxl parses anything, with an import error naming the limit. Bombs are built in the test
(``tests.xlsx_bombs``)."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile

import pytest

from leadtide.imports.reading import (
    RATIO_GRACE_BYTES,
    ImportFileError,
    XlsxLimits,
    check_xlsx_limits,
    open_table,
)
from leadtide.settings import Settings
from tests.xlsx_bombs import many_shared_strings, shared_strings_bomb, workbook

MiB = 1 << 20


@pytest.fixture(scope="module")
def issue_bomb() -> bytes:
    """The reported bomb: ~3.5 MB on disk, ~1.5 GiB of shared strings once inflated."""
    data = shared_strings_bomb(1536 * MiB)
    assert len(data) < 4 * MiB
    return data


def _refusal(data: bytes, limits: XlsxLimits | None = None) -> tuple[str, float, int]:
    """(error message, seconds, peak bytes allocated by Python) of reading ``data`` as XLSX."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ImportFileError) as refused:
            open_table(data, "leads.xlsx", xlsx_limits=limits)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.status_code == 422 and refused.value.code == "invalid_import_file"
    return str(refused.value), elapsed, peak


def test_the_reported_bomb_is_refused_quickly_without_allocating_its_strings(issue_bomb):
    # Given a 3.5 MB workbook whose shared-string table inflates to 1.5 GiB
    # When it is opened with the default limits
    message, elapsed, peak = _refusal(issue_bomb)
    # Then it is refused from the central directory, naming the size and the limit, in well under a
    # second and without allocating anything near the table (the strings alone would be ~1.5 GiB)
    assert "1,536 MiB uncompressed" in message and "at most 512 MiB" in message, message
    assert elapsed < 1.0 and peak < 16 * MiB, (elapsed, peak)


def test_a_bomb_under_the_size_limit_is_refused_by_its_compression_ratio():
    # Given a workbook whose shared-string table inflates 64 MiB from ~150 KB (ratio ~450:1)
    data = shared_strings_bomb(64 * MiB)
    # When it is opened with the default limits (512 MiB in all, 100:1 per part)
    message, elapsed, peak = _refusal(data)
    # Then the ratio refuses it, naming the part and the limit
    assert "xl/sharedStrings.xml" in message and "at most 100:1" in message, message
    assert elapsed < 1.0 and peak < 16 * MiB, (elapsed, peak)


def test_the_shared_string_table_is_bounded_in_bytes():
    # Given a 32 MiB shared-string table, with the ratio check out of the way
    data = shared_strings_bomb(32 * MiB)
    limits = XlsxLimits(max_compression_ratio=10_000, max_shared_strings_bytes=16 * MiB)
    # When it is opened
    message, _, peak = _refusal(data, limits)
    # Then the table's size is refused, naming the limit
    assert "shared-string table is 32 MiB" in message and "at most 16 MiB" in message, message
    assert peak < 16 * MiB


def test_the_shared_string_table_is_bounded_in_strings_without_building_them():
    # Given a table of 50,004 distinct strings (a normal compression ratio, 2.5 MB of XML)
    data = many_shared_strings(50_000)
    # When it is opened with at most 10,000 strings allowed
    message, _, peak = _refusal(data, XlsxLimits(max_shared_strings=10_000))
    # Then it is refused naming the limit, having counted the entries in a stream (no list of strings)
    assert "more than 10,000 strings" in message, message
    assert peak < 8 * MiB
    # and the count is exact across the scan's 1 MiB chunks (the table is ~2.4 MiB)
    check_xlsx_limits(data, XlsxLimits(max_shared_strings=50_004))
    with pytest.raises(ImportFileError, match="more than 50,003 strings"):
        check_xlsx_limits(data, XlsxLimits(max_shared_strings=50_003))
    # and under the default limits the same workbook reads
    table = open_table(data, "leads.xlsx")
    assert table.headers == ["Email", "Name"] and list(table.rows) == [(2, ["ana@example.com", "Ana"])]


def test_ordinary_workbooks_pass_the_default_limits():
    # Given a 6,000-row workbook of repetitive lead data (a ~2 MB sheet compressing ~16:1)
    rows = [["Email", "Name", "Company", "Status"]]
    rows += [[f"lead{n}@example.com", "Ana Silva", "Acme Inc", "New"] for n in range(6_000)]
    data = workbook(rows)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    assert sheet.file_size > RATIO_GRACE_BYTES  # so its ratio is checked
    # When it is opened with the default limits
    table = open_table(data, "leads.xlsx")
    # Then it reads to the end
    assert sum(1 for _ in table.rows) == 6_000


def test_the_limits_are_settings_with_defaults():
    # Given the default settings and settings from the environment's names
    defaults = XlsxLimits.from_settings(Settings())
    custom = XlsxLimits.from_settings(
        Settings(
            IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES=1000,
            IMPORT_XLSX_MAX_COMPRESSION_RATIO=5,
            IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES=100,
            IMPORT_XLSX_MAX_SHARED_STRINGS=10,
        )
    )
    # Then the defaults are the documented ones and each setting reaches its limit
    assert defaults == XlsxLimits()
    assert (
        defaults.max_uncompressed_bytes,
        defaults.max_compression_ratio,
        defaults.max_shared_strings_bytes,
        defaults.max_shared_strings,
    ) == (512 * MiB, 100, 128 * MiB, 2_000_000)
    assert (
        custom.max_uncompressed_bytes,
        custom.max_compression_ratio,
        custom.max_shared_strings_bytes,
        custom.max_shared_strings,
    ) == (1000, 5, 100, 10)
    with pytest.raises(ImportFileError, match="at most 1,000 bytes"):
        open_table(workbook([["Email"], ["ana@example.com"]]), "leads.xlsx", xlsx_limits=custom)


def _damaged(data: bytes, member: str, how: str) -> bytes:
    """``data`` with one ZIP member made unreadable: ``deflate`` replaces its compressed bytes with an
    invalid deflate block (zlib: "invalid block type"), ``method`` declares a compression method zipfile
    does not implement (99) in the central directory."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    if how == "deflate":
        offset = info.header_offset
        name_length = int.from_bytes(raw[offset + 26 : offset + 28], "little")
        extra_length = int.from_bytes(raw[offset + 28 : offset + 30], "little")
        start = offset + 30 + name_length + extra_length
        raw[start : start + info.compress_size] = b"\x07" + b"\x00" * (info.compress_size - 1)
    else:
        entry = raw.find(b"PK\x01\x02")
        while entry != -1:
            name_length = int.from_bytes(raw[entry + 28 : entry + 30], "little")
            if raw[entry + 46 : entry + 46 + name_length] == member.encode():
                raw[entry + 10 : entry + 12] = (99).to_bytes(2, "little")
                break
            entry = raw.find(b"PK\x01\x02", entry + 4)
    return bytes(raw)


@pytest.mark.parametrize(
    "member", ["[Content_Types].xml", "xl/workbook.xml", "xl/styles.xml", "xl/worksheets/sheet1.xml"]
)
@pytest.mark.parametrize("how", ["deflate", "method"])
def test_a_workbook_with_an_unreadable_part_is_an_import_error(member, how):
    # Given a workbook one of whose parts cannot be decompressed (a corrupt stream, an unknown method)
    data = _damaged(workbook([["Email", "Name"], ["ada@example.com", "Ada"]]), member, how)
    # When it is opened and read as an import, then it is an import error naming the problem (never the
    # decompressor's own exception, which would fail the step instead of the import)
    with pytest.raises(ImportFileError, match=r"XLSX workbook|could not be read"):
        table = open_table(data, "leads.xlsx")
        list(table.rows)
