"""Cadres → households (结对帮扶): each poor household contracted to one cadre, within quotas.
``solve(problem, params)`` is the entry (``solve.py``)."""

from matcher.solvers.contracting.problem import (
    DEFAULT_QUOTA_BY_RANK,
    DEFAULT_RANK_BALANCE_M,
    MAX_RANK_BALANCE_M,
    POOR,
    CadreLoad,
    Contract,
    ContractCadre,
    ContractHousehold,
    ContractingProblem,
    ContractingResult,
    HouseholdStatus,
    PairScores,
    Uncovered,
    UncoveredReason,
)
from matcher.solvers.contracting.solve import solve

__all__ = [
    "DEFAULT_QUOTA_BY_RANK",
    "DEFAULT_RANK_BALANCE_M",
    "MAX_RANK_BALANCE_M",
    "POOR",
    "CadreLoad",
    "Contract",
    "ContractCadre",
    "ContractHousehold",
    "ContractingProblem",
    "ContractingResult",
    "HouseholdStatus",
    "PairScores",
    "Uncovered",
    "UncoveredReason",
    "solve",
]
