"""`fupin onboard cooperative|platform`: a producer or buyer and its key, in one command.

    fupin onboard cooperative display_name=霞葛青梅合作社 village_id=vil-… \\
        location.latitude=23.79 location.longitude=117.06 --member hh-…:600 --member hh-…:400
    fupin onboard platform display_name=揭西青梅网店 county_code=445222 \\
        location.latitude=23.43 location.longitude=115.84   # kind: ECOMMERCE_PLATFORM by default

An office onboards the cooperatives of its region; an admin onboards both. Fields are those of
Producer or Buyer (as `fupin create`, or --file F.yaml). Prints the new id and the key's
secret, once; `--output json` prints both as one object.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import grpc

from clients import auth
from clients.cli.output import emit_json, say, show
from clients.cli.resources import resource
from clients.client import BUYERS, PRODUCERS, Kind, RegistryClient
from clients.errors import UsageError, from_rpc_error
from clients.i18n import _
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from fupin.registry.v1 import resources_pb2 as pb

WHO: dict[str, tuple[Kind[Any], apb.Role.ValueType]] = {
    "cooperative": (PRODUCERS, apb.COOPERATIVE),
    "platform": (BUYERS, apb.PLATFORM),
}


def add_command(commands: Any, client: argparse.ArgumentParser) -> None:
    onboard = commands.add_parser(
        "onboard", parents=[client], help=_("create a cooperative or a platform and its key")
    )
    onboard.add_argument("who", choices=list(WHO))
    onboard.add_argument("fields", nargs="*", metavar="FIELD=VALUE", help=_("e.g. members=4"))
    onboard.add_argument("--file", type=Path, help=_("a JSON or YAML mapping of fields"))
    onboard.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="HOUSEHOLD:PERMILLE",
        help=_("a member household of a cooperative and its share (shares sum to 1000)"),
    )
    onboard.add_argument("--description", default="", help=_("who holds the key"))
    onboard.set_defaults(run=run_onboard)


def run_onboard(args: argparse.Namespace) -> int:
    kind, role = WHO[args.who]
    message, _paths = resource(kind, args.file, args.fields)
    if args.who == "cooperative":
        message.kind = message.kind or pb.PRODUCER_COOPERATIVE
        message.members.extend(_member(text) for text in args.member)
    else:
        if args.member:
            raise UsageError(_("--member is for cooperatives"))
        message.kind = message.kind or pb.ECOMMERCE_PLATFORM
    with RegistryClient(args.target, timeout_s=args.timeout) as client:
        created = client.create(kind, message)
    description = args.description or f"{args.who} {created.display_name}"
    request = apb.CreateApiKeyRequest(role=role, scope=created.id, description=description)
    try:
        with auth.client_channel(args.target) as channel:
            key = apb_grpc.AccessServiceStub(channel).CreateApiKey(request, timeout=args.timeout)
    except grpc.RpcError as error:
        say(
            _(
                "{id} was created, but not its key; `fupin keys create --role {role} --scope {id}`"
            ).format(id=created.id, role=args.who)
        )
        raise from_rpc_error(error) from None
    if args.output == "json":
        emit_json({"id": created.id, "key_id": key.api_key.id, "secret": key.secret})
    else:
        say(
            _("onboarded {who} {id} ({name}) with key {key}; its secret, shown once:").format(
                who=_(args.who), id=created.id, name=created.display_name, key=key.api_key.id
            )
        )
        show(key.secret)
    return 0


def _member(text: str) -> pb.CooperativeMember:
    household, sep, share = text.rpartition(":")
    if not sep or not household or not share.isdigit():
        raise UsageError(_("--member takes HOUSEHOLD:PERMILLE, got {text!r}").format(text=text))
    return pb.CooperativeMember(household_id=household, share_permille=int(share))
