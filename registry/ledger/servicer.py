"""LedgerService servicer: verification, entries, spending and the transparency export.

Read-only by design: the ledger is written by commits alone (registry/runs/commit.py) and
no RPC here or anywhere updates or deletes an entry.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import resources_pb2 as pb
from registry.access import audit
from registry.access import policy as access
from registry.access.redaction import SENSITIVE_CAUSES
from registry.errors import FieldViolation, InvalidArgument
from registry.ledger import checkpoints, signing
from registry.ledger import reports as ledger_reports
from registry.resources import models, query
from registry.resources.convert import timestamp
from registry.resources.requests import REGION_CODE, RESOURCE_ID
from registry.resources.store import RegistryStore
from registry.runs.aid import GRANT_ENTRY
from registry.season import disbursements, shipments
from registry.season.payments import DIVIDEND_ENTRY

log = structlog.get_logger(__name__)
KINDS = {
    "produce_commit": lpb.PRODUCE_COMMIT,
    GRANT_ENTRY: lpb.AID_GRANT,
    shipments.DISPATCH_ENTRY: lpb.SHIPMENT_DISPATCH,
    shipments.RECEIPT_ENTRY: lpb.SHIPMENT_RECEIPT,
    shipments.REJECTION_ENTRY: lpb.SHIPMENT_REJECTION,
    shipments.CANCEL_ENTRY: lpb.SHIPMENT_CANCEL,
    "cadre_posting": lpb.CADRE_POSTING,
    "household_contract": lpb.HOUSEHOLD_CONTRACT,
    shipments.PAYMENT_ENTRY: lpb.PAYMENT,
    DIVIDEND_ENTRY: lpb.DIVIDEND,
    disbursements.DISBURSE_ENTRY: lpb.AID_DISBURSEMENT,
    disbursements.RECEIPT_ENTRY: lpb.AID_RECEIPT,
    disbursements.CLAWBACK_ENTRY: lpb.AID_CLAWBACK,
}
EXPORT_CHUNK_BYTES = 256 * 1024
EXPORT_RPC = "/fupin.registry.v1.LedgerService/ExportTransparency"


class LedgerServicer(lpb_grpc.LedgerServiceServicer):
    def __init__(
        self,
        store: RegistryStore,
        salt: bytes,
        key: Ed25519PrivateKey | None = None,
        audit_writer: audit.AuditWriter | None = None,
    ) -> None:
        self.store = store
        self.salt = salt
        self.key = key
        self.audit = audit_writer  # exports name households by token: audited here

    def VerifyLedger(self, request: Any, context: Any) -> lpb.VerifyLedgerResponse:
        sent = []
        if request.checkpoint:
            try:
                sent.append(signing.parse(request.checkpoint))
            except signing.CheckpointError as exc:
                raise InvalidArgument.one("checkpoint", str(exc)) from None
        public = signing.public_bytes(self.key) if self.key else None
        check = ledger_reports.verify(self.store, sent=sent, key=public)
        log.info(
            "ledger_verified",
            intact=check.intact,
            entries=check.entries,
            first_broken_seq=check.first_broken_seq,
            checkpoints=check.checkpoints,
        )
        return lpb.VerifyLedgerResponse(
            intact=check.intact,
            entries=check.entries,
            first_broken_seq=check.first_broken_seq,
            reason=check.reason,
            checkpoints=check.checkpoints,
        )

    def CreateLedgerCheckpoint(self, request: Any, context: Any) -> lpb.LedgerCheckpoint:
        made = checkpoints.create(self.store, self.key)
        log.info("ledger_checkpoint", seq=made.seq, head_hash=made.head_hash, key_id=made.key_id)
        return checkpoint_proto(made)

    def ListLedgerEntries(self, request: Any, context: Any) -> lpb.ListLedgerEntriesResponse:
        ids = _ids(request, ("household_id", "programme_id", "run_id"))
        filter_text = "|".join(ids[name] for name in sorted(ids))
        page = query.parse_page(request.page_size, request.page_token, filter_text)
        rows, token = ledger_reports.list_entries(
            self.store, page=page, reader=access.current(), **ids
        )
        response = lpb.ListLedgerEntriesResponse(next_page_token=token)
        response.entries.extend(entry_proto(r) for r in rows)
        return response

    def GetProgrammeSpending(self, request: Any, context: Any) -> lpb.GetProgrammeSpendingResponse:
        ids = list(request.programme_ids)
        bad = [
            FieldViolation(f"programme_ids[{i}]", "is not a valid id")
            for i, ident in enumerate(ids)
            if not RESOURCE_ID.fullmatch(ident)
        ]
        if bad:
            raise InvalidArgument(bad)
        return lpb.GetProgrammeSpendingResponse(
            programmes=[
                lpb.ProgrammeSpending(
                    programme_id=s.programme_id,
                    display_name=s.display_name,
                    budget_fen=s.budget_fen,
                    spent_fen=s.spent_fen,
                    remaining_fen=s.budget_fen - s.spent_fen,
                    grants=s.grants,
                )
                for s in ledger_reports.programme_spending(self.store, ids, access.current())
            ]
        )

    def SpendingTotals(self, request: Any, context: Any) -> lpb.SpendingTotalsResponse:
        totals = ledger_reports.spending_totals(
            self.store, region_code=_region(request.region_code), reader=access.current()
        )
        causes = _causes_for(totals.causes, access.current().role)
        return lpb.SpendingTotalsResponse(
            villages=_totals(totals.villages),
            counties=_totals(totals.counties),
            causes=_totals(causes),
            total_fen=totals.total_fen,
        )

    def ExportTransparency(self, request: Any, context: Any) -> Iterator[lpb.ExportChunk]:
        region = _region(request.region_code)
        lines = ledger_reports.export_lines(
            self.store, region_code=region, salt=self.salt, reader=access.current()
        )
        buffer: list[str] = []
        named: list[str] = []
        size = 0
        for line, household_id in lines:
            buffer.append(line + "\n")
            named.extend(h for h in [household_id] if h)
            size += len(line) + 1
            if size >= EXPORT_CHUNK_BYTES:
                audit.record_export(self.audit, EXPORT_RPC, context, named)
                yield lpb.ExportChunk(data="".join(buffer).encode())
                buffer, named, size = [], [], 0
        audit.record_export(self.audit, EXPORT_RPC, context, named)
        yield lpb.ExportChunk(data="".join(buffer).encode())


def entry_proto(row: models.LedgerEntry) -> lpb.LedgerEntry:
    return lpb.LedgerEntry(
        seq=row.seq or 0,
        time=timestamp(row.time),
        kind=KINDS.get(row.kind, lpb.LEDGER_ENTRY_KIND_UNSPECIFIED),
        run_id=row.run_id,
        subject_id=row.subject_id,
        counterpart_id=row.counterpart_id,
        quantity_kg=row.quantity,
        amount_fen=row.amount_fen,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def checkpoint_proto(made: signing.Checkpoint) -> lpb.LedgerCheckpoint:
    stamp = datetime.fromisoformat(made.time.replace("Z", "+00:00"))
    return lpb.LedgerCheckpoint(
        seq=made.seq,
        head_hash=made.head_hash,
        time=timestamp(stamp),
        key_id=made.key_id,
        public_key=made.public_key,
        signature=made.signature,
        document=made.document(),
    )


def _ids(request: Any, names: tuple[str, ...]) -> dict[str, str]:
    bad = [
        FieldViolation(name, "is not a valid id (1-40 letters, digits, - or _)")
        for name in names
        if getattr(request, name) and not RESOURCE_ID.fullmatch(getattr(request, name))
    ]
    if bad:
        raise InvalidArgument(bad)
    return {name: getattr(request, name) for name in names}


def _region(code: str) -> str:
    if code and not REGION_CODE.fullmatch(code):
        raise InvalidArgument.one("region_code", "must be an administrative code prefix (digits)")
    return code


def _causes_for(
    causes: Mapping[int, ledger_reports.Total], role: access.Role
) -> dict[str, ledger_reports.Total]:
    """Totals by cause name; for an auditor the causes tied to health (registry/access/
    redaction.py) are one total, "withheld", as they are in households and grants: a
    region with one ill household would otherwise show what its grant was for."""
    out: dict[str, ledger_reports.Total] = {}
    for cause, total in causes.items():
        if role is access.Role.AUDITOR and cause in SENSITIVE_CAUSES:
            merged = out.setdefault("withheld", ledger_reports.Total())
            merged.amount_fen += total.amount_fen
            merged.grants += total.grants
            merged.households |= total.households
        else:
            out[_cause_name(cause)] = total
    return out


def _cause_name(value: int) -> str:
    if value == ledger_reports.NO_CAUSE:
        return "unspecified"
    try:
        return pb.PovertyCause.Name(value).lower()  # type: ignore[arg-type]
    except ValueError:
        return f"cause_{value}"


def _totals(groups: Mapping[Any, ledger_reports.Total]) -> list[lpb.SpendingTotal]:
    return [
        lpb.SpendingTotal(
            key=str(key), amount_fen=t.amount_fen, grants=t.grants, households=len(t.households)
        )
        for key, t in sorted(groups.items(), key=lambda kv: (-kv[1].amount_fen, str(kv[0])))
    ]


def add_to_server(
    store: RegistryStore,
    server: grpc.Server,
    *,
    salt: str = "",
    signing_key: Path | None = None,
    audit_writer: audit.AuditWriter | None = None,
) -> str:
    """Serve LedgerService; `signing_key`: the PEM file of the checkpoints' Ed25519 key (read
    once, here: a missing or wrong file stops the start)."""
    if not salt:
        log.warning("transparency_salt_unset", effect="household tokens change at each restart")
    key = signing.load_private_key(signing_key) if signing_key else None
    if key is not None:
        log.info("ledger_signing_key", key_id=signing.key_id(signing.public_bytes(key)))
    servicer = LedgerServicer(store, salt.encode() or secrets.token_bytes(32), key, audit_writer)
    lpb_grpc.add_LedgerServiceServicer_to_server(servicer, server)
    return str(lpb.DESCRIPTOR.services_by_name["LedgerService"].full_name)
