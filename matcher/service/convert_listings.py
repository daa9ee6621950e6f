"""An inline produce problem's listings read into the model's columns, as messages
(ProduceProblem.listings) or as columns (listing_columns), and the column readers the produce
conversion (convert_produce.py) shares: one C-level pass of attribute reads per field, dates
parsed once per distinct value, validation on whole arrays.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service.convert import date
from matcher.solvers import produce
from matcher.solvers.produce.columns import FloatArray, IntArray, codes
from registry.errors import InvalidArgument
from registry.resources.checks import iso_date

NOT_POOR = produce.household(produce.PovertyClass.NOT_POOR)
SHARE = attrgetter("poverty_class", "share_permille")


def column(items: Sequence[Any], name: str) -> list[Any]:
    return list(map(attrgetter(name), items))


def int_column(items: Sequence[Any], name: str) -> IntArray:
    return np.fromiter(map(attrgetter(name), items), np.int64, len(items))


def float_column(items: Sequence[Any], name: str) -> FloatArray:
    return np.fromiter(map(attrgetter(name), items), np.float64, len(items))


def ordinals(values: list[str], parse: Callable[[str], dt.date]) -> IntArray:
    """Date ordinals; each distinct date is parsed once. -1 where ``parse`` fails."""
    ordinal = {}
    for value in set(values):
        try:
            ordinal[value] = parse(value).toordinal()
        except (ValueError, InvalidArgument):
            ordinal[value] = -1
    return np.fromiter(map(ordinal.__getitem__, values), np.int64, len(values))


def check_dates(
    path: str,
    fields: list[tuple[str, list[str], IntArray]],
    entry: str = "{path}[{i}].{name}",
) -> None:
    """INVALID_ARGUMENT for the first item (then field) whose date does not parse, named by
    ``entry`` (messages: listings[3].available_from; columns: available_from[3])."""
    firsts = [(int(np.argmax(o < 0)), k) for k, (_, _, o) in enumerate(fields) if (o < 0).any()]
    if firsts:
        i, k = min(firsts)
        name, values, _ = fields[k]
        date(entry.format(path=path, i=i, name=name), values[i])  # raises the usual message


def _inline_shares(listings: Sequence[mpb.InlineListing], kinds: dict[Any, int]) -> Any:
    """Per listing the code of its shares' kind, and the kinds as model shares."""
    lists = column(listings, "shares")
    single = set(map(len, lists)) == {1}  # every producer a household: one share each
    if single:
        raw: list[Any] = list(map(SHARE, map(itemgetter(0), lists)))
    else:
        raw = [tuple(map(SHARE, s)) for s in lists]
    code = codes(raw, kinds)
    out = []
    for k, key in enumerate(kinds):
        kind = (key,) if single else key
        i = int(np.argmax(code == k))
        out.append(_model_shares(kind, f"inline.listings[{i}].shares"))
    return code, tuple(out)


KNOWN_CLASSES = frozenset(mpb.PovertyClass.values())


def _model_shares(kind: Sequence[tuple[int, int]], path: str) -> produce.Shares:
    """((poverty class, permille), ...) of the request as the model's shares."""
    for j, (cls, _) in enumerate(kind):
        if cls not in KNOWN_CLASSES:
            raise InvalidArgument.one(f"{path}[{j}].poverty_class", f"unknown value {cls}")
    return tuple((produce.PovertyClass(max(0, c - 1)), p / 1000) for c, p in kind) or NOT_POOR


@dataclass
class Vocabularies:
    """Codes of the strings of one problem: products, grades and share kinds."""

    products: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    kinds: dict[Any, int] = field(default_factory=dict)

    def parts(self, share_kinds: tuple[produce.Shares, ...]) -> dict[str, Any]:
        return {
            "products": tuple(self.products),
            "grades": tuple(self.grades),
            "share_kinds": share_kinds,
        }


def _listing_columns(
    ls: Sequence[Any],
    places: Sequence[Any],
    quantity: str,
    dates: tuple[IntArray, IntArray],
    shares: IntArray,
    vocab: Vocabularies,
) -> produce.ListingColumns:
    """Listings' columns: ``places`` have their latitude and longitude; ``quantity`` names the
    attribute with the kilograms on offer."""
    return produce.ListingColumns(
        id=column(ls, "id"),
        product=codes(column(ls, "product"), vocab.products),
        grade=codes(column(ls, "grade"), vocab.grades),
        quantity=int_column(ls, quantity),
        floor=int_column(ls, "floor_price_fen"),
        lat=float_column(places, "latitude"),
        lng=float_column(places, "longitude"),
        available_from=dates[0],
        available_until=dates[1],
        shelf_life=int_column(ls, "shelf_life_days"),
        shares=shares,
    )


def listings_of_messages(
    messages: Sequence[mpb.InlineListing], vocab: Vocabularies
) -> tuple[produce.ListingColumns, tuple[produce.Shares, ...]]:
    """ProduceProblem.listings as the model's columns: one pass of attribute reads a field."""
    ls = list(messages)
    froms, untils = column(ls, "available_from"), column(ls, "available_until")
    dates = [
        ("available_from", froms, ordinals(froms, iso_date)),
        ("available_until", untils, ordinals(untils, iso_date)),
    ]
    check_dates("inline.listings", dates)
    share_codes, share_kinds = _inline_shares(ls, vocab.kinds)
    listings = _listing_columns(
        ls,
        column(ls, "location"),
        "quantity_kg",
        (dates[0][2], dates[1][2]),
        share_codes,
        vocab,
    )
    return listings, share_kinds


def listings_of_columns(
    c: mpb.InlineListingColumns, vocab: Vocabularies
) -> tuple[produce.ListingColumns, tuple[produce.Shares, ...]]:
    """ProduceProblem.listing_columns as the model's columns: each column read in one pass;
    a column left empty is its field's default for every listing."""
    n = len(c.id)
    path = "inline.listing_columns"

    def entries(name: str) -> Any:
        values = getattr(c, name)
        if len(values) not in (0, n):
            raise InvalidArgument.one(f"{path}.{name}", f"must have {n} entries")
        return values

    def strings(name: str) -> list[str]:
        return list(entries(name)) or [""] * n

    def numbers(name: str, dtype: type) -> Any:
        values = entries(name)
        return np.fromiter(values, dtype, n) if len(values) else np.zeros(n, dtype)

    if len(c.share_sets) > max(n, 1):  # a set no listing names is work for nothing
        raise InvalidArgument.one(f"{path}.share_sets", f"must have at most {max(n, 1)} elements")
    dates = {}
    for name in ("available_from", "available_until"):  # a column's first bad entry
        values = strings(name)
        dates[name] = ordinals(values, iso_date)
        check_dates(path, [(name, values, dates[name])], "{path}.{name}[{i}]")
    share_sets = tuple(
        _model_shares(list(map(SHARE, s.shares)), f"{path}.share_sets[{k}].shares")
        for k, s in enumerate(c.share_sets)
    )
    share_set = numbers("share_set", np.int64)
    if not len(c.share_set):  # no listing has poverty shares
        share_sets = (NOT_POOR,)
    elif not share_sets:
        raise InvalidArgument.one(f"{path}.share_sets", "must not be empty")
    bad = (share_set < 0) | (share_set >= len(share_sets))
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidArgument.one(
            f"{path}.share_set[{i}]", f"codes must be in 0..{len(share_sets) - 1}"
        )
    listings = produce.ListingColumns(
        id=list(c.id),
        product=codes(strings("product"), vocab.products),
        grade=codes(strings("grade"), vocab.grades),
        quantity=numbers("quantity_kg", np.int64),
        floor=numbers("floor_price_fen", np.int64),
        lat=numbers("latitude", np.float64),
        lng=numbers("longitude", np.float64),
        available_from=dates["available_from"],
        available_until=dates["available_until"],
        shelf_life=numbers("shelf_life_days", np.int64),
        shares=share_set,
    )
    return listings, share_sets


def message_path(field: str) -> str:
    """A model's field as the request's messages name it: listings[3].location.latitude."""
    return field.replace(".lat", ".location.latitude").replace(".lng", ".location.longitude")


MODEL_FIELD = re.compile(r"listings\[(\d+)\]\.(\w+)(.*)")
COLUMN_OF = {"lat": "latitude", "lng": "longitude"}


@dataclass(frozen=True)
class ColumnPaths:
    """A model's listing field as listing_columns names it: listings[3].lat is
    listing_columns.latitude[3]; listing 3's shares are its share set's."""

    share_set: IntArray

    def __call__(self, field: str) -> str:
        found = MODEL_FIELD.fullmatch(field)
        if found is None:
            return message_path(field)
        i, name, rest = int(found[1]), found[2], found[3]
        if name == "shares":
            return f"listing_columns.share_sets[{int(self.share_set[i])}].shares{rest}"
        return f"listing_columns.{COLUMN_OF.get(name, name)}[{i}]{rest}"
