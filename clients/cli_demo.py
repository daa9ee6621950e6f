"""`fupin demo`: the main job on the embedded default (SQLite file, one process).

Starts a server in this process on a free loopback port, loads the bundled Zhao'an → Jieyang
scenario through the gRPC API (idempotently: request ids are fixed, so a rerun stores nothing
new), and prints what the registry now holds and the early-warning list.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator
from typing import Any

import grpc

from clients import scenario
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb
from registry.server import create_server
from registry.settings import Settings


def run(settings: Settings) -> int:
    running = create_server(settings, address="127.0.0.1:0")
    running.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = api_grpc.RegistryServiceStub(channel)
            _say(f"fupin demo: Zhao'an green plums → Jieyang ({settings.database_url})")
            households = load(stub, scenario.build())
            report(stub, households)
    finally:
        running.server.stop(1).wait()
        running.store.engine.dispose()
    return 0


def load(stub: Any, data: scenario.Scenario) -> list[str]:
    """Create villages and buyers, import households; returns the household ids."""
    village_ids = [
        stub.CreateVillage(
            api.CreateVillageRequest(village=v, request_id=f"demo-village-{i}"), timeout=10
        ).id
        for i, v in enumerate(data.villages)
    ]
    _say(f"  villages   {len(village_ids):>6}")
    for i, b in enumerate(data.buyers):
        stub.CreateBuyer(api.CreateBuyerRequest(buyer=b, request_id=f"demo-buyer-{i}"), timeout=10)
    _say(f"  buyers     {len(data.buyers):>6}")
    rows = []
    for h in data.households:
        row = pb.Household()
        row.CopyFrom(h)
        row.village_id = village_ids[int(h.village_id)]
        rows.append(row)
    response = stub.ImportHouseholds(_chunks(rows, "demo-households"), timeout=60)
    _say(f"  households {response.imported:>6} (imported in one all-or-nothing stream)")
    return list(response.ids)


def _chunks(rows: list[pb.Household], request_id: str) -> Iterator[api.ImportHouseholdsRequest]:
    for start in range(0, len(rows), 500):
        yield api.ImportHouseholdsRequest(
            households=rows[start : start + 500], request_id=request_id if start == 0 else ""
        )


def report(stub: Any, household_ids: list[str]) -> None:
    statuses: collections.Counter[str] = collections.Counter()
    token = ""
    while True:
        page = stub.ListHouseholds(
            api.ListHouseholdsRequest(page_size=1000, page_token=token), timeout=10
        )
        statuses.update(pb.HouseholdStatus.Name(h.status) for h in page.households)
        if not (token := page.next_page_token):
            break
    _say("\nHouseholds by status (score < 60 impoverished, 60-80 at risk, ≥ 80 lifted out):")
    for name, count in sorted(statuses.items()):
        _say(f"  {name:<22} {count:>5}")
    watch = stub.ListWatchlist(api.ListWatchlistRequest(page_size=10), timeout=10).entries
    _say("\nEarly warning (返贫预警), first 10:")
    _say(f"  {'card':<18} {'status':<14} {'score':>5}  reasons")
    for entry in watch:
        h = entry.household
        reasons = ", ".join(api.WatchReason.Name(r) for r in entry.reasons)
        _say(
            f"  {h.card_number:<18} {pb.HouseholdStatus.Name(h.status):<14} {h.score:>5}  {reasons}"
        )


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
