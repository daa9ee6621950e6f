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
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from clients import auth
from clients.cli.cells import when
from clients.cli.output import emit, print_table, say
from clients.cli.printers import gap_text, names_from, objective_text, print_run
from clients.client import channel_options
from clients.errors import from_rpc_error
from clients.i18n import N_, _, enum_name
from clients.matcher_client import completed
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc

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


@contextmanager
def matcher(args: argparse.Namespace) -> Iterator[Any]:
    """A matcher stub; gRPC errors leave as the client's typed errors (with field violations)."""
    with auth.client_channel(args.target, options=channel_options()) as channel:
        try:
            yield mpb_grpc.MatcherServiceStub(channel)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None


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
    with matcher(args) as stub:
        run = solve_with_progress(stub, request, timeout=args.time_limit + args.timeout + 30)
        if args.commit and run.state == mpb.PROPOSED:
            run = stub.CommitMatchRun(
                mpb.CommitMatchRunRequest(id=run.id, request_id=f"commit-{run.id}"),
                timeout=args.timeout,
            )
        run = completed(stub, run, args.timeout)  # a province's run: its lists page by page
    show_run(run, args)
    return 0 if run.state in (mpb.PROPOSED, mpb.COMMITTED) else 1


def solve_with_progress(
    stub: Any,
    request: Any,
    timeout: float,
    method: str = "MatchProduce",
    describe: Callable[[mpb.MatchRunEvent], str] | None = None,
) -> Any:
    """Call `method` (a run-creating RPC) and show its WatchMatchRun events meanwhile."""
    answer: dict[str, Any] = {}
    describe = describe or _progress

    def call() -> None:
        try:
            answer["run"] = getattr(stub, method)(request, timeout=timeout)
        except grpc.RpcError as error:
            answer["error"] = error

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    shown = 0
    while caller.is_alive():
        try:
            for event in stub.WatchMatchRun(mpb.WatchMatchRunRequest(id=request.run_id)):
                say(describe(event))
                shown += 1
            break
        except grpc.RpcError:  # not created yet (the registry data is still loading)
            caller.join(0.2)
    caller.join()
    if "error" in answer:
        raise answer["error"]
    run = answer["run"]
    if not shown:  # solved before the watch could start
        say(f"  {mpb.RunState.Name(run.state)} in {run.timings.total_s:.2f} s")
    return run


def _progress(event: mpb.MatchRunEvent) -> str:
    state = mpb.RunState.Name(event.state)
    if not event.elapsed_s:
        return f"  {state}"
    objective, bound = event.objective / 100, event.best_bound / 100
    return (
        f"  {state:<9} objective {objective:>14,.2f} yuan  bound {bound:>14,.2f}"
        f"  {event.elapsed_s:7.2f} s"
    )


def show_run(run: mpb.MatchRun, args: argparse.Namespace) -> None:
    """The run by its kind's printer, names read from the registry (--registry, or --target)."""
    with names_from(getattr(args, "registry", None) or args.target, args.timeout) as names:
        print_run(run, names, args.output)


def run_runs_list(args: argparse.Namespace) -> int:
    with matcher(args) as stub:
        runs = stub.ListMatchRuns(
            mpb.ListMatchRunsRequest(filter=args.filter, page_size=100), timeout=args.timeout
        ).runs
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
    with matcher(args) as stub:
        run = completed(stub, _one(stub, args.verb, args.id, args.timeout), args.timeout)
    show_run(run, args)
    return 0


def _one(stub: Any, verb: str, run_id: str, timeout: float) -> mpb.MatchRun:
    if verb == "get":
        return stub.GetMatchRun(mpb.GetMatchRunRequest(id=run_id), timeout=timeout)  # type: ignore[no-any-return]
    if verb == "commit":
        request = mpb.CommitMatchRunRequest(id=run_id, request_id=f"commit-{run_id}")
        return stub.CommitMatchRun(request, timeout=timeout)  # type: ignore[no-any-return]
    if verb == "discard":
        return stub.DiscardMatchRun(mpb.DiscardMatchRunRequest(id=run_id), timeout=timeout)  # type: ignore[no-any-return]
    return stub.CancelMatchRun(mpb.CancelMatchRunRequest(id=run_id), timeout=timeout)  # type: ignore[no-any-return]
