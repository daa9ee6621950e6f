"""Hypothesis strategies for any protobuf message, built from its descriptor (bench/fuzz.py).

Values lean towards what reaches deep into a handler: ids the registry really holds, dates,
region codes, enum numbers valid and not, numbers at the edges of their types, strings and
lists at and beyond the servers' limits (server/limits.py), and messages nested a few levels.
Raw bytes — random, or a valid message flipped and cut — exercise the decoding itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

MAX_DEPTH = 3
LONG_LISTS = (51, 1001, 10_001)  # past the limits of tags, messages and repeated fields
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
WORDS = (
    "",
    " ",
    "2020-05-20",
    "2020-02-30",
    "2020-W19-7",
    "350624",
    "350624101201",
    "35062A",
    "green_plum",
    "A",
    "ILLNESS",
    "score < 60 AND causes:ILLNESS",
    'county_code = "350624" OR (',
    "id = 'x'; DROP TABLE household; --",
    "../../etc/passwd",
    "\x00",
    "页码",
    "诏安县",
    "NaN",
    "-1",
    "9" * 25,
)
Field = Callable[[FieldDescriptor, int], st.SearchStrategy[Any]]


def _long_text() -> st.SearchStrategy[str]:
    """Strings around the 1,000-character limit, and far beyond (cheap to make)."""
    return st.builds(
        lambda n, ch: ch * n,
        st.sampled_from([999, 1000, 1001, 4096, 70_000]),
        st.sampled_from("a页"),
    )


class Strategies:
    """Strategies for the messages of a set of services, given the ids worth guessing."""

    def __init__(self, known_ids: Sequence[str]) -> None:
        self.ids = st.sampled_from(list(known_ids) or ["x"])
        self.text = st.one_of(
            st.sampled_from(WORDS),
            self.ids,
            self.ids,
            st.text(max_size=24),
            _long_text(),
        )
        self._cache: dict[tuple[str, int], st.SearchStrategy[Message]] = {}

    def message(self, descriptor: Descriptor, cls: type[Message], depth: int = 0) -> Any:
        key = (descriptor.full_name, depth)
        if key not in self._cache:
            self._cache[key] = self._build(descriptor, cls, depth)
        return self._cache[key]

    def _build(self, descriptor: Descriptor, cls: type[Message], depth: int) -> Any:
        fields = {
            f.name: self._field(f, depth)
            for f in descriptor.fields
            if depth < MAX_DEPTH or f.message_type is None
        }
        return st.fixed_dictionaries({}, optional=fields).map(lambda kw: _make(cls, kw))

    def _field(self, field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields
            return st.dictionaries(self._scalar(key), self._scalar(value), max_size=4)
        one = self._one(field, depth)
        if not field.is_repeated:
            return one
        if depth > 0:  # long lists inside long lists would make messages of millions
            return st.lists(one, max_size=4)
        return st.one_of(
            st.lists(one, max_size=4),
            st.lists(one, max_size=4),
            # at and beyond the repeated-field limits: one small value, many times (a long
            # string or a full message ten thousand times would be hundreds of megabytes)
            st.builds(lambda n, v: [v] * n, st.sampled_from(LONG_LISTS), self._small(field)),
        )

    def _small(self, field: FieldDescriptor) -> st.SearchStrategy[Any]:
        if field.message_type is not None:
            return st.just(message_factory.GetMessageClass(field.message_type)())
        if field.type == FieldDescriptor.TYPE_STRING:
            return st.one_of(st.sampled_from(WORDS[:12]), self.ids)
        return self._scalar(field)

    def _one(self, field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        if field.message_type is not None:
            cls = message_factory.GetMessageClass(field.message_type)
            strategy: st.SearchStrategy[Any] = self.message(field.message_type, cls, depth + 1)
            return strategy
        return self._scalar(field)

    def _scalar(self, field: FieldDescriptor) -> st.SearchStrategy[Any]:
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.text
        if kind == FieldDescriptor.TYPE_BYTES:
            return st.binary(max_size=64)
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type is not None
            valid = [v.number for v in field.enum_type.values]
            return st.one_of(st.sampled_from(valid), st.integers(-3, 120))
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return st.one_of(
                st.floats(allow_nan=True, allow_infinity=True, width=32),
                st.floats(-200, 200),
                st.sampled_from([0.0, -0.0, 1e-9, 1e308, -1e308]),
            )
        low, high = _range(kind)
        return st.one_of(
            st.integers(low, high),
            st.integers(max(low, -5), min(high, 1000)),
            st.sampled_from(sorted({low, high, 0, 1, min(high, 2**31 - 1), max(low, -1)})),
        )


def _range(kind: int) -> tuple[int, int]:
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return 0, 2**32 - 1
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return 0, 2**64 - 1
    if kind in (
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SFIXED32,
    ):
        return INT32
    return INT64


def _make(cls: type[Message], fields: dict[str, Any]) -> Message:
    """The message; a field the runtime refuses (a value out of its range) is left out."""
    message = cls()
    for name, value in fields.items():
        try:
            message.MergeFrom(cls(**{name: value}))
        except (ValueError, TypeError):
            continue
    return message


def mutated(data: bytes, rng: random.Random) -> bytes:
    """A serialized message with a few bytes flipped, inserted or the tail cut."""
    buffer = bytearray(data or b"\x0a")
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        at = rng.randrange(len(buffer)) if buffer else 0
        if choice < 0.5 and buffer:
            buffer[at] ^= 1 << rng.randrange(8)
        elif choice < 0.8:
            buffer[at:at] = bytes([rng.randrange(256)])
        else:
            del buffer[at:]
    return bytes(buffer)


def raw_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"\xff" * 16, b"\x0a\xff\xff\xff\xff\x0f", b"\x08" + b"\xff" * 10]),
    )
