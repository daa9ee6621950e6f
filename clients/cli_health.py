"""`fupin health`: exit 0 when a server's gRPC health says SERVING (for container checks).

fupin health [--target HOST:PORT] [--service NAME] [--timeout SECONDS]
python -m clients.cli_health [HOST:PORT]    # the image's HEALTHCHECK (default 127.0.0.1:50051)

The HEALTHCHECK runs this module alone: `fupin health` first loads every command's modules
(matplotlib among them), 4 s in the image at load 10 on 2 cores against 0.4 s, and a check
that overran its timeout marked serving containers unhealthy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.cli_output import say


def add_command(commands: Any, client: argparse.ArgumentParser) -> None:
    health = commands.add_parser(
        "health", parents=[client], help="exit 0 if the server is SERVING, 1 if not"
    )
    health.add_argument("--service", default="", help="a service name (default: the server)")
    health.set_defaults(run=run_health)


def run_health(args: argparse.Namespace) -> int:
    with grpc.insecure_channel(args.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=args.service)
        try:
            reply = stub.Check(request, timeout=args.timeout)
        except grpc.RpcError as exc:
            say(f"fupin: {args.target}: {exc.code().name}")
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    say(f"{args.target}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    target = given[0] if given else "127.0.0.1:50051"
    return run_health(argparse.Namespace(target=target, service="", timeout=5.0))


if __name__ == "__main__":
    raise SystemExit(main())
