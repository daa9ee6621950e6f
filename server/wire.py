"""Python values <-> protobuf messages by field name, steered by type hints.

The gRPC form of RegistrySource (server/grpc_source.py) maps each method onto messages of
proto/fupin/registry/v1/internal_service.proto without code per method:

- dataclasses and dicts fill the message fields of the same names, tuples fill them in order;
- lists and tuples of records become repeated message fields, datetimes Timestamps;
- decoding follows the Python type hint (a dataclass, a fixed tuple, a list of X, a
  tuple[X, ...]); a dict (or Any) hint reads back only the fields that are set, which is how
  `**fields` and `where` filters travel (their proto fields are `optional`);
- an `X | None` hint reads an unset field with presence (`optional`, or a message) as None;
- a message whose only field is repeated (a "wrapper") stands for a list, so that a list of
  lists is a repeated wrapper (tuple[tuple[int, ...], ...] ↔ repeated PovertyCauses);
- a method returning None has an empty response.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import types
import typing
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

Field = Any  # a FieldDescriptor (pure-Python or upb: two types to mypy)
TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name


def fill(message: Message, value: Any) -> Message:
    """Set message's fields from a dataclass, a dict (by name) or a tuple (in field order)."""
    wrapped = _wrapped(message.DESCRIPTOR)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items: Any = ((name, getattr(value, name)) for name in _field_names(type(value)))
    elif wrapped is not None and isinstance(value, list | tuple):
        items = [(wrapped.name, value)]
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
                if dataclasses.is_dataclass(item):  # the fast path for long lists of records
                    target.add(**_kwargs(field.message_type, _type(item))(item))
                else:
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
    return _reader(message.DESCRIPTOR, hint)(message)


def present(message: Message) -> dict[str, Any]:
    """The fields that are set, by name (for `**fields` and filters)."""
    return {field.name: value(message, field, Any) for field, _ in message.ListFields()}


def value(message: Message, field: Field, hint: Any) -> Any:
    """The Python value of one field, as `hint` asks."""
    return _field_reader(field, hint)(message)


Reader = Callable[[Any], Any]


@cache
def _reader(descriptor: Any, hint: Any) -> Reader:
    """How to read a message of this type as `hint` (planned once per pair)."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls, by_name = hint, descriptor.fields_by_name
        parts = [(name, _field_reader(by_name[name], h)) for name, h in _hints(hint).items()]
        return lambda m: cls(**{name: part(m) for name, part in parts})
    args = typing.get_args(hint)
    wrapped = _wrapped(descriptor)
    if wrapped is not None and _is_list(hint):
        return _field_reader(wrapped, hint)
    if typing.get_origin(hint) is tuple and args and args[-1] is not Ellipsis:
        if len(descriptor.fields) != len(args):
            raise TypeError(f"{descriptor.full_name} does not fit {hint}")
        readers = [_field_reader(f, h) for f, h in zip(descriptor.fields, args, strict=True)]
        return lambda m: tuple(r(m) for r in readers)
    return present


@cache
def _field_reader(field: Field, hint: Any) -> Reader:
    name = field.name
    inner = _optional(hint)
    if inner is not None and field.has_presence:
        read_set = _field_reader(field, inner)
        return lambda m: read_set(m) if m.HasField(name) else None
    if field.is_repeated:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        item = _item_reader(field, args[0] if args else Any)
        make = tuple if origin is tuple else list
        if item is None:
            return lambda m: make(getattr(m, name))
        each: Reader = item
        return lambda m: make([each(x) for x in getattr(m, name)])
    item = _item_reader(field, hint)
    if item is None:
        return operator.attrgetter(name)
    return lambda m: item(getattr(m, name))


def _optional(hint: Any) -> Any:
    """X for an `X | None` hint, else None."""
    args = typing.get_args(hint)
    if type(None) not in args or typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    rest = [a for a in args if a is not type(None)]
    return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007


def _is_list(hint: Any) -> bool:
    """list[X], Sequence[X] or tuple[X, ...]."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return len(args) == 2 and args[1] is Ellipsis
    return origin in (list, Sequence)


@cache
def _wrapped(descriptor: Any) -> Field | None:
    """The one field of a wrapper message (its only field, repeated), else None."""
    fields = descriptor.fields
    if len(fields) == 1 and fields[0].is_repeated:
        return fields[0]
    return None


def _item_reader(field: Field, hint: Any) -> Reader | None:
    """None for scalars (read as they are)."""
    if field.message_type is None:
        return None
    if field.message_type.full_name == TIMESTAMP:
        return lambda raw: raw.ToDatetime(tzinfo=dt.UTC)
    return _reader(field.message_type, hint)


@cache
def _kwargs(descriptor: Any, cls: Any) -> Callable[[Any], dict[str, Any]]:
    """Constructor arguments of a message from a dataclass instance (planned once)."""
    by_name = descriptor.fields_by_name
    plan = []
    for name in _field_names(cls):
        field = by_name.get(name)
        if field is None:
            raise TypeError(f"{descriptor.full_name} has no field {name!r}")
        plan.append((name, _converter(field)))

    def convert(item: Any) -> dict[str, Any]:
        out = {}
        for name, conv in plan:
            v = getattr(item, name)
            if v is not None:
                out[name] = conv(v) if conv is not None else v
        return out

    return convert


def _converter(field: Field) -> Callable[[Any], Any] | None:
    sub = field.message_type
    if sub is None:
        if field.cpp_type not in _INTS:
            return None
        return _ints if field.is_repeated else int
    if sub.full_name == TIMESTAMP:
        return _timestamp
    names = [f.name for f in sub.fields]
    wrapped = _wrapped(sub)

    def one(v: Any) -> Any:
        if wrapped is not None and isinstance(v, list | tuple):
            return {wrapped.name: _ints(v) if wrapped.cpp_type in _INTS else list(v)}
        if isinstance(v, tuple):
            return dict(zip(names, v, strict=True))
        return _kwargs(sub, _type(v))(v)

    if field.is_repeated:
        return lambda vs: [one(v) for v in vs]
    return one


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def _type(value: Any) -> Any:
    return type(value)


def _timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def response_values(message: Message, hint: Any) -> Any:
    """A method's return value from its response: a tuple over the fields, or the one field."""
    if typing.get_origin(hint) is tuple:
        return read(message, hint)
    if not message.DESCRIPTOR.fields:  # the method returns None
        return None
    (field,) = message.DESCRIPTOR.fields
    return value(message, field, hint)


def fill_response(message: Message, result: Any) -> Message:
    """The response holding a method's return value (see response_values)."""
    if isinstance(result, tuple) and not dataclasses.is_dataclass(result):
        return fill(message, result)
    if not message.DESCRIPTOR.fields:
        if result is not None:
            raise TypeError(f"{message.DESCRIPTOR.full_name} has no field for {result!r}")
        return message
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
