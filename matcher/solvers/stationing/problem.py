"""Stationing data: cadres, villages, the problem and its result (see
``matcher.solvers.stationing.solve``).

Also the table from causes of poverty to the skills a village needs.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from matcher.solvers.common.fairness import RankLoad
from matcher.solvers.common.solving import SolveStatus, Timings

MIN_RANK, MAX_RANK = 1, 5  # 1 科员 section member … 5 正处 division head

# Skill tag a cause of poverty (fupin.registry.v1.PovertyCause name) calls for in a village.
CAUSE_SKILLS: Mapping[str, str] = MappingProxyType(
    {
        "ILLNESS": "health",
        "DISABILITY": "health",
        "EDUCATION": "education",
        "NATURAL_DISASTER": "infrastructure",
        "LACK_OF_LAND": "agronomy",
        "LACK_OF_WATER": "water",
        "LACK_OF_TECHNOLOGY": "agronomy",
        "LACK_OF_LABOUR": "employment",
        "LACK_OF_CAPITAL": "finance",
        "POOR_TRANSPORT": "ecommerce",  # no road to market: sell online instead
        "LACK_OF_MOTIVATION": "social_work",
    }
)


def village_needs(
    household_causes: Iterable[Iterable[str]],
    table: Mapping[str, str] = CAUSE_SKILLS,
    min_households: int = 1,
) -> frozenset[str]:
    """Skill tags a village needs: those called for by at least ``min_households`` households.

    ``household_causes`` holds each poor household's causes by PovertyCause name (any case);
    causes missing from ``table`` call for no skill.
    """
    counts: Counter[str] = Counter()
    for causes in household_causes:
        counts.update({table[c.upper()] for c in causes if c.upper() in table})
    return frozenset(skill for skill, n in counts.items() if n >= min_households)


class Coverage(enum.Enum):
    """How the team's skills must cover the village's needs."""

    OFF = "OFF"
    SOFT = "SOFT"  # coverage_weight per uncovered need
    HARD = "HARD"  # every need covered, or the problem is infeasible


class Continuity(enum.Enum):
    KEPT = "KEPT"  # stays at the current posting
    MOVED = "MOVED"  # had a posting elsewhere
    NEW = "NEW"  # had no posting


class ShortReason(enum.Enum):
    """Why a village is short of members (or of a first secretary)."""

    NO_ELIGIBLE_WITHIN_DISTANCE = "NO_ELIGIBLE_WITHIN_DISTANCE"  # too few cadres can reach it
    NO_RANK = "NO_RANK"  # no cadre of sufficient rank can reach it
    ALL_CANDIDATES_TAKEN = "ALL_CANDIDATES_TAKEN"  # enough could, but they serve elsewhere


def _check_location(what: str, lat: float, lng: float) -> None:
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValueError(f"{what}: lat/lng ({lat}, {lng}) out of range")


@dataclass(frozen=True)
class Cadre:
    id: str
    rank: int
    skills: frozenset[str]
    home_unit: str
    lat: float
    lng: float
    max_distance_km: float
    current_village_id: str | None = None
    pinned: bool = False  # keeps current_village_id whatever it costs

    def __post_init__(self) -> None:
        if not MIN_RANK <= self.rank <= MAX_RANK:
            raise ValueError(f"cadre {self.id}: rank {self.rank} not in {MIN_RANK}..{MAX_RANK}")
        _check_location(f"cadre {self.id}", self.lat, self.lng)
        if not self.max_distance_km >= 0:
            raise ValueError(f"cadre {self.id}: max_distance_km must be >= 0")
        if self.pinned and self.current_village_id is None:
            raise ValueError(f"cadre {self.id}: pinned without a current_village_id")


@dataclass(frozen=True)
class Village:
    id: str
    lat: float
    lng: float
    team_min: int = 3
    team_max: int = 3
    needs: frozenset[str] = frozenset()
    min_secretary_rank: int = MIN_RANK

    def __post_init__(self) -> None:
        _check_location(f"village {self.id}", self.lat, self.lng)
        if not 0 <= self.team_min <= self.team_max:
            raise ValueError(f"village {self.id}: need 0 <= team_min <= team_max")
        if not MIN_RANK <= self.min_secretary_rank <= MAX_RANK:
            raise ValueError(f"village {self.id}: min_secretary_rank not in {MIN_RANK}..{MAX_RANK}")


IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class StationingProblem:
    """Cadres, villages and the rules; ``candidates`` optionally limits the pairs considered.

    ``candidates`` is (cadre indices, village indices) into ``cadres`` / ``villages``; without
    it every pair within distance is an arc. A cadre's current posting is always a candidate.
    """

    cadres: tuple[Cadre, ...]
    villages: tuple[Village, ...]
    continuity_threshold: int = 0  # metres a move must gain before a cadre is moved
    max_per_unit: int | None = None  # per village
    coverage: Coverage = Coverage.OFF
    coverage_weight: int = 100_000  # per uncovered need under SOFT: as bad as 100 km
    shortage_penalty: int = 10**8  # per missing member: 100,000 km, beats any travel saving
    secretary_penalty: int = 10**8  # per village (team_min ≥ 1, or staffed) without a leader
    candidates: tuple[IntArray, IntArray] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cadres", tuple(self.cadres))
        object.__setattr__(self, "villages", tuple(self.villages))
        _check_ids("cadre", [c.id for c in self.cadres])
        _check_ids("village", [v.id for v in self.villages])
        for name in ("continuity_threshold", "coverage_weight", "shortage_penalty"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.secretary_penalty < 0:
            raise ValueError("secretary_penalty must be >= 0")
        if self.max_per_unit is not None and self.max_per_unit < 1:
            raise ValueError("max_per_unit must be >= 1 (or None for no limit)")
        self._check_postings()
        self._check_candidates()

    def _check_postings(self) -> None:
        """Current postings name known villages; pinned cadres fit their team and unit limit."""
        villages = {v.id: v for v in self.villages}
        pinned: Counter[str] = Counter()
        per_unit: Counter[tuple[str, str]] = Counter()
        for c in self.cadres:
            if not c.pinned or c.current_village_id is None:
                continue  # an unpinned posting outside the problem is simply not kept
            if c.current_village_id not in villages:
                raise ValueError(f"cadre {c.id}: pinned to unknown village")
            pinned[c.current_village_id] += 1
            per_unit[c.current_village_id, c.home_unit] += 1
        for vid, n in pinned.items():
            if n > villages[vid].team_max:
                raise ValueError(f"village {vid}: {n} pinned cadres exceed team_max")
        limit = self.max_per_unit
        for (vid, unit), n in per_unit.items():
            if limit is not None and n > limit:
                raise ValueError(f"village {vid}: {n} pinned cadres of unit {unit} > max_per_unit")

    def _check_candidates(self) -> None:
        if self.candidates is None:
            return
        cadre, village = (np.asarray(a, dtype=np.int64) for a in self.candidates)
        if cadre.shape != village.shape or cadre.ndim != 1:
            raise ValueError("candidates: two 1-D index arrays of equal length")
        if cadre.size and not (
            0 <= cadre.min() <= cadre.max() < len(self.cadres)
            and 0 <= village.min() <= village.max() < len(self.villages)
        ):
            raise ValueError("candidates: index out of range")
        object.__setattr__(self, "candidates", (cadre, village))


def _check_ids(what: str, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        dup = next(i for i, n in Counter(ids).items() if n > 1)
        raise ValueError(f"duplicate {what} id {dup!r}")


@dataclass(frozen=True)
class Posting:
    cadre_id: str
    village_id: str
    is_secretary: bool
    skills_matched: frozenset[str]  # the cadre's skills the village needs
    distance_km: float
    continuity: Continuity


@dataclass(frozen=True)
class VillageShort:
    """A village below ``team_min``, or staffed without a first secretary of sufficient rank."""

    village_id: str
    members: int
    team_min: int
    has_secretary: bool
    reason: ShortReason


@dataclass(frozen=True)
class StationingResult:
    """``objective``/``bound`` are metres-equivalent costs (minimised); 0 without a solution."""

    status: SolveStatus
    objective: int
    bound: int
    gap: float
    timings: Timings
    postings: tuple[Posting, ...] = ()
    short: tuple[VillageShort, ...] = ()
    uncovered: tuple[tuple[str, str], ...] = ()  # (village id, need) no member covers
    released: tuple[str, ...] = ()  # cadres who leave a current posting and get no other
    fast_path: bool = False
    # Fairness: postings by rank against the cadres of each rank (load 1 a posting, capacity
    # 1 a cadre), the share of villages whose team reaches team_min, and the share of the
    # villages' needs some member covers.
    rank_loads: tuple[RankLoad, ...] = ()
    village_coverage: float = 0.0
    need_coverage: float = 0.0
