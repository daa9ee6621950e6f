"""The demo's pictures: produce flows on a map, and poor households' income against FCFS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt

from clients.chart_fonts import use_cjk_font
from clients.demo_season import Season
from clients.i18n import _, language
from fupin.matcher.v1 import matcher_service_pb2 as mpb


@dataclass
class Loaded:
    """What the demo stored, with the coordinates the charts need."""

    listing_at: dict[str, tuple[float, float]]
    order_at: dict[str, tuple[float, float]]
    buyer_of_order: dict[str, str]


use_cjk_font()


def draw(run: mpb.MatchRun, loaded: Loaded, out_dir: Path) -> list[Path]:
    return [
        flows(run, loaded, out_dir / "demo_flows.png"),
        income(run, out_dir / "demo_income.png"),
    ]


def flows(run: mpb.MatchRun, loaded: Loaded, path: Path) -> Path:
    """Lines from growers to buyers on longitude/latitude axes, width by tonnes."""
    fig, ax = plt.subplots(figsize=(9, 6.5), dpi=110)
    lanes: dict[tuple[tuple[float, float], tuple[float, float]], int] = {}
    for a in run.produce.allocations:
        key = (loaded.listing_at[a.listing_id], loaded.order_at[a.order_id])
        lanes[key] = lanes.get(key, 0) + a.kg
    top = max(lanes.values(), default=1)
    for ((lat1, lng1), (lat2, lng2)), kg in sorted(lanes.items(), key=lambda item: item[1]):
        ax.plot(
            [lng1, lng2],
            [lat1, lat2],
            color="tab:green",
            alpha=0.55,
            linewidth=0.4 + 6 * kg / top,
            solid_capstyle="round",
        )
    growers = set(loaded.listing_at.values())
    ax.scatter(
        [g[1] for g in growers],
        [g[0] for g in growers],
        s=10,
        color="tab:olive",
        label=_("growers in Zhao'an county"),
        zorder=3,
    )
    buyers: dict[tuple[float, float], str] = {}
    for order_id, at in loaded.order_at.items():
        buyers[at] = loaded.buyer_of_order[order_id]
    for (lat, lng), name in buyers.items():
        ax.scatter([lng], [lat], s=60, marker="s", color="tab:red", zorder=4)
        ax.annotate(
            short_name(name), (lng, lat), fontsize=7, xytext=(4, -10), textcoords="offset points"
        )
    ax.set_xlabel(_("longitude (°E)"))
    ax.set_ylabel(_("latitude (°N)"))
    ax.set_title(_("Green plum flows committed by fupin (line width ∝ tonnes)"))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def income(run: mpb.MatchRun, path: Path) -> Path:
    """Bars: kg and income of poor households, fupin against first come, first served."""
    k, b = run.produce.kpis, run.produce.baseline_kpis
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), dpi=110)
    pairs: list[tuple[Any, str, float, float]] = [
        (
            axes[0],
            _("plums sold by poor households (t)"),
            b.poor_kg_sold / 1000,
            k.poor_kg_sold / 1000,
        ),
        (
            axes[1],
            _("their income (thousand yuan)"),
            b.poor_income_fen / 1e5,
            k.poor_income_fen / 1e5,
        ),
    ]
    for ax, title, baseline, ours in pairs:
        bars = ax.bar(
            [_("first come,\nfirst served"), "fupin"],
            [baseline, ours],
            color=["tab:gray", "tab:green"],
        )
        ax.bar_label(bars, fmt="%.1f")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, max(baseline, ours, 1) * 1.2)
    fig.suptitle(_("Zhao'an green plums, 2020 season: impoverished and at-risk growers"))
    return save_figure(fig, path)


def money(season: Season, out_dir: Path) -> Path:
    """The season's money in thousands of yuan: what each buyer paid; where it went (household
    growers, cooperatives, on to their members, medical aid); what households gained by source."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), dpi=110)
    paid = sorted(season.paid_fen.items(), key=lambda item: item[1])
    flows = [
        (_("to household growers"), season.to_growers_fen),
        (_("to cooperatives"), season.to_cooperatives_fen),
        (_("cooperatives to members"), season.dividends_fen),
        (_("medical aid to a household"), season.grant_fen),
    ]
    income = [
        (_("produce sales"), season.income.get("produce", 0)),
        (_("dividends"), season.income.get("dividends", 0)),
        (_("aid received"), season.income.get("aid", 0)),
    ]
    panels = [
        (axes[0], _("paid by each buyer"), [(short_name(n), f) for n, f in paid], "tab:red"),
        (axes[1], _("where the money went"), flows[::-1], "tab:blue"),
        (axes[2], _("income of filed poor households"), income[::-1], "tab:green"),
    ]
    for ax, title, bars, color in panels:
        drawn = ax.barh([label for label, _fen in bars], [f / 1e5 for _l, f in bars], color=color)
        ax.bar_label(drawn, fmt="%.1f", padding=3, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(0, max([f / 1e5 for _l, f in bars] + [0.1]) * 1.3)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel(_("thousand yuan"), fontsize=8)
    fig.suptitle(_("Zhao'an green plums, 2020 season: the money after the commit"))
    return save_figure(fig, out_dir / "demo_money.png")


def short_name(name: str) -> str:
    """ "Puning Liusha plum plant (普宁流沙)": the English part, or in Chinese the part in
    parentheses when it is Chinese."""
    english, _sep, rest = name.partition(" (")
    inner = rest.rstrip(")")
    if language() == "zh_CN" and inner and all(ord(ch) > 0x2E80 for ch in inner):
        return inner
    return english


def save_figure(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
