"""Contracting data: cadres, households, the problem and its result
(``matcher.solvers.contracting.solve``)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from matcher.solvers.common.fairness import RankLoad
from matcher.solvers.common.solving import SolveStatus, Timings

IntArray = NDArray[np.int64]

# Effort units a cadre of each rank can carry (1 科员 … 5 正处); see
# matcher.solvers.contracting.solve.
DEFAULT_QUOTA_BY_RANK: Mapping[int, int] = MappingProxyType({1: 5, 2: 8, 3: 10, 4: 12, 5: 15})
# The rank balance term's default: metres added to a pair's cost per effort unit and per rank
# below the highest rank of the problem (5 km: a rank-1 cadre stationed in a household's
# village yields a two-unit household to a rank-5 cadre up to 40 km away). Without it, at
# the default costs, the cadres stationed in a village took its households and the senior
# cadres, mostly unstationed, none.
DEFAULT_RANK_BALANCE_M = 5_000
MAX_RANK_BALANCE_M = 1_000_000


class HouseholdStatus(enum.Enum):
    """Mirrors fupin.registry.v1.HouseholdStatus."""

    IMPOVERISHED = "IMPOVERISHED"
    AT_RISK = "AT_RISK"
    LIFTED_OUT = "LIFTED_OUT"
    RETURNED_TO_POVERTY = "RETURNED_TO_POVERTY"


POOR = frozenset(
    {HouseholdStatus.IMPOVERISHED, HouseholdStatus.AT_RISK, HouseholdStatus.RETURNED_TO_POVERTY}
)


@dataclass(frozen=True)
class ContractCadre:
    id: str
    rank: int
    village_id: str | None  # where the cadre is stationed
    lat: float
    lng: float
    quota: int | None = None  # effort units; None = the quota of the cadre's rank


@dataclass(frozen=True)
class PairScores:
    """An office's own scoring: only these (household, cadre) pairs may be contracted, at their
    cost and effort. ``household`` and ``cadre`` index the problem's tuples; one entry a pair.
    Held as columns, so a problem lists as many pairs as it needs without a households ×
    cadres matrix."""

    household: IntArray
    cadre: IntArray
    cost: IntArray
    effort: IntArray

    def __post_init__(self) -> None:
        for name in ("household", "cadre", "cost", "effort"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        if len({len(self.household), len(self.cadre), len(self.cost), len(self.effort)}) > 1:
            raise ValueError("scores: household, cadre, cost and effort of one length")
        if self.cost.min(initial=0) < 0 or self.effort.min(initial=0) < 0:
            raise ValueError("scores: cost and effort must be >= 0")

    def check(self, n_households: int, n_cadres: int) -> None:
        """Indices in range and no pair listed twice."""
        for name, n in (("household", n_households), ("cadre", n_cadres)):
            index = getattr(self, name)
            if len(index) and (index.min() < 0 or index.max() >= n):
                raise ValueError(f"scores: a {name} index outside 0..{n - 1}")
        keys = self.household * max(n_cadres, 1) + self.cadre
        if len(np.unique(keys)) != len(keys):
            raise ValueError("scores: a pair listed twice")


@dataclass(frozen=True)
class ContractHousehold:
    id: str
    village_id: str
    lat: float
    lng: float
    status: HouseholdStatus
    n_causes: int


@dataclass(frozen=True)
class ContractingProblem:
    """``scores``, when given, lists the only pairs that may be contracted, with their cost
    and effort; they replace the defaults of the module doc. A cadre's own ``quota`` overrides
    its rank's."""

    cadres: tuple[ContractCadre, ...]
    households: tuple[ContractHousehold, ...]
    quota_by_rank: Mapping[int, int] = field(default_factory=lambda: DEFAULT_QUOTA_BY_RANK)
    k_nearest: int = 20
    statuses: frozenset[HouseholdStatus] = POOR
    scores: PairScores | None = field(default=None, compare=False)
    rank_balance_m: int = DEFAULT_RANK_BALANCE_M  # 0 = off; ignored with ``scores``

    def __post_init__(self) -> None:
        object.__setattr__(self, "cadres", tuple(self.cadres))
        object.__setattr__(self, "households", tuple(self.households))
        for what, ids in (
            ("cadre", [c.id for c in self.cadres]),
            ("household", [h.id for h in self.households]),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"duplicate {what} ids")
        missing = {c.rank for c in self.cadres if c.quota is None} - set(self.quota_by_rank)
        if missing:
            raise ValueError(f"quota_by_rank has no quota for rank(s) {sorted(missing)}")
        own = [c.quota for c in self.cadres if c.quota is not None]
        if any(q < 0 for q in [*self.quota_by_rank.values(), *own]) or self.k_nearest < 1:
            raise ValueError("quotas must be >= 0 and k_nearest >= 1")
        if self.scores is not None:
            self.scores.check(len(self.households), len(self.cadres))
        if not 0 <= self.rank_balance_m <= MAX_RANK_BALANCE_M:
            raise ValueError(f"rank_balance_m must be between 0 and {MAX_RANK_BALANCE_M}")
        if any(h.n_causes < 0 for h in self.households):
            raise ValueError("n_causes must be >= 0")


class UncoveredReason(enum.Enum):
    """Why a household that needs a cadre has none."""

    NO_CANDIDATE = "NO_CANDIDATE"  # no candidate cadre's whole quota fits the household's effort
    OVER_QUOTA = "OVER_QUOTA"  # the quotas of its candidate cadres are taken by others


@dataclass(frozen=True)
class Contract:
    household_id: str
    cadre_id: str
    cost: int
    effort: int
    same_village: bool
    distance_km: float


@dataclass(frozen=True)
class Uncovered:
    household_id: str
    reason: UncoveredReason


@dataclass(frozen=True)
class CadreLoad:
    cadre_id: str
    quota: int
    effort: int
    households: int


@dataclass(frozen=True)
class ContractingResult:
    """``objective`` is the total cost of the contracts (minimised), ``bound`` a proven lower
    bound on it. Under INFEASIBLE or UNKNOWN the contracts cover as many households as could
    be covered and ``uncovered`` lists the rest; the bound then says nothing (0)."""

    status: SolveStatus
    objective: int
    bound: int
    gap: float
    timings: Timings
    contracts: tuple[Contract, ...] = ()
    uncovered: tuple[Uncovered, ...] = ()
    loads: tuple[CadreLoad, ...] = ()
    # Fairness: effort carried by each rank against its share of the quotas, the share of the
    # households needing a cadre that got one, and how much of ``objective`` is the rank
    # balance term (the rest is distance).
    rank_loads: tuple[RankLoad, ...] = ()
    coverage: float = 0.0
    rank_cost: int = 0
