"""Open listings as columns over the internal link: OpenListingColumns's stream of chunks.

A chunk is one message of packed repeated fields, CHUNK listings at most (about 5 MB for
50,000): the registry sends a selection of a million listings as 20 bounded messages, not one
of 150 MB, and the matcher joins their arrays without an object per listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from fupin.registry.v1 import internal_service_pb2 as ipb
from registry.runs.data import OpenListingColumns, Shares

CHUNK = 50_000
STRINGS = ("id", "producer_id", "product", "grade", "available_from", "available_until")
UNIQUE = ("id", "producer_id")
NUMBERS = (
    ("available_kg", np.int64),
    ("floor_price_fen", np.int64),
    ("latitude", np.float64),
    ("longitude", np.float64),
    ("shelf_life_days", np.int64),
    ("share_kind", np.int64),
)
Chunk = ipb.OpenListingColumnsResponse


def chunks(columns: OpenListingColumns, size: int = CHUNK) -> Iterator[Chunk]:
    """The columns as messages of `size` listings at most; at least one (with the kinds)."""
    kinds = [
        Chunk.ShareKind(shares=[ipb.OpenListing.Share(status=s, permille=p) for s, p in kind])
        for kind in columns.share_kinds
    ]
    for start in range(0, max(len(columns), 1), size):
        part = slice(start, start + size)
        message = Chunk(share_kinds=kinds if start == 0 else ())
        for name in STRINGS:
            getattr(message, name).extend(getattr(columns, name)[part])
        for name, _ in NUMBERS:
            getattr(message, name).extend(getattr(columns, name)[part].tolist())
        yield message


def joined(messages: Iterable[Chunk]) -> OpenListingColumns:
    """The columns of a stream of chunks, in order."""
    strings: dict[str, Any] = {name: [] for name in STRINGS}
    numbers: dict[str, list[Any]] = {name: [] for name, _ in NUMBERS}
    kinds: tuple[Shares, ...] = ()
    repeated: dict[str, str] = {}  # products, grades and dates: one string object each
    for message in messages:
        if message.share_kinds:
            kinds = tuple(
                tuple((s.status, s.permille) for s in kind.shares) for kind in message.share_kinds
            )
        for name, values in strings.items():
            got = getattr(message, name)
            values.extend(got if name in UNIQUE else map(repeated.setdefault, got, got))
        for name, dtype in NUMBERS:
            numbers[name].append(np.array(getattr(message, name), dtype))
    arrays: dict[str, Any] = {
        name: np.concatenate(numbers[name]) if numbers[name] else np.zeros(0, dtype)
        for name, dtype in NUMBERS
    }
    return OpenListingColumns(**strings, **arrays, share_kinds=kinds)
