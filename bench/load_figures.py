"""The figures of a load run (bench/load.py): what the clients saw, the audit of the database
after it, and the matcher's own view of quick sourcing from its metrics."""

from __future__ import annotations

import argparse
import math
import os
import statistics
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, text


@dataclass
class Tally:
    """What one load process saw: latencies by kind, failures, acknowledged writes."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    conflicts: int = 0
    created_listings: list[str] = field(default_factory=list)
    created_orders: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)


def audit_database(url: str, tally: Tally) -> dict[str, int]:
    """Oversold kilograms and lost writes, recomputed from the rows themselves."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        committed_alloc = """
            SELECT a.{key} AS id, sum(a.kg) AS kg FROM run_allocation a
            JOIN match_run r ON r.id = a.run_id WHERE r.state = 4 GROUP BY a.{key}"""
        listings = conn.execute(
            text(
                f"""SELECT l.id, l.quantity_kg, l.reserved_kg, coalesce(c.kg, 0)
                FROM listing l LEFT JOIN ({committed_alloc.format(key="listing_id")}) c
                ON c.id = l.id"""
            )
        ).all()
        orders = conn.execute(
            text(
                f"""SELECT o.id, o.max_quantity_kg, o.filled_kg, coalesce(c.kg, 0)
                FROM purchase_order o LEFT JOIN ({committed_alloc.format(key="order_id")}) c
                ON c.id = o.id"""
            )
        ).all()
        states = dict(conn.execute(text("SELECT id, state FROM match_run")).all())
        ledger = conn.execute(text("SELECT coalesce(sum(quantity), 0) FROM ledger_entry")).scalar()
    engine.dispose()
    listing_ids = {row[0] for row in listings}
    order_ids = {row[0] for row in orders}
    oversold = sum(max(0, alloc - cap) for _, cap, _, alloc in [*listings, *orders])
    drift = sum(used != alloc for _, _, used, alloc in [*listings, *orders])
    lost = (
        sum(i not in listing_ids for i in tally.created_listings)
        + sum(i not in order_ids for i in tally.created_orders)
        + sum(states.get(i) != 4 for i in tally.committed)
        + drift
    )
    allocated = sum(alloc for _, _, _, alloc in listings)
    return {
        "oversold_kg": int(oversold),
        "lost_writes": int(lost),
        "ledger_mismatch_kg": int(abs(int(ledger or 0) - allocated)),
        "committed_runs": sum(s == 4 for s in states.values()),
        "committed_kg": int(allocated),
    }


def quick_handler_p99(metrics_address: str) -> dict[str, Any]:
    """The matcher's own view of QuickSource: the upper edge of the latency histogram bucket
    holding its 99th percentile, from the handler's start to its end (the time a call waits
    for a server thread, and the transport both ways, are not in it). The gap between this
    and ``quick_p99_ms`` is time outside the handler: queues, the network stack, and waiting
    for a core on either side."""
    url = f"http://{metrics_address}/metrics"
    buckets: list[tuple[float, float]] = []
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("fupin_rpc_duration_seconds_bucket") and "QuickSource" in line:
                edge = line.split('le="', 1)[1].split('"', 1)[0]
                if 'code="OK"' in line:
                    buckets.append((float(edge), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return {"quick_handler_p99_le_ms": None}
    total = buckets[-1][1]
    edge = next(le for le, count in buckets if count >= 0.99 * total)
    return {"quick_handler_p99_le_ms": None if math.isinf(edge) else edge * 1000}


def summary(
    args: argparse.Namespace, tally: Tally, wall_s: float, audit: dict[str, int]
) -> dict[str, Any]:
    every = [x for values in tally.latencies.values() for x in values]
    calls = len(every) + len(tally.errors)
    out: dict[str, Any] = {
        "bench": "load",
        "clients": args.clients,
        "seconds": args.seconds,
        "mix": args.mix,
        "rps": round(calls / wall_s, 1),
        "p50_ms": _percentile(every, 50),
        "p99_ms": _percentile(every, 99),
        "errors": len(tally.errors),
        "oversold_kg": audit["oversold_kg"],
        "lost_writes": audit["lost_writes"],
        "conflicts": tally.conflicts,
        "ledger_mismatch_kg": audit["ledger_mismatch_kg"],
        "committed_runs": audit["committed_runs"],
        "committed_kg": audit["committed_kg"],
    }
    for kind in ("read", "create", "quick", "match", "commit"):
        values = tally.latencies.get(kind, [])
        out[f"{kind}_calls"] = len(values)
        out[f"{kind}_p50_ms"] = _percentile(values, 50)
        out[f"{kind}_p99_ms"] = _percentile(values, 99)
    out["load_avg"] = round(os.getloadavg()[0], 2)
    if tally.errors:
        out["first_errors"] = tally.errors[:5]
    return out


def _percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return round(values[0], 3) if values else 0.0
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 3)
