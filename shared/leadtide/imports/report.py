"""The error report of an import: a CSV of every rejected row, as the user can fix and re-import it.

Columns: ``row_number`` (the spreadsheet row number: the header is row 1, the first data row 2),
``reasons`` (``; ``-joined), then the file's own columns with the row's original cells. A row with more
cells than headers keeps the extra cells at the end. Cells starting with ``=``, ``+``, ``-``, ``@``, tab
or carriage return are prefixed with ``'`` so a spreadsheet does not run them as formulas (OWASP "CSV
Injection"); the report is UTF-8 with a byte-order mark so Excel detects the encoding.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """``cell`` made safe to open in a spreadsheet (a leading formula character is quoted with ``'``)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


class ErrorReportWriter:
    """Accumulates rejected rows in memory (streaming through ``csv``); ``getvalue()`` gives the bytes."""

    def __init__(self, headers: Sequence[str]):
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._writer.writerow(["row_number", "reasons", *(neutralise(h) for h in headers)])
        self.rows = 0

    def add(self, row_number: int, cells: Sequence[str], reasons: Sequence[str]) -> None:
        """Add one rejected row with the reasons it was rejected."""
        self._writer.writerow([row_number, "; ".join(reasons), *(neutralise(str(c)) for c in cells)])
        self.rows += 1

    def getvalue(self) -> bytes:
        """The report as UTF-8 (with BOM) bytes."""
        return b"\xef\xbb\xbf" + self._buffer.getvalue().encode("utf-8")
