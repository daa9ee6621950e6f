"""Produce → orders (消费扶贫): listings matched to orders, net of transport, tilted toward
poor-household producers. ``solve(problem, params)`` is the entry (``solve.py``);
``greedy(problem)`` the first-come-first-served baseline."""

from matcher.solvers.produce.columns import (
    LaneColumns,
    ListingColumns,
    OrderColumns,
    ProduceColumns,
    as_columns,
)
from matcher.solvers.produce.greedy import greedy
from matcher.solvers.produce.problem import (
    PRIORITY_CLASSES,
    InvalidProduceProblem,
    Lane,
    Listing,
    Order,
    PovertyBonus,
    PovertyClass,
    ProduceProblem,
    Shares,
    TransportConfig,
    household,
)
from matcher.solvers.produce.result import (
    Allocation,
    OrderOutcome,
    ProduceKpis,
    ProduceResult,
    UnsoldListing,
    UnsoldReason,
)
from matcher.solvers.produce.solve import solve

__all__ = [
    "PRIORITY_CLASSES",
    "Allocation",
    "InvalidProduceProblem",
    "Lane",
    "LaneColumns",
    "Listing",
    "ListingColumns",
    "Order",
    "OrderColumns",
    "OrderOutcome",
    "PovertyBonus",
    "PovertyClass",
    "ProduceColumns",
    "ProduceKpis",
    "ProduceProblem",
    "ProduceResult",
    "Shares",
    "TransportConfig",
    "UnsoldListing",
    "UnsoldReason",
    "as_columns",
    "greedy",
    "household",
    "solve",
]
