"""`fupin match produce` and `fupin runs …`: matcher runs from the command line.

    fupin match produce --product green_plum --today 2020-05-20 [--region 350624]
                        [--objective welfare|poverty-first] [--time-limit S] [--commit]
    fupin runs list [--filter 'state = PROPOSED']
    fupin runs get|commit|discard|cancel RUN_ID

`match produce` shows the solver's progress (WatchMatchRun) while the run is solved, then a
summary; --commit commits the proposed run. A run too large for one answer (a province's
produce run) arrives as a summary, and its allocations and unsold listings are paged in
(ListRunAllocations, ListRunUnsold) before it is shown.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import Any

from clients.cli.cells import when
from clients.cli.output import emit, print_table, say
from clients.cli.printers import gap_text, names_from, objective_text, print_run
from clients.i18n import N_, _, enum_name
from clients.matcher_client import MatcherClient, RunProgress
from fupin.matcher.v1 import matcher_service_pb2 as mpb

OBJECTIVES = {"welfare": mpb.WELFARE, "poverty-first": mpb.POVERTY_FIRST}


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    match = commands.add_parser("match", help=_("run a matching (produce)"))
    kinds = match.add_subparsers(dest="match_kind", required=True, metavar="KIND")
    produce = kinds.add_parser("produce", parents=[client], help=_("listings to orders"))
    produce.add_argument("--product", required=True, help=_("e.g. green_plum"))
    produce.add_argument("--today", required=True, help=_("YYYY-MM-DD: earliest departure"))
    produce.add_argument("--region", default="", help=_("administrative code prefix"))
    produce.add_argument("--objective", choices=list(OBJECTIVES), default="welfare")
    produce.add_argument("--time-limit", type=float, default=30.0, help=_("seconds"))
    produce.add_argument("--commit", action="store_true", help=_("commit the proposed run"))
    produce.set_defaults(run=run_match_produce)
    runs = commands.add_parser("runs", help=_("list, show, commit, discard or cancel runs"))
    verbs = runs.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", parents=[client], help=_("newest first"))
    listing.add_argument("--filter", default="", help=_("e.g. 'state = PROPOSED'"))
    listing.set_defaults(run=run_runs_list)
    helps = {
        "get": N_("show one run by its kind's printer"),
        "commit": N_("commit a proposed run"),
        "discard": N_("discard a proposed run"),
        "cancel": N_("cancel a queued or running run"),
    }
    for verb, text in helps.items():
        sub = verbs.add_parser(verb, parents=[client], help=_(text))
        sub.add_argument("id")
        sub.set_defaults(run=run_runs_one, verb=verb)


def matcher(args: argparse.Namespace, solve_timeout_s: float = 120.0) -> MatcherClient:
    """The typed matcher client (clients/matcher_client.py): the key, deadlines, safe retries,
    and errors as FupinClientError with the field violations."""
    return MatcherClient(args.target, timeout_s=args.timeout, solve_timeout_s=solve_timeout_s)


def run_match_produce(args: argparse.Namespace) -> int:
    run_id = f"cli-{uuid.uuid4().hex[:20]}"
    request = mpb.MatchProduceRequest(
        selection=mpb.RegistrySelection(
            product=args.product, today=args.today, region_code=args.region
        ),
        parameters=mpb.SolveParameters(
            time_limit_s=args.time_limit, objective=OBJECTIVES[args.objective]
        ),
        run_id=run_id,
        request_id=run_id,
    )
    with matcher(args, args.time_limit + args.timeout + 30) as client:
        run = solve_with_progress(client, "MatchProduce", request)
        if args.commit and run.state == mpb.PROPOSED:
            run = client.commit(run.id, request_id=f"commit-{run.id}")
        run = client.complete(run)  # a province's run: its lists page by page
    show_run(run, args)
    return 0 if run.state in (mpb.PROPOSED, mpb.COMMITTED) else 1


def solve_with_progress(
    client: MatcherClient,
    method: str,
    request: Any,
    describe: Callable[[mpb.MatchRunEvent], str] | None = None,
) -> mpb.MatchRun:
    """Start `method` (a run-creating RPC) through the client and show its progress events
    (WatchMatchRun) until the run is solved; the run."""
    describe = describe or _progress
    progress: RunProgress
    if method == "MatchProduce":
        progress = client.match_produce(
            selection=request.selection,
            parameters=request.parameters,
            request_id=request.request_id or None,
            watch=True,
        )
    else:
        start: dict[str, Callable[..., RunProgress]] = {
            "AllocateAid": client.allocate_aid,
            "AssignCadres": client.assign_cadres,
            "ContractHouseholds": client.contract_households,
        }
        progress = start[method](request, watch=True)
    for event in progress:
        say(describe(event))
    run: mpb.MatchRun = progress.run()
    return run


def _progress(event: mpb.MatchRunEvent) -> str:
    return progress_line(event, _("objective {value} yuan"), divisor=100, decimals=2)


def progress_line(event: mpb.MatchRunEvent, what: str, divisor: int = 1, decimals: int = 0) -> str:
    """`  RUNNING  objective 1,234.00 yuan  bound 1,300.00  2.10 s` in the active language;
    `what` names the objective with a {value} hole (yuan, a need value, a cost)."""
    state = enum_name(mpb.RunState.DESCRIPTOR, event.state)
    if not event.elapsed_s:
        return f"  {state}"
    number = f">16,.{decimals}f"
    line = _("{state}  {what}  bound {bound}  {seconds} s").format(
        state=state,
        what=what.format(value=format(event.objective / divisor, number)),
        bound=format(event.best_bound / divisor, number),
        seconds=f"{event.elapsed_s:7.2f}",
    )
    return "  " + line


def show_run(run: mpb.MatchRun, args: argparse.Namespace) -> None:
    """The run by its kind's printer, names read from the registry (--registry, or --target)."""
    with names_from(getattr(args, "registry", None) or args.target, args.timeout) as names:
        print_run(run, names, args.output)


def run_runs_list(args: argparse.Namespace) -> int:
    with matcher(args) as client:
        runs = list(client.list(filter=args.filter, limit=100))
    if args.output != "table":
        emit("runs", runs, args.output)
        return 0
    rows = [
        [
            r.id,
            enum_name(mpb.RunKind.DESCRIPTOR, r.kind),
            enum_name(mpb.RunState.DESCRIPTOR, r.state),
            enum_name(mpb.SolveStatus.DESCRIPTOR, r.status),
            objective_text(r),
            gap_text(r),
            when(r.create_time),
        ]
        for r in runs
    ]
    headings = ["ID", "KIND", "STATE", "STATUS", "OBJECTIVE", "GAP", "CREATED"]
    if rows:
        print_table([_(h) for h in headings], rows)
    else:
        say(_("no {what}").format(what=_("runs")))
    return 0


def run_runs_one(args: argparse.Namespace) -> int:
    with matcher(args) as client:
        if args.verb == "get":
            run = client.get(args.id)
        elif args.verb == "commit":
            run = client.commit(args.id, request_id=f"commit-{args.id}")
        elif args.verb == "discard":
            run = client.discard(args.id)
        else:
            run = client.cancel(args.id)
        run = client.complete(run)  # a province's run: its lists page by page
    show_run(run, args)
    return 0
