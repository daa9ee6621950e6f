"""`fupin aid …`: aid allocation runs and the ledger from the command line.

    fupin aid allocate --programme ID [--programme ID …] [--region CODE]
                       [--objective need|reach-first] [--cap-fen N] [--exclusive ID,ID]
                       [--time-limit S] [--commit] [--chart FILE.png]
    fupin aid ledger [--household ID] [--programme ID] [--run ID] [--limit N]
    fupin aid verify [--checkpoint FILE [--public-key FILE.pub]]
    fupin aid verify --entries FILE [--checkpoint FILE --public-key FILE.pub]   (offline)
    fupin aid export-ledger FILE
    fupin aid keygen FILE
    fupin aid checkpoint [--out FILE]
    fupin aid spending [--region CODE]
    fupin aid chart [--region CODE] [--out FILE.png]
    fupin aid export [--region CODE] [--out FILE.csv]

`allocate` shows the solver's progress (WatchMatchRun) while the run is solved, then a summary;
--commit commits the proposed run (one ledger entry per grant). `verify` exits 1 when the
ledger was tampered with; with --checkpoint it first checks the file's signature here, without
the server (with --public-key: that it is this key's), then has the server hold the chain
against it, which catches a rewrite with recomputed hashes. With --entries (a file that
`export-ledger` wrote) it checks that file with no server at all (clients/cli/ledger.py).
`keygen` writes an Ed25519
signing key (FILE, mode 0600) and its public key (FILE.pub) for the server's
FUPIN_LEDGER_SIGNING_KEY_FILE; `checkpoint` has the server sign the ledger's head.
`chart` draws committed spending by cause of poverty.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections import defaultdict
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from clients import auth
from clients.cli.ledger import run_export_ledger, run_ledger, verify_offline
from clients.cli.output import emit_csv_rows, emit_json, print_table, say, show
from clients.cli.runs import matcher, progress_line, show_run, solve_with_progress
from clients.i18n import _, enum_name
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import resources_pb2 as pb

OBJECTIVES = {"need": mpb.AID_NEED, "reach-first": mpb.AID_REACH_FIRST}


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    aid = commands.add_parser("aid", help=_("allocate aid; read and verify the ledger"))
    verbs = aid.add_subparsers(dest="aid_verb", required=True, metavar="VERB")
    allocate = verbs.add_parser("allocate", parents=[client], help=_("programmes to households"))
    allocate.add_argument("--programme", action="append", required=True, help=_("programme id"))
    allocate.add_argument("--region", default="", help=_("administrative code prefix"))
    allocate.add_argument("--objective", choices=list(OBJECTIVES), default="need")
    allocate.add_argument("--cap-fen", type=int, default=0, help=_("total per household (fen)"))
    allocate.add_argument(
        "--exclusive", action="append", default=[], help=_("ID,ID: at most one of these")
    )
    allocate.add_argument(
        "--quota",
        action="append",
        default=[],
        type=_quota,
        metavar="PROGRAMME:REGION=PERMILLE",
        help=_("at least PERMILLE/1000 of the programme's budget to households of REGION"),
    )
    allocate.add_argument("--time-limit", type=float, default=30.0, help=_("seconds"))
    allocate.add_argument("--commit", action="store_true", help=_("commit the proposed run"))
    allocate.add_argument("--chart", type=Path, help=_("PNG of the grants by cause of poverty"))
    allocate.set_defaults(run=run_allocate)
    ledger = verbs.add_parser("ledger", parents=[client], help=_("ledger entries, oldest first"))
    ledger.add_argument("--household", default="")
    ledger.add_argument("--programme", default="")
    ledger.add_argument("--run", dest="run_id", default="")
    ledger.add_argument("--limit", type=int, default=100)
    ledger.set_defaults(run=run_ledger)
    verify = verbs.add_parser("verify", parents=[client], help=_("check the hash chain"))
    verify.add_argument("--checkpoint", type=Path, help=_("a checkpoint file to hold it against"))
    verify.add_argument(
        "--public-key", type=Path, help=_("the key the checkpoint must be signed by")
    )
    verify.add_argument(
        "--entries", type=Path, help=_("an export-ledger file to check here, without the server")
    )
    verify.set_defaults(run=run_verify)
    export_ledger = verbs.add_parser(
        "export-ledger", parents=[client], help=_("every ledger entry to a file, to verify offline")
    )
    export_ledger.add_argument("file", type=Path)
    export_ledger.set_defaults(run=run_export_ledger)
    keygen = verbs.add_parser("keygen", help=_("a new checkpoint signing key (FILE, FILE.pub)"))
    keygen.add_argument("file", type=Path)
    keygen.set_defaults(run=run_keygen)
    checkpoint = verbs.add_parser("checkpoint", parents=[client], help=_("sign the ledger's head"))
    checkpoint.add_argument("--out", type=Path, help=_("write the checkpoint file here"))
    checkpoint.set_defaults(run=run_checkpoint)
    spending = verbs.add_parser("spending", parents=[client], help=_("per programme and county"))
    spending.add_argument("--region", default="")
    spending.set_defaults(run=run_spending)
    chart = verbs.add_parser("chart", parents=[client], help=_("spending by cause of poverty"))
    chart.add_argument("--region", default="")
    chart.add_argument("--out", type=Path, default=Path("aid_by_cause.png"))
    chart.set_defaults(run=run_chart)
    export = verbs.add_parser("export", parents=[client], help=_("masked CSV for publication"))
    export.add_argument("--region", default="")
    export.add_argument("--out", type=Path, help=_("default: stdout"))
    export.set_defaults(run=run_export)


def stubs(args: argparse.Namespace) -> AbstractContextManager[lpb_grpc.LedgerServiceStub]:
    """The LedgerService stub; gRPC errors leave as the client's typed errors."""
    return auth.client_stub(args.target, lpb_grpc.LedgerServiceStub)


def run_allocate(args: argparse.Namespace) -> int:
    run_id = f"cli-{uuid.uuid4().hex[:20]}"
    request = mpb.AllocateAidRequest(
        selection=mpb.AidSelection(region_code=args.region, programme_ids=args.programme),
        rules=mpb.AidRules(
            objective=OBJECTIVES[args.objective],
            household_cap_fen=args.cap_fen,
            exclusive_groups=[
                mpb.ExclusiveGroup(programme_ids=group.split(",")) for group in args.exclusive
            ],
            quotas=args.quota,
        ),
        parameters=mpb.SolveParameters(time_limit_s=args.time_limit),
        run_id=run_id,
        request_id=run_id,
    )
    with matcher(args, args.time_limit + args.timeout + 30) as client:
        run = solve_with_progress(client, "AllocateAid", request, _progress)
        if args.commit and run.state == mpb.PROPOSED:
            run = client.commit(run.id, request_id=f"commit-{run.id}")
    show_run(run, args)
    if args.chart:
        say(_("chart: {path}").format(path=_chart(_by_cause(run), args.chart, _title(run))))
    return 0 if run.state in (mpb.PROPOSED, mpb.COMMITTED) else 1


def _quota(text: str) -> mpb.AidQuota:
    programme, _sep, rest = text.partition(":")
    region, _eq, permille = rest.partition("=")
    try:
        return mpb.AidQuota(
            programme_id=programme, region_code=region, min_share_permille=int(permille)
        )
    except ValueError:
        why = _("wants PROGRAMME:REGION=PERMILLE, got {text}").format(text=repr(text))
        raise argparse.ArgumentTypeError(why) from None


def _progress(event: mpb.MatchRunEvent) -> str:
    return progress_line(event, _("need value {value}"))  # a score, never yuan


def _by_cause(run: mpb.MatchRun) -> dict[str, int]:
    """A grant's amount split evenly among the causes it matched."""
    out: dict[str, int] = defaultdict(int)
    for g in run.aid.grants:
        causes = [pb.PovertyCause.Name(c).lower() for c in g.causes_matched] or ["unspecified"]
        for cause in causes:
            out[cause] += g.amount_fen // len(causes)
    return dict(out)


def _title(run: mpb.MatchRun) -> str:
    state = enum_name(mpb.RunState.DESCRIPTOR, run.state)
    return _("Aid by cause of poverty, run {id} ({state})").format(id=run.id, state=state)


def run_verify(args: argparse.Namespace) -> int:
    if args.entries is not None:
        return verify_offline(args)
    document = ""
    if args.checkpoint:
        document = args.checkpoint.read_text()
        bad = _bad_signature(document, args.public_key)
        if bad:
            show(_("checkpoint {file} {reason}").format(file=args.checkpoint, reason=bad))
            return 1
    request = lpb.VerifyLedgerRequest(checkpoint=document)
    with stubs(args) as ledger:
        result = ledger.VerifyLedger(request, timeout=args.timeout)
    if args.output == "json":
        emit_json(result)
    elif result.intact:
        message = _("ledger intact: {entries} entries checked")
        if result.checkpoints:
            message = _("ledger intact: {entries} entries checked, {checkpoints} checkpoints held")
        show(message.format(entries=f"{result.entries:,}", checkpoints=result.checkpoints))
    else:
        message = _("ledger BROKEN: {reason}")
        if result.first_broken_seq:
            message = _("ledger BROKEN at entry {seq}: {reason}")
        show(message.format(seq=result.first_broken_seq, reason=result.reason))
    return 0 if result.intact else 1


def _bad_signature(document: str, public_key: Path | None) -> str:
    """Why the checkpoint's signature does not hold ("" if it does), checked here alone."""
    from registry.ledger import signing  # pure: cryptography and json (its module doc)

    try:
        checkpoint = signing.parse(document)
        if public_key is not None:
            signing.verify(checkpoint, trusted=signing.load_public_key(public_key))
    except (signing.CheckpointError, OSError) as exc:
        return str(exc)
    return ""


def run_keygen(args: argparse.Namespace) -> int:
    from registry.ledger import signing

    try:
        ident = signing.generate(args.file)
    except FileExistsError:
        say(_("{file} exists: keygen never overwrites a key").format(file=args.file))
        return 2
    show(
        _("key {key_id}: private {file} (keep it outside the database), public {file}.pub").format(
            key_id=ident, file=args.file
        )
    )
    return 0


def run_checkpoint(args: argparse.Namespace) -> int:
    request = lpb.CreateLedgerCheckpointRequest()
    with stubs(args) as ledger:
        made = ledger.CreateLedgerCheckpoint(request, timeout=args.timeout * 10)
    if args.out is not None:
        args.out.write_text(made.document + "\n")
    if args.output == "json":
        emit_json(made)
    else:
        show(
            _("checkpoint: entry {seq}, hash {hash}, key {key_id}").format(
                seq=made.seq, hash=made.head_hash, key_id=made.key_id
            )
        )
    return 0


def run_spending(args: argparse.Namespace) -> int:
    with stubs(args) as ledger:
        programmes = ledger.GetProgrammeSpending(
            lpb.GetProgrammeSpendingRequest(), timeout=args.timeout
        ).programmes
        totals = ledger.SpendingTotals(
            lpb.SpendingTotalsRequest(region_code=args.region), timeout=args.timeout
        )
    if args.output == "json":
        emit_json(lpb.GetProgrammeSpendingResponse(programmes=programmes))
        emit_json(totals)
        return 0
    if args.output == "csv":  # the programmes, in fen as the API has them
        fields = ["programme_id", "display_name", "budget_fen", "spent_fen", "remaining_fen"]
        emit_csv_rows(
            [*fields, "grants"],
            [[*(str(getattr(p, f)) for f in fields), str(p.grants)] for p in programmes],
        )
        return 0
    yuan = [
        [
            p.programme_id,
            p.display_name,
            *(f"{v / 100:,.2f}" for v in (p.budget_fen, p.spent_fen, p.remaining_fen)),
            str(p.grants),
        ]
        for p in programmes
    ]
    headings = [_("PROGRAMME"), _("NAME"), _("BUDGET"), _("SPENT"), _("REMAINING"), _("GRANTS")]
    print_table(headings, yuan)
    counties = [[t.key, f"{t.amount_fen / 100:,.2f}", str(t.households)] for t in totals.counties]
    if counties:
        show("")
        print_table([_("COUNTY"), _("GRANTED YUAN"), _("HOUSEHOLDS")], counties)
    return 0


def run_chart(args: argparse.Namespace) -> int:
    with stubs(args) as ledger:
        totals = ledger.SpendingTotals(
            lpb.SpendingTotalsRequest(region_code=args.region), timeout=args.timeout
        )
    title = _("Committed aid by cause of poverty ({amount} × 10,000 yuan)")
    if args.region:
        title = _("Committed aid by cause of poverty in {region} ({amount} × 10,000 yuan)")
    title = title.format(region=args.region, amount=f"{totals.total_fen / 1e6:,.2f}")
    path = _chart({t.key: t.amount_fen for t in totals.causes}, args.out, title)
    show(str(path))
    return 0


def run_export(args: argparse.Namespace) -> int:
    request = lpb.ExportTransparencyRequest(region_code=args.region)
    with stubs(args) as ledger:
        chunks = ledger.ExportTransparency(request, timeout=args.timeout * 10)
        if args.out is None:
            for chunk in chunks:
                sys.stdout.write(chunk.data.decode())
            return 0
        with args.out.open("wb") as out:
            for chunk in chunks:
                out.write(chunk.data)
    say(_("wrote {path}").format(path=args.out))
    return 0


def _chart(by_cause: Mapping[str, int], out: Path, title: str) -> Path:
    """The chart, with matplotlib imported only when one is drawn (it doubles the CLI's start)."""
    from clients.aid_charts import spending_by_cause

    return spending_by_cause(by_cause, out, title)
