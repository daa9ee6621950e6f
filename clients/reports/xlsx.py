"""Report tables as an XLSX workbook (openpyxl): one sheet a table, its title in the first
row, headings in bold, numbers as numbers (money in yuan, rates as percentages) so that an
office can sum and chart them in a spreadsheet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from clients.i18n import _
from clients.reports.tables import MASKED, Table, headings, shown

FORMATS = {"fen": "#,##0.00", "rate": "0.0%", "ratio": "0.00", "count": "#,##0"}


def write(tables: Sequence[Table], path: Path) -> Path:
    book = Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(table.name[:31])  # Excel's limit on a sheet's name
        sheet.append([_(table.title)])
        sheet["A1"].font = Font(bold=True, size=13)
        sheet.append(headings(table))
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
        for i, column in enumerate(table.columns, start=1):
            letter = get_column_letter(i)
            for cell in sheet[letter][2:]:
                if column.kind in FORMATS and isinstance(cell.value, int | float):
                    cell.number_format = FORMATS[column.kind]
            sheet.column_dimensions[letter].width = max(10, len(_(column.heading)) + 4)
        sheet.freeze_panes = "A3"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _cell(value: Any, kind: str) -> Any:
    """A value as the sheet holds it: yuan (a number), a fraction, a name; masked as text."""
    if value is None:
        return None
    if kind == "fen":
        return shown(value, kind) if value == MASKED else value / 100
    if kind in ("text", "count", "rate", "ratio"):
        return value
    return shown(value, kind)  # enums by name
