"""Fuzz every RPC of every service as every role: no request may answer INTERNAL or UNKNOWN.

    python bench/fuzz.py                        # 10,000 requests per service, SQLite
    python bench/fuzz.py --requests 500 --database-url postgresql://127.0.0.1:5432/postgres

A real server (`fupin serve`, a child process, rate limit off) holds the Zhao'an demo data and
a key of each role. For each service (registry, ledger, access, season, year, internal store,
matcher, health), Hypothesis draws the method, the caller (no key, admin, office of Zhao'an,
a cooperative, a platform, an auditor) and the request: a message built from the method's
input descriptor (bench/fuzzing/messages.py: real ids, dates, region codes, enum numbers valid and
not, numbers at their types' edges, strings and lists at and past the limits), or raw bytes
(random, or a valid request flipped and cut). Server streams are read for at most a second;
client streams send one to three messages. Nothing is shrunk: every request counts once.

Prints one JSON line per service — `bench`, `service`, `rpcs`, `requests`, `internal`,
`unknown`, `other_codes` (the other status codes and how many) — then a total line with the
seconds taken, the load average and whether the server still answers Health/Check. The first
INTERNAL/UNKNOWN answers are described on stderr (method, role, message) to reproduce them.
Exit status 1 when any request answered INTERNAL or UNKNOWN or the server died.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from bench.common import say
from bench.fuzzing.calls import Caller, Method, Tally, services
from bench.fuzzing.messages import Strategies, mutated, raw_bytes
from bench.topology import free_port, fupin_command, wait_serving
from clients import auth, scenario
from clients.cli import demo
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb

ZHAOAN = "350624"


def fuzz_service(
    caller: Caller, methods: list[Method], strategies: Strategies, count: int, seed: int
) -> Tally:
    tally = Tally(rpcs=len(methods))
    rng = random.Random(seed)

    def payload(method: Method) -> st.SearchStrategy[list[bytes]]:
        message = strategies.message(method.input.DESCRIPTOR, method.input)
        one = st.one_of(
            message.map(lambda m: m.SerializeToString()),
            message.map(lambda m: m.SerializeToString()),
            message.map(lambda m: m.SerializeToString()),
            message.map(lambda m: mutated(m.SerializeToString(), rng)),
            raw_bytes(),
        )
        return st.lists(one, min_size=1, max_size=3 if method.client_streaming else 1)

    requests = st.one_of([st.tuples(st.just(m), payload(m)) for m in methods])
    roles = ["none", *caller.keys]

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis_seed(seed)
    @given(requests)
    def one(request: tuple[Method, list[bytes]]) -> None:
        method, payloads = request
        # the caller evenly (Hypothesis would favour the first, the anonymous one)
        caller.send(method, rng.choice(roles), payloads, tally)

    with warnings.catch_warnings():
        # the strategies' repr (for a report we never print) is large: Hypothesis warns
        warnings.filterwarnings("ignore", "Generating overly large repr")
        one()
    caller.wait()
    return tally


@contextmanager
def server(database_url: str, folder: Path) -> Iterator[str]:
    """`fupin serve` on a free port, rate limit off; yields its address."""
    address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "FUPIN_DATABASE_URL": database_url,
        "FUPIN_ADMIN_KEY_FILE": str(folder / "admin.key"),
        "FUPIN_RATE_LIMIT_PER_S": "0",
        "FUPIN_LOG_FORMAT": "json",
    }
    log = (folder / "server.log").open("wb")
    child = subprocess.Popen(
        [*fupin_command(), "serve", "--address", address], env=env, stdout=log, stderr=log
    )
    try:
        wait_serving(address, timeout_s=120)
        yield address
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
        log.close()


def seed_registry(channel: grpc.Channel) -> tuple[dict[str, str], list[str]]:
    """The demo's data and one key per role; the ids worth guessing."""
    registry = api_grpc.RegistryServiceStub(channel)
    demo.load(registry, scenario.build())
    ids: list[str] = []
    for name, field_name in (
        ("ListVillages", "villages"),
        ("ListHouseholds", "households"),
        ("ListProducers", "producers"),
        ("ListListings", "listings"),
        ("ListBuyers", "buyers"),
        ("ListOrders", "orders"),
    ):
        request = getattr(api, f"{name}Request")(page_size=1000)
        ids += [x.id for x in getattr(getattr(registry, name)(request), field_name)]
    producers = registry.ListProducers(api.ListProducersRequest(page_size=1000)).producers
    coop = next(p.id for p in producers if p.kind == pb.PRODUCER_COOPERATIVE)
    buyer = registry.ListBuyers(api.ListBuyersRequest(page_size=1)).buyers[0].id
    access = apb_grpc.AccessServiceStub(channel)
    keys = {}
    for role, scope in (
        ("office", ZHAOAN),
        ("cooperative", coop),
        ("platform", buyer),
        ("auditor", ""),
    ):
        made = access.CreateApiKey(
            apb.CreateApiKeyRequest(role=apb.Role.Value(role.upper()), scope=scope)
        )
        keys[role] = made.secret
    return keys, ids


def fuzz_one_service(
    service: str, address: str, keys: dict[str, str], ids: list[str], requests: int, seed: int
) -> dict[str, Any]:
    """One service's fuzz in a worker process: its JSON line."""
    say(f"fuzz: {service}: {requests:,} requests")
    started = time.perf_counter()
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(address, options=options) as channel:
        caller = Caller(channel, keys)
        tally = fuzz_service(caller, services()[service], Strategies(ids), requests, seed)
        caller.pool.shutdown()
    return {**tally.line(service), "seconds": round(time.perf_counter() - started, 1)}


def run(
    requests: int,
    database_url: str,
    seed_value: int = 0,
    jobs: int = 2,
    only: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Fuzz every service against a fresh server; the JSON lines (services, then the total)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fupin-fuzz-") as temp:
        folder = Path(temp)
        url = database_url or f"sqlite:///{folder / 'fuzz.db'}"
        with server(url, folder) as address:
            admin = (folder / "admin.key").read_text().strip()
            with auth.open_channel(address, api_key=admin) as admin_channel:
                keys, ids = seed_registry(admin_channel)
            keys["admin"] = admin
            names = [n for n in sorted(services()) if not only or any(o in n for o in only)]
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(jobs, mp_context=spawn) as workers:
                lines = list(
                    workers.map(
                        fuzz_one_service,
                        names,
                        [address] * len(names),
                        [keys] * len(names),
                        [ids] * len(names),
                        [requests] * len(names),
                        [seed_value + i for i in range(len(names))],
                    )
                )
            with grpc.insecure_channel(address) as channel:
                alive = _alive(channel)
    total = {
        "bench": "fuzz",
        "service": "total",
        "rpcs": sum(line["rpcs"] for line in lines),
        "requests": sum(line["requests"] for line in lines),
        "internal": sum(line["internal"] for line in lines),
        "unknown": sum(line["unknown"] for line in lines),
        "server_alive": alive,
        "seconds": round(time.perf_counter() - started, 1),
        "load_avg": [round(x, 1) for x in os.getloadavg()],
    }
    return [*lines, total]


def _alive(channel: grpc.Channel) -> bool:
    try:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    except grpc.RpcError:
        return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="per service")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="services fuzzed at once")
    parser.add_argument(
        "--services", nargs="*", default=(), help="only these (parts of names), e.g. Ledger"
    )
    args = parser.parse_args(argv)
    lines = run(args.requests, args.database_url, args.seed, args.jobs, args.services)
    for line in lines:
        print(json.dumps(line), flush=True)
    total = lines[-1]
    return 0 if total["internal"] == total["unknown"] == 0 and total["server_alive"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
