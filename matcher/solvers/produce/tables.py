"""Column tables of a produce problem: one numpy array per attribute of listings, orders, lanes.

Built once per solve with one Python pass over listings and orders (never over pairs); the
arc builder then gathers from these arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.geo import unit_vectors
from matcher.solvers.produce.problem import (
    PRIORITY_CLASSES,
    Listing,
    PovertyBonus,
    ProduceProblem,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Priority (impoverished + at-risk) shares are kept in basis points so that POVERTY_FIRST's
# first stage, Σ kg × share, is an integer objective.
SHARE_SCALE = 10_000


@dataclass(frozen=True)
class ListingTable:
    quantity: IntArray
    floor: IntArray
    shelf_life: IntArray
    departure: IntArray  # ordinal of max(today, available_from)
    until: IntArray  # ordinal of available_until
    product: IntArray
    grade: IntArray
    unit: FloatArray  # n × 3 unit vectors of the locations
    bonus: IntArray  # fen per kg, share-weighted, rounded half up
    poor_bp: IntArray  # impoverished + at-risk share, in basis points


@dataclass(frozen=True)
class OrderTable:
    min_q: IntArray
    max_q: IntArray
    price: IntArray
    deliver_by: IntArray
    max_km: FloatArray  # inf when unset
    product: IntArray
    accepts: BoolArray  # [order, grade code]
    unit: FloatArray  # m × 3 unit vectors of the locations


@dataclass(frozen=True)
class LaneTable:
    keys: IntArray  # listing index × n_orders + order index, sorted
    cost: IntArray
    transit: IntArray
    min_lot: IntArray
    fixed_cost: IntArray
    truck_capacity: IntArray  # 0 = one fixed charge per used lane


@dataclass(frozen=True)
class Tables:
    listings: ListingTable
    orders: OrderTable
    lanes: LaneTable
    n_products: int

    def lane_lookup(self, li: IntArray, oi: IntArray) -> tuple[BoolArray, IntArray]:
        """For each pair (li and oi broadcast): whether the lane table has it, and where."""
        keys = self.lanes.keys
        if keys.size == 0:
            shape = np.broadcast_shapes(li.shape, oi.shape)
            return np.zeros(shape, np.bool_), np.zeros(shape, np.int64)
        pair_keys = li * max(self.orders.price.size, 1) + oi
        where = np.minimum(np.searchsorted(keys, pair_keys), keys.size - 1)
        return keys[where] == pair_keys, where


def share_weighted_bonus(listing: Listing, bonus: PovertyBonus) -> int:
    """Fen per kg of poverty bonus for a listing, weighted by its producer's shares."""
    return math.floor(math.fsum(f * bonus.per_kg(c) for c, f in listing.shares) + 0.5)


def priority_share_bp(listing: Listing) -> int:
    """The impoverished + at-risk share of a listing's producer, in basis points."""
    share = math.fsum(f for c, f in listing.shares if c in PRIORITY_CLASSES)
    return math.floor(share * SHARE_SCALE + 0.5)


def build_tables(problem: ProduceProblem) -> Tables:
    products: dict[str, int] = {}
    grades: dict[str, int] = {}
    for listing in problem.listings:
        products.setdefault(listing.product, len(products))
        grades.setdefault(listing.grade, len(grades))
    for order in problem.orders:
        products.setdefault(order.product, len(products))
    return Tables(
        _listing_table(problem, products, grades),
        _order_table(problem, products, grades),
        _lane_table(problem),
        len(products),
    )


def _ints(values: list[int]) -> IntArray:
    return np.array(values, dtype=np.int64).reshape(-1)


def _floats(values: list[float]) -> FloatArray:
    return np.array(values, dtype=np.float64).reshape(-1)


def _listing_table(
    problem: ProduceProblem, products: dict[str, int], grades: dict[str, int]
) -> ListingTable:
    ls = problem.listings
    today = problem.today.toordinal()
    # Most producers share one of a few share vectors (a household is one class at 1.0).
    distinct = {x.shares: x for x in ls}.values()
    bonus_of = {x.shares: share_weighted_bonus(x, problem.bonus) for x in distinct}
    poor_of = {x.shares: priority_share_bp(x) for x in distinct}
    return ListingTable(
        quantity=_ints([x.quantity_kg for x in ls]),
        floor=_ints([x.floor_price_fen for x in ls]),
        shelf_life=_ints([x.shelf_life_days for x in ls]),
        departure=_ints([max(today, x.available_from.toordinal()) for x in ls]),
        until=_ints([x.available_until.toordinal() for x in ls]),
        product=_ints([products[x.product] for x in ls]),
        grade=_ints([grades[x.grade] for x in ls]),
        unit=unit_vectors(_floats([x.lat for x in ls]), _floats([x.lng for x in ls])),
        bonus=_ints([bonus_of[x.shares] for x in ls]),
        poor_bp=_ints([poor_of[x.shares] for x in ls]),
    )


def _order_table(
    problem: ProduceProblem, products: dict[str, int], grades: dict[str, int]
) -> OrderTable:
    os_ = problem.orders
    accepts = np.zeros((len(os_), max(len(grades), 1)), np.bool_)
    for j, order in enumerate(os_):
        # Grades no listing has can never match, so they need no column.
        accepts[j, [grades[g] for g in order.accepted_grades if g in grades]] = True
    return OrderTable(
        min_q=_ints([x.min_quantity_kg for x in os_]),
        max_q=_ints([x.max_quantity_kg for x in os_]),
        price=_ints([x.price_fen for x in os_]),
        deliver_by=_ints([x.deliver_by.toordinal() for x in os_]),
        max_km=_floats([math.inf if x.max_distance_km is None else x.max_distance_km for x in os_]),
        product=_ints([products[x.product] for x in os_]),
        accepts=accepts,
        unit=unit_vectors(_floats([x.lat for x in os_]), _floats([x.lng for x in os_])),
    )


def _lane_table(problem: ProduceProblem) -> LaneTable:
    l_index = {x.id: i for i, x in enumerate(problem.listings)}
    o_index = {x.id: j for j, x in enumerate(problem.orders)}
    m = max(len(problem.orders), 1)
    items = list(problem.transport.lanes.items())
    keys = _ints([l_index[lid] * m + o_index[oid] for (lid, oid), _ in items])
    order = np.argsort(keys, kind="stable")
    lanes = [lane for _, lane in items]
    return LaneTable(
        keys=keys[order],
        cost=_ints([x.cost_fen_per_kg for x in lanes])[order],
        transit=_ints([x.transit_days for x in lanes])[order],
        min_lot=_ints([x.min_lot_kg for x in lanes])[order],
        fixed_cost=_ints([x.fixed_cost_fen for x in lanes])[order],
        truck_capacity=_ints([x.truck_capacity_kg or 0 for x in lanes])[order],
    )
