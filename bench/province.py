"""The province size of bench/produce.py: 1,000,000 open listings × 10,000 orders read by a
registry selection from PostgreSQL, each listing screened against its 30 nearest orders.

The bench loads the registry itself, by COPY into a fresh database the server has migrated:
one enterprise producer per listing (so a listing's point is its producer's, not a 1 km grid
cell) and one buyer per order. The bare flow is timed on the model built from the very
records the server reads (registry_problem of the same OpenListing and OpenOrder values), so
both solve the same arcs.

Run as a script, it measures the registry-selection read alone (python bench/province.py
--listings 1000000; the full bench is bench/produce.py --sizes province): the registry loaded
as `run` loads it, then open listings and orders read and made into the model's problem each
way, in a fresh process, for CPU time, wall time and peak memory:

- records: supply.open_listings (one OpenListing per listing) and registry_problem (which now
  makes the records into columns first), as runs read a selection before the column read;
- columns: supply.open_listing_columns (one streamed pass into arrays) and
  registry_columns_problem, as runs read one now.

Each line: read_cpu_s, read_s; problem_cpu_s, problem_s; link_cpu_s, link_s (the split
link's encoding and decoding, the network aside); peak_rss_mb (the peak of the read and the
problem, less the process's size before them); link_peak_rss_mb (the same with the link's
encoding and decoding after them); load_avg.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.registry import POSTGRES_ADMIN_URL, database
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service import convert_produce as convert
from matcher.service import jobs
from matcher.solvers import produce
from matcher.solvers.common.solving import Objective
from registry.runs.data import OpenListing, OpenOrder

LISTINGS, ORDERS = 1_000_000, 10_000
TODAY = "2020-05-15"


def run(
    serve: Callable[..., Any],
    bare_mcf: Callable[..., tuple[int, float, float, int]],
    *,
    listings: int = LISTINGS,
    orders: int = ORDERS,
    seed: int = 1,
) -> dict[str, Any]:
    """Load the registry, then one MatchProduce of a selection; the JSON line's fields."""
    ls, os_ = records(listings, orders, seed)
    with database("postgres", POSTGRES_ADMIN_URL) as url:
        env = {"FUPIN_MAX_PROBLEM_LISTINGS": str(listings), "FUPIN_MAX_PROBLEM_ORDERS": str(orders)}
        with serve(url, 0, env) as target:
            started = time.perf_counter()
            load(url, ls, os_)
            sys.stderr.write(
                f"bench: loaded the registry in {time.perf_counter() - started:.0f} s\n"
            )
            line = _measure(target, listings, orders)
    model = jobs.sparsified(
        jobs.ProduceJob(convert.registry_problem(_selection(), ls, os_, Objective.WELFARE))
    )
    del ls, os_
    arcs, bare, bare_cpu, bare_value = bare_mcf(model)
    greedy = produce.greedy(model)
    line.update(
        bare_objective=bare_value,
        greedy_objective=greedy.objective,
        greedy_poor_kg_share=round(greedy.kpis.priority_kg_sold / max(greedy.kpis.kg_sold, 1), 4),
        bare_mcf_s=round(bare, 3),
        ratio_to_bare=round(line["end_to_end_s"] / bare, 3),
        bare_cpu_s=round(bare_cpu, 3),
        cpu_ratio_to_bare=round(line["cpu_s"] / bare_cpu, 3),
        bare_arcs=arcs,
    )
    return line


def records(n: int, m: int, seed: int) -> tuple[list[OpenListing], list[OpenOrder]]:
    """Plum growers across a province and its buyers (as bench/produce.py's problem)."""
    rng = np.random.default_rng(seed)
    lat, lng = rng.normal(26.8, 0.8, n), rng.normal(106.8, 1.0, n)
    kg, floor = rng.integers(200, 5000, n), rng.integers(80, 180, n)
    listings = [
        OpenListing(
            f"lst-{i:07d}", f"pro-{i:07d}", "green_plum", "A", int(q), int(f),
            float(a), float(b), "2020-05-01", "2020-06-30", 30, (),
        )
        for i, (q, f, a, b) in enumerate(zip(kg.tolist(), floor.tolist(), lat, lng, strict=True))
    ]  # fmt: skip
    olat, olng = rng.uniform(24.6, 29.2, m), rng.uniform(103.6, 109.6, m)
    demand = rng.integers(5_000, 40_000, m) * n // (10 * m)
    price = rng.integers(250, 400, m)
    orders = [
        OpenOrder(
            f"ord-{j:05d}", f"buy-{j:05d}", "green_plum", ("A", "B"), 0, int(q), int(p),
            float(a), float(b), "2020-07-31", 0.0,
        )
        for j, (q, p, a, b) in enumerate(
            zip(demand.tolist(), price.tolist(), olat, olng, strict=True)
        )
    ]  # fmt: skip
    return listings, orders


def load(url: str, listings: list[OpenListing], orders: list[OpenOrder]) -> None:
    """COPY the records into the registry's tables (the server has migrated the database)."""
    import psycopg

    stamp = datetime.datetime.now(datetime.UTC)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        _copy(
            conn,
            "producer (id, create_time, update_time, version, kind, display_name, latitude,"
            " longitude)",
            ((x.producer_id, stamp, stamp, 1, pb.PRODUCER_ENTERPRISE, "Orchard", x.latitude,
              x.longitude) for x in listings),
        )  # fmt: skip
        _copy(
            conn,
            "listing (id, create_time, update_time, version, producer_id, product, grade,"
            " quantity_kg, reserved_kg, floor_price_fen, available_from, available_until,"
            " shelf_life_days)",
            ((x.id, stamp, stamp, 1, x.producer_id, x.product, x.grade, x.available_kg, 0,
              x.floor_price_fen, x.available_from, x.available_until, x.shelf_life_days)
             for x in listings),
        )  # fmt: skip
        _copy(
            conn,
            "buyer (id, create_time, update_time, version, kind, display_name, county_code,"
            " latitude, longitude)",
            ((o.buyer_id, stamp, stamp, 1, pb.RETAILER, "Buyer", "", o.latitude,
              o.longitude) for o in orders),
        )  # fmt: skip
        _copy(
            conn,
            "purchase_order (id, create_time, update_time, version, buyer_id, product,"
            " accepted_grades, min_quantity_kg, max_quantity_kg, filled_kg, price_fen,"
            " deliver_by, max_distance_km)",
            ((o.id, stamp, stamp, 1, o.buyer_id, o.product, json.dumps(list(o.accepted_grades)),
              o.min_quantity_kg, o.open_kg, 0, o.price_fen, o.deliver_by, o.max_distance_km)
             for o in orders),
        )  # fmt: skip
        conn.execute("ANALYZE")


def _copy(conn: Any, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _selection() -> mpb.RegistrySelection:
    return mpb.RegistrySelection(product="green_plum", today=TODAY)


def _measure(target: str, n: int, m: int) -> dict[str, Any]:
    from bench.produce import run_fields, timed_call  # bench.produce imports this lazily

    request = mpb.MatchProduceRequest(
        selection=_selection(), parameters=mpb.SolveParameters(time_limit_s=600)
    )
    run, *figures = timed_call(target, request, 7200)
    fields = run_fields(run, *figures)
    return {"listings": n, "orders": m, **fields, "load_s": round(run.timings.load_s, 3)}


# --- The registry-selection read alone --------------------------------------------------------

READS = ("records", "columns")


def read_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the registry-selection read alone")
    parser.add_argument("--listings", type=int, default=LISTINGS)
    parser.add_argument("--orders", type=int, default=ORDERS)
    parser.add_argument("--reads", default=",".join(READS), help="comma-separated")
    parser.add_argument("--measure", choices=READS, help="only this read, of the database at --url")
    parser.add_argument("--url", help="a loaded database (with --measure)")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.url)), flush=True)
        return 0
    with database("postgres", POSTGRES_ADMIN_URL) as url:
        _load(url, args.listings, args.orders)
        for read in args.reads.split(","):
            child = [sys.executable, __file__, "--measure", read, "--url", url]
            out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
            line = {"bench": "supply_read", "read": read, "listings": args.listings}
            print(json.dumps({**line, **json.loads(out)}), flush=True)
    return 0


def _load(url: str, listings: int, orders: int) -> None:
    from registry import db

    engine = db.make_engine(url)
    db.migrate(engine)
    engine.dispose()
    started = time.perf_counter()
    load(url, *records(listings, orders, 1))
    sys.stderr.write(f"bench: loaded the registry in {time.perf_counter() - started:.0f} s\n")


def measure(read: str, url: str) -> dict[str, Any]:
    """One read and its problem in this process: CPU, wall and peak memory above the start."""
    from registry import db
    from registry.resources.scoring import ScoringConfig
    from registry.resources.store import RegistryStore
    from registry.runs import supply

    store = RegistryStore(db.make_engine(url), ScoringConfig.load())
    selection = mpb.RegistrySelection(product="green_plum", today=TODAY)
    orders = supply.open_orders(store, product="green_plum", today=TODAY)
    before = _rss_mb()
    if read == "records":
        listings, read_cpu, read_s = _timed(
            lambda: supply.open_listings(store, product="green_plum", today=TODAY)
        )
        problem: Callable[[], Any] = lambda: convert.registry_problem(  # noqa: E731
            selection, listings, orders, Objective.WELFARE
        )
    else:
        columns, read_cpu, read_s = _timed(
            lambda: supply.open_listing_columns(store, product="green_plum", today=TODAY)
        )
        problem = lambda: convert.registry_columns_problem(  # noqa: E731
            selection, columns, orders, Objective.WELFARE
        )
    model, problem_cpu, problem_s = _timed(problem)
    peak = _peak_mb() - before
    link_cpu, link_s = _link(read, listings if read == "records" else columns)
    return {
        "listings_read": len(model.listings),
        "read_cpu_s": round(read_cpu, 3),
        "read_s": round(read_s, 3),
        "problem_cpu_s": round(problem_cpu, 3),
        "problem_s": round(problem_s, 3),
        "link_cpu_s": round(link_cpu, 3),
        "link_s": round(link_s, 3),
        "peak_rss_mb": round(peak, 1),
        "link_peak_rss_mb": round(_peak_mb() - before, 1),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def _link(read: str, value: Any) -> tuple[float, float]:
    """CPU and wall seconds the split deployment's link spends on the value, both ends, the
    network aside: the registry's messages made and serialized, the matcher's parsed and
    made into the value again (OpenListings' one message; OpenListingColumns' chunks)."""
    from fupin.registry.v1 import internal_service_pb2 as ipb
    from registry.runs.data import OpenListing
    from server import wire

    def records() -> Any:
        data = wire.fill_response(ipb.OpenListingsResponse(), value).SerializeToString()
        return wire.response_values(ipb.OpenListingsResponse.FromString(data), list[OpenListing])

    def columns() -> Any:
        from server import listing_columns

        sent = [m.SerializeToString() for m in listing_columns.chunks(value)]
        return listing_columns.joined(map(listing_columns.Chunk.FromString, sent))

    _, cpu, wall = _timed(records if read == "records" else columns)
    return cpu, wall


def _timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = work()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    raise SystemExit(read_main())
