"""The CLI's output layer: aligned text tables or JSON lines on stdout, messages on stderr.

Tables show the most useful columns of each kind; `--output json` prints every field of each
resource as one JSON object per line (proto field names), for jq and scripts; `--output csv`
the table's columns under their proto field paths, enums by their proto names, for
spreadsheets.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from clients.cli.cells import column_reader, json_reader, reader, width
from clients.cli.columns import CELLS, COLUMNS, PAGE, REFERENCES
from clients.client import Kind
from clients.errors import CsvFormatError, FupinClientError
from clients.i18n import _
from clients.names import Names


def emit(what: str, items: Iterable[Message], fmt: str, names: Names | None = None) -> int:
    """Print items as a table (or JSON lines, or CSV); returns how many were printed. With
    `names`, each id of another resource gets its name beside it (tables and CSV)."""
    if fmt == "csv":
        return emit_csv(what, items, names)
    if fmt == "json":
        count = 0
        for item in items:  # streamed: each page prints as it arrives
            emit_json(item)
            count += 1
        return count
    columns = _named_columns(what, names)
    cells = _columns(_pages(items, what, names), what, columns, names)
    if cells[0]:
        print_columns([_(heading) for heading, _path in columns], cells)
    else:
        say(_("no {what}").format(what=_(what)))
    return len(cells[0])


def _columns(
    pages: Iterable[list[Message]], what: str, columns: list[tuple[str, str]], names: Names | None
) -> list[list[str]]:
    """Each column's cells, a page at a time, by readers made once for the first item's type
    (column by column: 100,000 rows are a million cells)."""
    cells: list[list[str]] = [[] for _column in columns]
    readers: list[Callable[[list[Message]], list[str]]] = []
    for page in pages:
        if page and not readers:
            readers = [_column_reader(what, page[0], path, names) for _h, path in columns]
        for column, read in zip(cells, readers, strict=False):
            column.extend(read(page))
    return cells


def _column_reader(
    what: str, item: Message, path: str, names: Names | None
) -> Callable[[list[Message]], list[str]]:
    special = CELLS.get((what, path))
    if special is None and not path.endswith("#name"):
        return column_reader(item.DESCRIPTOR, path)
    one = special or _reader(item, path, names)
    return lambda page: list(map(one, page))


def _reader(item: Message, path: str, names: Names | None) -> Callable[[Any], str]:
    if not path.endswith("#name"):
        return reader(item.DESCRIPTOR, path)
    field = path.removesuffix("#name")
    kind = next(k for p, k, _h in _all_references() if p == field)
    return lambda message: names.name(kind, getattr(message, field)) if names else ""


def _named_columns(what: str, names: Names | None) -> list[tuple[str, str]]:
    """The table's (heading, path) columns, each reference followed by its name column."""
    columns = list(COLUMNS[what])
    if names is None:
        return columns
    for path, _kind, heading in REFERENCES.get(what, ()):
        at = next(i for i, (_h, p) in enumerate(columns) if p == path)
        columns.insert(at + 1, (heading, f"{path}#name"))
    return columns


def _paged(items: Iterable[Message], what: str, names: Names | None) -> Iterable[Message]:
    """The items, with the names of each page's references read before the page is shown."""
    for page in _pages(items, what, names):
        yield from page


def _pages(items: Iterable[Message], what: str, names: Names | None) -> Iterator[list[Message]]:
    """The items a page at a time, each page's references' names read (the last may be
    empty)."""
    references = REFERENCES.get(what, ()) if names is not None else ()
    page: list[Message] = []
    for item in items:
        page.append(item)
        if len(page) == PAGE:
            yield _with_names(page, references, names)
            page = []
    yield _with_names(page, references, names)


def _with_names(page: list[Message], references: Any, names: Names | None) -> list[Message]:
    for path, kind, _heading in references:
        if names is not None:
            names.load(kind, (getattr(item, path) for item in page))
    return page


def _all_references() -> Iterable[tuple[str, Kind[Any], str]]:
    for references in REFERENCES.values():
        yield from references


def emit_csv(what: str, items: Iterable[Message], names: Names | None = None) -> int:
    """A header of the table's field paths (a name column as `village_id#name`), then a
    line per item; returns how many."""
    columns = _named_columns(what, names)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([path for _heading, path in columns])
    count = 0
    readers: list[Callable[[Any], str]] = []
    for item in _paged(items, what, names):
        if not readers:
            readers = [_csv_reader(item, path, names) for _heading, path in columns]
        writer.writerow([read(item) for read in readers])
        count += 1
    return count


def _csv_reader(item: Message, path: str, names: Names | None) -> Callable[[Any], str]:
    """A CSV column's text as the message's JSON form has it (enum names, `;`-joined lists)."""
    if path.endswith("#name"):
        return _reader(item, path, names)
    direct = json_reader(item.DESCRIPTOR, path)
    if direct is not None:
        return direct

    def generic(message: Message) -> str:
        fields = json_format.MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        return _csv_value(fields, path)

    return generic


def _csv_value(fields: Mapping[str, Any], path: str) -> str:
    value: Any = fields
    for name in path.split("."):
        value = value.get(name, "") if isinstance(value, Mapping) else ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if isinstance(value, Mapping) else str(value)


def emit_csv_rows(header: list[str], rows: Iterable[list[str]]) -> None:
    """A header of field-like names, then the rows, as CSV on stdout."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def emit_one(message: Message, fmt: str, names: Names | None = None, what: str = "") -> None:
    """One resource: JSON, every field as `field  value` lines, or CSV (a header of the field
    paths, a line of their values); with `names`, each id of another resource
    (REFERENCES[what]) followed by its `…_name`."""
    if fmt == "json":
        emit_json(message)
        return
    flat = flatten(json_format.MessageToDict(message, preserving_proto_field_name=True))
    named: dict[str, tuple[str, str]] = {}
    for path, kind, _heading in REFERENCES.get(what, ()) if names is not None else ():
        resource_id = getattr(message, path)
        name = names.of(kind, [resource_id])[resource_id] if names and resource_id else ""
        if name:
            named[path] = (f"{path.removesuffix('_id')}_name", name)
    rows = []
    for key, value in flat.items():
        rows.append([key, value])
        if key in named:
            rows.append(list(named[key]))
    if fmt == "csv":
        emit_csv_rows([key for key, _value in rows], [[value for _key, value in rows]])
        return
    print_table(None, rows)


def emit_json(value: Message | Mapping[str, Any]) -> None:
    if isinstance(value, Message):
        value = json_format.MessageToDict(value, preserving_proto_field_name=True)
    print(json.dumps(value, ensure_ascii=False))


def print_table(headings: list[str] | None, rows: list[list[str]]) -> None:
    """Left-aligned columns two spaces apart; CJK characters count double, as terminals draw."""
    count = len(headings) if headings else len(rows[0])
    print_columns(headings, [list(column) for column in zip(*rows, strict=True)] or [[]] * count)


def print_columns(headings: list[str] | None, columns: list[list[str]]) -> None:
    """print_table of the cells given column by column: a column of ASCII text (most) is
    measured and padded by C loops (len, str.ljust); only the others cell by cell."""
    if headings:
        columns = [[heading, *column] for heading, column in zip(headings, columns, strict=True)]
    padded = []
    for column in columns:
        if "".join(column).isascii():
            padded.append(list(map(str.ljust, column, repeat(max(map(len, column))))))
            continue
        sizes = [width(text) for text in column]
        most = max(sizes)
        padded.append([text + " " * (most - n) for text, n in zip(column, sizes, strict=True)])
    lines = map(str.rstrip, map("  ".join, zip(*padded, strict=True)))
    sys.stdout.write("".join([line + "\n" for line in lines]))


def show(text: str) -> None:
    """A line of data (a result) on stdout."""
    print(text)


def say(text: str) -> None:
    """A message for people, on stderr (stdout carries data)."""
    print(text, file=sys.stderr)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """{"indicators": {"health": 50}} → {"indicators.health": "50"}; scalar lists `;`-joined."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out
    if isinstance(value, list):
        return {prefix: ";".join(str(item) for item in value)}
    return {prefix: str(value)}


def report(error: FupinClientError, locate: Callable[[str], str] | None = None) -> None:
    """The error and each field violation on stderr, with the CSV line when known."""
    if isinstance(error, CsvFormatError):
        say(_("fupin: {error}; nothing was sent").format(error=error.message))
    else:
        say(f"fupin: {error.code.name}: {error.localized_message}")
    for field, description in error.localized_violations:
        where = locate(field) if locate and not isinstance(error, CsvFormatError) else ""
        say(f"  {field}: {description}" + (f" ({where})" if where else ""))
