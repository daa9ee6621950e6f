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
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from clients.cli.cells import cell, width
from clients.client import BUYERS, HOUSEHOLDS, PRODUCERS, VILLAGES, Kind
from clients.i18n import N_, _
from clients.names import Names

# (heading, field path) per table; paths may go into sub-messages ("household.status").
COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "runs": (
            ("ID", "id"),
            ("KIND", "kind"),
            ("STATE", "state"),
            ("STATUS", "status"),
            ("OBJECTIVE", "objective"),
            ("GAP", "gap"),
            ("CREATED", "create_time"),
        ),
        "villages": (
            ("ID", "id"),
            ("NAME", "display_name"),
            ("ADMIN CODE", "admin_code"),
            ("STATUS", "poverty_status"),
            ("NEEDS", "needs"),
        ),
        "households": (
            ("ID", "id"),
            ("CARD", "card_number"),
            ("HEAD", "head_name"),
            ("VILLAGE", "village_id"),
            ("MEMBERS", "members"),
            ("SCORE", "score"),
            ("STATUS", "status"),
            ("CAUSES", "causes"),
        ),
        "producers": (
            ("ID", "id"),
            ("KIND", "kind"),
            ("NAME", "display_name"),
            ("HOUSEHOLD", "household_id"),
            ("VILLAGE", "village_id"),
            ("MEMBERS", "members"),
        ),
        "listings": (
            ("ID", "id"),
            ("PRODUCER", "producer_id"),
            ("PRODUCT", "product"),
            ("GRADE", "grade"),
            ("KG", "quantity_kg"),
            ("RESERVED KG", "reserved_kg"),
            ("FLOOR FEN/KG", "floor_price_fen"),
            ("FROM", "available_from"),
            ("UNTIL", "available_until"),
        ),
        "buyers": (
            ("ID", "id"),
            ("KIND", "kind"),
            ("NAME", "display_name"),
            ("COUNTY", "county_code"),
        ),
        "orders": (
            ("ID", "id"),
            ("BUYER", "buyer_id"),
            ("PRODUCT", "product"),
            ("GRADES", "accepted_grades"),
            ("MIN KG", "min_quantity_kg"),
            ("MAX KG", "max_quantity_kg"),
            ("FILLED KG", "filled_kg"),
            ("FEN/KG", "price_fen"),
            ("DELIVER BY", "deliver_by"),
        ),
        "cadres": (
            ("ID", "id"),
            ("NAME", "display_name"),
            ("RANK", "rank"),
            ("HOME UNIT", "home_unit"),
            ("SKILLS", "skills"),
            ("VILLAGE", "current_village_id"),
            ("AVAILABLE", "available"),
        ),
        "aid-programs": (
            ("ID", "id"),
            ("NAME", "display_name"),
            ("KIND", "kind"),
            ("BUDGET FEN", "budget_fen"),
            ("SPENT FEN", "spent_fen"),
            ("AMOUNT FEN", "amount_fen"),
            ("REGION", "region_code"),
            ("ARCHIVED", "archived"),
        ),
        "shipments": (
            ("ID", "id"),
            ("RUN", "run_id"),
            ("LISTING", "listing_id"),
            ("ORDER", "order_id"),
            ("KG", "kg"),
            ("STATE", "state"),
            ("RECEIVED KG", "received_kg"),
            ("REJECTED KG", "rejected_kg"),
            ("PAID FEN/KG", "paid_price_fen"),
        ),
        "statement-buyers": (
            ("BUYER", "buyer_id"),
            ("NAME", "buyer_name"),
            ("SHIPMENTS", "shipments"),
            ("KG", "sold_kg"),
            ("SOLD FEN", "sold_fen"),
            ("RECEIVED KG", "received_kg"),
            ("REJECTED KG", "rejected_kg"),
            ("OWED FEN", "owed_fen"),
            ("PAID FEN", "paid_fen"),
            ("OUTSTANDING FEN", "outstanding_fen"),
        ),
        "statement-members": (
            ("HOUSEHOLD", "household_id"),
            ("SHARE ‰", "share_permille"),
            ("DIVIDENDS FEN", "dividends_fen"),
        ),
        "statement-dues": (
            ("SHIPMENT", "shipment_id"),
            ("ORDER", "order_id"),
            ("PRODUCER", "producer_id"),
            ("STATE", "state"),
            ("KG", "kg"),
            ("RECEIVED KG", "received_kg"),
            ("REJECTED KG", "rejected_kg"),
            ("PAID FEN/KG", "paid_price_fen"),
            ("OWED FEN", "owed_fen"),
            ("PAID FEN", "paid_fen"),
            ("OUTSTANDING FEN", "outstanding_fen"),
        ),
        "village-income": (
            ("VILLAGE", "village_id"),
            ("ADMIN CODE", "admin_code"),
            ("NAME", "display_name"),
            ("HOUSEHOLDS", "households"),
            ("SALES FEN", "produce_fen"),
            ("DIVIDENDS FEN", "dividends_fen"),
            ("AID FEN", "aid_fen"),
            ("TOTAL FEN", "total_fen"),
            ("CHANGED STATUS", "changed_status"),
            ("LIFTED OUT", "lifted_out"),
        ),
        "holds": (
            ("ID", "id"),
            ("STATE", "state"),
            ("KG", "kg"),
            ("LISTINGS", "listings"),
            ("EXPIRES", "expire_time"),
            ("ORDER", "order_id"),
            ("RUN", "run_id"),
        ),
        "watchlist": (
            ("HOUSEHOLD", "household.id"),
            ("CARD", "household.card_number"),
            ("HEAD", "household.head_name"),
            ("STATUS", "household.status"),
            ("SCORE", "household.score"),
            ("CHANGE", "score_change"),
            ("REASONS", "reasons"),
        ),
        "cases": (
            ("ID", "id"),
            ("KIND", "kind"),
            ("STATE", "state"),
            ("HOUSEHOLD", "household_id"),
            ("VILLAGE", "village_id"),
            ("NOTICE FROM", "notice_start"),
            ("NOTICE TO", "notice_end"),
            ("OBJECTIONS", "objections"),
        ),
    }
)


# Columns that name another resource: (field path, its kind, heading of the name column).
# Tables and CSV show the name beside the id (clients/cli/names.py reads them, a page at once).
REFERENCES: Mapping[str, tuple[tuple[str, Kind[Any], str], ...]] = MappingProxyType(
    {
        "households": (("village_id", VILLAGES, N_("VILLAGE NAME")),),
        "producers": (
            ("household_id", HOUSEHOLDS, N_("HEAD")),
            ("village_id", VILLAGES, N_("VILLAGE NAME")),
        ),
        "listings": (("producer_id", PRODUCERS, N_("PRODUCER NAME")),),
        "orders": (("buyer_id", BUYERS, N_("BUYER NAME")),),
        "cadres": (("current_village_id", VILLAGES, N_("VILLAGE NAME")),),
        "cases": (
            ("household_id", HOUSEHOLDS, N_("HEAD")),
            ("village_id", VILLAGES, N_("VILLAGE NAME")),
        ),
    }
)
PAGE = 1000  # rows whose names are read together: one call per kind per page


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
    rows = [
        [_cell_or_name(item, path, names) for _heading, path in columns]
        for item in _paged(items, what, names)
    ]
    if rows:
        print_table([_(heading) for heading, _path in columns], rows)
    else:
        say(_("no {what}").format(what=_(what)))
    return len(rows)


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
    references = REFERENCES.get(what, ()) if names is not None else ()
    page: list[Message] = []
    for item in items:
        page.append(item)
        if len(page) == PAGE:
            yield from _with_names(page, references, names)
            page = []
    yield from _with_names(page, references, names)


def _with_names(page: list[Message], references: Any, names: Names | None) -> list[Message]:
    for path, kind, _heading in references:
        if names is not None:
            names.load(kind, (getattr(item, path) for item in page))
    return page


def _cell_or_name(item: Message, path: str, names: Names | None) -> str:
    if not path.endswith("#name"):
        return cell(item, path)
    field = path.removesuffix("#name")
    kind = next(k for p, k, _h in _all_references() if p == field)
    return names.name(kind, getattr(item, field)) if names is not None else ""


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
    for item in _paged(items, what, names):
        fields = json_format.MessageToDict(
            item, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        writer.writerow(
            [
                _cell_or_name(item, path, names)
                if path.endswith("#name")
                else _csv_value(fields, path)
                for _heading, path in columns
            ]
        )
        count += 1
    return count


def _csv_value(fields: Mapping[str, Any], path: str) -> str:
    value: Any = fields
    for name in path.split("."):
        value = value.get(name, "") if isinstance(value, Mapping) else ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if isinstance(value, Mapping) else str(value)


def emit_one(message: Message, fmt: str) -> None:
    """One resource: JSON, or every field as `field  value` lines."""
    if fmt == "json":
        emit_json(message)
        return
    flat = flatten(json_format.MessageToDict(message, preserving_proto_field_name=True))
    print_table(None, [[key, value] for key, value in flat.items()])


def emit_json(value: Message | Mapping[str, Any]) -> None:
    if isinstance(value, Message):
        value = json_format.MessageToDict(value, preserving_proto_field_name=True)
    print(json.dumps(value, ensure_ascii=False))


def print_table(headings: list[str] | None, rows: list[list[str]]) -> None:
    """Left-aligned columns two spaces apart; CJK characters count double, as terminals draw."""
    lines = [headings, *rows] if headings else rows
    measured = [[width(text) for text in line] for line in lines]  # once a cell: 100,000 rows
    widths = [max(line[i] for line in measured) for i in range(len(lines[0]))]
    for line, sizes in zip(lines, measured, strict=True):
        padded = [t + " " * (w - n) for t, n, w in zip(line, sizes, widths, strict=True)]
        print("  ".join(padded).rstrip())


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
