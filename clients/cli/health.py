"""`fupin health`: exit 0 when a server's gRPC health says SERVING (for container checks).

fupin health [--target HOST:PORT] [--service NAME] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.cli.output import say
from clients.i18n import N_, _

WORDS = {
    "SERVING": N_("serving"),
    "NOT_SERVING": N_("not serving"),
    "SERVICE_UNKNOWN": N_("unknown service"),
    "UNKNOWN": N_("unknown"),
}


def add_command(commands: Any, client: argparse.ArgumentParser) -> None:
    health = commands.add_parser(
        "health", parents=[client], help=_("exit 0 if the server is SERVING, 1 if not")
    )
    health.add_argument("--service", default="", help=_("a service name (default: the server)"))
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
    # gRPC's health status as probes read it, and in the reader's words beside it
    word = WORDS.get(status, "")
    said = _(word) if word else ""
    say(f"{args.target}: {status}" + (f" ({said})" if said != word else ""))
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1
