"""Input limits of every request of every service, public and internal, checked before any
handler runs: the longest string, the largest bytes field, the most elements of a repeated
field. Beyond them the call is INVALID_ARGUMENT naming the field.

The limits are stated once, here, and in each service's proto comment ("Input limits"). A field
not named in LIMITS has its type's default. The fields themselves are still checked by their
servicers (a display name, for one, is at most 100 characters); these limits are the outer
bound no field can pass, so that no request stores or drags through the server megabytes of
one string (a 1 MiB Listing.product was accepted, and made every listing page too large to
send) or hundreds of thousands of tags (an order with 200,000 accepted grades).
"""

from __future__ import annotations

import bisect
import functools
import operator
from collections.abc import Iterator
from typing import Any

from google.protobuf import descriptor as d
from google.protobuf.message import Message

from registry.errors import FieldViolation, InvalidArgument

MAX_STRING_CHARS = 1000
MAX_BYTES = 64 * 1024
MAX_REPEATED_SCALARS = 10_000
MAX_REPEATED_MESSAGES = 1_000_000  # inline problems: up to max_problem_listings rows
# Full field name -> its own limit (characters, bytes, or elements for a repeated field).
LIMITS: dict[str, int] = {
    "fupin.registry.v1.Order.accepted_grades": 50,
    "fupin.matcher.v1.InlineOrder.accepted_grades": 50,
    "fupin.registry.v1.OpenOrder.accepted_grades": 50,
    "fupin.registry.v1.Village.needs": 50,
    "fupin.registry.v1.Cadre.skills": 50,
    "fupin.matcher.v1.InlineCadre.skills": 50,
    "fupin.matcher.v1.InlineVillage.needs": 50,
    "fupin.registry.v1.Household.causes": 20,
    "fupin.registry.v1.AidProgram.causes": 20,
    "fupin.matcher.v1.AidHousehold.causes": 20,
    "fupin.matcher.v1.AidProgramme.causes": 20,
    "fupin.matcher.v1.AidProgramme.eligible_statuses": 20,
    "fupin.matcher.v1.PreferenceList.ranked": 100_000,
    # An inline problem's listings as columns: one entry per listing, as its messages.
    **{
        f"fupin.matcher.v1.InlineListingColumns.{name}": MAX_REPEATED_MESSAGES
        for name in (
            "id",
            "product",
            "grade",
            "quantity_kg",
            "floor_price_fen",
            "latitude",
            "longitude",
            "available_from",
            "available_until",
            "shelf_life_days",
            "share_set",
        )
    },
    # An audit event a matcher apart records (the households one aid run's response names).
    "fupin.registry.v1.RecordAuditRequest.household_ids": 1_000_000,
    "fupin.registry.v1.RecordAuditRequest.county_codes": 10_000,
    "fupin.registry.v1.RecordAuditRequest.rpc": 120,
    "fupin.registry.v1.RecordAuditRequest.request_id": 100,
    # Serialized results of large runs (the internal service): up to the message size limit.
    "fupin.registry.v1.RunRecord.result": 256 * 1024 * 1024,
    "fupin.registry.v1.RunFields.result": 256 * 1024 * 1024,
}
_MOST_SHOWN = 10  # violations reported per request; one is enough to fix the first


def check(request: Message) -> None:
    """Raise InvalidArgument naming the fields of request beyond their limits."""
    bad = []
    for violation in _beyond(request, ""):
        bad.append(violation)
        if len(bad) == _MOST_SHOWN:
            break
    if bad:
        raise InvalidArgument(bad)


def limit_of(field: d.FieldDescriptor) -> int:
    if field.full_name in LIMITS:
        return LIMITS[field.full_name]
    if field.is_repeated:
        is_message = field.type == d.FieldDescriptor.TYPE_MESSAGE
        return MAX_REPEATED_MESSAGES if is_message else MAX_REPEATED_SCALARS
    return MAX_BYTES if field.type == d.FieldDescriptor.TYPE_BYTES else MAX_STRING_CHARS


def _beyond(message: Message, path: str, size: int | None = None) -> Iterator[FieldViolation]:
    """``size``: the message's bytes, or a bound on them (its parent's), when known; each
    ByteSize serialises the message once more (an inline problem: 8 MB, 0.02 s)."""
    if size is None:
        size = message.ByteSize()
    floors, at_risk = _risk_table(message.DESCRIPTOR)
    for field in at_risk[bisect.bisect_left(floors, size)]:  # those it has the bytes for
        value = getattr(message, field.name)
        name = f"{path}{field.name}"
        is_message = field.type == d.FieldDescriptor.TYPE_MESSAGE
        if field.is_repeated:
            if len(value) > limit_of(field):
                yield FieldViolation(name, f"must have at most {limit_of(field)} elements")
                continue
            if is_message and field.message_type and field.message_type.GetOptions().map_entry:
                yield from _map_beyond(field, value, name)
            elif is_message:  # only the elements big enough to hold a violation are walked
                floor = _floor(field.message_type)
                sizes = map(_BYTE_SIZE, value)
                for i, bytes_ in [(i, n) for i, n in enumerate(sizes) if n > floor]:
                    yield from _beyond(value[i], f"{name}[{i}].", bytes_)
            elif field.type in _TEXT:  # each element has its type's default limit
                limit = (
                    MAX_BYTES if field.type == d.FieldDescriptor.TYPE_BYTES else MAX_STRING_CHARS
                )
                if max(map(len, value), default=0) <= limit:  # one pass in C (a column)
                    continue
                for i, item in enumerate(value):
                    yield from _long(field, item, f"{name}[{i}]", limit)
        elif is_message:  # no bigger than this message: a bound enough to skip the small
            yield from _beyond(value, f"{name}.", size)
        elif field.type in _TEXT:
            yield from _long(field, value, name, limit_of(field))


@functools.cache
def _fields_at_risk(message: d.Descriptor) -> tuple[tuple[d.FieldDescriptor, int], ...]:
    """The fields that can be beyond a limit, each with the fewest bytes a message must
    exceed for it to be (as _floor, per field), in declaration order. A row of an import
    (a Household: 150 bytes, a causes limit of 20) is thus checked for its causes alone,
    not walked field by field: 9% of an import's server CPU went to that walk (py-spy)."""
    fields = []
    for field in message.fields:
        is_text = field.type in _TEXT
        is_message = field.type == d.FieldDescriptor.TYPE_MESSAGE
        floors = []
        if field.is_repeated or is_text:  # too many elements, or too long a string
            floors.append(limit_of(field))
        if field.is_repeated and is_text:  # an element too long
            is_bytes = field.type == d.FieldDescriptor.TYPE_BYTES
            floors.append(MAX_BYTES if is_bytes else MAX_STRING_CHARS)
        if is_message and field.message_type is not None:  # something inside beyond
            floors.append(0 if field.message_type is message else _floor(field.message_type))
        if floors:
            fields.append((field, min(floors)))
    return tuple(fields)


@functools.cache
def _risk_table(
    message: d.Descriptor,
) -> tuple[list[int], list[tuple[d.FieldDescriptor, ...]]]:
    """_fields_at_risk by size: the distinct floors, ascending, and for each count i of them
    the fields whose floor is one of the first i, in declaration order. A message of s bytes
    walks at_risk[bisect_left(floors, s)]: the fields with a floor below s, found by a
    bisection, not by looking at every field (a Household of an import: its causes alone;
    limits.check of 100,000 households 0.26 s against 0.30-0.40 s)."""
    fields = _fields_at_risk(message)
    floors = sorted({floor for _field, floor in fields})
    below = [*floors, float("inf")]  # at_risk[i]: the floors under below[i]
    return floors, [tuple(f for f, floor in fields if floor < below[i]) for i in range(len(below))]


_TEXT = (d.FieldDescriptor.TYPE_STRING, d.FieldDescriptor.TYPE_BYTES)
_BYTE_SIZE = operator.methodcaller("ByteSize")


def _map_beyond(field: d.FieldDescriptor, value: Any, name: str) -> Iterator[FieldViolation]:
    """A map's keys and values (a map field lists as a mapping, not as entry messages)."""
    entry = field.message_type
    assert entry is not None  # a map field's entry type
    key, item = entry.fields_by_name["key"], entry.fields_by_name["value"]
    for k, v in value.items():
        if key.type in _TEXT:
            yield from _long(key, k, f"{name}[{k!r}]", MAX_STRING_CHARS)
        if item.type == d.FieldDescriptor.TYPE_MESSAGE:
            yield from _beyond(v, f"{name}[{k!r}].")
        elif item.type in _TEXT:
            yield from _long(item, v, f"{name}[{k!r}]", MAX_STRING_CHARS)


def _long(field: d.FieldDescriptor, value: Any, name: str, limit: int) -> Iterator[FieldViolation]:
    if len(value) > limit:
        unit = "bytes" if field.type == d.FieldDescriptor.TYPE_BYTES else "characters"
        yield FieldViolation(name, f"must be at most {limit} {unit}")


@functools.cache
def _floor(message: d.Descriptor) -> int:
    """A message of this type and at most this many bytes has no field beyond a limit (a
    character or an element takes at least a byte), so it need not be walked: most requests,
    and the rows of inline problems, are not."""
    floors = [MAX_STRING_CHARS]
    for field in message.fields:
        if field.type == d.FieldDescriptor.TYPE_MESSAGE and field.message_type is not message:
            floors.append(_floor(field.message_type))
        if field.is_repeated or field.type in _TEXT:
            floors.append(limit_of(field))
    return min(floors)
