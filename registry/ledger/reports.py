"""Reading the ledger: entries by household, programme or run; spending per programme, village,
county and cause; the verification of the chain; the rows of the transparency export.

Every read takes the reader (registry/access/policy.py Principal) and keeps, inside its SQL, only
what
the reader's scope covers (admins and auditors without a scope: everything): entries about the
region's households (aid grants, contracts), villages (cadre postings) and listings (produce
commits); programmes the reader may read, their grants counted among its households; totals
and the export over its villages. So counts, page sizes and tokens say nothing of the rest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlmodel import col

from registry.access import scopes
from registry.access.policy import INTERNAL, Principal, Role
from registry.errors import InvalidArgument, NotFound
from registry.ledger import chain as ledger
from registry.ledger import checkpoints
from registry.ledger.signing import Checkpoint
from registry.resources import models
from registry.resources.kinds import AID_PROGRAM
from registry.resources.query import Page, next_token
from registry.resources.store import RegistryStore
from registry.runs.aid import GRANT_ENTRY
from registry.season import entries as season_entries

NO_CAUSE = 0  # PovertyCause UNSPECIFIED: households filed without a cause
# subject: a household (the season's: registry/season/entries.py)
ABOUT_HOUSEHOLDS = (GRANT_ENTRY, "household_contract", *season_entries.ABOUT_HOUSEHOLDS)
ABOUT_VILLAGES = ("cadre_posting",)  # counterpart: a village ("" when a cadre is released)
# subject: a listing (shipments: registry/season/shipments.py)
ABOUT_LISTINGS = ("produce_commit", *season_entries.ABOUT_LISTINGS)


def region_of(reader: Principal) -> str | None:
    """The administrative code prefix the reader's ledger reads are limited to; None: all."""
    if reader.role is Role.ADMIN or (reader.role is Role.AUDITOR and not reader.scope):
        return None
    return reader.scope if reader.role in scopes.REGIONAL else "-"  # "-": no code matches


def readable_entries(reader: Principal) -> ColumnElement[bool] | None:
    """The ledger entries the reader may see (None: all)."""
    prefix = region_of(reader)
    if prefix is None:
        return None
    if prefix == "-":
        return false()
    entry, listing = models.LedgerEntry, models.Listing
    listings = select(col(listing.id)).where(
        col(listing.producer_id).in_(scopes.producers_in(prefix))
    )
    return or_(
        and_(
            col(entry.kind).in_(ABOUT_HOUSEHOLDS),
            col(entry.subject_id).in_(scopes.households_in(prefix)),
        ),
        and_(
            col(entry.kind).in_(ABOUT_VILLAGES),
            col(entry.counterpart_id).in_(scopes.villages_in(prefix)),
        ),
        and_(col(entry.kind).in_(ABOUT_LISTINGS), col(entry.subject_id).in_(listings)),
    )


def list_entries(
    store: RegistryStore,
    *,
    page: Page,
    household_id: str,
    programme_id: str,
    run_id: str,
    reader: Principal = INTERNAL,
) -> tuple[list[models.LedgerEntry], str]:
    """Entries oldest first (keyset on seq); a household selects its money trail
    (about_household), a programme its aid grants."""
    entry = models.LedgerEntry
    stmt = select(entry).order_by(col(entry.seq))
    readable = readable_entries(reader)
    if readable is not None:
        stmt = stmt.where(readable)
    if household_id:
        stmt = stmt.where(about_household(household_id))
    if programme_id:
        stmt = stmt.where(col(entry.kind) == GRANT_ENTRY, col(entry.counterpart_id) == programme_id)
    if run_id:
        stmt = stmt.where(col(entry.run_id) == run_id)
    if page.after:
        if not (page.after.isdigit() and len(page.after) <= 18):
            raise InvalidArgument.one("page_token", "is not a token this server issued")
        stmt = stmt.where(col(entry.seq) > int(page.after))
    with store.transaction() as session:
        rows = list(session.scalars(stmt.limit(page.size + 1)))
    more = len(rows) > page.size
    rows = rows[: page.size]
    return rows, next_token(page, str(rows[-1].seq)) if more else ""


def about_household(household_id: str) -> ColumnElement[bool]:
    """A household's trail: what names it (aid grants, its cadre contract) and what moved the
    listings of the producer it is (a household grower's commits, shipments, receipts)."""
    entry, listing, producer = models.LedgerEntry, models.Listing, models.Producer
    own_listings = select(col(listing.id)).where(
        col(listing.producer_id).in_(
            select(col(producer.id)).where(col(producer.household_id) == household_id)
        )
    )
    return or_(
        and_(col(entry.kind).in_(ABOUT_HOUSEHOLDS), col(entry.subject_id) == household_id),
        and_(col(entry.kind).in_(ABOUT_LISTINGS), col(entry.subject_id).in_(own_listings)),
    )


@dataclass(frozen=True)
class Spending:
    programme_id: str
    display_name: str
    budget_fen: int
    spent_fen: int
    grants: int


def programme_spending(
    store: RegistryStore, programme_ids: Sequence[str], reader: Principal = INTERNAL
) -> list[Spending]:
    """Budget, spent and number of ledger grants per programme, in id order (or as asked).

    A scoped reader gets the programmes it may read (others are NOT_FOUND as unknown ones),
    with the grants counted among its own households."""
    prog, entry = models.AidProgram, models.LedgerEntry
    stmt = select(prog).order_by(col(prog.id))
    if programme_ids:
        stmt = stmt.where(col(prog.id).in_(programme_ids))
    programmes = scopes.clause(AID_PROGRAM, reader)
    if programmes is not None:
        stmt = stmt.where(programmes)
    counts = (
        select(col(entry.counterpart_id), func.count())
        .where(col(entry.kind) == GRANT_ENTRY)
        .group_by(col(entry.counterpart_id))
    )
    readable = readable_entries(reader)
    if readable is not None:
        counts = counts.where(readable)
    with store.transaction() as session:
        rows = {p.id: p for p in session.scalars(stmt)}
        granted = {k: v for k, v in session.execute(counts)}
    for i, ident in enumerate(programme_ids):
        if ident not in rows:
            raise NotFound(f"aid programme {ident!r} not found", field=f"programme_ids[{i}]")
    order = list(programme_ids) or list(rows)
    return [
        Spending(p.id, p.display_name, p.budget_fen, p.spent_fen, int(granted.get(p.id, 0)))
        for p in (rows[i] for i in order)
    ]


@dataclass
class Total:
    amount_fen: int = 0
    grants: int = 0
    households: set[str] = field(default_factory=set)

    def add(self, household_id: str, amount_fen: int) -> None:
        self.amount_fen += amount_fen
        self.grants += 1
        self.households.add(household_id)


@dataclass(frozen=True)
class Totals:
    villages: dict[str, Total]
    counties: dict[str, Total]
    causes: dict[int, Total]  # PovertyCause value -> total (amounts split among causes)
    total_fen: int


def spending_totals(
    store: RegistryStore, *, region_code: str, reader: Principal = INTERNAL
) -> Totals:
    """Aid granted per village, county and cause of poverty (a grant's amount split evenly
    among its household's causes as filed now; remainders of the split go to the first)."""
    villages: dict[str, Total] = defaultdict(Total)
    counties: dict[str, Total] = defaultdict(Total)
    causes: dict[int, Total] = defaultdict(Total)
    total = 0
    for row in _grant_rows(store, region_code, reader):
        household_id, amount, code, filed = row[1], row[2], row[3], row[4]
        villages[code].add(household_id, amount)
        counties[code[:6]].add(household_id, amount)
        shares = split_amount(amount, sorted(filed) or [NO_CAUSE])
        for cause, share in shares:
            causes[cause].add(household_id, share)
        total += amount
    return Totals(dict(villages), dict(counties), dict(causes), total)


def split_amount(amount: int, causes: list[int]) -> list[tuple[int, int]]:
    """amount split evenly among causes, the remainder of the division to the first."""
    share, rest = divmod(amount, len(causes))
    return [(c, share + (rest if i == 0 else 0)) for i, c in enumerate(causes)]


def _grant_rows(store: RegistryStore, region_code: str, reader: Principal) -> Iterator[Any]:
    """(entry, household id, amount, village code, causes) per aid grant in the region and
    the reader's scope, oldest first. Grants to households deleted since have village code ""
    (kept outside regions)."""
    entry, hh, vil = models.LedgerEntry, models.Household, models.Village
    stmt = (
        select(
            entry,
            col(entry.subject_id),
            col(entry.amount_fen),
            func.coalesce(col(vil.admin_code), ""),
            col(hh.causes),
        )
        .outerjoin(hh, col(hh.id) == col(entry.subject_id))
        .outerjoin(vil, col(vil.id) == col(hh.village_id))
        .where(col(entry.kind) == GRANT_ENTRY)
        .order_by(col(entry.seq))
    )
    for prefix in (region_code, region_of(reader)):
        if prefix:
            stmt = stmt.where(col(vil.admin_code).startswith(prefix, autoescape=True))
    with store.transaction() as session:
        for row in session.execute(stmt.execution_options(yield_per=5000)):
            yield row[0], row[1], row[2], row[3], row[4] or []


EXPORT_HEADER = "seq,time,household_token,village_code,programme_id,amount_fen,run_id,entry_hash"


def household_token(salt: bytes, household_id: str) -> str:
    """A pseudonym: the same household gets the same token in every export with this salt;
    without the salt, a token cannot be traced back to a household id."""
    return hmac.new(salt, household_id.encode(), hashlib.sha256).hexdigest()[:20]


def export_lines(
    store: RegistryStore, *, region_code: str, salt: bytes, reader: Principal = INTERNAL
) -> Iterator[tuple[str, str]]:
    """CSV lines (header first) of the aid grants, household identity masked, each with the
    id of the household it names (for the audit; "" for the header)."""
    yield EXPORT_HEADER, ""
    for row in _grant_rows(store, region_code, reader):
        e: models.LedgerEntry = row[0]
        stamp = e.time.isoformat() if isinstance(e.time, datetime) else str(e.time)
        token = household_token(salt, e.subject_id)
        line = (
            f"{e.seq},{stamp},{token},{row[3]},{e.counterpart_id},{e.amount_fen},"
            f"{e.run_id},{e.hash}"
        )
        yield line, e.subject_id


def verify(
    store: RegistryStore, *, sent: Sequence[Checkpoint] = (), key: bytes | None = None
) -> ledger.ChainCheck:
    """The chain from its start, held against the checkpoints sent and those stored with
    this public key (registry/ledger/checkpoints.py); if intact, also each programme's
    spent_fen against its grants in the ledger (which catches the removal of the newest
    entries since the last checkpoint)."""
    with store.transaction() as session:
        check = checkpoints.compare(session, [*sent, *checkpoints.stored(session, key)])
        if not check.intact:
            return check
        entry, prog = models.LedgerEntry, models.AidProgram
        granted = (
            select(func.coalesce(func.sum(col(entry.amount_fen)), 0))
            .where(col(entry.kind) == GRANT_ENTRY, col(entry.counterpart_id) == col(prog.id))
            .scalar_subquery()
        )
        # One statement, so spent_fen and the ledger are read in one snapshot even under READ
        # COMMITTED (a commit adds to both at once).
        first = session.execute(
            select(col(prog.id), col(prog.spent_fen), granted)
            .where(col(prog.spent_fen) != granted)
            .order_by(col(prog.id))
            .limit(1)
        ).first()
        if first is not None:
            ident, spent, got = first
            reason = (
                f"programme {ident} has spent {spent} fen but its ledger grants add up to "
                f"{got} fen: the newest entries were removed, or spent_fen was changed"
            )
            return ledger.ChainCheck(check.entries, 0, reason, checkpoints=check.checkpoints)
    return check
