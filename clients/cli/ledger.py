"""`fupin aid ledger`: ledger entries, oldest first, with who each id stands for.

    fupin aid ledger [--household ID] [--programme ID] [--run ID] [--limit N]

An entry's subject and counterpart are of kinds its own kind says (proto LedgerEntryKind):
a listing and an order (shown by their producer's and buyer's names), a household and a
programme, a cadre and a village, a household and a cadre or a cooperative. Their names are
read in one BatchGetResources call per kind for the whole page, never one call per entry;
what the key may not read stays an id. `--output csv` has a name column beside each id,
`--output json` the entries as the server sends them.

    fupin aid export-ledger FILE
    fupin aid verify --entries FILE [--checkpoint FILE --public-key FILE.pub]

`export-ledger` writes every entry (ListLedgerEntries, page by page: an admin's or an unscoped
auditor's key, or the file has gaps) to FILE; `verify --entries` checks such a file here, with
no server and no database, against a checkpoint signed with the key given (clients/ledger_file.py).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from clients import auth
from clients.cli.cells import when
from clients.cli.output import emit_json, print_table, say, show
from clients.cli.printers import NONE, names_from
from clients.client import (
    AID_PROGRAMS,
    CADRES,
    HOUSEHOLDS,
    LISTINGS,
    ORDERS,
    PRODUCERS,
    VILLAGES,
    Kind,
)
from clients.i18n import _, enum_name
from clients.names import Names
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc

_SALE = (LISTINGS, ORDERS)
_AID = (HOUSEHOLDS, AID_PROGRAMS)
# Each entry kind's (subject kind, counterpart kind).
PARTIES: Mapping[int, tuple[Kind[Any], Kind[Any]]] = MappingProxyType(
    {
        lpb.PRODUCE_COMMIT: _SALE,
        lpb.SHIPMENT_DISPATCH: _SALE,
        lpb.SHIPMENT_RECEIPT: _SALE,
        lpb.SHIPMENT_REJECTION: _SALE,
        lpb.SHIPMENT_CANCEL: _SALE,
        lpb.PAYMENT: _SALE,
        lpb.AID_GRANT: _AID,
        lpb.AID_DISBURSEMENT: _AID,
        lpb.AID_RECEIPT: _AID,
        lpb.AID_CLAWBACK: _AID,
        lpb.CADRE_POSTING: (CADRES, VILLAGES),
        lpb.HOUSEHOLD_CONTRACT: (HOUSEHOLDS, CADRES),
        lpb.DIVIDEND: (HOUSEHOLDS, PRODUCERS),
    }
)
CSV_HEADER = [
    *("seq", "time", "kind", "run_id", "subject_id", "subject_name", "counterpart_id"),
    *("counterpart_name", "quantity_kg", "amount_fen", "hash"),
]


def run_ledger(args: argparse.Namespace) -> int:
    request = lpb.ListLedgerEntriesRequest(
        household_id=args.household,
        programme_id=args.programme,
        run_id=args.run_id,
        page_size=min(max(args.limit, 1), 1000),
    )
    with auth.client_stub(args.target, lpb_grpc.LedgerServiceStub) as ledger:
        entries = list(ledger.ListLedgerEntries(request, timeout=args.timeout).entries)
    if args.output == "json":
        for entry in entries:
            emit_json(entry)
        return 0
    with names_from(args.target, args.timeout) as names:
        _load(entries, names)
        named = [(e, *_parties(e, names)) for e in entries]
    if args.output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(_csv_row(e, subject, counterpart) for e, subject, counterpart in named)
        return 0
    if not entries:
        say(_("no ledger entries"))
        return 0
    headings = [_("SEQ"), _("TIME"), _("KIND"), _("RUN"), _("SUBJECT"), _("NAME")]
    headings += [_("COUNTERPART"), _("NAME"), _("KG"), _("YUAN"), _("HASH")]
    print_table(headings, [_row(e, subject, counterpart) for e, subject, counterpart in named])
    if args.household:
        show(_money_trail(entries))
    return 0


def _load(entries: list[lpb.LedgerEntry], names: Names) -> None:
    """One read per kind (two for listings and orders: them, then their owners)."""
    ids: dict[str, tuple[Kind[Any], set[str]]] = {}
    for e in entries:
        kinds = PARTIES.get(e.kind)
        if kinds is None:
            continue
        for kind, resource_id in zip(kinds, (e.subject_id, e.counterpart_id), strict=True):
            ids.setdefault(kind.plural, (kind, set()))[1].add(resource_id)
    for kind, wanted in ids.values():
        names.load_parties(kind, wanted)


def _parties(e: lpb.LedgerEntry, names: Names) -> tuple[str, str]:
    kinds = PARTIES.get(e.kind)
    if kinds is None:
        return "", ""
    return names.party(kinds[0], e.subject_id), names.party(kinds[1], e.counterpart_id)


def _row(e: lpb.LedgerEntry, subject: str, counterpart: str) -> list[str]:
    return [
        str(e.seq),
        when(e.time),
        enum_name(lpb.LedgerEntryKind.DESCRIPTOR, e.kind),
        e.run_id or NONE,
        e.subject_id or NONE,
        subject or NONE,
        e.counterpart_id or NONE,
        counterpart or NONE,
        f"{e.quantity_kg:,}" if e.quantity_kg else "",
        f"{e.amount_fen / 100:,.2f}" if e.amount_fen else "",
        e.hash[:12],
    ]


def _csv_row(e: lpb.LedgerEntry, subject: str, counterpart: str) -> list[str]:
    return [
        str(e.seq),
        e.time.ToJsonString() if e.time.seconds else "",
        lpb.LedgerEntryKind.Name(e.kind),
        e.run_id,
        e.subject_id,
        subject,
        e.counterpart_id,
        counterpart,
        str(e.quantity_kg),
        str(e.amount_fen),
        e.hash,
    ]


def _money_trail(entries: list[lpb.LedgerEntry]) -> str:
    """What the household received in money: aid granted, its produce paid for, dividends."""
    aid = sum(e.amount_fen for e in entries if e.kind == lpb.AID_GRANT)
    sales = sum(e.amount_fen for e in entries if e.kind == lpb.PAYMENT)
    dividends = sum(e.amount_fen for e in entries if e.kind == lpb.DIVIDEND)
    return _(
        "received {total} yuan: aid {aid}, produce sales {sales}, dividends {dividends}"
    ).format(
        total=f"{(aid + sales + dividends) / 100:,.2f}",
        aid=f"{aid / 100:,.2f}",
        sales=f"{sales / 100:,.2f}",
        dividends=f"{dividends / 100:,.2f}",
    )


def verify_offline(args: argparse.Namespace) -> int:
    """The exported entries held against the checkpoint, here alone."""
    from clients import ledger_file  # hashes with the registry's pure code (its module doc)

    checkpoint = None
    if args.checkpoint is not None:
        if args.public_key is None:
            say(_("--checkpoint with --entries needs --public-key: the key you trust"))
            return 2
        try:
            checkpoint = ledger_file.trusted(args.checkpoint.read_text(), args.public_key)
        except (ValueError, OSError) as exc:
            show(_("checkpoint {file} {reason}").format(file=args.checkpoint, reason=exc))
            return 1
    with args.entries.open(encoding="utf-8") as lines:
        result = ledger_file.check(lines, checkpoint)
    if args.output == "json":
        emit_json(
            lpb.VerifyLedgerResponse(
                intact=result.intact,
                entries=result.entries,
                first_broken_seq=result.broken_seq,
                reason=result.reason,
                checkpoints=int(checkpoint is not None),
            )
        )
    elif not result.intact:
        show(_("ledger export BROKEN: {reason}").format(reason=result.reason))
    elif checkpoint is None:
        message = _("export intact: {entries} entries chained (no checkpoint: a rewrite of every "
                    "hash would pass too)")  # fmt: skip
        show(message.format(entries=f"{result.entries:,}"))
    else:
        message = _("export intact: {entries} entries checked; entry {seq} has the hash the "
                    "checkpoint of {time} signed with key {key_id}")  # fmt: skip
        show(
            message.format(
                entries=f"{result.entries:,}",
                seq=checkpoint.seq,
                time=checkpoint.time,
                key_id=checkpoint.key_id,
            )
        )
    return 0 if result.intact else 1


def run_export_ledger(args: argparse.Namespace) -> int:
    """Every entry, page by page, to FILE (written beside it first and removed on an error, so
    that an export cut short never stands as FILE)."""
    from clients import ledger_file

    part = args.file.with_name(args.file.name + ".part")
    try:
        with (
            auth.client_stub(args.target, lpb_grpc.LedgerServiceStub) as ledger,
            part.open("w", encoding="utf-8") as out,
        ):
            count, last = ledger_file.write(_pages(ledger, args.timeout), out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(args.file)
    message = _("{entries} ledger entries written to {file}, up to entry {seq}")
    show(message.format(entries=f"{count:,}", file=args.file, seq=last))
    return 0


def _pages(
    ledger: lpb_grpc.LedgerServiceStub, timeout: float
) -> Iterator[Sequence[lpb.LedgerEntry]]:
    token = ""
    while True:
        request = lpb.ListLedgerEntriesRequest(page_size=1000, page_token=token)
        page = ledger.ListLedgerEntries(request, timeout=timeout)
        yield page.entries
        token = page.next_page_token
        if not token:
            return
