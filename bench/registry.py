"""Registry benchmark: bulk-import throughput and Get latency over gRPC, per database.

    python bench/registry.py [--rows 100000] [--gets 2000] [--db sqlite,postgres]

For each database: a fresh one (a temporary SQLite file; a new PostgreSQL database on
--postgres-url, dropped afterwards), a real server in a separate process (so client and server
do not share a GIL; it logs at info level to /dev/null, as a production server would log), 200
villages, a households CSV of --rows rows (bench/data.py) read with clients/csvio.py, then

- import_rows_per_s: rows / seconds of one ImportHouseholds stream through RegistryClient
  (chunks of 2,000; the clock stops when the server has stored every row);
- get_p50_ms, get_p99_ms: --gets sequential GetHousehold calls of random imported households;
- bare_grpc_p50_ms, bare_grpc_p99_ms: as many bare calls, interleaved with the Gets (a Get,
  a bare call, a Get...): a trivial unary RPC served by the same server process, on its event
  loop and its call threads, but without its interceptors (no key, no log line, no audit) and
  without a database; it returns the bytes it gets, one serialized household each way. The
  floor a Get is held against (issue #18: get_p99_ms <= 2 x bare_grpc_p99_ms);
- list_s: `fupin list households` (its table) of every imported household, run as the CLI
  (its own process, stdout to /dev/null), start to exit;
- load_avg, and python_ref_s: how fast the machine runs plain Python just then
  (bench/memory.py: lines compare across machines and hours only as ratios).

Prints one JSON line per database on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from bench import data
from bench.memory import python_ref_s
from clients import csvio
from clients.client import HOUSEHOLDS, RegistryClient

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
VILLAGES = 200
WARMUP_GETS = 100
KEY_FILE = "var/bench/admin.key"  # the fresh database's first admin key, for the clients
BARE = "bench.Bare"  # the bare RPC's service name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--db", default="sqlite,postgres", help="comma-separated backends")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin database")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    for backend in args.db.split(","):
        with database(backend, args.postgres_url) as url, _child(_serve_bench, url) as ports:
            port, bare_port = ports
            result = measure(f"127.0.0.1:{port}", f"127.0.0.1:{bare_port}", args)
        print(json.dumps({"bench": "registry", "db": backend, **result}), flush=True)
    return 0


@contextmanager
def database(backend: str, admin_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database of the backend; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="fupin-bench-") as folder:
            yield f"sqlite:///{folder}/fupin.db"
        return
    if backend != "postgres":
        raise SystemExit(f"unknown --db {backend!r}: use sqlite and/or postgres")
    from sqlalchemy import create_engine, text

    name = f"fupin_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_process(database_url: str, *, daemon: bool = True) -> AbstractContextManager[int]:
    """A fupin server in a child process on a free loopback port; yields the port. Not a
    daemon (`daemon=False`) when it must start solver processes of its own (a match run)."""
    return _child(_serve, database_url, daemon=daemon)


@contextmanager
def _child(serve: Callable[..., None], *args: Any, daemon: bool = True) -> Iterator[Any]:
    """serve(*args, ports, stop) in a spawned child that puts its port(s); yields them."""
    context = multiprocessing.get_context("spawn")
    ports: Any = context.Queue()
    stop = context.Event()
    child = context.Process(target=serve, args=(*args, ports, stop), daemon=daemon)
    child.start()
    try:
        yield ports.get(timeout=120)
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.kill()


def _serve(database_url: str, ports: Any, stop: Event) -> None:
    _run_server(database_url, ports, stop, bare=False)


def _serve_bench(database_url: str, ports: Any, stop: Event) -> None:
    """_serve, and a bare RPC on the same server's loop and threads: puts both ports."""
    _run_server(database_url, ports, stop, bare=True)


def _run_server(database_url: str, ports: Any, stop: Event, *, bare: bool) -> None:
    from registry.access.keys import bootstrap_admin
    from server import logs
    from server.server import create_server
    from server.settings import Settings

    sys.stderr = open(os.devnull, "w")  # noqa: SIM115  # for the life of the process
    logs.configure("json", "info")
    settings = Settings(
        database_url=database_url,
        address="127.0.0.1:0",
        admin_key_file=Path(KEY_FILE),
        rate_limit_per_s=0,  # the bench is the only caller
    )
    running = create_server(settings)
    bootstrap_admin(running.keys, settings.admin_key_file)
    running.start()
    bare_server, bare_port = _bare_server(running.server) if bare else (None, 0)
    ports.put((running.port, bare_port) if bare else running.port)
    stop.wait()
    if bare_server is not None:
        running.server.call(bare_server.stop(0))
    running.server.stop(1).wait()
    running.close()


def _bare_server(loop_server: Any) -> tuple[Any, int]:
    """A second grpc.aio server in the fupin server's process, on its event loop and its pool
    of call threads (server/loop.py), with no interceptors: one method that returns the bytes
    it gets. Its calls travel the path a Get travels, minus everything fupin adds."""
    import grpc

    async def make() -> Any:
        return grpc.aio.server(migration_thread_pool=loop_server.pool)

    server = loop_server.call(make())
    echo = grpc.unary_unary_rpc_method_handler(lambda request, _: request)  # bytes as they are
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(BARE, {"Echo": echo}),))
    port = int(server.add_insecure_port("127.0.0.1:0"))
    loop_server.call(server.start())
    return server, port  # the server stops when it is collected: the caller keeps it


def measure(target: str, bare_target: str, args: argparse.Namespace) -> dict[str, Any]:
    os.environ["FUPIN_API_KEY_FILE"] = KEY_FILE  # written by the server process
    rows = args.rows
    with RegistryClient(target, import_timeout_s=3600) as client:
        village_ids = data.create_villages(client, VILLAGES, args.seed)
        table = _households(village_ids, rows, args.seed)
        _say(f"importing {rows:,} households into {target}")
        started = time.perf_counter()
        response = client.import_rows(HOUSEHOLDS, table.rows)
        import_s = time.perf_counter() - started
        if response.imported != rows:
            raise SystemExit(f"imported {response.imported} of {rows} rows")
        latencies, bare = _interleaved_ms(client, bare_target, list(response.ids), args)
    list_s = _cli_list_s(target)
    percentiles = statistics.quantiles(latencies, n=100, method="inclusive")
    bare_percentiles = statistics.quantiles(bare, n=100, method="inclusive")
    return {
        "rows": rows,
        "import_rows_per_s": round(rows / import_s),
        "get_p50_ms": round(percentiles[49], 3),
        "get_p99_ms": round(percentiles[98], 3),
        "bare_grpc_p50_ms": round(bare_percentiles[49], 3),
        "bare_grpc_p99_ms": round(bare_percentiles[98], 3),
        "list_s": round(list_s, 2),
        "load_avg": os.getloadavg()[0],
        "python_ref_s": python_ref_s(),
    }


def _interleaved_ms(
    client: RegistryClient, bare_target: str, ids: list[str], args: argparse.Namespace
) -> tuple[list[float], list[float]]:
    """Latencies of args.gets GetHousehold calls of random households and of as many bare
    calls, alternated (which of the pair goes first alternates too), so that both see the
    same moments of the machine's load."""
    import grpc

    rng = random.Random(args.seed)
    payload = client.get(HOUSEHOLDS, ids[0]).SerializeToString()
    with grpc.insecure_channel(bare_target) as channel:
        echo = channel.unary_unary(f"/{BARE}/Echo", None, None)  # bytes as they are

        def get() -> None:
            client.get(HOUSEHOLDS, rng.choice(ids))

        def bare() -> None:
            echo(payload, timeout=10)

        for _ in range(WARMUP_GETS):
            get()
            bare()
        gets: list[float] = []
        bares: list[float] = []
        for n in range(args.gets):
            pair = ((get, gets), (bare, bares))
            for call, into in pair if n % 2 == 0 else pair[::-1]:
                started = time.perf_counter()
                call()
                into.append((time.perf_counter() - started) * 1000)
    return gets, bares


def _cli_list_s(target: str) -> float:
    """`fupin list households` to /dev/null, timed from start to exit."""
    command = [str(Path(sys.executable).with_name("fupin")), "list", "households"]
    command += ["--target", target, "--timeout", "600"]
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def _households(village_ids: list[str], rows: int, seed: int) -> csvio.Table:
    with tempfile.TemporaryDirectory(prefix="fupin-bench-") as folder:
        path = Path(folder) / "households.csv"
        data.write_households_csv(path, village_ids, rows, seed=seed)
        started = time.perf_counter()
        table = csvio.read_file("households", path)
    _say(f"read {rows:,} CSV rows in {time.perf_counter() - started:.1f} s")
    return table


def _say(text: str) -> None:
    sys.stderr.write(f"bench: {text}\n")


if __name__ == "__main__":
    sys.exit(main())
