"""Column tables of a produce problem: one numpy array per attribute of listings, orders, lanes.

Built once per solve from the problem's columns (no Python loop over listings, orders or
pairs); the arc builder then gathers from these arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.geo import unit_vectors
from matcher.solvers.produce.columns import ProduceColumns
from matcher.solvers.produce.problem import (
    PRIORITY_CLASSES,
    PovertyBonus,
    Shares,
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


def shares_bonus(shares: Shares, bonus: PovertyBonus) -> int:
    """Fen per kg of poverty bonus for a producer with these shares, share-weighted."""
    return math.floor(math.fsum(f * bonus.per_kg(c) for c, f in shares) + 0.5)


def shares_priority_bp(shares: Shares) -> int:
    """The impoverished + at-risk share of a producer with these shares, in basis points."""
    share = math.fsum(f for c, f in shares if c in PRIORITY_CLASSES)
    return math.floor(share * SHARE_SCALE + 0.5)


def build_tables(problem: ProduceColumns) -> Tables:
    return Tables(
        _listing_table(problem),
        _order_table(problem),
        _lane_table(problem),
        len(problem.products),
    )


def _listing_table(problem: ProduceColumns) -> ListingTable:
    ls = problem.listings
    # Most producers share one of a few share vectors (a household is one class at 1.0).
    kinds = problem.share_kinds
    bonus_of = np.array([shares_bonus(k, problem.bonus) for k in kinds] or [0], np.int64)
    poor_of = np.array([shares_priority_bp(k) for k in kinds] or [0], np.int64)
    return ListingTable(
        quantity=ls.quantity,
        floor=ls.floor,
        shelf_life=ls.shelf_life,
        departure=np.maximum(ls.available_from, problem.today),
        until=ls.available_until,
        product=ls.product,
        grade=ls.grade,
        unit=unit_vectors(ls.lat, ls.lng).reshape(-1, 3),
        bonus=bonus_of[ls.shares],
        poor_bp=poor_of[ls.shares],
    )


def _order_table(problem: ProduceColumns) -> OrderTable:
    os_ = problem.orders
    return OrderTable(
        min_q=os_.min_q,
        max_q=os_.max_q,
        price=os_.price,
        deliver_by=os_.deliver_by,
        max_km=os_.max_km,
        product=os_.product,
        accepts=os_.accepts,
        unit=unit_vectors(os_.lat, os_.lng).reshape(-1, 3),
    )


def _lane_table(problem: ProduceColumns) -> LaneTable:
    lanes = problem.lanes
    keys = lanes.listing * max(len(problem.orders), 1) + lanes.order
    order = np.argsort(keys, kind="stable")
    return LaneTable(
        keys=keys[order],
        cost=lanes.cost[order],
        transit=lanes.transit[order],
        min_lot=lanes.min_lot[order],
        fixed_cost=lanes.fixed_cost[order],
        truck_capacity=lanes.truck_capacity[order],
    )
