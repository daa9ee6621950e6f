"""Long waits hold no thread: a thousand open streams and a hundred MatchProduce calls from one
key, while another key's calls keep answering (issue #14, docs/reliability.md).

    python bench/streams.py [--streams 1000] [--matches 100] [--samples 300]

Starts a server of its own in this process (SQLite in a temporary directory; default settings
except no rate limit and one solver process), then measures an office key's GetHousehold and a
keyless Health/Check, called one after the other: `--samples` rounds idle; then, with
`--streams` streams open (half keyless Health/Watch, half WatchMatchRun of a platform key on a
run another matcher is solving), rounds for as long as any of that platform key's `--matches`
MatchProduce calls waits for its solve ("loaded"); then `--samples` rounds with the streams
alone ("streams"). Prints one JSON line: bench, streams, matches, rounds of each phase,
p50/p99 in ms of get_household and health_check for `unloaded`, `loaded` and `streams`,
threads_idle and threads_loaded_peak (threads of this process, server and client: the
streams take none; each queued solve has a sleeping supervisor thread), still_open (streams
open at the end), proposed (MatchProduce answers PROPOSED), errors
(failed calls of any kind: there should be none), and load_avg (1-minute, at the end; this
machine's 2 cores are shared).

tests/server/test_streams.py runs the same storm with its assertions (bench is measurement).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.auth import open_channel
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service.source import RunState
from registry.access.policy import Role
from server import logs
from server.server import Running, create_server
from server.settings import Settings
from server.sources import InProcessSource
from tests import factories

STREAMS_PER_CHANNEL = 100


@contextmanager
def own_server(directory: Path, **settings: Any) -> Iterator[Running]:
    """A server of its own on SQLite in `directory`, started, stopped on exit."""
    running = create_server(
        Settings(
            database_url=f"sqlite:///{directory / 'streams.db'}",
            address="127.0.0.1:0",
            rate_limit_per_s=0,
            max_parallel_solves=1,
            grace_s=1,
            **settings,
        )
    )
    running.start()
    try:
        yield running
    finally:
        running.server.stop(0).wait()
        running.close()


@dataclass
class World:
    """Who calls: an office key (the other key), a platform key (the storm's), a household the
    office may read, and a run another matcher process is solving, scoped to the platform."""

    port: int
    office_key: str
    platform_key: str
    household_id: str
    run_id: str


def setup(running: Running) -> World:
    assert running.keys is not None
    assert running.store is not None
    admin = running.keys.create(Role.ADMIN).secret
    with open_channel(f"127.0.0.1:{running.port}", api_key=admin) as channel:
        registry = api_grpc.RegistryServiceStub(channel)
        village = factories.create_village(registry)
        household = factories.create_household(registry, village.id)
        buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()), timeout=30)
    source = InProcessSource(running.store)
    run, _ = source.create_run(
        run_id="run-elsewhere",
        kind=mpb.PRODUCE,
        parameters=b"",
        owner="elsewhere.example:1",  # another host's matcher: never marked abandoned here
        request_id="",
        fingerprint="",
        scope=buyer.id,
    )
    source.update_run(run.id, state=RunState.RUNNING)
    return World(
        port=running.port,
        office_key=running.keys.create(Role.OFFICE, village.admin_code[:6]).secret,
        platform_key=running.keys.create(Role.PLATFORM, buyer.id).secret,
        household_id=household.id,
        run_id=run.id,
    )


def produce_problem(seed: int, listings: int = 150, orders: int = 40) -> mpb.ProduceProblem:
    """A small problem (distinct per seed) that takes a solver process a moment."""
    at = pb.LatLng(latitude=23.71, longitude=117.18)
    return mpb.ProduceProblem(
        listings=[
            mpb.InlineListing(
                id=f"l{i}",
                product="green_plum",
                grade="A",
                quantity_kg=100 + (seed * 7 + i * 13) % 400,
                floor_price_fen=120 + i % 30,
                location=pb.LatLng(latitude=at.latitude + i * 0.003, longitude=at.longitude),
                available_from="2020-05-01",
                available_until="2020-05-31",
                shelf_life_days=10,
                shares=[mpb.PovertyShare(poverty_class=mpb.IMPOVERISHED, share_permille=1000)],
            )
            for i in range(listings)
        ],
        orders=[
            mpb.InlineOrder(
                id=f"o{j}",
                product="green_plum",
                accepted_grades=["A"],
                max_quantity_kg=300 + (seed + j * 31) % 900,
                price_fen=240 + j % 40,
                location=pb.LatLng(latitude=23.30 + j * 0.01, longitude=116.17),
                deliver_by="2020-06-10",
            )
            for j in range(orders)
        ],
        today="2020-05-10",
    )


@dataclass
class Storm:
    """Open streams and waiting MatchProduce calls (one platform key, and no key)."""

    world: World
    streams: int
    matches: int
    channels: list[grpc.Channel] = field(default_factory=list)
    open: list[Any] = field(default_factory=list)
    calls: list[Any] = field(default_factory=list)

    def __enter__(self) -> Storm:
        target = f"127.0.0.1:{self.world.port}"
        # Each channel its own connection (a local subchannel pool), a hundred streams on each.
        local = [("grpc.use_local_subchannel_pool", 1)]
        for n in range(self.streams):
            if n % STREAMS_PER_CHANNEL == 0:
                keyless = n % (2 * STREAMS_PER_CHANNEL) == 0
                key = None if keyless else self.world.platform_key
                self.channels.append(open_channel(target, api_key=key, options=local))
            channel = self.channels[-1]
            if n // STREAMS_PER_CHANNEL % 2 == 0:
                stream = health_pb2_grpc.HealthStub(channel).Watch(
                    health_pb2.HealthCheckRequest(), timeout=600
                )
            else:
                stream = mpb_grpc.MatcherServiceStub(channel).WatchMatchRun(
                    mpb.WatchMatchRunRequest(id=self.world.run_id), timeout=600
                )
            self.open.append(stream)
            next(stream)  # its first message: admitted and open
        platform = open_channel(target, api_key=self.world.platform_key, options=local)
        self.channels.append(platform)
        match = mpb_grpc.MatcherServiceStub(platform).MatchProduce
        self.calls = [
            match.future(mpb.MatchProduceRequest(inline=produce_problem(n)), timeout=600)
            for n in range(self.matches)
        ]
        return self

    def pending(self) -> int:
        return sum(not call.done() for call in self.calls)

    def still_open(self) -> int:
        return sum(not stream.done() for stream in self.open)

    def results(self) -> list[mpb.MatchRun | grpc.RpcError]:
        """Every MatchProduce's answer (waits for them)."""
        out: list[mpb.MatchRun | grpc.RpcError] = []
        for call in self.calls:
            try:
                out.append(call.result())
            except grpc.RpcError as error:
                out.append(error)
        return out

    def __exit__(self, *exc: object) -> None:
        for stream in self.open:
            stream.cancel()
        for call in self.calls:
            call.cancel()
        for channel in self.channels:
            channel.close()


def sample(
    world: World,
    rounds: int,
    metrics: Any = None,
    *,
    until: Callable[[], bool] | None = None,
) -> dict[str, list[float]]:
    """Seconds of each GetHousehold (office key) and Health/Check (no key), one after the
    other, `rounds` times or (with `until`) until it is true; raises the first failure. With
    `metrics`, also the waits in flight each round."""
    target = f"127.0.0.1:{world.port}"
    times: dict[str, list[float]] = {"get_household": [], "health_check": [], "waits": []}
    with (
        open_channel(target, api_key=world.office_key) as office,
        open_channel(target) as anyone,
    ):
        registry = api_grpc.RegistryServiceStub(office)
        health = health_pb2_grpc.HealthStub(anyone)
        for n in itertools.count():
            if until() if until is not None else n >= rounds:
                break
            started = time.perf_counter()
            got = registry.GetHousehold(api.GetHouseholdRequest(id=world.household_id), timeout=30)
            assert got.id == world.household_id
            times["get_household"].append(time.perf_counter() - started)
            started = time.perf_counter()
            answer = health.Check(health_pb2.HealthCheckRequest(), timeout=30)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            times["health_check"].append(time.perf_counter() - started)
            if metrics is not None:
                times["waits"].append(in_flight(metrics, "streams"))
    return times


def in_flight(metrics: Any, kind: str) -> float:
    return float(metrics.registry.get_sample_value("fupin_in_flight", {"kind": kind}) or 0)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--matches", type=int, default=100)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args(argv)
    logs.configure("console", "warning")  # a line per call would be 2,000 lines and more
    out: dict[str, Any] = {"bench": "streams", "streams": args.streams, "matches": args.matches}
    with tempfile.TemporaryDirectory() as directory, own_server(Path(directory)) as running:
        world = setup(running)
        phases = {"unloaded": sample(world, args.samples)}
        out["threads_idle"] = threading.active_count()
        peak = [0]

        def done() -> bool:
            peak[0] = max(peak[0], threading.active_count())
            return not storm.pending()

        with Storm(world, args.streams, args.matches) as storm:
            phases["loaded"] = sample(world, 0, until=done)
            out["threads_loaded_peak"] = peak[0]
            phases["streams"] = sample(world, args.samples)
            out["still_open"] = storm.still_open()
            answers = storm.results()
        out["errors"] = sum(isinstance(a, grpc.RpcError) for a in answers)
        out["proposed"] = sum(
            not isinstance(a, grpc.RpcError) and a.state == mpb.PROPOSED for a in answers
        )
        for phase, times in phases.items():
            out[f"rounds_{phase}"] = len(times["health_check"])
            for name in ("get_household", "health_check"):
                if times[name]:
                    out[f"{name}_p50_{phase}_ms"] = round(quantile(times[name], 0.5) * 1000, 2)
                    out[f"{name}_p99_{phase}_ms"] = round(quantile(times[name], 0.99) * 1000, 2)
    out["load_avg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
