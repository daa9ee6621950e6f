"""`fupin cadres visit|visits|assess|recall|recalls`: cadre work, through CadreWorkService.

    fupin cadres visit CADRE_ID HOUSEHOLD_ID --date YYYY-MM-DD --done TEXT [--follow-up TEXT]
    fupin cadres visits (--cadre ID | --household ID) [--limit N]
    fupin cadres assess --from YYYY-MM-DD --to YYYY-MM-DD [--region CODE] [--year YYYY]
                        [--overdue-days N] [--unit county|township|village]
    fupin cadres recall CADRE_ID --reason TEXT
    fupin cadres recalls [--cadre ID]

Only the cadre's office region records and reads its work (proto/fupin/registry/v1/
cadre_work_service.proto). `assess` prints a table per unit, or --output json|csv.
"""

from __future__ import annotations

import argparse
import csv
import sys
import uuid
from contextlib import AbstractContextManager
from typing import Any

from google.protobuf import json_format

from clients import auth
from clients.cli.output import emit_json, print_table, say, show
from clients.cli.printers import NONE, names_from
from clients.client import CADRES, HOUSEHOLDS, VILLAGES
from clients.i18n import N_, _
from fupin.registry.v1 import cadre_work_service_pb2 as wpb
from fupin.registry.v1 import cadre_work_service_pb2_grpc as wpb_grpc

UNITS = {"county": 6, "township": 9, "village": 12}
# Assessment columns: (heading, field of CadreAssessment); CSV headers are the fields.
ASSESSMENT = (
    (N_("UNIT"), "unit"),
    (N_("#"), "unit_rank"),
    (N_("CADRE"), "cadre_id"),
    (N_("NAME"), "display_name"),
    (N_("RANK"), "rank"),
    (N_("HOUSEHOLDS"), "households"),
    (N_("VISITS"), "visits"),
    (N_("PER HOUSEHOLD"), "visits_per_household"),
    (N_("OVERDUE"), "overdue_households"),
    (N_("INCOME CHANGE YUAN"), "income_change_fen"),
    (N_("STATUS CHANGES"), "status_changes"),
    (N_("LIFTED OUT"), "lifted_out"),
    (N_("RETURNED"), "returned"),
)


def add_verbs(verbs: Any, client: argparse.ArgumentParser) -> None:
    """The cadre-work verbs of `fupin cadres`."""
    visit = verbs.add_parser("visit", parents=[client], help=_("log a visit (帮扶日志)"))
    visit.add_argument("cadre_id")
    visit.add_argument("household_id")
    visit.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    visit.add_argument("--done", required=True, help=_("what was done"))
    visit.add_argument("--follow-up", default="", help=_("what is to follow"))
    visit.set_defaults(run=run_visit)
    visits = verbs.add_parser("visits", parents=[client], help=_("a cadre's or household's visits"))
    who = visits.add_mutually_exclusive_group(required=True)
    who.add_argument("--cadre", default="")
    who.add_argument("--household", default="")
    visits.add_argument("--limit", type=int, default=50)
    visits.set_defaults(run=run_visits)
    assess = verbs.add_parser("assess", parents=[client], help=_("assess cadres (考核)"))
    assess.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    assess.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD")
    assess.add_argument("--region", default="", help=_("administrative code prefix"))
    assess.add_argument("--year", type=int, default=0, help=_("income year (default: --to's)"))
    assess.add_argument("--overdue-days", type=int, default=0, help=_("default 30"))
    assess.add_argument("--unit", choices=list(UNITS), default="township")
    assess.set_defaults(run=run_assess)
    recall = verbs.add_parser("recall", parents=[client], help=_("recall a cadre (召回)"))
    recall.add_argument("cadre_id")
    recall.add_argument("--reason", required=True)
    recall.set_defaults(run=run_recall)
    recalls = verbs.add_parser("recalls", parents=[client], help=_("recalled cadres"))
    recalls.add_argument("--cadre", default="")
    recalls.set_defaults(run=run_recalls)


def work_stub(args: argparse.Namespace) -> AbstractContextManager[Any]:
    return auth.client_stub(args.target, wpb_grpc.CadreWorkServiceStub)


def run_visit(args: argparse.Namespace) -> int:
    request = wpb.RecordVisitRequest(
        cadre_id=args.cadre_id,
        household_id=args.household_id,
        date=args.date,
        done=args.done,
        follow_up=args.follow_up,
        request_id=f"cli-{uuid.uuid4().hex[:20]}",
    )
    with work_stub(args) as stub:
        stored = stub.RecordVisit(request, timeout=args.timeout)
    if args.output == "json":
        emit_json(stored)
    else:
        show(_("visit {id}: cadre {cadre}, household {household}, {date}").format(
            id=stored.id, cadre=stored.cadre_id, household=stored.household_id, date=stored.date
        ))  # fmt: skip
    return 0


def run_visits(args: argparse.Namespace) -> int:
    request = wpb.ListVisitsRequest(
        cadre_id=args.cadre, household_id=args.household, page_size=args.limit
    )
    with work_stub(args) as stub:
        found = list(stub.ListVisits(request, timeout=args.timeout).visits)
    if args.output == "json":
        for v in found:
            emit_json(v)
    elif args.output == "csv":
        _csv(found, ("id", "cadre_id", "household_id", "date", "done", "follow_up"))
    elif found:
        with names_from(args.target, args.timeout) as names:  # one call per kind
            cadres = names.of(CADRES, (v.cadre_id for v in found))
            heads = names.of(HOUSEHOLDS, (v.household_id for v in found))
        print_table(
            [_("DATE"), _("CADRE"), _("NAME"), _("HOUSEHOLD"), _("HEAD"), _("DONE"),
             _("FOLLOW-UP")],
            [
                [v.date, v.cadre_id, cadres[v.cadre_id] or NONE, v.household_id,
                 heads[v.household_id] or NONE, v.done, v.follow_up]
                for v in found
            ],
        )  # fmt: skip
    else:
        say(_("none"))
    return 0


def run_assess(args: argparse.Namespace) -> int:
    request = wpb.AssessCadresRequest(
        region_code=args.region,
        period_start=args.start,
        period_end=args.end,
        year=args.year,
        overdue_days=args.overdue_days,
        unit_digits=UNITS[args.unit],
    )
    with work_stub(args) as stub:
        found = stub.AssessCadres(request, timeout=args.timeout)
    if args.output == "json":
        emit_json(found)
    elif args.output == "csv":
        _csv(list(found.cadres), tuple(field for _h, field in ASSESSMENT))
    else:
        print_assessment(found)
    return 0


def print_assessment(found: wpb.AssessCadresResponse) -> None:
    show(_("assessment {start} to {end}: income {year} against {before}; overdue after "
           "{days} days without a visit").format(
        start=found.period_start, end=found.period_end, year=found.year,
        before=found.year - 1, days=found.overdue_days,
    ))  # fmt: skip
    if not found.cadres:
        say(_("none"))
        return
    print_table([_(heading) for heading, _f in ASSESSMENT], [_row(x) for x in found.cadres])


def _row(x: wpb.CadreAssessment) -> list[str]:
    return [
        x.unit,
        f"{x.unit_rank}/{x.unit_size}",
        x.cadre_id,
        x.display_name,
        str(x.rank),
        str(x.households),
        str(x.visits),
        f"{x.visits_per_household:.1f}",
        str(x.overdue_households),
        f"{x.income_change_fen / 100:,.2f}",
        str(x.status_changes),
        str(x.lifted_out),
        str(x.returned),
    ]


def run_recall(args: argparse.Namespace) -> int:
    request = wpb.RecallCadreRequest(
        cadre_id=args.cadre_id, reason=args.reason, request_id=f"cli-{uuid.uuid4().hex[:20]}"
    )
    with work_stub(args) as stub:
        done = stub.RecallCadre(request, timeout=args.timeout)
    if args.output == "json":
        emit_json(done)
    else:
        show(_("recall {id}: cadre {cadre} released from {village}, {n} households released; "
               "run `fupin cadres contract` to contract them again").format(
            id=done.id, cadre=done.cadre_id, village=done.released_village_id or "-",
            n=len(done.released_household_ids),
        ))  # fmt: skip
    return 0


def run_recalls(args: argparse.Namespace) -> int:
    with work_stub(args) as stub:
        found = list(
            stub.ListRecalls(
                wpb.ListRecallsRequest(cadre_id=args.cadre), timeout=args.timeout
            ).recalls
        )
    if args.output == "json":
        for r in found:
            emit_json(r)
    elif args.output == "csv":
        _csv(found, ("id", "cadre_id", "released_village_id", "reason", "time"))
    elif found:
        with names_from(args.target, args.timeout) as names:  # one call per kind
            cadres = names.of(CADRES, (r.cadre_id for r in found))
            villages = names.of(VILLAGES, (r.released_village_id for r in found))
        print_table(
            [_("RECALL"), _("CADRE"), _("NAME"), _("VILLAGE"), _("VILLAGE NAME"), _("HOUSEHOLDS"),
             _("REASON")],
            [
                [r.id, r.cadre_id, cadres[r.cadre_id] or NONE, r.released_village_id or NONE,
                 villages.get(r.released_village_id) or NONE,
                 str(len(r.released_household_ids)), r.reason]
                for r in found
            ],
        )  # fmt: skip
    else:
        say(_("none"))
    return 0


def _csv(items: list[Any], fields: tuple[str, ...]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(fields)
    for item in items:
        values = json_format.MessageToDict(
            item, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        writer.writerow([values.get(f, "") for f in fields])
