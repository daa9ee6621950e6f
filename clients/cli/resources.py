"""`fupin create|update KIND`: one resource from FIELD=VALUE arguments or a JSON/YAML file.

    fupin create villages display_name=岭下村 admin_code=350624101201 \\
        location.latitude=23.71 location.longitude=117.18 poverty_status=VILLAGE_POOR
    fupin create households --file household.yaml      # the same fields, as a mapping
    fupin update listings lst-… quantity_kg=9000 --etag E   # only the fields given change

Field names are the proto's (proto/fupin/registry/v1/resources.proto; `fupin get` shows them);
a dot goes into a sub-message, a repeated field takes comma-separated values
(`causes=ILLNESS,LACK_OF_LABOUR`), enums take their names. Arguments override the file.
`--quiet` prints the id alone, for scripts: `VILLAGE=$(fupin create villages … --quiet)`.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from clients.cli.output import emit_one, show
from clients.client import KINDS, Kind, RegistryClient
from clients.errors import UsageError
from clients.i18n import _


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    create = commands.add_parser(
        "create", parents=[client], help=_("create a resource from FIELD=VALUE or a file")
    )
    create.add_argument("kind", choices=list(KINDS))
    _add_fields(create)
    create.add_argument("--request-id", help=_("idempotency key (default: a new uuid4)"))
    create.set_defaults(run=run_create)
    update = commands.add_parser(
        "update", parents=[client], help=_("change the fields given of one resource")
    )
    update.add_argument("kind", choices=list(KINDS))
    update.add_argument("id")
    _add_fields(update)
    update.add_argument("--etag", default="", help=_("fail (ABORTED) if it changed since read"))
    update.set_defaults(run=run_update)


def _add_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fields", nargs="*", metavar="FIELD=VALUE", help=_("e.g. members=4"))
    parser.add_argument("--file", type=Path, help=_("a JSON or YAML mapping of fields"))
    parser.add_argument("-q", "--quiet", action="store_true", help=_("print the id alone"))


def run_create(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    message, _paths = resource(kind, args.file, args.fields)
    with RegistryClient(args.target, timeout_s=args.timeout) as client:
        created = client.create(kind, message, request_id=args.request_id)
    _print(created, args)
    return 0


def run_update(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    message, paths = resource(kind, args.file, args.fields)
    if not paths:
        raise UsageError(_("give the fields to change (FIELD=VALUE or --file)"))
    message.id, message.etag = args.id, args.etag
    with RegistryClient(args.target, timeout_s=args.timeout) as client:
        updated = client.update(kind, message, paths)
    _print(updated, args)
    return 0


def _print(message: Message, args: argparse.Namespace) -> None:
    if args.quiet:
        show(message.id)  # type: ignore[attr-defined]
    else:
        emit_one(message, args.output)


def resource(
    kind: Kind[Any], file: Path | None, assignments: Sequence[str]
) -> tuple[Any, list[str]]:
    """The message the file and the assignments describe, and the top-level fields they set."""
    values: dict[str, Any] = _read(file) if file is not None else {}
    descriptor = kind.message.DESCRIPTOR
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        if not sep or not path:
            raise UsageError(_("expected FIELD=VALUE, got {text!r}").format(text=assignment))
        _assign(values, descriptor, path.split("."), text)
    message = kind.message()
    try:
        json_format.ParseDict(values, message)
    except json_format.ParseError as exc:
        raise UsageError(_("bad {kind}: {error}").format(kind=kind.name, error=exc)) from exc
    return message, list(values)


def _read(file: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        why = exc.strerror or exc
        raise UsageError(_("cannot read {path}: {error}").format(path=file, error=why)) from exc
    except yaml.YAMLError as exc:
        raise UsageError(
            _("{path}: not JSON or YAML: {error}").format(path=file, error=exc)
        ) from exc
    if not isinstance(loaded, dict):
        raise UsageError(_("{file}: expected a mapping of fields").format(file=file))
    return dict(_plain(loaded))


def _plain(value: Any) -> Any:
    """YAML's dates as the proto's YYYY-MM-DD strings, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _assign(values: dict[str, Any], descriptor: Descriptor, path: list[str], text: str) -> None:
    """values[path] = text, as the field's JSON form (lists for repeated fields)."""
    name, *rest = path
    field = descriptor.fields_by_name.get(name)
    if field is None:
        raise UsageError(
            _("{message} has no field {name!r}").format(message=descriptor.name, name=name)
        )
    if rest:
        if field.message_type is None or field.is_repeated:
            raise UsageError(_("{name} has no sub-fields").format(name=name))
        inner = values.setdefault(name, {})
        _assign(inner, field.message_type, rest, text)
    elif field.is_repeated:
        values[name] = [item.strip() for item in text.split(",") if item.strip()]
    elif field.type == FieldDescriptor.TYPE_BOOL:
        values[name] = text.lower() in ("true", "yes", "1")
    else:
        values[name] = text
