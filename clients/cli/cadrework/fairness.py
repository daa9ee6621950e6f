"""The fairness lines under a run's tables: load by rank and coverage (stationing and
contracting), the Gini of grants and the share to impoverished households (aid)."""

from __future__ import annotations

from collections.abc import Iterable

from clients.cli.output import print_table, show
from clients.i18n import _
from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb


def rank_table(loads: Iterable[cpb.RankLoad], load: str, capacity: str) -> None:
    """Per rank: cadres (loaded), the load and capacity and their shares of all ranks'."""
    rows = [
        [
            str(x.rank),
            f"{x.loaded}/{x.cadres}",
            f"{x.load:,}",
            f"{x.capacity:,}",
            f"{x.load_share:.1%}",
            f"{x.capacity_share:.1%}",
        ]
        for x in loads
    ]
    if rows:
        show(_("load by rank:"))
        print_table(
            [_("RANK"), _("CARRYING/CADRES"), load, capacity, _("LOAD SHARE"), _("CAPACITY SHARE")],
            rows,
        )


def stationing(result: cpb.StationingResult) -> None:
    rank_table(result.rank_loads, _("POSTED"), _("CADRES"))
    show(_("villages staffed to team_min: {villages:.1%}; needs covered: {needs:.1%}").format(
        villages=result.village_coverage, needs=result.need_coverage
    ))  # fmt: skip


def contracting(result: cpb.ContractingResult) -> None:
    rank_table(result.rank_loads, _("EFFORT"), _("QUOTA"))
    show(_("households covered: {coverage:.1%}; rank balance {weight:,} m per effort unit "
           "and rank, {cost:,} of the cost").format(
        coverage=result.coverage, weight=result.rank_balance_m, cost=result.rank_cost
    ))  # fmt: skip


def aid(result: mpb.AidResult) -> None:
    show(_("fairness: Gini of grants over {n} eligible households {gini:.3f}; "
           "share to impoverished households {share:.1%}").format(
        n=result.eligible_households, gini=result.grant_gini, share=result.impoverished_share
    ))  # fmt: skip


def print_for(run: mpb.MatchRun) -> None:
    """The fairness lines of a run's kind (none for produce: its KPIs carry the Gini)."""
    if run.kind == mpb.AID:
        aid(run.aid)
    elif run.kind == mpb.CADRE_STATIONING:
        stationing(run.stationing)
    elif run.kind == mpb.CADRE_CONTRACTING:
        contracting(run.contracting)
