"""The produce problem as columns: one numpy array per attribute of listings, orders and lanes.

What a solve works on (tables, arcs, candidates and results read these arrays) and what travels
to a solver process: a 100,000-listing problem is a few dozen arrays that pickle as buffers, not
100,000 objects. ``as_columns(problem)`` turns a ``ProduceProblem``'s objects into columns; a
servicer builds them straight from a request (``matcher.service.convert_produce``). Either way
``ProduceColumns`` validates on construction, vectorised (``checks``), and names the first bad
field exactly as ``ProduceProblem`` does, e.g. ``listings[3].quantity_kg``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.solving import Objective
from matcher.solvers.produce.checks import check_columns
from matcher.solvers.produce.problem import (
    InvalidProduceProblem,
    PovertyBonus,
    ProduceProblem,
    Shares,
    TransportConfig,
    _check_candidates,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class Columns:
    """Value equality for dataclasses of numpy columns (the generated ``==`` would ask numpy
    for the truth of an array)."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            _same(getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.compare
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))  # type: ignore[arg-type]
    return a == b


@dataclass(frozen=True, eq=False)
class ListingColumns(Columns):
    """Listings, one entry each; strings as codes into ``ProduceColumns``' vocabularies."""

    id: Sequence[str]
    product: IntArray  # index into ProduceColumns.products
    grade: IntArray  # index into ProduceColumns.grades
    quantity: IntArray
    floor: IntArray
    lat: FloatArray
    lng: FloatArray
    available_from: IntArray  # date ordinals
    available_until: IntArray
    shelf_life: IntArray
    shares: IntArray  # index into ProduceColumns.share_kinds

    def __len__(self) -> int:
        return int(self.quantity.size)


@dataclass(frozen=True, eq=False)
class OrderColumns(Columns):
    id: Sequence[str]
    product: IntArray
    accepts: BoolArray  # [order, grade code]; grades no listing has need no column
    min_q: IntArray
    max_q: IntArray
    price: IntArray
    lat: FloatArray
    lng: FloatArray
    deliver_by: IntArray  # date ordinals
    max_km: FloatArray  # road km; inf = no limit

    def __len__(self) -> int:
        return int(self.price.size)


@dataclass(frozen=True, eq=False)
class LaneColumns(Columns):
    """Known lanes (``Lane``) by listing and order index."""

    listing: IntArray
    order: IntArray
    cost: IntArray
    transit: IntArray
    min_lot: IntArray
    fixed_cost: IntArray
    truck_capacity: IntArray  # 0 = one fixed charge per used lane

    @staticmethod
    def empty() -> LaneColumns:
        return LaneColumns(*(np.zeros(0, np.int64) for _ in range(7)))


@dataclass(frozen=True, kw_only=True, eq=False)
class ProduceColumns(Columns):
    """Everything one produce solve needs, as columns (``ProduceProblem``'s meaning)."""

    listings: ListingColumns
    orders: OrderColumns
    products: tuple[str, ...]  # codes in order of first appearance: listings', then orders'
    grades: tuple[str, ...]  # listings' grades in order of first appearance
    share_kinds: tuple[Shares, ...]
    today: int  # date ordinal
    lanes: LaneColumns = field(default_factory=LaneColumns.empty)
    transport: TransportConfig = field(default_factory=TransportConfig)  # lanes: ``lanes``
    bonus: PovertyBonus = field(default_factory=PovertyBonus)
    objective: Objective = Objective.WELFARE
    candidates: tuple[IntArray, IntArray] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.transport.lanes:
            raise InvalidProduceProblem("transport.lanes", "lanes go in ProduceColumns.lanes")
        # A plain dict: the default's read-only mapping proxy does not pickle.
        object.__setattr__(self, "transport", dataclasses.replace(self.transport, lanes={}))

        check_columns(self)

    def restricted(self, candidates: tuple[IntArray, IntArray]) -> ProduceColumns:
        """The same problem with arcs restricted to ``candidates`` (checked; the rest of the
        problem was checked when it was made)."""
        _check_candidates(candidates, len(self.listings), len(self.orders))
        out = copy.copy(self)
        object.__setattr__(out, "candidates", candidates)
        return out


K = TypeVar("K", bound=Hashable)


def codes(values: Sequence[K], vocabulary: dict[K, int]) -> IntArray:
    """Each value's code, new values appended to ``vocabulary`` in order of appearance."""
    for value in dict.fromkeys(values):  # distinct values in order, at C speed
        vocabulary.setdefault(value, len(vocabulary))
    if len(vocabulary) == 1:  # one product, one grade: the usual case
        return np.zeros(len(values), np.int64)
    return np.fromiter(map(vocabulary.__getitem__, values), np.int64, len(values))


def accepts_matrix(accepted: Sequence[Iterable[str]], grades: dict[str, int]) -> BoolArray:
    """[order, grade code]: whether each order takes each (listed) grade."""
    out = np.zeros((len(accepted), max(len(grades), 1)), np.bool_)
    for j, names in enumerate(accepted):
        out[j, [grades[g] for g in names if g in grades]] = True
    return out


def ints(values: Iterable[int]) -> IntArray:
    return np.array(list(values), np.int64).reshape(-1)


def floats(values: Iterable[float]) -> FloatArray:
    return np.array(list(values), np.float64).reshape(-1)


def to_columns(problem: ProduceProblem) -> ProduceColumns:
    """A ``ProduceProblem``'s objects as columns (one pass over listings and orders)."""
    ls, os_ = problem.listings, problem.orders
    products: dict[str, int] = {}
    grades: dict[str, int] = {}
    kinds: dict[Shares, int] = {}
    listings = ListingColumns(
        id=[x.id for x in ls],
        product=codes(tuple(x.product for x in ls), products),
        grade=codes(tuple(x.grade for x in ls), grades),
        quantity=ints(x.quantity_kg for x in ls),
        floor=ints(x.floor_price_fen for x in ls),
        lat=floats(x.lat for x in ls),
        lng=floats(x.lng for x in ls),
        available_from=ints(x.available_from.toordinal() for x in ls),
        available_until=ints(x.available_until.toordinal() for x in ls),
        shelf_life=ints(x.shelf_life_days for x in ls),
        shares=codes(tuple(x.shares for x in ls), kinds),
    )
    orders = OrderColumns(
        id=[o.id for o in os_],
        product=codes(tuple(o.product for o in os_), products),
        accepts=accepts_matrix([o.accepted_grades for o in os_], grades),
        min_q=ints(o.min_quantity_kg for o in os_),
        max_q=ints(o.max_quantity_kg for o in os_),
        price=ints(o.price_fen for o in os_),
        lat=floats(o.lat for o in os_),
        lng=floats(o.lng for o in os_),
        deliver_by=ints(o.deliver_by.toordinal() for o in os_),
        max_km=floats(math.inf if o.max_distance_km is None else o.max_distance_km for o in os_),
    )
    return ProduceColumns(
        listings=listings,
        orders=orders,
        products=tuple(products),
        grades=tuple(grades),
        share_kinds=tuple(kinds),
        today=problem.today.toordinal(),
        lanes=lane_columns(problem),
        transport=TransportConfig(
            problem.transport.road_factor,
            problem.transport.rate_fen_per_tonne_km,
            problem.transport.speed_km_per_day,
        ),
        bonus=problem.bonus,
        objective=problem.objective,
        candidates=problem.candidates,
    )


def lane_columns(problem: ProduceProblem) -> LaneColumns:
    l_index = {x.id: i for i, x in enumerate(problem.listings)}
    o_index = {x.id: j for j, x in enumerate(problem.orders)}
    items = list(problem.transport.lanes.items())
    lanes = [lane for _, lane in items]
    return LaneColumns(
        listing=ints(l_index[lid] for (lid, _), _ in items),
        order=ints(o_index[oid] for (_, oid), _ in items),
        cost=ints(x.cost_fen_per_kg for x in lanes),
        transit=ints(x.transit_days for x in lanes),
        min_lot=ints(x.min_lot_kg for x in lanes),
        fixed_cost=ints(x.fixed_cost_fen for x in lanes),
        truck_capacity=ints(x.truck_capacity_kg or 0 for x in lanes),
    )


def as_columns(problem: ProduceProblem | ProduceColumns) -> ProduceColumns:
    return problem if isinstance(problem, ProduceColumns) else to_columns(problem)
