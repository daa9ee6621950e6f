"""Benchmark the aid model; one JSON line per size.

    .venv/bin/python bench/aid.py [--size 5000x10] [--time-limit 30] [--workers 2] [--seed 2024]
                                  [--grpc]

Sizes: 5,000 households × 10 programmes and 50,000 × 20 (``matcher.solvers.aid.demo``: six poor
counties, about half the households impoverished with scores skewed low, 1–3 causes each, ten
kinds of programme province-wide and then county editions, budgets 30–50% of the demand of the
eligible households, a cap, two exclusive groups and two regional quotas).

``end_to_end_s`` is our ``solve`` from the problem objects to the result. With ``--grpc`` it is
one ``AllocateAid`` call (inline problem) to ``fupin serve`` in another process (SQLite), from
the request leaving to the response arriving, and ``peak_rss_mb`` is the server tree's (server,
forkserver, solver process); those lines say ``"bench": "aid_grpc"``. ``greedy_objective`` is
``greedy`` (the need-first rule) on the same instance. Target: within 0.5% of the bound in 30 s
on 2 cores at 50,000 × 20, and better than the greedy.

Each size runs in a fresh process so ``peak_rss_mb`` (ru_maxrss) is that size's own peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.solvers.aid import greedy, solve
from matcher.solvers.aid.demo import demo_problem
from matcher.solvers.common.solving import SolveParams

SIZES = ("5000x10", "50000x20")


def measure(size: str, time_limit_s: float, workers: int, seed: int) -> dict[str, Any]:
    """Solve one seeded instance and report the figures."""
    households, programmes = (int(n) for n in size.split("x"))
    problem = demo_problem(households, programmes, seed=seed)
    baseline = greedy(problem)
    started = time.perf_counter()
    result = solve(problem, SolveParams(time_limit_s=time_limit_s, workers=workers, seed=seed))
    elapsed = time.perf_counter() - started
    return {
        "bench": "aid",
        "households": households,
        "programmes": programmes,
        "end_to_end_s": round(elapsed, 3),
        "objective": result.objective,
        "bound": result.bound,
        "gap": round(result.gap, 6),
        "greedy_objective": baseline.objective,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure_grpc(size: str, time_limit_s: float, seed: int) -> dict[str, Any]:
    """The same instance through a server: one AllocateAid call, timed from the outside."""
    from bench.memory import TreeMemory
    from bench.produce import CHANNEL_OPTIONS, fupin_serve
    from bench.registry import database
    from clients import auth
    from fupin.matcher.v1 import matcher_service_pb2 as mpb
    from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
    from matcher.service.aid_request import inline_request

    households, programmes = (int(n) for n in size.split("x"))
    problem = demo_problem(households, programmes, seed=seed)
    baseline = greedy(problem)
    request = inline_request(problem)
    request.parameters.time_limit_s = time_limit_s
    request.parameters.seed = seed
    warm_up = inline_request(demo_problem(50, 3, seed=seed))
    with (
        database("sqlite", "") as url,
        fupin_serve(url) as target,
        auth.open_channel(target, api_key=auth.resolve_key(), options=CHANNEL_OPTIONS) as channel,
    ):
        stub = mpb_grpc.MatcherServiceStub(channel)
        stub.AllocateAid(warm_up, timeout=120)  # the forkserver starts on first use
        with TreeMemory() as memory:
            started = time.perf_counter()
            run = stub.AllocateAid(request, timeout=time_limit_s + 120)
            elapsed = time.perf_counter() - started
    if run.state != mpb.PROPOSED:
        raise SystemExit(f"run {run.id} ended {mpb.RunState.Name(run.state)}: {run.error}")
    return {
        "bench": "aid_grpc",
        "households": households,
        "programmes": programmes,
        "end_to_end_s": round(elapsed, 3),
        "objective": run.objective,
        "bound": round(run.best_bound),
        "gap": round(run.gap, 6),
        "greedy_objective": baseline.objective,
        "peak_rss_mb": round(memory.peak_mb, 1),
        "grants": len(run.aid.grants),
        "status": mpb.SolveStatus.Name(run.status),
        "load_s": round(run.timings.load_s, 3),  # request to model objects, on the server
        "run_total_s": round(run.timings.total_s, 3),  # load + queue + solve in the worker
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, help="one size only (default: all)")
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--grpc", action="store_true", help="through AllocateAid on a server")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.grpc:
        for size in [args.size] if args.size else SIZES:
            print(json.dumps(measure_grpc(size, args.time_limit, args.seed)), flush=True)
        return
    if args.child:
        figures = measure(args.size, args.time_limit, args.workers, args.seed)
        print(json.dumps(figures), flush=True)
        return
    for size in [args.size] if args.size else SIZES:
        command = [sys.executable, __file__, "--child", "--size", size]
        command += ["--time-limit", str(args.time_limit), "--workers", str(args.workers)]
        subprocess.run([*command, "--seed", str(args.seed)], check=True)


if __name__ == "__main__":
    main()
