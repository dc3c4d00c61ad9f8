"""Hostile XLSX workbooks built in the test process: small on disk, huge once uncompressed.

:func:`shared_strings_bomb` takes a real workbook written by openpyxl and replaces its shared-string table
(``xl/sharedStrings.xml``) with ``uncompressed_bytes`` of ``<si><t>...</t></si>`` entries. The member is
deflated once per distinct 1 MiB block: every block is compressed by a fresh raw-deflate compressor and
ended with a full flush, so its compressed bytes are independent of what precedes them and the same bytes
repeat (RFC 1951 allows any sequence of non-final blocks; the last segment ends with the final block). A
1.5 GB table is then ~1.5 MB on disk and builds in about a second (the CRC-32 still covers every byte,
so Python's ``zipfile`` reads the member as valid). The archive itself is written by hand (ZIP
application note, APPNOTE.TXT 4.3: local headers, central directory, end record), since ``zipfile``
cannot store data compressed elsewhere.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import openpyxl

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
BLOCK = 1 << 20


def workbook(rows: list[list[object]]) -> bytes:
    """A plain workbook (one sheet) written by openpyxl; text cells go to the shared-string table."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _deflate_segment(data: bytes, *, final: bool) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def _deflated_repeat(head: bytes, block: bytes, count: int, tail: bytes) -> tuple[bytes, int, int]:
    """(raw deflate stream, CRC-32, uncompressed size) of ``head + block * count + tail``."""
    segment = _deflate_segment(block, final=False)
    stream = _deflate_segment(head, final=False) + segment * count + _deflate_segment(tail, final=True)
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    return stream, crc, len(head) + len(block) * count + len(tail)


def _zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A ZIP of ``(name, stored bytes, method, crc, uncompressed size)`` members, no ZIP64."""
    out = io.BytesIO()
    central = io.BytesIO()
    for name, stored, method, crc, size in members:
        encoded = name.encode()
        offset = out.tell()
        out.write(
            struct.pack(
                "<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(stored), size, len(encoded), 0
            )
        )
        out.write(encoded + stored)
        central.write(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(stored),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
        )
        central.write(encoded)
    directory = central.getvalue()
    start = out.tell()
    out.write(directory)
    out.write(
        struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), start, 0)
    )
    return out.getvalue()


SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SHARED_STRINGS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
HEADER_AND_ROW = ("Email", "Name", "ana@example.com", "Ana")


def _shared_string_sheet() -> bytes:
    """``xl/worksheets/sheet1.xml`` whose two rows read shared strings 0-1 and 2-3 (openpyxl itself
    writes inline strings)."""
    cells = [
        f'<row r="{r}"><c r="A{r}" t="s"><v>{2 * (r - 1)}</v></c><c r="B{r}" t="s"><v>{2 * r - 1}</v></c></row>'
        for r in (1, 2)
    ]
    return f'<worksheet xmlns="{MAIN_NS}"><sheetData>{"".join(cells)}</sheetData></worksheet>'.encode()


def with_shared_strings(head: bytes, block: bytes, count: int, tail: bytes) -> bytes:
    """A workbook (from openpyxl, its sheet rewritten to :func:`_shared_string_sheet`) whose shared-string
    table is ``head + block * count + tail``, deflated as the module docstring says."""
    base = workbook([list(HEADER_AND_ROW[:2]), list(HEADER_AND_ROW[2:])])
    stream, crc, size = _deflated_repeat(head, block, count, tail)
    members = []
    with zipfile.ZipFile(io.BytesIO(base)) as archive:
        for info in archive.infolist():
            data = archive.read(info.filename)
            if info.filename == "[Content_Types].xml":
                override = (
                    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SHARED_STRINGS_TYPE}" />'
                )
                data = data.replace(b"</Types>", override.encode() + b"</Types>")
            elif info.filename == "xl/_rels/workbook.xml.rels":
                rel = (
                    f'<Relationship Type="{SHARED_STRINGS_REL}" Target="sharedStrings.xml" Id="rIdStrings" />'
                )
                data = data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            elif info.filename == "xl/worksheets/sheet1.xml":
                data = _shared_string_sheet()
            members.append((info.filename, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data)))
    members.append(("xl/sharedStrings.xml", stream, zipfile.ZIP_DEFLATED, crc, size))
    return _zip(members)


def _table_head() -> bytes:
    strings = "".join(f"<si><t>{s}</t></si>" for s in HEADER_AND_ROW)
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{MAIN_NS}">{strings}'.encode()
    )


def shared_strings_bomb(uncompressed_bytes: int, *, string_chars: int = 1000) -> bytes:
    """A workbook whose rows read ``Email, Name`` / ``ana@example.com, Ana`` from a shared-string table
    of about ``uncompressed_bytes`` (whole 1 MiB blocks) of ``string_chars``-character strings."""
    entry = f"<si><t>{'A' * string_chars}</t></si>".encode()
    block = entry * (BLOCK // len(entry))
    return with_shared_strings(_table_head(), block, max(1, uncompressed_bytes // len(block)), b"</sst>")


def many_shared_strings(count: int) -> bytes:
    """A workbook whose shared-string table holds ``count`` (+4) distinct short strings, stored with a
    normal compression ratio (each string is different text)."""
    body = "".join(f"<si><t>lead-{n:08d}@example.com</t></si>" for n in range(count)).encode()
    return with_shared_strings(_table_head() + body, b"", 0, b"</sst>")
