"""docker-compose.yml on a real Docker engine, end to end: build, up, demo, scale, kill, down.

    make compose-e2e        # or: python bench/compose_e2e.py [--public-images] [--keep]

1. The engine: Debian's docker.io and docker-compose are installed when missing, and dockerd
   is started when none answers, as `dockerd --iptables=false` (no NAT: containers reach one
   another on their compose network and the host reaches them through published ports, but
   they reach nothing outside, so images are built with `network: host`).
2. Build: the base images from Debian packages (scripts/base_images.sh; --public-images uses
   Docker Hub's instead) and the fupin image (`build_s`).
3. Up: postgres, registry, one matcher behind nginx and the web console, until the gRPC
   services are SERVING and the console's sign-in page answers (`up_s`).
4. The demo through the published ports, with the admin key the registry wrote (`demo_ok`).
5. Scale: three matchers behind nginx (service lb, :50052); RUNS small MatchProduce runs
   through it, counted per replica from each one's /metrics (`runs_per_replica`). A page of
   ListMatchRuns from one replica pages on at another (`paged_across_replicas`: they share
   the page-token key file).
6. Kill: a large solve sent to one replica's own port, that container SIGKILLed while the
   run is RUNNING, then started again: the run must be FAILED with no allocation, the same
   selection must solve through the balancer, and the ledger must be intact with as many
   entries as before (`lost` counts the checks that fail).
7. Down, volumes and all (`down_s`). One JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

import grpc
from prometheus_client.parser import text_string_to_metric_families

from bench import data, market
from bench.common import matcher_channel, say
from bench.docker_engine import Compose, Engine
from bench.topology import wait_serving
from clients import auth
from clients.client import (
    BUYERS,
    HOUSEHOLDS,
    LISTINGS,
    ORDERS,
    PRODUCERS,
    RegistryClient,
)
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "fupine2e"
REGISTRY, MATCHER = "127.0.0.1:50051", "127.0.0.1:50052"  # MATCHER: nginx before them all
WEB = "http://127.0.0.1:8080/sign-in"
LOCAL_IMAGES = {
    "FUPIN_PYTHON_IMAGE": "fupin-base/python:3.11-bookworm",
    "FUPIN_POSTGRES_IMAGE": "fupin-base/postgres:15-bookworm",
    "FUPIN_NGINX_IMAGE": "fupin-base/nginx:bookworm",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public-images", action="store_true", help="Docker Hub's bases")
    parser.add_argument("--runs", type=int, default=12, help="runs through the balancer")
    parser.add_argument("--kill-listings", type=int, default=20_000, help="the killed solve")
    parser.add_argument("--keep", action="store_true", help="leave the topology up")
    args = parser.parse_args(argv)
    line: dict[str, Any] = {"bench": "compose_e2e"}
    engine = Engine.ensure()
    env = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT, "FUPIN_BUILD_NETWORK": "host"}
    if not args.public_images:
        env.update(LOCAL_IMAGES)
    compose = Compose(engine, env)
    try:
        line["build_s"] = timed(lambda: build(compose, args.public_images))
        line["up_s"] = timed(lambda: up(compose))
        os.environ["FUPIN_API_KEY"] = compose.output(
            "exec", "-T", "registry", "cat", "/app/keys/admin.key"
        )
        line["demo_ok"] = demo()
        replicas = scale(compose, 3)
        line["replicas"] = len(replicas)
        people = seed_people(random.Random(19))
        line["runs_per_replica"] = spread(compose, replicas, people, args.runs)
        line["paged_across_replicas"] = page_across(compose, replicas)
        line.update(kill_mid_solve(compose, replicas, people, args.kill_listings))
    except BaseException:
        compose.run("ps")
        compose.run("logs", "--tail=15")
        raise
    finally:
        if not args.keep:
            line["down_s"] = timed(lambda: compose.run("down", "-v"))
    print(json.dumps(line), flush=True)
    ok = (
        line.get("demo_ok")
        and line.get("lost") == 0
        and all(line["runs_per_replica"])
        and line.get("paged_across_replicas")
    )
    return 0 if ok else 1


def build(compose: Compose, public: bool) -> None:
    if not public:
        env = {**os.environ, "DOCKER": compose.engine.docker}
        subprocess.run(
            [str(ROOT / "scripts" / "base_images.sh")], env=env, check=True, stdout=sys.stderr
        )
    compose.run("build", "registry")


def up(compose: Compose) -> None:
    compose.run("up", "-d")
    wait_serving(REGISTRY, timeout_s=180)
    wait_serving(MATCHER, timeout_s=120)
    wait_web(timeout_s=120)


def wait_web(timeout_s: float) -> None:
    """Until the web console's sign-in page answers 200 on its published port."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(WEB, timeout=5) as page:
                if page.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def demo() -> bool:
    fupin = str(Path(sys.executable).with_name("fupin"))
    command = [
        fupin,
        "demo",
        "--target",
        REGISTRY,
        "--matcher-target",
        MATCHER,
        "--out",
        str(ROOT / "var" / "compose-e2e"),
    ]
    done = subprocess.run(command, cwd=ROOT, stdout=sys.stderr, check=False)
    return done.returncode == 0


def scale(compose: Compose, replicas: int) -> list[str]:
    """N matchers, all SERVING, then nginx restarted (it resolves `matcher` when it starts)."""
    compose.run(
        "up", "-d", "--no-deps", "--no-recreate", "--scale", f"matcher={replicas}", "matcher"
    )
    containers = compose.containers("matcher")
    for container in containers:
        wait_serving(replica_address(compose, container), timeout_s=120)
    compose.run("restart", "lb")
    wait_serving(MATCHER, timeout_s=60)
    return containers


def replica_address(compose: Compose, container: str) -> str:
    """The replica's own address on the compose network (reached from this host directly)."""
    networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    return f"{compose.engine.output('inspect', '-f', networks, container)}:50051"


def spread(compose: Compose, replicas: list[str], people: Any, runs: int) -> list[int]:
    """MatchProduce runs through the balancer; how many each replica served (its /metrics)."""
    rng = random.Random(19)
    product = f"spread-{uuid.uuid4().hex[:6]}"
    seed_product(rng, people, product, listings=200)
    before = [match_calls(compose, c) for c in replicas]
    with matcher_stub(MATCHER) as matcher:
        for i in range(runs):
            run = matcher.MatchProduce(
                selection_request(product, f"spread-{product}-{i}"), timeout=120
            )
            if run.state != mpb.PROPOSED:
                raise SystemExit(f"compose_e2e: run {run.id} ended {mpb.RunState.Name(run.state)}")
    return [match_calls(compose, c) - b for c, b in zip(replicas, before, strict=True)]


def page_across(compose: Compose, replicas: list[str]) -> bool:
    """ListMatchRuns' first page from one replica, the next from another: the second must
    answer, with other runs than the first."""
    first_at, next_at = (replica_address(compose, c) for c in replicas[:2])
    with matcher_stub(first_at) as matcher:
        first = matcher.ListMatchRuns(mpb.ListMatchRunsRequest(page_size=2), timeout=30)
    with matcher_stub(next_at) as matcher:
        following = matcher.ListMatchRuns(
            mpb.ListMatchRunsRequest(page_size=2, page_token=first.next_page_token), timeout=30
        )
    seen = {run.id for run in first.runs}
    return (
        bool(first.next_page_token)
        and bool(following.runs)
        and not seen & {run.id for run in following.runs}
    )


def kill_mid_solve(
    compose: Compose, replicas: list[str], people: Any, listings: int
) -> dict[str, Any]:
    """SIGKILL the replica solving a run; count what the checks find missing or half-done."""
    rng = random.Random(20)
    product = f"kill-{uuid.uuid4().hex[:6]}"
    seed_product(rng, people, product, listings)
    entries_before = verify_ledger().entries
    victim = replicas[0]
    run_id = f"kill-{uuid.uuid4().hex[:8]}"
    request = selection_request(product, "", time_limit_s=60)
    request.run_id = run_id
    caller = threading.Thread(
        target=call_ignoring_failure, args=(replica_address(compose, victim), request)
    )
    caller.start()
    running = wait_state(run_id, {mpb.RUNNING}, timeout_s=300)
    killed_at = time.perf_counter()
    compose.engine.output("kill", victim)
    caller.join()
    time.sleep(3)  # the engine may restart it itself (restart: unless-stopped)
    if compose.engine.output("inspect", "-f", "{{.State.Running}}", victim) == "true":
        say("compose_e2e: the engine restarted the killed matcher")
    else:
        say("compose_e2e: starting the killed matcher again (same container, same hostname)")
        compose.engine.output("start", victim)
    failed = wait_state(run_id, {mpb.FAILED}, timeout_s=120)
    recovered_s = round(time.perf_counter() - killed_at, 1)
    with matcher_stub(MATCHER) as matcher:
        dead = matcher.GetMatchRun(mpb.GetMatchRunRequest(id=run_id), timeout=30)
        again = matcher.MatchProduce(selection_request(product, f"again-{run_id}"), timeout=300)
    ledger = verify_ledger()
    checks = {
        "killed_while_running": running,
        "marked_failed": failed,
        "no_allocation_kept": not dead.produce.allocations,
        "rerun_proposed": again.state == mpb.PROPOSED and bool(again.produce.allocations),
        "ledger_intact": ledger.intact and ledger.entries == entries_before,
    }
    say(f"compose_e2e: kill checks {checks}")
    return {"lost": sum(not ok for ok in checks.values()), "kill_recovered_s": recovered_s}


def seed_people(rng: random.Random) -> tuple[list[str], list[str]]:
    """Villages, households, 20 producers and 5 buyers for the runs: (producers, buyers)."""
    with RegistryClient(REGISTRY, import_timeout_s=600) as client:
        village_ids = data.create_villages(client, 5, seed=19)
        households = list(client.import_rows(HOUSEHOLDS, data.households(village_ids, 50)).ids)
        producers = [client.create(PRODUCERS, market.producer(rng, h)).id for h in households[:20]]
        buyers = [client.create(BUYERS, market.buyer(rng, i)).id for i in range(5)]
    return producers, buyers


def seed_product(
    rng: random.Random, people: tuple[list[str], list[str]], product: str, listings: int
) -> None:
    """Listings of a product of its own, and one order per 20 listings (10 at least)."""
    producers, buyers = people
    with RegistryClient(REGISTRY, import_timeout_s=600) as client:
        rows = [market.listing(rng, rng.choice(producers)) for _ in range(listings)]
        for row in rows:
            row.product = product
        client.import_rows(LISTINGS, rows)
        for _ in range(max(listings // 20, 10)):
            order = market.order(rng, rng.choice(buyers))
            order.product = product
            client.create(ORDERS, order)


def selection_request(
    product: str, request_id: str, time_limit_s: float = 10
) -> mpb.MatchProduceRequest:
    return mpb.MatchProduceRequest(
        selection=mpb.RegistrySelection(product=product, today="2020-05-20"),
        parameters=mpb.SolveParameters(time_limit_s=time_limit_s),
        request_id=request_id,
    )


@contextmanager
def matcher_stub(target: str) -> Iterator[Any]:
    """The matcher's stub over bench.common's channel (API key, the client's retries)."""
    with matcher_channel(target) as channel:
        yield mpb_grpc.MatcherServiceStub(channel)


def call_ignoring_failure(target: str, request: mpb.MatchProduceRequest) -> None:
    # No retries: the replica is about to die, and its call with it.
    with auth.open_channel(target, api_key=auth.resolve_key()) as channel, suppress(grpc.RpcError):
        mpb_grpc.MatcherServiceStub(channel).MatchProduce(request, timeout=300)


def wait_state(run_id: str, states: set[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    with matcher_stub(MATCHER) as matcher:
        while time.monotonic() < deadline:
            with suppress(grpc.RpcError):  # NOT_FOUND until the run is stored
                run = matcher.GetMatchRun(mpb.GetMatchRunRequest(id=run_id), timeout=10)
                if run.state in states:
                    return True
                if run.state not in (mpb.QUEUED, mpb.RUNNING):
                    return False
            time.sleep(0.05)
    return False


def verify_ledger() -> Any:
    with auth.open_channel(REGISTRY, api_key=auth.resolve_key()) as channel:
        stub = lpb_grpc.LedgerServiceStub(channel)
        return stub.VerifyLedger(lpb.VerifyLedgerRequest(), timeout=60)


def match_calls(compose: Compose, container: str) -> int:
    """MatchProduce calls this replica answered OK, from its own /metrics (not published)."""
    script = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9100/metrics').read().decode())"
    text = compose.engine.output("exec", container, "python3.11", "-c", script)
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "fupin_rpc_handled_total"
            and sample.labels.get("method") == "MatchProduce"
            and sample.labels.get("code") == "OK"
        )
    )


def timed(step: Any) -> float:
    started = time.perf_counter()
    step()
    return round(time.perf_counter() - started, 1)


if __name__ == "__main__":
    raise SystemExit(main())
