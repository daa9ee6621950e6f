"""One chart per report (matplotlib, the bundled CJK font: clients/chart_fonts.py), labelled in
the CLI's language (--lang en or zh-CN). Each draws the region's totals per year (or per area
for cadre coverage and visits) from the report's tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from clients.chart_fonts import use_cjk_font
from clients.demo_charts import save_figure
from clients.i18n import _
from clients.reports.tables import MASKED, Table, shown

STATUS_COLOURS = ("tab:red", "tab:orange", "tab:green", "tab:purple")


def draw(report: str, tables: Sequence[Table], path: Path) -> Path:
    use_cjk_font()
    fig = {"status": _status, "exits": _exits, "income": _income, "aid": _aid,
           "cadres": _cadres}[report](tables)  # fmt: skip
    return save_figure(fig, path)


def _sums(table: Table, key: str, fields: Sequence[str]) -> dict[Any, list[int]]:
    """Per value of `key` (the year), the sums of `fields` over the table's areas (masked
    cells left out)."""
    index = {c.path: i for i, c in enumerate(table.columns)}
    sums: dict[Any, list[int]] = defaultdict(lambda: [0] * len(fields))
    for row in table.rows:
        totals = sums[row[index[key]]]
        for j, name in enumerate(fields):
            value = row[index[name]]
            totals[j] += value if value not in (None, MASKED) else 0
    return dict(sorted(sums.items()))


def _status(tables: Sequence[Table]) -> Any:
    names = ("impoverished", "at_risk", "lifted_out", "returned_to_poverty")
    sums = _sums(tables[0], "year", names)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    years = [str(y) for y in sums]
    bottom = [0] * len(years)
    columns = {c.path: c for c in tables[0].columns}
    for j, (name, colour) in enumerate(zip(names, STATUS_COLOURS, strict=True)):
        heights = [v[j] for v in sums.values()]
        ax.bar(years, heights, bottom=bottom, color=colour, label=_(columns[name].heading))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xlabel(_("year"))
    ax.set_ylabel(_("households"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(_(tables[0].title))
    ax.legend(loc="best", fontsize=8)
    return fig


def _exits(tables: Sequence[Table]) -> Any:
    sums = _sums(tables[0], "year", ("exits", "returns", "ever_lifted_out"))
    years = [str(y) for y in sums]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    offsets = [i - 0.2 for i in range(len(years))]
    ax.bar(offsets, [v[0] for v in sums.values()], width=0.4, color="tab:green", label=_("exits"))
    ax.bar([o + 0.4 for o in offsets], [v[1] for v in sums.values()], width=0.4,
           color="tab:purple", label=_("returns"))  # fmt: skip
    ax.set_xticks(range(len(years)), years)
    ax.set_xlabel(_("year"))
    ax.set_ylabel(_("households"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    rate = ax.twinx()
    rate.plot(range(len(years)), [100 * v[1] / v[2] if v[2] else 0 for v in sums.values()],
              color="black", marker="o", label=_("return rate"))  # fmt: skip
    rate.set_ylabel(_("return rate") + " (%)")
    rate.set_ylim(bottom=0)
    ax.set_title(_(tables[0].title))
    handles = ax.get_legend_handles_labels()
    more = rate.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="best", fontsize=8)
    return fig


def _income(tables: Sequence[Table]) -> Any:
    sources = ("produce_fen", "dividends_fen", "aid_fen")
    sums = _sums(tables[0], "year", (*sources, "members"))
    years = [str(y) for y in sums]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    bottom = [0.0] * len(years)
    columns = {c.path: c for c in tables[0].columns}
    for j, (name, colour) in enumerate(
        zip(sources, ("tab:olive", "tab:cyan", "tab:blue"), strict=True)
    ):
        heights = [v[j] / 100 / v[3] if v[3] else 0 for v in sums.values()]
        ax.bar(years, heights, bottom=bottom, color=colour, label=_(columns[name].heading))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    for x, total in zip(years, bottom, strict=True):
        ax.annotate(f"{total:,.0f}", (x, total), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel(_("year"))
    ax.set_ylabel(_("per capita (yuan)"))
    ax.set_title(_(tables[0].title))
    ax.legend(loc="best", fontsize=8)
    return fig


def _aid(tables: Sequence[Table]) -> Any:
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), dpi=110)
    for ax, table, label in zip(axes, tables, ("programme_name", "cause"), strict=True):
        index = {c.path: i for i, c in enumerate(table.columns)}
        kind = table.columns[index[label]].kind
        totals: dict[str, float] = defaultdict(float)
        for row in table.rows:
            name = shown(row[index[label]], kind)
            if "programme_id" in index:  # names may repeat; a programme deleted has none
                ident = row[index["programme_id"]]
                name = f"{name} ({ident})" if name else ident
            totals[name] += row[index["amount_fen"]] / 100
        names = sorted(totals, key=totals.__getitem__)
        ax.barh(names, [totals[n] for n in names], color="tab:blue")
        ax.set_xlabel(_("granted (yuan)"))
        ax.set_title(_(table.title), fontsize=10)
    fig.tight_layout()
    return fig


def _cadres(tables: Sequence[Table]) -> Any:
    """Left: poor households and those contracted (the coverage above each bar); right: the
    contracted households visited in the period, not visited, and overdue (visits per
    household above each bar)."""
    table = tables[0]
    index = {c.path: i for i, c in enumerate(table.columns)}

    def column(name: str) -> list[Any]:
        return [r[index[name]] for r in table.rows]

    names = [r[index["area.area_name"]] or r[index["area.area_code"]] for r in table.rows]
    poor, covered = column("poor_households"), column("contracted")
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(10, 1.1 * len(names) + 5), 5), dpi=110)
    left.bar(names, poor, color="tab:gray", label=_("poor households"))
    left.bar(names, covered, color="tab:green", label=_("contracted"))
    for x, p, c in zip(names, poor, covered, strict=True):
        if p:
            left.annotate(f"{100 * c / p:.0f}%", (x, p), ha="center", va="bottom", fontsize=8)
    left.set_ylabel(_("households"))
    left.set_title(_("coverage"), fontsize=10)
    visited, missed = column("visited"), column("not_visited")
    positions = range(len(names))
    right.bar([p - 0.2 for p in positions], visited, width=0.4, color="tab:green",
              label=_("households visited"))  # fmt: skip
    right.bar([p - 0.2 for p in positions], missed, width=0.4, bottom=visited,
              color="tab:gray", label=_("not visited"))  # fmt: skip
    right.bar([p + 0.2 for p in positions], column("overdue"), width=0.4, color="tab:red",
              label=_("overdue (no visit in 30 days)"))  # fmt: skip
    for x, total, per in zip(positions, covered, column("visits_per_household"), strict=True):
        right.annotate(f"{per:.2f}", (x - 0.2, total), ha="center", va="bottom", fontsize=8)
    right.set_xticks(list(positions), names)
    right.set_title(_("visits per contracted household"), fontsize=10)
    for ax in (left, right):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", labelrotation=30)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(_(table.title))
    fig.tight_layout()
    return fig
