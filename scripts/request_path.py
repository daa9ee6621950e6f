"""How many of fupin's modules a request touches: MatchProduce -> CommitMatchRun, and
ContractHouseholds, on the demo's data (docs/architecture.md).

A module is touched when one of its functions runs while the server answers the request: in
the server's threads (a profile hook on every thread), and in the solver process, whose job
this script runs once more in process under the same hook (the real one runs in a forked
worker the hook cannot see). Generated protobuf code is not counted; clients/ is not either
(the caller's side). Prints one line per request with the count and the modules.

    python scripts/request_path.py [--list]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "proto")]

from clients import auth, scenario  # noqa: E402
from clients.cli import demo as cli_demo  # noqa: E402
from fupin.matcher.v1 import cadres_pb2 as cpb  # noqa: E402
from fupin.matcher.v1 import matcher_service_pb2 as mpb  # noqa: E402
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc  # noqa: E402
from fupin.registry.v1 import registry_service_pb2 as api  # noqa: E402
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc  # noqa: E402
from fupin.registry.v1 import resources_pb2 as pb  # noqa: E402
from matcher.service import contracting, produce  # noqa: E402
from matcher.service.convert import solve_params  # noqa: E402
from registry.access.policy import INTERNAL, Role  # noqa: E402
from server.server import create_server  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.sources import InProcessSource  # noqa: E402

PACKAGES = ("matcher", "registry", "server")


class Touched:
    """Project modules whose functions run while `active` is set, in any thread."""

    def __init__(self) -> None:
        self.active = False
        self.modules: set[str] = set()

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if self.active and event == "call":
            path = Path(frame.f_code.co_filename)
            if path.is_relative_to(ROOT):
                parts = path.relative_to(ROOT).with_suffix("").parts
                if parts[0] in PACKAGES:
                    self.modules.add(".".join(parts))

    def during(self, work: Callable[[], Any]) -> Any:
        self.active = True
        try:
            return work()
        finally:
            self.active = False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="also list the modules")
    args = parser.parse_args()
    touched = Touched()
    threading.setprofile(touched.hook)  # the server's threads start after this
    sys.setprofile(touched.hook)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/path.db", log_level="warning")
        running = create_server(settings, address="127.0.0.1:0")
        running.server.start()
        assert running.keys is not None
        assert running.store is not None
        key = running.keys.create(Role.ADMIN, description="request path").secret
        channel = auth.open_channel(f"127.0.0.1:{running.port}", api_key=key)
        registry = api_grpc.RegistryServiceStub(channel)
        matcher = mpb_grpc.MatcherServiceStub(channel)
        cli_demo.load(registry, scenario.build())
        _cadres(registry)
        source = InProcessSource(running.store)
        results = {
            "MatchProduce -> CommitMatchRun": _produce(touched, matcher, source),
            "ContractHouseholds": _contracting(touched, matcher, source),
        }
        channel.close()
        running.server.stop(1).wait()
        running.close()
    threading.setprofile(None)  # type: ignore[arg-type]
    sys.setprofile(None)
    for name, modules in results.items():
        print(f"{name}: {len(modules)} modules")
        if args.list:
            for module in sorted(modules):
                print(f"  {module}")
    return 0


def _produce(touched: Touched, matcher: Any, source: InProcessSource) -> set[str]:
    request = mpb.MatchProduceRequest(
        selection=mpb.RegistrySelection(product="green_plum", today=cli_demo.TODAY),
        parameters=mpb.SolveParameters(time_limit_s=30, reproducible=True),
    )
    touched.modules = set()
    run = touched.during(lambda: matcher.MatchProduce(request, timeout=120))
    commit = mpb.CommitMatchRunRequest(id=run.id, request_id=f"commit-{run.id}")
    touched.during(lambda: matcher.CommitMatchRun(commit, timeout=60))
    _solver_side(touched, produce.KIND, request, source)
    return touched.modules


def _contracting(touched: Touched, matcher: Any, source: InProcessSource) -> set[str]:
    request = mpb.ContractHouseholdsRequest(
        selection=cpb.ContractingSelection(region_code="350624"),
        parameters=mpb.SolveParameters(time_limit_s=10, reproducible=True),
    )
    touched.modules = set()
    touched.during(lambda: matcher.ContractHouseholds(request, timeout=120))
    _solver_side(touched, contracting.KIND, request, source)
    return touched.modules


def _solver_side(touched: Touched, kind: Any, request: Any, source: InProcessSource) -> None:
    """The solver process's share: the kind's job, run here under the hook."""
    prepared = kind.prepare(request, source, INTERNAL, kind.limits)
    params = solve_params(request.parameters, None)
    touched.during(lambda: kind.solve(prepared.job, params))


def _cadres(registry: Any) -> None:
    """Sixty cadres in Zhao'an, enough to contract every poor household of the demo."""
    for i in range(60):
        cadre = pb.Cadre(
            display_name=f"Cadre {i}",
            rank=pb.SECTION_CHIEF if i % 3 else pb.DIVISION_CHIEF,
            skills=["agronomy"],
            home_unit="Zhao'an agriculture bureau",
            home_region_code="350624",
            location=pb.LatLng(latitude=23.7 + (i % 12) * 0.02, longitude=117.1 + (i // 12) * 0.02),
            max_distance_km=200,
            available=True,
        )
        registry.CreateCadre(api.CreateCadreRequest(cadre=cadre, request_id=f"path-c{i}"))


if __name__ == "__main__":
    sys.exit(main())
