"""Produce matching benchmark: MatchProduce over gRPC against bare OR-Tools min-cost flow.

    python bench/produce.py [--sizes small,dense,sparse] [--quick-calls 2000] [--solver-nice 0]

Sizes (listings × orders): small 1,000 × 50; dense 10,000 × 200 (every pair compatible: 2
million arcs); sparse 100,000 × 1,000 (each listing screened against its 30 nearest orders);
province 1,000,000 × 10,000, 30 nearest (30 million arcs), read by a registry selection from
a fresh PostgreSQL database the bench loads (bench/province.py; it takes minutes and about
10 GB of memory, and is run only when named: --sizes province).
For each size one JSON line on stdout with

- end_to_end_s: one MatchProduce call (inline problem) to a server in another process (its
  solver processes at --solver-nice, 0 by default: the bare flow's niceness), from the
  request leaving to the response arriving; build_s / solve_s as the run reports;
- bare_mcf_s: OR-Tools SimpleMinCostFlow alone (add arcs, supplies, solve) on the same arcs,
  timed in this process in the same run; ratio_to_bare = end_to_end_s / bare_mcf_s;
  bare_objective: that flow's optimal value (fen), which objective must equal;
- warm_bare_mcf_s: the same bare flow solved a second time in a fresh process started with the
  solver processes' malloc settings (matcher.service.processes.malloc_tuning): its second solve
  lands on memory its first faulted in, as a warm solver process's does. This process's
  bare_mcf_s faults in OR-Tools' arrays afresh (glibc's default mmap threshold), which costs
  little on a machine whose memory has been used and up to 10 µs a page on a freshly booted
  VM; ratio_to_warm_bare = end_to_end_s / warm_bare_mcf_s is the overhead with that taken out;
- objective and greedy_objective (fen), poor_kg_share and greedy_poor_kg_share (share of the
  kilograms sold that impoverished and at-risk producers sold), for fupin and for the
  first-come-first-served baseline (matcher.solvers.produce.solve.greedy, run here on the same
  problem);
- cpu_s: CPU seconds the call used: the server's process tree (server, forkserver, solver
  processes) and the calling thread; bare_cpu_s: the bare flow's CPU seconds, timed as
  bare_mcf_s is; cpu_ratio_to_bare = cpu_s / bare_cpu_s. On a loaded machine the wall-clock
  ratio measures the scheduler as much as the code; the CPU ratio measures the work;
- load_avg: the machine's one-minute load average after the call; python_ref_s: how fast the
  machine runs plain Python just then (bench/memory.py: lines compare across machines and
  hours only as ratios);
- peak_rss_mb: the largest resident memory of this benchmark's child processes (the server,
  its forkserver and solver process) during the call.

Then a line for quick sourcing: QuickSource p50 / p99 over --quick-calls checkout orders with
100,000 open listings in the registry.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

import grpc
import numpy as np
from ortools.graph.python import min_cost_flow

from bench.memory import TreeMemory, free_port, python_ref_s, tree_cpu_s
from bench.registry import database
from clients import auth
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from matcher.service import convert_produce as convert
from matcher.service import jobs
from matcher.service.processes import malloc_tuning
from matcher.solvers import produce
from matcher.solvers.common.solving import Objective
from matcher.solvers.produce.arcs import build_arcs

SIZES = {"small": (1_000, 50), "dense": (10_000, 200), "sparse": (100_000, 1_000)}
SELECTED = {"province": (1_000_000, 10_000)}  # from a registry selection: bench/province.py
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 256 << 20),
    ("grpc.max_receive_message_length", 256 << 20),
]
BUILD_CPU_S: list[float] = []  # bare_mcf's CPU seconds outside its timing
FORMS = ("columns", "listings")
CLASSES = [mpb.IMPOVERISHED, mpb.AT_RISK, mpb.RETURNED, mpb.LIFTED_OUT, mpb.NOT_POOR]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="small,dense,sparse")
    parser.add_argument("--quick-calls", type=int, default=2000)
    parser.add_argument("--quick-listings", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--forms",
        default="columns,listings",
        help="how the inline problem's listings travel, each measured in turn: "
        "columns (ProduceProblem.listing_columns) and/or listings (a message each)",
    )
    parser.add_argument(
        "--solver-nice",
        type=int,
        default=0,
        help="the server's solver processes' niceness (the server's default is 10)",
    )
    parser.add_argument("--warm-bare", help=argparse.SUPPRESS)  # n,m,seed: warm_bare_mcf_s
    args = parser.parse_args(argv)
    if args.warm_bare:
        _warm_bare(args.warm_bare)
        return 0
    inline = [size for size in args.sizes.split(",") if size not in SELECTED]
    for size in [size for size in args.sizes.split(",") if size in SELECTED]:
        from bench import province

        n, m = SELECTED[size]
        line = province.run(fupin_serve, timed_bare_mcf, listings=n, orders=m, seed=args.seed)
        line["python_ref_s"] = python_ref_s()
        print(json.dumps({"bench": "produce", "size": size, **line}), flush=True)
    if not inline and not args.quick_calls:
        return 0
    forms = args.forms.split(",")
    if set(forms) - set(FORMS):
        parser.error(f"--forms: each of {', '.join(FORMS)}")
    with database("sqlite", "") as url, fupin_serve(url, args.solver_nice) as target:
        measure(target, 50, 5, args.seed, forms)  # warm up: the forkserver starts on first use
        for size in inline:
            n, m = SIZES[size]
            lines = measure(target, n, m, args.seed, forms)
            reference = python_ref_s()  # here, not in measure: the warm-up's lines are dropped
            for line in lines:
                line["python_ref_s"] = reference
                print(json.dumps({"bench": "produce", "size": size, **line}), flush=True)
        if args.quick_calls:
            from bench.quick import measure_quick

            line = measure_quick(target, args.quick_listings, args.quick_calls, args.seed)
            print(json.dumps({"bench": "produce_quick", **line}), flush=True)
    return 0


@contextmanager
def fupin_serve(
    database_url: str, solver_nice: int | None = None, settings: dict[str, str] | None = None
) -> Iterator[str]:
    """`fupin serve` as a child process (its solver processes need a non-daemon parent).

    Its solver processes run at ``solver_nice`` (None: the server's default). At 10 a loaded
    machine gives them a fraction of the CPU the bare flow gets in this process at 0, and the
    ratio measured the other jobs' load; on an idle machine niceness changes nothing."""
    address = f"127.0.0.1:{free_port()}"
    key_file = Path("var/bench/admin.key")  # the fresh database's first admin key, for the clients
    env = {
        **os.environ,
        "FUPIN_LOG_LEVEL": "warning",
        "FUPIN_LOG_FORMAT": "json",
        "FUPIN_ADMIN_KEY_FILE": str(key_file),
        "FUPIN_RATE_LIMIT_PER_S": "0",  # the bench is the only caller
        **(settings or {}),
    }
    if solver_nice is not None:
        env["FUPIN_SOLVER_NICE"] = str(solver_nice)
    os.environ["FUPIN_API_KEY_FILE"] = str(key_file)
    command = [
        str(Path(sys.executable).with_name("fupin")),
        "serve",
        "--address",
        address,
        "--database-url",
        database_url,
    ]
    # Quiet: the first start prints the new admin key, and stdout here is JSON lines only.
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=120)
        yield address
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def problem(n: int, m: int, seed: int, form: str = "listings") -> mpb.ProduceProblem:
    """Plum growers around Zhao'an and buyers across Guangdong and Fujian; every pair fits.
    The listings as messages (form "listings") or as columns ("columns"): the same problem."""
    rng = np.random.default_rng(seed)
    lat, lng = rng.normal(23.9, 0.15, n), rng.normal(117.1, 0.15, n)
    quantity, floor = rng.integers(200, 5000, n), rng.integers(80, 180, n)
    poverty = rng.choice(5, n, p=[0.3, 0.15, 0.05, 0.2, 0.3])
    orders = [
        mpb.InlineOrder(
            id=f"O{j}",
            product="green_plum",
            accepted_grades=["A", "B"],
            max_quantity_kg=int(q),
            price_fen=int(p),
            location={"latitude": float(a), "longitude": float(b)},
            deliver_by="2020-07-31",
        )
        for j, (q, p, a, b) in enumerate(
            zip(
                rng.integers(5_000, 40_000, m) * n // (10 * m),
                rng.integers(250, 400, m),
                rng.uniform(22.5, 24.8, m),
                rng.uniform(113.5, 118.5, m),
                strict=True,
            )
        )
    ]
    out = mpb.ProduceProblem(orders=orders, today="2020-05-15")
    if form == "columns":
        out.listing_columns.CopyFrom(
            mpb.InlineListingColumns(
                id=[f"L{i}" for i in range(n)],
                product=["green_plum"] * n,
                grade=["A"] * n,
                quantity_kg=quantity.tolist(),
                floor_price_fen=floor.tolist(),
                latitude=lat.tolist(),
                longitude=lng.tolist(),
                available_from=["2020-05-01"] * n,
                available_until=["2020-06-30"] * n,
                shelf_life_days=[30] * n,
                share_set=poverty.tolist(),
                share_sets=[
                    mpb.PovertyShares(shares=[{"poverty_class": c, "share_permille": 1000}])
                    for c in CLASSES
                ],
            )
        )
        return out
    out.listings.extend(
        mpb.InlineListing(
            id=f"L{i}",
            product="green_plum",
            grade="A",
            quantity_kg=int(q),
            floor_price_fen=int(f),
            location={"latitude": float(a), "longitude": float(b)},
            available_from="2020-05-01",
            available_until="2020-06-30",
            shelf_life_days=30,
            shares=[mpb.PovertyShare(poverty_class=CLASSES[int(c)], share_permille=1000)],
        )
        for i, (q, f, a, b, c) in enumerate(zip(quantity, floor, lat, lng, poverty, strict=True))
    )
    return out


def measure(target: str, n: int, m: int, seed: int, forms: Sequence[str]) -> list[dict[str, Any]]:
    """One line per form of the inline problem: the same problem, the same bare flow."""
    calls = {}
    for form in forms:
        request = mpb.MatchProduceRequest(
            inline=problem(n, m, seed, form), parameters=mpb.SolveParameters(time_limit_s=300)
        )
        calls[form] = timed_call(target, request)
    model = bare_model(request.inline)
    arcs, bare, bare_cpu, bare_value = timed_bare_mcf(model)
    warm_bare = warm_bare_mcf_s(n, m, seed)
    greedy = produce.greedy(model)
    lines = []
    for form, (run, end_to_end, cpu, peak_mb) in calls.items():
        lines.append(
            {
                "form": form,
                "listings": n,
                "orders": m,
                **run_fields(run, end_to_end, cpu, peak_mb),
                "bare_mcf_s": round(bare, 3),
                "ratio_to_bare": round(end_to_end / bare, 3),
                "warm_bare_mcf_s": round(warm_bare, 3),
                "ratio_to_warm_bare": round(end_to_end / warm_bare, 3),
                "bare_cpu_s": round(bare_cpu, 3),
                "cpu_ratio_to_bare": round(cpu / bare_cpu, 3),
                "bare_objective": bare_value,
                "greedy_objective": greedy.objective,
                "greedy_poor_kg_share": round(
                    greedy.kpis.priority_kg_sold / max(greedy.kpis.kg_sold, 1), 4
                ),
                "bare_arcs": arcs,
            }
        )
    return lines


def run_fields(run: mpb.MatchRun, end_to_end: float, cpu: float, peak_mb: float) -> dict[str, Any]:
    """The keys every produce line has from its timed call (timed_call's figures)."""
    result = run.produce
    return {
        "arcs": int(result.arcs),
        "end_to_end_s": round(end_to_end, 3),
        "build_s": round(run.timings.build_s, 3),
        "solve_s": round(run.timings.solve_s, 3),
        "cpu_s": round(cpu, 3),
        "objective": run.objective,
        "poor_kg_share": round(result.kpis.poor_kg_sold / max(result.kpis.kg_sold, 1), 4),
        "status": mpb.SolveStatus.Name(run.status),
        "peak_rss_mb": round(peak_mb, 1),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def timed_call(
    target: str, request: mpb.MatchProduceRequest, timeout_s: float = 900
) -> tuple[mpb.MatchRun, float, float, float]:
    """One MatchProduce: (run, wall seconds, CPU seconds of the server's process tree and the
    calling thread, peak resident MB of this process's children); SystemExit unless PROPOSED."""
    channel = auth.open_channel(target, api_key=auth.resolve_key(), options=CHANNEL_OPTIONS)
    with channel, TreeMemory() as memory:
        stub = mpb_grpc.MatcherServiceStub(channel)
        cpu_before, thread_before = tree_cpu_s(), time.thread_time()
        started = time.perf_counter()
        run = stub.MatchProduce(request, timeout=timeout_s)
        end_to_end = time.perf_counter() - started
        cpu = tree_cpu_s() - cpu_before + time.thread_time() - thread_before
    if run.state != mpb.PROPOSED:
        raise SystemExit(f"run {run.id} ended {mpb.RunState.Name(run.state)}: {run.error}")
    return run, end_to_end, cpu, memory.peak_mb


def warm_bare_mcf_s(n: int, m: int, seed: int) -> float:
    """The bare flow of problem(n, m, seed), solved twice in a fresh process with the solver
    processes' malloc settings: the second solve's seconds."""
    env = os.environ | malloc_tuning()
    command = [sys.executable, __file__, "--warm-bare", f"{n},{m},{seed}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)["seconds"])


def _warm_bare(spec: str) -> None:
    """--warm-bare n,m,seed: print the second of two bare flows of that problem."""
    n, m, seed = map(int, spec.split(","))
    model = bare_model(problem(n, m, seed, "columns"))
    seconds = [bare_mcf(model)[1] for _ in range(2)]
    print(json.dumps({"seconds": seconds[1], "first_s": seconds[0]}))


def bare_model(inline: mpb.ProduceProblem) -> produce.ProduceColumns:
    """The model the server solves for this inline problem (WELFARE, screened as a job is)."""
    return jobs.sparsified(jobs.ProduceJob(convert.inline_problem(inline, Objective.WELFARE)))


def timed_bare_mcf(model: produce.ProduceColumns) -> tuple[int, float, float, int]:
    """bare_mcf's (arcs, seconds, CPU seconds (the arc build's not counted), value)."""
    cpu_before = time.thread_time()
    arcs, seconds, value = bare_mcf(model)
    return arcs, seconds, time.thread_time() - cpu_before - BUILD_CPU_S.pop(), value


def bare_mcf(model: produce.ProduceColumns) -> tuple[int, float, int]:
    """The same arcs, solved by SimpleMinCostFlow alone; (arcs, seconds, the optimal value in
    fen: the WELFARE objective computed without fupin's solver). The CPU seconds spent
    building the arcs and arrays, outside the timing, go to BUILD_CPU_S."""
    build_started = time.thread_time()
    arcs, _, tables = build_arcs(model)
    n, m = len(model.listings), len(model.orders)
    source, sink = 0, n + m + 1
    supply = model.listings.quantity
    demand = model.orders.max_q
    tails = np.concatenate([np.zeros(n), 1 + arcs.listing, 1 + n + np.arange(m), [source]])
    heads = np.concatenate([1 + np.arange(n), 1 + n + arcs.order, np.full(m, sink), [sink]])
    caps = np.concatenate([supply, arcs.capacity, demand, [supply.sum()]]).astype(np.int64)
    value = arcs.margin + tables.listings.bonus[arcs.listing]
    costs = np.concatenate([np.zeros(n), -value, np.zeros(m + 1)]).astype(np.int64)
    BUILD_CPU_S.append(time.thread_time() - build_started)
    started = time.perf_counter()
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps, costs
    )
    supplies = np.zeros(n + m + 2, np.int64)
    supplies[source], supplies[sink] = supply.sum(), -supply.sum()
    mcf.set_nodes_supplies(np.arange(n + m + 2, dtype=np.int32), supplies)
    if mcf.solve() != mcf.OPTIMAL:
        raise SystemExit("bare min-cost flow did not solve")
    seconds = time.perf_counter() - started
    return int(arcs.size), seconds, -int(mcf.optimal_cost())


if __name__ == "__main__":
    random.seed(0)
    sys.exit(main())
