"""`fupin cadres assign|contract`: cadre runs for a poverty alleviation office.

    fupin cadres assign [--region CODE] [--team-min N] [--team-max N] [--secretary-rank R]
                        [--coverage off|soft|hard] [--max-per-unit N] [--continuity-km K]
                        [--stable] [--time-limit S] [--picture FILE.png] [--commit]
                        [--registry HOST:PORT]
    fupin cadres contract [--region CODE] [--quota RANK=UNITS ...] [--rank-balance-km K]
                          [--time-limit S] [--commit] [--registry HOST:PORT]
    fupin cadres visit|visits|assess|recall|recalls …   (clients/cli/cadrework/commands.py)

Both show the solver's progress (WatchMatchRun) while the run is solved, then a table per
village: `assign` lists each village's team (first secretary first: rank, skills matched,
distance, kept/moved/new) and why a village is short; `contract` lists each village's
households and their cadres; both end with the load by rank and the coverage. --picture
draws the postings (cadre home → village, coloured by the number of the village's needs the
cadre's skills match). --commit commits the run.

The run goes to --target's MatcherService; the picture and the contract tables read villages,
cadres and households from --registry (default: --target), for a matcher running apart from
the registry (`fupin serve --only matcher`).
"""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path
from typing import Any

from clients.cli.cadrework import commands as cadre_work
from clients.cli.output import say
from clients.cli.runs import matcher, progress_line, show_run, solve_with_progress
from clients.client import CADRES, VILLAGES, RegistryClient
from clients.i18n import _
from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb

COVERAGE = {"off": cpb.COVERAGE_OFF, "soft": cpb.COVERAGE_SOFT, "hard": cpb.COVERAGE_HARD}


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    cadres = commands.add_parser("cadres", help=_("station cadres, contract households"))
    verbs = cadres.add_subparsers(dest="cadres_verb", required=True, metavar="VERB")
    assign = verbs.add_parser("assign", parents=[client], help=_("cadres to poor villages"))
    assign.add_argument("--region", default="", help=_("administrative code prefix"))
    assign.add_argument("--team-min", type=int, default=3)
    assign.add_argument("--team-max", type=int, default=3)
    assign.add_argument("--secretary-rank", type=int, default=1, help=_("1 科员 … 5 正处"))
    assign.add_argument("--coverage", choices=list(COVERAGE), default="soft")
    assign.add_argument("--max-per-unit", type=int, default=0, help=_("0 = no limit"))
    assign.add_argument("--continuity-km", type=float, default=0.0, help=_("gain before a move"))
    assign.add_argument("--stable", action="store_true", help=_("least-cost stable assignment"))
    assign.add_argument("--picture", type=Path, help=_("draw the postings into this PNG"))
    _common(assign)
    assign.set_defaults(run=run_assign)
    contract = verbs.add_parser("contract", parents=[client], help=_("households to cadres"))
    contract.add_argument("--region", default="", help=_("administrative code prefix"))
    contract.add_argument(
        "--quota",
        action="append",
        default=[],
        type=_quota,
        metavar="RANK=UNITS",
        help=_("effort units a cadre of RANK carries (repeat per rank)"),
    )
    contract.add_argument(
        "--rank-balance-km",
        type=float,
        default=None,
        help="km per effort unit and rank below the highest (default 5; 0 = off)",
    )
    _common(contract)
    contract.set_defaults(run=run_contract)
    cadre_work.add_verbs(verbs, client)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-limit", type=float, default=30.0, help=_("seconds"))
    parser.add_argument("--commit", action="store_true", help=_("commit the proposed run"))
    parser.add_argument(
        "--registry",
        metavar="HOST:PORT",
        help=_("the registry the picture and tables read from (default: --target)"),
    )


def _registry(args: argparse.Namespace) -> RegistryClient:
    return RegistryClient(args.registry or args.target, timeout_s=args.timeout)


def run_assign(args: argparse.Namespace) -> int:
    run_id = f"cli-{uuid.uuid4().hex[:20]}"
    request = mpb.AssignCadresRequest(
        selection=cpb.CadreSelection(region_code=args.region),
        rules=cpb.StationingRules(
            team_min=args.team_min,
            team_max=args.team_max,
            min_secretary_rank=args.secretary_rank,
            coverage=COVERAGE[args.coverage],
            max_per_unit=args.max_per_unit,
            continuity_threshold_m=round(args.continuity_km * 1000),
        ),
        mode=cpb.STABLE if args.stable else cpb.MIN_COST,
        parameters=mpb.SolveParameters(time_limit_s=args.time_limit),
        run_id=run_id,
        request_id=run_id,
    )
    run = _solve(args, request, "AssignCadres")
    show_run(run, args)
    if args.picture is not None and run.stationing.postings:
        with _registry(args) as client:
            path = draw_postings(run, client, args.picture)
        say(_("picture: {path}").format(path=path))
    return 0 if run.state in (mpb.PROPOSED, mpb.COMMITTED) else 1


def run_contract(args: argparse.Namespace) -> int:
    run_id = f"cli-{uuid.uuid4().hex[:20]}"
    request = mpb.ContractHouseholdsRequest(
        selection=cpb.ContractingSelection(region_code=args.region),
        rules=cpb.ContractingRules(
            quotas=args.quota,
            rank_balance_m=None
            if args.rank_balance_km is None
            else round(args.rank_balance_km * 1000),
        ),
        parameters=mpb.SolveParameters(time_limit_s=args.time_limit),
        run_id=run_id,
        request_id=run_id,
    )
    run = _solve(args, request, "ContractHouseholds")
    show_run(run, args)
    return 0 if run.state in (mpb.PROPOSED, mpb.COMMITTED) else 1


def _quota(text: str) -> cpb.RankQuota:
    rank, _sep, units = text.partition("=")
    try:
        return cpb.RankQuota(rank=int(rank), quota=int(units))
    except ValueError:
        why = _("wants RANK=UNITS, got {text}").format(text=repr(text))
        raise argparse.ArgumentTypeError(why) from None


def _solve(args: argparse.Namespace, request: Any, rpc: str) -> mpb.MatchRun:
    with matcher(args, args.time_limit + args.timeout + 30) as client:
        run = solve_with_progress(client, rpc, request, _progress)
        if args.commit and run.state == mpb.PROPOSED:
            run = client.commit(run.id, request_id=f"commit-{run.id}")
    return run


def _progress(event: mpb.MatchRunEvent) -> str:
    return progress_line(event, _("cost {value}"))  # metres and penalties, not yuan


def draw_postings(run: mpb.MatchRun, client: RegistryClient, path: Path) -> Path:
    """Cadre home unit → village lines on longitude/latitude axes, coloured by skills matched."""
    from clients import cadre_charts

    postings = list(run.stationing.postings)
    homes = {c: client.get(CADRES, c).location for c in {p.cadre_id for p in postings}}
    places = {v: client.get(VILLAGES, v).location for v in {p.village_id for p in postings}}
    return cadre_charts.postings(postings, homes, places, path)
