"""The exact path against an independent MILP (scipy/HiGHS) and brute force."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from matcher.solvers.common.solving import SolveParams, SolveStatus
from matcher.solvers.stationing import Cadre, Coverage, StationingProblem, Village, solve

PARAMS = SolveParams(time_limit_s=20, workers=1)
SKILLS = ("health", "water", "finance")


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres, written independently of the module."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(a, 1.0)))


def reachable(problem: StationingProblem) -> dict[tuple[int, int], int]:
    """(cadre, village) → metres, for pairs within distance and pinned postings."""
    pairs = {}
    for i, c in enumerate(problem.cadres):
        for j, v in enumerate(problem.villages):
            d = haversine_m(c.lat, c.lng, v.lat, v.lng)
            home = c.current_village_id == v.id
            if (c.pinned and home) or (not c.pinned and d <= c.max_distance_km * 1000):
                pairs[i, j] = round(d)
    return pairs


def cost_of(problem: StationingProblem, posting: dict[int, int]) -> int | None:
    """Objective of cadre → village ``posting`` by the rules' wording; None if a hard rule
    breaks. The first secretary is the best choice among members."""
    pairs = reachable(problem)
    if any((i, j) not in pairs for i, j in posting.items()):
        return None
    if any(
        c.pinned
        and posting.get(i)
        != problem.villages.index(next(v for v in problem.villages if v.id == c.current_village_id))
        for i, c in enumerate(problem.cadres)
    ):
        return None
    total = sum(pairs[i, j] for i, j in posting.items())
    for i, c in enumerate(problem.cadres):
        home = next(
            (j for j, v in enumerate(problem.villages) if v.id == c.current_village_id), None
        )
        if home is not None and (i, home) in pairs and posting.get(i) != home:
            total += problem.continuity_threshold
    for j, v in enumerate(problem.villages):
        team = [problem.cadres[i] for i, jj in posting.items() if jj == j]
        if len(team) > v.team_max:
            return None
        units = [c.home_unit for c in team]
        if problem.max_per_unit is not None and any(
            units.count(u) > problem.max_per_unit for u in units
        ):
            return None
        total += problem.shortage_penalty * max(v.team_min - len(team), 0)
        led = any(c.rank >= v.min_secretary_rank for c in team)
        if (v.team_min > 0 or team) and not led:
            total += problem.secretary_penalty
        if problem.coverage is not Coverage.OFF:
            missing = v.needs - frozenset().union(*(c.skills for c in team))
            if missing and problem.coverage is Coverage.HARD:
                return None
            if problem.coverage is Coverage.SOFT:
                total += problem.coverage_weight * len(missing)
    return total


def brute_force(problem: StationingProblem) -> int | None:
    """Least cost over every way to post each cadre to a village or nowhere."""
    options = [None, *range(len(problem.villages))]
    best = None
    for choice in itertools.product(options, repeat=len(problem.cadres)):
        posting = {i: j for i, j in enumerate(choice) if j is not None}
        value = cost_of(problem, posting)
        if value is not None and (best is None or value < best):
            best = value
    return best


def milp_optimum(problem: StationingProblem) -> int | None:
    """The same rules as a MILP: x per reachable pair, s (secretary), y (led village needs a
    secretary), h (no secretary), short, u (uncovered need); None if infeasible."""
    pairs = sorted(reachable(problem).items())
    villages, cadres = problem.villages, problem.cadres
    names: list[tuple[object, ...]] = [("x", i, j) for (i, j), _ in pairs]
    names += [
        ("s", i, j) for (i, j), _ in pairs if cadres[i].rank >= villages[j].min_secretary_rank
    ]
    names += [(kind, j) for j in range(len(villages)) for kind in ("y", "h", "short")]
    names += [("u", j, k) for j, v in enumerate(villages) for k in sorted(v.needs)]
    col = {n: k for k, n in enumerate(names)}
    rows: list[tuple[dict[int, float], float, float]] = []

    def row(terms: dict[object, float], lo: float, hi: float) -> None:
        rows.append(({col[t]: c for t, c in terms.items()}, lo, hi))

    for i in range(len(cadres)):
        row({("x", a, j): 1 for (a, j), _ in pairs if a == i}, 0, 1)
    for j, v in enumerate(villages):
        xs = {("x", i, b): 1 for (i, b), _ in pairs if b == j}
        row(xs, 0, v.team_max)
        row({**xs, ("short", j): 1}, v.team_min, math.inf)
        ss = {n: 1 for n in names if n[0] == "s" and n[2] == j}
        row(ss, 0, 1)
        row({**ss, ("h", j): 1, ("y", j): -1}, 0, math.inf)  # h >= y - Σs
        if v.team_min > 0:
            row({("y", j): 1}, 1, 1)
        for x in xs:
            row({("y", j): 1, x: -1}, 0, math.inf)  # y >= x
        for k in sorted(v.needs) if problem.coverage is not Coverage.OFF else []:
            have = {x: 1 for x in xs if k in cadres[x[1]].skills}  # type: ignore[index]
            if problem.coverage is Coverage.HARD:
                row(have, 1, math.inf)
            else:
                row({**have, ("u", j, k): 1}, 1, math.inf)
        units = {c.home_unit for c in cadres}
        for unit in units if problem.max_per_unit is not None else []:
            row({x: 1 for x in xs if cadres[x[1]].home_unit == unit}, 0, problem.max_per_unit or 0)  # type: ignore[index]
    for n in names:
        if n[0] == "s":
            row({n: 1, ("x", n[1], n[2]): -1}, -math.inf, 0)
    cost = np.zeros(len(names))
    lower, upper = np.zeros(len(names)), np.ones(len(names))
    offset = 0
    for (i, j), d in pairs:
        kept = cadres[i].current_village_id == villages[j].id
        cost[col["x", i, j]] = d - problem.continuity_threshold * kept
        offset += problem.continuity_threshold * kept
        if cadres[i].pinned:
            lower[col["x", i, j]] = 1
    for j, v in enumerate(villages):
        cost[col["h", j]] = problem.secretary_penalty
        cost[col["short", j]] = problem.shortage_penalty
        upper[col["short", j]] = v.team_min
        for k in v.needs:
            if ("u", j, k) in col:
                cost[col["u", j, k]] = problem.coverage_weight * (problem.coverage is Coverage.SOFT)
    matrix = lil_matrix((max(len(rows), 1), len(names)))
    lo, hi = np.zeros(max(len(rows), 1)), np.zeros(max(len(rows), 1))
    for r, (terms, a, b) in enumerate(rows):
        for c, value in terms.items():
            matrix[r, c] = value
        lo[r], hi[r] = a, b
    result = milp(
        cost,
        constraints=LinearConstraint(matrix.tocsr(), lo, hi),
        bounds=Bounds(lower, upper),
        integrality=np.ones(len(names)),
        options={"mip_rel_gap": 0},
    )
    if result.status == 2:
        return None
    assert result.status == 0, result.message
    return round(result.fun) + offset


@st.composite
def problems(draw: st.DrawFn) -> StationingProblem:
    """Up to 6 cadres, 3 villages: skills, needs, ranks, units, pins, coverage modes."""
    coord = st.floats(-0.12, 0.12, allow_nan=False)
    villages = []
    for j in range(draw(st.integers(1, 3))):
        low = draw(st.integers(0, 2))
        needs = frozenset(draw(st.sets(st.sampled_from(SKILLS), max_size=2)))
        villages.append(
            Village(
                f"v{j}",
                26 + draw(coord),
                107 + draw(coord),
                low,
                low + draw(st.integers(0, 1)),
                needs,
                draw(st.integers(1, 4)),
            )
        )
    limit = draw(st.sampled_from([None, 1, 2]))
    cadres: list[Cadre] = []
    for i in range(draw(st.integers(1, 6))):
        home = draw(st.sampled_from([None, *(v for v in villages)]))
        unit = draw(st.sampled_from(["a", "b"]))
        room = home is not None and sum(
            c.pinned and c.current_village_id == home.id for c in cadres
        ) < min(home.team_max, limit or 9)
        pinned = room and unit == "a" and draw(st.booleans())
        cadres.append(
            Cadre(
                f"c{i}",
                draw(st.integers(1, 5)),
                frozenset(draw(st.sets(st.sampled_from(SKILLS), max_size=2))),
                unit,
                26 + draw(coord),
                107 + draw(coord),
                draw(st.floats(8, 35)),
                home.id if home else None,
                pinned,
            )
        )
    return StationingProblem(
        tuple(cadres),
        tuple(villages),
        continuity_threshold=draw(st.sampled_from([0, 4_000])),
        max_per_unit=limit,
        coverage=draw(st.sampled_from(list(Coverage))),
        coverage_weight=9_000,
        shortage_penalty=1_000_000,
        secretary_penalty=200_000,
    )


@settings(max_examples=120, deadline=None)
@given(problems())
def test_solve_matches_an_independent_milp(problem: StationingProblem) -> None:
    """Both paths reach the MILP optimum of the same rules (or both find HARD infeasible)."""
    result = solve(problem, PARAMS)
    expected = milp_optimum(problem)
    if expected is None:
        assert result.status is SolveStatus.INFEASIBLE
        return
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == expected == result.bound
    posting = {
        [c.id for c in problem.cadres].index(p.cadre_id): [v.id for v in problem.villages].index(
            p.village_id
        )
        for p in result.postings
    }
    assert cost_of(problem, posting) == expected  # the postings themselves cost that much


@pytest.mark.parametrize("seed", range(25))
def test_solve_matches_brute_force(seed: int) -> None:
    """Tiny instances (4 cadres, 2 villages): the optimum of every possible posting."""
    rng = random.Random(seed)
    villages = tuple(
        Village(
            f"v{j}",
            26 + rng.uniform(-0.1, 0.1),
            107 + rng.uniform(-0.1, 0.1),
            rng.randint(0, 2),
            2,
            frozenset(rng.sample(SKILLS, rng.randint(0, 2))),
            rng.randint(1, 3),
        )
        for j in range(2)
    )
    cadres = tuple(
        Cadre(
            f"c{i}",
            rng.randint(1, 4),
            frozenset(rng.sample(SKILLS, rng.randint(0, 2))),
            rng.choice("ab"),
            26 + rng.uniform(-0.1, 0.1),
            107 + rng.uniform(-0.1, 0.1),
            30.0,
            rng.choice([None, "v0", "v1"]),
        )
        for i in range(4)
    )
    problem = StationingProblem(
        cadres,
        villages,
        continuity_threshold=rng.choice([0, 5_000]),
        max_per_unit=rng.choice([None, 1]),
        coverage=rng.choice([Coverage.OFF, Coverage.SOFT]),
        coverage_weight=7_000,
        shortage_penalty=500_000,
        secretary_penalty=100_000,
    )
    assert solve(problem, PARAMS).objective == brute_force(problem)
