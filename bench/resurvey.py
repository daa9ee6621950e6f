"""Re-survey benchmark: a county's annual re-survey (动态调整) of 100,000 households on PostgreSQL.

    python bench/resurvey.py [--rows 100000] [--changed 0.3] [--db postgres]

A fresh database and a real server in a separate process (bench/registry.py's), 200 villages
and --rows households imported, then next year's survey of the same cards: a --changed share
with a new income (and so a new score), 1% new households and 1% not surveyed. Measured:

- dry_run_s: seconds of a ResurveyHouseholds dry run (the diff, nothing written);
- commit_rows_per_s: surveyed rows / seconds of the committing ResurveyHouseholds call
  (streamed in chunks of 2,000; the clock stops when the server has written everything);
- import_rows_per_s: the setup's ImportHouseholds of last year's rows, as a reference taken
  under the same load (the machine is shared: compare the two, not runs on different days).

Prints one JSON line on stdout (with the load average); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from bench import data
from bench.registry import KEY_FILE, POSTGRES_ADMIN_URL, database, server_process
from bench.registry import VILLAGES as VILLAGE_COUNT
from bench.registry import _households as households_table
from clients import auth
from clients.client import HOUSEHOLDS, VILLAGES, RegistryClient
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc

CHUNK = 2000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.3, help="share of changed rows")
    parser.add_argument("--db", default="postgres", help="postgres or sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin database")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with database(args.db, args.postgres_url) as url, server_process(url) as port:
        result = measure(f"127.0.0.1:{port}", args.rows, args.changed, args.seed)
    line = {"bench": "resurvey", "db": args.db, **result}
    line["load_avg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(line), flush=True)
    return 0


def measure(target: str, rows: int, share: float, seed: int) -> dict[str, Any]:
    os.environ["FUPIN_API_KEY_FILE"] = KEY_FILE  # written by the server process
    with RegistryClient(target, import_timeout_s=3600) as client:
        village_ids = data.create_villages(client, VILLAGE_COUNT, seed)
        region = client.get(VILLAGES, village_ids[0]).admin_code[:6]
        table = households_table(village_ids, rows, seed)
        _say(f"importing {rows:,} households (last year's survey)")
        started = time.perf_counter()
        client.import_rows(HOUSEHOLDS, table.rows)
        import_s = time.perf_counter() - started
    survey = next_year(list(table.rows), share, seed)
    with auth.client_channel(target) as channel:
        stub = ypb_grpc.YearServiceStub(channel)
        _say(f"dry run of {len(survey):,} rows")
        started = time.perf_counter()
        dry = stub.ResurveyHouseholds(chunks(survey, region, dry_run=True), timeout=3600)
        dry_run_s = time.perf_counter() - started
        _say(f"commit of {len(survey):,} rows")
        started = time.perf_counter()
        done = stub.ResurveyHouseholds(chunks(survey, region, dry_run=False), timeout=3600)
        commit_s = time.perf_counter() - started
    if (dry.updated, dry.added, dry.missing) != (done.updated, done.added, done.missing):
        raise SystemExit(f"the dry run and the commit disagree: {dry} vs {done}")
    _say(f"updated {done.updated:,}, added {done.added:,}, missing {done.missing:,}")
    return {
        "households": len(survey),
        "changed": done.updated + done.added,
        "missing": done.missing,
        "dry_run_s": round(dry_run_s, 2),
        "commit_s": round(commit_s, 2),
        "commit_rows_per_s": round(len(survey) / commit_s),
        # the same machine, same minute: last year's ImportHouseholds, for reference
        "import_rows_per_s": round(rows / import_s),
    }


def next_year(rows: list[pb.Household], share: float, seed: int) -> list[pb.Household]:
    """Last year's rows with a share re-surveyed at a new income, 1% dropped, 1% new."""
    rng = random.Random(seed)
    survey = []
    for message in rows:
        draw = rng.random()
        if draw < 0.01:
            continue  # not surveyed this year
        row = pb.Household()
        row.CopyFrom(message)
        if draw < 0.01 + share:
            row.indicators.income_per_capita_fen += rng.randrange(10_000, 200_000)
        survey.append(row)
    for i in range(len(rows) // 100):
        row = pb.Household()
        row.CopyFrom(rows[i])
        row.card_number = f"NEW{i:09d}"
        survey.append(row)
    return survey


def chunks(rows: list[pb.Household], region: str, *, dry_run: bool) -> Iterator[Any]:
    yield ypb.ResurveyRequest(year=2021, region_code=region, dry_run=dry_run)
    for start in range(0, len(rows), CHUNK):
        yield ypb.ResurveyRequest(households=rows[start : start + CHUNK])


def _say(text: str) -> None:
    sys.stderr.write(f"bench: {text}\n")


if __name__ == "__main__":
    sys.exit(main())
