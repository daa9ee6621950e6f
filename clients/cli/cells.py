"""One value as a table cell reads: enum names, yes/no, local times to the minute, `;`-joined
lists, and widths that count CJK characters double, as terminals draw them."""

from __future__ import annotations

import datetime
import unicodedata
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


def cell(message: Any, path: str) -> str:
    """A field as table text: enum names, `;`-joined lists, a count for repeated messages."""
    *parents, leaf = path.split(".")
    for name in parents:
        message = getattr(message, name)
    field = message.DESCRIPTOR.fields_by_name[leaf]
    value = getattr(message, leaf)
    if field.message_type is not None and field.message_type.full_name == TIMESTAMP:
        return when(value)
    if not field.is_repeated:
        return scalar(field, value)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return str(len(value)) if value else ""
    return ";".join(scalar(field, item) for item in value)


def when(stamp: Any) -> str:
    """A Timestamp as people read it: local date and time to the minute; "" when unset."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    moment: datetime.datetime = stamp.ToDatetime(tzinfo=datetime.UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def scalar(field: FieldDescriptor, value: Any) -> str:
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        return enum_name(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return _("yes") if value else _("no")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
