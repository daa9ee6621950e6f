"""Faults on the split deployment: kill the registry, restart PostgreSQL, kill the matcher.

    python bench/faults.py [--runs 20] [--scenarios registry_kill_import,...]

Everything runs on a throwaway PostgreSQL cluster (initdb into a temporary folder, its own
port), so restarting it disturbs no one else; the registry and the matcher are separate
processes on loopback (bench/topology.py). Every check reads the database directly. One JSON
line per scenario with bench, scenario, runs, lost, duplicated, half_written, recovered_s (the
worst run; recovered_p50_s the median) and what else the scenario counts:

- registry_kill_import: SIGKILL the registry during a bulk household import (one transaction),
  restart it, resend the import with the same request_id. half_written: a batch found with
  neither 0 nor all of its rows after the kill; duplicated: more than all after the resend;
  lost: fewer. recovered_s: kill until the resent import is acknowledged.
- registry_kill_commit: four produce runs are committed at once through the matcher; the
  registry is SIGKILLed among them and restarted; each client retries its commit with the same
  request_id until acknowledged. lost: an acknowledged commit not COMMITTED; duplicated:
  reservations or ledger entries beyond the run's allocations (applied twice); half_written:
  some but not all of a run's reservations or ledger entries.
- postgres_restart: eight clients create buyers (each keyed by its own request_id, retried
  until acknowledged) and read them while PostgreSQL restarts (pg_ctl restart -m fast).
  lost: acknowledged buyers missing; duplicated: a request_id stored twice; server_unavailable:
  calls the registry answered UNAVAILABLE (from its /metrics), client_unavailable: those still
  failing after the channel's retries, other_codes: failures other than UNAVAILABLE (calls
  must fail UNAVAILABLE, then succeed).
  recovered_s: restart start until calls succeed again.
- matcher_kill_solve: SIGKILL the matcher while a run is RUNNING, restart it: the run must be
  FAILED (lost: it is not) with no allocations (half_written), and the same selection must
  solve again (not_rerun). recovered_s: kill until the run is FAILED.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from bench.cluster import throwaway_cluster
from bench.common import say
from bench.fault.context import Context, Line, setup
from bench.fault.matcher import matcher_kill_solve
from bench.fault.registry import postgres_restart, registry_kill_commit, registry_kill_import
from bench.topology import Topology


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    names = args.scenarios.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    with (
        throwaway_cluster() as cluster,
        tempfile.TemporaryDirectory(prefix="fupin-faults-") as workdir,
        Topology(cluster.url("fupin"), Path(workdir)) as topology,
    ):
        context = setup(topology, cluster, args.seed)
        for name in names:
            say(f"faults: {name} x {args.runs}")
            print(SCENARIOS[name](context, args.runs).json(), flush=True)
        context.db.dispose()
    return 0


SCENARIOS: dict[str, Callable[[Context, int], Line]] = {
    "registry_kill_import": registry_kill_import,
    "registry_kill_commit": registry_kill_commit,
    "postgres_restart": postgres_restart,
    "matcher_kill_solve": matcher_kill_solve,
}

if __name__ == "__main__":
    sys.exit(main())
