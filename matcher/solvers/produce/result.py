"""Produce allocation output: allocations with their value breakdown, KPIs and explanations."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.fairness import gini
from matcher.solvers.common.solving import Objective, SolveStatus, Timings, relative_gap
from matcher.solvers.produce.arcs import Arcs, Screening
from matcher.solvers.produce.columns import Columns, ProduceColumns
from matcher.solvers.produce.flow import FlowSolution
from matcher.solvers.produce.tables import SHARE_SCALE, Tables

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class UnsoldReason(enum.Enum):
    """Why (part of) a listing did not sell."""

    NO_COMPATIBLE_ORDER = "NO_COMPATIBLE_ORDER"  # no order for its product and grade
    FLOOR_ABOVE_NET_PRICE = (
        "FLOOR_ABOVE_NET_PRICE"  # every such order pays < floor net of transport
    )
    BEYOND_SHELF_LIFE_OR_DISTANCE = (
        "BEYOND_SHELF_LIFE_OR_DISTANCE"  # price fits; transit/dates don't
    )
    OUTBID = "OUTBID"  # it had buyers, but their capacity went to higher-value or priority supply


@dataclass(frozen=True)
class Allocation:
    """Kilograms on one listing → order lane; money per kg in fen unless marked total."""

    listing_id: str
    order_id: str
    kg: int
    price_fen: int
    transport_fen: int
    floor_fen: int
    bonus_fen: int  # poverty bonus counted in the objective (0 under POVERTY_FIRST)
    trucks: int  # on lanes with a fixed cost per truck
    fixed_cost_fen: int  # total for the lane
    total_fen: int  # kg × (price − transport − floor + bonus) − fixed cost
    road_km: float
    transit_days: int


@dataclass(frozen=True)
class UnsoldListing:
    """A listing with unsold kilograms, and why.

    ``would_sell_at_floor_fen`` (fully unsold listings only; None when not computed or when
    it would not sell even at floor 0): the highest floor at which selling it is optimal.
    Below it every optimal allocation sells it. For OUTBID it is max over its orders of
    min(price − transport + bonus − w, price − transport), w being the value the order's
    marginal kilogram earns (its largest optimal dual); for FLOOR_ABOVE_NET_PRICE the same
    over the orders its floor priced out. Under POVERTY_FIRST a priced-out order counts at
    price − transport, the floor that opens it. On the exact path it comes from the network
    relaxation and is indicative.
    """

    listing_id: str
    unsold_kg: int
    reason: UnsoldReason
    would_sell_at_floor_fen: int | None


@dataclass(frozen=True)
class OrderOutcome:
    """An order's fill and shadow prices (value of one more kg of its maximum quantity).

    Exact on the fast path (a re-solve with max + 1 kg gains exactly this); on the exact path
    they are the network relaxation's. Under POVERTY_FIRST ``shadow_priority_kg`` is the
    gain in priority kilograms and ``shadow_price_fen`` the value gain when that is zero.
    """

    order_id: str
    filled_kg: int
    shadow_price_fen: int | None
    shadow_priority_kg: float | None


@dataclass(frozen=True)
class ProduceKpis:
    """Priority = impoverished + at-risk households' share of each producer."""

    kg_sold: int
    priority_kg_sold: float
    priority_income_fen: float  # kg × (price − transport) × priority share
    unsold_kg: int
    priority_income_gini: float  # over listings with a priority share (listings as producers)


@dataclass(frozen=True)
class ProduceResult:
    """One solve's answer: status, objective with its bound and gap, and the explanations.

    OPTIMAL from the min-cost flow (no side constraints) or a proven CP-SAT run; FEASIBLE
    when time ran out (the best solution found, with ``gap``) or from ``greedy``.
    """

    status: SolveStatus
    objective: int  # fen: WELFARE value incl. bonus; POVERTY_FIRST value of the second stage
    bound: int | None
    gap: float | None
    timings: Timings
    allocation_columns: AllocationColumns
    kpis: ProduceKpis
    unsold_columns: UnsoldColumns
    order_columns: OutcomeColumns
    method: str  # "min_cost_flow", "cp_sat" or "greedy"
    prices_from_relaxation: bool
    # POVERTY_FIRST: upper bound on priority kg (= kpis.priority_kg_sold once proven). The
    # objective, bound and gap above are the value stage's, given the priority kg reached.
    priority_kg_bound: float | None = None
    arcs: int = 0  # candidate lanes left after the hard compatibility filters

    @property
    def allocations(self) -> tuple[Allocation, ...]:
        return self.allocation_columns.rows()

    @property
    def unsold(self) -> tuple[UnsoldListing, ...]:
        return self.unsold_columns.rows()

    @property
    def orders(self) -> tuple[OrderOutcome, ...]:
        return self.order_columns.rows()


@dataclass(frozen=True, eq=False)
class AllocationColumns(Columns):
    """The allocations as columns (what travels back from a solver process), by listing, then
    order; ``listing`` and ``order`` index the problem's, whose ids are ``listing_ids`` and
    ``order_ids``."""

    listing_ids: Sequence[str]
    order_ids: Sequence[str]
    listing: IntArray
    order: IntArray
    kg: IntArray
    price: IntArray
    transport: IntArray
    floor: IntArray
    bonus: IntArray
    trucks: IntArray
    fixed_cost: IntArray
    total: IntArray
    road_km: FloatArray
    transit_days: IntArray

    def rows(self) -> tuple[Allocation, ...]:
        values = [getattr(self, f).tolist() for f in _ALLOCATION_VALUES]
        lids, oids = self.listing_ids, self.order_ids
        return tuple(
            Allocation(lids[i], oids[j], *row)
            for i, j, *row in zip(self.listing.tolist(), self.order.tolist(), *values, strict=True)
        )


# AllocationColumns' value columns, in Allocation's order after its ids
_ALLOCATION_VALUES = [f.name for f in fields(AllocationColumns)][4:]
REASONS = tuple(UnsoldReason)
NO_FLOOR = -1  # would_sell_at_floor_fen: None


@dataclass(frozen=True, eq=False)
class UnsoldColumns(Columns):
    """Listings with unsold kilograms, as columns; ``reason`` indexes ``REASONS``."""

    listing_ids: Sequence[str]
    listing: IntArray
    unsold_kg: IntArray
    reason: IntArray
    would_sell_at_floor_fen: IntArray  # NO_FLOOR for None

    def rows(self) -> tuple[UnsoldListing, ...]:
        ids = self.listing_ids
        return tuple(
            UnsoldListing(ids[i], kg, REASONS[r], None if f == NO_FLOOR else f)
            for i, kg, r, f in zip(
                self.listing.tolist(),
                self.unsold_kg.tolist(),
                self.reason.tolist(),
                self.would_sell_at_floor_fen.tolist(),
                strict=True,
            )
        )


@dataclass(frozen=True, eq=False)
class OutcomeColumns(Columns):
    """Every order's fill and shadow prices, as columns (see ``OrderOutcome``)."""

    order_ids: Sequence[str]
    filled_kg: IntArray
    shadow_price_fen: IntArray
    has_shadow_price: BoolArray
    shadow_priority_kg: FloatArray | None

    def rows(self) -> tuple[OrderOutcome, ...]:
        fen = [
            int(f) if has else None
            for f, has in zip(self.shadow_price_fen, self.has_shadow_price, strict=True)
        ]
        poor = self.shadow_priority_kg
        return tuple(
            OrderOutcome(
                order_id, int(self.filled_kg[j]), fen[j], None if poor is None else float(poor[j])
            )
            for j, order_id in enumerate(self.order_ids)
        )


@dataclass(frozen=True)
class Solution:
    """What a solver path hands over: kg and trucks per arc, status, bound, prices."""

    flow: IntArray
    trucks: IntArray
    status: SolveStatus
    bound: int | None
    method: str
    prices: FlowSolution | None
    prices_from_relaxation: bool = False
    priority_bound_bp: int | None = None  # POVERTY_FIRST: bound on Σ kg × priority share (bp)


def arc_bonus(
    objective: Objective, arcs: Arcs, tables: Tables, at: IntArray | None = None
) -> IntArray:
    """Bonus per kg counted in the value (of the arcs ``at``, default all): the poverty tilt
    exists only under WELFARE."""
    listing = arcs.listing if at is None else arcs.listing[at]
    if objective is Objective.WELFARE:
        return tables.listings.bonus[listing]
    return np.zeros(listing.size, np.int64)


def objective_value(
    objective: Objective,
    arcs: Arcs,
    tables: Tables,
    flow: IntArray,
    trucks: IntArray,
    used: IntArray | None = None,
) -> int:
    """The value of a flow, read on the arcs that carry some (``used``, found if not given:
    a few per listing, of the 30 or 200 screened; a pass over every arc cost more than the
    sums themselves)."""
    used = np.flatnonzero(flow) if used is None else used
    value = (arcs.margin_at(used) + arc_bonus(objective, arcs, tables, used)) * flow[used]
    charged = np.flatnonzero(trucks)
    return int(value.sum() - (arcs.fixed_cost[charged] * trucks[charged]).sum())


def assemble(
    problem: ProduceColumns,
    parts: tuple[Arcs, Screening, Tables],
    solution: Solution,
    timings: Timings,
) -> ProduceResult:
    arcs, _, tables = parts
    used = np.flatnonzero(solution.flow)
    flow, trucks = solution.flow, solution.trucks
    objective = objective_value(problem.objective, arcs, tables, flow, trucks, used)
    bound = solution.bound
    return ProduceResult(
        status=solution.status,
        objective=objective,
        bound=bound,
        gap=None if bound is None else relative_gap(objective, bound),
        timings=timings,
        allocation_columns=_allocations(problem, arcs, tables, solution, used),
        kpis=_kpis(arcs, tables, solution.flow, used),
        unsold_columns=_unsold(problem, parts, solution, used),
        order_columns=_orders(problem, arcs, solution, used),
        method=solution.method,
        prices_from_relaxation=solution.prices_from_relaxation,
        priority_kg_bound=(
            None if solution.priority_bound_bp is None else solution.priority_bound_bp / SHARE_SCALE
        ),
        arcs=arcs.size,
    )


def _allocations(
    problem: ProduceColumns, arcs: Arcs, tables: Tables, solution: Solution, used: IntArray
) -> AllocationColumns:
    """The arcs ``used`` (flow > 0), by listing then order: every column gathered on them."""
    used = used[np.lexsort((arcs.order[used], arcs.listing[used]))]
    bonus = arc_bonus(problem.objective, arcs, tables, used)
    kg, trucks = solution.flow[used], solution.trucks[used]
    fixed = arcs.fixed_cost[used] * trucks
    return AllocationColumns(
        listing_ids=problem.listings.id,
        order_ids=problem.orders.id,
        listing=arcs.listing[used],
        order=arcs.order[used],
        kg=kg,
        price=arcs.price[used],
        transport=arcs.transport[used],
        floor=arcs.floor[used],
        bonus=bonus,
        trucks=trucks,
        fixed_cost=fixed,
        total=(arcs.margin_at(used) + bonus) * kg - fixed,
        road_km=arcs.road_km[used],
        transit_days=arcs.transit_days[used],
    )


def _kpis(arcs: Arcs, tables: Tables, flow: IntArray, used: IntArray) -> ProduceKpis:
    lt = tables.listings
    n = lt.quantity.size
    share = lt.poor_bp / SHARE_SCALE
    listing, kg = arcs.listing[used], flow[used]
    sold = np.bincount(listing, kg, n)
    income = np.bincount(listing, kg * (arcs.price[used] - arcs.transport[used]), n)
    priority = lt.poor_bp > 0
    return ProduceKpis(
        kg_sold=int(flow.sum()),
        priority_kg_sold=float((sold * share).sum()),
        priority_income_fen=float((income * share).sum()),
        unsold_kg=int(lt.quantity.sum() - flow.sum()),
        priority_income_gini=gini((income * share)[priority]),
    )


def _unsold(
    problem: ProduceColumns,
    parts: tuple[Arcs, Screening, Tables],
    solution: Solution,
    used: IntArray,
) -> UnsoldColumns:
    arcs, screening, tables = parts
    n = len(problem.listings)
    sold = np.bincount(arcs.listing[used], solution.flow[used], n).astype(np.int64)
    has_arc = np.bincount(arcs.listing, minlength=n) > 0
    left = tables.listings.quantity - sold
    where = np.flatnonzero(left > 0)
    reason = np.select(
        [
            ~screening.has_compatible[where],
            ~screening.has_priced[where],
            ~has_arc[where],
        ],
        [
            REASONS.index(UnsoldReason.NO_COMPATIBLE_ORDER),
            REASONS.index(UnsoldReason.FLOOR_ABOVE_NET_PRICE),
            REASONS.index(UnsoldReason.BEYOND_SHELF_LIFE_OR_DISTANCE),
        ],
        REASONS.index(UnsoldReason.OUTBID),
    ).astype(np.int64)
    floor = np.full(where.size, NO_FLOOR, np.int64)
    if solution.prices is not None:
        sell = solution.prices.would_sell[where]
        floor = np.where(sold[where] == 0, sell, NO_FLOOR)
    return UnsoldColumns(problem.listings.id, where, left[where], reason, floor)


def _orders(
    problem: ProduceColumns, arcs: Arcs, solution: Solution, used: IntArray
) -> OutcomeColumns:
    m = len(problem.orders)
    filled = np.bincount(arcs.order[used], solution.flow[used], m).astype(np.int64)
    prices = solution.prices
    if prices is None:
        return OutcomeColumns(
            problem.orders.id, filled, np.zeros(m, np.int64), np.zeros(m, np.bool_), None
        )
    poor = prices.shadow_poor_bp
    return OutcomeColumns(
        problem.orders.id,
        filled,
        prices.shadow_fen,
        prices.has_shadow,
        None if poor is None else poor / SHARE_SCALE,
    )
