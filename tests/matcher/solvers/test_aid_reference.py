"""Independent references for the aid model: a rule checker, brute force and a HiGHS MILP.

Written from the rules as documented (``matcher.solvers.aid.problem``'s module doc and the classes'
docstrings), not from the solver's code, so that agreement means something. The MILP uses a
different formulation from the solver's: one binary per (household, programme, amount).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import replace

import numpy as np
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from matcher.solvers.aid import (
    VALUE_SCALE,
    AidHousehold,
    AidObjective,
    AidProblem,
    AidProgramme,
    AidResult,
    HouseholdStatus,
    NeedConfig,
    Quota,
)

Grants = dict[tuple[str, str], int]  # (household id, programme id) -> amount in fen
COUNTIES = ("522427", "520422")
CAUSE_POOL = ("illness", "education", "lack_of_capital")


def serves(programme: AidProgramme, household: AidHousehold) -> bool:
    """Status, region and cause rules of eligibility."""
    return (
        household.status in programme.statuses
        and household.village_code.startswith(programme.region_prefix)
        and (not programme.causes or bool(programme.causes & household.causes))
    )


def need_of(problem: AidProblem, household: AidHousehold, programme: AidProgramme) -> int:
    matched = household.causes & programme.causes if programme.causes else household.causes
    config = problem.need
    return config.base_weight * (100 - household.score) + config.per_cause_weight * len(matched)


def amounts_of(programme: AidProgramme) -> list[int]:
    if programme.amount_fen is not None:
        return [programme.amount_fen]
    assert programme.min_amount_fen and programme.max_amount_fen and programme.step_fen
    return list(range(programme.min_amount_fen, programme.max_amount_fen + 1, programme.step_fen))


def value_of(need: int, programme: AidProgramme, amount: int) -> int:
    """need × (⌊S·2·min/(min+max)⌋ + k·⌊S·step/(min+max)⌋), k the steps above the minimum."""
    levels = amounts_of(programme)
    low, high = levels[0], levels[-1]
    step = levels[1] - levels[0] if len(levels) > 1 else 1
    base = VALUE_SCALE * 2 * low // (low + high)
    per_step = VALUE_SCALE * step // (low + high) if len(levels) > 1 else 0
    return need * (base + (amount - low) // step * per_step)


def quota_required(problem: AidProblem, quota: Quota) -> int:
    """The share of the budget, capped by what the region's eligible households can take."""
    programme = next(p for p in problem.programmes if p.id == quota.programme_id)
    cap = problem.household_cap_fen if problem.household_cap_fen is not None else math.inf
    largest = 0
    for household in problem.households:
        if serves(programme, household) and household.village_code.startswith(quota.region_prefix):
            fitting = [a for a in amounts_of(programme) if a <= programme.budget_fen and a <= cap]
            largest += max(fitting, default=0)
    share = -(-quota.min_share_permille * programme.budget_fen // 1000)
    return min(share, largest)


def violations(problem: AidProblem, grants: Grants) -> list[str]:
    """Every hard rule the grants break, in words (empty: the grants are feasible)."""
    households = {h.id: h for h in problem.households}
    programmes = {p.id: p for p in problem.programmes}
    broken = []
    paid: Counter[str] = Counter()
    held: Counter[str] = Counter()
    in_group: Counter[tuple[str, int]] = Counter()
    in_region: Counter[int] = Counter()
    for (h, p), amount in grants.items():
        if not serves(programmes[p], households[h]):
            broken.append(f"{h} is not eligible for {p}")
        if (h, p) in problem.held:
            broken.append(f"{h} already holds {p}")
        if amount not in amounts_of(programmes[p]):
            broken.append(f"{amount} is not an amount of {p}")
        paid[p] += amount
        held[h] += amount
        for g, group in enumerate(problem.exclusive_groups):
            in_group[h, g] += p in group
        for q, quota in enumerate(problem.quotas):
            if p == quota.programme_id and households[h].village_code.startswith(
                quota.region_prefix
            ):
                in_region[q] += amount
    broken += [
        f"{p} is over budget" for p, total in paid.items() if total > programmes[p].budget_fen
    ]
    cap = problem.household_cap_fen
    broken += [
        f"{h} is over the cap" for h, total in held.items() if cap is not None and total > cap
    ]
    broken += [f"{h} holds two of group {g}" for (h, g), n in in_group.items() if n > 1]
    for q, quota in enumerate(problem.quotas):
        if in_region[q] < quota_required(problem, quota):
            broken.append(f"quota of {quota.programme_id} in {quota.region_prefix} not met")
    return broken


def score_of(problem: AidProblem, grants: Grants) -> tuple[int, int]:
    """(households helped, total value): what REACH_FIRST compares, in that order."""
    households = {h.id: h for h in problem.households}
    programmes = {p.id: p for p in problem.programmes}
    value = sum(
        value_of(need_of(problem, households[h], programmes[p]), programmes[p], a)
        for (h, p), a in grants.items()
    )
    return len({h for h, _ in grants}), value


def result_grants(result: AidResult) -> Grants:
    return {(g.household_id, g.programme_id): g.amount_fen for g in result.grants}


def brute_force(problem: AidProblem) -> tuple[int, int] | None:
    """The optimal (reach, value) by enumerating every set of grants; None if infeasible."""
    pairs = [
        (h.id, p.id, [0, *amounts_of(p)])
        for h in problem.households
        for p in problem.programmes
        if serves(p, h)
    ]
    best: tuple[int, int] | None = None
    for choice in itertools.product(*(options for _, _, options in pairs)):
        grants = {(h, p): a for (h, p, _), a in zip(pairs, choice, strict=True) if a}
        if violations(problem, grants):
            continue
        reach, value = score_of(problem, grants)
        key = (reach, value) if problem.objective is AidObjective.REACH_FIRST else (0, value)
        if best is None or key > best:
            best = key
    return best


Column = tuple[int, AidHousehold, AidProgramme, int, int]  # household #, h, p, amount, value
Row = tuple[dict[int, float], float, float]  # coefficients by column, lower, upper


def milp_optimum(problem: AidProblem) -> tuple[int, int] | None:
    """The optimal (reach, value) from HiGHS: one binary per (household, programme, amount),
    plus one per household that is helped; two solves for REACH_FIRST."""
    columns: list[Column] = [
        (hi, h, p, a, value_of(need_of(problem, h, p), p, a))
        for hi, h in enumerate(problem.households)
        for p in problem.programmes
        if serves(p, h)
        for a in amounts_of(p)
    ]
    n, m = len(columns), len(problem.households)
    rows = _rules(problem, columns)
    for hi in range(m):  # helped[hi] <= number of grants of household hi
        grants = {j: -1.0 for j, c in enumerate(columns) if c[0] == hi}
        rows.append(({n + hi: 1, **grants}, -math.inf, 0))
    values = np.array([c[4] for c in columns] + [0] * m, dtype=float)
    helped = np.array([0] * n + [1] * m, dtype=float)
    if problem.objective is AidObjective.REACH_FIRST:
        reach = _maximise(helped, rows, n + m)
        if reach is None:
            return None
        rows.append(({n + hi: 1 for hi in range(m)}, round(reach), math.inf))
        value = _maximise(values, rows, n + m)
        return (round(reach), round(value)) if value is not None else None
    value = _maximise(values, rows, n + m)
    return (0, round(value)) if value is not None else None


def _rules(problem: AidProblem, columns: list[Column]) -> list[Row]:
    """One amount per pair, the cap, exclusive groups, budgets and quotas as MILP rows."""
    rows: list[Row] = []
    cap = problem.household_cap_fen
    for h in problem.households:
        mine = [(j, c) for j, c in enumerate(columns) if c[1] is h]
        for p in problem.programmes:
            rows.append(({j: 1 for j, c in mine if c[2] is p}, 0, 1))
        if cap is not None:
            rows.append(({j: c[3] for j, c in mine}, 0, cap))
        for group in problem.exclusive_groups:
            rows.append(({j: 1 for j, c in mine if c[2].id in group}, 0, 1))
    for p in problem.programmes:
        rows.append(({j: c[3] for j, c in enumerate(columns) if c[2] is p}, 0, p.budget_fen))
    for quota in problem.quotas:
        members: dict[int, float] = {
            j: c[3]
            for j, c in enumerate(columns)
            if c[2].id == quota.programme_id and c[1].village_code.startswith(quota.region_prefix)
        }
        rows.append((members, quota_required(problem, quota), math.inf))
    return rows


def _maximise(objective: np.ndarray, rows: list[Row], size: int) -> float | None:
    if not rows:
        return float(objective.clip(min=0).sum())
    entries = [(r, j, v) for r, (row, _, _) in enumerate(rows) for j, v in row.items()]
    r, j, v = zip(*entries, strict=True) if entries else ((), (), ())
    matrix = coo_matrix((v, (r, j)), shape=(len(rows), size)).tocsr()
    constraint = LinearConstraint(matrix, [lo for _, lo, _ in rows], [hi for _, _, hi in rows])
    found = milp(-objective, constraints=constraint, integrality=np.ones(size), bounds=Bounds(0, 1))
    return None if found.status == 2 else -float(found.fun)  # 2: infeasible


@st.composite
def aid_problems(draw: st.DrawFn, max_households: int = 4, max_programmes: int = 3) -> AidProblem:
    """Small random instances with every feature: ranges, caps, exclusivity, quotas."""
    households = tuple(
        AidHousehold(
            id=f"h{i}",
            village_code=f"{county}001{draw(st.integers(1, 2)):03d}",
            county_code=county,
            status=draw(st.sampled_from(list(HouseholdStatus))),
            score=draw(st.integers(0, 100)),
            causes=frozenset(draw(st.sets(st.sampled_from(CAUSE_POOL), min_size=1, max_size=2))),
        )
        for i in range(draw(st.integers(max_households // 2, max_households)))
        for county in [draw(st.sampled_from(COUNTIES))]
    )
    count = draw(st.integers(max(1, max_programmes - 1), max_programmes))
    programmes = tuple(_programme(draw, f"p{j}") for j in range(count))
    ids = [p.id for p in programmes]
    groups = (frozenset(ids[:2]),) if len(ids) >= 2 and draw(st.booleans()) else ()
    quotas: tuple[Quota, ...] = ()
    if draw(st.booleans()):
        quotas = (
            Quota(
                draw(st.sampled_from(ids)),
                draw(st.sampled_from(COUNTIES)),
                draw(st.integers(0, 1000)),
            ),
        )
    base = draw(st.integers(0, 3))
    return AidProblem(
        households=households,
        programmes=programmes,
        exclusive_groups=groups,
        household_cap_fen=draw(st.one_of(st.none(), st.integers(2, 10).map(lambda c: c * 100))),
        need=NeedConfig(base, draw(st.integers(0 if base else 1, 20))),
        objective=draw(st.sampled_from(list(AidObjective))),
        quotas=quotas,
    )


def _programme(draw: st.DrawFn, ident: str) -> AidProgramme:
    # Dense enough that most instances have several eligible pairs competing for budgets.
    statuses = frozenset(draw(st.sets(st.sampled_from(list(HouseholdStatus)), min_size=2)))
    causes = frozenset(draw(st.sets(st.sampled_from(CAUSE_POOL), max_size=1)))
    region = draw(st.sampled_from(["", "", *COUNTIES, f"{COUNTIES[0]}001001"]))
    budget = draw(st.integers(1, 12)) * 100
    if draw(st.booleans()):
        amount = draw(st.integers(1, 5)) * 100
        return AidProgramme(
            ident, budget, amount, causes=causes, statuses=statuses, region_prefix=region
        )
    low, step, levels = (
        draw(st.integers(1, 3)) * 100,
        draw(st.sampled_from([100, 200])),
        draw(st.integers(2, 3)),
    )
    return AidProgramme(
        ident,
        budget,
        min_amount_fen=low,
        max_amount_fen=low + step * (levels - 1),
        step_fen=step,
        causes=causes,
        statuses=statuses,
        region_prefix=region,
    )


def two_household_problem(**changes: object) -> AidProblem:
    """An instance with just two households and one programme that's easy to understand:
    h-poor (score 20) and h-better (score 60), both ill, in village 522427001001, and a
    medical aid of 100 fen a grant with a budget for both."""
    problem = AidProblem(
        households=(
            AidHousehold(
                "h-poor",
                "522427001001",
                "522427",
                HouseholdStatus.IMPOVERISHED,
                20,
                frozenset({"illness"}),
            ),
            AidHousehold(
                "h-better",
                "522427001001",
                "522427",
                HouseholdStatus.IMPOVERISHED,
                60,
                frozenset({"illness"}),
            ),
        ),
        programmes=(AidProgramme("medical", 200, 100, causes=frozenset({"illness"})),),
    )
    return replace(problem, **changes)  # type: ignore[arg-type]


def test_brute_force_and_milp_agree_on_the_two_household_instance():
    """Both references find both grants when the budget covers them."""
    problem = two_household_problem()
    assert brute_force(problem) == milp_optimum(problem) == (0, (80 + 10 + 40 + 10) * VALUE_SCALE)


def test_checker_names_the_broken_budget():
    """The checker reports a programme paid out beyond its budget."""
    problem = two_household_problem(programmes=(AidProgramme("medical", 150, 100),))
    grants = {("h-poor", "medical"): 100, ("h-better", "medical"): 100}
    assert violations(problem, grants) == ["medical is over budget"]
