"""Cadres → villages (驻村第一书记和工作队): who is stationed where, and who leads each team.
``solve(problem, params)`` is the entry (``solve.py``)."""

from matcher.solvers.stationing.problem import (
    CAUSE_SKILLS,
    MAX_RANK,
    MIN_RANK,
    Cadre,
    Continuity,
    Coverage,
    Posting,
    ShortReason,
    StationingProblem,
    StationingResult,
    Village,
    VillageShort,
    village_needs,
)
from matcher.solvers.stationing.solve import solve, uses_fast_path

__all__ = [
    "CAUSE_SKILLS",
    "MAX_RANK",
    "MIN_RANK",
    "Cadre",
    "Continuity",
    "Coverage",
    "Posting",
    "ShortReason",
    "StationingProblem",
    "StationingResult",
    "Village",
    "VillageShort",
    "solve",
    "uses_fast_path",
    "village_needs",
]
