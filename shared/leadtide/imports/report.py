"""The error report of an import: a CSV of every rejected row, and of every row kept without some of its
values (import option ``invalid_values: drop_field``), as the user can fix and re-import it.

Columns: ``row_number`` (the spreadsheet row number: the header is row 1, the first data row 2),
``outcome`` (``rejected``: the row was not imported; ``values_dropped``: the row was kept without the
values ``reasons`` names), ``reasons`` (``; ``-joined, each ``<header>: <why>``), then the file's own
columns with the row's original cells. A row with more
cells than headers keeps the extra cells at the end. Cells starting with ``=``, ``+``, ``-``, ``@``, tab
or carriage return are prefixed with ``'`` so a spreadsheet does not run them as formulas (OWASP "CSV
Injection"); the report is UTF-8 with a byte-order mark so Excel detects the encoding.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Literal

ReportOutcome = Literal["rejected", "values_dropped"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """``cell`` made safe to open in a spreadsheet (a leading formula character is quoted with ``'``)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


class ErrorReportWriter:
    """Accumulates report rows in memory (streaming through ``csv``); ``getvalue()`` gives the bytes.

    ``rows`` counts every row written, ``rejected`` and ``values_dropped`` the rows of each outcome.
    """

    def __init__(self, headers: Sequence[str]):
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._writer.writerow(["row_number", "outcome", "reasons", *(neutralise(h) for h in headers)])
        self.rows = 0
        self.rejected = 0
        self.values_dropped = 0

    def add(
        self,
        row_number: int,
        cells: Sequence[str],
        reasons: Sequence[str],
        outcome: ReportOutcome = "rejected",
    ) -> None:
        """Add one row: rejected (``reasons``: why) or kept without some values (``reasons``: which, why)."""
        self._writer.writerow(
            [row_number, outcome, neutralise("; ".join(reasons)), *(neutralise(str(c)) for c in cells)]
        )
        self.rows += 1
        if outcome == "rejected":
            self.rejected += 1
        else:
            self.values_dropped += 1

    def getvalue(self) -> bytes:
        """The report as UTF-8 (with BOM) bytes."""
        return b"\xef\xbb\xbf" + self._buffer.getvalue().encode("utf-8")
