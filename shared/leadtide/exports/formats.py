"""Export columns and the three file formats, written row batch by row batch into a binary stream.

- **CSV**: UTF-8 with a byte-order mark (so Excel detects UTF-8), comma-separated, CRLF line ends and
  quoting as RFC 4180 (fields holding a comma, quote or line break are quoted, quotes doubled). Cells are
  neutralised against CSV (formula) injection per OWASP's "CSV Injection" guidance: a text cell starting
  with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading apostrophe, so spreadsheet
  programs show it as text instead of evaluating it. (E.164 phones, ``+15551234567``, are therefore
  written ``'+15551234567``, which also keeps Excel from turning them into numbers.)
- **XLSX**: openpyxl's write-only workbook (rows are streamed to a temporary file, not kept in memory),
  one sheet "Leads". Text cells are always string cells, never formulas, so ``=...`` is shown as typed;
  characters XML 1.0 forbids are dropped and text is cut to Excel's 32,767-character cell limit.
- **JSON**: JSON Lines (https://jsonlines.org/), one lead object per line, UTF-8 — streamable in both
  directions, unlike one large array. Keys are the column keys; lists and numbers keep their JSON types.

Common to all: tags and multi-select values are joined with ``"; "`` (CSV, XLSX), times are ISO-8601 UTC
(``2024-03-01T09:30:00.000Z``), booleans ``true``/``false``, empty values empty. Text stored before lone
surrogates were refused at the boundary (``leadtide.models.text``) is written with U+FFFD in their place,
so one such value cannot fail a tenant's every export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, BinaryIO, Protocol

from pydantic import BaseModel

from leadtide.bulk.ports import CustomFieldColumn
from leadtide.models.common import iso
from leadtide.models.errors import UnprocessableError
from leadtide.models.exports import ExportFormat
from leadtide.models.leads import Lead
from leadtide.models.text import encode_utf8, replace_surrogates

NOT_EXPORTED: frozenset[str] = frozenset(
    {
        "tenant_id",
        "custom_fields",
        "score_breakdown",
        "referral",
        "prediction_factors",
        "grade_override",
        "last_engaged",
        "engaged_counts",
    }
)
"""Lead fields left out of exports: ``tenant_id`` (always the caller's), ``custom_fields`` (one column per
field instead), the nested explanations and the per-event-type activity maps (see
``GET /leads/{lead_id}``)."""

LEAD_FIELDS: tuple[str, ...] = tuple(name for name in Lead.model_fields if name not in NOT_EXPORTED)
"""Lead fields exported by default, in the order :class:`Lead` declares them."""

CUSTOM_PREFIX = "custom_fields."
CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/x-ndjson",
}
EXTENSIONS: dict[str, str] = {"csv": "csv", "xlsx": "xlsx", "json": "jsonl"}
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_XLSX_MAX_CELL = 32_767


@dataclass(frozen=True)
class Column:
    """One exported column: ``key`` (lead field name, or ``custom_fields.<key>``) and its ``header``."""

    key: str
    header: str

    @property
    def custom_key(self) -> str | None:
        """The custom field key of a custom column, else None."""
        return self.key.removeprefix(CUSTOM_PREFIX) if self.key.startswith(CUSTOM_PREFIX) else None


def columns_for(fields: Sequence[str] | None, custom: Sequence[CustomFieldColumn]) -> list[Column]:
    """The columns of an export: ``fields`` in the given order, or every lead field then every custom field.

    A field is a lead field name (``email``), a custom field key (``budget``) or ``custom_fields.<key>``.
    Lead fields are headed by their name, custom fields by their label (suffixed `` (custom)`` if the label
    equals a lead field name).

    Raises:
        UnprocessableError (422): unknown or repeated field names (all of them named).
    """
    by_key = {c.key: c for c in custom}

    def custom_column(definition: CustomFieldColumn) -> Column:
        header = definition.label
        if header in LEAD_FIELDS:
            header = f"{header} (custom)"
        return Column(CUSTOM_PREFIX + definition.key, header)

    if fields is None:
        return [Column(f, f) for f in LEAD_FIELDS] + [custom_column(c) for c in custom]
    columns: list[Column] = []
    unknown: list[str] = []
    for name in fields:
        if name in LEAD_FIELDS:
            columns.append(Column(name, name))
        elif name.removeprefix(CUSTOM_PREFIX) in by_key:
            columns.append(custom_column(by_key[name.removeprefix(CUSTOM_PREFIX)]))
        else:
            unknown.append(name)
    if unknown:
        raise UnprocessableError(
            f"unknown export fields: {', '.join(unknown)}",
            details=[{"field": "fields", "problem": f"unknown field {n!r}"} for n in unknown],
        )
    keys = [c.key for c in columns]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise UnprocessableError(
            f"export fields repeated: {', '.join(repeated)}",
            details=[{"field": "fields", "problem": f"{k} given twice"} for k in repeated],
        )
    return columns


def raw_value(lead: Lead, column: Column) -> Any:
    """The lead's value for a column, as stored (str, int, float, bool, list, datetime or None)."""
    key = column.custom_key
    if key is not None:
        return lead.custom_fields.get(key)
    return getattr(lead, column.key)


def text_value(value: Any) -> str:
    """A value as spreadsheet text: lists joined with ``"; "``, times ISO-8601 UTC, booleans lower-case,
    None empty."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return "; ".join(text_value(v) for v in value)
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_none=True)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def json_value(value: Any) -> Any:
    """A value for JSON Lines: times ISO-8601 UTC, enums their value, everything else as JSON has it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def neutralize(text: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would evaluate as a formula (OWASP CSV Injection):
    text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return."""
    return "'" + text if text.startswith(_FORMULA_TRIGGERS) else text


class RowWriter(Protocol):
    """Writes leads as rows into a binary stream; ``close()`` finishes the file and closes the stream."""

    def write(self, leads: Iterable[Lead]) -> int: ...

    def close(self) -> None: ...


class CsvRowWriter:
    """CSV as described in the module docstring. Numbers are written as numbers (not neutralised: a
    negative score is data, not a formula)."""

    def __init__(self, stream: BinaryIO, columns: Sequence[Column]):
        self._stream = stream
        self._columns = list(columns)
        self._stream.write("\ufeff".encode())
        self._emit([[neutralize(c.header) for c in self._columns]])

    def _emit(self, rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
        self._stream.write(encode_utf8(buffer.getvalue()))

    def _cell(self, value: Any) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return neutralize(text_value(value))

    def write(self, leads: Iterable[Lead]) -> int:
        rows = [[self._cell(raw_value(lead, c)) for c in self._columns] for lead in leads]
        if rows:
            self._emit(rows)
        return len(rows)

    def close(self) -> None:
        self._stream.close()


class JsonLinesRowWriter:
    """JSON Lines: one ``{column key: value}`` object per lead and line."""

    def __init__(self, stream: BinaryIO, columns: Sequence[Column]):
        self._stream = stream
        self._columns = list(columns)

    def write(self, leads: Iterable[Lead]) -> int:
        lines = [
            json.dumps({c.key: json_value(raw_value(lead, c)) for c in self._columns}, ensure_ascii=False)
            for lead in leads
        ]
        if lines:
            self._stream.write(encode_utf8("\n".join(lines) + "\n"))
        return len(lines)

    def close(self) -> None:
        self._stream.close()


class XlsxRowWriter:
    """XLSX through openpyxl's write-only mode (rows go to a temporary file as they are appended); the
    workbook is zipped into the stream on ``close()``."""

    def __init__(self, stream: BinaryIO, columns: Sequence[Column]):
        from openpyxl import Workbook  # only the Jobs worker writes XLSX; keep it off the Api's imports

        self._stream = stream
        self._columns = list(columns)
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet("Leads")
        self._sheet.append([self._cell(c.header) for c in self._columns])

    def _cell(self, value: Any) -> Any:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        text = replace_surrogates(ILLEGAL_CHARACTERS_RE.sub("", text_value(value)))[:_XLSX_MAX_CELL]
        cell = WriteOnlyCell(self._sheet, value=text)
        cell.data_type = "s"  # openpyxl makes "=..." a formula; an exported value is always text
        return cell

    def write(self, leads: Iterable[Lead]) -> int:
        count = 0
        for lead in leads:
            self._sheet.append([self._cell(raw_value(lead, c)) for c in self._columns])
            count += 1
        return count

    def close(self) -> None:
        self._workbook.save(self._stream)  # type: ignore[arg-type]  # zipfile accepts a writable stream
        self._stream.close()


def row_writer(fmt: ExportFormat, stream: BinaryIO, columns: Sequence[Column]) -> RowWriter:
    """The writer of ``fmt`` over ``stream`` (the header, if any, is written at once)."""
    writers: dict[str, type[CsvRowWriter] | type[JsonLinesRowWriter] | type[XlsxRowWriter]] = {
        "csv": CsvRowWriter,
        "json": JsonLinesRowWriter,
        "xlsx": XlsxRowWriter,
    }
    return writers[fmt](stream, columns)
