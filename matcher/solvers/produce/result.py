"""Produce allocation output: allocations with their value breakdown, KPIs and explanations."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.fairness import gini
from matcher.solvers.common.solving import Objective, SolveStatus, Timings, relative_gap
from matcher.solvers.produce.arcs import Arcs, Screening
from matcher.solvers.produce.flow import FlowSolution
from matcher.solvers.produce.problem import ProduceProblem
from matcher.solvers.produce.tables import SHARE_SCALE, Tables

IntArray = npt.NDArray[np.int64]


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
    allocations: tuple[Allocation, ...]
    kpis: ProduceKpis
    unsold: tuple[UnsoldListing, ...]
    orders: tuple[OrderOutcome, ...]
    method: str  # "min_cost_flow", "cp_sat" or "greedy"
    prices_from_relaxation: bool
    # POVERTY_FIRST: upper bound on priority kg (= kpis.priority_kg_sold once proven). The
    # objective, bound and gap above are the value stage's, given the priority kg reached.
    priority_kg_bound: float | None = None
    arcs: int = 0  # candidate lanes left after the hard compatibility filters


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


def arc_bonus(objective: Objective, arcs: Arcs, tables: Tables) -> IntArray:
    """Bonus per kg counted in the value: the poverty tilt exists only under WELFARE."""
    if objective is Objective.WELFARE:
        return tables.listings.bonus[arcs.listing]
    return np.zeros(arcs.size, np.int64)


def objective_value(
    objective: Objective, arcs: Arcs, tables: Tables, flow: IntArray, trucks: IntArray
) -> int:
    value = (arcs.margin + arc_bonus(objective, arcs, tables)) * flow
    return int(value.sum() - (arcs.fixed_cost * trucks).sum())


def assemble(
    problem: ProduceProblem,
    parts: tuple[Arcs, Screening, Tables],
    solution: Solution,
    timings: Timings,
) -> ProduceResult:
    arcs, _, tables = parts
    objective = objective_value(problem.objective, arcs, tables, solution.flow, solution.trucks)
    bound = solution.bound
    return ProduceResult(
        status=solution.status,
        objective=objective,
        bound=bound,
        gap=None if bound is None else relative_gap(objective, bound),
        timings=timings,
        allocations=_allocations(problem, arcs, tables, solution),
        kpis=_kpis(arcs, tables, solution.flow),
        unsold=_unsold(problem, parts, solution),
        orders=_orders(problem, arcs, solution),
        method=solution.method,
        prices_from_relaxation=solution.prices_from_relaxation,
        priority_kg_bound=(
            None if solution.priority_bound_bp is None else solution.priority_bound_bp / SHARE_SCALE
        ),
        arcs=arcs.size,
    )


def _allocations(
    problem: ProduceProblem, arcs: Arcs, tables: Tables, solution: Solution
) -> tuple[Allocation, ...]:
    used = np.flatnonzero(solution.flow > 0)
    used = used[np.lexsort((arcs.order[used], arcs.listing[used]))]
    bonus = arc_bonus(problem.objective, arcs, tables)
    fixed = arcs.fixed_cost * solution.trucks
    total = (arcs.margin + bonus) * solution.flow - fixed
    # Plain Python lists first: building thousands of records from numpy scalars is 5× slower.
    columns = [
        [problem.listings[i].id for i in arcs.listing[used].tolist()],
        [problem.orders[j].id for j in arcs.order[used].tolist()],
        *(
            column[used].tolist()
            for column in (
                solution.flow,
                arcs.price,
                arcs.transport,
                arcs.floor,
                bonus,
                solution.trucks,
                fixed,
                total,
                arcs.road_km,
                arcs.transit_days,
            )
        ),
    ]
    return tuple(Allocation(*row) for row in zip(*columns, strict=True))


def _kpis(arcs: Arcs, tables: Tables, flow: IntArray) -> ProduceKpis:
    lt = tables.listings
    n = lt.quantity.size
    share = lt.poor_bp / SHARE_SCALE
    sold = np.bincount(arcs.listing, flow, n)
    income = np.bincount(arcs.listing, flow * (arcs.price - arcs.transport), n)
    priority = lt.poor_bp > 0
    return ProduceKpis(
        kg_sold=int(flow.sum()),
        priority_kg_sold=float((sold * share).sum()),
        priority_income_fen=float((income * share).sum()),
        unsold_kg=int(lt.quantity.sum() - flow.sum()),
        priority_income_gini=gini((income * share)[priority]),
    )


def _unsold(
    problem: ProduceProblem, parts: tuple[Arcs, Screening, Tables], solution: Solution
) -> tuple[UnsoldListing, ...]:
    arcs, screening, tables = parts
    n = len(problem.listings)
    sold = np.bincount(arcs.listing, solution.flow, n).astype(np.int64)
    has_arc = np.bincount(arcs.listing, minlength=n) > 0
    left = tables.listings.quantity - sold
    sell = solution.prices.would_sell if solution.prices else [None] * n
    out = []
    for i in np.flatnonzero(left > 0):
        if not screening.has_compatible[i]:
            reason = UnsoldReason.NO_COMPATIBLE_ORDER
        elif not screening.has_priced[i]:
            reason = UnsoldReason.FLOOR_ABOVE_NET_PRICE
        elif not has_arc[i]:
            reason = UnsoldReason.BEYOND_SHELF_LIFE_OR_DISTANCE
        else:
            reason = UnsoldReason.OUTBID
        floor = sell[i] if sold[i] == 0 else None
        out.append(UnsoldListing(problem.listings[i].id, int(left[i]), reason, floor))
    return tuple(out)


def _orders(problem: ProduceProblem, arcs: Arcs, solution: Solution) -> tuple[OrderOutcome, ...]:
    m = len(problem.orders)
    filled = np.bincount(arcs.order, solution.flow, m).astype(np.int64)
    prices = solution.prices
    fen = prices.shadow_fen if prices else [None] * m
    poor = prices.shadow_poor_bp if prices else None
    return tuple(
        OrderOutcome(
            order.id,
            int(filled[j]),
            fen[j],
            None if poor is None else poor[j] / SHARE_SCALE,
        )
        for j, order in enumerate(problem.orders)
    )
