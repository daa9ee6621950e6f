"""The produce commit: reserve listing quantities and fill orders (registry/runs/commit.py),
and open a shipment per allocation (registry/season/shipments.py).

The listing and order rows are locked in id order and checked, then updated, so concurrent
commits never oversell; the CHECK constraints (reserved <= quantity, filled <= max) are the
last guard.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlmodel import Session

from registry.errors import Aborted
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.store import RegistryStore
from registry.runs.commit import add_amounts, commit, locked_shortfalls
from registry.runs.records import run_rows
from registry.season.shipments import open_shipments

PRODUCE_KIND = 1  # fupin.matcher.v1.RunKind.PRODUCE
MAX_REPORTED_SHORTFALLS = 30


def commit_produce(
    store: RegistryStore, run_id: str, *, request_id: str = "", etag: str = ""
) -> models.MatchRun:
    """Apply a proposed produce run to the registry, all of it or nothing."""
    return commit(store, run_id, (PRODUCE_KIND,), _apply, request_id=request_id, etag=etag)


def _apply(session: Session, run: models.MatchRun) -> list[ledger.Entry]:
    allocations: list[models.RunAllocation] = run_rows(session, models.RunAllocation, run.id)
    _reserve(session, allocations)
    open_shipments(session, run.id, allocations)
    return _ledger_entries(run.id, allocations)


def _reserve(session: Session, allocations: Sequence[models.RunAllocation]) -> None:
    need: dict[str, int] = defaultdict(int)
    fill: dict[str, int] = defaultdict(int)
    for a in allocations:
        need[a.listing_id] += a.kg
        fill[a.order_id] += a.kg
    listing, order = models.Listing, models.Order
    short = locked_shortfalls(session, listing, "quantity_kg", "reserved_kg", need, "listings")
    short += locked_shortfalls(session, order, "max_quantity_kg", "filled_kg", fill, "orders")
    if short:
        names = ", ".join(v.field for v in short[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        # The details travel in the trailers: gRPC refuses more than 8 KB by default.
        raise Aborted(
            f"the registry changed; the allocation no longer fits: {names}{more}",
            short[:MAX_REPORTED_SHORTFALLS],
        )
    add_amounts(session, listing, "reserved_kg", need)
    add_amounts(session, order, "filled_kg", fill)


def _ledger_entries(run_id: str, allocations: Iterable[models.RunAllocation]) -> list[ledger.Entry]:
    return [
        ledger.Entry(
            kind="produce_commit",
            run_id=run_id,
            subject_id=a.listing_id,
            counterpart_id=a.order_id,
            quantity=a.kg,
        )
        for a in allocations
    ]
