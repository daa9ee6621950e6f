"""`fupin keys …` and `fupin audit`: API keys and the audit log, through AccessService.

    fupin keys create --role office --scope 350624 [--description TEXT]
    fupin keys list [--filter 'role = OFFICE']
    fupin keys revoke KEY_ID
    fupin audit [--filter 'household_id = "hh-…"']

Key management needs an admin key; the audit log an admin or auditor key. The key sent is
$FUPIN_API_KEY, or the file named by $FUPIN_API_KEY_FILE, or var/admin.key (clients/auth.py).
"""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from typing import Any

from google.protobuf import json_format

from clients import auth
from clients.cli.cells import when
from clients.cli.output import emit_csv_rows, emit_json, print_table, say, show
from clients.i18n import _, pgettext
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc

ROLES = ["admin", "office", "cooperative", "platform", "auditor"]


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    keys = commands.add_parser("keys", help=_("create, list or revoke API keys (admin)"))
    verbs = keys.add_subparsers(dest="verb", required=True, metavar="VERB")
    create = verbs.add_parser("create", parents=[client], help=_("print a new key's secret once"))
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--scope",
        default="",
        help=_("office/auditor: admin code prefix; cooperative: producer id; platform: buyer id"),
    )
    create.add_argument("--description", default="", help=_("who holds the key"))
    create.set_defaults(run=run_create)
    listing = verbs.add_parser("list", parents=[client], help=_("keys, never their secrets"))
    listing.add_argument("--filter", default="", help=_("e.g. 'role = OFFICE AND revoked = false'"))
    listing.add_argument("-q", "--quiet", action="store_true", help=_("the ids alone, one a line"))
    listing.set_defaults(run=run_list)
    revoke = verbs.add_parser("revoke", parents=[client], help=_("the key stops working at once"))
    revoke.add_argument("id")
    revoke.set_defaults(run=run_revoke)
    audit = commands.add_parser("audit", parents=[client], help=_("reads of household records"))
    audit.add_argument("--filter", default="", help=_("key_id, rpc or household_id = …"))
    audit.set_defaults(run=run_audit)


def access_stub(args: argparse.Namespace) -> AbstractContextManager[Any]:
    return auth.client_stub(args.target, apb_grpc.AccessServiceStub)


def run_create(args: argparse.Namespace) -> int:
    request = apb.CreateApiKeyRequest(
        role=apb.Role.Value(args.role.upper()), scope=args.scope, description=args.description
    )
    with access_stub(args) as stub:
        created = stub.CreateApiKey(request, timeout=args.timeout)
    if args.output == "json":
        emit_json(created)
    else:
        said = _("created {id} ({role} {scope}); its secret, shown once:")
        say(said.format(id=created.api_key.id, role=args.role, scope=args.scope))
        show(created.secret)
    return 0


def run_list(args: argparse.Namespace) -> int:
    rows = list_all(args, "ListApiKeys", apb.ListApiKeysRequest, "api_keys")
    if args.quiet:
        for row in rows:
            show(row.id)
        return 0
    role = pgettext("api key", "ROLE")  # a key's role, not a cadre's (职务)
    headings = [_("ID"), role, _("SCOPE"), _("CREATED"), _("REVOKED"), _("DESCRIPTION")]
    fields = ["id", "role", "scope", "create_time", "revoke_time", "description"]
    emit_rows(rows, args.output, headings, _key, fields)
    return 0


def list_all(args: argparse.Namespace, method: str, request_type: Any, field: str) -> list[Any]:
    """Every item of a paged list RPC of AccessService."""
    rows: list[Any] = []
    token = ""
    with access_stub(args) as stub:
        while True:
            request = request_type(filter=args.filter, page_size=500, page_token=token)
            page = getattr(stub, method)(request, timeout=args.timeout)
            rows.extend(getattr(page, field))
            token = page.next_page_token
            if not token:
                return rows


def _key(key: apb.ApiKey) -> list[str]:
    revoked = when(key.revoke_time) if key.HasField("revoke_time") else ""
    return [
        key.id,
        apb.Role.Name(key.role).lower(),
        key.scope,
        when(key.create_time),
        revoked,
        key.description,
    ]


def run_revoke(args: argparse.Namespace) -> int:
    with access_stub(args) as stub:
        stub.RevokeApiKey(apb.RevokeApiKeyRequest(id=args.id), timeout=args.timeout)
    say(_("revoked {id}").format(id=args.id))
    return 0


def run_audit(args: argparse.Namespace) -> int:
    rows = list_all(args, "ListAuditEvents", apb.ListAuditEventsRequest, "events")
    headings = [_("TIME"), _("KEY"), pgettext("api key", "ROLE"), _("RPC"), _("HOUSEHOLDS")]
    fields = ["time", "key_id", "role", "rpc", "household_ids"]
    emit_rows(rows, args.output, headings, _event, fields)
    return 0


def _event(event: apb.AuditEvent) -> list[str]:
    ids = list(event.household_ids)
    shown = ",".join(ids[:3]) + (f" (+{len(ids) - 3})" if len(ids) > 3 else "")
    return [
        when(event.time),
        event.key_id,
        apb.Role.Name(event.role).lower(),
        event.rpc.rsplit("/", 1)[-1],
        shown,
    ]


def emit_rows(
    rows: list[Any], output: str, headings: list[str], cells: Any, fields: list[str]
) -> None:
    """Rows as a table under `headings`, JSON lines, or CSV under the field names `fields`."""
    if output == "csv":
        emit_csv_rows(fields, [cells(row) for row in rows])
    elif output == "json":
        for row in rows:
            emit_json(json_format.MessageToDict(row, preserving_proto_field_name=True))
    elif rows:
        print_table(headings, [cells(row) for row in rows])
    else:
        say(_("none"))
