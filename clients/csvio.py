"""CSV files ↔ registry rows (Household, Listing, Cadre messages) for the bulk imports.

A file is UTF-8 (a byte-order mark is fine), comma-separated, with a header line naming the
columns in any order; blank lines are skipped. Lists are separated by `;`. Enum values are the
proto names (case-insensitive). Booleans: true/false, yes/no or 1/0. Money is in fen, produce in
kg, distance in km, dates YYYY-MM-DD. Ids (village_id, producer_id…) are the server's ids.

households: village_id, card_number, head_name, members, labour_force, housing_safety,
    food_security, children_schooling, health, disability, income_per_capita_fen,
    causes (e.g. `ILLNESS;LACK_OF_TECHNOLOGY`, may be empty), [assessment_reason],
    [extra_indicators] (e.g. `broadband=30;road_access=90`, for a larger indicator system)
listings: producer_id, product, grade, quantity_kg, floor_price_fen, available_from,
    available_until, shelf_life_days
cadres: display_name, rank (e.g. SECTION_CHIEF), skills (e.g. `agronomy;ecommerce`), home_unit,
    latitude, longitude, max_distance_km, [current_village_id], [pinned] (default false),
    [available] (default true), [home_region_code] (the home unit's administrative code prefix),
    [contract_quota] (effort units this cadre may carry in contracting; empty: its rank's quota)

Columns in brackets may be left out. Rows are numbered from 0 after the header, as the server
numbers them (`households[17].members` is the 18th data row); errors also give the line.
See docs/csv.md for examples.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

from google.protobuf.message import Message

from clients.errors import CsvFormatError
from clients.i18n import _
from fupin.registry.v1 import resources_pb2 as pb

MAX_REPORTED = 100  # violations listed, as the server does


@dataclass(frozen=True)
class Codec:
    """How one kind of cell reads (raising ValueError with the reason) and writes."""

    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str


@dataclass(frozen=True)
class Column:
    name: str  # in the header
    path: str  # the message field it fills: "indicators.health"
    codec: Codec
    default: str | None = None  # set: the column may be left out of the header
    optional: bool = False  # an empty cell leaves the (proto3 optional) field unset
    parents: tuple[str, ...] = field(init=False)
    leaf: str = field(init=False)

    def __post_init__(self) -> None:
        *parents, leaf = self.path.split(".")
        object.__setattr__(self, "parents", tuple(parents))
        object.__setattr__(self, "leaf", leaf)

    def put(self, message: Any, value: Any) -> None:
        """Set the field on a message (slow path, used to find which cell a message refused)."""
        if value is None:  # an optional cell left empty
            return
        for name in self.parents:
            message = getattr(message, name)
        if isinstance(value, list):
            getattr(message, self.leaf).extend(value)
        elif isinstance(value, dict):
            getattr(message, self.leaf).update(value)
        else:
            setattr(message, self.leaf, value)

    def put_in(self, fields: dict[str, Any], value: Any) -> None:
        """Set the field in a nested dict of constructor arguments (the fast path)."""
        if value is None:  # an optional cell left empty
            return
        for name in self.parents:
            fields = fields.setdefault(name, {})
        fields[self.leaf] = value

    def take(self, message: Any) -> Any:
        for name in self.parents:
            message = getattr(message, name)
        if self.optional and not message.HasField(self.leaf):
            return None
        return getattr(message, self.leaf)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(_("must be an integer, got {value}").format(value=repr(text))) from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(_("must be a number, got {value}").format(value=repr(text))) from None
    if not math.isfinite(value):
        raise ValueError(_("must be a finite number, got {value}").format(value=repr(text)))
    return value


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "yes", "1"}:
        return True
    if lowered in {"false", "no", "0"}:
        return False
    raise ValueError(_("must be true or false, got {value}").format(value=repr(text)))


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _enum(enum: Any) -> Codec:  # a generated enum: EnumTypeWrapper at run time
    by_name: dict[str, int] = {n.upper(): v for n, v in enum.items() if v != 0}

    def parse(text: str) -> int:
        try:
            return by_name[text.strip().upper()]
        except KeyError:
            known = ", ".join(by_name)
            why = _("unknown value {value} (one of {known})").format(value=repr(text), known=known)
            raise ValueError(why) from None

    return Codec(parse, enum.Name)


def _enums(enum: Any) -> Codec:
    one = _enum(enum)
    return Codec(
        lambda text: [one.parse(part) for part in _split(text)],
        lambda values: ";".join(enum.Name(v) for v in values),
    )


def _optional(codec: Codec) -> Codec:
    """An empty cell is None (the field stays unset) and None writes as an empty cell."""
    return Codec(
        lambda text: codec.parse(text) if text.strip() else None,
        lambda value: "" if value is None else codec.format(value),
    )


TEXT = Codec(lambda text: text)
INTEGER = Codec(_integer)
NUMBER = Codec(_number, repr)
BOOLEAN = Codec(_boolean, lambda value: "true" if value else "false")
TAGS = Codec(_split, ";".join)


def _pairs(text: str) -> dict[str, int]:
    """`broadband=30;road_access=90` (an extra indicator's name and its 0-100 value each)."""
    pairs = {}
    for item in _split(text):
        name, sep, value = item.partition("=")
        if not sep:
            why = _("must be name=value pairs separated by ';', got {value}")
            raise ValueError(why.format(value=repr(item)))
        pairs[name.strip()] = _integer(value.strip())
    return pairs


HOUSEHOLD_COLUMNS = (
    Column("village_id", "village_id", TEXT),
    Column("card_number", "card_number", TEXT),
    Column("head_name", "head_name", TEXT),
    Column("members", "members", INTEGER),
    Column("labour_force", "labour_force", INTEGER),
    *(
        Column(name, f"indicators.{name}", INTEGER)
        for name in (
            "housing_safety",
            "food_security",
            "children_schooling",
            "health",
            "disability",
            "income_per_capita_fen",
        )
    ),
    Column("causes", "causes", _enums(pb.PovertyCause)),
    Column("assessment_reason", "assessment_reason", TEXT, default=""),
    Column(
        "extra_indicators",
        "indicators.extra",
        Codec(_pairs, lambda extra: ";".join(f"{k}={v}" for k, v in sorted(extra.items()))),
        default="",
    ),
)
LISTING_COLUMNS = (
    Column("producer_id", "producer_id", TEXT),
    Column("product", "product", TEXT),
    Column("grade", "grade", TEXT),
    Column("quantity_kg", "quantity_kg", INTEGER),
    Column("floor_price_fen", "floor_price_fen", INTEGER),
    Column("available_from", "available_from", TEXT),
    Column("available_until", "available_until", TEXT),
    Column("shelf_life_days", "shelf_life_days", INTEGER),
)
CADRE_COLUMNS = (
    Column("display_name", "display_name", TEXT),
    Column("rank", "rank", _enum(pb.CadreRank)),
    Column("skills", "skills", TAGS),
    Column("home_unit", "home_unit", TEXT),
    Column("latitude", "location.latitude", NUMBER),
    Column("longitude", "location.longitude", NUMBER),
    Column("max_distance_km", "max_distance_km", NUMBER),
    Column("current_village_id", "current_village_id", TEXT, default=""),
    Column("pinned", "pinned", BOOLEAN, default="false"),
    Column("available", "available", BOOLEAN, default="true"),
    Column("home_region_code", "home_region_code", TEXT, default=""),
    Column("contract_quota", "contract_quota", _optional(INTEGER), default="", optional=True),
)


@dataclass(frozen=True)
class Layout:
    plural: str  # as the server names rows: households[17]
    message: type[Message]
    columns: tuple[Column, ...]


LAYOUTS: Mapping[str, Layout] = MappingProxyType(
    {
        "households": Layout("households", pb.Household, HOUSEHOLD_COLUMNS),
        "listings": Layout("listings", pb.Listing, LISTING_COLUMNS),
        "cadres": Layout("cadres", pb.Cadre, CADRE_COLUMNS),
    }
)


@dataclass(frozen=True)
class Table:
    """Parsed rows and the line each starts on (for pointing at rows the server rejects)."""

    layout: Layout
    rows: list[Message]
    lines: list[int]

    def where(self, field_path: str) -> str:
        """'line 19, column health' for 'households[17].indicators.health' ('' if unknown)."""
        match = re.fullmatch(rf"{self.layout.plural}\[(\d+)\](?:\.(.+))?", field_path)
        if not match or int(match[1]) >= len(self.lines):
            return ""
        line = self.lines[int(match[1])]
        path = re.sub(r"\[\d+\]$", "", match[2] or "")
        names = [c.name for c in self.layout.columns if c.path == path]
        if not names:
            return _("line {line}").format(line=line)
        return _("line {line}, column {column}").format(line=line, column=names[0])


def read(kind: str, source: Iterable[str]) -> Table:
    """Parse a whole CSV; CsvFormatError lists every bad cell (up to 100), nothing is sent."""
    layout = LAYOUTS[kind]
    reader = csv.reader(source)
    header = next(reader, None)
    columns = _columns(layout, header)
    width = len(header or ())
    rows: list[Message] = []
    lines: list[int] = []
    violations: list[tuple[str, str]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        lines.append(reader.line_num)
        prefix = f"{layout.plural}[{len(rows)}]"
        row, problems = _row(layout, columns, cells, width, prefix, reader.line_num)
        rows.append(row)
        violations.extend(problems[: MAX_REPORTED - len(violations)])
    if violations:
        raise CsvFormatError(_summary(violations), violations)
    return Table(layout, rows, lines)


def read_file(kind: str, path: Path) -> Table:
    with path.open(newline="", encoding="utf-8-sig") as source:
        return read(kind, source)


def write(kind: str, rows: Iterable[Message], out: TextIO) -> int:
    """Write rows in the layout read() takes; returns the number of rows."""
    columns = LAYOUTS[kind].columns
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    count = 0
    for row in rows:
        writer.writerow([c.codec.format(c.take(row)) for c in columns])
        count += 1
    return count


def _columns(layout: Layout, header: Sequence[str] | None) -> list[tuple[int | None, Column]]:
    """(cell index or None when left out, column) for every column of the layout."""
    if header is None:
        empty = _("the file is empty")
        raise CsvFormatError(empty, [("header", _("the first line must name columns"))])
    names = [name.strip().lower() for name in header]
    known = {c.name for c in layout.columns}
    unknown, twice = _("unknown column {name}"), _("column {name} appears twice")
    problems = [("header", unknown.format(name=repr(n))) for n in names if n not in known]
    problems += [("header", twice.format(name=repr(n))) for n in known if names.count(n) > 1]
    problems += [
        ("header", _("missing column {name}").format(name=repr(c.name)))
        for c in layout.columns
        if c.name not in names and c.default is None
    ]
    if problems:
        expected = ", ".join(c.name for c in layout.columns)
        bad = _("bad header; {kind} columns are: {expected}")
        raise CsvFormatError(bad.format(kind=layout.plural, expected=expected), problems)
    return [(names.index(c.name) if c.name in names else None, c) for c in layout.columns]


def _row(
    layout: Layout,
    columns: list[tuple[int | None, Column]],
    cells: Sequence[str],
    width: int,
    prefix: str,
    line: int,
) -> tuple[Message, list[tuple[str, str]]]:
    if len(cells) != width:
        return layout.message(), [
            (
                prefix,
                _("has {cells} cells, the header has {width} (line {line})").format(
                    cells=len(cells), width=width, line=line
                ),
            )
        ]
    fields: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for index, column in columns:
        text = cells[index] if index is not None else column.default or ""
        try:
            column.put_in(fields, column.codec.parse(text))
        except ValueError as exc:
            where = _("line {line}, column {column}").format(line=line, column=column.name)
            problems.append((f"{prefix}.{column.path}", f"{exc} ({where})"))
    try:
        return layout.message(**fields), problems
    except (ValueError, TypeError):  # a value out of its field's range: find which
        message, out_of_range = _row_slowly(layout, fields, columns, prefix, line)
        return message, problems + out_of_range


def _row_slowly(
    layout: Layout,
    fields: dict[str, Any],
    columns: list[tuple[int | None, Column]],
    prefix: str,
    line: int,
) -> tuple[Message, list[tuple[str, str]]]:
    message = layout.message()
    problems: list[tuple[str, str]] = []
    for _index, column in columns:
        value: Any = fields
        for name in (*column.parents, column.leaf):
            value = value.get(name) if isinstance(value, dict) else None
        try:
            if value is not None:
                column.put(message, value)
        except (ValueError, TypeError):
            problems.append(
                (
                    f"{prefix}.{column.path}",
                    _("out of range: {value} (line {line}, column {column})").format(
                        value=repr(value), line=line, column=column.name
                    ),
                )
            )
    return message, problems


def _summary(violations: list[tuple[str, str]]) -> str:
    field_path, description = violations[0]
    if len(violations) > 1:
        return _("invalid CSV: {field}: {description} (+{more} more)").format(
            field=field_path, description=description, more=len(violations) - 1
        )
    return _("invalid CSV: {field}: {description}").format(
        field=field_path, description=description
    )
