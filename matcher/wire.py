"""Python values <-> protobuf messages by field name, steered by type hints.

The gRPC form of RegistrySource (matcher/grpc_source.py) maps each method onto messages of
proto/fupin/registry/v1/internal_service.proto without code per method:

- dataclasses and dicts fill the message fields of the same names, tuples fill them in order;
- lists and tuples of records become repeated message fields, datetimes Timestamps;
- decoding follows the Python type hint (a dataclass, a fixed tuple, a list of X, a
  tuple[X, ...]); a dict (or Any) hint reads back only the fields that are set, which is how
  `**fields` and `where` filters travel (their proto fields are `optional`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from functools import cache
from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

Field = Any  # a FieldDescriptor (pure-Python or upb: two types to mypy)
TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name


def fill(message: Message, value: Any) -> Message:
    """Set message's fields from a dataclass, a dict (by name) or a tuple (in field order)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items: Any = ((name, getattr(value, name)) for name in _field_names(type(value)))
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, tuple):
        names = [f.name for f in message.DESCRIPTOR.fields]
        if len(names) != len(value):
            raise TypeError(f"{message.DESCRIPTOR.full_name} has {len(names)} fields, not {value}")
        items = zip(names, value, strict=True)
    else:
        raise TypeError(f"cannot put {type(value).__name__} into {message.DESCRIPTOR.full_name}")
    fields = message.DESCRIPTOR.fields_by_name
    for name, item in items:
        field = fields.get(name)
        if field is None:
            raise TypeError(f"{message.DESCRIPTOR.full_name} has no field {name!r}")
        put(message, field, item)
    return message


def put(message: Message, field: Field, value: Any) -> None:
    """Set one field of message to value (None leaves it unset)."""
    if value is None:
        return
    target: Any = getattr(message, field.name)
    if field.is_repeated:
        if field.message_type is None:
            target.extend(value)
        else:
            for item in value:
                fill(target.add(), item)
    elif field.message_type is None:
        setattr(message, field.name, int(value) if field.cpp_type in _INTS else value)
    elif field.message_type.full_name == TIMESTAMP:
        target.FromDatetime(value)
    else:
        target.SetInParent()
        fill(target, value)


_INTS = (
    FieldDescriptor.CPPTYPE_INT32,
    FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32,
    FieldDescriptor.CPPTYPE_UINT64,
)


def read(message: Message, hint: Any) -> Any:
    """The Python value of type `hint` that message holds."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints, by_name = _hints(hint), message.DESCRIPTOR.fields_by_name
        return hint(**{name: value(message, by_name[name], hints[name]) for name in hints})
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args and args[-1] is not Ellipsis:
        fields = message.DESCRIPTOR.fields
        if len(fields) != len(args):
            raise TypeError(f"{message.DESCRIPTOR.full_name} does not fit {hint}")
        return tuple(value(message, f, h) for f, h in zip(fields, args, strict=True))
    return present(message)


def present(message: Message) -> dict[str, Any]:
    """The fields that are set, by name (for `**fields` and filters)."""
    return {field.name: value(message, field, Any) for field, _ in message.ListFields()}


def value(message: Message, field: Field, hint: Any) -> Any:
    """The Python value of one field, as `hint` asks."""
    raw = getattr(message, field.name)
    if field.is_repeated:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        item = args[0] if args else Any
        items = [_item(field, x, item) for x in raw]
        return tuple(items) if origin is tuple else items
    return _item(field, raw, hint)


def _item(field: Field, raw: Any, hint: Any) -> Any:
    if field.message_type is None:
        return raw
    if field.message_type.full_name == TIMESTAMP:
        return raw.ToDatetime(tzinfo=dt.UTC)
    return read(raw, hint)


def response_values(message: Message, hint: Any) -> Any:
    """A method's return value from its response: a tuple over the fields, or the one field."""
    if typing.get_origin(hint) is tuple:
        return read(message, hint)
    (field,) = message.DESCRIPTOR.fields
    return value(message, field, hint)


def fill_response(message: Message, result: Any) -> Message:
    """The response holding a method's return value (see response_values)."""
    if isinstance(result, tuple) and not dataclasses.is_dataclass(result):
        return fill(message, result)
    (field,) = message.DESCRIPTOR.fields
    put(message, field, result)
    return message


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


__all__ = ["fill", "fill_response", "present", "read", "response_values", "value"]
