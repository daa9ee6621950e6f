"""One value as a table cell reads: enum names, yes/no, local times to the minute, `;`-joined
lists, and widths that count CJK characters double, as terminals draw them."""

from __future__ import annotations

import datetime
import operator
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from clients.i18n import _, enum_name

TIMESTAMP = "google.protobuf.Timestamp"


def pad(text: str, columns: int, *, right: bool = False) -> str:
    """Text padded to `columns` terminal columns (CJK characters count double)."""
    fill = " " * max(columns - width(text), 0)
    return fill + text if right else text + fill


def width(text: str) -> int:
    if text.isascii():  # most cells: no character to look up
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def reader(descriptor: Any, path: str) -> Callable[[Any], str]:
    """A field of messages of one type as table text (enum names, `;`-joined lists, a count
    for repeated messages), the field looked up once: a table of 100,000 rows calls it for
    every cell (enum names are translated once per value)."""
    get, text = _getter_and_text(descriptor, path)
    return lambda message: text(get(message))


def column_reader(descriptor: Any, path: str) -> Callable[[Sequence[Any]], list[str]]:
    """reader's text for a page of messages at once: the field read and turned into text by
    map, in C for strings and integers (str), not a Python call a cell."""
    get, text = _getter_and_text(descriptor, path)
    return lambda messages: list(map(text, map(get, messages)))


def _getter_and_text(descriptor: Any, path: str) -> tuple[Callable[[Any], Any], Callable[..., str]]:
    """The path's field getter, and its value's text."""
    *parents, leaf = path.split(".")
    for name in parents:
        descriptor = descriptor.fields_by_name[name].message_type
    field = descriptor.fields_by_name[leaf]
    text = _text_of(field)
    if field.message_type is not None and field.message_type.full_name == TIMESTAMP:
        text = when
    elif field.is_repeated and field.type == FieldDescriptor.TYPE_MESSAGE:
        text = _count
    elif field.is_repeated:
        one = text
        text = lambda values: ";".join([one(v) for v in values])  # noqa: E731
    return operator.attrgetter(path), text


def _text_of(field: FieldDescriptor) -> Callable[[Any], str]:
    """One value of the field as text (each element, for a repeated field)."""
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        enum = field.enum_type
        names: dict[int, str] = {}

        def named(number: int) -> str:
            name = names.get(number)
            if name is None:
                name = names[number] = enum_name(enum, number)
            return name

        return named
    if field.type == FieldDescriptor.TYPE_BOOL:
        yes, no = _("yes"), _("no")
        return lambda value: yes if value else no
    if field.cpp_type == FieldDescriptor.CPPTYPE_FLOAT or field.cpp_type == (
        FieldDescriptor.CPPTYPE_DOUBLE
    ):
        return lambda value: f"{value:g}"
    return str


def _count(values: Any) -> str:
    return str(len(values)) if values else ""


def json_reader(descriptor: Any, path: str) -> Callable[[Any], str] | None:
    """A top-level field's text as MessageToDict gives it (enum names, integers and strings
    as str, `;`-joined lists), read directly; None for the other types."""
    field = descriptor.fields_by_name.get(path) if "." not in path else None
    if field is None:
        return None
    text: Callable[[Any], str]
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = field.enum_type.values_by_number
        text = lambda number: values[number].name if number in values else str(number)  # noqa: E731
    elif field.type in _JSON_AS_STR:
        text = str
    else:
        return None
    if field.is_repeated:
        return lambda message: ";".join([text(v) for v in getattr(message, path)])
    return lambda message: text(getattr(message, path))


# Types whose JSON form is str() of the value (64-bit integers are JSON strings of it).
_JSON_AS_STR = frozenset(
    (
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
    )
)


def when(stamp: Any) -> str:
    """A Timestamp as people read it: local date and time to the minute; "" when unset."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    moment: datetime.datetime = stamp.ToDatetime(tzinfo=datetime.UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")
