"""The ledger's export to a file and its check offline: no server, no database.

    fupin aid export-ledger FILE                     # every entry, through ListLedgerEntries
    fupin aid verify --entries FILE --checkpoint head.json --public-key KEY.pub

The file ("fupin-ledger-entries/v1") is JSON Lines: a header line {"format": ...}, then one
entry a line in seq order, each with the fields its hash covers, as hashed (`kind` the stored
word, e.g. "aid_grant"; `time` UTC as registry/ledger/hashing.py time_iso writes it), and its
`prev_hash` and `hash`. The check hashes each entry with the server's own code
(registry/ledger/hashing.py, pure, imported: never a copy) and walks the chain as the server
does (registry/ledger/chain.py check_chain); a signed checkpoint then catches what the chain
alone cannot: a consistent rewrite (an entry changed and every later hash recomputed) before
it, and an export cut short before it (the missing range named).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from clients.i18n import _
from fupin.registry.v1 import ledger_service_pb2 as lpb
from registry.ledger import signing
from registry.ledger.hashing import GENESIS, Entry, entry_hash, time_iso
from registry.ledger.signing import Checkpoint

FORMAT = "fupin-ledger-entries/v1"
_TEXTS = ("time", "kind", "run_id", "subject_id", "counterpart_id", "prev_hash", "hash")
_NUMBERS = ("seq", "quantity", "amount_fen")


def kind_word(kind: lpb.LedgerEntryKind.ValueType) -> str:
    """The stored kind of an entry (what its hash covers) from the API's enum: its name in
    lower case (tests/clients/test_ledger_file.py holds the server's table to this)."""
    return lpb.LedgerEntryKind.Name(kind).lower()


def trusted(document: str, public_key: Path) -> Checkpoint:
    """The checkpoint of a document signed with the key in `public_key`; ValueError
    (CheckpointError: a bad document or signature, another key) or OSError if not."""
    checkpoint = signing.parse(document)
    signing.verify(checkpoint, trusted=signing.load_public_key(public_key))
    return checkpoint


def entry_line(entry: lpb.LedgerEntry) -> str:
    fields = {
        "seq": entry.seq,
        "time": time_iso(entry.time.ToDatetime()),
        "kind": kind_word(entry.kind),
        "run_id": entry.run_id,
        "subject_id": entry.subject_id,
        "counterpart_id": entry.counterpart_id,
        "quantity": entry.quantity_kg,
        "amount_fen": entry.amount_fen,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def write(pages: Iterable[Iterable[lpb.LedgerEntry]], out: TextIO) -> tuple[int, int]:
    """Write the header and each page's entries; returns (entries written, the last seq)."""
    out.write(json.dumps({"format": FORMAT}) + "\n")
    count = last = 0
    for page in pages:
        for entry in page:
            out.write(entry_line(entry) + "\n")
            count, last = count + 1, entry.seq
    return count, last


@dataclass(frozen=True)
class FileCheck:
    """What the walk found: entries checked, the last seq read, and the first fault (the
    entry it names, 0 for the file itself; "" if none)."""

    entries: int
    head_seq: int
    broken_seq: int = 0
    reason: str = ""

    @property
    def intact(self) -> bool:
        return not self.reason


def check(lines: Iterable[str], checkpoint: Checkpoint | None = None) -> FileCheck:
    """Walk the exported chain from the genesis and stop at the first entry that does not check
    out; then hold it against the checkpoint (already verified by the caller)."""
    rows = iter(lines)
    if _header(next(rows, "")) != FORMAT:
        return FileCheck(0, 0, 0, _("the file is not a {format} export").format(format=FORMAT))
    prev, expected, count, at_checkpoint = GENESIS, 1, 0, ""
    for number, line in enumerate(rows, start=2):
        if not line.strip():
            continue
        row = _row(line)
        if isinstance(row, str):
            reason = _("line {line} is not a ledger entry ({error})")
            return FileCheck(count, expected - 1, 0, reason.format(line=number, error=row))
        seq = row["seq"]
        reason = _fault(row, seq, expected, prev)
        if reason:
            return FileCheck(count, expected - 1, seq, reason)
        if checkpoint is not None and seq == checkpoint.seq:
            at_checkpoint = row["hash"]
        prev, expected, count = row["hash"], seq + 1, count + 1
    head = expected - 1
    if checkpoint is None:
        return FileCheck(count, head)
    return _against(FileCheck(count, head), checkpoint, at_checkpoint)


def _header(line: str) -> str:
    try:
        header = json.loads(line)
    except ValueError:
        return ""
    return str(header.get("format", "")) if isinstance(header, dict) else ""


def _row(line: str) -> dict[str, Any] | str:
    """The entry of a line, or why it is none."""
    try:
        row = json.loads(line)
    except ValueError as exc:
        return str(exc)
    if not isinstance(row, dict):
        return _("not a JSON object")
    for name in _NUMBERS:
        value = row.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            return _("{field} is not an integer").format(field=name)
    for name in _TEXTS:
        if not isinstance(row.get(name), str):
            return _("{field} is not a string").format(field=name)
    return row


def _fault(row: dict[str, Any], seq: int, expected: int, prev: str) -> str:
    """Why this entry does not check out ("" if it does)."""
    if seq > expected:
        missing = _(
            "entries {first}-{last} are missing from the export: seq jumps from {before} to {after}"
        )
        if seq == expected + 1:
            missing = _(
                "entry {first} is missing from the export: seq jumps from {before} to {after}"
            )
        return missing.format(first=expected, last=seq - 1, before=expected - 1, after=seq)
    if seq < expected:
        reason = _("entry {seq} comes after entry {before}: the export repeats or reorders entries")
        return reason.format(seq=seq, before=expected - 1)
    if row["prev_hash"] != prev:
        return _(
            "entry {seq}: its link does not match the entry before it: an entry before it was "
            "removed, or it was rewritten"
        ).format(seq=seq)
    fields = Entry(
        row["kind"],
        row["run_id"],
        row["subject_id"],
        row["counterpart_id"],
        row["quantity"],
        row["amount_fen"],
    )
    if row["hash"] != entry_hash(seq, prev, row["time"], fields):
        return _("entry {seq}: its content does not match its hash: it was altered").format(seq=seq)
    return ""


def _against(walked: FileCheck, checkpoint: Checkpoint, at_checkpoint: str) -> FileCheck:
    """The walk held against the checkpoint: the export must reach its seq, with its hash."""
    seq, stamp = checkpoint.seq, checkpoint.time
    if walked.head_seq < seq:
        first = walked.head_seq + 1
        reason = _(
            "entries {first}-{last} are missing: the export ends at {head}, the checkpoint of "
            "{time} covers 1-{last}"
        )
        if first == seq:
            reason = _(
                "entry {first} is missing: the export ends at {head}, the checkpoint of {time} "
                "covers 1-{last}"
            )
        text = reason.format(first=first, last=seq, head=walked.head_seq, time=stamp)
        return FileCheck(walked.entries, walked.head_seq, first, text)
    if at_checkpoint != checkpoint.head_hash:
        reason = _(
            "entry {seq} differs from the checkpoint of {time}: entries 1-{seq} were rewritten "
            "(an entry among them changed or removed, and the hashes after it recomputed)"
        )
        text = reason.format(seq=seq, time=stamp)
        return FileCheck(walked.entries, walked.head_seq, 1, text)
    return walked
