"""Each report of ReportService as tables: a title, columns (a proto field path, a heading for
people and a kind that says how a value is shown) and rows of raw values, which the CLI prints
as text, CSV or XLSX and draws as charts.

Raw values are what the API sends (money in fen, rates as fractions); only what people read is
formatted: yuan with two decimals, percentages, ratios with two decimals, enums by name, masked
numbers as "(masked)".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from clients.i18n import N_, _, enum_name
from fupin.registry.v1 import report_service_pb2 as rpb
from fupin.registry.v1 import resources_pb2 as pb

REPORTS = ("status", "exits", "income", "aid", "cadres")
MASKED = -1


@dataclass(frozen=True)
class Column:
    path: str  # the proto field path, e.g. "area.area_code": CSV's header
    heading: str  # English, translated where shown (N_ marks it for the catalog)
    kind: str  # "text", "count", "fen", "rate", "ratio", "status", "cause" or "aid-kind"


@dataclass(frozen=True)
class Table:
    name: str  # the report's part: a sheet name and a file name
    title: str  # English; translated where shown
    columns: tuple[Column, ...]
    rows: list[list[Any]]


def _c(path: str, heading: str, kind: str = "count") -> Column:
    return Column(path, heading, kind)


YEAR = _c("year", N_("year"), "text")
AREA = (_c("area.area_code", N_("area code"), "text"), _c("area.area_name", N_("area"), "text"))
COLUMNS: dict[str, tuple[Column, ...]] = {
    "status": (
        YEAR, *AREA, _c("impoverished", N_("impoverished")), _c("at_risk", N_("at risk")),
        _c("lifted_out", N_("lifted out")),
        _c("returned_to_poverty", N_("returned to poverty")),
        _c("households", N_("households")),
    ),
    "exits": (
        YEAR, *AREA, _c("exits", N_("exits")), _c("returns", N_("returns")),
        _c("ever_lifted_out", N_("ever lifted out")),
        _c("return_rate", N_("return rate"), "rate"),
    ),
    "income": (
        YEAR, *AREA, _c("poor_households", N_("poor households")),
        _c("with_record", N_("with a record")), _c("members", N_("members")),
        _c("produce_fen", N_("produce (yuan)"), "fen"),
        _c("dividends_fen", N_("dividends (yuan)"), "fen"),
        _c("aid_fen", N_("aid (yuan)"), "fen"), _c("total_fen", N_("total (yuan)"), "fen"),
        _c("per_household_fen", N_("per household (yuan)"), "fen"),
        _c("per_capita_fen", N_("per capita (yuan)"), "fen"),
        _c("per_capita_growth", N_("per-capita growth"), "rate"),
    ),
    "aid-programmes": (
        YEAR, _c("programme_id", N_("programme"), "text"),
        _c("programme_name", N_("name"), "text"), _c("kind", N_("kind"), "aid-kind"),
        _c("amount_fen", N_("granted (yuan)"), "fen"), _c("grants", N_("grants")),
        _c("households", N_("households")),
    ),
    "aid-causes": (
        YEAR, _c("cause", N_("cause of poverty"), "cause"),
        _c("amount_fen", N_("granted (yuan)"), "fen"), _c("grants", N_("grants")),
        _c("households", N_("households")),
    ),
    "cadres": (
        *AREA, _c("poor_households", N_("poor households")),
        _c("contracted", N_("contracted")), _c("coverage", N_("coverage"), "rate"),
        _c("cadres", N_("cadres contracted")), _c("stationed", N_("cadres stationed")),
        _c("visits", N_("visits")), _c("visited", N_("households visited")),
        _c("visits_per_household", N_("visits per contracted household"), "ratio"),
        _c("not_visited", N_("not visited")),
        _c("overdue", N_("overdue (no visit in 30 days)")),
    ),
}  # fmt: skip
TITLES = {
    "status": N_("Households by status at the year's end"),
    "exits": N_("Exits, returns and the return rate"),
    "income": N_("Income of poor households"),
    "aid-programmes": N_("Aid granted by programme"),
    "aid-causes": N_("Aid granted by cause of poverty"),
    "cadres": N_("Cadre coverage of poor households and visits"),
}


def fetch(stub: Any, report: str, request: rpb.ReportRequest, timeout: float) -> list[Table]:
    """Call the report's RPC; its tables (aid has two)."""
    if report == "aid":
        got = stub.AidReport(request, timeout=timeout)
        return [_table("aid-programmes", got.programmes), _table("aid-causes", got.causes)]
    method = {
        "status": stub.StatusReport,
        "exits": stub.ExitReport,
        "income": stub.IncomeReport,
        "cadres": stub.CadreReport,
    }[report]
    return [_table(report, method(request, timeout=timeout).rows)]


def _table(name: str, messages: Any) -> Table:
    columns = COLUMNS[name]
    return Table(
        name, TITLES[name], columns, [[_value(m, c.path) for c in columns] for m in messages]
    )


def _value(message: Message, path: str) -> Any:
    """The field at path; None for an optional field not set (a growth without a base)."""
    value: Any = message
    for name in path.split("."):
        if name == "per_capita_growth" and not value.HasField(name):
            return None
        value = getattr(value, name)
    return value


def shown(value: Any, kind: str) -> str:
    """A value as people read it (tables; the charts' labels)."""
    if value is None:
        return ""
    if kind == "fen":
        return _("(masked)") if value == MASKED else f"{value / 100:,.2f}"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "ratio":
        return f"{value:.2f}"
    return _enum(kind, value) if kind in ENUMS else str(value)


ENUMS: dict[str, Any] = {
    "cause": pb.PovertyCause.DESCRIPTOR,
    "aid-kind": pb.AidKind.DESCRIPTOR,
    "status": pb.HouseholdStatus.DESCRIPTOR,
}


def _enum(kind: str, number: int) -> str:
    return enum_name(ENUMS[kind], number)


def headings(table: Table) -> list[str]:
    return [_(c.heading) for c in table.columns]


def text_rows(table: Table) -> list[list[str]]:
    return [
        [shown(v, c.kind) for v, c in zip(row, table.columns, strict=True)] for row in table.rows
    ]


def csv_rows(table: Table) -> list[list[Any]]:
    """The header (field paths) and raw values; enums by their proto names."""
    return [[c.path for c in table.columns]] + [
        [_raw(v, c) for v, c in zip(row, table.columns, strict=True)] for row in table.rows
    ]


def _raw(value: Any, column: Column) -> Any:
    if value is None:
        return ""
    if column.kind in ENUMS:
        known = ENUMS[column.kind].values_by_number.get(value)
        return known.name if known is not None else value
    return value
