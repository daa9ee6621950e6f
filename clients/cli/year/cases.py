"""`fupin case …` and `fupin notice`: identification and exit cases, through YearService.

    fupin case propose HOUSEHOLD_ID [--exit --reason TEXT] [--note TEXT]
    fupin case review CASE_ID (--approve | --reject) [--for N] [--against N] [--note TEXT]
    fupin case notice CASE_ID --from YYYY-MM-DD --to YYYY-MM-DD --place TEXT
    fupin case object CASE_ID --objector NAME --text TEXT
    fupin case resolve CASE_ID OBJECTION_ID (--uphold | --dismiss) --resolution TEXT
    fupin case approve CASE_ID [--note TEXT]
    fupin case file CASE_ID [--note TEXT]
    fupin case show CASE_ID
    fupin case list [--village ID] [--household ID] [--state STATE] [--kind KIND]
    fupin notice VILLAGE_ID [--format csv|html] [--out FILE]

Which steps a key may make follows its scope (the village committee: one village's code; a
township: 7-11 digits; the county: 6 or fewer): proto/fupin/registry/v1/year_service.proto.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from clients import auth
from clients.cli.cells import when
from clients.cli.output import emit, print_table, say
from clients.cli.printers import names_from
from clients.cli.year.states import case_state, state_name
from clients.i18n import _, enum_name
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc

STATES = [v.name.lower() for v in ypb.CaseState.DESCRIPTOR.values if v.number]
KINDS = [v.name.lower() for v in ypb.CaseKind.DESCRIPTOR.values if v.number]


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    case = commands.add_parser("case", help=_("identification and exit cases (识别/退出)"))
    verbs = case.add_subparsers(dest="case_verb", required=True, metavar="VERB")
    propose = verbs.add_parser("propose", parents=[client], help=_("open a case"))
    propose.add_argument("household_id")
    propose.add_argument(
        "--exit", action="store_true", help=_("an exit case (default: identification)")
    )
    propose.add_argument("--reason", default="", help=_("required for an exit"))
    propose.add_argument("--note", default="")
    propose.set_defaults(run=run_propose)
    review = verbs.add_parser("review", parents=[client], help=_("the village review's outcome"))
    review.add_argument("case_id")
    outcome = review.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--approve", action="store_true")
    outcome.add_argument("--reject", action="store_true")
    review.add_argument("--for", dest="votes_for", type=int, default=0)
    review.add_argument("--against", dest="votes_against", type=int, default=0)
    review.add_argument("--note", default="")
    review.set_defaults(run=run_review)
    notice = verbs.add_parser("notice", parents=[client], help=_("put a case on public notice"))
    notice.add_argument("case_id")
    notice.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    notice.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD")
    notice.add_argument("--place", required=True, help=_("where the notice is posted"))
    notice.set_defaults(run=run_notice)
    objection = verbs.add_parser("object", parents=[client], help=_("record an objection"))
    objection.add_argument("case_id")
    objection.add_argument("--objector", required=True)
    objection.add_argument("--text", required=True)
    objection.set_defaults(run=run_object)
    resolve = verbs.add_parser("resolve", parents=[client], help=_("resolve an objection"))
    resolve.add_argument("case_id")
    resolve.add_argument("objection_id", type=int)
    verdict = resolve.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--uphold", action="store_true", help=_("upheld: the case is rejected"))
    verdict.add_argument("--dismiss", action="store_true")
    resolve.add_argument("--resolution", required=True)
    resolve.set_defaults(run=run_resolve)
    for name, run in (("approve", run_approve), ("file", run_file)):
        sub = verbs.add_parser(name, parents=[client], help=_("the county's step"))
        sub.add_argument("case_id")
        sub.add_argument("--note", default="")
        sub.set_defaults(run=run)
    show = verbs.add_parser("show", parents=[client], help=_("a case and its history"))
    show.add_argument("case_id")
    show.set_defaults(run=run_show)
    listing = verbs.add_parser("list", parents=[client], help=_("cases, newest first"))
    listing.add_argument("--village", default="")
    listing.add_argument("--household", default="")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--kind", choices=KINDS)
    listing.set_defaults(run=run_list)
    export = commands.add_parser("notice", parents=[client], help=_("a village's public notice"))
    export.add_argument("village_id")
    export.add_argument("--format", choices=["csv", "html"], default="csv")
    export.add_argument("--out", type=Path, help=_("write to this file (default: stdout)"))
    export.set_defaults(run=run_export)


def year_stub(args: argparse.Namespace) -> AbstractContextManager[Any]:
    return auth.client_stub(args.target, ypb_grpc.YearServiceStub)


def _step(args: argparse.Namespace, method: str, request: Any) -> int:
    with year_stub(args) as stub:
        case = getattr(stub, method)(request, timeout=args.timeout)
    say(_("case {id}: {state}").format(id=case.id, state=case_state(case)))
    _emit(args, [case], args.output)
    return 0


def _emit(args: argparse.Namespace, cases: list[Any], output: str) -> None:
    """Cases with the household head's and the village's names beside their ids (one
    BatchGetResources call per kind, whatever the number of cases)."""
    with names_from(args.target, args.timeout) as names:
        emit("cases", cases, output, names)


def run_propose(args: argparse.Namespace) -> int:
    kind = ypb.EXIT if args.exit else ypb.IDENTIFICATION
    request = ypb.ProposeCaseRequest(
        household_id=args.household_id, kind=kind, reason=args.reason, note=args.note
    )
    return _step(args, "ProposeCase", request)


def run_review(args: argparse.Namespace) -> int:
    request = ypb.ReviewCaseRequest(
        case_id=args.case_id,
        approved=args.approve,
        votes_for=args.votes_for,
        votes_against=args.votes_against,
        note=args.note,
    )
    return _step(args, "ReviewCase", request)


def run_notice(args: argparse.Namespace) -> int:
    request = ypb.StartNoticeRequest(
        case_id=args.case_id, notice_start=args.start, notice_end=args.end, notice_place=args.place
    )
    return _step(args, "StartNotice", request)


def run_object(args: argparse.Namespace) -> int:
    request = ypb.RecordObjectionRequest(
        case_id=args.case_id, objector=args.objector, text=args.text
    )
    return _step(args, "RecordObjection", request)


def run_resolve(args: argparse.Namespace) -> int:
    request = ypb.ResolveObjectionRequest(
        case_id=args.case_id,
        objection_id=args.objection_id,
        upheld=args.uphold,
        resolution=args.resolution,
    )
    return _step(args, "ResolveObjection", request)


def run_approve(args: argparse.Namespace) -> int:
    return _step(args, "ApproveCase", ypb.ApproveCaseRequest(case_id=args.case_id, note=args.note))


def run_file(args: argparse.Namespace) -> int:
    return _step(args, "FileCase", ypb.FileCaseRequest(case_id=args.case_id, note=args.note))


def run_show(args: argparse.Namespace) -> int:
    with year_stub(args) as stub:
        case = stub.GetCase(ypb.GetCaseRequest(case_id=args.case_id), timeout=args.timeout)
    if args.output != "table":  # the case itself: JSON, or its line of `case list --output csv`
        _emit(args, [case], args.output)
        return 0
    _emit(args, [case], "table")
    print_table(
        [_("TIME"), _("STEP"), _("STATE"), _("BY"), _("NOTE")],
        [
            [
                when(s.time),
                s.step,
                state_name(case.kind, s.new_state),
                enum_name(ypb.Actor.DESCRIPTOR, s.actor),
                s.note,
            ]
            for s in case.history
        ],
    )
    for o in case.objections:
        say(
            _("objection {id} by {objector}: {text} ({state}) {resolution}").format(
                id=o.id,
                objector=o.objector,
                text=o.text,
                state=enum_name(ypb.ObjectionState.DESCRIPTOR, o.state),
                resolution=o.resolution,
            )
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    cases: list[Any] = []
    token = ""
    with year_stub(args) as stub:
        while True:
            request = ypb.ListCasesRequest(
                village_id=args.village,
                household_id=args.household,
                state=ypb.CaseState.Value(args.state.upper())
                if args.state
                else ypb.CASE_STATE_UNSPECIFIED,
                kind=ypb.CaseKind.Value(args.kind.upper())
                if args.kind
                else ypb.CASE_KIND_UNSPECIFIED,
                page_size=500,
                page_token=token,
            )
            page = stub.ListCases(request, timeout=args.timeout)
            cases.extend(page.cases)
            token = page.next_page_token
            if not token:
                break
    _emit(args, cases, args.output)
    return 0


def run_export(args: argparse.Namespace) -> int:
    fmt = ypb.NOTICE_HTML if args.format == "html" else ypb.NOTICE_CSV
    request = ypb.ExportNoticeRequest(village_id=args.village_id, format=fmt)
    with year_stub(args) as stub:
        notice = stub.ExportNotice(request, timeout=args.timeout)
    if args.out:
        args.out.write_bytes(notice.content)
        say(_("{n} households on notice: {path}").format(n=notice.households, path=args.out))
    else:
        sys.stdout.buffer.write(notice.content)
        sys.stdout.flush()
    return 0
