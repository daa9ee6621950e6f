"""`fupin shipments batch-…` and `fupin dividends batch-pay`: a day's steps from a CSV file,
one batch RPC (all or nothing) per file.

    fupin shipments batch-dispatch FILE   columns: id[,request_id]
    fupin shipments batch-receive FILE    columns: id,received_kg[,rejected_kg,reject_reason,
                                                   paid_price_fen,request_id]
    fupin shipments batch-pay FILE        columns: shipment_id,amount_fen,paid_on[,reference,
                                                   request_id]
    fupin dividends batch-pay FILE        columns: producer_id,amount_fen[,paid_on,reference,
                                                   rule,request_id]

FILE is CSV with a header line naming the columns ("-": standard input), at most 500 rows
(the batch RPCs' limit). A refused row refuses the file and nothing is stored; the error
names it as requests[i], i counting rows from 0. A row without request_id gets a fresh one:
give request ids in the file to make a rerun after a lost answer change nothing.
"""

from __future__ import annotations

import argparse
import csv
import sys
import uuid
from collections.abc import Callable
from typing import Any

from clients import auth
from clients.cli.output import emit, emit_one, print_table
from clients.errors import UsageError
from clients.i18n import _
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc

MAX_ROWS = 500
REASONS = {"": 0, "grade": spb.REJECT_GRADE, "quality": spb.REJECT_QUALITY, "late": spb.REJECT_LATE}
RULES = {"": 0, "shares": spb.BY_SHARES, "per-kg": spb.PER_DELIVERED_KG}


def add_shipment_verbs(verbs: Any, client: argparse.ArgumentParser) -> None:
    for verb, run, what in (
        ("batch-dispatch", run_dispatch, _("dispatch the shipments of a CSV file at once")),
        ("batch-receive", run_receive, _("receive the shipments of a CSV file at once")),
        ("batch-pay", run_pay, _("record the payments of a CSV file at once")),
    ):
        parser = verbs.add_parser(verb, parents=[client], help=what)
        parser.add_argument("file", help=_("CSV with a header line; - for standard input"))
        parser.set_defaults(run=run)


def add_dividend_verbs(verbs: Any, client: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "batch-pay", parents=[client], help=_("the payouts of a CSV file at once")
    )
    parser.add_argument("file", help=_("CSV with a header line; - for standard input"))
    parser.set_defaults(run=run_dividends)


def run_dispatch(args: argparse.Namespace) -> int:
    rows = _rows(args.file, ("id",))
    requests = [spb.DispatchShipmentRequest(id=r["id"], request_id=_key(r)) for r in rows]
    return _shipments(args, "BatchDispatchShipments", spb.BatchDispatchShipmentsRequest, requests)


def run_receive(args: argparse.Namespace) -> int:
    rows = _rows(args.file, ("id", "received_kg"))
    requests = []
    for r in rows:
        request = spb.ReceiveShipmentRequest(
            id=r["id"],
            received_kg=_int(r, "received_kg"),
            rejected_kg=_int(r, "rejected_kg"),
            reject_reason=_choice(r, "reject_reason", REASONS),
            request_id=_key(r),
        )
        if r.get("paid_price_fen"):
            request.paid_price_fen = _int(r, "paid_price_fen")
        requests.append(request)
    return _shipments(args, "BatchReceiveShipments", spb.BatchReceiveShipmentsRequest, requests)


def run_pay(args: argparse.Namespace) -> int:
    rows = _rows(args.file, ("shipment_id", "amount_fen", "paid_on"))
    requests = [
        spb.RecordPaymentRequest(
            shipment_id=r["shipment_id"],
            amount_fen=_int(r, "amount_fen"),
            paid_on=r["paid_on"],
            reference=r.get("reference") or "",
            request_id=_key(r),
        )
        for r in rows
    ]
    return _shipments(args, "BatchRecordPayments", spb.BatchRecordPaymentsRequest, requests)


def run_dividends(args: argparse.Namespace) -> int:
    rows = _rows(args.file, ("producer_id", "amount_fen"))
    requests = [
        spb.PayDividendsRequest(
            producer_id=r["producer_id"],
            amount_fen=_int(r, "amount_fen"),
            paid_on=r.get("paid_on") or "",
            reference=r.get("reference") or "",
            rule=_choice(r, "rule", RULES),
            request_id=_key(r),
        )
        for r in rows
    ]
    with season_stub(args) as stub:
        paid = stub.BatchPayDividends(
            spb.BatchPayDividendsRequest(requests=requests), timeout=args.timeout
        )
    if args.output != "table":
        for response in paid.responses:
            emit_one(response, "json")
        return 0
    print_table(
        [_("BATCH"), _("HOUSEHOLD"), _("YUAN")],
        [
            [r.batch_id, d.household_id, f"{d.amount_fen / 100:,.2f}"]
            for r in paid.responses
            for d in r.dividends
        ],
    )
    return 0


def _shipments(
    args: argparse.Namespace, method: str, message: Callable[..., Any], requests: list[Any]
) -> int:
    with season_stub(args) as stub:
        done = getattr(stub, method)(message(requests=requests), timeout=args.timeout)
    emit("shipments", done.shipments, args.output)
    return 0


def season_stub(args: argparse.Namespace) -> Any:
    return auth.client_stub(args.target, spb_grpc.SeasonServiceStub)


def _rows(path: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    """The file's rows, checked for the required columns and the batch limit."""
    with open(
        sys.stdin.fileno() if path == "-" else path, encoding="utf-8", closefd=path != "-"
    ) as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise UsageError(
                _("{file}: missing columns {columns}").format(file=path, columns=", ".join(missing))
            )
        rows = list(reader)
    if not 1 <= len(rows) <= MAX_ROWS:
        raise UsageError(
            _("{file}: {count} rows; a batch holds 1-{limit}").format(
                file=path, count=len(rows), limit=MAX_ROWS
            )
        )
    return rows


def _int(row: dict[str, str], column: str) -> int:
    text = (row.get(column) or "0").strip()
    try:
        return int(text)
    except ValueError:
        raise UsageError(
            _("{column}: expected a whole number, got {value}").format(column=column, value=text)
        ) from None


def _choice(row: dict[str, str], column: str, choices: dict[str, int]) -> Any:
    text = (row.get(column) or "").strip()
    if text not in choices:
        raise UsageError(
            _("{column}: expected one of {choices}, got {value}").format(
                column=column, choices=", ".join(c for c in choices if c), value=text
            )
        )
    return choices[text]


def _key(row: dict[str, str]) -> str:
    return (row.get("request_id") or "").strip() or f"cli-{uuid.uuid4().hex}"
