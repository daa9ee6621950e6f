"""Aid (产业/教育/医疗帮扶): budgeted programmes to the households whose causes of poverty
they address. ``solve(problem, params)`` is the entry (``solve.py``); ``greedy(problem)`` the
baseline."""

from matcher.solvers.aid.problem import (
    CAUSES,
    VALUE_SCALE,
    AidHousehold,
    AidObjective,
    AidProblem,
    AidProgramme,
    HouseholdStatus,
    NeedConfig,
    Quota,
)
from matcher.solvers.aid.result import AidResult, Grant, LeftOut, LeftOutReason, ProgrammeUsage
from matcher.solvers.aid.solve import greedy, solve

__all__ = [
    "CAUSES",
    "VALUE_SCALE",
    "AidHousehold",
    "AidObjective",
    "AidProblem",
    "AidProgramme",
    "AidResult",
    "Grant",
    "HouseholdStatus",
    "LeftOut",
    "LeftOutReason",
    "NeedConfig",
    "ProgrammeUsage",
    "Quota",
    "greedy",
    "solve",
]
